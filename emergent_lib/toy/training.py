"""One seeded training loop for every toy model: fresh synthetic problems each step.

The recipe (AdamW, linear warm-up then cosine decay, a fixed number of steps and a fixed
batch) is the same for every size in a family, so the only thing that varies along a ladder
is the model size. A recipe's `target` says what the model learns to write after each
question: the answer alone ("answer"), or the worked scratchpad of Nye et al. (2021) and then
the answer ("scratchpad"), in exactly the text the "scratchpad" prompting strategy reads, so
that `run_strategy(..., "scratchpad")` evaluates such a model with zero shots.

Training runs on one CPU thread: the result is then bit-identical for a seed whatever the
machine's thread count, and the zoo trains one model per core side by side (models this small
keep one core busy with small matrices; a second thread helps them little). The weights are
the same on every x86-64 machine only in the pinned numeric mode (`emergent_lib.numerics`),
which the zoo ensures.
"""
from __future__ import annotations

import functools
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..compute import training_flops
from ..numerics import current_mode
from ..runs import seeded
from .model import MAX_LEN, count_params, make_model, to_hf
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, VOCAB, build_tokenizer, encode

IGNORE = -100  # label for positions that carry no loss
TARGETS = ("answer", "scratchpad")  # what a model learns to write after the question


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe shared by every size of a family."""
    task: str
    steps: int = 1500
    batch_size: int = 256
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # cosine decays to this fraction of lr
    warmup: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    loss_on: str = "answer"  # "answer": loss on what follows the question only; "all": every token
    n_checkpoints: int = 10  # intermediate checkpoints, evenly spaced (plus the final one)
    # "answer": question + target + "\n". "scratchpad": the zero-shot scratchpad prompt
    # ("Input: <question>\n<scratch>"), the intermediate steps of the task's `scratchpad_of`,
    # "</scratch>", "Answer:" + target, and a blank line (see `training_text`).
    target: str = "answer"

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"TrainConfig.target must be one of {', '.join(TARGETS)}, got '{self.target}'")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at `step`: linear warm-up, then cosine from lr down to min_lr_ratio*lr."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def checkpoint_steps(cfg: TrainConfig) -> list[int]:
    """Steps (before the final one) at which an intermediate checkpoint is saved, 0 included."""
    n = cfg.n_checkpoints
    return sorted({round(i * cfg.steps / n) for i in range(n)}) if n > 0 else []


def training_text(task, example, target: str = "answer") -> tuple[str, str]:
    """(prompt, continuation) of one training problem: the model learns the continuation.

    "answer": the question, then the target and "\n" (the direct format). "scratchpad": the
    zero-shot prompt of the "scratchpad" strategy, then the worked steps, "</scratch>",
    "Answer:" + target and a blank line, which is the strategy's stop string
    (`prompting.scratchpad_parts`). Every character is in the toy vocabulary (printable ASCII).
    """
    if target == "answer":
        return example.question, example.target + "\n"
    if target == "scratchpad":
        from ..prompting import build_prompt, scratchpad_parts

        return build_prompt(task, example, (), "scratchpad"), scratchpad_parts(task, example)[1] + "\n\n"
    raise ValueError(f"unknown training target '{target}'; known: {', '.join(TARGETS)}")


@functools.lru_cache(maxsize=4)
def training_data(task_name: str, seed: int, n: int, loss_on: str = "answer", target: str = "answer"):
    """(inputs, labels, lengths) for `n` problems, BOS first: `question + target + "\n"` each,
    or with `target="scratchpad"` the scratchpad text of `training_text`.

    Drawn once per (task, seed) and shared by every size: the models of a ladder see the very
    same problems in the same order, so size is the only thing that varies. Texts are
    right-padded; causal attention means real tokens never see the padding, so no attention
    mask is needed. Labels are the next token, IGNORE where there is no loss; lengths count
    each text's tokens (BOS and "\n" included).
    """
    import torch

    from ..tasks import get_task

    task = get_task(task_name)
    rng = random.Random(f"toy-train:{task_name}:{seed}")
    texts, starts = [], []
    for _ in range(n):
        ex = task.render(task.make_fields(rng))
        prompt, continuation = training_text(task, ex, target)
        texts.append(prompt + continuation)
        starts.append(1 + len(prompt) if loss_on == "answer" else 1)  # first token with loss
    ids = torch.from_numpy(_encode_padded(texts))
    if ids.shape[1] - 1 > MAX_LEN:
        raise ValueError(f"training texts of '{task_name}' (target '{target}') are up to {ids.shape[1]} "
                         f"tokens long, but toy models hold {MAX_LEN} (toy.model.MAX_LEN)")
    width = ids.shape[1]
    x, y = ids[:, :-1].long(), ids[:, 1:].long()
    pos = torch.arange(1, width)  # position of each label in the text
    y[(pos[None, :] < torch.tensor(starts)[:, None]) | (y == PAD_ID)] = IGNORE
    return x, y, (ids != PAD_ID).sum(1)


def _encode_padded(texts: list[str]):
    """Token ids (BOS first, right-padded) as a uint8 array: `encode` for many texts at once."""
    import numpy as np

    width = 1 + max(map(len, texts))
    joined = "".join(texts)
    if not joined.isascii() or "\x00" in joined or "\x01" in joined:  # rare: the plain lookup
        out = np.full((len(texts), width), PAD_ID, dtype=np.uint8)
        for i, t in enumerate(texts):
            out[i, :len(t) + 1] = encode(t)
        return out
    lut = np.full(256, UNK_ID, dtype=np.uint8)
    for ch, i in VOCAB.items():
        if len(ch) == 1:
            lut[ord(ch)] = i
    lut[0] = PAD_ID
    raw = "".join("\x01" + t.ljust(width - 1, "\x00") for t in texts).encode("ascii")
    lut[1] = BOS_ID
    return lut[np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), width)]


def _export(model, cfg: TrainConfig):
    """The `LlamaForCausalLM` to save. A scratchpad spans several lines, so for such a model
    plain generation must not end at the first "\n" (the strategy stops at a blank line)."""
    hf = to_hf(model)
    if cfg.target == "scratchpad":
        hf.generation_config.eos_token_id = [EOS_ID]
    return hf


def _save(model, tokenizer, path: Path, meta: dict) -> None:
    from transformers.utils import logging

    path.mkdir(parents=True, exist_ok=True)
    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # no "Writing model shards" bar for every checkpoint
    try:
        model.save_pretrained(path)
    finally:
        if shown:
            logging.enable_progress_bar()
    tokenizer.save_pretrained(path)
    # written last: a directory with toy_meta.json in it has every other file
    (path / "toy_meta.json").write_text(json.dumps(meta, indent=1))


def train(size: str, seed: int, cfg: TrainConfig, out: Path, meta: dict | None = None,
          progress: Callable[[int], None] | None = None) -> dict:
    """Train one model and save it: final weights in `out`, intermediate ones in `out/step<N>`.

    Returns the final metadata. `meta` adds fields (family, size names) to every checkpoint's
    toy_meta.json; `progress(n)` is called with the number of steps done since its last call.
    """
    import torch
    import torch.nn.functional as F


    with seeded(seed, num_threads=1):  # one thread: the fastest for models this small
        model = make_model(size, seed)
        tokenizer = build_tokenizer()
        total, non_emb = count_params(model)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=cfg.lr, betas=cfg.betas, foreach=True)
        xs, ys, lengths = training_data(cfg.task, seed, cfg.steps * cfg.batch_size, cfg.loss_on, cfg.target)
        saves = set(checkpoint_steps(cfg))
        tokens = 0
        history: list[tuple[int, float]] = []  # (step, mean loss over the steps since the last entry)
        recent: list[torch.Tensor] = []
        t0, cpu0 = time.perf_counter(), time.process_time()
        base = {**(meta or {}), "size": size, "seed": seed, "task": cfg.task,
                "numerics": current_mode(),  # what this process computed in (numerics.py)
                "params_total": total, "params_non_embedding": non_emb,
                "train_config": asdict(cfg)}

        def snapshot(step: int) -> dict:
            return {**base, "step": step, "tokens_seen": tokens,
                    "train_flops": training_flops(non_emb, tokens),
                    "loss": history[-1][1] if history else None,
                    "train_seconds": round(time.perf_counter() - t0, 3),
                    # CPU time of this process: what the wall time would be on an idle core
                    "train_cpu_seconds": round(time.process_time() - cpu0, 3)}

        done = 0
        for step in range(cfg.steps):
            if step in saves:
                _save(_export(model, cfg), tokenizer, out / f"step{step}", snapshot(step))
            rows = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
            x, y = xs[rows], ys[rows]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg)
            where = y != IGNORE
            loss = F.cross_entropy(model(x, where), y[where])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip, foreach=True)
            opt.step()
            tokens += int(lengths[rows].sum())  # tokens of the texts, padding excluded
            recent.append(loss.detach())
            if len(recent) == 10 or step == cfg.steps - 1:
                history.append((step + 1, round(float(torch.stack(recent).mean()), 5)))
                recent = []
            done += 1
            if progress and (done == 25 or step == cfg.steps - 1):
                progress(done)
                done = 0
        final = {**snapshot(cfg.steps), "loss_history": history}
        _save(_export(model, cfg), tokenizer, out, final)
        return final
