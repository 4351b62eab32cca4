"""The toy model zoo: the families of `families.py`, trained on demand and cached.

A family is a task, a ladder of sizes, one training recipe shared by every size, and default
seeds. `get_family(name)` returns one metadata dict per (size, seed), training whatever is
not in the cache yet (two models at a time on a two-core machine). A cached model costs
nothing: the second call only reads metadata.

Cache layout (root: $EMERGENT_CACHE, default ~/.cache/emergent_lib):

    <root>/toy/<family>/<size>/seed<k>/            final checkpoint (a Hugging Face directory)
    <root>/toy/<family>/<size>/seed<k>/step<N>/    checkpoints during training

A model is trained into a temporary directory that is renamed into place only when training
has finished, so an interrupted run never leaves a half checkpoint that looks complete; a
checkpoint with missing or unreadable files, or one trained with another recipe, is retrained.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from ..numerics import expected_mode, is_pinned, pinned_env
from ..paths import atomic_dir, cache_root
from .families import DEFAULT_FAMILY, FAMILIES, Family, check_size, family
from .model import parse_size
from .training import checkpoint_steps, train, training_text

__all__ = ["Family", "FAMILIES", "get_family", "checkpoint_dir", "parse_spec", "spec_recipe_id", "list_checkpoints",
           "model_dir", "cache_root", "is_complete"]


# ----------------------------------------------------------------------------- paths
def model_dir(family_name: str, size: str, seed: int = 0, root: Path | str | None = None) -> Path:
    """Where the final checkpoint of (family, size, seed) lives (whether trained or not), under
    `root` (default: the library's cache root)."""
    return Path(root if root is not None else cache_root()) / "toy" / family_name / size / f"seed{seed}"


def recipe_id(fam: Family, size: str, seed: int) -> str:
    """A fingerprint of everything that determines the weights, the task's text format and the
    numeric mode (`numerics.expected_mode`) included: a cached model with another fingerprint
    was trained differently and is retrained."""
    import random

    from ..tasks import get_task

    task = get_task(fam.task)
    rng = random.Random(0)
    sample = [task.render(task.make_fields(rng)) for _ in range(3)]
    train = {k: v for k, v in asdict(fam.train).items()
             if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}
    fields = {"size": size, "seed": seed, "train": train, "version": 1,
              "format": [ex.question + ex.target for ex in sample],
              "numerics": expected_mode()}  # the same recipe in another numeric mode is another model
    if task.settings:  # a training text's mixture, which three samples need not show
        fields["task_settings"] = task.settings
    if fam.train.target != "answer":  # the worked text the model learns: a new format retrains
        fields["text"] = ["".join(training_text(task, ex, fam.train.target)) for ex in sample]
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# TrainConfig fields added after fingerprint version 1, with the value every model trained
# before then used: left out of the fingerprint at that value, so those models stay valid.
_LATER_FIELDS = {"target": "answer"}


# ----------------------------------------------------------------------------- cache checks
_VALID: dict[str, float] = {}  # checkpoint dir -> mtime of its toy_meta.json when checked


def _readable(path: Path) -> dict | None:
    """The metadata of a checkpoint directory whose files are all present and readable."""
    try:
        meta_file = path / "toy_meta.json"
        mtime = meta_file.stat().st_mtime
        meta = json.loads(meta_file.read_text())
        if _VALID.get(str(path)) != mtime:
            from safetensors.torch import load_file

            json.loads((path / "config.json").read_text())
            json.loads((path / "tokenizer.json").read_text())
            json.loads((path / "tokenizer_config.json").read_text())
            if not load_file(path / "model.safetensors"):
                return None
            _VALID[str(path)] = mtime
        return meta
    except Exception:  # missing, truncated or garbled: not a usable checkpoint
        return None


def is_complete(fam: Family, size: str, seed: int) -> dict | None:
    """The final metadata if (family, size, seed) is fully trained and intact in the cache."""
    path = model_dir(fam.name, size, seed)
    meta = _readable(path)
    if not meta or meta.get("recipe") != recipe_id(fam, size, seed):
        return None
    for step in meta.get("checkpoint_steps", []):
        if _readable(path / f"step{step}") is None:
            return None
    return {**meta, "path": str(path)}


@contextlib.contextmanager
def _lock(fam_name: str):
    """One trainer per family at a time across processes (a book build and a test run may
    both ask); the second waits, then finds the models in the cache."""
    root = cache_root() / "toy" / fam_name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): no cross-process lock
            yield
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # say why we sit still, then wait for the other trainer
            print(f"toy family '{fam_name}': another process is training it; waiting for it "
                  f"to finish (lock {root / '.lock'})", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# ----------------------------------------------------------------------------- training
_QUEUE = None  # in a worker process: where progress reports go


def _worker_init(queue) -> None:
    global _QUEUE
    import torch

    torch.set_num_threads(1)
    _QUEUE = queue


def _train_into_cache(fam: Family, size: str, seed: int, root: str, queue=None) -> dict:
    """Train one model into a temporary directory, then move it into place atomically."""
    queue = queue if queue is not None else _QUEUE
    final = model_dir(fam.name, size, seed, root)
    report = (lambda n: queue.put(n)) if queue is not None else None
    with atomic_dir(final) as tmp:
        meta = {"family": fam.name, "recipe": recipe_id(fam, size, seed),
                "checkpoint_steps": checkpoint_steps(fam.train)}
        meta = train(size, seed, fam.train, tmp, meta=meta, progress=report)
        if meta["numerics"] != expected_mode():  # never file a model under another mode's name
            raise RuntimeError(f"toy model {fam.name}/{size}/seed{seed} was trained in numeric mode "
                               f"{meta['numerics']}, not the pinned {expected_mode()}")
    _VALID.pop(str(final), None)
    return {**meta, "path": str(final)}


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_jobs(fam: Family, jobs: list[tuple[str, int]], progress: bool, workers: int | None) -> None:
    """Train (size, seed) jobs with a progress bar: here when this process computes in the
    pinned numeric mode, else in a process started in it (`worker`)."""
    from ..progress import tqdm

    total = len(jobs) * fam.train.steps
    # TQDM_DISABLE (tqdm's own switch, which `emergent --quiet` sets) holds here too: an
    # explicit `disable` would override it, and load() trains with the bar on
    quiet = os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true")
    bar = tqdm(total=total, desc=f"training toy/{fam.name} ({len(jobs)} models)", unit="step",
               disable=not progress or quiet)
    workers = min(len(jobs), workers or int(os.environ.get("EMERGENT_TOY_WORKERS", 0)) or _cpus())
    try:
        train = train_jobs if is_pinned() else _train_in_pinned_process
        train(fam, jobs, workers, _BarQueue(bar))
    finally:
        bar.close()


def train_jobs(fam: Family, jobs: list[tuple[str, int]], workers: int, report,
               root: str | None = None) -> None:
    """Train (size, seed) jobs into the cache at `root` (default: the cache root) in this
    process's numeric mode, in parallel processes (one thread each) when `workers` > 1;
    `report.put(n)` receives the steps done."""
    # the biggest models first, so the last ones to finish are small (balanced cores)
    jobs = sorted(jobs, key=lambda j: (-_cost(j[0]), j[1]))
    root = str(root if root is not None else cache_root())
    if workers <= 1:
        for size, seed in jobs:
            _train_into_cache(fam, size, seed, root, report)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # fork where the platform allows it (Linux): no re-import of torch in every worker and
    # no re-run of the caller's script; workers use one thread, like DataLoader workers.
    method = "fork" if "fork" in mp.get_all_start_methods() and sys.platform == "linux" else "spawn"
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(queue,)) as pool:
        pending = {pool.submit(_train_into_cache, fam, size, seed, root) for size, seed in jobs}
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(queue, report)
            for fut in done:
                fut.result()  # re-raise a worker's error here
        _drain(queue, report)


