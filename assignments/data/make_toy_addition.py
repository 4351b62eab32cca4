"""Regenerate the two CSV files the assignments read, from Lab 1's evaluation of the toy family.

    .venv/bin/python assignments/data/make_toy_addition.py [--out DIR]

It asks `run_sweep` for exactly the cells Lab 1 evaluates (every model of the default toy
family, 500 zero-shot test problems, test seed 0), so on a machine where Lab 1 or `make book`
has run it reads them from the cache in a second; on a fresh machine it first trains the
family and evaluates it (minutes). It computes in the pinned numeric mode
(`emergent_lib.numerics`), so on any x86-64 machine it writes the committed files byte for
byte (a test checks this against the cache the book build made). Students and the
autograder never run this script: they read the CSV files, which are small and committed.
"""
from __future__ import annotations

from emergent_lib.numerics import pin_this_process

pin_this_process()  # before torch loads: the same CSV files, byte for byte, on any x86-64 machine

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from emergent_lib import metrics  # noqa: E402
from emergent_lib.sweep import run_sweep  # noqa: E402
from emergent_lib.toy import DEFAULT_FAMILY, FAMILIES, get_family  # noqa: E402

HERE = Path(__file__).resolve().parent
N = 500  # Lab 1's test set


def main(out: Path = HERE) -> None:
    family = FAMILIES[DEFAULT_FAMILY]
    zoo = get_family(family.name)
    specs = [f"toy/{family.name}/{m['size']}/seed{m['seed']}" for m in zoo]
    sweep = run_sweep(models=specs, tasks=[family.task], shots=[0], seeds=[0], n=N,
                      keep_records=True, progress=False)
    records = {key[0]: recs for key, recs in sweep.attrs["records"].items()}
    cards = sweep.drop_duplicates("model").set_index("model")

    first = records[specs[0]]
    problems = pd.DataFrame({"problem": range(len(first)), "prompt": [r["prompt"] for r in first],
                             "answer": [r["answer"] for r in first]})
    ab = problems["prompt"].str.extract(r"(\d+)\s*\+\s*(\d+)")
    problems.insert(1, "a", ab[0].astype(int))
    problems.insert(2, "b", ab[1].astype(int))
    problems = problems.drop(columns="prompt")

    rows = []
    for spec in specs:
        recs = records[spec]
        assert [r["answer"] for r in recs] == list(problems["answer"]), "test problems differ between models"
        size, seed = re.search(r"/([^/]+)/seed(\d+)$", spec).groups()
        column = f"{size}/seed{seed}"
        problems[column] = [r["prediction"] for r in recs]
        card = cards.loc[spec]
        rows.append({"model": column, "size": size, "seed": int(seed), "params": int(card["params"]),
                     "train_tokens": int(card["train_tokens"]), "train_flops": float(card["train_flops"]),
                     "exact_match": float(metrics.per_example(recs, "exact_match").mean()),
                     "digit_accuracy": float(metrics.per_example(recs, "digit_accuracy").mean())})
    models = pd.DataFrame(rows).sort_values(["params", "seed"])
    out.mkdir(parents=True, exist_ok=True)
    models.to_csv(out / "toy_addition_models.csv", index=False, float_format="%.6g")
    problems.to_csv(out / "toy_addition_predictions.csv", index=False)
    print(f"wrote {len(models)} models and {len(problems)} problems to {out}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write to (default: beside this script)")
    main(parser.parse_args().out)
