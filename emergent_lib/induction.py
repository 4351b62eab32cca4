"""Induction heads: a phase change in training you can watch on a laptop CPU.

Olsson et al. (2022, "In-context learning and induction heads", Transformer Circuits
Thread) found that transformers abruptly form *induction heads*, attention heads that find
the previous occurrence of the current token and copy the token that followed it, and that
in-context learning improves at the same moment. This module reproduces that at toy scale:
a two-layer attention-only transformer trained on sequences made of random tokens whose
last block is an exact copy of the block before it. For the first ~100 steps the copy is no
easier to predict than the random tokens; around step 250 its loss falls from ~3 nats to
under 1 within ~60 steps (to ~0.3 by step 600: what remains comes from tokens that also
occur elsewhere in the context, where copying is ambiguous). At the same time the layer-0
heads become previous-token heads and the layer-1 heads attend from each token of the copy
to the token after its first occurrence.

Everything is seeded: the same seed gives the same history, bit for bit, on one machine.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "InductionConfig", "InductionRun", "AttentionOnlyTransformer", "repeated_sequences", "copy_masks",
    "train_induction", "phase_change_step", "attention_pattern", "attention_patterns",
    "head_scores", "induction_scores", "previous_token_scores", "find_induction_head",
    "smooth",
]


# ----------------------------------------------------------------------------- model
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention that can hand back its attention pattern."""

    def __init__(self, d_model: int, n_heads: int, rotary: bool = False):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads, self.d_head, self.rotary = n_heads, d_model // n_heads, rotary
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, d_model = x.shape
        q, k, v = self.qkv(x).split(d_model, dim=-1)
        # (batch, heads, length, d_head)
        q, k, v = (t.view(batch, length, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))
        if self.rotary:
            q, k = rotate(q), rotate(k)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        mixed = (pattern @ v).transpose(1, 2).reshape(batch, length, d_model)
        return self.out(mixed), pattern


def rotate(x: torch.Tensor, base: float = 10_000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) of (..., length, d_head) queries or keys:
    pairs of channels rotate by an angle proportional to the position, so a query-key dot
    product depends on their relative position only."""
    length, d_head = x.shape[-2], x.shape[-1]
    frequencies = base ** (-torch.arange(0, d_head, 2, dtype=x.dtype) / d_head)
    angles = torch.arange(length, dtype=x.dtype)[:, None] * frequencies
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)


class AttentionOnlyTransformer(nn.Module):
    """Token + learned position embeddings, attention layers on a residual stream, unembedding.

    No MLPs, as in Olsson et al.'s attention-only models: whatever the model learns about
    copying from context must live in the attention heads, where we can look at it.
    """

    def __init__(self, vocab_size: int, max_len: int, n_layers: int = 2, n_heads: int = 4,
                 d_model: int = 64, positions: str = "learned"):
        super().__init__()
        if positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', got {positions!r}")
        self.vocab_size, self.max_len = vocab_size, max_len
        self.n_layers, self.n_heads = n_layers, n_heads
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_len, d_model) if positions == "learned" else None
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.layers = nn.ModuleList(CausalSelfAttention(d_model, n_heads, rotary=positions == "rotary")
                                    for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor, return_patterns: bool = False):
        """Logits (batch, length, vocab); with `return_patterns`, also one
        (batch, heads, length, length) attention pattern per layer."""
        x = self.token_embedding(tokens)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(tokens.shape[1], device=tokens.device))
        patterns = []
        for norm, attention in zip(self.norms, self.layers):
            update, pattern = attention(norm(x))
            x = x + update
            patterns.append(pattern)
        logits = self.unembed(self.final_norm(x))
        return (logits, patterns) if return_patterns else logits


# ----------------------------------------------------------------------------- data
def repeated_sequences(batch: int, length: int, vocab_size: int, generator: torch.Generator,
                       min_repeat: int | None = None, max_repeat: int | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens, repeat_lengths): each row is uniformly random tokens whose last L tokens copy
    the L before them, `tokens[:, -L:] == tokens[:, -2L:-L]`, with L drawn per row from
    [min_repeat, max_repeat] (both default to length // 2: a random half, then its copy).

    Everything before the copy is unpredictable (loss log(vocab) at best); the copy is fully
    predictable, but only by looking back into the context. L must vary: with one fixed L a
    head can attend a fixed number of positions back and copy without ever matching tokens,
    a positional shortcut that is not an induction head (a first version of this module
    trained exactly that, and failed on any other copy length).
    """
    min_repeat = min_repeat or length // 2
    max_repeat = max_repeat or min_repeat
    if not 2 <= min_repeat <= max_repeat <= length // 2:
        raise ValueError(f"need 2 <= min_repeat <= max_repeat <= length // 2 = {length // 2}, "
                         f"got min_repeat={min_repeat}, max_repeat={max_repeat}")
    tokens = torch.randint(vocab_size, (batch, length), generator=generator)
    repeat = torch.randint(min_repeat, max_repeat + 1, (batch,), generator=generator)
    position = torch.arange(length)
    in_copy = position >= length - repeat[:, None]
    source = torch.where(in_copy, position - repeat[:, None], position)
    return tokens.gather(1, source), repeat


