"""Prompting strategies as data: how a task's examples become the text a model reads, and
how the answer is read back out of what the model writes.

This module is pure text, no model. Each strategy is one registered `Strategy`: its prompt
builder, stop strings, generation budget, answer reader, the context after which the right
answer is scored, and whether its samples depend on batching. `get_strategy(name)` is the
one way to look one up (an unknown name gets a did-you-mean). The model calls are made by
`emergent_lib.strategies.run_strategy`.

=================  ==================================================================
direct             few-shot (k exemplars) or zero-shot (k = 0) prompting, Brown et al. 2020
cot                chain of thought: exemplars with worked rationales ending in "The answer
                   is X." (Wei et al. 2022)
scratchpad         exemplars that write their intermediate computation between <scratch>
                   tags before the answer (Nye et al. 2021)
instruction        the task as an instruction: a chat turn through the tokenizer's chat
                   template when it has one (pass `chat=`), else "Instruction: ... Answer:"
zero-shot-cot      "Let's think step by step.", then "Therefore, the answer is" (Kojima et
                   al. 2022); two calls
least-to-most      decompose into sub-questions, then answer them in order (Zhou et al. 2022)
self-consistency   k sampled chains of thought, majority vote (Wang et al. 2022)
=================  ==================================================================

The last three make several model calls per item, so they have no single prompt; the
prompts of their stages are built here (`zero_shot_cot_prompt`, `decompose_prompt`, ...).

Reading answers: `extract_prediction(task, output, strategy)` gives the prediction a record
holds, by the strategy's reader (`answers.py`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .answers import (after_answer_phrase, after_prompt, after_scratchpad, chat_answer, direct_answer,
                      extract_answer, reasoned_answer, reasoning_of)
from .errors import TaskError, UnknownNameError, unknown_name
from .tasks import Example, Task, get_task, list_tasks

__all__ = ["Strategy", "STRATEGIES", "MULTI_CALL", "ALL_STRATEGIES", "get_strategy", "build_prompt",
           "build_prompts", "select_exemplars", "require_solutions", "extract_answer", "extract_prediction",
           "answer_context", "scratchpad_parts",
           "instruction_messages", "zero_shot_cot_prompt", "zero_shot_cot_answer_prompt",
           "decompose_prompt", "parse_subquestions", "solve_prompt", "ZERO_SHOT_COT_TRIGGER",
           "ZERO_SHOT_COT_ANSWER"]

ZERO_SHOT_COT_TRIGGER = "Let's think step by step."   # Kojima et al. (2022), Table 4
ZERO_SHOT_COT_ANSWER = "Therefore, the answer is"     # their answer-extraction prompt
DECOMPOSE_LEAD = "To answer it, we answer in order:"

Chat = Callable[[list[dict]], str]  # messages -> prompt text (e.g. a tokenizer's chat template)


# ----------------------------------------------------------------------------- helpers
def _with_instruction(task: Task, body: str, sep: str = "\n\n") -> str:
    return f"{task.instruction}{sep}{body}" if task.instruction else body


def _tasks_with(attr: str) -> list[str]:
    names = []
    for name in list_tasks():
        try:
            if getattr(get_task(name), attr) is not None:
                names.append(name)
        except Exception:  # a task that fails to build is not worth an error inside an error
            pass
    return names


_NEEDS = {
    "rationale_of": ("worked rationales (Task.rationale_of; a YAML task: a 'rationale' field)"),
    "scratchpad_of": "scratchpads (Task.scratchpad_of)",
    "decompose_of": "decompositions into sub-questions (Task.decompose_of)",
}


def require_solutions(task: Task, attr: str, strategy: str) -> None:
    """Raise a TaskError naming the strategy and the task when the task lacks `attr`
    ("rationale_of", "scratchpad_of" or "decompose_of")."""
    if getattr(task, attr) is None:
        having = _tasks_with(attr)
        families = sorted({n.rsplit("-", 1)[0] for n in having})
        raise TaskError(
            f"strategy '{strategy}' needs {_NEEDS[attr]}, but task '{task.name}' has none. "
            f"Tasks that have them: {', '.join(families) or 'none'} (e.g. '{having[0] if having else ''}'). "
            f"On '{task.name}' use 'direct', 'instruction' or 'zero-shot-cot', which need no worked solutions.")


# ----------------------------------------------------------------------------- single-call builders
def _direct(task: Task, example: Example, shots: Sequence[Example], chat: Chat | None = None) -> str:
    parts = [s.question + s.target for s in shots] + [example.question]
    body = task.separator.join(parts)
    return f"{task.instruction}\n{body}" if task.instruction else body


def _cot(task: Task, example: Example, shots: Sequence[Example], chat: Chat | None = None) -> str:
    """Wei et al. (2022): Q/A exemplars whose answers are worked rationales."""
    blocks = [f"Q: {task.question_of(s)}\nA: {task.rationale_of(s.fields)}" for s in shots]
    blocks.append(f"Q: {task.question_of(example)}\nA:")
    return _with_instruction(task, "\n\n".join(blocks))


def scratchpad_parts(task: Task, example: Example) -> tuple[str, str]:
    """One item in the scratchpad format of Nye et al. (2021), split where the model takes over:
    the input with an opening <scratch> tag, and the worked continuation (the intermediate
    states, </scratch>, "Answer:" and the target). An exemplar is the two joined; toy models
    trained on scratchpads (`toy.TrainConfig(target="scratchpad")`) learn exactly this text."""
    require_solutions(task, "scratchpad_of", "scratchpad")
    return (f"Input: {example.question}\n<scratch>",
            f"\n{task.scratchpad_of(example.fields)}\n</scratch>\nAnswer:{example.target}")


def _scratchpad(task: Task, example: Example, shots: Sequence[Example], chat: Chat | None = None) -> str:
    """Nye et al. (2021): the input, the intermediate states between <scratch> tags, the answer."""
    blocks = ["".join(scratchpad_parts(task, s)) for s in shots]
    blocks.append(scratchpad_parts(task, example)[0])
    return _with_instruction(task, "\n\n".join(blocks))


def _instruction_text(task: Task) -> str:
    return task.chat_instruction or task.instruction or "Answer the question."


def instruction_messages(task: Task, example: Example, shots: Sequence[Example] = ()) -> list[dict]:
    """The task as chat messages: each exemplar a user turn and the assistant's answer."""
    def user(ex: Example) -> dict:
        return {"role": "user", "content": f"{task.question_of(ex)} {_instruction_text(task)}"}
    messages = []
    for s in shots:
        messages += [user(s), {"role": "assistant", "content": s.answer}]
    return messages + [user(example)]


