"""The training loop: fresh batches each step, the loss on first occurrences and on the copy,
head scores on a fixed probe batch, weight snapshots."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F

from ..runs import seeded, with_overrides
from .analysis import head_score_rows
from .data import copy_masks, repeated_sequences
from .model import AttentionOnlyTransformer


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
    with seeded(seed, num_threads):
        return _train_induction(seed, progress, with_overrides(config or InductionConfig(), steps, **overrides))


def _train_induction(seed: int, progress: bool, config: InductionConfig) -> InductionRun:
    model = AttentionOnlyTransformer(config.vocab_size, config.length, config.n_layers,
                                     config.n_heads, config.d_model, config.positions)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98),
                                  weight_decay=config.weight_decay)
    data = torch.Generator().manual_seed(seed)
    probe = _probe_tokens(config, seed)
    rows, score_rows, snapshots = [], [], {}

    bar = None
    if progress:
        from ..progress import tqdm
        bar = tqdm(total=config.steps, desc=f"induction (seed {seed})", leave=False)
    start = time.perf_counter()
    for step in range(config.steps + 1):
        if step % config.probe_every == 0 or step == config.steps:
            score_rows += head_score_rows(model, probe, step)
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