def copy_masks(length: int, repeat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks over the predicted tokens 1..length-1 (batch, length-1): `first` marks tokens
    seen for the first time, `repeated` marks tokens of the copy except its first one, which
    no context can predict (it follows a random token)."""
    target = torch.arange(1, length)
    copy_start = length - repeat[:, None]
    return target < copy_start, target > copy_start


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class InductionConfig:
    """Sizes and optimiser settings. Measured with these defaults on a 2-core CPU: the phase
    change came at steps 232-326 for seeds 0-4, and 600 steps took about 15 s. With
    d_model=64 it came anywhere from step 490 to 1250."""
    vocab_size: int = 64
    length: int = 32             # tokens per training sequence
    min_repeat: int = 8          # the copied block's length L is drawn from [min_repeat, max_repeat]
    max_repeat: int = 16
    n_layers: int = 2
    n_heads: int = 4
    d_model: int = 128
    positions: str = "learned"   # or "rotary"
    batch_size: int = 32
    steps: int = 600
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    probe_every: int = 10        # how often head scores are measured on the fixed probe batch
    snapshot_every: int = 50     # how often the weights are copied into `snapshots`
    probe_batch: int = 16


@dataclass
class InductionRun:
    """What `train_induction` measured.

    `history` has one row per step, measured on that step's fresh training batch: `loss`
    (all predictable tokens), `first_occurrence_loss` (tokens seen for the first time),
    `repeated_loss` (tokens of the copy, except its unpredictable first one) and
    `in_context_score` = repeated − first, Olsson et al.'s sign (late-token loss minus
    early-token loss): the more negative, the more in-context learning. `head_scores` has
    one row per probe step and head: its induction and previous-token scores on the probe
    sequences (a random half, then its copy). `snapshots` maps step → a copy of the weights (a state dict).
    """
    config: InductionConfig
    seed: int
    model: AttentionOnlyTransformer
    history: pd.DataFrame
    head_scores: pd.DataFrame
    snapshots: dict[int, dict[str, torch.Tensor]] = field(repr=False)
    seconds: float = 0.0

    def model_at(self, step: int) -> AttentionOnlyTransformer:
        """A copy of the model with the weights of the snapshot nearest to `step`."""
        nearest = min(self.snapshots, key=lambda s: abs(s - step))
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.snapshots[nearest])
        return model.eval()

    def probe_tokens(self, batch: int | None = None) -> torch.Tensor:
        """The fixed, seeded probe sequences the head scores were measured on."""
        return _probe_tokens(self.config, self.seed, batch)


def _probe_tokens(config: InductionConfig, seed: int, batch: int | None = None) -> torch.Tensor:
    generator = torch.Generator().manual_seed(10_000 + seed)
    return repeated_sequences(batch or config.probe_batch, config.length, config.vocab_size, generator)[0]


def _learning_rate(step: int, config: InductionConfig) -> float:
    """Linear warm-up, then constant: a decaying schedule would blur where the change happens."""
    return config.lr * min(1.0, (step + 1) / max(1, config.warmup_steps))


def train_induction(seed: int = 0, steps: int | None = None, progress: bool = True,
                    config: InductionConfig | None = None, num_threads: int | None = 1,
                    **overrides) -> InductionRun:
    """Train the attention-only model on repeated random blocks from scratch, seeded.

    Each step draws a fresh batch, so the training loss on it is an unbiased estimate of the
    test loss and is what `history` records. Keyword `overrides` replace config fields,
    e.g. `train_induction(seed=1, d_model=64)`.

    The model is so small that splitting its matrix products across threads costs more than
    it saves: on a 2-core machine shared with other work, 2 threads took 185 s where 1 took
    15 s. So training runs on `num_threads` (None: torch's setting), restored afterwards.
    """
    previous_threads = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        return _train_induction(seed, steps, progress, config, overrides)
    finally:
        torch.set_num_threads(previous_threads)


def _train_induction(seed, steps, progress, config, overrides) -> InductionRun:
    config = config or InductionConfig()
    if steps is not None:
        overrides["steps"] = steps
    if overrides:
        config = InductionConfig(**{**config.__dict__, **overrides})
    torch.manual_seed(seed)
    model = AttentionOnlyTransformer(config.vocab_size, config.length, config.n_layers,
                                     config.n_heads, config.d_model, config.positions)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98),
                                  weight_decay=config.weight_decay)
    data = torch.Generator().manual_seed(seed)
    probe = _probe_tokens(config, seed)
    rows, score_rows, snapshots = [], [], {}

    bar = None
    if progress:
        from .progress import tqdm
        bar = tqdm(total=config.steps, desc=f"induction (seed {seed})", leave=False)
    start = time.perf_counter()
    for step in range(config.steps + 1):
        if step % config.probe_every == 0 or step == config.steps:
            score_rows += _head_score_rows(model, probe, step)
        if step % config.snapshot_every == 0 or step == config.steps:
            snapshots[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if step == config.steps:
            break
        model.train()
        tokens, repeat = repeated_sequences(config.batch_size, config.length, config.vocab_size,
                                            data, config.min_repeat, config.max_repeat)
        logits = model(tokens[:, :-1])
        # token_loss[:, j] is the loss of predicting token j + 1
        token_loss = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")
        first_mask, repeated_mask = copy_masks(config.length, repeat)
        first, repeated = token_loss[first_mask], token_loss[repeated_mask]
        loss = token_loss[first_mask | repeated_mask].mean()
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(step, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        first_loss, repeated_loss = first.mean().item(), repeated.mean().item()
        rows.append((step, loss.item(), first_loss, repeated_loss, repeated_loss - first_loss))
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(first=f"{first_loss:.2f}", repeated=f"{repeated_loss:.2f}")
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    model.eval()
    history = pd.DataFrame(rows, columns=["step", "loss", "first_occurrence_loss", "repeated_loss",
                                          "in_context_score"])
    scores = pd.DataFrame(score_rows, columns=["step", "layer", "head", "induction", "previous_token"])
    return InductionRun(config, seed, model, history, scores, snapshots, seconds)


# ----------------------------------------------------------------------------- analysis
def smooth(values, window: int = 25) -> np.ndarray:
    """Centred moving average; the ends average over the part of the window that exists."""
    values = np.asarray(values, dtype=float)
    kernel = np.ones(window)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones_like(values), kernel, mode="same")
    return total / count


def phase_change_step(history: pd.DataFrame, column: str = "in_context_score",
                      window: int = 25) -> int:
    """The step at which the smoothed `column` falls fastest.

    The default column, repeated − first-occurrence loss, ignores the early drop that both
    losses share while the model learns the token frequencies, and so isolates the change in
    in-context learning. Per-step losses on fresh batches are noisy, so the curve is
    smoothed over `window` steps first, and the drop is measured across one more window
    centred on the step.
    """
    values = smooth(history[column].to_numpy(), window)
    half = window // 2
    if len(values) <= 2 * half + 1:
        raise ValueError(f"need more than {2 * half + 1} steps of history to find a phase change")
    drops = values[2 * half:] - values[: -2 * half]   # drop across the window centred at i + half
    centre = int(np.argmin(drops)) + half
    return int(history["step"].iloc[centre])


@torch.no_grad()
def attention_patterns(model: AttentionOnlyTransformer, tokens: torch.Tensor) -> list[torch.Tensor]:
    """One (batch, heads, length, length) attention pattern per layer."""
    model.eval()
    tokens = torch.as_tensor(tokens)
    if tokens.dim() == 1:
        tokens = tokens.unsqueeze(0)
    return model(tokens, return_patterns=True)[1]


def attention_pattern(model: AttentionOnlyTransformer, tokens, layer: int, head: int) -> np.ndarray:
    """The (length, length) attention pattern of one head on one sequence: row = query
    position, column = the position it attends to. Pass a batch to get the batch mean."""
    pattern = attention_patterns(model, tokens)[layer][:, head]
    return pattern.mean(dim=0).numpy()


def _offset_score(patterns: list[torch.Tensor], queries: torch.Tensor, keys: torch.Tensor) -> np.ndarray:
    """(layers, heads): mean attention from each query position to its matched key position."""
    return np.stack([p[:, :, queries, keys].mean(dim=(0, 2)).numpy() for p in patterns])


def induction_scores(model: AttentionOnlyTransformer, tokens: torch.Tensor,
                     repeat: int | None = None) -> np.ndarray:
    """(layers, heads) induction score on sequences whose last `repeat` tokens (default: half)
    copy the `repeat` before them: the mean attention from each position i of the copy to
    i − repeat + 1, the token after the previous occurrence of token i."""
    tokens = torch.as_tensor(tokens)
    length = tokens.shape[-1]
    repeat = repeat or length // 2
    queries = torch.arange(length - repeat, length)
    return _offset_score(attention_patterns(model, tokens), queries, queries - repeat + 1)


def previous_token_scores(model: AttentionOnlyTransformer, tokens: torch.Tensor) -> np.ndarray:
    """(layers, heads) mean attention from each position i ≥ 1 to position i − 1: the
    'previous-token heads' that an induction head composes with."""
    tokens = torch.as_tensor(tokens)
    queries = torch.arange(1, tokens.shape[-1])
    return _offset_score(attention_patterns(model, tokens), queries, queries - 1)


def head_scores(model: AttentionOnlyTransformer, tokens: torch.Tensor) -> pd.DataFrame:
    """One row per head: layer, head, induction score, previous-token score."""
    return pd.DataFrame(_head_score_rows(model, tokens, step=None),
                        columns=["step", "layer", "head", "induction", "previous_token"]).drop(columns="step")


def _head_score_rows(model, tokens, step):
    was_training = model.training
    induction, previous = induction_scores(model, tokens), previous_token_scores(model, tokens)
    model.train(was_training)
    return [(step, layer, head, float(induction[layer, head]), float(previous[layer, head]))
            for layer in range(induction.shape[0]) for head in range(induction.shape[1])]


def find_induction_head(model: AttentionOnlyTransformer, tokens: torch.Tensor) -> tuple[int, int, float]:
    """(layer, head, score) of the head with the highest induction score on `tokens`."""
    scores = induction_scores(model, tokens)
    layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(layer), int(head), float(scores[layer, head])
