"""Interactive figures for the website: every view of a lab's explorer, computed by the build.

The ipywidgets explorers of the labs redraw with a running kernel; a static web page has
none. A figure here is computed in full while the book builds (every combination of its
controls is one Plotly view), and the browser only switches between views: no kernel, no
network. The site serves Plotly's JavaScript once, from its own `_static` (book/_ext), and
`static/figures.js` builds the controls. Hovering a point shows its values and interval;
clicking a legend entry hides or shows a line. Each figure starts as a PNG of its first
view, which stays where scripts do not run (and in JupyterLab, which does not load Plotly).

This module sits above `plotting` and `widgets`; nothing in the library imports it.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import re
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import analysis, metrics
from .plotting import METRIC_LABELS, X_LABELS, line_columns
from .widgets import HUE_LABELS, LINEAR_X, X_CANDIDATES, metrics_for, x_options_for

__all__ = ["Explorer", "explorer", "sweep_figure", "attention_figure", "curves_figure",
           "extrapolation_figure"]

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]
_PROBABILITY = {"exact_match", "digit_accuracy", "edit_similarity", "token_accuracy", "mc_accuracy",
                "brier", "accuracy"}


class Explorer:
    """An interactive figure: shown as HTML in a notebook or page (see the module docstring)."""

    def __init__(self, controls: list[dict], views: dict[str, dict], initial: list[str], alt: str):
        self.controls, self.views, self.initial, self.alt = controls, views, initial, alt

    def view(self, *values) -> dict:
        """The Plotly figure (data and layout) shown for these control values."""
        view = self.views["|".join(map(str, values))]
        return self.views[view] if isinstance(view, str) else view

    def _repr_html_(self) -> str:
        spec = json.dumps({"controls": self.controls, "views": self.views, "initial": self.initial},
                          separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        png = base64.b64encode(_static_png(self.view(*self.initial))).decode()
        return (f'<div class="emergent-figure">'
                f'<div class="emergent-controls" style="display:flex;flex-wrap:wrap;gap:.3em 1.2em;'
                f'margin:.2em 0;font-size:.9em"></div>'
                f'<div class="emergent-plot" style="width:100%;min-height:300px">'
                f'<img src="data:image/png;base64,{png}" alt="{html.escape(self.alt)}" '
                f'style="max-width:100%"></div>'
                f'<script type="application/json" class="emergent-figure-data">{spec}</script></div>')


def explorer(controls: Mapping[str, tuple[str, Sequence]], draw: Callable[..., dict],
             alt: str, ranges: Sequence[str] = ()) -> Explorer:
    """Compute `draw(**choice)` (a Plotly figure as a dict) for every combination of controls.

    `controls` maps a keyword of `draw` to (label, options); an option is a value or a
    (value, label) pair, the first option is the initial one. Controls named in `ranges`
    are sliders, the others drop-downs. Identical views are stored once.
    """
    names, specs = list(controls), []
    for name in names:
        label, options = controls[name]
        pairs = [o if isinstance(o, tuple) else (o, str(o)) for o in options]
        specs.append({"name": name, "label": label, "kind": "range" if name in ranges else "select",
                      "options": [[str(v), str(t)] for v, t in pairs], "values": [v for v, _ in pairs]})
    views, seen = {}, {}
    for combo in itertools.product(*(s["values"] for s in specs)):
        key = "|".join(map(str, combo))
        view = _clean(draw(**dict(zip(names, combo))))
        text = json.dumps(view, sort_keys=True)
        if text in seen:
            views[key] = seen[text]
        else:
            seen[text], views[key] = key, view
    for s in specs:
        del s["values"]
    return Explorer(specs, views, [s["options"][0][0] for s in specs], alt)


def _clean(value):
    """Plain JSON: numpy scalars and arrays to Python, NaN to None (a gap), floats to 4 figures."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [_clean(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(f"{float(value):.4g}")
    return value