def _instruction(task: Task, example: Example, shots: Sequence[Example], chat: Chat | None = None) -> str:
    """The instruction as a chat turn (`chat` renders messages), else a plain text format."""
    if chat is not None:
        return chat(instruction_messages(task, example, shots))
    blocks = [f"Instruction: {_instruction_text(task)}"]
    blocks += [f"Question: {task.question_of(s)}\nAnswer:{s.target}" for s in shots]
    blocks.append(f"Question: {task.question_of(example)}\nAnswer:")
    return "\n\n".join(blocks)


def build_prompt(task: Task, example: Example, shots: Sequence[Example] = (), strategy: str = "direct",
                 chat: Chat | None = None) -> str:
    """The prompt for one test example under `strategy`, with `shots` as exemplars.

    `chat` (messages -> text, e.g. a tokenizer's chat template) is used by "instruction".
    """
    spec = _single_prompt(strategy)
    spec.check(task)
    return spec.prompt(task, example, shots, chat)


def _single_prompt(strategy: str) -> Strategy:
    spec = get_strategy(strategy)
    if spec.prompt is None:
        raise TaskError(f"strategy '{strategy}' makes several model calls per item, so it has no single "
                        f"prompt: run it with emergent_lib.strategies.run_strategy, or "
                        f"evaluate_cell / run_sweep with strategy='{strategy}'")
    return spec


def build_prompts(task: Task, examples: Sequence[Example], pool: Sequence[Example], shots: int,
                  strategy: str = "direct", chat: Chat | None = None) -> list[str]:
    """Prompts for all test examples; every prompt uses the same `shots` exemplars from `pool`.

    Sharing one exemplar set keeps prompts comparable across items, as in Brown et al.;
    the pool is disjoint from the test items (see `tasks.split_examples`).
    """
    _single_prompt(strategy)
    exemplars = select_exemplars(pool, shots)
    return [build_prompt(task, ex, exemplars, strategy, chat) for ex in examples]


