"""Tasks, prompts, metrics and analysis: fast tests with no model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from emergent_lib.analysis import breakthroughness, extrapolate_linear, fit_sigmoid, linearity, threshold_crossing
from emergent_lib.metrics import bootstrap_ci, brier_score, digit_accuracy, edit_distance, edit_similarity, per_example, score
from emergent_lib.prompting import build_prompts
from emergent_lib.errors import UnknownNameError
from emergent_lib.tasks import TaskError, get_task, list_tasks, load_task_yaml, split_examples


def test_arithmetic_examples_are_seeded_and_correct():
    task = get_task("addition-3d")
    a = task.examples(50, seed=3)
    assert a == task.examples(50, seed=3)
    assert a != task.examples(50, seed=4)
    for ex in a:
        x, y = ex.question.rstrip("=").split("+")
        assert int(ex.answer) == int(x) + int(y) and ex.target == " " + ex.answer
        assert 0 <= int(x) < 1000 and 0 <= int(y) < 1000
    sub = get_task("subtraction-2d").examples(20, seed=0)
    assert all(int(e.answer) == eval(e.question.rstrip("=")) for e in sub)


def test_full_operands_have_every_digit():
    """`-full` tasks draw both operands with exactly n digits; the plain ones start at 0."""
    full, plain = get_task("addition-3d-full"), get_task("addition-3d")
    operands = lambda ex: [int(x) for x in ex.question.rstrip("=").split("+")]
    for ex in full.examples(300, seed=0):
        assert all(100 <= x <= 999 for x in operands(ex)) and int(ex.answer) == sum(operands(ex))
    assert any(x < 100 for ex in plain.examples(300, seed=0) for x in operands(ex))
    assert full.max_unique == 900 ** 2 and plain.max_unique == 1000 ** 2
    assert full.chance["exact_match"] == 1 / (2 * (999 - 100) + 1)  # answers 200 to 1998
    assert (full.template, full.target_template) == (plain.template, plain.target_template)
    small = get_task("multiplication-1d-full").examples(81, seed=0)  # all 9 x 9 problems
    assert {int(e.answer) for e in small} == {a * b for a in range(1, 10) for b in range(1, 10)}


def test_exemplars_never_overlap_test_items():
    for name in ["addition-1d", "unscramble-cycle", "modadd-7"]:
        task = get_task(name)
        n_test = 30 if task.max_unique is None or task.max_unique > 60 else 20
        test, pool = split_examples(task, n_test, 16, seed=1)
        key = (lambda e: e.answer) if task.distinct_by == "answer" else (lambda e: e.question)
        assert not {key(e) for e in test} & {key(e) for e in pool}
        assert len({key(e) for e in test}) == n_test


def test_too_many_items_for_a_small_task():
    with pytest.raises(TaskError, match="has only 49 distinct items"):
        split_examples(get_task("modadd-7"), 40, 10)


def test_unscramble_keeps_letters_and_ends():
    for ex in get_task("unscramble-anagram").examples(40, seed=0):
        scrambled = ex.question.split(" ")[0]
        assert sorted(scrambled) == sorted(ex.answer)
        assert scrambled[0] == ex.answer[0] and scrambled[-1] == ex.answer[-1]
    for ex in get_task("unscramble-cycle").examples(40, seed=0):
        scrambled = ex.question.split(" ")[0]
        assert scrambled != ex.answer and scrambled in ex.answer + ex.answer


def test_few_shot_prompt_format():
    task = get_task("addition-2d")
    test, pool = split_examples(task, 2, 4, seed=0)
    prompts = build_prompts(task, test, pool, 3)
    lines = prompts[0].split("\n")
    assert len(lines) == 4 and lines[-1] == test[0].question
    assert all(line == f"{e.question}{e.target}" for line, e in zip(lines[:3], pool))
    assert build_prompts(task, test, pool, 0)[1] == test[1].question
    unscramble = get_task("unscramble-cycle")
    t, p = split_examples(unscramble, 1, 2, seed=0)
    assert build_prompts(unscramble, t, p, 1)[0].startswith("Unscramble the letters into an English word.\n")


def test_unknown_names_say_what_exists():
    with pytest.raises(UnknownNameError) as err:
        get_task("adition-3d")
    assert "Did you mean 'addition-3d'?" in str(err.value) and "Known tasks:" in str(err.value)
    with pytest.raises(UnknownNameError, match="unknown prompting strategy 'chain'"):
        build_prompts(get_task("addition-1d"), [], [], 0, strategy="chain")
    with pytest.raises(UnknownNameError, match="unknown metric 'acuracy'"):
        per_example([], "acuracy")
    with pytest.raises(TaskError, match="must be positive, got n=0"):
        split_examples(get_task("addition-1d"), 0, 1)
    assert "addition-3d" in list_tasks() and "unscramble-reverse" in list_tasks()


CAPITALS = """
name: capitals
description: capital cities
template: "Q: What is the capital of {country}?\\nA:"
target: " {capital}"
items:
  - {country: France, capital: Paris}
  - {country: Japan, capital: Tokyo}
  - {country: Kenya, capital: Nairobi}
  - {country: Peru, capital: Lima}
