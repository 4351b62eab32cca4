"""Tasks as data: seeded example generators, prompt templates, answer normalisers, chance levels.

A task knows nothing about models. It turns a seed into examples (a rendered question, the
text a model should continue with, the canonical answer) and says how to compare answers.
Everything above this module (prompting, evaluation, metrics) works on any task alike,
whether built in or read from a user's YAML file.
"""
from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import yaml

from .errors import TaskError, UnknownNameError, suggest, unknown_name

__all__ = [
    "Example", "Task", "TaskError", "get_task", "list_tasks", "register", "load_task_yaml",
    "split_examples", "normalise_answer", "answer_budget", "task_fingerprint",
]


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
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- registry
_REGISTRY: dict[str, Callable[[], Task]] = {}


def register(name: str, factory: Callable[[], Task]) -> None:
    """Add a task under `name` (a factory, so tasks are built only when asked for)."""
    _REGISTRY[name] = factory


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str | Task) -> Task:
    """The task called `name`, or one read from a YAML file when `name` ends in .yaml/.yml."""
    if isinstance(name, Task):
        return name
    if str(name).endswith((".yaml", ".yml")):
        return load_task_yaml(name)
    if name not in _REGISTRY:
        raise UnknownNameError(unknown_name("task", name, list_tasks(), more="or pass a path to a task YAML file."))
    return _REGISTRY[name]()


# ----------------------------------------------------------------------------- arithmetic
_OPS = {
    "addition": ("+", lambda a, b: a + b),
    "subtraction": ("-", lambda a, b: a - b),
    "multiplication": ("*", lambda a, b: a * b),
}


def answer_budget(longest_answer: str) -> int:
    """New tokens enough for the longest answer a task can have, so none is cut short.

    One token per character covers any tokenizer with at most one token per ASCII character
    (the toy character models, byte-level BPE such as SmolLM2's); one more for the leading
    space of the spaced formats and one to spare.
    """
    return len(longest_answer) + 2


def arithmetic_task(op: str, digits: int, compact: bool = False, full: bool = False) -> Task:
    """n-digit integer arithmetic as `a + b =` -> ` c`, or `a+b=` -> `c` when `compact`.

    Operands are drawn from [0, 10^n) as in Brown et al. (2020), so about one problem in five
    of 3-digit addition has a shorter operand ('194 + 64'); with `full` (`<op>-<n>d-full`)
    both operands have exactly n digits: then a digit's place is a fixed distance from the
    '=', which small toy models learn sooner than lining up operands of varying length (the
    default toy family, 'addition-3d-full', toy/zoo.py).

    Spaces around the operator matter for real models: SmolLM2-135M adds 2-digit numbers
    few-shot about three times as often in the spaced format as in the compact `a+b=c`.
    The compact tasks (`<op>-<n>d-compact`) are for toy models trained from scratch, to which
    the spaces say nothing: 3-digit addition is 13 tokens instead of 17, a quarter less
    training compute for the same problems.
    """
    if digits <= 0:
        raise TaskError(f"digits must be positive, got {digits}")
    symbol, fn = _OPS[op]
    # operands uniform in [lo, hi]: Brown et al. (2020) draw from [0, 10^n); `full` from 10^(n-1)
    lo, hi = (10 ** (digits - 1) if full else 0), 10 ** digits - 1
    answers = {"addition": 2 * (hi - lo) + 1, "subtraction": 2 * (hi - lo) + 1,
               "multiplication": hi * hi - lo * lo + 1 if full else 10 ** (2 * digits)}[op]
    # a + b, a - b and a * b are monotone in each operand, so their extreme values (and so
    # their longest strings, sign included: lo - hi for subtraction) lie at the corners
    longest = max((str(fn(x, y)) for x in (lo, hi) for y in (lo, hi)), key=len)
    return Task(
        name=f"{op}-{digits}d" + ("-compact" if compact else "") + ("-full" if full else ""),
        description=f"{digits}-digit {op}: operands drawn uniformly from [{lo}, 10^{digits})"
                    + (f" (all {digits} digits)" if full else "")
                    + (", compact format 'a" + symbol + "b=' -> 'c'" if compact else ""),
        template="{a}" + symbol + "{b}=" if compact else "{a} " + symbol + " {b} =",
        target_template="{answer}" if compact else " {answer}",
        make_fields=lambda rng: {"a": rng.randrange(lo, hi + 1), "b": rng.randrange(lo, hi + 1)},
        answer_of=lambda f: str(fn(f["a"], f["b"])),
        chance={"exact_match": 1.0 / answers, "digit_accuracy": 0.1, "edit_similarity": 0.1},
        metrics=("exact_match", "digit_accuracy", "edit_similarity", "answer_logprob", "token_accuracy"),
        max_new_tokens=answer_budget(longest),
        digits=True,
        max_unique=(hi - lo + 1) ** 2,
        question_text="What is {a} " + symbol + " {b}?",
        chat_instruction="Reply with the number only.",
        rationale_of=lambda f: _RATIONALES[op](f["a"], f["b"]),
        scratchpad_of=lambda f: _SCRATCHPADS[op](f["a"], f["b"]),
        decompose_of=lambda f: _DECOMPOSITIONS[op](f["a"], f["b"]),
    )