def _train_in_pinned_process(fam: Family, jobs, workers: int, report) -> None:
    """Run `train_jobs` in `python -m emergent_lib.toy.worker`, started with the pinned
    environment; its stdout carries step counts (to `report.put`), its stderr is kept for
    the error message."""
    import subprocess

    job = json.dumps({"family": asdict(fam), "jobs": jobs, "workers": workers, "root": str(cache_root())})
    env = {**os.environ, **pinned_env(), "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen([sys.executable, "-m", "emergent_lib.toy.worker", job], env=env,
                                stdout=subprocess.PIPE, stderr=errors, text=True)
        try:
            for line in proc.stdout:
                report.put(int(line))
            code = proc.wait()
        finally:
            if proc.poll() is None:  # interrupted: stop the trainer (its writes are atomic)
                proc.kill()
                proc.wait()
        if code:
            errors.seek(0)
            tail = errors.read().strip().splitlines()[-15:]
            raise RuntimeError(f"training toy/{fam.name} in the pinned numeric mode failed "
                               f"(exit {code}):\n" + "\n".join(tail))


def _cost(size: str) -> int:
    width, layers = parse_size(size)
    return width * width * layers


class _BarQueue:
    """Progress reports straight to the bar (training in this process)."""
    def __init__(self, bar):
        self.bar = bar

    def put(self, n):
        self.bar.update(n)


