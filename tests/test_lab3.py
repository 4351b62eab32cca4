"""Chapter 3 (Prompting strategies) and Lab 3: the claims they make, checked on computed values.

- the scratchpad training format: what a scratchpad toy model learns is exactly the text the
  "scratchpad" prompting strategy reads, in the toy vocabulary;
- the two toy ladders of Lab 3 (the cells the lab evaluates, read from the sweep cache): the
  scratchpad pays above a size, per parameter and per unit of compute, and not below it;
- a scratchpad-trained model writes a scratchpad that the strategy's answer extraction reads;
- SmolLM2-135M: no strategy makes it good at two-digit addition (the lab's cells);
- the chapter's sources and the executed lab (skipped when the book has not been built and
  EMERGENT_ALLOW_NO_BOOK=1).

The ladders' cells take about 15 s to compute when the sweep cache lacks them (the toy
families are trained by `make book`, or here on first use, a few minutes); SmolLM2's cells
take about 2 minutes cold, and are read from the cache after the book build.
"""
from __future__ import annotations

import ast
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from emergent_lib.prompting import build_prompt, scratchpad_parts
from emergent_lib.strategies import majority_vote
from emergent_lib.tasks import get_task, split_examples
from emergent_lib.toy import FAMILIES
from emergent_lib.toy.tokenizer import VOCAB
from emergent_lib.toy.training import TARGETS, TrainConfig, training_text
from executed_labs import executed
from executed_labs import glued as glued_values
from executed_labs import LAB3_LADDERS, LAB3_N, LAB3_TASK, lab3_ladders

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "lab3_prompting_strategies.md"
CHAPTER = ROOT / "book" / "strategies.md"
TASK, N, LADDERS = LAB3_TASK, LAB3_N, LAB3_LADDERS  # Lab 3's task, test problems and ladders
N_REAL = 12  # Lab 3's problems per SmolLM2 strategy
REAL_RUNS = [("direct", 0), ("direct", 4), ("instruction", 0), ("cot", 4), ("self-consistency", 4)]


# ----------------------------------------------------------------------------- the training format
def test_scratchpad_training_text_is_the_strategy_text_in_the_toy_vocabulary():
    task = get_task(TASK)
    examples = task.examples(50, seed=3)
    for ex in examples:
        prompt, continuation = training_text(task, ex, "scratchpad")
        opening, worked = scratchpad_parts(task, ex)
        assert prompt == build_prompt(task, ex, (), "scratchpad") == opening
        assert continuation == worked + "\n\n"
        assert continuation.endswith(f"</scratch>\nAnswer:{ex.target}\n\n")
        assert set(prompt + continuation) <= set(VOCAB), "a character outside the toy vocabulary"
        # the direct format is the question and the target, one line
        assert training_text(task, ex, "answer") == (ex.question, ex.target + "\n")
    # the zero-shot scratchpad prompt is the opening of the training text, nothing else
    ex = examples[0]
    assert build_prompt(task, ex, (), "scratchpad") == f"Input: {ex.question}\n<scratch>"


def test_train_config_rejects_an_unknown_target_with_a_message_naming_the_targets():
    assert TARGETS == ("answer", "scratchpad")
    with pytest.raises(ValueError) as err:
        TrainConfig(task=TASK, target="bogus")
    assert str(err.value) == "TrainConfig.target must be one of answer, scratchpad, got 'bogus'"
    with pytest.raises(ValueError) as err:
        training_text(get_task(TASK), get_task(TASK).examples(1, seed=0)[0], "bogus")
    assert str(err.value) == "unknown training target 'bogus'; known: answer, scratchpad"


def test_the_ladders_differ_only_in_what_they_learn_to_write_and_how_long():
    direct, pad, long = (asdict(FAMILIES[LADDERS[k]].train) for k in ("direct", "scratchpad", "direct-long"))
    assert {k for k in direct if direct[k] != pad[k]} == {"target"}
    assert (direct["target"], pad["target"]) == ("answer", "scratchpad")
    assert {k for k in direct if direct[k] != long[k]} == {"steps"}
    assert long["steps"] == 10 * direct["steps"]
    assert {FAMILIES[name].task for name in LADDERS.values()} == {TASK}
    # every scratchpad model has a same-size model in both direct ladders
    assert len({FAMILIES[name].sizes for name in LADDERS.values()}) == 1


