"""Scoring per-example records: exact match and its smoother relatives, with bootstrap CIs.

Schaeffer et al. (2023) argue that much of what looks like sudden emergence comes from the
choice of metric: exact match is all-or-nothing, while per-digit accuracy, edit distance
and answer log-probability can change smoothly. So every evaluation reports several.
Calibration (reliability bins, expected calibration error) asks a different question of the
same answers: does the model's confidence in an answer match how often such answers are right?
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from .errors import UnknownNameError, unknown_name
from .tasks import Task

__all__ = ["exact_match", "digit_accuracy", "edit_distance", "edit_similarity", "brier_score",
           "choice_probabilities", "METRICS", "per_example", "score", "bootstrap_ci",
           "reliability_bins", "expected_calibration_error"]


def exact_match(prediction: str, answer: str) -> float:
    return float(prediction == answer)


def digit_accuracy(prediction: str, answer: str) -> float:
    """Share of answer positions right, digits aligned from the right (units with units).

    Missing or extra digits count as wrong, so "57" for "1057" scores 0.5 and "10570"
    for "1057" scores 0 at every shifted position it disagrees on.
    """
    width = max(len(prediction), len(answer))
    if width == 0:
        return 1.0
    p, a = prediction.rjust(width, "\0"), answer.rjust(width, "\0")
    return sum(x == y for x, y in zip(p, a)) / width


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions to turn a into b."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def edit_similarity(prediction: str, answer: str) -> float:
    """1 - normalised edit distance: 1 for a perfect answer, 0 for nothing in common."""
    width = max(len(prediction), len(answer))
    return 1.0 if width == 0 else 1.0 - edit_distance(prediction, answer) / width


def choice_probabilities(logprobs: Sequence[float]) -> np.ndarray:
    """The model's probabilities over the choices, renormalised to sum to one."""
    lp = np.asarray(logprobs, dtype=float)
    p = np.exp(lp - lp.max())
    return p / p.sum()


def brier_score(logprobs: Sequence[float], label: int) -> float:
    """Multi-class Brier score (lower is better); a uniform guess over k choices scores 1 - 1/k."""
    p = choice_probabilities(logprobs)
    y = np.zeros_like(p)
    y[label] = 1.0
    return float(((p - y) ** 2).sum())


def _calibration_inputs(confidence, correct, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidence, dtype=float)
    right = np.asarray(correct, dtype=float)
    if conf.ndim != 1 or conf.shape != right.shape or len(conf) == 0:
        raise ValueError("need matching, non-empty 1-D arrays of confidences and right/wrong outcomes")
    if np.any((conf < 0) | (conf > 1)) or np.isnan(conf).any():
        raise ValueError("confidences must be probabilities in [0, 1]")
    if not set(np.unique(right)) <= {0.0, 1.0}:
        raise ValueError("outcomes must be 0/1 or True/False (was the answer right?)")
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return conf, right


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> dict[str, np.ndarray]:
    """A reliability diagram's data: answers grouped by the model's confidence in them.

    Equal-width bins on [0, 1] (a confidence of exactly 1 goes in the last bin). For each bin:
    `low`, `high`, `count`, `confidence` (mean confidence) and `accuracy` (share right); the
    last two are NaN in an empty bin. A calibrated model's accuracy equals its confidence.
    """
    conf, right = _calibration_inputs(confidence, correct, n_bins)
    which = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=right, minlength=n_bins) / count
    edges = np.linspace(0, 1, n_bins + 1)
    return {"low": edges[:-1], "high": edges[1:], "count": count, "confidence": mean_conf,
            "accuracy": accuracy}


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE (Naeini et al. 2015; Guo et al. 2017): the answer-weighted mean gap between
    accuracy and confidence over `reliability_bins`. 0 for a calibrated model; at most 1."""
    bins = reliability_bins(confidence, correct, n_bins)
    used = bins["count"] > 0
    gap = np.abs(bins["accuracy"][used] - bins["confidence"][used])
    return float(np.sum(bins["count"][used] * gap) / np.sum(bins["count"]))


def _mc_accuracy(r: dict) -> float:
    return float(int(np.argmax(r["choice_logprobs"])) == r["label"])


# name -> (per-record function, higher is better)
METRICS: dict[str, tuple[Callable[[dict], float], bool]] = {
    "exact_match": (lambda r: exact_match(r["prediction"], r["answer"]), True),
    "digit_accuracy": (lambda r: digit_accuracy(r["prediction"], r["answer"]), True),
    "edit_similarity": (lambda r: edit_similarity(r["prediction"], r["answer"]), True),
    "answer_logprob": (lambda r: r["answer_logprob"], True),
    "token_accuracy": (lambda r: r["token_accuracy"], True),
    "mc_accuracy": (_mc_accuracy, True),
    "brier": (lambda r: brier_score(r["choice_logprobs"], r["label"]), False),
}


def _check(metric: str) -> None:
    if metric not in METRICS:
        raise UnknownNameError(unknown_name("metric", metric, list(METRICS)))


def per_example(records: Sequence[dict], metric: str) -> np.ndarray:
    """One score per record under `metric`."""
    _check(metric)
    fn = METRICS[metric][0]
    return np.array([fn(r) for r in records], dtype=float)


def bootstrap_ci(values: Sequence[float], n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded, so reproducible)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("cannot bootstrap an empty set of scores")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def score(records: Sequence[dict], task: Task, metrics: Sequence[str] | None = None,
          ci: bool = True, seed: int = 0) -> dict[str, dict]:
    """Mean, 95% bootstrap CI and chance level of each metric that applies to `task`."""
    names = list(metrics) if metrics is not None else list(task.metrics)
    out = {}
    for name in names:
        values = per_example(records, name)
        low, high = bootstrap_ci(values, seed=seed) if ci else (math.nan, math.nan)
        out[name] = {"value": float(values.mean()), "ci_low": low, "ci_high": high,
                     "chance": task.chance.get(name, math.nan), "n": len(values)}
    return out
