"""The data: random token sequences whose last block copies the block before it, and masks
that tell first occurrences from the copy."""
from __future__ import annotations

import torch


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