def _drain(queue, report) -> None:
    import queue as q
    while True:
        try:
            report.put(queue.get_nowait())
        except q.Empty:
            return


# ----------------------------------------------------------------------------- public API
def get_family(name: str = DEFAULT_FAMILY, seeds=None, progress: bool = True,
               sizes=None, workers: int | None = None) -> list[dict]:
    """Metadata of every (size, seed) of a family, training what the cache lacks.

    Each dict is the final checkpoint's toy_meta.json plus "path" (load it with
    `AutoModelForCausalLM.from_pretrained(path)`). `seeds` defaults to the family's seeds;
    `sizes` to all its sizes; `workers` to one process per core.
    """
    fam = family(name)
    seeds = tuple(fam.seeds if seeds is None else ([seeds] if isinstance(seeds, int) else seeds))
    sizes = tuple(fam.sizes if sizes is None else sizes)
    for size in sizes:
        check_size(fam, size)
    for seed in seeds:
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seed!r}")
    wanted = [(size, seed) for size in sizes for seed in seeds]
    found = {job: is_complete(fam, *job) for job in wanted}
    missing = [job for job, meta in found.items() if meta is None]
    if missing:
        with _lock(fam.name):
            missing = [job for job in missing if is_complete(fam, *job) is None]  # someone else?
            if missing:
                _run_jobs(fam, missing, progress, workers)
        found = {job: is_complete(fam, *job) for job in wanted}
        broken = [job for job, meta in found.items() if meta is None]
        if broken:
            raise RuntimeError(f"toy models {broken} of '{name}' did not save correctly under "
                               f"{cache_root()}; check free disk space and permissions")
    return [found[job] for job in wanted]


_SPEC = re.compile(r"^(?P<family>[^/]+)/(?P<size>[^/]+)(?:/seed(?P<seed>\d+)(?:/step(?P<step>\d+))?)?/?$")


def parse_spec(spec: str) -> tuple[Family, str, int, int | None]:
    """(family, size, seed, step) of a toy spec "<family>/<size>[/seed<k>[/step<N>]]", checked
    against the zoo without training anything; a ValueError that names what is wrong.
    Without a seed: seed 0; without a step: None (the final checkpoint)."""
    spec = str(spec).strip()
    fam = family(spec.split("/")[0])
    m = _SPEC.match(spec)
    if m:
        check_size(fam, m["size"])
        return fam, m["size"], int(m["seed"] or 0), None if m["step"] is None else int(m["step"])
    raise ValueError(f"toy model '{spec}' is not of the form <family>/<size>[/seed<k>[/step<N>]], "
                     f"e.g. '{DEFAULT_FAMILY}/{FAMILIES[DEFAULT_FAMILY].sizes[-1]}/seed0'. "
                     f"Known families: {', '.join(FAMILIES)}.")


def spec_recipe_id(spec: str) -> str | None:
    """The recipe fingerprint of a toy spec "<family>/<size>[/seed<k>[/step<N>]]", without
    training anything; None when the spec names no known family and size."""
    try:
        fam, size, seed, _ = parse_spec(spec)
    except ValueError:
        return None
    return recipe_id(fam, size, seed)


def checkpoint_dir(spec: str, progress: bool = True) -> Path:
    """The checkpoint directory of "<family>/<size>[/seed<k>[/step<N>]]", trained on demand.

    Without a seed: seed 0; without a step: the final checkpoint.
    """
    fam, size, seed, step = parse_spec(spec)
    meta = get_family(fam.name, seeds=[seed], sizes=[size], progress=progress)[0]
    path = Path(meta["path"])
    if step is None or step == fam.train.steps:
        return path
    steps = meta.get("checkpoint_steps", [])
    if step not in steps:
        raise ValueError(f"toy model '{fam.name}/{size}/seed{seed}' has no checkpoint at step "
                         f"{step}. Saved steps: {', '.join(map(str, steps + [fam.train.steps]))}.")
    return path / f"step{step}"


def list_checkpoints(family_name: str, size: str, seed: int = 0, progress: bool = True) -> list[dict]:
    """Metadata of every checkpoint of one model over training, the final one last."""
    meta = get_family(family_name, seeds=[seed], sizes=[size], progress=progress)[0]
    path = Path(meta["path"])
    out = []
    for step in meta.get("checkpoint_steps", []):
        sub = path / f"step{step}"
        out.append({**json.loads((sub / "toy_meta.json").read_text()), "path": str(sub)})
    return out + [meta]