def modular_task(modulus: int) -> Task:
    """Addition modulo a prime, the grokking task of Power et al. (2022)."""
    if modulus < 2:
        raise TaskError(f"modulus must be at least 2, got {modulus}")
    return Task(
        name=f"modadd-{modulus}",
        description=f"(a + b) mod {modulus} for a, b in [0, {modulus})",
        template="{a} + {b} mod " + str(modulus) + " =",
        target_template=" {answer}",
        make_fields=lambda rng: {"a": rng.randrange(modulus), "b": rng.randrange(modulus)},
        answer_of=lambda f: str((f["a"] + f["b"]) % modulus),
        chance={"exact_match": 1.0 / modulus, "digit_accuracy": 0.1, "edit_similarity": 0.1},
        metrics=("exact_match", "digit_accuracy", "edit_similarity", "answer_logprob", "token_accuracy"),
        max_new_tokens=answer_budget(str(modulus - 1)),
        digits=True,
        max_unique=modulus * modulus,
        question_text="What is ({a} + {b}) mod " + str(modulus) + "?",
        chat_instruction="Reply with the number only.",
        rationale_of=lambda f: _mod_rationale(f["a"], f["b"], modulus),
        scratchpad_of=lambda f: _mod_scratchpad(f["a"], f["b"], modulus),
        decompose_of=lambda f: _mod_decomposition(f["a"], f["b"], modulus),
    )


def compare_task(digits: int) -> Task:
    """Multiple choice: which of two n-digit numbers is larger. Chance is 50%."""
    def fields(rng: random.Random) -> dict:
        a, b = rng.sample(range(10 ** (digits - 1), 10 ** digits), 2)
        return {"a": a, "b": b}

    return Task(
        name=f"compare-{digits}d",
        description=f"multiple choice: the larger of two {digits}-digit numbers",
        template="Which is larger, {a} or {b}? Answer:",
        target_template=" {answer}",
        make_fields=fields,
        answer_of=lambda f: str(max(f["a"], f["b"])),
        choices_of=lambda f: ((f" {f['a']}", f" {f['b']}"), 0 if f["a"] > f["b"] else 1),
        chance={"mc_accuracy": 0.5, "brier": 0.5, "exact_match": 0.5},
        metrics=("mc_accuracy", "brier", "exact_match"),
        max_new_tokens=answer_budget("9" * digits),
        digits=True,
    )


# ----------------------------------------------------------------------------- worked solutions
# Generated step-by-step solutions for the prompting strategies: chain-of-thought rationales
# (Wei et al. 2022), scratchpads (Nye et al. 2021) and least-to-most decompositions (Zhou et
# al. 2022). Digits are processed from the units up; a missing digit counts as 0.
def _columns(a: int, b: int) -> list[tuple[int, int]]:
    """(digit of a, digit of b) per place, units first, over the longer number."""
    da, db = str(a)[::-1], str(b)[::-1]
    width = max(len(da), len(db))
    return [(int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0) for i in range(width)]


def _add_steps(a: int, b: int) -> list[tuple[int, int, int, int]]:
    """(x, y, carry in, column sum) per column of a + b, units first."""
    steps, carry = [], 0
    for x, y in _columns(a, b):
        steps.append((x, y, carry, x + y + carry))
        carry = (x + y + carry) // 10
    return steps


def _add_rationale(a: int, b: int) -> str:
    parts = []
    for x, y, c, s in _add_steps(a, b):
        expr = f"{x} + {y}" + (f" + {c}" if c else "")
        parts.append(f"{expr} = {s}, write {s % 10}" + (f" carry {s // 10}." if s >= 10 else "."))
    last = _add_steps(a, b)[-1][3]
    if last >= 10:
        parts.append(f"Write {last // 10}.")
    return " ".join(parts + [f"The answer is {a + b}."])


