"""Induction heads: a phase change in training you can watch on a laptop CPU.

Olsson et al. (2022, "In-context learning and induction heads", Transformer Circuits
Thread) found that transformers abruptly form *induction heads*, attention heads that find
the previous occurrence of the current token and copy the token that followed it, and that
in-context learning improves at the same moment. This package reproduces that at toy scale:
a two-layer attention-only transformer trained on sequences made of random tokens whose
last block is an exact copy of the block before it. For the first ~100 steps the copy is no
easier to predict than the random tokens; around step 250 its loss falls from ~3 nats to
under 1 within ~60 steps (to ~0.3 by step 600: what remains comes from tokens that also
occur elsewhere in the context, where copying is ambiguous). At the same time the layer-0
heads become previous-token heads and the layer-1 heads attend from each token of the copy
to the token after its first occurrence.

Everything is seeded: the same seed gives the same history, bit for bit, on one machine.

Its parts, in the order of nanoGPT's: `model` (the transformer), `data` (the sequences),
`train` (the loop) and `analysis` (phase change and head scores).
"""
from .analysis import (attention_pattern, attention_patterns, find_induction_head, head_scores,
                       induction_scores, phase_change_step, previous_token_scores, smooth)
from .data import copy_masks, repeated_sequences
from .model import AttentionOnlyTransformer
from .train import InductionConfig, InductionRun, train_induction

__all__ = [
    "InductionConfig", "InductionRun", "AttentionOnlyTransformer", "repeated_sequences", "copy_masks",
    "train_induction", "phase_change_step", "attention_pattern", "attention_patterns",
    "head_scores", "induction_scores", "previous_token_scores", "find_induction_head",
    "smooth",
]