def test_a_scratchpad_text_is_about_ten_times_as_long():
    """Chapter 3 and Lab 3: scratchpad models cost about ten times the compute per problem."""
    task = get_task(TASK)
    sample = task.examples(500, seed=1)
    length = {t: np.mean([1 + len("".join(training_text(task, ex, t))) for ex in sample]) for t in TARGETS}
    assert 8 < length["scratchpad"] / length["answer"] < 11


def test_majority_vote_ties_go_to_the_first_sampled_answer():
    assert majority_vote(["71", "61", "61", "71"]) == ("71", {"71": 2, "61": 2})
    assert majority_vote(["61", "71", "71", "61"]) == ("61", {"61": 2, "71": 2})
    assert majority_vote(["", "60", "61"]) == ("60", {"60": 1, "61": 1})  # empty answers do not vote
    # the chapter's example: five chains, one unreadable
    assert majority_vote(["61", "71", "61", "", "60"]) == ("61", {"61": 2, "71": 1, "60": 1})


# ----------------------------------------------------------------------------- the two toy ladders
@pytest.fixture(scope="module")
def ladders():
    """Lab 3's evaluations of its three ladders, from the sweep cache (`lab3_ladders`)."""
    return lab3_ladders()


def _problems(records):
    return [tuple(map(int, re.search(r"(\d+) \+ (\d+) =", r["prompt"]).groups())) for r in records]


def test_both_ladders_answer_the_same_problems(ladders):
    direct, pad = ladders["direct"]["records"][0], ladders["scratchpad"]["records"][0]
    assert len(direct) == len(pad) == N
    assert _problems(direct) == _problems(pad)
    assert pad[0]["prompt"] == f"Input: {direct[0]['prompt']}\n<scratch>"


def test_scratchpad_models_saw_about_ten_times_the_tokens(ladders):
    ratio = ladders["scratchpad"]["tokens"] / ladders["direct"]["tokens"]
    assert np.all((ratio > 8) & (ratio < 11))
    # a direct-long model costs about what the scratchpad model of its size costs
    compute = ladders["direct-long"]["flops"] / ladders["scratchpad"]["flops"]
    assert np.all((compute > 0.85) & (compute < 1.15)), compute


def _correct(records):
    return np.array([r["prediction"] == r["answer"] for r in records])


def _paired_p(a, b):
    """Two-sided binomial p of the problems only one of two models got right."""
    from scipy.stats import binomtest

    ca, cb = _correct(a), _correct(b)
    only_a, only_b = int((ca & ~cb).sum()), int((cb & ~ca).sum())
    return binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0


# The margins below were measured over six training seeds (0-5) in the pinned numeric mode
# (zoo.py has the table), so they hold whatever seed or machine trained the ladders.
def test_scratchpad_exact_match_rises_with_size(ladders):
    em = ladders["scratchpad"]["em"]
    assert em[0] < 0.05 and em[-1] > 0.9, em  # six seeds: at most 1.5%, at least 94%
    assert min(em[-2:]) > max(em[:2]) + 0.4, em  # six seeds: w48 >= 65% > w32 <= 9%


def test_at_equal_problems_the_scratchpad_wins_at_the_top(ladders):
    pad, direct = ladders["scratchpad"], ladders["direct"]
    assert pad["em"][-1] - direct["em"][-1] > 0.7  # six seeds: at least 77 points
    assert pad["em"][-1] - direct["em"].max() > 0.7
    assert direct["em"].max() < 0.3  # six seeds: at most 18.5%: the direct format is not learned


def test_at_equal_problems_the_scratchpad_pays_only_above_a_size(ladders):
    """Lab 3's answer: below the first size at which the scratchpad is significantly better
    than the direct model of its size, it is not significantly better; from there on it is."""
    pad, direct = ladders["scratchpad"], ladders["direct"]
    p = np.array([_paired_p(a, b) for a, b in zip(pad["records"], direct["records"])])
    wins = (pad["em"] > direct["em"]) & (p < 0.05)
    first = int(np.argmax(wins))
    assert wins[first] and np.all(wins[first:]), (pad["em"], direct["em"], p)
    assert not wins[:first].any()
    assert pad["sizes"][first] == "w48-l2"  # every one of six seeds (w32: 2.5-9% vs 7-12%)


