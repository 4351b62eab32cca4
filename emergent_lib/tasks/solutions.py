"""Worked solutions for the prompting strategies: chain-of-thought rationales (Wei et al.
2022), scratchpads (Nye et al. 2021) and least-to-most decompositions (Zhou et al. 2022) of
the built-in tasks' items. Digits are processed from the units up; a missing digit counts as 0.
"""
from __future__ import annotations

from typing import Callable, Sequence

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


RATIONALES = {"addition": _add_rationale, "subtraction": _sub_rationale, "multiplication": _mul_rationale}
SCRATCHPADS = {"addition": _add_scratchpad, "subtraction": _sub_scratchpad, "multiplication": _mul_scratchpad}
DECOMPOSITIONS = {
    "addition": lambda a, b: _place_decomposition(a, b, "+", lambda x, y: x + y),
    "subtraction": lambda a, b: _place_decomposition(a, b, "-", lambda x, y: x - y),
    "multiplication": _mul_decomposition,
}


def mod_rationale(a: int, b: int, p: int) -> str:
    s = a + b
    if s >= p:
        return f"{a} + {b} = {s}. {s} is at least {p}, so subtract {p}: {s} - {p} = {s - p}. The answer is {s - p}."
    return f"{a} + {b} = {s}. {s} is less than {p}. The answer is {s}."


def mod_scratchpad(a: int, b: int, p: int) -> str:
    s = a + b
    return f"{a} + {b} = {s}\n" + (f"{s} - {p} = {s - p}" if s >= p else f"{s} < {p}")


def mod_decomposition(a: int, b: int, p: int) -> list[tuple[str, str]]:
    s = a + b
    final = (f"{s} - {p} = {s - p}. The answer is {s - p}." if s >= p
             else f"{s} is less than {p}. The answer is {s}.")
    return [(f"What is {a} + {b}?", f"{a} + {b} = {s}. The answer is {s}."),
            (f"What is ({a} + {b}) mod {p}?", final)]


def unscramble_rationale(kind: str, word: str, scrambled: str) -> str:
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