def _add_scratchpad(a: int, b: int) -> str:
    lines, done = [], ""
    for x, y, c, s in _add_steps(a, b):
        done = str(s % 10) + done
        lines.append(f"{x} + {y} + {c} = {s}, so far {done}, carry {s // 10}")
    last = _add_steps(a, b)[-1][3]
    if last >= 10:
        lines.append(f"write carry {last // 10}, so far {last // 10}{done}")
    return "\n".join(lines)


def _sub_steps(big: int, small: int) -> list[tuple[int, int, int, int]]:
    """(x, y, borrow in, x - borrow - y) per column of big - small (big >= small), units first."""
    steps, borrow = [], 0
    for x, y in _columns(big, small):
        v = x - borrow - y
        steps.append((x, y, borrow, v))
        borrow = 1 if v < 0 else 0
    return steps


def _sub_rationale(a: int, b: int) -> str:
    big, small = max(a, b), min(a, b)
    parts = [] if a >= b else [f"{a} is less than {b}, so compute {b} - {a} and make it negative."]
    for x, y, br, v in _sub_steps(big, small):
        tail = (" - 1" if br else "") + f" - {y}"
        if v >= 0:
            parts.append(f"{x}{tail} = {v}, write {v}.")
        else:
            parts.append(f"{x}{tail} is negative, so borrow 1: {x + 10}{tail} = {v + 10}, write {v + 10}.")
    return " ".join(parts + [f"The answer is {a - b}."])


def _sub_scratchpad(a: int, b: int) -> str:
    big, small = max(a, b), min(a, b)
    lines = [] if a >= b else [f"{a} < {b}: compute {b} - {a}, then negate"]
    done = ""
    for x, y, br, v in _sub_steps(big, small):
        digit = v % 10
        done = str(digit) + done
        lines.append(f"{x} - {br} - {y} = {v}" + (f", +10 = {digit}" if v < 0 else "")
                     + f", so far {done}, borrow {1 if v < 0 else 0}")
    if a < b:
        lines.append(f"negate: {a - b}")
    return "\n".join(lines)


def _mul_partials(a: int, b: int) -> list[tuple[int, int]]:
    """(multiplier, partial product) for each non-zero digit of b, highest place first."""
    out = []
    for place, d in reversed(list(enumerate(int(c) for c in str(b)[::-1]))):
        if d:
            out.append((d * 10 ** place, a * d * 10 ** place))
    return out


def _mul_rationale(a: int, b: int) -> str:
    partials = _mul_partials(a, b)
    if len(partials) <= 1 or a == 0:
        return f"{a} * {b} = {a * b}. The answer is {a * b}."
    parts = [f"{a} * {m} = {p}." for m, p in partials]
    parts.append(" + ".join(str(p) for _, p in partials) + f" = {a * b}.")
    return " ".join(parts + [f"The answer is {a * b}."])


def _mul_scratchpad(a: int, b: int) -> str:
    partials = _mul_partials(a, b)
    if len(partials) <= 1 or a == 0:
        return f"{a} * {b} = {a * b}, so far {a * b}"
    lines, total = [], 0
    for m, p in partials:
        total += p
        lines.append(f"{a} * {m} = {p}, so far {total}")
    return "\n".join(lines)


def _signed_sum(values: Sequence[int]) -> str:
    text = str(values[0])
    for v in values[1:]:
        text += f" + {v}" if v >= 0 else f" - {-v}"
    return text


def _place_decomposition(a: int, b: int, symbol: str, fn: Callable[[int, int], int]) -> list[tuple[str, str]]:
    """Least-to-most for + and -: one sub-question per place (highest first), then the sum."""
    final_q = f"What is {a} {symbol} {b}?"
    cols = _columns(a, b)
    if len(cols) == 1:
        return [(final_q, f"{a} {symbol} {b} = {fn(a, b)}. The answer is {fn(a, b)}.")]
    subs, partials = [], []
    for place in reversed(range(len(cols))):
        x, y = (d * 10 ** place for d in cols[place])
        v = fn(x, y)
        partials.append(v)
        subs.append((f"What is {x} {symbol} {y}?", f"{x} {symbol} {y} = {v}. The answer is {v}."))
    total = fn(a, b)
    return subs + [(final_q, f"{_signed_sum(partials)} = {total}. The answer is {total}.")]