def test_at_equal_compute_the_direct_format_catches_up(ladders):
    """Trained on ten times the problems, the direct models do at least as well as the
    scratchpad models at the top of the ladder."""
    pad, long = ladders["scratchpad"], ladders["direct-long"]
    assert long["em"][-1] > 0.95, long["em"]  # six seeds: at least 99%
    for a, b in zip(pad["records"], long["records"]):  # six seeds: never significantly behind
        assert _correct(a).mean() <= _correct(b).mean() or _paired_p(a, b) >= 0.05


def test_small_scratchpad_models_fail_at_copying_the_digits(ladders):
    """Lab 3: the smallest scratchpad model writes mostly well-formed scratchpads whose column
    digits are almost never the question's; at the top, copying is nearly always right."""
    task = get_task(TASK)
    line = re.compile(r"^(\d) \+ (\d) \+ (\d) = (\d+), so far (\d+), carry (\d)$")

    def copy_rate(records):
        hits = []
        for r, (a, b) in zip(records, _problems(records)):
            want = task.scratchpad_of({"a": a, "b": b}).split("\n")
            wrote = r["output"].split("</scratch>")[0].strip("\n").split("\n")
            for k, t in enumerate(want):
                mt, mw = line.match(t), line.match(wrote[k] if k < len(wrote) else "")
                if mt:
                    hits.append(bool(mw) and mw.group(1, 2) == mt.group(1, 2))
        return np.mean(hits)

    records = ladders["scratchpad"]["records"]
    assert copy_rate(records[0]) < 0.05  # six seeds: 0.5-1.8%
    assert copy_rate(records[-1]) > 0.9  # six seeds: 96.7-100%
    formed = np.mean(["</scratch>\nAnswer: " in r["output"] for r in records[0]])
    assert formed > 0.5  # six seeds: 62-100%


def test_a_scratchpad_model_writes_a_scratchpad_whose_answer_line_is_the_prediction():
    from emergent_lib.models import load
    from emergent_lib.strategies import run_strategy
    from emergent_lib.toy import get_family

    name = LADDERS["scratchpad"]
    top = FAMILIES[name].sizes[-1]
    get_family(name, sizes=[top], seeds=[0], progress=False)
    lm = load(f"toy/{name}/{top}/seed0")
    task = get_task(TASK)
    examples, pool = split_examples(task, 8, 4, seed=11)
    records = run_strategy(lm, task, examples, pool, 0, "scratchpad", batch_size=8)
    assert [r["prompt"] for r in records] == [f"Input: {ex.question}\n<scratch>" for ex in examples]
    right = 0
    for r, ex in zip(records, examples):
        assert "</scratch>" in r["output"] and "\nAnswer:" in r["output"], r["output"]
        # the answer on the line after the closing tag, as the model was trained to write it
        assert r["prediction"] == re.search(r"</scratch>\nAnswer: (\d+)", r["output"]).group(1), r["output"]
        assert r["scratchpad"] == r["output"].split("</scratch>", 1)[0].strip()
        if r["prediction"] == ex.answer:
            right += 1
            # a right answer comes with exactly the worked steps it was trained on
            assert r["scratchpad"] == task.scratchpad_of(ex.fields)
    assert right >= 6  # six seeds: the top scratchpad model solves 94-99.5% of 200 problems


# ----------------------------------------------------------------------------- SmolLM2
@pytest.fixture(scope="module")
def real_records():
    """Lab 3's SmolLM2-135M cells (n=12, seed 0): read from the cache after the book build."""
    from emergent_lib.sweep import run_sweep

    out = {}
    for strategy, shots in REAL_RUNS:
        frame = run_sweep(models=["smollm2-135m"], tasks=[TASK], shots=[shots], seeds=[0], n=N_REAL,
                          strategy=strategy, keep_records=True, progress=False)
        out[(strategy, shots)] = frame.attrs["records"][("smollm2-135m", TASK, shots, 0)]
    return out


