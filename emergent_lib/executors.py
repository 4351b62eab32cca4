"""Run a sweep's uncomputed cells on a cluster engine: submitit (SLURM, or worker processes here).

Why submitit: SLURM is what university GPU clusters run, submitit drives it from Python with
no service of its own (no scheduler process, no ports), it installs in seconds (a pure-Python
wheel and cloudpickle), and its local executor runs each job in a real worker process, so the
path tested here is the one a cluster runs. (Ray's wheel alone is ~80 MB and starts a cluster
of daemons; Dask needs dask-jobqueue on top for SLURM.)

The cache is the only channel. Each job evaluates the cells of one model (so the model loads
once per job) by running the same in-process sweep on that one model in a worker, which
writes every cell atomically into the shared cell cache as it finishes. The driver only
watches the cache and the jobs, then assembles the table from the cache exactly as an
in-process sweep does; a rerun after a worker dies submits only the cells still missing.
"""
from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path

from .progress import tqdm

from .errors import UnknownNameError, unknown_name

__all__ = ["EXECUTORS", "check_executor", "run_on_engine"]

EXECUTORS = {
    "inprocess": "evaluate every cell in this process (the default)",
    "local": "submitit's local executor: one worker process per model on this machine",
    "slurm": "submitit's SLURM executor: one SLURM job per model (run on the cluster's login node)",
}
OPTIONS = {
    "gpus_per_job": "GPUs per job (default 0)",
    "mem": "memory per job, e.g. 32G or 500M (SLURM's default if not given)",
    "time": "time limit per job: minutes, H:MM:SS or D-HH:MM:SS (SLURM's default if not given)",
    "partition": "SLURM partition (slurm only)",
    "workers": "jobs running at once (default: CPU count for local, no limit for slurm)",
    "log_dir": "folder for job files and logs, on the shared filesystem (default <cells>/jobs)",
}
_POLL_S = 0.2
_MEM = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)B?$", re.IGNORECASE)
_TIME = re.compile(r"^(?:(\d+)-)?(\d+):([0-5]\d):([0-5]\d)$")


def _parse_mem(text) -> float:
    """Memory as GB (SLURM's units: K, M, G, T; a bare number is in GB)."""
    match = _MEM.match(str(text).strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"mem must be an amount like 32G or 500M, got '{text}'")
    scale = {"K": 1 / 1024 ** 2, "M": 1 / 1024, "G": 1, "T": 1024, "": 1}[match.group(2).upper()]
    return float(match.group(1)) * scale


def _parse_time(text) -> int:
    """A time limit in whole minutes, from minutes, H:MM:SS or D-HH:MM:SS (SLURM's forms)."""
    text = str(text).strip()
    if text.isdigit():
        minutes = int(text)
    else:
        match = _TIME.match(text)
        if not match:
            raise ValueError(f"time must be minutes, H:MM:SS or D-HH:MM:SS, got '{text}'")
        days, hours, mins, secs = (int(g or 0) for g in match.groups())
        if match.group(1) and hours > 23:
            raise ValueError(f"time must be minutes, H:MM:SS or D-HH:MM:SS, got '{text}'")
        minutes = days * 1440 + hours * 60 + mins + (1 if secs else 0)
    if minutes <= 0:
        raise ValueError(f"time must be at least one minute, got '{text}'")
    return minutes


