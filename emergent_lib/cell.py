"""One cell of a sweep: a model evaluated on one (task, strategy, shots, seed, n) setting.

A cell draws its test items and exemplar pool from the seed, runs the strategy on them
(`strategies.run_strategy`) and scores the records (`metrics.score`). `emergent eval` is one
cell; a sweep (`sweep.py`) is many, each cached on disk.
"""
from __future__ import annotations

from .errors import TaskError
from .metrics import score
from .models import LanguageModel
from .prompting import get_strategy
from .strategies import run_strategy
from .tasks import Example, Task, get_task, split_examples

__all__ = ["evaluate_cell", "cell_examples", "EXEMPLAR_POOL"]

EXEMPLAR_POOL = 32  # exemplars drawn per cell; shots take the first k of them


def cell_examples(task: Task, n: int, shots: int, seed: int) -> tuple[list[Example], list[Example]]:
    """The test items and the exemplar pool of a cell (shots take the first k exemplars)."""
    pool_size = max(shots, min(EXEMPLAR_POOL, task.max_unique - n if task.max_unique else EXEMPLAR_POOL))
    return split_examples(task, n, pool_size, seed)


def evaluate_cell(lm: LanguageModel, task: Task | str, n: int = 100, shots: int = 0, seed: int = 0,
                  strategy: str = "direct", batch_size: int = 32, progress: bool = False) -> dict:
    """Evaluate one model on one task setting: per-example records and their metrics.

    `strategy` is any of `prompting.ALL_STRATEGIES`, run by `strategies.run_strategy` with its
    defaults (self-consistency: k=5 samples at temperature 0.7, seeded with `seed`).
    """
    task = get_task(task)
    get_strategy(strategy)
    if n <= 0:
        raise TaskError(f"n (the number of test examples) must be positive, got {n}")
    examples, pool = cell_examples(task, n, shots, seed)
    records = run_strategy(lm, task, examples, pool, shots, strategy, seed=seed, batch_size=batch_size,
                           progress=progress)
    return {"records": records, "metrics": score(records, task, seed=seed)}