"""


def test_yaml_task_roundtrip(tmp_path):
    path = tmp_path / "capitals.yaml"
    path.write_text(CAPITALS)
    task = get_task(str(path))
    test, pool = split_examples(task, 2, 2, seed=0)
    assert {e.answer for e in test + pool} == {"Paris", "Tokyo", "Nairobi", "Lima"}
    ex = next(e for e in test + pool if e.answer == "Tokyo")
    assert ex.question == "Q: What is the capital of Japan?\nA:" and ex.target == " Tokyo"


def test_yaml_budget_covers_the_longest_target(tmp_path):
    """Without max_new_tokens a YAML task allows 16 tokens, or more where a target is longer."""
    path = tmp_path / "capitals.yaml"
    path.write_text(CAPITALS)
    assert load_task_yaml(path).max_new_tokens == 16
    path.write_text(CAPITALS + "  - {country: Wales, capital: Llanfairpwllgwyngyllgogerychwyrndrobwll}\n")
    assert load_task_yaml(path).max_new_tokens == len(" Llanfairpwllgwyngyllgogerychwyrndrobwll") + 2
    path.write_text(CAPITALS + "max_new_tokens: 4\n")
    assert load_task_yaml(path).max_new_tokens == 4  # an explicit budget is the author's


@pytest.mark.parametrize("text, message", [
    (CAPITALS.replace("target:", "targt:"), "missing required field 'target'"),
    (CAPITALS.replace('template: "Q: What is the capital of {country}?\\nA:"', 'template: "{land}?"'),
     "field 'template' uses {land}, which item 0 does not have"),
    (CAPITALS + "metric: [exact_match]\n", "unknown field 'metric'. Did you mean 'metrics'?"),
    ("items: [1, 2\n", "is not valid YAML"),
    (CAPITALS.replace("items:", "items: 3\nold:"), "field 'items' must be a non-empty list of mappings"),
])
def test_malformed_yaml_names_the_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TaskError) as err:
        load_task_yaml(path)
    assert message in str(err.value)


def test_metric_values():
    assert digit_accuracy("1057", "1057") == 1.0
    assert digit_accuracy("1047", "1057") == 0.75
    assert digit_accuracy("57", "1057") == 0.5
    assert digit_accuracy("", "12") == 0.0
    assert edit_distance("kitten", "sitting") == 3
    assert edit_similarity("abcd", "abce") == 0.75
    assert brier_score([0.0, 0.0], 0) == pytest.approx(0.5)
    assert brier_score([0.0, -50.0], 0) == pytest.approx(0.0, abs=1e-12)


def test_score_reports_chance_and_ci():
    task = get_task("addition-2d")
    records = [{"prediction": "12", "answer": "12", "answer_logprob": -0.5, "token_accuracy": 1.0},
               {"prediction": "13", "answer": "12", "answer_logprob": -3.0, "token_accuracy": 0.5}] * 10
    s = score(records, task)
    assert s["exact_match"]["value"] == 0.5 and s["digit_accuracy"]["value"] == 0.75
    assert s["answer_logprob"]["value"] == pytest.approx(-1.75)
    assert s["exact_match"]["ci_low"] < 0.5 < s["exact_match"]["ci_high"]
    assert s["digit_accuracy"]["chance"] == 0.1 and s["exact_match"]["chance"] == pytest.approx(1 / 199)
    assert score(records, task) == s  # seeded bootstrap: same numbers every time


def test_bootstrap_ci_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small, large = rng.random(50) < 0.3, rng.random(5000) < 0.3
    lo1, hi1 = bootstrap_ci(small)
    lo2, hi2 = bootstrap_ci(large)
    assert hi2 - lo2 < (hi1 - lo1) / 5 and lo2 < 0.3 < hi2


def test_breakthroughness_separates_jump_from_climb():
    x = np.logspace(4, 6, 6)
    jump = np.array([0.0, 0.0, 0.01, 0.5, 0.97, 1.0])
    climb = np.linspace(0.3, 1.0, 6)
    assert breakthroughness(x, jump) > 3 * breakthroughness(x, climb)
    assert linearity(x, climb) == pytest.approx(5.0)  # five equal steps
    assert breakthroughness(x, climb) == pytest.approx(5.0)
    assert breakthroughness(x, climb[::-1]) < 0  # getting worse with scale


def test_sigmoid_fit_recovers_threshold():
    x = np.logspace(3, 7, 12)
    true = 0.02 + 0.96 / (1 + np.exp(-(np.log10(x) - 5.0) / 0.15))
    fit = fit_sigmoid(x, true, floor=0.02)
    assert math.log10(fit.midpoint) == pytest.approx(5.0, abs=0.01) and fit.width == pytest.approx(0.15, abs=0.01)
    assert threshold_crossing(x, true, 0.5) == pytest.approx(1e5, rel=0.15)
    # a line through the small models predicts almost nothing of the jump
    pred = extrapolate_linear(x, true, 5, x[-1:])
    assert pred[0] < 0.2 < true[-1]


def test_mc_accuracy_is_the_share_of_items_whose_likeliest_choice_is_the_label():
    # the likeliest choice is at position 0, 1, 2, 2 and the labels are 0, 1, 2, 0
    logprobs = [[-0.1, -2.0, -3.0], [-3.0, -0.5, -2.0], [-4.0, -5.0, -0.2], [-9.0, -3.0, -1.0]]
    records = [{"choice_logprobs": lp, "label": label} for lp, label in zip(logprobs, [0, 1, 2, 0])]
    assert per_example(records, "mc_accuracy").tolist() == [1.0, 1.0, 1.0, 0.0]
    compare = get_task("compare-2d")
    assert score(records, compare, ["mc_accuracy"], ci=False)["mc_accuracy"]["value"] == 0.75
    # the scale of the log-probs does not matter, only which choice is likeliest
    shifted = [{"choice_logprobs": [v - 40 for v in r["choice_logprobs"]], "label": r["label"]} for r in records]
    assert per_example(shifted, "mc_accuracy").tolist() == [1.0, 1.0, 1.0, 0.0]


QUIZ = """name: quiz
template: "Q: Which city is the capital of {country}?\\nA:"
target: " {capital}"
choices: [" {c0}", " {c1}", " {c2}"]
label: right
items:
  - {country: France, capital: Paris, c0: Paris, c1: Lyon, c2: Nice, right: 0}
  - {country: Italy, capital: Rome, c0: Milan, c1: Rome, c2: Turin, right: 1}
  - {country: Spain, capital: Madrid, c0: Seville, c1: Bilbao, c2: Madrid, right: 2}
  - {country: Peru, capital: Lima, c0: Cusco, c1: Lima, c2: Arequipa, right: 1}