def _layout(x_title: str, y_title: str, log_x: bool, title: str = "", **extra) -> dict:
    layout = {"title": {"text": title, "font": {"size": 14}}, "height": 420, "autosize": True,
              "margin": {"l": 60, "r": 10, "t": 40, "b": 50}, "hovermode": "closest",
              "template": {"layout": {"colorway": COLORS}}, "plot_bgcolor": "white",
              "xaxis": {"title": {"text": x_title}, "type": "log" if log_x else "linear",
                        "gridcolor": "#e5e5e5", "zeroline": False, "uirevision": x_title},
              "yaxis": {"title": {"text": y_title}, "gridcolor": "#e5e5e5", "zeroline": False,
                        "uirevision": y_title},
              "legend": {"orientation": "h", "y": -0.2}, "uirevision": "keep", **extra}
    if log_x:
        layout["xaxis"]["dtick"] = 1  # a label per decade, none between
    return layout


def _hline(y: float, color: str = "grey", dash: str = "dash") -> dict:
    return {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"color": color, "width": 1, "dash": dash}}


def sweep_figure(frame: pd.DataFrame, hue: str = "model_seed", x_options: Sequence[str] | None = None,
                 task: str | None = None) -> Explorer:
    """Labs 1, 2, 3 and 4a: a sweep table on the website, as `widgets.sweep_explorer` shows it.

    Controls: the task (when the table has several), the metric, the x axis (parameters,
    training FLOPs, shots, step: whichever the table varies) and the shot count (when
    several). One line per `hue` value (the legend hides or shows each) and a "mean" line,
    hidden until clicked; hovering a point shows its value, 95% interval and model.
    """
    if frame.empty:
        raise ValueError("the sweep table is empty: nothing to draw")
    tasks = sorted(frame["task"].unique())
    tasks = [task] + [t for t in tasks if t != task] if task in tasks else tasks
    xs = list(x_options) if x_options is not None else x_options_for(frame)
    if not xs:
        raise ValueError("the table has no x axis with more than one value")
    shots = sorted(frame["shots"].dropna().unique().tolist()) if "shots" in frame else []
    controls = {}
    if len(tasks) > 1:
        controls["task"] = ("task", tasks)
    every_metric = list(dict.fromkeys(m for t in tasks for m in metrics_for(frame, t)))
    if len(every_metric) > 1:
        controls["metric"] = ("metric", [(m, METRIC_LABELS.get(m, m)) for m in every_metric])
    if len(xs) > 1:
        controls["x"] = ("x axis", [(x, X_LABELS.get(x, x)) for x in xs])
    if len(shots) > 1 and any(x != "shots" for x in xs):
        controls["shots"] = ("shots", [int(k) for k in shots])

    def draw(task=tasks[0], metric=every_metric[0], x=xs[0], shots=None):
        rows = frame[(frame["task"] == task) & (frame["metric"] == metric)].dropna(subset=[x])
        if shots is not None and x != "shots":
            rows = rows[rows["shots"] == shots]
        title = task + (f", {shots}-shot" if shots is not None and x != "shots" else "")
        layout = _layout(X_LABELS.get(x, x), METRIC_LABELS.get(metric, metric), x not in LINEAR_X, title)
        if rows.empty:
            layout["annotations"] = [{"text": f"{METRIC_LABELS.get(metric, metric)} is not measured on {task}",
                                      "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}]
            return {"data": [], "layout": layout}
        return {"data": _sweep_traces(rows, metric, x, hue, xs), "layout": _with_chance(layout, rows, metric)}

    return explorer(controls, draw, alt=f"{tasks[0]}: {METRIC_LABELS.get(every_metric[0], every_metric[0])} "
                                        f"against {X_LABELS.get(xs[0], xs[0])}")


def _sweep_traces(rows: pd.DataFrame, metric: str, x: str, hue: str, xs: Sequence[str]) -> list[dict]:
    by = [hue] if hue in rows and rows[hue].notna().any() else []
    # lines that another x axis keeps apart (two ladders of one strategy) stay apart on this one
    others = [c for o in xs if o != x for c in line_columns(rows.dropna(subset=[o]), o, by) if c not in X_CANDIDATES]
    split = list(dict.fromkeys(line_columns(rows, x, by) + others))
    groups = rows.groupby([*by, *split], dropna=False) if by or split else [((), rows)]
    x_label, m_label = X_LABELS.get(x, x), METRIC_LABELS.get(metric, metric)
    traces = []
    for i, (key, group) in enumerate(groups):
        values = dict(zip([*by, *split], key if isinstance(key, tuple) else (key,)))
        name = ", ".join([f"{HUE_LABELS.get(hue, hue).rstrip('s')} {values[hue]}"] * bool(by)
                         + [f"{c} {values[c]}" for c in split]) or m_label
        group = group.sort_values(x)
        trace = {"type": "scatter", "mode": "lines+markers", "x": group[x], "y": group["value"],
                 "name": name, "uid": _uid(name), "line": {"color": COLORS[i % len(COLORS)]},
                 "customdata": [[str(m)] for m in group["model"]] if "model" in group else None,
                 "hovertemplate": f"<b>{name}</b><br>{x_label}: %{{x:.4~s}}<br>{m_label}: %{{y:.3f}}"}
        if {"ci_low", "ci_high"} <= set(group) and group["ci_low"].notna().all():
            trace["error_y"] = {"type": "data", "array": group["ci_high"] - group["value"],
                                "arrayminus": group["value"] - group["ci_low"], "thickness": 1, "width": 3}
            trace["customdata"] = [[str(m), lo, hi] for m, lo, hi in
                                   zip(group.get("model", [""] * len(group)), group["ci_low"], group["ci_high"])]
            trace["hovertemplate"] += " (95%: %{customdata[1]:.3f} to %{customdata[2]:.3f})"
        trace["hovertemplate"] += "<br>%{customdata[0]}<extra></extra>" if "model" in group else "<extra></extra>"
        traces.append(trace)
    if len(traces) > 1:
        mean = rows.groupby(x, as_index=False)["value"].mean().sort_values(x)
        traces.append({"type": "scatter", "mode": "lines", "x": mean[x], "y": mean["value"], "name": "mean",
                       "uid": "mean", "visible": "legendonly", "line": {"color": "black", "width": 3},
                       "hovertemplate": f"<b>mean</b><br>{x_label}: %{{x:.4~s}}<br>{m_label}: %{{y:.3f}}<extra></extra>"})
    return traces


def _uid(name: str) -> str:
    """A trace id Plotly can use in a CSS selector (it keeps legend choices across views)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _with_chance(layout: dict, rows: pd.DataFrame, metric: str) -> dict:
    if metric in _PROBABILITY:
        layout["yaxis"]["range"] = [-0.03, 1.03]
    if "chance" in rows and rows["chance"].notna().any():
        layout["shapes"] = [_hline(float(level)) for level in sorted(set(rows["chance"].dropna()))]
    return layout


def attention_figure(patterns: Mapping[tuple[str, int], np.ndarray], marks: tuple[Sequence, Sequence],
                     split: float | None = None) -> Explorer:
    """Lab 4b: the attention pattern of any head (drop-down) at any snapshot (slider).

    `patterns[(head_name, step)]` is a (query, key) matrix; `marks` = (keys, queries) are
    drawn as red circles (where an induction head should look), `split` as a blue line.
    Hover: query, key and attention.
    """
    heads = list(dict.fromkeys(h for h, _ in patterns))
    steps = sorted({s for _, s in patterns})

    def draw(head=heads[0], step=steps[0]):
        z = np.round(np.asarray(patterns[(head, step)], dtype=float), 3)
        z = np.where(np.tril(np.ones_like(z)) > 0, z, np.nan)  # causal: nothing above the diagonal
        on_target = float(np.mean(z[list(marks[1]), list(marks[0])]))
        data = [{"type": "heatmap", "z": z, "zmin": 0, "zmax": 1, "colorscale": "Greys", "reversescale": True,
                 "hovertemplate": "query %{y}, key %{x}: attention %{z:.2f}<extra></extra>",
                 "colorbar": {"title": {"text": "attention"}, "thickness": 12}},
                {"type": "scatter", "mode": "markers", "x": list(marks[0]), "y": list(marks[1]),
                 "name": "target", "hoverinfo": "skip", "showlegend": False,
                 "marker": {"symbol": "circle-open", "color": "#d62728", "size": 7}}]
        layout = _layout("key position", "query position", False,
                         f"{head}, step {step}: attention on target {on_target:.2f}", height=460)
        layout["yaxis"].update(autorange="reversed", scaleanchor="x", constrain="domain")
        layout["xaxis"]["constrain"] = "domain"
        if split is not None:
            layout["shapes"] = [{"type": "line", "x0": -0.5, "x1": len(z) - 0.5, "y0": split, "y1": split,
                                 "line": {"color": "#1f77b4", "width": 1}}]
        return {"data": data, "layout": layout}

    return explorer({"head": ("head", heads), "step": ("step", steps)}, draw, ranges=("step",),
                    alt=f"attention pattern of {heads[0]} at step {steps[0]}")


def curves_figure(history: pd.DataFrame, panels: Mapping[str, tuple[str, Sequence[str]]],
                  x: str = "step", marks: Sequence[float] = (), chance: float | None = None) -> Explorer:
    """Lab 4c: training curves; a drop-down picks the panel (e.g. accuracy, loss, weight norm),
    another the scale of the step axis (linear or log, to see the early steps).

    `panels` maps a label to (y-axis title, columns of `history`); `marks` are steps drawn as
    dotted lines, `chance` a dashed line on panels whose title mentions accuracy.
    """
    labels = list(panels)

    def draw(panel=labels[0], scale="linear"):
        title, columns = panels[panel]
        rows = history[history[x] > 0] if scale == "log" else history
        data = [{"type": "scatter", "mode": "lines", "x": rows[x], "y": rows[c], "name": c.replace("_", " "),
                 "uid": c, "line": {"color": COLORS[i % len(COLORS)]},
                 "hovertemplate": f"{c.replace('_', ' ')}<br>step %{{x}}: %{{y:.4g}}<extra></extra>"}
                for i, c in enumerate(columns)]
        layout = _layout(X_LABELS.get(x, x), title, scale == "log", panel)
        layout["shapes"] = [{"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": m, "x1": m,
                             "line": {"color": "black", "width": 1, "dash": "dot"}} for m in marks if m]
        if chance is not None and "accuracy" in title:
            layout["shapes"].append(_hline(chance))
        if "loss" in title or "cross-entropy" in title:
            layout["yaxis"]["type"] = "log"
        return {"data": data, "layout": layout}

    return explorer({"panel": ("show", labels), "scale": ("step axis", ["linear", "log"])}, draw,
                    alt=f"{labels[0]} over training")


def extrapolation_figure(params: Sequence[float], tables: Mapping[tuple[str, int], np.ndarray],
                         predict: Callable[[int, np.ndarray, float | None], float],
                         chance: float | None = None) -> Explorer:
    """Lab 5: the extrapolation test for any number k of fitted sizes (slider), any metric and
    any test-set size n (drop-downs).

    `tables[(metric, n)]` has one row per size in `params` and one column per problem;
    the measured curve carries its bootstrap 95% band, the dashed line runs through the k
    smallest sizes (`analysis.extrapolate_linear`), and `predict(k, y, floor)` is the
    sigmoid's prediction at the largest size (NaN: no fit).
    """
    params = np.asarray(params, dtype=float)
    grid = np.logspace(np.log10(params[0]) - 0.1, np.log10(params[-1]) + 0.1, 60)
    metric_names = list(dict.fromkeys(m for m, _ in tables))
    ns = sorted({n for _, n in tables}, reverse=True)

    def draw(k=2, metric=metric_names[0], n=ns[0]):
        table = np.asarray(tables[(metric, n)], dtype=float)
        y = table.mean(axis=1)
        bands = np.array([metrics.bootstrap_ci(row, seed=0) for row in table])
        label = METRIC_LABELS.get(metric, metric)
        data = [{"type": "scatter", "mode": "lines+markers", "x": params, "y": y, "name": f"measured ({n} problems)",
                 "uid": "measured", "line": {"color": "black"},
                 "error_y": {"type": "data", "array": bands[:, 1] - y, "arrayminus": y - bands[:, 0],
                             "thickness": 1, "width": 3}, "customdata": bands,
                 "hovertemplate": f"parameters %{{x:.4~s}}<br>{label}: %{{y:.3f}} "
                                  f"(95%: %{{customdata[0]:.3f}} to %{{customdata[1]:.3f}})<extra></extra>"},
                {"type": "scatter", "mode": "lines", "x": grid, "y": analysis.extrapolate_linear(params, y, k, grid),
                 "name": f"line through the {k} smallest", "uid": "line", "line": {"color": COLORS[0], "dash": "dash"},
                 "hovertemplate": "line: %{y:.3f} at %{x:.4~s}<extra></extra>"}]
        prediction = predict(k, y, chance if metric == "exact_match" else None)
        if np.isfinite(prediction):
            data.append({"type": "scatter", "mode": "markers", "x": [params[-1]], "y": [prediction],
                         "name": "sigmoid fitted to them, at the largest", "uid": "sigmoid",
                         "marker": {"symbol": "square", "size": 10, "color": COLORS[1]},
                         "hovertemplate": "sigmoid: %{y:.3f}<extra></extra>"})
        layout = _layout("parameters", label, True, f"fitted on the {k} smallest sizes")
        if metric in _PROBABILITY:
            layout["yaxis"]["range"] = [-0.03, 1.1]
        return {"data": data, "layout": layout}

    return explorer({"k": ("sizes fitted", list(range(2, len(params)))),
                     "metric": ("metric", [(m, METRIC_LABELS.get(m, m)) for m in metric_names]),
                     "n": ("problems", ns)}, draw, ranges=("k",), alt="extrapolation from the 2 smallest sizes")


def _static_png(view: dict) -> bytes:
    """A matplotlib PNG of one view (line, marker and heatmap traces): the figure where no script runs."""
    from matplotlib.figure import Figure

    layout = view["layout"]
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for trace in view["data"]:
        if trace["type"] == "heatmap":
            z = np.array(trace["z"], dtype=float)
            ax.imshow(z, cmap="Greys", vmin=0, vmax=1)  # darker is more attention, as in the lab
            continue
        if trace.get("visible") == "legendonly":
            continue
        x, y = np.array(trace["x"], dtype=float), np.array(trace["y"], dtype=float)
        color = (trace.get("line") or trace.get("marker") or {}).get("color")
        if trace.get("marker", {}).get("symbol") == "circle-open":
            ax.scatter(x, y, s=18, facecolors="none", edgecolors=color, linewidths=0.8)
            continue
        line = "none" if trace["mode"] == "markers" else "--" if trace.get("line", {}).get("dash") else "-"
        ax.plot(x, y, color=color, label=trace.get("name"), marker="o" if "markers" in trace["mode"] else None,
                markersize=4, linestyle=line)
        if "error_y" in trace:
            ax.fill_between(x, y - np.array(trace["error_y"]["arrayminus"], dtype=float),
                            y + np.array(trace["error_y"]["array"], dtype=float), color=color, alpha=0.15)
    for shape in layout.get("shapes", []):
        across = shape["y0"] == shape["y1"]  # a horizontal line, else a vertical one
        draw_line = ax.axhline if across else ax.axvline
        draw_line(shape["y0"] if across else shape["x0"],
                  color=shape["line"]["color"], linewidth=1, linestyle=":" if shape["line"].get("dash") else "-")
    for axis, set_scale in (("xaxis", ax.set_xscale), ("yaxis", ax.set_yscale)):
        if layout[axis].get("type") == "log":
            set_scale("log")
    ax.set_xlabel(layout["xaxis"]["title"]["text"])
    ax.set_ylabel(layout["yaxis"]["title"]["text"])
    ax.set_title(layout["title"]["text"], fontsize="medium")
    if "range" in layout["yaxis"]:
        ax.set_ylim(*layout["yaxis"]["range"])
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.get_lines()):
        ax.legend(fontsize="small", frameon=False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
