"""Emergence plots: rows that differ in anything but x are never joined into one line."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from emergent_lib.plotting import emergence_plot  # noqa: E402

MODELS = {"a": 1e6, "b": 1e7, "c": 1e8}


def _frame(families=("f",)) -> pd.DataFrame:
    """What `emergent sweep --shots 0 4` returns for three models, one task."""
    rows = []
    for fam in families:
        for i, (model, params) in enumerate(MODELS.items()):
            for shots in (0, 4):
                rows.append({"model": f"{fam}-{model}", "family": fam, "params": params, "model_seed": None,
                             "task": "addition-2d", "strategy": "direct", "shots": shots, "seed": 0, "n": 8,
                             "metric": "exact_match", "value": i / 10 + shots / 100 + len(fam) / 1000,
                             "ci_low": 0.0, "ci_high": 1.0, "chance": 0.01})
    return pd.DataFrame(rows)


def _lines(ax) -> dict:
    return {line.get_label(): (list(line.get_xdata()), [round(v, 4) for v in line.get_ydata()])
            for line in ax.get_lines()}


def test_two_shot_counts_are_two_lines_not_one_zigzag():
    ax = emergence_plot(_frame(), chance=False)
    assert _lines(ax) == {"shots 0": ([1e6, 1e7, 1e8], [0.001, 0.101, 0.201]),
                          "shots 4": ([1e6, 1e7, 1e8], [0.041, 0.141, 0.241])}


def test_hue_and_other_varying_columns_together():
    ax = emergence_plot(_frame(families=("f", "gg")), hue="family", chance=False)
    lines = _lines(ax)
    assert sorted(lines) == ["family f, shots 0", "family f, shots 4", "family gg, shots 0", "family gg, shots 4"]
    assert lines["family gg, shots 4"] == ([1e6, 1e7, 1e8], [0.042, 0.142, 0.242])


def test_columns_that_follow_the_model_do_not_split_lines():
    """Against shots, each model is a line; its family and size ride along unnamed."""
    ax = emergence_plot(_frame(), x="shots", hue=None, chance=False)
    assert _lines(ax) == {"model f-a": ([0, 4], [0.001, 0.041]), "model f-b": ([0, 4], [0.101, 0.141]),
                          "model f-c": ([0, 4], [0.201, 0.241])}


def test_one_condition_draws_one_line_and_each_chance_level():
    frame = _frame()
    frame = pd.concat([frame[frame.shots == 0], frame[frame.shots == 0].assign(task="compare-2d", chance=0.5)])
    ax = emergence_plot(frame[frame.task == "addition-2d"], chance=False, label="ours")
    assert _lines(ax) == {"ours": ([1e6, 1e7, 1e8], [0.001, 0.101, 0.201])}
    ax = emergence_plot(frame)
    chance = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--")
    assert chance == [0.01, 0.5]
    assert sorted(lab for lab in _lines(ax) if not lab.startswith("_")) == ["chance", "task addition-2d",
                                                                             "task compare-2d"]


def test_models_of_the_same_size_in_two_families_split_by_family():
    """Two families at the same sizes: a line per family (and shot count), not one point per model."""
    ax = emergence_plot(_frame(families=("f", "gg")), hue=None, chance=False)
    lines = _lines(ax)
    assert sorted(lines) == ["family f, shots 0", "family f, shots 4", "family gg, shots 0", "family gg, shots 4"]
    assert lines["family f, shots 4"] == ([1e6, 1e7, 1e8], [0.041, 0.141, 0.241])


def test_what_is_drawn_is_the_frame_given():
    """One metric of a two-metric frame given in shuffled order: a line per hue value with the
    frame's x and y (sorted by x), its CI band, the chance line, the threshold, labels, log x."""
    rows = []
    for seed, offset in ((0, 0.0), (1, 0.05)):
        for params, em in ((3e6, 0.0), (1e8, 0.6), (1e7, 0.2)):
            for metric, value in (("exact_match", em + offset), ("digit_accuracy", 0.5 + em / 2)):
                rows.append({"model": f"m{params:g}/seed{seed}", "params": params, "train_flops": 6 * params * 1e9,
                             "model_seed": seed, "metric": metric, "value": value, "ci_low": value - 0.1,
                             "ci_high": value + 0.1, "chance": 0.01 if metric == "exact_match" else 0.1})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    ax = emergence_plot(frame, threshold=2e7)
    drawn = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(drawn) == 2
    for line, seed, offset in zip(drawn, (0, 1), (0.0, 0.05)):
        assert line.get_label() == f"model_seed {seed}"
        assert list(line.get_xdata()) == [3e6, 1e7, 1e8]
        assert list(line.get_ydata()) == pytest.approx([0.0 + offset, 0.2 + offset, 0.6 + offset])
    bands = ax.collections
    assert len(bands) == 2
    for band, offset in zip(bands, (0.0, 0.05)):
        ys = band.get_paths()[0].vertices[:, 1]
        assert min(ys) == pytest.approx(-0.1 + offset) and max(ys) == pytest.approx(0.7 + offset)
    [chance] = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert chance.get_label() == "chance" and list(chance.get_ydata()) == [0.01, 0.01]
    [threshold] = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert list(threshold.get_xdata()) == [2e7, 2e7]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "parameters" and ax.get_ylabel() == "exact match"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model_seed 0", "model_seed 1", "chance",
                                                                    "threshold"]
    # another metric and another x axis, from the same frame
    ax = emergence_plot(frame, metric="digit_accuracy", x="train_flops", band=False, chance=False)
    drawn = ax.get_lines()
    assert len(drawn) == 2 and not ax.collections
    assert list(drawn[0].get_xdata()) == [6 * p * 1e9 for p in (3e6, 1e7, 1e8)]
    assert list(drawn[0].get_ydata()) == pytest.approx([0.5, 0.6, 0.8])
    assert ax.get_xlabel() == "training FLOPs (6 N D)" and ax.get_ylabel() == "per-digit accuracy"
    assert ax.get_xscale() == "log"


def test_a_metric_or_x_that_the_frame_lacks_says_what_it_has():
    frame = _frame()
    with pytest.raises(ValueError, match="no rows for metric 'brier'; the frame has: exact_match"):
        emergence_plot(frame, metric="brier")
    with pytest.raises(ValueError, match=r"no values for x='train_flops' \(columns with values: model, family"):
        emergence_plot(frame, x="train_flops")