def _mul_decomposition(a: int, b: int) -> list[tuple[str, str]]:
    final_q = f"What is {a} * {b}?"
    partials = _mul_partials(a, b)
    if len(partials) <= 1 or a == 0:
        return [(final_q, f"{a} * {b} = {a * b}. The answer is {a * b}.")]
    subs = [(f"What is {a} * {m}?", f"{a} * {m} = {p}. The answer is {p}.") for m, p in partials]
    total = a * b
    return subs + [(final_q, f"{_signed_sum([p for _, p in partials])} = {total}. The answer is {total}.")]


_RATIONALES = {"addition": _add_rationale, "subtraction": _sub_rationale, "multiplication": _mul_rationale}
_SCRATCHPADS = {"addition": _add_scratchpad, "subtraction": _sub_scratchpad, "multiplication": _mul_scratchpad}
_DECOMPOSITIONS = {
    "addition": lambda a, b: _place_decomposition(a, b, "+", lambda x, y: x + y),
    "subtraction": lambda a, b: _place_decomposition(a, b, "-", lambda x, y: x - y),
    "multiplication": _mul_decomposition,
}


def _mod_rationale(a: int, b: int, p: int) -> str:
    s = a + b
    if s >= p:
        return f"{a} + {b} = {s}. {s} is at least {p}, so subtract {p}: {s} - {p} = {s - p}. The answer is {s - p}."
    return f"{a} + {b} = {s}. {s} is less than {p}. The answer is {s}."


def _mod_scratchpad(a: int, b: int, p: int) -> str:
    s = a + b
    return f"{a} + {b} = {s}\n" + (f"{s} - {p} = {s - p}" if s >= p else f"{s} < {p}")


def _mod_decomposition(a: int, b: int, p: int) -> list[tuple[str, str]]:
    s = a + b
    final = (f"{s} - {p} = {s - p}. The answer is {s - p}." if s >= p
             else f"{s} is less than {p}. The answer is {s}.")
    return [(f"What is {a} + {b}?", f"{a} + {b} = {s}. The answer is {s}."),
            (f"What is ({a} + {b}) mod {p}?", final)]


def _unscramble_rationale(kind: str, word: str, scrambled: str) -> str:
    if kind == "reverse":
        steps = f"Read the letters from last to first: {'-'.join(scrambled[::-1])}."
    elif kind == "cycle":
        k = next((k for k in range(1, len(word)) if word[k:] + word[:k] == scrambled), 0)
        letters = "letter" if k == 1 else f"{k} letters"
        steps = f'Move the last {letters} "{scrambled[len(word) - k:]}" to the front.'
    else:
        steps = (f'Keep "{word[0]}" first and "{word[-1]}" last, and reorder '
                 f'"{scrambled[1:-1]}" into "{word[1:-1]}".')
    return f"{steps} The answer is {word}."


# ----------------------------------------------------------------------------- words
def word_list() -> list[str]:
    """The shipped list of common English words (lower case, 4 to 9 letters)."""
    text = resources.files("emergent_lib").joinpath("data/words.txt").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [w for line in lines for w in line.split()]


def _cycle(word: str, rng: random.Random) -> str:
    k = rng.randrange(1, len(word))
    return word[k:] + word[:k]


def _anagram_inner(word: str, rng: random.Random) -> str:
    # Brown et al.'s A1: all letters but the first and last shuffled.
    inner = list(word[1:-1])
    for _ in range(10):
        rng.shuffle(inner)
        if "".join(inner) != word[1:-1] or len(set(inner)) < 2:
            break
    return word[0] + "".join(inner) + word[-1]


def _reverse(word: str, rng: random.Random) -> str:
    return word[::-1]


_SCRAMBLES = {
    "cycle": (_cycle, "cycled letters (the word rotated by a random offset)"),
    "anagram": (_anagram_inner, "all letters but the first and last shuffled"),
    "reverse": (_reverse, "the word spelled backwards"),
}