def _count(value, name: str, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum or str(number) != str(value).strip():
        raise ValueError(f"{name} must be an integer >= {minimum}, got '{value}'")
    return number


def check_executor(executor: str, options: dict | None) -> dict:
    """The options, checked and in submitit's units; a one-line error for anything wrong."""
    if executor not in EXECUTORS:
        raise UnknownNameError(unknown_name("executor", str(executor), list(EXECUTORS)))
    options = dict(options or {})
    for name in options:
        if name not in OPTIONS:
            raise UnknownNameError(unknown_name("executor option", str(name), list(OPTIONS), plural="options"))
    options = {k: v for k, v in options.items() if v is not None}
    if executor == "inprocess" and options:
        raise ValueError(f"executor options ({', '.join(options)}) need an engine; "
                         f"choose executor local or slurm")
    if "partition" in options and executor != "slurm":
        raise ValueError("partition is a SLURM option; use it with executor 'slurm'")
    checked = {"gpus_per_job": _count(options.get("gpus_per_job", 0), "gpus_per_job", 0)}
    if "mem" in options:
        checked["mem_gb"] = _parse_mem(options["mem"])
    if "time" in options:
        checked["timeout_min"] = _parse_time(options["time"])
    if "workers" in options:
        checked["workers"] = _count(options["workers"], "workers", 1)
    for name in ("partition", "log_dir"):
        if name in options:
            checked[name] = str(options[name])
    return checked


def _engine(executor: str, options: dict, folder: Path):
    import submitit

    params = {"gpus_per_node": options["gpus_per_job"], "name": "emergent-sweep",
              # the local executor kills a job after 2 minutes unless told otherwise
              "timeout_min": options.get("timeout_min", 7 * 1440 if executor == "local" else None),
              "mem_gb": options.get("mem_gb"), "slurm_partition": options.get("partition")}
    try:
        engine = submitit.AutoExecutor(folder=folder, cluster=executor)
    except RuntimeError as err:  # no srun: not on a SLURM cluster
        raise RuntimeError(f"executor '{executor}' cannot start here ({err}); run the sweep on the "
                           f"cluster's login node, or use executor 'local'") from None
    engine.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return engine


def _worker(job: str, model: str, sweep_args: dict, env: dict, mode: str) -> None:
    """A job: adopt the driver's cache root and numeric mode before torch loads, then call
    `job` ("module:function", the in-process sweep) on one model: the same code path, so the
    same cell keys and cache files. It is named, not pickled, because unpickling a function
    imports its module, and with it torch, before the numeric mode is set."""
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    from .numerics import current_mode

    if current_mode() != mode:
        raise RuntimeError(f"this worker computes in {current_mode()}, the driver in {mode}; its cells "
                           f"would get other keys. Start the workers on CPUs like the driver's "
                           f"(or set EMERGENT_TOY_SIMD=default on both)")
    print(f"emergent worker pid {os.getpid()}: {model}", flush=True)
    module, function = job.split(":")
    getattr(importlib.import_module(module), function)([model], **sweep_args)


def _error_text(job) -> str:
    """The worker's own error (its exception's last line), not submitit's wrapper."""
    try:
        err = job.exception()
    except Exception as exc:  # noqa: BLE001 - an engine that cannot even say why
        err = exc
    if err is None:
        return "the worker finished without writing these cells"
    text = str(err)
    if "has not produced any output" in text:  # killed: the worker raised nothing, wrote no result
        return (f"the worker died without a result (killed, out of memory or past its time limit?); "
                f"log: {job.paths.stderr}")
    parts = re.split(r"\n-{10,}\n", text)  # submitit puts the worker's traceback between two rules
    lines = [line.strip() for line in (parts[1] if len(parts) > 2 else text).splitlines() if line.strip()]
    return f"{lines[-1] if lines else type(err).__name__}; log: {job.paths.stderr}"


def _submit(engine, executor: str, job: str, model: str, sweep_args: dict, job_args: tuple):
    try:
        return engine.submit(_worker, job, model, sweep_args, *job_args)
    except (RuntimeError, OSError) as err:  # e.g. sbatch refusing the resources asked for
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise RuntimeError(f"executor '{executor}' refused the job of {model} "
                           f"({lines[-1] if lines else type(err).__name__}); check the partition, mem, "
                           f"time and gpus_per_job against the cluster's limits") from None


def run_on_engine(executor: str, options: dict | None, job: str, missing: dict[str, list[Path]],
                  sweep_args: dict, cells_dir: Path, progress: bool = True) -> None:
    """Compute the `missing` cells (model -> the cache files it must write), one job per model:
    `job` ("module:function") called as function([model], **sweep_args) in a worker.

    Returns when every job has ended; raises a RuntimeError naming each model whose cells were
    not all written, with its worker's error. Finished cells stay cached either way.
    """
    from .numerics import current_mode, mode_env
    from .paths import cache_root

    options = check_executor(executor, options)
    if not missing:
        return
    folder = Path(options.get("log_dir") or cells_dir / "jobs")
    engine = _engine(executor, options, folder)
    workers = options.get("workers") or ((os.cpu_count() or 1) if executor == "local" else len(missing))
    job_args = ({**mode_env(), "EMERGENT_CACHE": str(cache_root())}, current_mode())
    queue, running, failed, status = list(missing), {}, {}, ""
    total = sum(len(paths) for paths in missing.values())
    bar = tqdm(total=total, desc=f"sweep ({executor}) done", unit="cell", disable=not progress)
    try:
        while queue or running:
            while queue and len(running) < workers:
                model = queue.pop(0)
                running[model] = _submit(engine, executor, job, model, sweep_args, job_args)
            time.sleep(_POLL_S)
            for model, job in list(running.items()):
                if job.done():
                    del running[model]
                    if all(path.exists() for path in missing[model]):
                        for pickle in job.paths.folder.glob(f"{job.job_id}_*.pkl"):  # logs stay
                            pickle.unlink(missing_ok=True)
                    else:
                        failed[model] = _error_text(job)
            done = sum(path.exists() for paths in missing.values() for path in paths)
            lost = sum(not path.exists() for model in failed for path in missing[model])
            if (done, f"pending {total - done - lost}, failed {lost}") != (bar.n, status):
                status = f"pending {total - done - lost}, failed {lost}"
                bar.set_postfix_str(status, refresh=False)
                bar.update(done - bar.n)
    finally:
        bar.close()
        for job in running.values():  # interrupted: stop the jobs still running
            job.cancel(check=False)
    if failed:
        lost = {model: sum(not p.exists() for p in missing[model]) for model in failed}
        detail = "; ".join(f"{model} ({lost[model]} cells): {text}" for model, text in failed.items())
        raise RuntimeError(f"{sum(lost.values())} of {total} cells failed on executor '{executor}': {detail}. "
                           f"Finished cells are cached; rerun to compute only the missing ones")
