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

from emergent_lib.prompting import build_prompt, extract_prediction, scratchpad_parts
from emergent_lib.strategies import majority_vote
from emergent_lib.tasks import get_task, split_examples
from emergent_lib.toy import FAMILIES
from emergent_lib.toy.tokenizer import VOCAB
from emergent_lib.toy.training import TARGETS, TrainConfig, training_text
from executed_labs import executed
from executed_labs import glued as glued_values

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "lab3_prompting_strategies.md"
CHAPTER = ROOT / "book" / "strategies.md"
TASK = "addition-2d"
LADDERS = {"direct": "addition-2d-direct", "scratchpad": "addition-2d-scratchpad"}
N = 200  # Lab 3's test problems per toy model (seed 0)
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


def test_the_two_ladders_differ_only_in_what_they_learn_to_write():
    direct, pad = (asdict(FAMILIES[name].train) for name in LADDERS.values())
    assert {k for k in direct if direct[k] != pad[k]} == {"target"}
    assert (direct["target"], pad["target"]) == ("answer", "scratchpad")
    assert FAMILIES[LADDERS["direct"]].task == FAMILIES[LADDERS["scratchpad"]].task == TASK
    # the scratchpad sizes are a prefix of the direct ladder: each has a same-size baseline
    pad_sizes = FAMILIES[LADDERS["scratchpad"]].sizes
    assert FAMILIES[LADDERS["direct"]].sizes[:len(pad_sizes)] == pad_sizes


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
    """Lab 3's evaluations of both ladders (n=200, seed 0, zero-shot), from the sweep cache."""
    from emergent_lib.sweep import run_sweep
    from emergent_lib.toy import get_family

    out = {}
    for strategy, name in LADDERS.items():
        zoo = get_family(name, progress=False)
        specs = [f"toy/{name}/{m['size']}/seed0" for m in zoo]
        frame = run_sweep(models=specs, tasks=[TASK], shots=[0], seeds=[0], n=N, strategy=strategy,
                          keep_records=True, progress=False)
        em = frame[frame["metric"] == "exact_match"].set_index("model")
        out[strategy] = {
            "sizes": [m["size"] for m in zoo],
            "params": np.array([m["params_non_embedding"] for m in zoo], dtype=float),
            "flops": np.array([m["train_flops"] for m in zoo], dtype=float),
            "tokens": np.array([m["tokens_seen"] for m in zoo], dtype=float),
            "em": np.array([em.loc[s, "value"] for s in specs]),
            "records": [frame.attrs["records"][(s, TASK, 0, 0)] for s in specs],
        }
    return out


def _problems(records):
    return [tuple(map(int, re.search(r"(\d+) \+ (\d+) =", r["prompt"]).groups())) for r in records]


def test_both_ladders_answer_the_same_problems(ladders):
    direct, pad = ladders["direct"]["records"][0], ladders["scratchpad"]["records"][0]
    assert len(direct) == len(pad) == N
    assert _problems(direct) == _problems(pad)
    assert pad[0]["prompt"] == f"Input: {direct[0]['prompt']}\n<scratch>"


def test_scratchpad_models_saw_about_ten_times_the_tokens(ladders):
    ratio = ladders["scratchpad"]["tokens"] / ladders["direct"]["tokens"][:len(ladders["scratchpad"]["tokens"])]
    assert np.all((ratio > 8) & (ratio < 11))
    # the direct ladder reaches the compute of the largest scratchpad model (within 10%)
    assert ladders["direct"]["flops"].max() > 0.9 * ladders["scratchpad"]["flops"].max()


def test_scratchpad_exact_match_rises_with_size(ladders):
    em = ladders["scratchpad"]["em"]
    assert np.all(np.diff(em) > 0), em
    assert em[0] < 0.05 and em[-1] > 0.95


def test_scratchpad_beats_direct_by_a_wide_margin_at_the_top(ladders):
    pad, direct = ladders["scratchpad"], ladders["direct"]
    top = len(pad["em"]) - 1
    assert pad["em"][top] - direct["em"][top] > 0.8  # same size
    assert pad["em"][top] - direct["em"].max() > 0.8  # any direct model, up to 9x the size
    assert direct["em"].max() < 0.2  # the direct format is not learned at this budget


