"""How long an evaluation will take, said before it starts, from a timing of this machine.

`emergent eval` and `emergent sweep` evaluate whatever they are asked to, and `--n 100000` or a
sweep of thousands of cells runs for hours. Before a large run (more than CHECK_ABOVE examples
still to compute) the command times a small batch of the run's own first cells and refuses to
go on if the run would take more than LONG_RUN_S, unless `--yes` says to.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from .models import LanguageModel, card_for, load, resolve
from .cell import evaluate_cell
from .sweep import _CellCache, cell_key
from .tasks import get_task

__all__ = ["CHECK_ABOVE", "LONG_RUN_S", "Estimate", "estimate_run", "check_run_length"]

CHECK_ABOVE = 10_000  # examples still to evaluate; below this no run is timed (labs, README)
LONG_RUN_S = 30 * 60  # a run estimated longer than this asks for --yes
PROBE = 32  # examples per timed batch: one default batch


class LongRunError(ValueError):
    """A run would take longer than LONG_RUN_S and was not confirmed."""


@dataclass
class Estimate:
    cells: int
    examples: int
    answer_tokens: int | None  # greedy answer tokens at most (direct prompting), None otherwise
    seconds: float | None
    measured_on: str | None
    rate: float | None  # examples per second in the timed batch


def _pending(models, tasks, shots, seeds, n, strategy, batch_size, dtype, cache_dir, use_cache) -> list[tuple]:
    cells = [(m, t, k, s) for m in models for t in tasks for k in shots for s in seeds]
    if not use_cache:
        return cells
    cache = _CellCache(cache_dir)
    return [(m, t, k, s) for m, t, k, s in cells if cache.get(cell_key(m, t, strategy, k, s, n, batch_size, dtype)) is None]


def _task_name(task) -> str:
    return task if isinstance(task, str) else task.name


def _time_per_example(lm: LanguageModel, task, shots: int, seed: int, n: int, strategy: str,
                      batch_size: int) -> float:
    probe = min(n, PROBE)
    start = time.perf_counter()
    evaluate_cell(lm, task, n=probe, shots=shots, seed=seed, strategy=strategy, batch_size=batch_size)
    return (time.perf_counter() - start) / probe


def _size_ratio(model: str, measured: str) -> float:
    """How much slower `model` is than the timed model, by parameter count; 1 when unknown
    or smaller (a small model's time is dominated by overheads a count does not show)."""
    a, b = card_for(model), card_for(measured)
    if a is None or b is None or not a.params or not b.params:
        return 1.0
    return max(1.0, a.params / b.params)


def estimate_run(models: Sequence[str], tasks: Sequence, shots: Sequence[int] = (0,),
                 seeds: Sequence[int] = (0,), n: int = 100, strategy: str = "direct",
                 batch_size: int = 32, cache_dir=None, use_cache: bool = True,
                 lm: LanguageModel | None = None, dtype: str = "float32") -> Estimate:
    """Count the examples a run still has to evaluate (cached sweep cells cost nothing,
    where `use_cache`) and, for
    more than CHECK_ABOVE of them, time a batch of each task on the first model to evaluate
    (`lm` if it is loaded already) and extrapolate."""
    models, tasks, shots, seeds = list(models), list(tasks), list(shots), list(seeds)
    total = len(models) * len(tasks) * len(shots) * len(seeds)
    if total * n <= CHECK_ABOVE:
        return Estimate(total, total * n, None, None, None, None)
    for m in models:
        resolve(m)  # a bad name fails here, before anything loads
    pending = _pending(models, tasks, shots, seeds, n, strategy, batch_size, dtype, cache_dir, use_cache)
    tokens = (sum(n * (0 if get_task(t).choices_of else get_task(t).max_new_tokens) for _, t, _, _ in pending)
              if strategy == "direct" else None)
    found = Estimate(len(pending), len(pending) * n, tokens, None, None, None)
    if found.examples <= CHECK_ABOVE:
        return found
    first = pending[0][0]
    lm = lm if lm is not None and lm.name == first else load(first, dtype=dtype)
    per_task: dict[str, float] = {}
    for _, t, k, s in pending:
        if _task_name(t) not in per_task:
            per_task[_task_name(t)] = _time_per_example(lm, t, k, s, n, strategy, batch_size)
    seconds = sum(n * per_task[_task_name(t)] * _size_ratio(m, first) for m, t, _, _ in pending)
    found.seconds, found.measured_on = seconds, first
    found.rate = len(per_task) / sum(per_task.values())
    return found


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes" if seconds >= 60 else f"{seconds:.0f} seconds"


def check_run_length(found: Estimate) -> None:
    """Raise LongRunError, saying the counts, the time and how it was measured, for a run
    estimated at more than LONG_RUN_S."""
    if found.seconds is None or found.seconds <= LONG_RUN_S:
        return
    tokens = f", up to {found.answer_tokens:,} answer tokens" if found.answer_tokens else ""
    raise LongRunError(
        f"this run evaluates {found.examples:,} examples in {found.cells:,} cell"
        f"{'s' if found.cells != 1 else ''}{tokens}: about {_duration(found.seconds)} at the "
        f"{found.rate:.3g} examples/s just measured on {found.measured_on}; pass --yes to run it, "
        f"or use a smaller --n or fewer cells")
