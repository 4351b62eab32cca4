"""Reading the run: the phase-change step, attention patterns, and which heads are induction
or previous-token heads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .model import AttentionOnlyTransformer


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
    return pd.DataFrame(head_score_rows(model, tokens, step=None),
                        columns=["step", "layer", "head", "induction", "previous_token"]).drop(columns="step")


def head_score_rows(model, tokens, step):
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
