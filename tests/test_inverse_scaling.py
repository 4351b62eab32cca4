"""Lab 5b (inverse scaling): the training text with planted misconceptions, its test sets and
their fingerprints; the lab's glued numbers and verdicts against values recomputed here from
the sweep cache and from Pythia's published CSV; and the shape of the toy ladder, with margins
that held for six training seeds (families.py gives the measured ranges).

The page checks read the book build (`executed`) and ask run_sweep for exactly the cells the
lab uses, so after a build they read the cache; on a cold cache they train the family first.
"""
from __future__ import annotations

import random
from collections import Counter
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from emergent_lib import analysis
from emergent_lib.tasks import get_task, registry, task_fingerprint
from emergent_lib.tasks.misconceptions import (CORPUS, Corpus, corpus_task, misconceived,
                                               misconceived_task, plain_task)
from executed_labs import executed
from executed_labs import glued as glued_values

FAMILY = "addition-2d-misconceptions"
TRUTH, POPULAR, PLAIN = "addition-2d-misconceived", "addition-2d-misconceived-popular", "addition-2d-plain"


# ----------------------------------------------------------------------------- the tasks
def test_misconceived_problems_are_fixed_two_digit_sums_with_a_carry_slip():
    wrong = misconceived()
    assert len(wrong) == CORPUS.n_misconceived == 100
    assert all(10 <= a <= 99 and 10 <= b <= 99 for a, b in wrong)
    assert all(abs(popular - (a + b)) == 10 for (a, b), popular in wrong.items())
    assert wrong == misconceived(Corpus())  # the same set for every call and seed
    assert len(misconceived(Corpus(n_misconceived=50))) == 50


def test_the_training_text_has_the_corpus_rates():
    task, wrong = corpus_task(), misconceived()
    rng = random.Random(1)
    draws = [task.make_fields(rng) for _ in range(100_000)]
    famous = [f for f in draws if (f["a"], f["b"]) in wrong]
    told_wrong = [f["told"] == wrong[f["a"], f["b"]] for f in famous]
    assert len(famous) / len(draws) == pytest.approx(CORPUS.share, abs=0.005)
    assert np.mean(told_wrong) == pytest.approx(CORPUS.told_wrong, abs=0.01)
    assert all(f["told"] == f["a"] + f["b"] for f in draws if (f["a"], f["b"]) not in wrong)
    assert all(f["told"] in (f["a"] + f["b"], wrong[f["a"], f["b"]]) for f in famous)
    # every misconceived problem recurs: about 200 times each in 100,000 lines
    counts = Counter((f["a"], f["b"]) for f in famous)
    assert len(counts) == 100 and min(counts.values()) > 120


def test_the_test_sets_split_the_problems():
    wrong = misconceived()
    truth = get_task(TRUTH).examples(100)
    popular = get_task(POPULAR).examples(100)
    plain = get_task(PLAIN).examples(2000, seed=4)
    assert {(e.fields["a"], e.fields["b"]) for e in truth} == set(wrong)
    assert all(e.answer == str(e.fields["a"] + e.fields["b"]) for e in truth + plain)
    assert all(e.answer == str(wrong[e.fields["a"], e.fields["b"]]) for e in popular)
    assert not {(e.fields["a"], e.fields["b"]) for e in plain} & set(wrong)
    assert get_task(PLAIN).max_unique == 8100 - 100
    assert truth[0].question.endswith(" =") and truth[0].target.startswith(" ")


def test_a_changed_corpus_is_another_task_and_another_toy_recipe(monkeypatch):
    """The rates decide what the models learn, and a few drawn samples need not show them:
    they are hashed (`Task.settings`), so a changed corpus never reads a stale cache."""
    from emergent_lib.toy import families, zoo

    other = Corpus(told_wrong=0.4)
    assert task_fingerprint(corpus_task(other)) != task_fingerprint(corpus_task())
    assert task_fingerprint(misconceived_task(False, other)) != task_fingerprint(misconceived_task(False))
    assert task_fingerprint(plain_task(other)) != task_fingerprint(plain_task())
    fam = families.FAMILIES[FAMILY]
    before = zoo.recipe_id(fam, "w8-l2", 0)
    monkeypatch.setitem(registry._REGISTRY, FAMILY, lambda: corpus_task(other))
    assert zoo.recipe_id(fam, "w8-l2", 0) != before


def test_longest_decline_counts_consecutive_falls():
    assert analysis.longest_decline([1, 2, 3, 4, 5], [0.1, 0.9, 0.8, 0.5, 0.6]) == 2
    assert analysis.longest_decline([1, 2, 3], [0.1, 0.2, 0.3]) == 0
    assert analysis.longest_decline([3, 1, 2], [0.1, 0.9, 0.5]) == 2  # sorted by x first
    assert analysis.longest_decline([1, 2, 3], [0.5, 0.5, 0.4]) == 1  # a tie is no fall


# ----------------------------------------------------------------------------- the ladder
@pytest.fixture(scope="module")
def ladder():
    """(sizes, sweep table) for every model of the family, the lab's cells."""
    from emergent_lib.sweep import run_sweep
    from emergent_lib.toy import FAMILIES, get_family

    zoo = get_family(FAMILY, progress=False)
    specs = [f"toy/{FAMILY}/{m['size']}/seed{m['seed']}" for m in zoo]
    frame = pd.concat([run_sweep(models=specs, tasks=[PLAIN], n=500, progress=False),
                       run_sweep(models=specs, tasks=[TRUTH, POPULAR], n=100, progress=False)])
    return list(FAMILIES[FAMILY].sizes), frame