def select_exemplars(pool: Sequence[Example], shots: int) -> list[Example]:
    """The first `shots` exemplars of `pool` (every test item shares them)."""
    if shots < 0:
        raise TaskError(f"shots must be zero or more, got {shots}")
    if shots > len(pool):
        raise TaskError(f"asked for {shots} shots but the exemplar pool holds only {len(pool)}")
    return list(pool[:shots])


# ----------------------------------------------------------------------------- multi-call stages
def zero_shot_cot_prompt(task: Task, example: Example) -> str:
    """Kojima et al. (2022), stage 1: the question and the reasoning trigger."""
    return _with_instruction(task, f"Q: {task.question_of(example)}\nA: {ZERO_SHOT_COT_TRIGGER}")


def zero_shot_cot_answer_prompt(first_prompt: str, reasoning: str) -> str:
    """Stage 2: the first prompt, the model's reasoning, then the answer-extraction phrase."""
    return f"{first_prompt}{reasoning.rstrip()}\n{ZERO_SHOT_COT_ANSWER}"


def _quoted(questions: Sequence[str]) -> str:
    return ", ".join(f'"{q}"' for q in questions)


def decompose_prompt(task: Task, example: Example, shots: Sequence[Example]) -> str:
    """Least-to-most stage 1 (Zhou et al. 2022): exemplars list their sub-questions in order,
    the original question last; the test item's answer starts with the same lead-in."""
    require_solutions(task, "decompose_of", "least-to-most")
    blocks = [f"Q: {task.question_of(s)}\nA: {DECOMPOSE_LEAD} "
              f"{_quoted([q for q, _ in task.decompose_of(s.fields)])}." for s in shots]
    blocks.append(f"Q: {task.question_of(example)}\nA: {DECOMPOSE_LEAD}")
    return _with_instruction(task, "\n\n".join(blocks))


def parse_subquestions(text: str, question: str, limit: int = 6) -> list[str]:
    """The quoted sub-questions of a stage-1 output, in order, ending with `question`.

    Duplicates and copies of the original question are dropped, at most `limit - 1`
    sub-questions are kept, and the original question is always the last one.
    """
    seen, subs = {question}, []
    for q in re.findall(r'"([^"\n]+)"', text):
        q = q.strip()
        if q and q not in seen:
            seen.add(q)
            subs.append(q)
    return subs[:max(limit - 1, 0)] + [question]


def solve_prompt(task: Task, shots: Sequence[Example], solved: Sequence[tuple[str, str]], question: str) -> str:
    """Least-to-most stage 2: solved exemplar sequences, then this item's sub-questions answered
    so far (`solved`: (question, answer) pairs), then the next `question`."""
    require_solutions(task, "decompose_of", "least-to-most")
    blocks = ["\n".join(f"Q: {q}\nA: {a}" for q, a in task.decompose_of(s.fields)) for s in shots]
    blocks.append("".join(f"Q: {q}\nA: {a.strip()}\n" for q, a in solved) + f"Q: {question}\nA:")
    return _with_instruction(task, "\n\n".join(blocks))


# ----------------------------------------------------------------------------- the registry
# Reasoning budgets: a model that solves an item writes about as much as its worked solution,
# so it gets 1.25 x the longest worked solution of the items at hand (in its own tokens) plus
# 8 tokens of slack for tokenisation and a closing phrase.
SOLUTION_SCALE, SOLUTION_SLACK = 1.25, 8


def solution_budget(count_tokens: Callable[[str], int], texts: Sequence[str]) -> int:
    """New tokens for a reasoning output: SOLUTION_SCALE x the longest of `texts`, + SOLUTION_SLACK."""
    return int(SOLUTION_SCALE * max(count_tokens(t) for t in texts)) + SOLUTION_SLACK