def unscramble_task(kind: str) -> Task:
    """Word unscrambling (Brown et al. 2020, Sec. 3.9.2) over the shipped word list."""
    scramble, what = _SCRAMBLES[kind]
    words = word_list()

    def fields(rng: random.Random) -> dict:
        word = rng.choice(words)
        return {"word": word, "scrambled": scramble(word, rng)}

    return Task(
        name=f"unscramble-{kind}",
        description=f"word unscrambling: {what}",
        instruction="Unscramble the letters into an English word.",
        template="{scrambled} =",
        target_template=" {answer}",
        make_fields=fields,
        answer_of=lambda f: f["word"],
        chance={"exact_match": 0.0, "edit_similarity": 0.0},
        metrics=("exact_match", "edit_similarity", "answer_logprob", "token_accuracy"),
        max_new_tokens=answer_budget(max(words, key=len)),
        question_text='Unscramble "{scrambled}" into an English word.',
        chat_instruction="Reply with the word only.",
        rationale_of=lambda f: _unscramble_rationale(kind, f["word"], f["scrambled"]),
        # one word scrambles many ways: keep words distinct so no exemplar gives an answer away
        max_unique=len(words),
        distinct_by="answer",
    )


# ----------------------------------------------------------------------------- user tasks (YAML)
_YAML_REQUIRED = ("name", "template", "target", "items")


