"""A sweep in-process vs through the engine (submitit's local executor, 2 worker processes).

Two sweeps of trained toy models, each run twice into fresh cell caches: once in this process,
once as one job per model on `--workers` worker processes. The first has cells of real size;
the second trivially cheap cells (n=1), so the difference between its two times is the
engine's overhead (a worker process starting, importing torch, loading its model; the
driver's polling), printed per cell and per job. Both runs must give the same CSV.

    python benchmarks/bench_executor.py [--workers 2] [--n 50] [--seeds 3]
"""
from __future__ import annotations

from emergent_lib.numerics import pin_this_process

pin_this_process()  # workers adopt the driver's numeric mode; the cells' keys carry it

import argparse  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from emergent_lib.sweep import run_sweep  # noqa: E402

SIZES = ["w16-l2", "w32-l2", "w48-l2", "w64-l2"]


def _clock() -> tuple[float, float]:
    """Wall time, and CPU time of this process and every worker process it waited for."""
    t = os.times()
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system


def timed(models, seeds, n, workers, root: Path, name: str):
    """(wall, CPU) in-process, (wall, CPU) through the engine, and the two CSVs."""
    grid = dict(tasks=["addition-3d-full"], seeds=seeds, n=n, progress=False)
    start = _clock()
    here = run_sweep(models, cache_dir=root / f"{name}-inprocess", **grid).to_csv(index=False)
    middle = _clock()
    engine = run_sweep(models, cache_dir=root / f"{name}-engine", executor="local",
                       executor_options={"workers": workers}, **grid).to_csv(index=False)
    end = _clock()
    return ([b - a for a, b in zip(start, middle)], [b - a for a, b in zip(middle, end)], here, engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n", type=int, default=50, help="test items per cell of the real-size sweep")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model")
    args = parser.parse_args()
    models = [f"toy/addition-3d-full/{size}" for size in SIZES]
    seeds = list(range(args.seeds))
    cells = len(models) * len(seeds)
    print(f"{len(models)} toy models x {len(seeds)} seeds = {cells} cells, one job per model, "
          f"{args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in ((f"n={args.n}", args.n), ("n=1 (cheap)", 1)):
            (w_here, c_here), (w_engine, c_engine), here, engine = timed(models, seeds, n, args.workers,
                                                                         Path(tmp), f"n{n}")
            assert here == engine, "the engine's table differs from the in-process one"
            print(f"{label:<12} wall: in-process {w_here:7.2f} s  engine {w_engine:7.2f} s  ratio {w_engine / w_here:5.2f}"
                  f"   CPU: in-process {c_here:7.2f} s  engine {c_engine:7.2f} s  ratio {c_engine / c_here:5.2f}"
                  f"   same CSV: yes")
        print(f"engine overhead (cheap cells), wall: {(w_engine - w_here) / cells:.2f} s per cell "
              f"({(w_engine - w_here) / len(models):.2f} s per job); CPU: {(c_engine - c_here) / cells:.2f} s per cell "
              f"({(c_engine - c_here) / len(models):.2f} s per job: a worker starting, importing torch, loading its model)")
        print(f"load average at the end {os.getloadavg()[0]:.1f} (other work on this machine stretches wall times)")


if __name__ == "__main__":
    main()
