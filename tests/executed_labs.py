"""The labs as the book build executed them, for the tests that check their printed values.

A lab's current source is merged with the outputs that the build's execution cache
(jupyter-book's `_build/.jupyter_cache`) holds for exactly this code. The copies in
`_build/jupyter_execute/` are not used: myst-nb writes them without outputs when it takes a
notebook from its cache. Without a build these checks fail, or are skipped when
EMERGENT_ALLOW_NO_BOOK=1.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "_build" / ".jupyter_cache"  # jupyter-book's execution cache


def executed(name: str):
    """labs/<name>.md (or, for a name such as "book/evidence", that chapter page) with the
    outputs of the build's run of its current code."""
    jupytext = pytest.importorskip("jupytext")
    jupyter_cache = pytest.importorskip("jupyter_cache")
    allow = os.environ.get("EMERGENT_ALLOW_NO_BOOK") == "1"
    nb = jupytext.read(ROOT / f"{name}.md" if "/" in name else ROOT / "labs" / f"{name}.md")
    if not CACHE.is_dir():
        if allow:
            pytest.skip(f"{CACHE} is missing and EMERGENT_ALLOW_NO_BOOK=1: book not built")
        pytest.fail(f"{CACHE} is missing: build the book first (`make book`)")
    try:
        _, merged = jupyter_cache.get_cache(CACHE).merge_match_into_notebook(nb)
    except KeyError:
        if allow:
            pytest.skip(f"the book build has not executed the current code of labs/{name}.md "
                        f"(EMERGENT_ALLOW_NO_BOOK=1)")
        pytest.fail(f"the book build has not executed the current code of labs/{name}.md: "
                    f"rebuild the book (`make book`)")
    return merged


def glued(nb) -> dict[str, str]:
    """name -> text of every value the notebook inserted into its prose with `glue`."""
    found = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = {k.removeprefix("application/papermill.record/"): v
                        for k, v in o.get("data", {}).items()}
                found[name] = data.get("text/markdown", data.get("text/plain", ""))
    return found


# ----------------------------------------------------------------------------- Lab 3's ladders
LAB3_TASK = "addition-2d"
LAB3_N = 200  # Lab 3's test problems per toy model (seed 0)
LAB3_LADDERS = {"direct": "addition-2d-direct", "scratchpad": "addition-2d-scratchpad",
                "direct-long": "addition-2d-direct-long"}
LAB3_STRATEGY = {"direct": "direct", "scratchpad": "scratchpad", "direct-long": "direct"}


def lab3_ladders() -> dict[str, dict]:
    """ladder -> Lab 3's evaluations of it (n=200, seed 0, zero-shot), asking run_sweep for
    exactly the lab's cells, so after a build they come from the cache: sizes, params
    (non-embedding), flops, tokens, em (exact match) and records, one entry per size."""
    import numpy as np

    from emergent_lib.sweep import run_sweep
    from emergent_lib.toy import get_family

    out = {}
    for ladder, name in LAB3_LADDERS.items():
        zoo = get_family(name, progress=False)
        specs = [f"toy/{name}/{m['size']}/seed0" for m in zoo]
        frame = run_sweep(models=specs, tasks=[LAB3_TASK], shots=[0], seeds=[0], n=LAB3_N,
                          strategy=LAB3_STRATEGY[ladder], keep_records=True, progress=False)
        em = frame[frame["metric"] == "exact_match"].set_index("model")
        out[ladder] = {
            "sizes": [m["size"] for m in zoo],
            "params": np.array([m["params_non_embedding"] for m in zoo], dtype=float),
            "flops": np.array([m["train_flops"] for m in zoo], dtype=float),
            "tokens": np.array([m["tokens_seen"] for m in zoo], dtype=float),
            "em": np.array([em.loc[s, "value"] for s in specs]),
            "records": [frame.attrs["records"][(s, LAB3_TASK, 0, 0)] for s in specs],
        }
    return out
