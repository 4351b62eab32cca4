"""Regenerate `biderman2023_pythia_evals.csv` from the full copy of Pythia's published evaluations.

The full copy (80,640 rows: every MMLU subject, acc and acc_norm) lives outside the package,
in the course's reference data (`shared/data/pythia_evals/pythia_v1_evals.csv`). The book
uses only accuracy (and LAMBADA's perplexity) and MMLU's 57-subject average, so the extract
keeps those: one row per model, checkpoint, shots, task and metric.

    python emergent_lib/data/published/make_pythia_extract.py [SOURCE_CSV]

MMLU: the value is the unweighted mean of the 57 subjects' accuracies (the "57 topic avg."
of Wei et al. 2022, Table 1); its standard error is that of a mean of independent estimates,
sqrt(sum of the subjects' squared standard errors) / 57.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
TARGET = HERE / "biderman2023_pythia_evals.csv"
DEFAULT_SOURCE = HERE.parents[2].parent / "shared" / "data" / "pythia_evals" / "pythia_v1_evals.csv"

PAPER = "Biderman et al. 2023"
TABLE = "evals/pythia-v1"
RETRIEVED = "github.com/EleutherAI/pythia@a19eecb807ec"
MMLU_PREFIX = "hendrycksTest-"
# Biderman et al. 2023, Table 1: non-embedding parameters (the counts the paper states)
TABLE1_PARAMS = {"70m": 18915328, "160m": 85056000, "410m": 302311424, "1b": 805736448,
                 "1.4b": 1208602624, "2.8b": 2517652480, "6.9b": 6444163072, "12b": 11327027200}
COLUMNS = ["paper", "table_or_figure", "retrieved_from", "model", "params", "step", "shots", "setting",
           "task", "metric", "value", "stderr"]


def _sig6(x: pd.Series) -> pd.Series:
    """Round to 6 significant digits, as the source copy is."""
    return x.map(lambda v: float(f"{v:.6g}"))


def extract(source: Path | str) -> pd.DataFrame:
    """The compact table the book ships, computed from the full published copy."""
    full = pd.read_csv(source)
    is_mmlu = full["task"].str.startswith(MMLU_PREFIX)
    keys = ["model", "step", "shots"]
    other = full[~is_mmlu & full["metric"].isin(["acc", "ppl"])]
    subjects = full[is_mmlu & (full["metric"] == "acc")]
    counts = subjects.groupby(keys)["task"].nunique()
    if not (counts == 57).all():
        raise ValueError(f"expected 57 MMLU subjects per model, step and shots; found {sorted(set(counts))}")
    mmlu = subjects.groupby(keys).agg(value=("value", "mean"),
                                      stderr=("stderr", lambda s: np.sqrt(np.sum(s ** 2)) / len(s)))
    mmlu = mmlu.reset_index().assign(task="mmlu", metric="acc")
    out = pd.concat([other[keys + ["task", "metric", "value", "stderr"]], mmlu], ignore_index=True)
    out["value"], out["stderr"] = _sig6(out["value"]), _sig6(out["stderr"])
    size = out["model"].str.removeprefix("pythia-").str.removesuffix("-deduped")
    out["params"] = size.map(TABLE1_PARAMS)
    out["setting"] = out["shots"].map({0: "zero-shot", 5: "five-shot"})
    out = out.assign(paper=PAPER, table_or_figure=TABLE, retrieved_from=RETRIEVED)
    return out[COLUMNS].sort_values(["model", "task", "metric", "shots", "step"]).reset_index(drop=True)


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    if not source.is_file():
        sys.exit(f"{source} not found: pass the path of pythia_v1_evals.csv")
    table = extract(source)
    table.to_csv(TARGET, index=False)
    print(f"wrote {len(table)} rows, {TARGET.stat().st_size / 1e6:.2f} MB to {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1:])
