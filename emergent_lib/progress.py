"""Progress bars that go to the terminal, never onto a page.

`tqdm.auto` draws a widget inside a Jupyter kernel: the bar becomes a cell output, which
the book build stores in the page (and with it a widget state that asks for scripts from a
CDN). Here a bar is plain-text tqdm on the terminal the process was started from. In a
Jupyter kernel that is the stream ipykernel keeps aside for itself (it captures the
process's own stderr into the notebook, and answers `fileno()` with its copy of the
original): the terminal that runs `jupyter lab` or the book
build. Where no such stream exists the bar is off. Everywhere else it is stderr.
"""
from __future__ import annotations

import functools
import os
import sys

from tqdm.std import tqdm as _tqdm

__all__ = ["tqdm"]


def tqdm(*args, **kwargs):
    """`tqdm.tqdm` with its output on the terminal (see the module docstring)."""
    if "file" not in kwargs:
        stream = _terminal()
        if stream is None:
            kwargs["disable"] = True
        kwargs["file"] = stream
    return _tqdm(*args, **kwargs)


def _terminal():
    err = sys.stderr
    if not type(err).__module__.startswith("ipykernel"):
        return err  # a terminal, a log file, pytest's capture
    try:
        fd = err.fileno()  # ipykernel answers with its copy of the terminal's descriptor
    except (OSError, ValueError):  # io.UnsupportedOperation: fds not captured
        fd = None
    return _kernel_terminal(fd)


@functools.lru_cache(maxsize=None)
def _kernel_terminal(fd: int | None):
    if fd is None:
        return None
    try:
        return os.fdopen(os.dup(fd), "w", buffering=1)
    except OSError:
        return None
