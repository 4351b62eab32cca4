"""Static checks of the book sources: fast, no build and no browser needed.

- every file named in _toc.yml exists;
- every citation key used in book/ and labs/ is defined in book/references.bib;
- every notebook page (book/*.md with a kernelspec, labs/*.md) has a jupytext MyST header;
- every published number in emergent_lib/data/published/ has its source recorded.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
LABS = ROOT / "labs"
PUBLISHED = ROOT / "emergent_lib" / "data" / "published"
REQUIRED_COLUMNS = ["paper", "table_or_figure", "model", "params", "task", "setting", "metric", "value",
                    "retrieved_from"]
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")


def _toc_files(node) -> list[str]:
    files = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                files.append(value)
            else:
                files.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            files.extend(_toc_files(item))
    return files


def _source_pages() -> list[Path]:
    return sorted(BOOK.glob("*.md")) + sorted(LABS.glob("*.md"))


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    return yaml.safe_load(text[4:end]) or {} if end > 0 else {}


def test_toc_files_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = _toc_files(toc)
    assert "book/intro" in files
    missing = [f for f in files if not any((ROOT / f"{f}{ext}").is_file() for ext in ("", ".md", ".ipynb"))]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"


def test_citations_are_defined():
    bib = (BOOK / "references.bib").read_text(encoding="utf-8")
    defined = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    used = {}
    for page in _source_pages():
        for group in CITE.findall(page.read_text(encoding="utf-8")):
            for key in group.split(","):
                used.setdefault(key.strip(), page.relative_to(ROOT).as_posix())
    undefined = {k: v for k, v in used.items() if k not in defined}
    assert not undefined, f"citation keys missing from book/references.bib: {undefined}"


@pytest.mark.parametrize("page", [p for p in _source_pages() if "kernelspec" in _front_matter(p)]
                         + sorted(LABS.glob("*.md")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_notebook_pages_are_myst_notebooks(page):
    meta = _front_matter(page)
    assert meta.get("jupytext", {}).get("text_representation", {}).get("format_name") == "myst", \
        f"{page.name}: jupytext header with format_name: myst is missing"
    assert meta.get("kernelspec", {}).get("name") == "python3", f"{page.name}: kernelspec python3 is missing"


def test_published_numbers_have_sources():
    files = sorted(PUBLISHED.glob("*.csv"))
    assert files, "no published-number CSV files found"
    assert (PUBLISHED / "README.md").is_file(), "emergent_lib/data/published/README.md describes the columns"
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            assert not missing, f"{path.name}: missing columns {missing}"
            rows = list(reader)
        assert rows, f"{path.name} is empty"
        for i, row in enumerate(rows, start=2):
            for col in ("paper", "table_or_figure", "task", "metric", "value", "retrieved_from"):
                assert row[col].strip(), f"{path.name}:{i}: empty {col}"
            float(row["value"])  # every value is a number


README_TEXT = (PUBLISHED / "README.md").read_text(encoding="utf-8")


def test_published_numbers_cite_the_paper_itself():
    """A reader can check every number: its source is the paper's arXiv URL with a version
    and the table that prints it, not a copy found somewhere else."""
    arxiv_url = re.compile(r"https://arxiv\.org/abs/(\d{4}\.\d{4,5})v\d+")
    for path in sorted(PUBLISHED.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for i, row in enumerate(rows, start=2):
            source = row["retrieved_from"]
            if "arxiv" not in row:  # results the authors released as files (Pythia's evals), not a table
                assert re.fullmatch(r"github\.com/[\w.-]+/[\w.-]+@[0-9a-f]{12}", source), f"{path.name}:{i}: {source!r}"
                assert source.rsplit("@", 1)[1] in README_TEXT, f"{path.name}: commit not in the data README"
                continue
            urls = [m.group(1) for m in arxiv_url.finditer(source)]
            assert urls == [row["arxiv"]], f"{path.name}:{i}: source {source!r} is not arXiv:{row['arxiv']}"
            other = [u for u in re.findall(r"https?://\S+", source) if not arxiv_url.match(u)]
            assert not other, f"{path.name}:{i}: source names something other than the paper: {other}"
            for table in row["table_or_figure"].split(";"):
                assert table.strip() in source, f"{path.name}:{i}: source does not name {table.strip()}"
            assert "search index" not in source and "retrieved" not in source, f"{path.name}:{i}: {source!r}"
