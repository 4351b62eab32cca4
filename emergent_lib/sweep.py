"""Sweeps: models x tasks x shots x seeds into one tidy table, each cell cached on disk.

A cell is one (model, task, strategy, shots, seed, n) evaluation (`cell.py`). Finished cells are
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
from .cell import cell_examples, evaluate_cell
from .devices import default_batch_size, dtype_name, pick_device
from .hub import revision_step
from .compute import training_flops
from .models import LanguageModel, load, model_fingerprint, resolve, spec_revision
from .numerics import current_mode
from .paths import atomic_write_text, cache_root
from .prompting import get_strategy
from .tasks import Task, TaskError, get_task, task_fingerprint

__all__ = ["evaluate_cell", "run_sweep", "cell_key", "CELL_FORMAT"]

CELL_FORMAT = 1  # bump when the meaning of a cached cell changes


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


def cell_key(model: str, task: Task | str, strategy: str, shots: int, seed: int, n: int,
             batch_size: int = 32, dtype: str = "float32") -> dict:
    """What identifies a cell; its hash names the cache file.

    Names are not enough: a task edited under the same name, or a checkpoint directory
    retrained in place, must not be served the old results. So the key holds a fingerprint
    of the task (its fields and the cell's own rendered items) and of local model files,
    and the numeric mode the evaluating process computes in (a greedy answer near a tie can
    change with the CPU's SIMD level; `numerics`). A model's dtype decides its answers too;
    its device does not (`devices`). Cells in float32, the default, keep the keys they had
    before dtypes were chosen, so their cache stays valid.
    """
    task_obj = get_task(task)
    items, pool = cell_examples(task_obj, n, shots, seed)
    key = {"model": model, "task": _task_id(task), "strategy": strategy, "shots": shots,
           "seed": seed, "n": n, "format": CELL_FORMAT, "version": __version__,
           "task_fingerprint": task_fingerprint(task_obj, items + pool), "numerics": current_mode()}
    weights = model_fingerprint(model)
    if weights:
        key["weights"] = weights
    revision = spec_revision(model)
    if revision is not None:
        key["revision"] = revision
    if dtype_name(dtype) != "float32":
        key["dtype"] = dtype_name(dtype)
    if get_strategy(strategy).batch_dependent:  # one random stream per batch: keyed by batch size
        key["batch_size"] = batch_size
    recipe = _recipe(model)
    return {**key, "recipe": recipe} if recipe else key


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


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
    revision = key.get("revision")
    base = {"model": key["model"], "family": card["family"], "params": card["params"],
            "params_non_embedding": card.get("params_non_embedding"),  # cells cached before it: None
            "train_tokens": card["train_tokens"],
            "train_flops": (training_flops(card["params"], card["train_tokens"])
                            if card["params"] and card["train_tokens"] else None),
            "revision": revision, "step": revision_step(revision), "dtype": key.get("dtype", "float32"),
            "model_seed": int(seed_match.group(1)) if seed_match else (0 if key["model"].startswith("toy/") else None),
            "task": key["task"], "strategy": key["strategy"], "shots": key["shots"],
            "seed": key["seed"], "n": key["n"]}
    return [{**base, "metric": name, **vals} for name, vals in body["metrics"].items()]


def run_sweep(models: Sequence[str], tasks: Sequence[str | Task], shots: Iterable[int] = (0,),
              seeds: Iterable[int] = (0,), n: int = 100, strategy: str = "direct",
              cache_dir: str | Path | None = None, batch_size: int | None = None, progress: bool = True,
              keep_records: bool = False, device: str = "cpu", dtype: str = "float32",
              executor: str = "inprocess", executor_options: dict | None = None) -> pd.DataFrame:
    """Evaluate every model on every task, shot count and seed; return a tidy DataFrame.

    One row per (cell, metric) with columns model, family, params (the card's count: see its
    params_source), params_non_embedding, train_tokens,
    train_flops, revision, step, dtype, model_seed, task, strategy, shots, seed, n, metric,
    value, ci_low, ci_high, chance. Cached cells are read back without loading the model at
    all. Models load on `device` in `dtype` (`models.load`); batch_size defaults to what
    suits the device (`devices.default_batch_size`).

    `executor` "local" or "slurm" computes the uncomputed cells on an engine first, one job
    per model (`executors`; `executor_options`: gpus_per_job, mem, time, partition, workers,
    log_dir); the table is then assembled from the cache as here.
    """
    arguments = dict(locals())  # every argument, so that a worker sweeps as asked
    if n <= 0:
        raise TaskError(f"n (the number of test examples) must be positive, got {n}")
    models, tasks = list(models), list(tasks)
    for t in tasks:
        get_task(t)  # fail on a bad task, strategy or model name before any model is loaded
    get_strategy(strategy)
    for m in models:
        resolve(m)
    device, dtype = pick_device(device), dtype_name(dtype)
    batch_size = default_batch_size(device) if batch_size is None else batch_size
    shots, seeds = list(shots), list(seeds)
    cache = _CellCache(Path(cache_dir) if cache_dir else None)
    rows, records = [], {}
    cells = [(m, t, k, s) for m in models for t in tasks for k in shots for s in seeds]

    def key_of(model, task, k, seed) -> dict:
        return cell_key(model, task, strategy, k, seed, n, batch_size, dtype)

    if executor != "inprocess" or executor_options:
        _run_on_engine(cache, cells, key_of, executor, executor_options, progress,
                       {**arguments, "tasks": tasks, "shots": shots, "seeds": seeds})
    loaded: dict[str, LanguageModel] = {}
    bar = tqdm(cells, desc="sweep", disable=not progress)
    for model, task, k, seed in bar:
        key = key_of(model, task, k, seed)
        body = cache.get(key)
        if body is None:
            if model not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[model] = load(model, device=device, dtype=dtype)
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


def _run_on_engine(cache: _CellCache, cells: list, key_of, executor: str, options: dict | None,
                   progress: bool, arguments: dict) -> None:
    """Hand the uncomputed cells to an engine, one job per model; each job runs this sweep on
    its model in a worker, with `arguments` as given here."""
    from .executors import check_executor, run_on_engine

    check_executor(executor, options)  # a bad option fails before any key is computed
    missing: dict[str, list[Path]] = {}
    for model, task, k, seed in cells:
        key = key_of(model, task, k, seed)
        if cache.get(key) is None:
            missing.setdefault(model, []).append(cache.path(key))
    worker_args = {**arguments, "cache_dir": str(cache.root), "progress": False, "keep_records": False,
                   "executor": "inprocess", "executor_options": None}
    del worker_args["models"]
    run_on_engine(executor, options, f"{__name__}:run_sweep", missing, worker_args, cache.root, progress)
