"""Quantifying emergence from a scaling curve: scores, threshold fits and extrapolation.

Works on plain arrays (scale x, score y, sorted by scale) so it applies to toy families,
real model ladders and published numbers alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["total_improvement", "linearity", "breakthroughness", "SigmoidFit", "fit_sigmoid",
           "threshold_crossing", "extrapolate_linear", "separating_threshold", "BootstrapResult",
           "bootstrap_curve", "resample_published"]


def _sorted(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError("need matching 1-D scale and score arrays with at least 3 points")
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def total_improvement(y: Sequence[float]) -> float:
    """BIG-bench's I(y): the range of the scores, signed by whether the best comes after the worst."""
    y = np.asarray(y, dtype=float)
    return float(np.sign(np.argmax(y) - np.argmin(y)) * (y.max() - y.min()))


def linearity(x: Sequence[float], y: Sequence[float]) -> float:
    """Srivastava et al. (2022), App. B: I(y) / root-mean-square of successive differences.

    Large when the improvement is spread evenly over the scale ladder.
    """
    _, y = _sorted(x, y)
    d = np.diff(y)
    return float(total_improvement(y) / max(np.sqrt(np.mean(d ** 2)), 1e-12))


def breakthroughness(x: Sequence[float], y: Sequence[float]) -> float:
    """Srivastava et al. (2022), App. B: I(y) / root-median-square of successive differences.

    The median ignores one or two big steps, so a curve that is flat except for a jump
    scores high; a steady climb scores about the number of steps.
    """
    _, y = _sorted(x, y)
    d = np.diff(y)
    return float(total_improvement(y) / max(np.sqrt(np.median(d ** 2)), 1e-3 * max(np.ptp(y), 1e-12)))


@dataclass(frozen=True)
class SigmoidFit:
    """score = floor + (ceiling - floor) / (1 + exp(-(log10 x - log10 midpoint) / width))."""
    midpoint: float  # the scale at half-way between floor and ceiling
    width: float  # in decades of scale: small means sudden
    floor: float
    ceiling: float

    def __call__(self, x: Sequence[float]) -> np.ndarray:
        z = (np.log10(np.asarray(x, dtype=float)) - np.log10(self.midpoint)) / self.width
        return self.floor + (self.ceiling - self.floor) / (1 + np.exp(-z))

    def scale_at(self, level: float) -> float | None:
        """The scale at which the fitted curve reaches `level`; None if it never does
        (the level is not strictly between the floor and the ceiling)."""
        lo, hi = sorted((self.floor, self.ceiling))
        if not lo < level < hi:
            return None
        share = (level - self.floor) / (self.ceiling - self.floor)
        return float(10 ** (np.log10(self.midpoint) + self.width * np.log(share / (1 - share))))


def fit_sigmoid(x: Sequence[float], y: Sequence[float], floor: float | None = None,
                ceiling: float | None = None) -> SigmoidFit:
    """Least-squares sigmoid in log-scale. Fix `floor` at chance when it is known."""
    from scipy.optimize import curve_fit

    x, y = _sorted(x, y)
    lx = np.log10(x)
    lo = float(y.min()) if floor is None else floor
    hi = float(y.max()) if ceiling is None else ceiling

    def f(lx_, mid, width, fl, ce):
        return fl + (ce - fl) / (1 + np.exp(-(lx_ - mid) / width))

    free = [floor is None, ceiling is None]
    p0 = [float(np.median(lx)), 0.2, lo, hi]
    bounds_lo = [lx.min() - 2, 0.01, -np.inf if free[0] else lo - 1e-9, -np.inf if free[1] else hi - 1e-9]
    bounds_hi = [lx.max() + 2, 5.0, np.inf if free[0] else lo + 1e-9, np.inf if free[1] else hi + 1e-9]
    params, _ = curve_fit(f, lx, y, p0=p0, bounds=(bounds_lo, bounds_hi), maxfev=20000)
    mid, width, fl, ce = params
    return SigmoidFit(midpoint=float(10 ** mid), width=float(width), floor=float(fl), ceiling=float(ce))


