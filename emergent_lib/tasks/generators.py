"""The built-in task generators: arithmetic, modular addition, comparison and word
unscrambling, registered under their names (`addition-3d`, `unscramble-cycle`, ...)."""
from __future__ import annotations

import random
from importlib import resources

from ..errors import TaskError
from .core import Task, answer_budget
from .registry import register
from .solutions import (DECOMPOSITIONS, RATIONALES, SCRATCHPADS, mod_decomposition, mod_rationale,
                        mod_scratchpad, unscramble_rationale)

# ----------------------------------------------------------------------------- arithmetic
_OPS = {
    "addition": ("+", lambda a, b: a + b),
    "subtraction": ("-", lambda a, b: a - b),
    "multiplication": ("*", lambda a, b: a * b),
}


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
        rationale_of=lambda f: RATIONALES[op](f["a"], f["b"]),
        scratchpad_of=lambda f: SCRATCHPADS[op](f["a"], f["b"]),
        decompose_of=lambda f: DECOMPOSITIONS[op](f["a"], f["b"]),
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
        rationale_of=lambda f: mod_rationale(f["a"], f["b"], modulus),
        scratchpad_of=lambda f: mod_scratchpad(f["a"], f["b"], modulus),
        decompose_of=lambda f: mod_decomposition(f["a"], f["b"], modulus),
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
        rationale_of=lambda f: unscramble_rationale(kind, f["word"], f["scrambled"]),
        # one word scrambles many ways: keep words distinct so no exemplar gives an answer away
        max_unique=len(words),
        distinct_by="answer",
    )


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