def test_no_strategy_makes_smollm2_good_at_two_digit_addition(real_records):
    """Below 6 of 12 right, the best and the worst strategy's exact intervals always overlap
    (5/12 and 0/12 do), so the lab's "overlapping intervals" verdict rests on this bound."""
    from collections import Counter

    rates = {k: np.mean([r["prediction"] == r["answer"] for r in recs]) for k, recs in real_records.items()}
    assert max(rates.values()) < 0.5, rates
    # self-consistency: every record holds its 5 samples, each read at its last "The answer is",
    # and the prediction is an answer with the most votes
    for r in real_records[("self-consistency", 4)]:
        assert len(r["samples"]) == len(r["sample_predictions"]) == 5
        for sample, read in zip(r["samples"], r["sample_predictions"]):
            stated = re.findall(r"[Tt]he answer is (-?\d+)", sample)
            if stated:
                assert read == stated[-1], sample
        votes = Counter(p for p in r["sample_predictions"] if p)
        assert votes[r["prediction"]] == max(votes.values()), (r["prediction"], votes)


def test_smollm2_chains_do_easy_sums_on_the_wrong_digits(real_records):
    """Lab 3's reading of the chains: most written one-digit sums are true, but few chains
    start from the units digits of the question."""
    equation = re.compile(r"(\d+) \+ (\d+)(?: \+ (\d+))? = (\d+)")
    true, starts = [], []
    chains = [(r, r["output"]) for r in real_records[("cot", 4)]]
    chains += [(r, s) for r in real_records[("self-consistency", 4)] for s in r["samples"]]
    for r, text in chains:
        a, b = map(int, re.search(r"What is (\d+) \+ (\d+)\?\nA:$", r["prompt"]).groups())
        steps = equation.findall(text)
        true += [int(x) + int(y) + int(c or 0) == int(s) for x, y, c, s in steps]
        starts.append(bool(steps) and {int(steps[0][0]), int(steps[0][1])} == {a % 10, b % 10})
    assert np.mean(true) > 0.5
    assert np.mean(starts) < 0.25


# ----------------------------------------------------------------------------- the chapter's sources
def test_chapter_3_is_part_ii_with_the_lab_as_its_section():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    captions = [part["caption"] for part in toc["parts"]]
    assert captions[:4] == ["Part I. What emergence is", "Part II. Drawing it out",
                            "Part III. Why it happens", "Part IV. Coursework"]
    part = toc["parts"][1]
    assert [ch["file"] for ch in part["chapters"]] == ["book/strategies"]
    assert part["chapters"][0]["sections"] == [{"file": "labs/lab3_prompting_strategies"}]
    chapters = [ch["file"] for p in toc["parts"] for ch in p["chapters"]]
    assert chapters.index("book/strategies") == chapters.index("book/evidence") + 1
    assert chapters.index("book/explanations") == chapters.index("book/strategies") + 1


def test_chapter_builds_every_prompt_with_the_library():
    """The prompts on the page come from emergent_lib, so they cannot drift from the code."""
    text = CHAPTER.read_text()
    for strategy in ("direct", "cot", "scratchpad", "instruction"):
        assert re.search(rf'build_prompt\(task, item, (?:\(\)|shots), "{strategy}"', text), strategy
    for builder in ("zero_shot_cot_prompt(", "zero_shot_cot_answer_prompt(", "decompose_prompt(",
                    "solve_prompt(", "majority_vote("):
        assert builder in text
    assert "{doc}`../labs/lab3_prompting_strategies`" in text
    assert re.search(r"^# ", text, re.MULTILINE)


def test_lab3_states_its_measured_time_and_uses_the_cells_the_tests_read():
    text = LAB.read_text()
    assert re.search(r"\*\*Time:\*\* \d+ min \d+ s measured", text)
    assert f"N = {N}\n" in text and f"N_REAL = {N_REAL} " in text
    runs = re.search(r"^RUNS = (\[.*\])$", text, re.MULTILINE)
    assert runs and ast.literal_eval(runs.group(1)) == REAL_RUNS