def threshold_crossing(x: Sequence[float], y: Sequence[float], level: float) -> float | None:
    """The scale where the curve first rises through `level`, interpolated in log-scale."""
    x, y = _sorted(x, y)
    for i in range(1, len(x)):
        if y[i - 1] < level <= y[i]:
            t = (level - y[i - 1]) / (y[i] - y[i - 1])
            return float(10 ** (np.log10(x[i - 1]) + t * (np.log10(x[i]) - np.log10(x[i - 1]))))
    return float(x[0]) if y[0] >= level else None


def longest_decline(x: Sequence[float], y: Sequence[float]) -> int:
    """How many consecutive steps of the ladder (sorted by `x`) the curve falls at, at most.

    Lab 5b: inverse scaling is a trend, a decline over several sizes; a noisy suite has many
    single drops between two neighbouring sizes (a run of 1), which are not one.
    """
    _, y = _sorted(x, y)
    longest = run = 0
    for change in np.diff(y):
        run = run + 1 if change < 0 else 0
        longest = max(longest, run)
    return longest


def extrapolate_linear(x: Sequence[float], y: Sequence[float], n_fit: int,
                       x_new: Sequence[float]) -> np.ndarray:
    """Fit a line in log-scale to the `n_fit` smallest models and predict at `x_new`.

    Wei et al.'s test of emergence: if the small models' trend predicts the large ones,
    the ability was not emergent in their sense.
    """
    x, y = _sorted(x, y)
    if not 2 <= n_fit <= len(x):
        raise ValueError(f"n_fit must be between 2 and {len(x)}, got {n_fit}")
    slope, intercept = np.polyfit(np.log10(x[:n_fit]), y[:n_fit], 1)
    return slope * np.log10(np.asarray(x_new, dtype=float)) + intercept



def separating_threshold(x: Sequence[float], present: Sequence[bool],
                         present_below: bool = True) -> tuple[float, int]:
    """The cut on `x` that best separates points with an ability from points without it.

    Du et al. (2024) find that an ability appears once the pre-training loss falls below a
    threshold, whatever the model size: one cut on the loss separates the models (and
    checkpoints) that have it from those that do not. This finds the cut that misclassifies
    the fewest points, predicting the ability for x below the cut (`present_below=True`,
    for a loss) or above it (False, for parameters or training steps), and returns
    (cut, number of misclassified points). Cuts lie halfway between neighbouring values;
    ties go to the cut closest to the high end of x.
    """
    x = np.asarray(x, dtype=float)
    present = np.asarray(present, dtype=bool)
    if x.shape != present.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("need matching 1-D arrays of scales and present/absent flags")
    values = np.unique(x)
    cuts = np.r_[values[0] - 1, (values[1:] + values[:-1]) / 2, values[-1] + 1]
    errors = [int(np.sum((x < c if present_below else x > c) != present)) for c in cuts]
    best = len(errors) - 1 - int(np.argmin(errors[::-1]))
    return float(cuts[best]), errors[best]


@dataclass(frozen=True)
class BootstrapResult:
    """A statistic of a scaling curve with its percentile bootstrap interval."""
    estimate: float  # the statistic of the curve as measured
    low: float
    high: float
    samples: np.ndarray = field(compare=False)  # the statistic of every resample where defined
    failed: int = 0  # resamples in which the statistic was undefined (None, NaN or an error)

    def __iter__(self):  # estimate, low, high = bootstrap_curve(...)
        return iter((self.estimate, self.low, self.high))