"""


def test_yaml_multiple_choice_task(tmp_path):
    from emergent_lib.evaluate import make_record

    path = tmp_path / "quiz.yaml"
    path.write_text(QUIZ)
    task = load_task_yaml(path)
    assert task.metrics == ("mc_accuracy", "brier") and task.chance["mc_accuracy"] == pytest.approx(1 / 3)
    items = {ex.fields["country"]: ex for ex in task.examples(4, seed=0)}
    assert sorted(items) == ["France", "Italy", "Peru", "Spain"]
    italy = items["Italy"]
    assert italy.question == "Q: Which city is the capital of Italy?\nA:" and italy.target == " Rome"
    assert italy.answer == "Rome" and italy.choices == (" Milan", " Rome", " Turin") and italy.label == 1
    assert {c: items[c].label for c in items} == {"France": 0, "Italy": 1, "Spain": 2, "Peru": 1}
    assert all(ex.choices[ex.label] == ex.target for ex in items.values())
    # scored on known log-probs: right for France and Spain, wrong for Italy and Peru
    likeliest = {"France": 0, "Italy": 2, "Spain": 2, "Peru": 0}
    records = []
    for country, ex in items.items():
        lps = [-1.0 if k == likeliest[country] else -3.0 for k in range(3)]
        records.append(make_record(ex.question, ex, ex.choices[likeliest[country]],
                                   ex.choices[likeliest[country]].strip(),
                                   {"logprob": -1.0, "n_tokens": 1, "token_accuracy": 1.0}, lps).as_dict())
    metrics = score(records, task, ci=False)
    assert metrics["mc_accuracy"]["value"] == 0.5 and metrics["mc_accuracy"]["chance"] == pytest.approx(1 / 3)
    p = math.exp(-1) / (math.exp(-1) + 2 * math.exp(-3))  # the likeliest choice's probability
    right, wrong = (1 - p) ** 2 + 2 * ((1 - p) / 2) ** 2, p ** 2 + (1 - (1 - p) / 2) ** 2 + ((1 - p) / 2) ** 2
    assert metrics["brier"]["value"] == pytest.approx((right + wrong) / 2)
