"""The toy families: named size ladders, each with one training recipe shared by every size.

Declarations only (the zoo, `zoo.py`, trains and caches them). Each family's comment gives
the exact-match range measured over six training seeds in the pinned numeric mode.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UnknownNameError, suggest, unknown_name
from .training import TrainConfig

__all__ = ["Family", "FAMILIES", "DEFAULT_FAMILY", "family", "check_size"]


@dataclass(frozen=True)
class Family:
    """A size ladder: every size trains with the same recipe (`train`), so only size varies."""
    name: str
    description: str
    sizes: tuple[str, ...]
    train: TrainConfig
    seeds: tuple[int, ...] = (0, 1)
    notes: str = field(default="", compare=False)

    @property
    def task(self) -> str:
        return self.train.task


FAMILIES: dict[str, Family] = {f.name: f for f in [
    # The default family. Both operands have three digits (100-999), so a digit's place is a
    # fixed distance from the '='. Measured in the pinned numeric mode over six training seeds
    # (0-5; 500 problems of Lab 1's test seed 0), exact match:
    #   w16 0.2-2.4%, w32 0.8-8.4%, w40 2.8-99.2% (2.8, 3.6, 5.0, 26.8, 59.2, 99.2),
    #   w48 3.2-34.4%, w64 30-98.2%, w96 75.0-99.8% (two seeds at 75 and 82.6%), w128 95.8-100%.
    # The ends of the ladder hold for every seed; in between, where a seed crosses 50% ranges
    # from w40 to w96, a factor of about six in parameters, and one seed's curve need not rise
    # monotonically (w40 seed 3 is at 99% while w48 seed 3 is at 3%).
    # w128 was added on top because w96 alone missed 90% at two of six seeds. Per-digit accuracy
    # rises from 45-50% at w16 to 98.8-100% at w128. Seeds 0 and 1 are the ones the book uses.
    Family(
        name="addition-3d-full",
        description="3-digit addition 'a + b =' -> ' c', operands 100-999, widths 16 to 128, two layers",
        sizes=("w16-l2", "w32-l2", "w40-l2", "w48-l2", "w64-l2", "w96-l2", "w128-l2"),
        train=TrainConfig(task="addition-3d-full", steps=2400, batch_size=64, lr=2e-3),
        seeds=(0, 1),
    ),
    # The same recipe on Brown et al.'s operands, drawn from [0, 1000): about one problem in
    # five has a 1- or 2-digit operand ('194 + 64'), which must be lined up by content, not by
    # position, and those are almost all that the largest models get wrong (w128 seed 1
    # missed 51 of 91 such problems and 2 of 409 others, 500 problems of test seed 0).
    # Measured with this recipe, exact match seeds 0/1: w16 0.2/0.6%, w32 1.0/1.4%, w48
    # 10.8/5.2%, w64 83.8/78.8%, w96 98.0/10.6% (seed 1 stalled at loss 0.52), w128 97.4/91.6%;
    # 6.0 min cold on 2 cores. Other recipes, at w96-l2 or w128-l2: lr 3e-3 gave 81-88% and
    # 5e-3 stalled below 10% (batch 128, 1500 steps); 1200 x 128 gave 81.2/91.0% against
    # 97.4/91.6% for 2400 x 64 (the same problems, smaller batches learn more per problem);
    # for w128 seed 1, a cosine floor of 0.3 lr, EMA of the weights, beta2 0.95 or half the
    # problems with short operands did not clear 90% with a margin. The compact format
    # ('addition-3d-compact', 13 tokens instead of 17) is worse at the top: w96-l2, 2000 x 128,
    # lr 1.5e-3 gave 90.8/81.6%. The spaces give the model extra positions to compute in.
    Family(
        name="addition-3d",
        description="3-digit addition, operands 0-999 as in Brown et al. (2020), widths 16 to 128, two layers",
        sizes=("w16-l2", "w24-l2", "w32-l2", "w48-l2", "w64-l2", "w128-l2"),
        train=TrainConfig(task="addition-3d", steps=2400, batch_size=64, lr=2e-3),
        seeds=(0, 1),
    ),
    Family(
        name="multiplication-2d",
        description="2-digit multiplication 'a * b =' -> ' c', widths 16 to 96, two layers",
        sizes=("w16-l2", "w24-l2", "w32-l2", "w48-l2", "w64-l2", "w96-l2"),
        train=TrainConfig(task="multiplication-2d", steps=2000, batch_size=128, lr=2e-3),
        seeds=(0, 1),
    ),
    Family(
        name="addition-2d-tiny",
        description="2-digit addition, two very small models, a few seconds of training (tests)",
        sizes=("w8-l1", "w16-l1"),
        train=TrainConfig(task="addition-2d", steps=120, batch_size=32, lr=3e-3, warmup=10,
                          n_checkpoints=3),
        seeds=(0,),
    ),
    # Lab 3: the same 2-digit problems (600 steps x 32 = 19,200 per model), learned as the bare
    # answer or as a worked scratchpad and then the answer (Nye et al. 2021). The scratchpad text
    # is ~10x longer (~131 tokens against ~13), so its models see ~10x the tokens and FLOPs;
    # 'addition-2d-direct-long' trains the direct format 10x as long, for about the compute of
    # the scratchpad model of the same size. Measured in the pinned mode over six seeds (0-5,
    # 200 test problems), exact match at w16 / w32 / w48 / w64:
    #   scratchpad   0.5-1.5% / 2.5-9% / 65-90% / 94-99.5%
    #   direct       1-6%     / 7-12%  / 7-13.5% / 6-18.5%
    #   direct-long  8-97%    / 64.5-99% / 98-100% / 99-100%
    # So the scratchpad learns from fewer problems, and at equal compute it loses: the direct
    # format trained on ten times the problems is ahead or level at every size, for every seed.
    # The direct recipe is not a stable baseline above w64: at w96 / w128 / w192 it reached
    # 7-84.5% / 10.5-62.5% / 7-17% across the six seeds, so the ladder stops at w64.
    Family(
        name="addition-2d-direct",
        description="2-digit addition, answer only ('a + b =' -> ' c'), widths 16 to 64 (Lab 3's baseline)",
        sizes=("w16-l2", "w32-l2", "w48-l2", "w64-l2"),
        train=TrainConfig(task="addition-2d", steps=600, batch_size=32, lr=3e-3, warmup=60, n_checkpoints=0),
        seeds=(0,),
    ),
    Family(
        name="addition-2d-direct-long",
        description="2-digit addition, answer only, trained 10x as long: a scratchpad model's compute (Lab 3)",
        sizes=("w16-l2", "w32-l2", "w48-l2", "w64-l2"),
        train=TrainConfig(task="addition-2d", steps=6000, batch_size=32, lr=3e-3, warmup=60, n_checkpoints=0),
        seeds=(0,),
    ),
    Family(
        name="addition-2d-scratchpad",
        description="2-digit addition, a worked scratchpad then the answer (Nye et al. 2021), widths 16 to 64",
        sizes=("w16-l2", "w32-l2", "w48-l2", "w64-l2"),
        train=TrainConfig(task="addition-2d", steps=600, batch_size=32, lr=3e-3, warmup=60, n_checkpoints=0,
                          target="scratchpad"),
        seeds=(0,),
    ),
    # Lab 5b (inverse scaling): 2-digit addition from a training text with planted
    # misconceptions (tasks/misconceptions.py): 100 problems make up a fifth of the lines and
    # are given a wrong answer 80% of the time, so each recurs about 384 times, about 307 of
    # them wrong. Measured in the pinned numeric mode over six training seeds (0-5), exact match
    # on the 100 misconceived problems scored against the true sum, w8 / w16 / w24 / w32 / w48 /
    # w64 / w96: 10-21% / 27-92% / 74-85% / 40-78% / 19-35% / 13-22% / 6-15%. Every seed peaks at
    # w16 or w24 (80-92%) and then falls over at least three consecutive sizes; the popular wrong
    # answer goes from at most 20% at the peak to 85-94% at w96, while ordinary problems
    # (500, test seed 0) reach 96-99% from w48 up (w32 seed 5 dipped to 64%). 9.5 min for the
    # six seeds on 2 cores (17.7 CPU-min); the book trains seeds 0 and 1.
    Family(
        name="addition-2d-misconceptions",
        description="2-digit addition from a text with planted misconceptions, widths 8 to 96 (Lab 5b)",
        sizes=("w8-l2", "w16-l2", "w24-l2", "w32-l2", "w48-l2", "w64-l2", "w96-l2"),
        train=TrainConfig(task="addition-2d-misconceptions", steps=3000, batch_size=64, lr=3e-3,
                          warmup=100, n_checkpoints=0),
        seeds=(0, 1),
    ),
]}

DEFAULT_FAMILY = "addition-3d-full"


def family(name: str) -> Family:
    """The family called `name`; a ValueError listing the known ones otherwise."""
    if name not in FAMILIES:
        raise UnknownNameError(unknown_name("toy family", name, list(FAMILIES), plural="families"))
    return FAMILIES[name]


def check_size(fam: Family, size: str) -> None:
    if size not in fam.sizes:
        raise ValueError(f"toy family '{fam.name}' has no size '{size}'.{suggest(size, fam.sizes)} "
                         f"Its sizes: {', '.join(fam.sizes)}.")
