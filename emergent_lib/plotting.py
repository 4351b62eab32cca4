"""Paper-style emergence plots: score against scale on a log axis, chance line, CI bands.

Takes the tidy table that `sweep.run_sweep` returns (or any frame with the same columns),
so our own runs and published numbers are drawn the same way.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["emergence_plot", "X_LABELS", "METRIC_LABELS"]

X_LABELS = {
    "params": "parameters",
    "params_non_embedding": "non-embedding parameters",
    "train_flops": "training FLOPs (6 N D)",
    "tokens_seen": "training tokens",
    "step": "training step",
}
METRIC_LABELS = {
    "exact_match": "exact match",
    "digit_accuracy": "per-digit accuracy",
    "edit_similarity": "1 - normalised edit distance",
    "answer_logprob": "log-prob of the answer (nats)",
    "token_accuracy": "per-token accuracy (teacher-forced)",
    "mc_accuracy": "multiple-choice accuracy",
    "brier": "Brier score (lower is better)",
}


# columns that hold results, not conditions: never a reason to split a line
_RESULT_COLUMNS = frozenset({"metric", "value", "ci_low", "ci_high", "chance"})


def line_columns(rows: pd.DataFrame, x: str, by: list[str]) -> list[str]:
    """The columns besides `x` and `by` whose values differ between rows at the same x.

    Joined into one line, such rows (0-shot and 4-shot of one model, say) would draw a
    vertical zig-zag; each combination of these columns gets its own line instead. Coarse
    columns are tried first (family before model), so lines stay as long as they can; a
    column that the ones already chosen determine (a model's size) adds nothing and is skipped.
    """
    def coarseness(col: str) -> int:
        try:
            return rows[col].nunique(dropna=False)
        except TypeError:
            return len(rows)

    candidates = [c for c in rows.columns if c not in _RESULT_COLUMNS and c != x and c not in by]
    chosen: list[str] = []
    for col in sorted(candidates, key=coarseness):  # stable: ties keep the frame's order
        try:
            spread = rows.groupby([*by, *chosen, x], dropna=False)[col].nunique(dropna=False)
        except TypeError:  # unhashable values (lists): not a condition column
            continue
        if (spread > 1).any():
            chosen.append(col)
    return chosen


def emergence_plot(frame: pd.DataFrame, metric: str = "exact_match", x: str = "params",
                   hue: str | None = "model_seed", ax=None, band: bool = True, chance: bool = True,
                   threshold: float | None = None, label: str | None = None, **line_kw):
    """Draw `metric` against `x` (log scale), one line per value of `hue`.

    Rows that differ in anything else at the same x (shots, task, strategy, seed...) are
    never joined into one line: each combination of those columns is a line of its own,
    labelled with them. Each line carries its bootstrap 95% band when the frame has
    ci_low/ci_high; the chance level is a dashed grey line; `threshold` adds a dotted
    vertical marker.
    """
    rows = frame[frame["metric"] == metric] if "metric" in frame else frame
    if rows.empty:
        raise ValueError(f"no rows for metric '{metric}'; the frame has: "
                         f"{', '.join(sorted(frame['metric'].unique())) if 'metric' in frame else 'none'}")
    if x not in rows or rows[x].isna().all():
        raise ValueError(f"no values for x='{x}' (columns with values: "
                         f"{', '.join(c for c in rows.columns if rows[c].notna().any())})")
    rows = rows.dropna(subset=[x])
    ax = ax or plt.subplots(figsize=(5.5, 3.8))[1]
    by = [hue] if hue and hue in rows and rows[hue].notna().any() else []
    split = line_columns(rows, x, by)
    groups = rows.groupby([*by, *split], dropna=False) if by or split else [((), rows)]
    for key, group in groups:
        values = dict(zip([*by, *split], key if isinstance(key, tuple) else (key,)))
        parts = [label] if label is not None else [f"{hue} {values[hue]}"] if by else []
        parts += [f"{col} {values[col]}" for col in split]
        group = group.sort_values(x)
        line, = ax.plot(group[x], group["value"], marker="o", label=", ".join(parts) or None, **line_kw)
        if band and {"ci_low", "ci_high"} <= set(group) and group["ci_low"].notna().all():
            ax.fill_between(group[x], group["ci_low"], group["ci_high"], color=line.get_color(),
                            alpha=0.15, linewidth=0)
    if chance and "chance" in rows and rows["chance"].notna().any():
        # one dashed line per chance level: tasks drawn together may have different ones
        for i, level in enumerate(sorted(set(rows["chance"].dropna().astype(float)))):
            if not math.isnan(level):
                ax.axhline(level, color="grey", linestyle="--", linewidth=1,
                           label="chance" if i == 0 else "_chance")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle=":", linewidth=1, label="threshold")
    ax.set_xscale("log")
    ax.set_xlabel(X_LABELS.get(x, x))
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.grid(True, which="major", alpha=0.3)
    if any(h.get_label() and not h.get_label().startswith("_") for h in ax.get_lines()):
        ax.legend(fontsize="small", frameon=False)
    return ax
