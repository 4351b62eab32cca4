"""Interactive figures of the website: the views the build stores are the table's numbers.

The browser side (controls switching views) is tested on the built site in test_site.py.
"""
from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from emergent_lib.interactive import attention_figure, sweep_figure  # noqa: E402

SIZES = {"s": (1e4, 1e9), "m": (1e5, 1e10), "l": (1e6, 1e11)}  # params, training FLOPs


def _sweep() -> pd.DataFrame:
    """A toy-family sweep: three sizes, two seeds, two metrics, two shot counts."""
    rows = []
    for i, (size, (params, flops)) in enumerate(SIZES.items()):
        for seed in (0, 1):
            for metric, scale in (("exact_match", 0.3), ("digit_accuracy", 0.2)):
                for shots in (0, 4):
                    value = scale * i + 0.01 * seed + 0.001 * shots
                    rows.append({"model": f"toy/f/{size}/seed{seed}", "params": params, "train_flops": flops,
                                 "model_seed": seed, "task": "addition-3d", "shots": shots, "metric": metric,
                                 "value": value, "ci_low": value - 0.05, "ci_high": value + 0.05,
                                 "chance": 0.001})
    return pd.DataFrame(rows)


def test_every_view_of_a_sweep_carries_the_table_values():
    fig = sweep_figure(_sweep())
    assert [c["name"] for c in fig.controls] == ["metric", "x", "shots"]
    assert [v for v, _ in fig.controls[1]["options"]] == ["params", "train_flops", "shots"]
    assert len(fig.views) == 2 * 3 * 2  # metrics x axes x shot counts
    view = fig.view("digit_accuracy", "train_flops", "4")
    seed1 = next(t for t in view["data"] if t["name"] == "seed 1")
    assert seed1["x"] == [1e9, 1e10, 1e11]
    assert seed1["y"] == pytest.approx([0.014, 0.214, 0.414])
    assert seed1["error_y"]["array"] == pytest.approx([0.05] * 3)
    assert view["layout"]["xaxis"]["type"] == "log"
    mean = next(t for t in view["data"] if t["name"] == "mean")
    assert mean["visible"] == "legendonly" and mean["y"] == pytest.approx([0.009, 0.209, 0.409])


def test_a_shot_axis_is_linear_and_ignores_the_shots_control():
    largest = _sweep().query("params == 1e6")  # one model per seed: one line per seed
    fig = sweep_figure(largest, x_options=["shots"])
    assert [c["name"] for c in fig.controls] == ["metric"]
    view = fig.view("exact_match")
    assert view["layout"]["xaxis"]["type"] == "linear"
    assert {t["name"] for t in view["data"]} == {"seed 0", "seed 1", "mean"}


def test_identical_views_are_stored_once():
    # with the shots on the x axis the shots control changes nothing: one view, one alias
    fig = sweep_figure(_sweep(), x_options=["params", "shots"])
    assert isinstance(fig.views["exact_match|shots|0"], dict)
    assert fig.views["exact_match|shots|4"] == "exact_match|shots|0"
    assert fig.view("exact_match", "shots", "4") is fig.views["exact_match|shots|0"]


def test_two_ladders_of_one_strategy_stay_two_lines_on_every_axis():
    # Lab 3: the direct strategy has a short and a long ladder; their FLOPs never collide,
    # but they are two curves on the FLOPs axis as on the parameter axis
    short = _sweep().query("model_seed == 0 and shots == 0").assign(strategy="direct", family="toy/direct")
    long = short.assign(family="toy/direct-long", train_flops=short["train_flops"] * 10, value=short["value"] + 0.1)
    fig = sweep_figure(pd.concat([short, long]), hue="strategy")
    for x in ("params", "train_flops"):
        names = [t["name"] for t in fig.view("exact_match", x)["data"]]
        assert names == ["strategy direct, family toy/direct", "strategy direct, family toy/direct-long", "mean"]
        # Plotly puts a trace's uid into CSS selectors: no spaces, commas or slashes
        assert all(re.fullmatch(r"[\w-]+", t["uid"]) for t in fig.view("exact_match", x)["data"])


def test_html_has_a_static_image_and_parseable_views():
    html = sweep_figure(_sweep())._repr_html_()
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', html)
    spec = json.loads(re.search(r'class="emergent-figure-data">(.*)</script>', html).group(1).replace("<\\/", "</"))
    assert spec["initial"] == ["exact_match", "params", "0"]


def test_attention_views_hide_the_future_and_report_the_target_share():
    pattern = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]
    fig = attention_figure({("L1H0", 0): pattern, ("L1H0", 50): np.eye(4)}, marks=([0, 1], [2, 3]))
    early, late = fig.view("L1H0", "0"), fig.view("L1H0", "50")
    assert early["data"][0]["z"][0] == [1.0, None, None, None]  # above the diagonal: nothing
    assert "on target 0.29" in early["layout"]["title"]["text"]  # (1/3 + 1/4) / 2
    assert "on target 0.00" in late["layout"]["title"]["text"]


def test_an_empty_table_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        sweep_figure(_sweep().iloc[:0])
