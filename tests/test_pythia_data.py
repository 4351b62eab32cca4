"""Pythia's published evaluations as the package ships them, the registry's two parameter
counts, and `analysis.resample_published`, which turns published standard errors into
intervals.

The shipped extract is checked against the script that makes it from the course's full
reference copy (`../shared/data/pythia_evals/pythia_v1_evals.csv`) where that copy exists;
users do not have it, so the check is skipped there.
"""
from __future__ import annotations

import csv
import importlib.util
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergent_lib import analysis
from emergent_lib.models import model_cards

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "emergent_lib" / "data" / "published"
EXTRACT = PUBLISHED / "biderman2023_pythia_evals.csv"
FULL = ROOT.parent / "shared" / "data" / "pythia_evals" / "pythia_v1_evals.csv"
PYTHIA = ["70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"]
D_MODEL = {"14m": 128, "31m": 256, "70m": 512, "160m": 768, "410m": 1024, "1b": 2048, "1.4b": 2048,
           "2.8b": 2560, "6.9b": 4096, "12b": 5120}  # Biderman et al. 2023, Table 1


def _rows():
    with EXTRACT.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _script():
    spec = importlib.util.spec_from_file_location("make_pythia_extract", PUBLISHED / "make_pythia_extract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- the extract
def test_extract_is_compact_and_complete():
    rows = _rows()
    assert EXTRACT.stat().st_size < 1_000_000
    models = {r["model"] for r in rows}
    assert len(models) == 15 and "pythia-1b" not in models and "pythia-1b-deduped" in models
    tasks = {r["task"] for r in rows}
    assert tasks == {"lambada_openai", "arc_easy", "arc_challenge", "piqa", "sciq", "winogrande",
                     "logiqa", "wsc", "mmlu"}
    assert {r["metric"] for r in rows} == {"acc", "ppl"}
    assert {r["task"] for r in rows if r["metric"] == "ppl"} == {"lambada_openai"}
    zero_steps = {int(r["step"]) for r in rows if r["shots"] == "0"}
    assert len(zero_steps) == 27 and min(zero_steps) == 0 and max(zero_steps) == 143000
    cells = defaultdict(int)
    for r in rows:
        cells[(r["model"], r["step"], r["shots"], r["task"], r["metric"])] += 1
    assert set(cells.values()) == {1}, "one row per model, step, shots, task and metric"
    for r in rows:
        value, se = float(r["value"]), float(r["stderr"])
        assert se >= 0
        assert 0 <= value <= 1 or r["metric"] == "ppl"


def test_extract_params_are_table1_non_embedding_counts():
    cards = model_cards()
    for r in _rows():
        size = r["model"].removeprefix("pythia-").removesuffix("-deduped")
        assert float(r["params"]) == cards[f"pythia-{size}"].params_non_embedding


@pytest.mark.skipif(not FULL.is_file(), reason="the course's reference copy ../shared is not here")
def test_shipped_extract_is_what_the_script_makes_from_the_full_copy():
    made = _script().extract(FULL)
    shipped = pd.read_csv(EXTRACT)
    pd.testing.assert_frame_equal(made.reset_index(drop=True), shipped, check_dtype=False)


@pytest.mark.skipif(not FULL.is_file(), reason="the course's reference copy ../shared is not here")
def test_mmlu_row_is_the_mean_of_its_57_subjects():
    with FULL.open(newline="") as fh:
        subjects = [r for r in csv.DictReader(fh)
                    if r["model"] == "pythia-12b-deduped" and r["step"] == "143000" and r["shots"] == "5"
                    and r["task"].startswith("hendrycksTest-") and r["metric"] == "acc"]
    assert len(subjects) == 57
    mean = sum(float(r["value"]) for r in subjects) / 57
    se = math.sqrt(sum(float(r["stderr"]) ** 2 for r in subjects)) / 57
    row, = [r for r in _rows() if r["model"] == "pythia-12b-deduped" and r["step"] == "143000"
            and r["shots"] == "5" and r["task"] == "mmlu"]
    assert float(row["value"]) == pytest.approx(mean, rel=1e-5)
    assert float(row["stderr"]) == pytest.approx(se, rel=1e-5)


def test_script_says_what_to_do_without_the_full_copy(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _script().main([str(tmp_path / "missing.csv")])
    assert "not found: pass the path of pythia_v1_evals.csv" in str(exit_.value)


# ----------------------------------------------------------------------------- registry
def test_pythia_cards_carry_both_counts_and_they_differ_by_the_two_embeddings():
    cards = model_cards()
    for size in ["14m", "31m", *PYTHIA]:
        card = cards[f"pythia-{size}"]
        assert card.params_non_embedding and card.params_non_embedding_source
        assert card.params_source
        # untied input and output embeddings: total - non-embedding = 2 x vocabulary x d_model,
        # with the vocabulary padded to a multiple of 128 from the tokenizer's 50,277 tokens
        vocab = (card.params - card.params_non_embedding) / (2 * D_MODEL[size])
        assert vocab == int(vocab) and int(vocab) % 128 == 0 and 50_277 <= vocab <= 50_688, size
    assert cards["pythia-70m"].params_non_embedding == 18_915_328
    assert cards["pythia-70m"].params == 70_426_624
    assert "Table 1" in cards["pythia-12b"].params_non_embedding_source
    assert "Table 1" not in cards["pythia-12b"].params_source.split(":")[0]  # totals are the checkpoints'


def test_non_embedding_counts_are_smaller_where_given_and_sourced():
    for card in model_cards().values():
        if card.params_non_embedding is not None:
            assert 0 < card.params_non_embedding < card.params, card.name
            assert card.params_non_embedding_source, card.name
        else:
            assert not card.params_non_embedding_source, card.name


# ----------------------------------------------------------------------------- analysis
def test_resample_published_without_errors_has_no_width():
    x, y = np.logspace(7, 10, 5), np.array([0.2, 0.3, 0.45, 0.6, 0.7])
    result = analysis.resample_published(x, y, np.zeros(5), analysis.linearity)
    assert result.estimate == pytest.approx(0.5 / np.sqrt(np.mean(np.diff(y) ** 2)))
    assert result.low == pytest.approx(result.estimate) and result.high == pytest.approx(result.estimate)


def test_resample_published_interval_of_a_mean_matches_the_normal_one():
    x = np.arange(1.0, 9.0)
    y, se = np.full(8, 0.3), np.full(8, 0.04)
    result = analysis.resample_published(x, y, se, lambda _, curve: float(np.mean(curve)),
                                         n_boot=4000, seed=1)
    sd = 0.04 / np.sqrt(8)  # a mean of 8 independent draws
    assert result.estimate == pytest.approx(0.3)
    assert result.low == pytest.approx(0.3 - 1.96 * sd, abs=0.15 * sd)
    assert result.high == pytest.approx(0.3 + 1.96 * sd, abs=0.15 * sd)
    assert result.failed == 0 and len(result.samples) == 4000


def test_resample_published_wider_errors_give_wider_intervals_and_count_failures():
    x, y = np.logspace(7, 10, 6), np.linspace(0.25, 0.7, 6)
    narrow = analysis.resample_published(x, y, np.full(6, 0.005), analysis.breakthroughness)
    wide = analysis.resample_published(x, y, np.full(6, 0.05), analysis.breakthroughness)
    assert narrow.low <= narrow.estimate <= narrow.high
    assert wide.high - wide.low > narrow.high - narrow.low
    undefined = analysis.resample_published(x, y, np.full(6, 0.05),
                                            lambda _, c: None if c[-1] < 0.7 else 1.0)
    assert 0 < undefined.failed < 1000 and len(undefined.samples) == 1000 - undefined.failed


def test_resample_published_rejects_bad_input():
    x = np.arange(1.0, 5.0)
    with pytest.raises(ValueError, match="same length"):
        analysis.resample_published(x, x[:3], x[:3], analysis.linearity)
    with pytest.raises(ValueError, match="finite number >= 0"):
        analysis.resample_published(x, x, -x, analysis.linearity)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        analysis.resample_published(x, x, x * 0, analysis.linearity, level=95)
