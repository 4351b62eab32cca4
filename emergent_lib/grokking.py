"""Grokking: validation accuracy jumps long after the training set is memorised.

Power et al. (2022, "Grokking: generalization beyond overfitting on small algorithmic
datasets") trained small transformers on a fraction of all equations a + b = c (mod p) and
saw train accuracy reach 100% early while validation accuracy stayed at chance for a long
time, then rose to 100%; weight decay made it happen much sooner. To run in about half a
minute on a laptop CPU we use a smaller model than theirs, a one-hidden-layer MLP on
learned token embeddings, which groks the same way (Liu et al. 2022, "Towards understanding
grokking"; Gromov 2023, "Grokking modular arithmetic"), with full-batch AdamW and weight
decay 1.0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .runs import seeded, with_overrides

__all__ = ["GrokkingConfig", "GrokkingRun", "ModularAdditionMLP", "modular_addition_split",
           "train_grokking", "first_step_above"]


class ModularAdditionMLP(nn.Module):
    """Embed a and b, concatenate, one ReLU hidden layer, logits over the p answers."""

    def __init__(self, modulus: int, width: int = 128):
        super().__init__()
        self.embedding = nn.Embedding(modulus, width)
        self.hidden = nn.Linear(2 * width, width)
        self.output = nn.Linear(width, modulus)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.embedding(a), self.embedding(b)], dim=-1)
        return self.output(F.relu(self.hidden(x)))


def modular_addition_split(modulus: int, train_fraction: float, generator: torch.Generator):
    """All p² pairs (a, b) with answers (a + b) mod p, and a random train/validation split of
    their indices: `(a, b, answer, train_index, validation_index)`."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1, got {train_fraction}")
    a, b = torch.meshgrid(torch.arange(modulus), torch.arange(modulus), indexing="ij")
    a, b = a.flatten(), b.flatten()
    order = torch.randperm(modulus * modulus, generator=generator)
    n_train = int(train_fraction * modulus * modulus)
    return a, b, (a + b) % modulus, order[:n_train], order[n_train:]


@dataclass(frozen=True)
class GrokkingConfig:
    """Measured on a 2-core CPU with these defaults: train accuracy ≥ 99% by step 100 and
    validation accuracy ≥ 99% at steps 1500-2100 (seeds 0-3), 2500 steps in 25-35 s."""
    modulus: int = 59
    train_fraction: float = 0.5
    width: int = 128
    steps: int = 2500
    lr: float = 3e-3
    weight_decay: float = 1.0
    eval_every: int = 20


@dataclass
class GrokkingRun:
    """`history`: one row per evaluation with train/validation loss and accuracy and the
    total weight norm (weight decay shrinks it while the model generalises)."""
    config: GrokkingConfig
    seed: int
    model: ModularAdditionMLP
    history: pd.DataFrame = field(repr=False)
    seconds: float = 0.0


def train_grokking(seed: int = 0, steps: int | None = None, progress: bool = True,
                   config: GrokkingConfig | None = None, num_threads: int | None = 1,
                   **overrides) -> GrokkingRun:
    """Full-batch training on a seeded split of modular addition; same seed, same history.

    Runs on `num_threads` torch threads (restored afterwards): this model is too small to
    gain from more, and loses badly on a busy machine.
    """
    with seeded(seed, num_threads):
        return _train(seed, with_overrides(config or GrokkingConfig(), steps, **overrides), progress)


def _train(seed: int, config: GrokkingConfig, progress: bool) -> GrokkingRun:
    a, b, answer, train, validation = modular_addition_split(
        config.modulus, config.train_fraction, torch.Generator().manual_seed(seed))
    model = ModularAdditionMLP(config.modulus, config.width)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98),
                                  weight_decay=config.weight_decay)

    @torch.no_grad()
    def measure(index):
        logits = model(a[index], b[index])
        return (F.cross_entropy(logits, answer[index]).item(),
                (logits.argmax(-1) == answer[index]).float().mean().item())

    bar = None
    if progress:
        from .progress import tqdm
        bar = tqdm(total=config.steps, desc=f"grokking (seed {seed})", leave=False)
    rows = []
    start = time.perf_counter()
    for step in range(config.steps + 1):
        if step % config.eval_every == 0 or step == config.steps:
            norm = torch.sqrt(sum((w ** 2).sum() for w in model.parameters())).item()
            rows.append((step, *measure(train), *measure(validation), norm))
            if bar is not None:
                bar.set_postfix(train=f"{rows[-1][2]:.2f}", validation=f"{rows[-1][4]:.2f}")
        if step == config.steps:
            break
        loss = F.cross_entropy(model(a[train], b[train]), answer[train])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if bar is not None:
            bar.update(1)
    seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    history = pd.DataFrame(rows, columns=["step", "train_loss", "train_accuracy", "validation_loss",
                                          "validation_accuracy", "weight_norm"])
    return GrokkingRun(config, seed, model.eval(), history, seconds)


def first_step_above(history: pd.DataFrame, column: str, level: float = 0.99) -> int | None:
    """The first evaluated step at which `column` reaches `level`, or None if it never does."""
    reached = history.loc[history[column] >= level, "step"]
    return int(reached.iloc[0]) if len(reached) else None
