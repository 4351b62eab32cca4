"""Reading answers back out of what a model wrote, and where the right answer is scored.

Pure text, no model. Reasoning strategies commit to an answer after "the answer is" (or
"Answer:"); `extract_answer` reads it (for numeric tasks, the last number when there is no
such phrase). The `after_*` functions give the text after which the correct answer's
log-probability is measured: the prompt and the model's own work up to its answer phrase.
Each prompting strategy (`prompting.STRATEGIES`) names its reader and its context here.
"""
from __future__ import annotations

import re

from .tasks import Task, normalise_answer

__all__ = ["ANSWER_PHRASE", "extract_answer", "reasoning_of", "direct_answer", "reasoned_answer",
           "chat_answer", "after_prompt", "after_scratchpad", "after_answer_phrase"]

ANSWER_PHRASE = "The answer is"                       # Wei et al. (2022) exemplars end so


_MARKER = re.compile(r"the answer is|answer\s*:", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d(?:[\d,]*\d)?")


def _number(text: str) -> str:
    return text.replace(",", "")


def _numeric(task: Task | None, numeric: bool | None) -> bool | None:
    if numeric is not None:
        return numeric
    return task.digits if task is not None else None


def _clean_text(span: str, task: Task | None) -> str:
    span = re.split(r"\.(?:\s|$)", span, maxsplit=1)[0]  # the first sentence
    text = (task.normalise if task is not None else normalise_answer)(span)
    return text.strip("\"'*` ").rstrip(".")


def extract_answer(text: str, task: Task | None = None, numeric: bool | None = None) -> str:
    """The answer a reasoning output commits to.

    1. After the last "the answer is" / "Answer:" (any case): on that line, the first number
       for numeric tasks ("" when there is none), the first sentence, normalised, otherwise.
    2. With no such phrase: the last number in the text for numeric tasks, "" otherwise.

    `numeric` defaults to `task.digits`; with neither given, a number is taken when the
    answer span holds one. "... Write 1. The answer is 132." and "Therefore, the answer is
    132." both give "132"; "-1,332" gives "-1332".
    """
    numeric = _numeric(task, numeric)
    marks = list(_MARKER.finditer(text))
    if marks:
        span = text[marks[-1].end():].lstrip(" \t:").split("\n", 1)[0]
        found = _NUMBER.search(span)
        if numeric or (numeric is None and found):
            return _number(found.group()) if found else ""
        return _clean_text(span, task)
    if numeric is False:
        return ""
    numbers = _NUMBER.findall(text)
    return _number(numbers[-1]) if numbers else ""


def _instruction_answer(text: str, task: Task | None) -> str:
    """Chat replies: the answer phrase if any, else the first non-empty line (its last number
    for numeric tasks, so "47 + 85 = 132" gives "132")."""
    if _MARKER.search(text):
        return extract_answer(text, task)
    line = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
    if _numeric(task, None):
        numbers = _NUMBER.findall(line)
        return _number(numbers[-1]) if numbers else ""
    return _clean_text(line, task)


# ----------------------------------------------------------------------------- where the answer is scored
def after_prompt(prompt: str, output: str) -> str:
    return prompt


def after_scratchpad(prompt: str, output: str) -> str:
    """The prompt and the scratchpad up to "Answer:" (closed and added when the model did not)."""
    mark = list(re.finditer(r"Answer\s*:", output))
    if mark:
        return prompt + output[:mark[-1].end()]
    closing = "" if "</scratch>" in output else "\n</scratch>"
    return prompt + output.rstrip() + closing + "\nAnswer:"


def after_answer_phrase(prompt: str, output: str) -> str:
    """The prompt and the reasoning up to its last "the answer is" (added when it has none)."""
    mark = list(re.finditer(r"the answer is", output, re.IGNORECASE))
    if mark:
        return prompt + output[:mark[-1].end()]
    work = output.rstrip()
    return prompt + (work + " " if work.strip() else " ") + ANSWER_PHRASE


def reasoning_of(output: str) -> str:
    """A chain of thought without its final "the answer is ..." clause."""
    cut = output.lower().rfind("the answer is")
    return (output[:cut] if cut >= 0 else output).strip()


def direct_answer(task: Task, output: str) -> str:
    return task.normalise(output)


def reasoned_answer(task: Task, output: str) -> str:
    return extract_answer(output, task)


def chat_answer(task: Task, output: str) -> str:
    return _instruction_answer(output, task)
