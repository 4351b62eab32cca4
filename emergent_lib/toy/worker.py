"""`python -m emergent_lib.toy.worker JOB`: train toy models in a process of its own.

The zoo starts this process, with the pinned numeric mode's environment (`numerics`), when
its caller computes in another mode: a notebook kernel or script that loaded torch without
it. JOB is JSON: the family (as `dataclasses.asdict`), the (size, seed) jobs, the number of
worker processes and the cache root. Each line on stdout is a count of training steps done.
"""
from __future__ import annotations

import json
import sys


class _Stdout:
    """Step counts to the parent, one per line."""
    def put(self, n: int) -> None:
        print(n, flush=True)


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    from .training import TrainConfig
    from .zoo import Family, train_jobs

    fam = spec["family"]
    train = {**fam["train"], "betas": tuple(fam["train"]["betas"])}
    family = Family(**{**fam, "sizes": tuple(fam["sizes"]), "seeds": tuple(fam["seeds"]),
                       "train": TrainConfig(**train)})
    train_jobs(family, [tuple(job) for job in spec["jobs"]], spec["workers"], _Stdout(), spec["root"])


if __name__ == "__main__":
    main(sys.argv[1:])