def _template_fields(path: Path, field_name: str, text: str) -> list[str]:
    """The item fields a template names; only plain names, so `{}`, `{0}`, `{a.real}` and
    `{a[0]}` (which would read Python internals, not the item) are errors naming the field."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as err:
        raise TaskError(f"task file '{path}': field '{field_name}' is not a valid template ({err}); "
                        f"write literal braces as {{{{ and }}}}") from None
    names = []
    for _, name, spec, _ in parts:
        if name is None:
            continue
        if not name.isidentifier() or (spec and "{" in spec):
            raise TaskError(f"task file '{path}': field '{field_name}' uses {{{name}}}; a template may "
                            f"only name item fields, like {{question}}")
        names.append(name)
    return names


def load_task_yaml(path: str | Path) -> Task:
    """A task from a YAML file: fixed items rendered through a template.

    Required fields: name, template (a Python format string over item fields), target
    (the continuation, e.g. " {capital}"), items (a list of mappings). Optional:
    description, instruction, answer (format string for the canonical answer, default the
    target stripped), choices (a list of format strings for multiple choice, the first one
    being correct unless `label` names an item field), chance (mapping metric -> value),
    metrics, max_new_tokens (default: enough for the longest target, at least 16); for the prompting strategies, question (the item as a natural
    question, a format string), rationale (a worked solution ending in "The answer is ...",
    a format string; chain of thought needs it) and chat_instruction.
    """
    path = Path(path)
    if not path.exists():
        raise TaskError(f"task file '{path}' does not exist")
    if not path.is_file():
        raise TaskError(f"task file '{path}' is a directory, not a YAML file; pass the .yaml file itself")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise TaskError(f"task file '{path}' is not UTF-8 text (byte {err.object[err.start]:#04x} at "
                        f"position {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise TaskError(f"task file '{path}' is not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(spec, dict):
        raise TaskError(f"task file '{path}' must hold a mapping with fields {', '.join(_YAML_REQUIRED)}")
    for key in _YAML_REQUIRED:
        if key not in spec:
            raise TaskError(f"task file '{path}': missing required field '{key}'")
    items = spec["items"]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise TaskError(f"task file '{path}': field 'items' must be a non-empty list of mappings")
    for field_name in ("template", "target"):
        if not isinstance(spec[field_name], str):
            raise TaskError(f"task file '{path}': field '{field_name}' must be a string")
    known = {"name", "description", "instruction", "template", "target", "answer", "items",
             "choices", "label", "chance", "metrics", "max_new_tokens", "question", "rationale",
             "chat_instruction"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise TaskError(f"task file '{path}': unknown field '{unknown[0]}'.{suggest(unknown[0], sorted(known))}")
    optional_templates = [f for f in ("question", "rationale") if f in spec]
    for field_name in optional_templates:
        if not isinstance(spec[field_name], str):
            raise TaskError(f"task file '{path}': field '{field_name}' must be a string")
    if "answer" in spec and not isinstance(spec["answer"], str):
        raise TaskError(f"task file '{path}': field 'answer' must be a string")
    for field_name in ("metrics", "choices"):
        value = spec.get(field_name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            example = "[exact_match]" if field_name == "metrics" else '["{a}", "{b}"]'
            raise TaskError(f"task file '{path}': field '{field_name}' must be a list of strings, "
                            f"e.g. {field_name}: {example}")
    if spec.get("choices") == []:
        raise TaskError(f"task file '{path}': field 'choices' must not be empty")
    chance = spec.get("chance")
    if chance is not None and not (isinstance(chance, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in chance.items())):
        raise TaskError(f"task file '{path}': field 'chance' must be a mapping of metric name to "
                        f"number, e.g. chance: {{exact_match: 0.0}}")
    if "max_new_tokens" in spec and not (isinstance(spec["max_new_tokens"], int)
                                         and not isinstance(spec["max_new_tokens"], bool)
                                         and spec["max_new_tokens"] > 0):
        raise TaskError(f"task file '{path}': field 'max_new_tokens' must be a positive integer")
    label_field = spec.get("label")
    if label_field is not None and not isinstance(label_field, str):
        raise TaskError(f"task file '{path}': field 'label' must be the name of an item field")
    templates = {f: spec[f] for f in ("template", "target", *optional_templates, "answer") if f in spec}
    templates.update({f"choices[{k}]": c for k, c in enumerate(spec.get("choices") or [])})
    for field_name, text in templates.items():
        for name in _template_fields(path, field_name, text):
            for i, item in enumerate(items):
                if name not in item and name != "answer":
                    raise TaskError(f"task file '{path}': field '{field_name}' uses {{{name}}}, "
                                    f"which item {i} does not have")
    if label_field is not None:
        for i, item in enumerate(items):
            if label_field not in item:
                raise TaskError(f"task file '{path}': field 'label' names '{label_field}', which item {i} "
                                f"does not have")
            if not (str(item[label_field]).isdigit() and int(item[label_field]) < len(spec.get("choices") or [])):
                raise TaskError(f"task file '{path}': item {i}: '{label_field}' must be the index of "
                                f"the correct choice (0 to {len(spec.get('choices') or []) - 1})")

    answer_tpl = spec.get("answer")
    choice_tpls = spec.get("choices")

    def answer_of(f: dict) -> str:
        if answer_tpl is not None:
            return str(answer_tpl).format(**f)
        return normalise_answer(spec["target"].format(**f, answer=""))

    def choices_of(f: dict) -> tuple[tuple[str, ...], int]:
        options = tuple(str(c).format(**f) for c in choice_tpls)
        return options, int(f[label_field]) if label_field else 0

    def make_fields(rng: random.Random) -> dict:
        return dict(rng.choice(items))

    longest_target = max((spec["target"].format(**i, answer=answer_of(i)) for i in items), key=len)
    metrics = tuple(spec.get("metrics") or (("mc_accuracy", "brier") if choice_tpls else
                                             ("exact_match", "edit_similarity", "answer_logprob")))
    chance = dict(spec.get("chance") or ({"mc_accuracy": 1 / len(choice_tpls)} if choice_tpls else
                                        {"exact_match": 0.0}))
    task = Task(
        name=str(spec["name"]),
        description=str(spec.get("description", f"user task from {path.name}")),
        instruction=str(spec.get("instruction", "")),
        template=spec["template"],
        target_template=spec["target"],
        make_fields=make_fields,
        answer_of=answer_of,
        choices_of=choices_of if choice_tpls else None,
        chance=chance,
        metrics=metrics,
        max_new_tokens=int(spec.get("max_new_tokens", max(16, answer_budget(longest_target)))),
        max_unique=len(items),
        question_text=str(spec.get("question", "")),
        chat_instruction=str(spec.get("chat_instruction", "")),
        rationale_of=((lambda f: spec["rationale"].format(**f, answer=answer_of(f)))
                      if "rationale" in spec else None),
    )
    return task


# ----------------------------------------------------------------------------- built-ins
for _op in _OPS:
    for _d in range(1, 6):
        register(f"{_op}-{_d}d", lambda op=_op, d=_d: arithmetic_task(op, d))
        register(f"{_op}-{_d}d-compact", lambda op=_op, d=_d: arithmetic_task(op, d, compact=True))
        register(f"{_op}-{_d}d-full", lambda op=_op, d=_d: arithmetic_task(op, d, full=True))
for _p in (7, 11, 13, 23, 59, 97, 113):
    register(f"modadd-{_p}", lambda p=_p: modular_task(p))
for _d in (2, 3):
    register(f"compare-{_d}d", lambda d=_d: compare_task(d))
for _kind in _SCRAMBLES:
    register(f"unscramble-{_kind}", lambda k=_kind: unscramble_task(k))