@dataclass(frozen=True)
class Strategy:
    """Everything that makes one prompting strategy what it is.

    `prompt` (task, example, exemplars, chat) -> text is None for a strategy that makes
    several model calls per item (its stages are run by `strategies.run_strategy`).
    `solution` gives an item's worked solution, whose length sizes the generation budget;
    without one, the budget is the task's answer budget plus `answer_slack` tokens.
    `context` (prompt, output) -> the text after which the correct answer is scored.
    """
    name: str
    summary: str
    prompt: Callable[..., str] | None
    read_answer: Callable[[Task, str], str]
    context: Callable[[str, str], str]
    stop: tuple[str, ...] = ()
    solution: Callable[[Task, Example], str] | None = None
    answer_slack: int = 0
    needs: str | None = None        # the Task attribute it requires ("rationale_of", ...)
    extras: Callable[[str], dict] = lambda output: {}
    uses_chat: bool = False         # renders through the tokenizer's chat template
    batch_dependent: bool = False   # its samples depend on how prompts are batched

    def check(self, task: Task) -> None:
        """A TaskError naming strategy and task when the task lacks the worked solutions."""
        if self.needs is not None:
            require_solutions(task, self.needs, self.name)

    def budget(self, task: Task, items: Sequence[Example], count_tokens: Callable[[str], int],
               override: int | None = None) -> int:
        """New tokens to generate for `items` (exemplars and test items), or `override`."""
        if override is not None:
            if override <= 0:
                raise ValueError(f"max_new_tokens must be positive, got {override}")
            return override
        if self.solution is None:
            return task.max_new_tokens + self.answer_slack
        return solution_budget(count_tokens, [self.solution(task, e) for e in items])


def _rationale(task: Task, ex: Example) -> str:
    return task.rationale_of(ex.fields)


def _scratch_continuation(task: Task, ex: Example) -> str:
    return scratchpad_parts(task, ex)[1]


COT_STOP = ("\n", " Q:")  # a rationale is one line; small models go on to invent the next question

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("direct", "few-shot exemplars then the question; zero-shot with 0 shots (Brown et al. 2020)",
             _direct, direct_answer, after_prompt),
    Strategy("cot", "exemplars with worked rationales ending 'The answer is X.' (Wei et al. 2022)",
             _cot, reasoned_answer, after_answer_phrase, stop=COT_STOP, solution=_rationale,
             needs="rationale_of", extras=lambda out: {"reasoning": reasoning_of(out)}),
    Strategy("scratchpad", "exemplars that write intermediate computation before the answer (Nye et al. 2021)",
             _scratchpad, reasoned_answer, after_scratchpad, stop=("\n\n", "\nInput:"),
             solution=_scratch_continuation, needs="scratchpad_of",
             extras=lambda out: {"scratchpad": out.split("</scratch>", 1)[0].strip()}),
    # a chat reply may put a short sentence around the answer: 12 tokens for it
    Strategy("instruction", "the task as an instruction / chat turn (Ouyang et al. 2022; Wei et al. 2022a)",
             _instruction, chat_answer, after_prompt, stop=("\n",), answer_slack=12, uses_chat=True),
    Strategy("zero-shot-cot", "'Let's think step by step.', then 'Therefore, the answer is' (Kojima et al. 2022)",
             None, reasoned_answer, after_answer_phrase, stop=("\n\n", "\nQ:")),
    Strategy("least-to-most", "decompose into sub-questions, then answer them in order (Zhou et al. 2022)",
             None, reasoned_answer, after_answer_phrase, stop=("\n",), needs="decompose_of"),
    Strategy("self-consistency", "sample k chains of thought, majority vote on their answers (Wang et al. 2022)",
             None, reasoned_answer, after_answer_phrase, stop=COT_STOP, solution=_rationale,
             needs="rationale_of", batch_dependent=True),
)}
ALL_STRATEGIES = tuple(STRATEGIES)
MULTI_CALL = tuple(name for name, s in STRATEGIES.items() if s.prompt is None)

_ALIASES = {"chain-of-thought": "cot", "chain_of_thought": "cot", "few-shot": "direct", "zero-shot": "direct",
            "zero-shot-chain-of-thought": "zero-shot-cot", "chat": "instruction", "ltm": "least-to-most",
            "self_consistency": "self-consistency", "least_to_most": "least-to-most"}


def get_strategy(name: str) -> Strategy:
    """The registered strategy called `name`; an UnknownNameError with a suggestion otherwise."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    raise UnknownNameError(unknown_name("prompting strategy", name, ALL_STRATEGIES, plural="strategies",
                                        aliases=_ALIASES))


def extract_prediction(task: Task, output: str, strategy: str = "direct") -> str:
    """The prediction a record holds for `output` under `strategy` (what metrics compare)."""
    return get_strategy(strategy).read_answer(task, output)


def answer_context(strategy: str, prompt: str, output: str) -> str:
    """The text after which the correct answer is scored for an output: the prompt and the
    model's own work up to its answer phrase (the phrase added when it wrote none). Its
    log-probability of the target is the record's `answer_logprob`."""
    return get_strategy(strategy).context(prompt, output)
