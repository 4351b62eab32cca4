"""The labs: their source format, their explorers, and the values their prose relies on.

The labs are executed by the book build (`jupyter-book build`), not here; this file checks
that the build's execution cache holds a run of each lab's current code, that the run
executed every cell that should run, and that it printed the results the lab text describes. Like the browser
test, the checks on executed labs fail when the book has not been built, unless
EMERGENT_ALLOW_NO_BOOK=1 (then they are skipped). The widget tests need no book.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from executed_labs import executed
from executed_labs import glued as glued_values

ROOT = Path(__file__).resolve().parents[1]
LABS = {
    "lab1_first_emergence_curve": "book/definition",
    "lab2_few_shot_evaluation": "book/evidence",
    "lab3_prompting_strategies": "book/strategies",
}


# ----------------------------------------------------------------------------- sources
@pytest.mark.parametrize("name", sorted(LABS))
def test_lab_is_a_myst_notebook_with_the_python3_kernel(name):
    jupytext = pytest.importorskip("jupytext")
    path = ROOT / "labs" / f"{name}.md"
    nb = jupytext.read(path)
    meta = nb.metadata
    assert meta["jupytext"]["text_representation"]["format_name"] == "myst"
    assert meta["jupytext"]["text_representation"]["extension"] == ".md"
    assert meta["kernelspec"]["name"] == "python3"
    assert meta["kernelspec"]["language"] == "python"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 5, "a lab is mostly code that runs"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# Lab "), \
        "a lab opens with its title"
    opening = "\n".join(c.source for c in nb.cells[:2] if c.cell_type == "markdown")
    assert "**What it shows:**" in opening and "**Time:**" in opening, \
        "a lab opens with what it shows and how long it takes"
    assert "## Try this" in path.read_text()


@pytest.mark.parametrize("name", sorted(LABS))
def test_lab_cites_only_known_references(name):
    bib = (ROOT / "book" / "references.bib").read_text()
    known = set(re.findall(r"@\w+\{([^,]+),", bib))
    text = (ROOT / "labs" / f"{name}.md").read_text()
    cited = {k.strip() for group in re.findall(r"\{cite:[pt]\}`([^`]+)`", text) for k in group.split(",")}
    assert cited, "a lab cites its sources"
    assert cited <= known, f"unknown citation keys: {sorted(cited - known)}"


@pytest.mark.parametrize("name", sorted(LABS))
def test_lab_is_in_the_toc_under_its_chapter(name):
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parents = {s["file"]: ch["file"] for part in toc["parts"] for ch in part["chapters"]
               for s in ch.get("sections", [])}
    assert parents.get(f"labs/{name}") == LABS[name]


def test_explorer_cells_have_a_static_figure_beside_them():
    """Widgets show nothing on the website: their cell's output is removed, and the page
    draws its figures with plain matplotlib elsewhere."""
    jupytext = pytest.importorskip("jupytext")
    for name in LABS:
        nb = jupytext.read(ROOT / "labs" / f"{name}.md")
        explorer = [c for c in nb.cells if c.cell_type == "code" and "sweep_explorer(" in c.source]
        assert explorer, f"{name}: no explorer"
        assert all("remove-output" in c.metadata.get("tags", []) for c in explorer)
        figures = [c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source
                   and "skip-execution" not in c.metadata.get("tags", [])]
        assert len(figures) >= 2, f"{name}: fewer than two static figures"


def test_lab2_ladder_commands_are_ones_the_cli_accepts():
    """The real ladder is a shell command for readers with internet, not a cell of the
    build: each `emergent sweep` block parses, and every model in it is a spec that
    resolves (registry names; revisions that Pythia saved)."""
    import re
    import shlex

    from emergent_lib.cli import build_parser
    from emergent_lib.models import resolve

    text = (ROOT / "labs" / "lab2_few_shot_evaluation.md").read_text()
    commands = [shlex.split(block.replace("\\\n", " "))
                for block in re.findall(r"```bash\n(emergent sweep .*?)\n```", text, re.S)]
    assert len(commands) == 2 and "pythia-14m" in commands[0]
    for command in commands:
        args = build_parser().parse_args(command[1:])
        assert all(resolve(m) == "hub" for m in args.models)
    assert any("@" in m for m in build_parser().parse_args(commands[1][1:]).models)
    assert "--device cuda --dtype bfloat16" in text


# ----------------------------------------------------------------------------- widgets
def _frame() -> pd.DataFrame:
    """A small sweep table: two tasks, three sizes, two seeds, two shot counts."""
    rows = []
    for task, metrics in [("addition-3d", ["exact_match", "digit_accuracy", "answer_logprob"]),
                          ("unscramble-cycle", ["exact_match", "edit_similarity"])]:
        for metric in metrics:
            for i, params in enumerate([1e4, 3e4, 1e5]):
                for seed in (0, 1):
                    for shots in (0, 4):
                        v = min(1.0, 0.1 * i + 0.05 * seed + 0.02 * shots)
                        rows.append({"model": f"toy/x/w{i}/seed{seed}", "params": params,
                                     "train_flops": 6 * params * 1e6, "model_seed": seed,
                                     "task": task, "shots": shots, "seed": 0, "metric": metric,
                                     "value": v, "ci_low": v - 0.05, "ci_high": v + 0.05,
                                     "chance": 0.0})
    return pd.DataFrame(rows)


def _lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")
            and line.get_label() not in ("chance", "threshold")]


def test_sweep_explorer_offers_what_the_frame_has():
    pytest.importorskip("ipywidgets")
    from emergent_lib.widgets import sweep_explorer

    frame = _frame()
    box = sweep_explorer(frame)
    c = box.controls
    assert list(c["task"].options) == ["addition-3d", "unscramble-cycle"]
    assert [v for _, v in c["metric"].options] == ["exact_match", "answer_logprob", "digit_accuracy"]
    assert [v for _, v in c["x"].options] == ["params", "train_flops", "shots"]
    assert list(c["selected"].options) == [0, 1] and c["selected"].value == (0, 1)
    assert list(c["shots"].options) == [0, 4]
    # the first view: exact match against parameters, one line per seed
    assert box.ax.get_ylabel() == "exact match"
    assert box.ax.get_xlabel() == "parameters" and box.ax.get_xscale() == "log"
    assert len(_lines(box.ax)) == 2


def test_sweep_explorer_redraws_on_every_control():
    pytest.importorskip("ipywidgets")
    from emergent_lib.plotting import METRIC_LABELS, X_LABELS
    from emergent_lib.widgets import sweep_explorer

    box = sweep_explorer(_frame())
    c = box.controls
    c["metric"].value = "digit_accuracy"
    assert box.ax.get_ylabel() == METRIC_LABELS["digit_accuracy"]
    c["x"].value = "train_flops"
    assert box.ax.get_xlabel() == X_LABELS["train_flops"]
    c["selected"].value = (1,)
    lines = _lines(box.ax)
    assert len(lines) == 1
    # seed 1 of the table: 0.05 + 0.1 * size index, at 0 shots
    assert list(lines[0].get_ydata()) == pytest.approx([0.05, 0.15, 0.25])
    c["shots"].value = 4
    assert list(_lines(box.ax)[0].get_ydata()) == pytest.approx([0.13, 0.23, 0.33])
    c["mean"].value = True
    c["selected"].value = (0, 1)
    assert "mean" in [line.get_label() for line in box.ax.get_lines()]
    c["x"].value = "shots"
    assert box.ax.get_xscale() == "linear" and c["shots"].layout.display == "none"


def test_sweep_explorer_task_change_updates_the_metrics():
    pytest.importorskip("ipywidgets")
    from emergent_lib.widgets import sweep_explorer

    box = sweep_explorer(_frame())
    c = box.controls
    c["metric"].value = "digit_accuracy"  # not measured on the unscrambling task
    c["task"].value = "unscramble-cycle"
    assert [v for _, v in c["metric"].options] == ["exact_match", "edit_similarity"]
    assert c["metric"].value == "exact_match"
    assert box.ax.get_title().startswith("unscramble-cycle")
    c["metric"].value = "edit_similarity"
    assert box.ax.get_ylabel() == "1 - normalised edit distance"


def test_sweep_explorer_falls_back_to_a_static_figure_without_ipywidgets(monkeypatch):
    from matplotlib.figure import Figure

    from emergent_lib.widgets import sweep_explorer

    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets -> ImportError
    with pytest.warns(UserWarning, match="ipywidgets"):
        fig = sweep_explorer(_frame(), metric="digit_accuracy")
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_ylabel() == "per-digit accuracy"


def test_sweep_explorer_rejects_what_it_cannot_show():
    from emergent_lib.widgets import draw_selection, sweep_explorer

    with pytest.raises(ValueError, match="empty"):
        sweep_explorer(_frame().iloc[:0])
    with pytest.raises(ValueError, match="not in the table"):
        sweep_explorer(_frame(), task="addition-9d")
    with pytest.raises(ValueError, match="no rows"):
        draw_selection(_frame(), "unscramble-cycle", "digit_accuracy")


# ----------------------------------------------------------------------------- executed labs
def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o and "text/plain" in o["data"]:
            out.append(o["data"]["text/plain"])
    return "".join(out)


def _cell_with(nb, marker: str):
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"expected one cell containing {marker!r}, found {len(cells)}"
    return cells[0]


@pytest.mark.parametrize("name", sorted(LABS))
def test_build_executed_every_lab_cell(name):
    nb = executed(name)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "skip-execution" in tags:
            assert cell.get("execution_count") is None and not cell.get("outputs"), \
                "a skip-execution cell must not run in the build"
            continue
        assert cell.get("execution_count") is not None, f"cell not executed:\n{cell.source[:200]}"
        assert not [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    images = [o for c in nb.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{name}: the executed lab should hold at least two figures"


def test_lab1_values_the_text_relies_on():
    nb = executed("lab1_first_emergence_curve")
    # exact match table: near zero for the smallest model, high for the largest
    table = _text(_cell_with(nb, "exact match on {N} test problems"))
    rows = [line.split() for line in table.splitlines()
            if re.match(r"^\s*[\d.]+(e\+\d+)?\s+[\d.]+%", line)]
    assert len(rows) >= 5, table
    means = [float(r[-1].rstrip("%")) / 100 for r in rows]
    assert means[0] < 0.1, "the smallest toy model should be near chance"
    assert means[-1] > 0.5, "the largest toy model should be well above chance"
    # the seed mean crosses 50% somewhere inside the ladder
    thresholds = _text(_cell_with(nb, "threshold_crossing(mean_em.index"))
    m = re.search(r"crosses 50% exact match at ([\d,]+) parameters", thresholds)
    assert m, thresholds
    # the sharpest metric: the glued sentence names the metric the printed scores rank first
    sharp = _text(_cell_with(nb, "mean breakthroughness over seeds"))
    values = dict(re.findall(r"^\s+(\S.*?)\s{2,}\s*(-?[\d.]+)$", sharp, re.MULTILINE))
    values = {k.strip(): float(v) for k, v in values.items()}
    glued = glued_values(nb)
    winner = max(values, key=values.get)
    assert glued["sharp_sentence"].startswith(f"Averaged over the seeds, {winner} has the highest"), glued
    assert glued["sharp_mean_is_em"] == ("yes" if winner == "exact match" else "no")
    # the seeds' thresholds in the prose are the printed ones
    for seed, value in re.findall(r"seed (\d+): ([\d,]+) parameters", thresholds):
        assert f"seed {seed} crosses 50% at {value} parameters" in glued["seed_sentence"], glued
    # over training: the curve's last checkpoint is the final model of the table, and the
    # glued sentence's onset is the last step below 5%
    curve = _text(_cell_with(nb, "over_training = run_sweep"))
    steps = [line.split() for line in curve.splitlines() if re.match(r"^\s*\d+\s+[\d.]+\s", line)]
    assert float(steps[0][1]) < 0.05, curve
    onset = max(int(st) for st, em, *_ in steps[:-1] if float(em) < 0.05)
    assert glued["training_sentence"].startswith(f"Exact match stays below 5% up to step {onset} of {steps[-1][0]}")
    assert f"ends at {float(steps[-1][1]):.0%}" in glued["training_sentence"]


def test_lab2_values_the_text_relies_on():
    nb = executed("lab2_few_shot_evaluation")
    text = _text(_cell_with(nb, "def summary(name)"))
    found = {name: (float(zero), float(best or 0)) for name, zero, best in re.findall(
        r"^(\S+): (\d+)% zero-shot, (?:best (\d+)% with \d+ shot|never right)", text, re.MULTILINE)}
    assert set(found) >= {"addition-1d", "addition-2d", "addition-3d", "unscramble-cycle",
                          "unscramble-anagram", "unscramble-reverse"}, text
    # "each extra digit costs a lot"
    assert found["addition-1d"][1] > found["addition-2d"][1] >= found["addition-3d"][1]
    # examples in the prompt help: the best few-shot score beats zero-shot on 1-digit sums
    assert found["addition-1d"][1] > found["addition-1d"][0]
    # reversing is the hardest of the unscrambling tasks
    assert found["unscramble-reverse"][1] <= min(found["unscramble-cycle"][1],
                                                 found["unscramble-anagram"][1])
    # the near misses the text describes: last digits right far above the 1-in-10 of a guess,
    # and many wrong anagram answers with the right first letter
    misses = _text(_cell_with(nb, "def show_records"))
    m = re.search(r"last digit right: (\d+) of (\d+)", misses)
    assert m and int(m.group(1)) / int(m.group(2)) > 0.2, misses
    m = re.search(r"start with the right letter: (\d+) of (\d+)", misses)
    assert m and int(m.group(1)) / int(m.group(2)) > 0.3, misses
    # the specialist comparison: the best toy model beats SmolLM2 on 3-digit sums
    toy = _text(_cell_with(nb, "toy = run_sweep"))
    m = re.search(r"best toy model (\d+)%, best SmolLM2 on 3-digit addition (\d+)%", toy)
    assert m and int(m.group(1)) > int(m.group(2)), toy
