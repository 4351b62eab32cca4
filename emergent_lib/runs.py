"""What every seeded computation shares: its own random state and thread count.

The course's training loops (toy/training.py, induction/train.py, grokking.py) and sampling
(evaluate.sample_generate) each seed torch and pin threads. `seeded` does both inside a
forked random state and restores the caller's threads afterwards, so a seeded run gives the
same numbers whatever ran before it, and the caller's own random stream and thread setting
are left as they were (no hidden global state).
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Iterator, TypeVar

__all__ = ["seeded", "with_overrides"]

Config = TypeVar("Config")


@contextmanager
def seeded(seed: int, num_threads: int | None = None) -> Iterator[None]:
    """Run the block with torch seeded by `seed` in a forked CPU random state, on
    `num_threads` threads (None: torch's setting); both are restored on exit."""
    import torch

    previous = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if num_threads:
            torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def with_overrides(config: Config, steps: int | None = None, **overrides) -> Config:
    """`config` with fields replaced (`steps` among them when given); an unknown field is a
    TypeError naming it, as `dataclasses.replace` gives."""
    if steps is not None:
        overrides["steps"] = steps
    return dataclasses.replace(config, **overrides) if overrides else config