def bootstrap_curve(x: Sequence[float], per_example, statistic: Callable[[np.ndarray, np.ndarray], float | None],
                    n_boot: int = 1000, level: float = 0.95, seed: int = 0,
                    paired: bool = True) -> BootstrapResult:
    """Bootstrap interval of any statistic of a scaling curve, resampling the test problems.

    `per_example` holds one row per scale point (model) and one column per test problem:
    the score of that model on that problem. When every model answered the same problems
    (`paired=True`), each resample draws one set of problem indices and applies it to every
    model: a hard problem stays hard for all of them. With `paired=False` every row is
    resampled on its own, for models scored on different problems; rows may then differ
    in length (pass a list of 1-D arrays). The curve of a resample is the mean of each
    row; `statistic(x, curve)` turns it into a number, for example `breakthroughness` or
    `lambda x, y: fit_sigmoid(x, y).midpoint`.

    The interval covers only the noise of a finite test set, not the variation between
    training runs. Two calls with the same `seed` on the same problems draw the same
    resamples, so their `samples` can be compared pairwise.
    """
    x = np.asarray(x, dtype=float)
    if paired:
        scores = np.asarray(per_example, dtype=float)
        if scores.ndim != 2 or scores.shape[0] != len(x) or scores.shape[1] == 0:
            raise ValueError("per_example must be a 2-D array: one row per scale point, one "
                             "column per test problem (or use paired=False)")
        rows = list(scores)
    else:
        rows = [np.asarray(r, dtype=float) for r in per_example]
        if len(rows) != len(x) or any(r.ndim != 1 or len(r) == 0 for r in rows):
            raise ValueError("per_example must hold one non-empty 1-D array of scores per "
                             "scale point")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")

    def value(curve):
        return _statistic_or_none(statistic, x, curve)

    estimate = value(np.array([r.mean() for r in rows]))
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_boot):
        if paired:
            n = scores.shape[1]
            curve = scores[:, rng.integers(0, n, size=n)].mean(axis=1)
        else:
            curve = np.array([r[rng.integers(0, len(r), size=len(r))].mean() for r in rows])
        v = value(curve)
        if v is not None:
            samples.append(v)
    return _percentile_result(estimate, samples, n_boot, level)


def _statistic_or_none(statistic, x, curve) -> float | None:
    """The statistic of one curve, or None where it is undefined."""
    try:
        v = statistic(x, curve)
    except (RuntimeError, ValueError, FloatingPointError):  # e.g. a fit that does not converge
        return None
    return None if v is None or not np.isfinite(v) else float(v)


def _percentile_result(estimate, samples, n_boot, level) -> BootstrapResult:
    samples = np.array(samples)
    estimate = np.nan if estimate is None else estimate
    if len(samples) == 0:
        return BootstrapResult(estimate, np.nan, np.nan, samples, failed=n_boot)
    tail = (1 - level) / 2
    return BootstrapResult(estimate, float(np.quantile(samples, tail)),
                           float(np.quantile(samples, 1 - tail)), samples,
                           failed=n_boot - len(samples))


def resample_published(x: Sequence[float], y: Sequence[float], stderr: Sequence[float],
                       statistic: Callable[[np.ndarray, np.ndarray], float | None],
                       n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> BootstrapResult:
    """Interval of a statistic of a published curve, from the published standard errors.

    Published results rarely come with per-problem scores, so `bootstrap_curve` cannot
    resample the problems. Each resample instead draws every point as
    value ~ Normal(y_i, stderr_i), independently (a parametric bootstrap), and applies
    `statistic(x, curve)`. Like `bootstrap_curve`, it covers only the test-set noise that
    the standard errors describe, and it ignores that one benchmark's questions are shared
    by all models (which makes neighbouring points agree more than independent draws do).
    """
    x = np.asarray(x, dtype=float)
    y, se = np.asarray(y, dtype=float), np.asarray(stderr, dtype=float)
    if not (x.shape == y.shape == se.shape) or x.ndim != 1:
        raise ValueError("x, y and stderr must be 1-D arrays of the same length")
    if not np.all(np.isfinite(se)) or np.any(se < 0):
        raise ValueError("every standard error must be a finite number >= 0")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_boot):
        v = _statistic_or_none(statistic, x, y + se * rng.standard_normal(len(y)))
        if v is not None:
            samples.append(v)
    return _percentile_result(_statistic_or_none(statistic, x, y), samples, n_boot, level)
