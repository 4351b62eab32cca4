"""The task data model and its registry: what a test item is, what a task is, and how a
name becomes a task.

A task knows nothing about models. It turns a seed into examples (a rendered question, the
text a model should continue with, the canonical answer) and says how to compare answers.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import TaskError

@dataclass(frozen=True)
class Example:
    """One test item: the question as the model sees it and the continuation it should write.

    `target` is the exact text that should follow the prompt (with a leading space where the
    format has one); `answer` is the canonical answer the metrics compare against. Multiple
    choice items also carry `choices` (continuations) and the index `label` of the right one.
    """
    question: str
    target: str
    answer: str
    fields: dict = field(default_factory=dict, compare=False, hash=False)
    choices: tuple[str, ...] = ()
    label: int = -1


def normalise_answer(text: str) -> str:
    """Canonical form of a generated answer: first line, no surrounding spaces or commas."""
    text = text.strip().split("\n", 1)[0].strip()
    return text.replace(",", "").rstrip(".").strip()


@dataclass
class Task:
    """A task definition. `make_fields(rng)` draws one item's fields; templates render them.

    `chance` maps metric names to the score a model guessing uniformly would get, the
    baseline every emergence plot draws. `metrics` lists the metrics that apply.
    """
    name: str
    description: str
    template: str
    target_template: str
    make_fields: Callable[[random.Random], dict]
    answer_of: Callable[[dict], str]
    chance: dict[str, float]
    metrics: tuple[str, ...]
    instruction: str = ""
    separator: str = "\n"
    stop: tuple[str, ...] = ("\n",)
    max_new_tokens: int = 8
    choices_of: Callable[[dict], tuple[tuple[str, ...], int]] | None = None
    digits: bool = False  # answers are numbers: per-digit accuracy applies
    max_unique: int | None = None  # how many distinct items exist, when small
    distinct_by: str = "question"  # "answer" where one answer has many questions (anagrams)
    # Optional data for the prompting strategies (none of it changes the direct format above).
    # question_text: the item as a natural-language question ("What is 47 + 85?"), used by the
    #   Q/A formats of chain-of-thought, least-to-most and instruction prompts; default the template.
    # chat_instruction: what the instruction/chat strategy asks for ("Reply with the number
    #   only."); default `instruction`.
    # rationale_of(fields): a worked solution ending in "The answer is <answer>." (chain of thought).
    # scratchpad_of(fields): intermediate computation, one state per line (Nye et al. 2021).
    # decompose_of(fields): [(sub-question, its worked answer), ...] for least-to-most prompting,
    #   in the order they are answered; the last sub-question is the item's own question_text.
    question_text: str = ""
    chat_instruction: str = ""
    rationale_of: Callable[[dict], str] | None = None
    scratchpad_of: Callable[[dict], str] | None = None
    decompose_of: Callable[[dict], list[tuple[str, str]]] | None = None
    # settings: what decides the items beyond what a few drawn samples show (a training text's
    #   mixture rates, `misconceptions.Corpus`); hashed into the task's and toy recipes' fingerprints.
    settings: dict = field(default_factory=dict)

    def render(self, fields: dict) -> Example:
        answer = self.answer_of(fields)
        values = {**fields, "answer": answer}
        choices, label = self.choices_of(fields) if self.choices_of else ((), -1)
        return Example(self.template.format(**values), self.target_template.format(**values),
                       answer, dict(fields), tuple(choices), label)

    def normalise(self, text: str) -> str:
        return normalise_answer(text)

    def question_of(self, example: Example) -> str:
        """The item as a natural-language question (`question_text`), else its plain question."""
        if not self.question_text:
            return example.question
        return self.question_text.format(**example.fields, answer=example.answer)

    def examples(self, n: int, seed: int = 0) -> list[Example]:
        """`n` distinct examples, the same for the same seed on every machine."""
        return split_examples(self, n, 0, seed)[0]


def split_examples(task: Task, n_test: int, n_pool: int, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """Distinct test items and a disjoint pool of few-shot exemplars, both seeded.

    Exemplars never share a question with a test item, so a model cannot copy the answer
    from its own prompt.
    """
    if n_test <= 0:
        raise TaskError(f"the number of test examples must be positive, got n={n_test}")
    if n_pool < 0:
        raise TaskError(f"the number of exemplars must be zero or more, got {n_pool}")
    wanted = n_test + n_pool
    if task.max_unique is not None and wanted > task.max_unique:
        raise TaskError(f"task '{task.name}' has only {task.max_unique} distinct items, "
                        f"but {n_test} test items + {n_pool} exemplars were asked for")
    rng = random.Random(f"{task.name}:{seed}")
    seen: set[str] = set()
    items: list[Example] = []
    attempts = 0
    while len(items) < wanted:
        attempts += 1
        if attempts > 50 * wanted + 1000:
            raise TaskError(f"task '{task.name}' could not produce {wanted} distinct items; "
                            f"ask for fewer (n + shots)")
        ex = task.render(task.make_fields(rng))
        key = ex.answer if task.distinct_by == "answer" else ex.question
        if key in seen:
            continue
        seen.add(key)
        items.append(ex)
    return items[:n_test], items[n_test:]


# Task fields that reach prompts, targets, budgets, stop strings or scores as they are.
_DECLARATIVE = ("name", "instruction", "template", "target_template", "separator", "stop",
                "max_new_tokens", "chance", "metrics", "digits", "max_unique", "distinct_by",
                "question_text", "chat_instruction")


def task_fingerprint(task: Task, examples: Sequence[Example] | None = None) -> str:
    """A hash of everything in `task` that can change a result, for cache keys.

    The declarative fields are hashed as they are; the code (generators, answers, worked
    solutions, the normaliser) through what it produces for `examples` (default: eight
    drawn at a fixed seed). So a task edited under the same name gets a new fingerprint.
    """
    if examples is None:
        rng = random.Random("fingerprint")
        examples = [task.render(task.make_fields(rng)) for _ in range(8)]
    worked = (task.rationale_of, task.scratchpad_of, task.decompose_of)
    blob = {
        **{name: getattr(task, name) for name in _DECLARATIVE},
        "normaliser": f"{type(task).__module__}.{type(task).__qualname__}.normalise",
        "examples": [[e.question, e.target, e.answer, list(e.choices), e.label, e.fields,
                      task.question_of(e), task.normalise(e.target),
                      *[fn(e.fields) if fn else None for fn in worked]] for e in examples],
    }
    if task.settings:  # left out when empty, so the fingerprints of other tasks stay as they were
        blob["settings"] = task.settings
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answer_budget(longest_answer: str) -> int:
    """New tokens enough for the longest answer a task can have, so none is cut short.

    One token per character covers any tokenizer with at most one token per ASCII character
    (the toy character models, byte-level BPE such as SmolLM2's); one more for the leading
    space of the spaced formats and one to spare.
    """
    return len(longest_answer) + 2
