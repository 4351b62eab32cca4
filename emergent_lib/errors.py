"""What the whole library shares when something is wrong: its error types and the one
message for a name no registry knows.

Every registry (tasks, metrics, prompting strategies, models, toy families and sizes) answers
an unknown name alike: what was asked, the closest known name, and every known name, so the
reader can fix the typo without opening the code.
"""
from __future__ import annotations

import difflib
from typing import Mapping, Sequence

__all__ = ["TaskError", "UnknownNameError", "suggest", "unknown_name"]


class TaskError(ValueError):
    """A task name, parameter or task file is wrong; the message says how to fix it."""


class UnknownNameError(ValueError):
    """A name that no registry knows; the message suggests the closest one and lists them all."""


def suggest(name: str, known: Sequence[str], aliases: Mapping[str, str] | None = None) -> str:
    """A ' Did you mean ...?' hint for an unknown name (an alias's target first), or ''."""
    if aliases and name in aliases:
        return f" Did you mean '{aliases[name]}'?"
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, name: str, known: Sequence[str], plural: str | None = None,
                 aliases: Mapping[str, str] | None = None, more: str = "") -> str:
    """The message for `name`, unknown among the `known` names of a `kind` ("task", "metric"):
    "unknown task 'x'. Did you mean 'y'? Known tasks: a, b." plus `more` (other ways to say it)."""
    listed = ", ".join(known)
    tail = f"; {more}" if more else "."
    return f"unknown {kind} '{name}'.{suggest(name, known, aliases)} Known {plural or kind + 's'}: {listed}{tail}"
