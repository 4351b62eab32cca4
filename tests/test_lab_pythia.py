"""Lab 2b (Pythia's published evaluations): its source, and the verdicts its prose glues,
checked against the shipped data recomputed here from the CSV with the standard library
and numpy, not by the lab's code or `emergent_lib.analysis`.

The glued values come from the book build's execution cache (tests/executed_labs.py).
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest
import yaml

from executed_labs import executed
from executed_labs import glued as glued_values

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "lab2b_real_suite_pythia.md"
PUBLISHED = ROOT / "emergent_lib" / "data" / "published"
STEP_TOKENS = 2_097_152
FINAL = 143_000
CHANCE = {"lambada_openai": 0.0, "arc_easy": 0.25, "arc_challenge": 0.25, "sciq": 0.25, "piqa": 0.5,
          "winogrande": 0.5, "wsc": 0.5, "logiqa": 0.25, "mmlu": 0.25}
LABELS = {"lambada_openai": "LAMBADA", "arc_easy": "ARC-Easy", "arc_challenge": "ARC-Challenge",
          "sciq": "SciQ", "piqa": "PIQA", "winogrande": "WinoGrande", "wsc": "WSC", "logiqa": "LogiQA",
          "mmlu": "MMLU (57-subject average)"}
TOTAL_12B = 11_846_072_320  # the released Pythia-12B checkpoint's parameters


@pytest.fixture(scope="module")
def rows():
    with (PUBLISHED / "biderman2023_pythia_evals.csv").open(newline="") as fh:
        return [dict(r, value=float(r["value"]), stderr=float(r["stderr"]), step=int(r["step"]),
                     params=float(r["params"])) for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def glued():
    return glued_values(executed("lab2b_real_suite_pythia"))


def number(text: str) -> float:
    return float(text.strip().strip("'"))


def listed(text: str) -> set[str]:
    return set() if text.strip() == "none" else set(re.split(r", | and ", text.strip()))


# ----------------------------------------------------------------------------- source
def test_lab_source_follows_the_house_format():
    text = LAB.read_text()
    assert text.startswith("---\njupytext:") and "format_name: myst" in text and "name: python3" in text
    assert text.split("\n---\n", 1)[1].lstrip().startswith("# Lab 2b:")
    assert "**After this lab you can**" in text and "**What it shows:**" in text and "**Time:**" in text
    assert "## Try this" in text
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parents = {s["file"]: ch["file"] for part in toc["parts"] for ch in part["chapters"]
               for s in ch.get("sections", [])}
    assert parents.get("labs/lab2b_real_suite_pythia") == "book/evidence"
    assert "lab2b_real_suite_pythia" in (ROOT / "book" / "evidence.md").read_text()
    bib = (ROOT / "book" / "references.bib").read_text()
    for key in ("biderman2023pythia", "du2024understanding", "wei2022emergent", "srivastava2022beyond"):
        assert f"`{key}`" in text and f"{{{key}," in bib


def test_lab_executes_every_cell(glued):
    nb = executed("lab2b_real_suite_pythia")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not any(o.get("output_type") == "error" for o in cell.get("outputs", []))
    figures = sum(1 for c in nb.cells if c.cell_type == "code"
                  for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert figures >= 4


# ----------------------------------------------------------------------------- verdicts
def test_mmlu_range_and_the_gap_to_wei_et_al(rows, glued):
    mmlu = [r for r in rows if r["task"] == "mmlu"]
    assert len(mmlu) == 15 * 27 + 15 * 15
    assert number(glued["mmlu_low"]) == pytest.approx(min(r["value"] for r in mmlu))
    assert number(glued["mmlu_high"]) == pytest.approx(max(r["value"] for r in mmlu))
    high = max(r["value"] for r in mmlu)
    assert number(glued["mmlu_above_points"]) == pytest.approx(100 * (high - 0.25))
    assert number(glued["mmlu_n_above"]) == sum(r["value"] - 0.25 > 2 * r["stderr"] for r in mmlu)
    with (PUBLISHED / "wei2022_table1_emergent_scale.csv").open(newline="") as fh:
        wei = [r for r in csv.DictReader(fh) if "57 topic" in r["task"]]
    gpt3 = float(wei[0]["train_flops"])
    flops = 6 * TOTAL_12B * FINAL * STEP_TOKENS
    assert number(glued["flops_12b"]) == pytest.approx(flops)
    assert number(glued["mmlu_gap"]) == pytest.approx(gpt3 / flops)
    assert number(glued["mmlu_gap"]) > 10  # the whole suite lies below the reported scale


def test_which_tasks_rise_and_which_stay_at_chance(rows, glued):
    final = [r for r in rows if r["metric"] == "acc" and r["shots"] == "0" and r["step"] == FINAL
             and r["model"].endswith("-deduped")]
    flat, rising = set(), set()
    for task, chance in CHANCE.items():
        curve = sorted((r for r in final if r["task"] == task), key=lambda r: r["params"])
        assert len(curve) == 8
        top = curve[-1]
        above = top["value"] - chance
        (rising if above > 0.05 and above > 3 * top["stderr"] else flat).add(LABELS[task])
        if task in ("lambada_openai", "arc_easy", "sciq"):  # each size beats the smallest
            assert all(r["value"] > curve[0]["value"] for r in curve[1:])
    assert listed(glued["flat_tasks"]) == flat
    assert listed(glued["smooth_tasks"]) | listed(glued["unsure_tasks"]) == rising
    assert number(glued["n_smooth"]) == len(listed(glued["smooth_tasks"]))
    # linearity I / rms(step), written out here: the smooth tasks are far from one jump (sqrt 7)
    for label in listed(glued["smooth_tasks"]):
        task = next(k for k, v in LABELS.items() if v == label)
        y = [r["value"] for r in sorted((r for r in final if r["task"] == task), key=lambda r: r["params"])]
        steps = [b - a for a, b in zip(y, y[1:])]
        lin = (max(y) - min(y)) / math.sqrt(sum(s * s for s in steps) / len(steps))
        assert number(glued["smooth_l_min"]) - 1e-9 <= lin <= number(glued["smooth_l_max"]) + 1e-9
        assert lin > math.sqrt(7)


def _log_crossing(points, level):
    """The step at which a curve [(step, value)] first rises through `level`, in log-step."""
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v0 < level <= v1:
            t = (level - v0) / (v1 - v0)
            return 10 ** (math.log10(s0) + t * (math.log10(s1) - math.log10(s0)))
    return points[0][0] if points[0][1] >= level else None


def test_pythia_12b_reaches_6_9b_lambada_accuracy_sooner(rows, glued):
    lam = [r for r in rows if r["task"] == "lambada_openai" and r["metric"] == "acc" and r["shots"] == "0"
           and r["step"] > 0]
    big = sorted((r["step"], r["value"]) for r in lam if r["model"] == "pythia-12b-deduped")
    small = {r["step"]: r for r in lam if r["model"] == "pythia-6.9b-deduped"}[FINAL]
    step = _log_crossing(big, small["value"])
    assert step is not None and step < FINAL
    assert number(glued["lambada_last_factor"]) == pytest.approx(FINAL / step)
    ratio = (6 * 11_327_027_200 * step) / (6 * small["params"] * FINAL)
    assert number(glued["lambada_last_ratio"]) == pytest.approx(ratio)


def _fewest_errors(x, present, present_below):
    """Brute force: the fewest misclassified points over every cut on x."""
    values = sorted(set(x))
    cuts = [values[0] - 1] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1]
    return min(sum((xi < c if present_below else xi > c) != p for xi, p in zip(x, present)) for c in cuts)


def test_loss_threshold_counts(rows, glued):
    ppl = {(r["model"], r["step"]): r["value"] for r in rows
           if r["metric"] == "ppl" and r["shots"] == "0"}
    for task in ("arc_challenge", "mmlu", "winogrande"):
        points = [r for r in rows if r["task"] == task and r["metric"] == "acc" and r["shots"] == "0"
                  and r["step"] > 0]
        assert len(points) == int(number(glued["n_points"])) == 15 * 26
        present = [r["value"] - CHANCE[task] > 2 * r["stderr"] for r in points]
        loss = [math.log(ppl[(r["model"], r["step"])]) for r in points]
        size = [r["params"] for r in points]
        step = [r["step"] for r in points]
        assert number(glued[f"err_{task}"]) == _fewest_errors(loss, present, True)
        assert number(glued[f"errN_{task}"]) == _fewest_errors(size, present, False)
        assert number(glued[f"errS_{task}"]) == _fewest_errors(step, present, False)
        # the perplexity cut does at least as well as size or step alone
        assert number(glued[f"err_{task}"]) <= min(number(glued[f"errN_{task}"]), number(glued[f"errS_{task}"]))
    wsc = [r["value"] for r in rows if r["task"] == "wsc" and r["shots"] == "0"]
    constant = sum(abs(v - 38 / 104) < 1e-5 or abs(v - 66 / 104) < 1e-5 for v in wsc) / len(wsc)
    assert number(glued["wsc_constant"]) == pytest.approx(constant)


def test_loss_threshold_verdict(rows, glued):
    ppl = {(r["model"], r["step"]): r["value"] for r in rows
           if r["metric"] == "ppl" and r["shots"] == "0"}
    mixed, misfit = [], []
    for task in CHANCE:
        if task == "lambada_openai":
            continue
        points = [r for r in rows if r["task"] == task and r["metric"] == "acc" and r["shots"] == "0"
                  and r["step"] > 0]
        present = [r["value"] - CHANCE[task] > 2 * r["stderr"] for r in points]
        if not 0.1 * len(points) <= sum(present) <= 0.9 * len(points):
            continue
        mixed.append(LABELS[task])
        errors = _fewest_errors([math.log(ppl[(r["model"], r["step"])]) for r in points], present, True)
        by_size = _fewest_errors([r["params"] for r in points], present, False)
        by_step = _fewest_errors([r["step"] for r in points], present, False)
        if not (errors <= 0.1 * len(points) and errors <= min(by_size, by_step)):
            misfit.append(LABELS[task])
    assert listed(glued["mixed_tasks"]) == set(mixed)
    verdict = glued["loss_verdict"]
    if misfit:
        assert verdict.startswith(f"describes {len(mixed) - len(misfit)} of the {len(mixed)} tasks")
        assert listed(verdict.split("all but ", 1)[1]) == set(misfit)
    else:
        assert verdict == "describes the real suite as it does the toy one"
