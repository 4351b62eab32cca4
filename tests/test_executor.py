"""Sweeps on an engine (submitit's local executor: real worker processes) give the in-process
table byte for byte, and a rerun after a killed worker computes only the missing cells.

The toy checkpoints come from the trained zoo in the shared cache ($EMERGENT_CACHE); each
sweep writes its cells into a cache folder of its own (`cache_dir`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time

import pytest

from emergent_lib.numerics import expected_mode
from emergent_lib.sweep import run_sweep

MODELS = ["toy/addition-3d-full/w16-l2", "toy/addition-3d-full/w32-l2"]
GRID = dict(tasks=["addition-3d-full"], seeds=[0, 1, 2], n=10, progress=False)
CELLS = len(MODELS) * len(GRID["seeds"])
WORKER_LINE = re.compile(r"emergent worker pid (\d+): (\S+)")


@pytest.fixture(scope="module")
def in_process_csv(tmp_path_factory):
    cells = tmp_path_factory.mktemp("inprocess") / "cells"
    return run_sweep(MODELS, cache_dir=cells, **GRID).to_csv(index=False)


def _cells_of(cells_dir, model) -> list[str]:
    """The cache files of `model`'s finished cells (each written whole, by a rename)."""
    return [p.name for p in cells_dir.glob("*.json") if json.loads(p.read_text())["body"]["key"]["model"] == model]


def _workers(log_dir) -> dict[str, int]:
    """model -> pid of the worker that evaluates it, from the workers' own log lines."""
    found = {}
    for log in log_dir.glob("*_log.out"):
        for pid, model in WORKER_LINE.findall(log.read_text()):
            found[model] = int(pid)
    return found


def test_local_workers_give_the_in_process_table(tmp_path, in_process_csv):
    cells, logs = tmp_path / "cells", tmp_path / "jobs"
    frame = run_sweep(MODELS, cache_dir=cells, executor="local",
                      executor_options={"workers": 2, "log_dir": logs}, **GRID)
    assert frame.to_csv(index=False) == in_process_csv
    workers = _workers(logs)
    assert sorted(workers) == MODELS  # one job per model ...
    assert len(set(workers.values()) | {os.getpid()}) == len(MODELS) + 1  # ... each in a process of its own
    bodies = [json.loads(path.read_text())["body"] for path in cells.glob("*.json")]
    assert len(bodies) == CELLS
    assert {body["key"]["numerics"] for body in bodies} == {expected_mode()}  # workers pinned themselves


def test_rerun_after_a_killed_worker_computes_only_the_missing_cells(tmp_path, in_process_csv):
    cells, logs, victim = tmp_path / "cells", tmp_path / "jobs", MODELS[0]
    outcome = {}

    def sweep():
        try:
            run_sweep(MODELS, cache_dir=cells, executor="local",
                      executor_options={"workers": 2, "log_dir": logs}, **GRID)
        except RuntimeError as err:
            outcome["error"] = str(err)

    driver = threading.Thread(target=sweep)
    driver.start()
    deadline = time.monotonic() + 120
    while victim not in _workers(logs) or not _cells_of(cells, victim):  # its first cell is written
        assert time.monotonic() < deadline, "the victim's worker wrote no cell"
        time.sleep(0.01)
    os.kill(_workers(logs)[victim], signal.SIGKILL)
    driver.join(timeout=120)

    assert f"{victim} (" in outcome["error"] and "died without a result" in outcome["error"]
    survivors = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert 0 < len(survivors) < CELLS  # the kill landed mid-sweep

    frame = run_sweep(MODELS, cache_dir=cells, executor="local", executor_options={"log_dir": logs}, **GRID)
    after = {p.name: p.stat().st_mtime_ns for p in cells.glob("*.json")}
    assert {name: after[name] for name in survivors} == survivors  # no finished cell was recomputed
    assert len(after) - len(survivors) == CELLS - len(survivors)  # and every missing one was
    assert frame.to_csv(index=False) == in_process_csv


@pytest.mark.parametrize("executor, options, message", [
    ("slrum", None, "unknown executor 'slrum'. Did you mean 'slurm'? Known executors: inprocess, local, slurm"),
    ("local", {"gpus": 1}, "unknown executor option 'gpus'. Did you mean 'gpus_per_job'?"),
    ("local", {"partition": "gpu"}, "partition is a SLURM option; use it with executor 'slurm'"),
    ("local", {"time": "1:30"}, "time must be minutes, H:MM:SS or D-HH:MM:SS, got '1:30'"),
    ("local", {"mem": "lots"}, "mem must be an amount like 32G or 500M, got 'lots'"),
    ("inprocess", {"mem": "8G"}, "executor options (mem) need an engine; choose executor local or slurm"),
    ("slurm", None, "executor 'slurm' cannot start here"),
])
def test_bad_engine_settings_fail_in_one_line_before_any_work(tmp_path, executor, options, message):
    if executor == "slurm" and shutil.which("srun"):
        pytest.skip("on a SLURM cluster the slurm executor starts")
    with pytest.raises((ValueError, RuntimeError), match=re.escape(message)):
        run_sweep(MODELS, cache_dir=tmp_path / "cells", executor=executor, executor_options=options, **GRID)
    assert not (tmp_path / "cells").exists()


def test_cli_names_the_engine_option_that_is_wrong(tmp_path, capsys):
    from emergent_lib.cli import main

    code = main(["sweep", "--models", MODELS[0], "--tasks", "addition-3d-full", "--n", "5", "--quiet",
                 "--out", str(tmp_path / "out"), "--executor", "local", "--time", "90min"])
    assert code == 2
    assert capsys.readouterr().err == ("emergent: error: time must be minutes, H:MM:SS or D-HH:MM:SS, "
                                       "got '90min'\n")


def test_a_failed_job_reports_its_workers_error(tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama", "hidden_size": "x"}')
    with pytest.raises(RuntimeError) as err:
        run_sweep([str(broken)], cache_dir=tmp_path / "cells", executor="local",
                  executor_options={"log_dir": tmp_path / "jobs"}, **{**GRID, "seeds": [0]})
    message = str(err.value)
    assert message.startswith("1 of 1 cells failed on executor 'local': ")
    assert f"ModelLoadError: cannot load the checkpoint directory '{broken}'" in message  # the worker's words
    assert "rerun to compute only the missing ones" in message
