"""Emergence plots: rows that differ in anything but x are never joined into one line."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402

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