def _curve(frame, task, seed=None, metric="exact_match"):
    """The seed-mean (or one seed's) curve of `metric` on `task`, by parameters."""
    rows = frame[(frame["task"] == task) & (frame["metric"] == metric)]
    if seed is not None:
        rows = rows[rows["model_seed"] == seed]
    return rows.groupby("params")["value"].mean().sort_index()


def test_every_seed_draws_an_inverted_u_while_the_ability_rises(ladder):
    """The science, per training seed: the margins held for all six seeds measured."""
    sizes, frame = ladder
    for seed in sorted(frame["model_seed"].unique()):
        truth, plain = _curve(frame, TRUTH, seed).to_numpy(), _curve(frame, PLAIN, seed).to_numpy()
        popular = _curve(frame, POPULAR, seed).to_numpy()
        peak = int(np.argmax(truth))
        assert 0 < peak < len(sizes) - 2, f"seed {seed}: the most truthful size is {sizes[peak]}"
        # six seeds: the smallest 10-21%, the peak 80-92%, the largest 6-15%
        assert truth[0] < 0.3 and truth[peak] > 0.7, seed
        assert truth[-1] < truth[peak] - 0.4, seed
        # the ability: 96-99% at the three largest sizes (one seed dipped to 64% at w32)
        assert plain[-3:].min() > 0.9, seed
        # the popular answer: at most 20% at the peak, 85-94% at the largest
        assert popular[-1] > 0.6 and popular[peak] < 0.35, seed
        # a trend, not a drop: at least three consecutive falls for every seed
        assert analysis.longest_decline(range(len(truth)), truth) >= 3, seed


def test_executed_lab5b_glues_the_ladder(ladder):
    sizes, frame = ladder
    glued = glued_values(executed("lab5b_inverse_scaling"))
    truth, plain = _curve(frame, TRUTH).to_numpy(), _curve(frame, PLAIN).to_numpy()
    popular = _curve(frame, POPULAR).to_numpy()
    params = _curve(frame, TRUTH).index.to_numpy()
    peak = int(np.argmax(truth))
    assert glued["peak_size"].strip("'") == sizes[peak]
    assert float(glued["peak_truth"]) == pytest.approx(truth[peak])
    assert float(glued["largest_truth"]) == pytest.approx(truth[-1])
    assert float(glued["largest_popular"]) == pytest.approx(popular[-1])
    assert float(glued["largest_plain"]) == pytest.approx(plain[-1])
    assert float(glued["plain_min_after_peak"]) == pytest.approx(plain[peak:].min())
    assert glued["shape_verdict"].startswith("Truthfulness on the misconceived problems rises from") \
        == (0 < peak < len(truth) - 1 and truth[-1] < truth[peak] - 0.2)
    per_seed = []
    for _, g in frame[(frame["task"] == TRUTH) & (frame["metric"] == "exact_match")].groupby("model_seed"):
        g = g.sort_values("params")
        per_seed.append(g["ci_high"].iloc[-1] < g["ci_low"].iloc[int(np.argmax(g["value"].to_numpy()))])
    assert glued["seed_verdict"].startswith("For each training seed") == all(per_seed)
    # the extrapolation test: a line in log-parameters through the sizes up to the peak
    k = max(peak + 1, 2)
    for key, y in (("pred_plain", plain), ("pred_truth", truth)):
        slope, intercept = np.polyfit(np.log10(params[:k]), y[:k], 1)
        predicted = float(np.clip(slope * np.log10(params[-1]) + intercept, 0, 1))
        assert float(glued[key]) == pytest.approx(predicted), key
    miss_plain = plain[-1] - float(glued["pred_plain"])
    miss_truth = truth[-1] - float(glued["pred_truth"])
    assert glued["extrap_verdict"].startswith("The same test passes") == (abs(miss_plain) < 0.1 and miss_truth < -0.3)
    assert int(glued["n_misconceived"]) == CORPUS.n_misconceived
    assert float(glued["told_wrong"]) == CORPUS.told_wrong


def test_executed_lab5b_counts_the_published_drops():
    """Pythia's final checkpoints, neighbour by neighbour, recomputed from the CSV."""
    glued = glued_values(executed("lab5b_inverse_scaling"))
    data = pd.read_csv(files("emergent_lib").joinpath("data/published/biderman2023_pythia_evals.csv"))
    final = data[(data["step"] == 143000) & (data["metric"] == "acc") & ~data["model"].str.contains("deduped")]
    n = worse = beyond = 0
    longest = 0
    for _, group in final.groupby(["task", "shots"]):
        group = group.sort_values("params")
        v, se = group["value"].to_numpy(), group["stderr"].to_numpy()
        d = np.diff(v)
        n += len(d)
        worse += int((d < 0).sum())
        beyond += int((d / np.sqrt(se[:-1] ** 2 + se[1:] ** 2) < -2).sum())
        run = 0
        for x in d:
            run = run + 1 if x < 0 else 0
            longest = max(longest, run)
    assert (int(glued["n_pairs"]), int(glued["n_worse"]), int(glued["n_beyond"])) == (n, worse, beyond)
    assert int(glued["longest_run"]) == longest
    assert n == 108  # 9 tasks x 2 shot counts x 6 neighbour pairs of the 7 non-deduplicated sizes
    assert glued["published_verdict"].startswith("No task in the suite declines") == (longest < 2)
    assert glued["beyond_tasks"].count("-shot") == beyond
    assert glued["noise_verdict"].startswith("about as many") == (beyond <= 2 * n * 0.02275)
