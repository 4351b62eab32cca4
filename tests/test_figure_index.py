"""The Figure index page lists every lab figure with the library calls behind it, read from
the labs' code at each build (book/figures.md)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "_build" / "html" / "book" / "figures.html"


@pytest.fixture(scope="module")
def page() -> str:
    if not PAGE.is_file():
        if os.environ.get("EMERGENT_ALLOW_NO_BOOK") == "1":
            pytest.skip(f"{PAGE} is missing and EMERGENT_ALLOW_NO_BOOK=1: book not built")
        pytest.fail(f"{PAGE} is missing: build the book first (`make book`)")
    return PAGE.read_text(encoding="utf-8")


def _rows(page: str) -> dict[str, str]:
    """figure label -> the text of its table row."""
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        text = re.sub(r"<[^>]+>", " ", row)
        label = re.search(r"\bfig-[\w-]+", text)
        if label:
            rows[label.group()] = " ".join(text.split())
    return rows


def test_every_lab_figure_is_listed(page):
    labels = {m for lab in (ROOT / "labs").glob("lab*.md")
              for m in re.findall(r"^\s+name: (fig-[\w-]+)\s*$", lab.read_text(encoding="utf-8"), re.M)}
    assert len(labels) >= 20
    assert set(_rows(page)) == labels


def test_rows_name_the_calls_behind_the_figure(page):
    rows = _rows(page)
    lab1 = rows["fig-lab1-curve"]
    assert "plotting.emergence_plot" in lab1.split("sweep.run_sweep")[0]  # drawn by, before computed by
    assert "sweep.run_sweep" in lab1 and "toy.get_family" in lab1
    assert "induction.train_induction" in rows["fig-lab4b-loss"]
    assert "grokking.train_grokking" in rows["fig-lab4c-grokking"]
