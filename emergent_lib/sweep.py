"""Sweeps: models x tasks x shots x seeds into one tidy table, each cell cached on disk.

A cell is one (model, task, strategy, shots, seed, n) evaluation. Finished cells are
written as JSON with a checksum the moment they finish, so an interrupted sweep resumes
where it stopped, and a damaged file is noticed and recomputed rather than trusted.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
from .progress import tqdm

from . import __version__
from .metrics import score
from .models import LanguageModel, load, model_fingerprint, resolve
from .numerics import current_mode
from .paths import atomic_write_text, cache_root
from .prompting import check_strategy
from .strategies import run_strategy
from .tasks import Example, Task, TaskError, get_task, split_examples, task_fingerprint

__all__ = ["evaluate_cell", "run_sweep", "cell_key", "CELL_FORMAT"]

CELL_FORMAT = 1  # bump when the meaning of a cached cell changes
EXEMPLAR_POOL = 32  # exemplars drawn per cell; shots take the first k of them


def _task_id(task: Task | str) -> str:
    if isinstance(task, str) and task.endswith((".yaml", ".yml")):
        digest = hashlib.sha256(Path(task).read_bytes()).hexdigest()[:12]
        return f"{Path(task).name}:{digest}"
    return task if isinstance(task, str) else task.name


def _recipe(model: str) -> str | None:
    """A toy model's training-recipe fingerprint (None for other models): cells of a
    retrained toy family get new keys, so stale results are never read back."""
    if not model.startswith("toy/"):
        return None
    from .toy.zoo import spec_recipe_id

    return spec_recipe_id(model[len("toy/"):])


# Strategies whose result depends on how the prompts are batched: sampling draws one random
# stream per batch, so another batch size draws other samples.
BATCH_DEPENDENT = frozenset({"self-consistency"})


def _cell_examples(task: Task, n: int, shots: int, seed: int) -> tuple[list[Example], list[Example]]:
    """The test items and the exemplar pool of a cell (shots take the first k exemplars)."""
    pool_size = max(shots, min(EXEMPLAR_POOL, task.max_unique - n if task.max_unique else EXEMPLAR_POOL))
    return split_examples(task, n, pool_size, seed)


def cell_key(model: str, task: Task | str, strategy: str, shots: int, seed: int, n: int,
             batch_size: int = 32) -> dict:
    """What identifies a cell; its hash names the cache file.

    Names are not enough: a task edited under the same name, or a checkpoint directory
    retrained in place, must not be served the old results. So the key holds a fingerprint
    of the task (its fields and the cell's own rendered items) and of local model files,
    and the numeric mode the evaluating process computes in (a greedy answer near a tie can
    change with the CPU's SIMD level; `numerics`).
    """
    task_obj = get_task(task)
    items, pool = _cell_examples(task_obj, n, shots, seed)
    key = {"model": model, "task": _task_id(task), "strategy": strategy, "shots": shots,
           "seed": seed, "n": n, "format": CELL_FORMAT, "version": __version__,
           "task_fingerprint": task_fingerprint(task_obj, items + pool), "numerics": current_mode()}
    weights = model_fingerprint(model)
    if weights:
        key["weights"] = weights
    if strategy in BATCH_DEPENDENT:
        key["batch_size"] = batch_size
    recipe = _recipe(model)
    return {**key, "recipe": recipe} if recipe else key


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def evaluate_cell(lm: LanguageModel, task: Task | str, n: int = 100, shots: int = 0, seed: int = 0,
                  strategy: str = "direct", batch_size: int = 32, progress: bool = False) -> dict:
    """Evaluate one model on one task setting: per-example records and their metrics.

    `strategy` is any of `prompting.ALL_STRATEGIES`, run by `strategies.run_strategy` with its
    defaults (self-consistency: k=5 samples at temperature 0.7, seeded with `seed`).
    """
    task = get_task(task)
    check_strategy(strategy)
    if n <= 0:
        raise TaskError(f"n (the number of test examples) must be positive, got {n}")
    examples, pool = _cell_examples(task, n, shots, seed)
    records = run_strategy(lm, task, examples, pool, shots, strategy, seed=seed, batch_size=batch_size,
                           progress=progress)
    return {"records": records, "metrics": score(records, task, seed=seed)}


class _CellCache:
    """One JSON file per cell under <cache>/cells, verified by a checksum on read."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else cache_root() / "cells"

    def path(self, key: dict) -> Path:
        return self.root / f"{_digest(key)[:24]}.json"

    def get(self, key: dict) -> dict | None:
        """The cached body, or None. A damaged file is left where it is (another process
        may have replaced it with a good one meanwhile); `put` replaces it atomically."""
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            entry = json.loads(text)
            body = entry["body"]
            if entry["sha256"] != _digest(body) or body["key"] != key:
                raise ValueError("checksum mismatch")
            return body
        except (ValueError, KeyError, TypeError) as err:
            warnings.warn(f"corrupt sweep cache entry {path} ({err}); recomputing it", stacklevel=3)
            return None

    def put(self, key: dict, body: dict) -> None:
        body = {**body, "key": key}
        # atomic, under a name of its own: a killed sweep never leaves half a cell behind,
        # and two sweeps writing the same cell at once do not collide
        atomic_write_text(self.path(key), json.dumps({"sha256": _digest(body), "body": body}))


_SEED_IN_SPEC = re.compile(r"/seed(\d+)")


def _rows(body: dict) -> list[dict]:
    key, card = body["key"], body["card"]
    seed_match = _SEED_IN_SPEC.search(key["model"])
    base = {"model": key["model"], "family": card["family"], "params": card["params"],
            "train_tokens": card["train_tokens"],
            "train_flops": (6.0 * card["params"] * card["train_tokens"]
                            if card["params"] and card["train_tokens"] else None),
            "model_seed": int(seed_match.group(1)) if seed_match else (0 if key["model"].startswith("toy/") else None),
            "task": key["task"], "strategy": key["strategy"], "shots": key["shots"],
            "seed": key["seed"], "n": key["n"]}
    return [{**base, "metric": name, **vals} for name, vals in body["metrics"].items()]


def run_sweep(models: Sequence[str], tasks: Sequence[str | Task], shots: Iterable[int] = (0,),
              seeds: Iterable[int] = (0,), n: int = 100, strategy: str = "direct",
              cache_dir: str | Path | None = None, batch_size: int = 32, progress: bool = True,
              keep_records: bool = False) -> pd.DataFrame:
    """Evaluate every model on every task, shot count and seed; return a tidy DataFrame.

    One row per (cell, metric) with columns model, family, params, train_tokens,
    train_flops, model_seed, task, strategy, shots, seed, n, metric, value, ci_low,
    ci_high, chance. Cached cells are read back without loading the model at all.
    """
    if n <= 0:
        raise TaskError(f"n (the number of test examples) must be positive, got {n}")
    models, tasks = list(models), list(tasks)
    for t in tasks:
        get_task(t)  # fail on a bad task, strategy or model name before any model is loaded
    check_strategy(strategy)
    for m in models:
        resolve(m)
    shots, seeds = list(shots), list(seeds)
    cache = _CellCache(Path(cache_dir) if cache_dir else None)
    rows, records = [], {}
    cells = [(m, t, k, s) for m in models for t in tasks for k in shots for s in seeds]
    loaded: dict[str, LanguageModel] = {}
    bar = tqdm(cells, desc="sweep", disable=not progress)
    for model, task, k, seed in bar:
        key = cell_key(model, task, strategy, k, seed, n, batch_size)
        body = cache.get(key)
        if body is None:
            if model not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[model] = load(model)
            lm = loaded[model]
            bar.set_postfix_str(f"{model} {_task_id(task)} {k}-shot seed {seed}")
            result = evaluate_cell(lm, task, n=n, shots=k, seed=seed, strategy=strategy,
                                   batch_size=batch_size)
            body = {"card": asdict(lm.card), **result}
            cache.put(key, body)
            body = {**body, "key": key}
        rows.extend(_rows(body))
        if keep_records:
            records[(model, _task_id(task), k, seed)] = body["records"]
    frame = pd.DataFrame(rows)
    if keep_records:
        frame.attrs["records"] = records
    return frame

