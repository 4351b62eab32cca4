"""Training compute, the x axis of half the course's figures: one formula, used everywhere."""
from __future__ import annotations

__all__ = ["training_flops"]


def training_flops(params, tokens):
    """Training compute C = 6*N*D (Kaplan et al. 2020): about 6 FLOPs per parameter and token
    (2 forward, 4 backward). The one place the course computes it."""
    return 6 * params * tokens
