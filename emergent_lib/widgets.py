"""Interactive explorers for the labs: pick a task, a metric, an x axis and seeds, see the plot.

    from emergent_lib.widgets import sweep_explorer
    sweep_explorer(frame)          # frame: the tidy table of `sweep.run_sweep`

The explorers need a running Jupyter kernel and `ipywidgets`. A static web page shows a
widget as nothing useful, so every lab also draws its main figure with plain matplotlib;
`draw_selection` draws exactly what an explorer shows for one choice of its controls, and
without ipywidgets `sweep_explorer` falls back to that static figure.

This module sits above `plotting` (nothing in the library imports it); ipywidgets is
imported only when an explorer is built.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import pandas as pd

from .plotting import METRIC_LABELS, X_LABELS, emergence_plot

__all__ = ["sweep_explorer", "draw_selection", "x_options_for", "HUE_LABELS"]

HUE_LABELS = {"model_seed": "seeds", "model": "models", "seed": "example seeds", "shots": "shots"}
# x axes an explorer can offer, in this order, where the frame has values for them
X_CANDIDATES = ("params", "train_flops", "shots", "step", "tokens_seen")
LINEAR_X = {"shots", "step"}  # counts, not scales: a linear axis (0 shots has no logarithm)


def x_options_for(frame: pd.DataFrame, candidates: Sequence[str] = X_CANDIDATES) -> list[str]:
    """The x axes (among `candidates`) on which `frame` has more than one distinct value."""
    return [x for x in candidates if x in frame and frame[x].dropna().nunique() > 1]


def metrics_for(frame: pd.DataFrame, task: str) -> list[str]:
    """The metrics a sweep table holds for `task`, exact match first."""
    present = list(dict.fromkeys(frame.loc[frame["task"] == task, "metric"]))
    return sorted(present, key=lambda m: (m != "exact_match", m))  # exact match first


def draw_selection(frame: pd.DataFrame, task: str, metric: str = "exact_match", x: str = "params",
                   hue: str = "model_seed", selected: Sequence | None = None, shots: int | None = None,
                   mean: bool = False, ax=None):
    """Draw one view of a sweep table: `metric` on `task` against `x`, one line per `hue` value.

    `selected` keeps only those hue values (e.g. seeds); `shots` keeps one shot count (ignored
    when x is "shots"); `mean` adds the mean over the selected lines as a thick black line.
    Counts ("shots", "step") get a linear axis, scales (parameters, FLOPs) a log axis.
    Returns the matplotlib axes.
    """
    rows = frame[(frame["task"] == task) & (frame["metric"] == metric)]
    if rows.empty:
        raise ValueError(f"no rows for task '{task}' and metric '{metric}'; the frame has tasks "
                         f"{sorted(frame['task'].unique())} and metrics {sorted(frame['metric'].unique())}")
    if shots is not None and x != "shots" and "shots" in rows:
        rows = rows[rows["shots"] == shots]
    if selected is not None and hue in rows:
        rows = rows[rows[hue].isin(list(selected))]
    if ax is None:
        from matplotlib.figure import Figure
        ax = Figure(figsize=(6.5, 4.2), layout="constrained").subplots()
    if rows.empty:
        ax.text(0.5, 0.5, "nothing selected", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(X_LABELS.get(x, x))
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        return ax
    emergence_plot(rows, metric=metric, x=x, hue=hue, ax=ax)
    if mean and hue in rows and rows[hue].nunique() > 1:
        avg = rows.groupby(x, as_index=False)["value"].mean().sort_values(x)
        ax.plot(avg[x], avg["value"], color="black", linewidth=2.5, label="mean")
        ax.legend(fontsize="small", frameon=False)
    if x in LINEAR_X:
        ax.set_xscale("linear")
        values = sorted(rows[x].dropna().unique())
        if len(values) <= 12:
            ax.set_xticks(values)
    ax.set_title(f"{task}" + (f", {shots}-shot" if shots is not None and x != "shots" else ""),
                 fontsize="medium")
    return ax


def sweep_explorer(frame: pd.DataFrame, hue: str = "model_seed", x_options: Sequence[str] | None = None,
                   task: str | None = None, metric: str | None = None, figsize=(6.5, 4.2)):
    """An ipywidgets explorer of a sweep table; returns the widget (display it, or leave it last in a cell).

    Controls: a dropdown for the task, one for the metric (the metrics measured on that
    task, exact match first), one for the x axis (`x_options`, default: whichever of
    parameters, training FLOPs, shots, step the frame varies), a multiple selection of the
    `hue` values (seeds by default: one line each), a shots dropdown when the frame has
    several shot counts, and a box for the mean over the selected lines. Every change
    redraws the figure with `draw_selection`.

    The returned box carries `controls` (a dict of the widgets by name: "task", "metric",
    "x", "selected", "shots", "mean"), and `figure` and `ax`, the figure drawn last.
    Without ipywidgets it warns and returns a static matplotlib figure of the default view.
    """
    if frame.empty:
        raise ValueError("the sweep table is empty: nothing to explore")
    tasks = sorted(frame["task"].unique())
    task = task if task is not None else tasks[0]
    if task not in tasks:
        raise ValueError(f"task '{task}' is not in the table; it has {tasks}")
    xs = list(x_options) if x_options is not None else x_options_for(frame)
    if not xs:
        raise ValueError("the table has no x axis with more than one value "
                         f"(looked for {', '.join(X_CANDIDATES)})")
    metrics = metrics_for(frame, task)
    metric = metric if metric in metrics else metrics[0]
    hue_values = sorted(frame[hue].dropna().unique().tolist()) if hue in frame else []
    shot_values = sorted(frame["shots"].dropna().unique().tolist()) if "shots" in frame else []
    default_shots = shot_values[0] if len(shot_values) > 1 else None

    try:
        import ipywidgets as w
    except ImportError:
        warnings.warn("ipywidgets is not installed (pip install ipywidgets): showing a static "
                      "figure of the default view instead of the explorer", stacklevel=2)
        ax = draw_selection(frame, task, metric, xs[0], hue, None, default_shots)
        ax.figure.set_size_inches(*figsize)
        return ax.figure

    style = {"description_width": "70px"}
    controls = {
        "task": w.Dropdown(options=tasks, value=task, description="task", style=style),
        "metric": w.Dropdown(options=[(METRIC_LABELS.get(m, m), m) for m in metrics], value=metric,
                             description="metric", style=style),
        "x": w.Dropdown(options=[(X_LABELS.get(x, x), x) for x in xs], value=xs[0],
                        description="x axis", style=style),
        "selected": w.SelectMultiple(options=hue_values, value=tuple(hue_values),
                                     description=HUE_LABELS.get(hue, hue), rows=min(6, max(2, len(hue_values))),
                                     style=style),
        "shots": w.Dropdown(options=shot_values, value=default_shots if default_shots is not None
                            else (shot_values[0] if shot_values else None),
                            description="shots", style=style),
        "mean": w.Checkbox(value=False, description="mean of the selected lines", indent=False),
    }
    out = w.Output()
    box = w.VBox([w.HBox([w.VBox([controls["task"], controls["metric"], controls["x"], controls["shots"]]),
                          w.VBox([controls["selected"], controls["mean"]])]), out])
    box.controls = controls
    box.figure = box.ax = None

    def redraw(*_):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
        draw_selection(frame, controls["task"].value, controls["metric"].value, controls["x"].value,
                       hue, controls["selected"].value,
                       controls["shots"].value if len(shot_values) > 1 else None,
                       controls["mean"].value, ax=ax)
        box.figure, box.ax = fig, ax
        out.clear_output(wait=True)
        with out:
            _show(fig)

    def task_changed(change):
        # offer the metrics measured on the new task; keep the metric if it is one of them
        new = metrics_for(frame, change["new"])
        keep = controls["metric"].value if controls["metric"].value in new else new[0]
        with controls["metric"].hold_trait_notifications():
            controls["metric"].options = [(METRIC_LABELS.get(m, m), m) for m in new]
            controls["metric"].value = keep
        redraw()

    def x_changed(change):
        # the shots dropdown means nothing when the shots are on the x axis
        controls["shots"].layout.display = "none" if (change["new"] == "shots" or len(shot_values) < 2) else None

    controls["x"].observe(x_changed, names="value")
    x_changed({"new": controls["x"].value})
    controls["task"].observe(task_changed, names="value")
    for name in ("metric", "x", "selected", "shots", "mean"):
        controls[name].observe(redraw, names="value")
    redraw()
    return box


def _show(fig) -> None:
    """Display a figure in the current output (a kernel's widget output); no-op elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display(fig)