def test_the_scratchpad_pays_only_above_a_size(ladders):
    """Lab 3's answer: below the first size at which the scratchpad wins (per parameter and per
    FLOP), it is no better than answering directly; from that size on it wins by a lot."""
    pad, direct = ladders["scratchpad"], ladders["direct"]
    k = len(pad["em"])
    same_size = direct["em"][:k]
    order = np.argsort(direct["flops"])
    same_flops = np.interp(np.log10(pad["flops"]), np.log10(direct["flops"][order]), direct["em"][order])
    wins = (pad["em"] > same_size) & (pad["em"] > same_flops)
    first = int(np.argmax(wins))
    assert wins[first] and first >= 1, "the scratchpad should not pay at the smallest size"
    assert np.all(wins[first:])
    assert np.all(pad["em"][:first] <= same_size[:first])
    assert np.all(pad["em"][first:] - same_flops[first:] > 0.5)
    assert pad["sizes"][first] == "w48-l2"  # the size the lab reports (seeded, deterministic)


def test_small_scratchpad_models_fail_at_copying_the_digits(ladders):
    """Lab 3: the smallest scratchpad model writes well-formed scratchpads whose column
    digits are almost never the question's; at the top, copying is (nearly) always right."""
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
    assert copy_rate(records[0]) < 0.05
    assert copy_rate(records[-1]) > 0.95
    formed = np.mean(["</scratch>\nAnswer: " in r["output"] for r in records[0]])
    assert formed > 0.8


def test_a_scratchpad_model_writes_a_scratchpad_that_extract_prediction_reads():
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
        assert extract_prediction(task, r["output"], "scratchpad") == r["prediction"]
        assert r["scratchpad"] == r["output"].split("</scratch>", 1)[0].strip()
        if r["prediction"] == ex.answer:
            right += 1
            # a right answer comes with exactly the worked steps it was trained on
            assert r["scratchpad"] == task.scratchpad_of(ex.fields)
    assert right >= 7


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
    from scipy.stats import binomtest

    rates = {k: np.mean([r["prediction"] == r["answer"] for r in recs]) for k, recs in real_records.items()}
    assert max(rates.values()) < 0.5, rates
    # the intervals of the best and the worst strategy overlap (the lab's verdict)
    hits = {k: sum(r["prediction"] == r["answer"] for r in recs) for k, recs in real_records.items()}
    best, worst = max(hits, key=hits.get), min(hits, key=hits.get)
    low = binomtest(hits[best], N_REAL).proportion_ci(method="exact").low
    high = binomtest(hits[worst], N_REAL).proportion_ci(method="exact").high
    assert low < high
    # self-consistency: every record holds its 5 samples and the vote over their answers
    for r in real_records[("self-consistency", 4)]:
        assert len(r["samples"]) == len(r["sample_predictions"]) == 5
        assert majority_vote(r["sample_predictions"])[0] == r["prediction"]


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
    assert glued["pay_size"] == "`w48-l2`"
    assert float(glued["pay_em"]) - float(glued["pay_direct_same"]) > 0.5
    assert float(glued["pay_em"]) - float(glued["pay_direct_flops"]) > 0.5
    assert float(glued["pad_top_em"]) > 0.95 and float(glued["direct_best_em"]) < 0.2
    assert glued["below_sentence"].startswith("Below that size the scratchpad models are worse")
    assert float(glued["copy_small"]) < 0.05 < 0.9 < float(glued["copy_pay"])
    assert glued["wrong_bad_pad"] == "every wrong answer came with a wrong scratchpad"
    assert float(glued["real_best_em"]) < 0.5
    assert glued["real_verdict"].startswith("Even the best and the worst strategy have overlapping")
    assert float(glued["true_steps"]) > 0.5 and float(glued["unit_starts"]) < 0.25
    assert 8 < float(glued["length_ratio"]) < 11
