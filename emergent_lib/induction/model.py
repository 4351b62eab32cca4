"""The model: a two-layer attention-only transformer (Olsson et al. 2022), learned or rotary
positions, that can return its attention patterns."""
from __future__ import annotations

import math

import torch
from torch import nn


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