# ----------------------------------------------------------------------------- the executed lab
def test_executed_lab3_says_what_the_tests_check():
    glued = glued_values(executed(LAB.stem))
    # equal problems: the size (the same for six seeds) and margins that held for all six
    assert glued["pay_size"] == "`w48-l2`"
    assert glued["pay_sentence"].startswith("At equal problems the scratchpad first pays at `w48-l2`")
    assert float(glued["pay_em"]) - float(glued["pay_direct_same"]) > 0.4
    assert float(glued["pad_top_em"]) > 0.9 and float(glued["direct_best_em"]) < 0.3
    worse = re.match(r"Below that size the scratchpad models are worse than the direct models of the "
                     r"same size at (\d+) of (\d+) sizes", glued["below_sentence"])
    assert worse, glued["below_sentence"]
    if float(glued["pad_small_em"]) < float(glued["direct_small_em"]):
        assert int(worse.group(1)) >= 1
    assert float(glued["copy_small"]) < 0.05 and float(glued["copy_pay"]) > 0.85  # six seeds: <1.8%, >91%
    assert glued["wrong_bad_pad"] == "every wrong answer came with a wrong scratchpad" or \
        re.fullmatch(r"at least \d+% of the wrong answers came with a wrong scratchpad", glued["wrong_bad_pad"])
    # equal compute: the verdict follows the paired tests the sentence reports
    sentence = glued["compute_sentence"]
    pad_better = re.search(r"and the scratchpad at (.*?) \(paired tests", sentence).group(1)
    assert (pad_better == "none") == (glued["pad_never_wins_at_equal_compute"] == "yes")
    assert ("buys data efficiency, not compute efficiency" in sentence) == (pad_better == "none")
    assert 0.85 < float(glued["compute_low"]) <= float(glued["compute_high"]) < 1.15
    # SmolLM2
    assert float(glued["real_best_em"]) < 0.5
    assert glued["real_verdict"].startswith("Even the best and the worst strategy have overlapping")
    assert float(glued["true_steps"]) > 0.5 and float(glued["unit_starts"]) < 0.25
    assert 8 < float(glued["length_ratio"]) < 11


def test_executed_lab3_verdicts_follow_the_ladders_and_the_chains(ladders, real_records):
    """The verdicts added to Lab 3's text, each against the evaluations recomputed here."""
    glued = glued_values(executed(LAB.stem))
    pad, direct, long = ladders["scratchpad"], ladders["direct"], ladders["direct-long"]
    steps = {k: asdict(FAMILIES[LADDERS[k]].train)["steps"] for k in ("direct", "direct-long")}
    assert float(glued["long_factor"]) == steps["direct-long"] / steps["direct"]
    assert float(glued["long_top_em"]) == pytest.approx(long["em"][-1])
    # equal compute, size by size: the plain-text verdict the chapter pastes
    long_better = sum(b.mean() > a.mean() and _paired_p(ra, rb) < 0.05 for ra, rb, a, b in
                      ((ra, rb, _correct(ra), _correct(rb)) for ra, rb in zip(pad["records"], long["records"])))
    pad_better = sum(a.mean() > b.mean() and _paired_p(ra, rb) < 0.05 for ra, rb, a, b in
                     ((ra, rb, _correct(ra), _correct(rb)) for ra, rb in zip(pad["records"], long["records"])))
    text = glued["compute_verdict_text"].strip("'\"")
    assert text.endswith(f"better at {long_better} of {len(pad['sizes'])} sizes and the scratchpad at {pad_better}"), text
    assert glued["compute_sentence"].startswith("At equal compute the verdict is different")  == (pad_better == 0)
    # equal problems: the Figure-3 shape holds when the scratchpad first pays above the smallest size
    p = np.array([_paired_p(a, b) for a, b in zip(pad["records"], direct["records"])])
    wins = (pad["em"] > direct["em"]) & (p < 0.05)
    shape = wins.any() and not wins[0]
    assert glued["figure3_sentence"].startswith("Given the same training problems, this is the shape") == shape
    # SmolLM2: the opening verdict, the chains and the vote
    rates = {k: np.mean([r["prediction"] == r["answer"] for r in recs]) for k, recs in real_records.items()}
    assert glued["real_opening"].startswith("No strategy makes SmolLM2 good") == (max(rates.values()) < 0.5)
    assert (f"chain of thought solves {rates[('cot', 4)]:.0%} of the problems and plain 4-shot prompting "
            f"{rates[('direct', 4)]:.0%}") in glued["cot_text"]
    assert glued["chain_sentence"].startswith("But they are sums of the wrong numbers") == \
        (float(glued["unit_starts"]) < 0.5)
    assert glued["true_words"].endswith("even true") == (float(glued["true_steps"]) > 0.5)
    vote = rates[("self-consistency", 4)]
    assert (glued["vote_noise"] == "for this one it is noise") == (vote < 0.5)
    # the product of the per-line rates against exact match
    assert glued["product_sentence"].startswith("exact match behaves roughly like") == \
        (float(glued["product_gap"]) <= 0.1)
