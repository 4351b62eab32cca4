"""Browser check of the built book (`_build/html`), with Playwright and headless Chromium.

It serves the built site on 127.0.0.1, walks the pages in table-of-contents order by
following the "next" links from the root page, and checks each page: a title heading,
no error output from executed cells and no warning, progress bar or machine path in any
output, maths typeset by the site's own MathJax, a rendered figure on every lab page, and
working previous/next navigation. No page may send a request off the machine (each one is
recorded and aborted) or get an error from the local server. On each lab page, every
control of the interactive figures changes what is drawn, and without scripts each figure
is still an image. It also runs a search and downloads a lab as a notebook. Screenshots
go to `_build/screenshots/`.

Build the book first with `make book`. If the book has not been built the test fails,
unless EMERGENT_ALLOW_NO_BOOK=1 is set, in which case it is skipped.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("EMERGENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
# Generated pages that are not chapters: the redirect, the search page, the index.
NOT_PAGES = {"index.html", "search.html", "genindex.html", "py-modindex.html"}
NOT_PAGE_DIRS = {"_static", "_sources", "_images", "_downloads", "jupyter_execute", "_panels_static"}
TRACEBACK = "Traceback (most recent call last)"
# What a reader should never see in a cell's output: a library's warning, a path of the
# machine that built the book, a progress bar.
NOT_FOR_READERS = re.compile(r"\b\w*Warning\b|/root/|/home/|/work/|/tmp/|site-packages|\.venv/|\bit/s\]")
# An exception line at the start of a line of cell output, e.g. "ValueError: ..." or "Error: ...".
ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*Error|Exception|Error)\b:", re.MULTILINE)


def _require_book() -> None:
    if (HTML / "index.html").is_file():
        return
    if os.environ.get("EMERGENT_ALLOW_NO_BOOK") == "1":
        pytest.skip("_build/html/index.html is missing and EMERGENT_ALLOW_NO_BOOK=1: book not built, browser check skipped")
    pytest.fail("_build/html/index.html is missing: run `make book` first "
                "(or set EMERGENT_ALLOW_NO_BOOK=1 to skip this check)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on a free port of 127.0.0.1; yields the base URL."""
    _require_book()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser():
    _require_book()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; set EMERGENT_CHROMIUM to its path")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def offsite() -> list[str]:
    """Requests that would have left the machine (aborted), and local requests that failed."""
    return []


@pytest.fixture(scope="module")
def page(browser, offsite):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    # Everything the site needs is on the site: a request to any other host is recorded
    # (test_no_request_leaves_the_machine fails on it) and aborted.
    def block(route):
        offsite.append(f"{route.request.url} (from {route.request.frame.url})")
        route.abort()

    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:|about:).*"), block)
    pg = context.new_page()
    pg.on("response", lambda r: r.status >= 400 and offsite.append(f"{r.url}: HTTP {r.status}"))
    yield pg
    context.close()


def _goto(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_load_state("load")


def _path(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _built_pages() -> set[str]:
    """Every chapter-like HTML page the build produced, relative to _build/html."""
    pages = set()
    for f in HTML.rglob("*.html"):
        rel = f.relative_to(HTML)
        if rel.parts[0] in NOT_PAGE_DIRS or rel.as_posix() in NOT_PAGES:
            continue
        pages.add(rel.as_posix())
    return pages


@pytest.fixture(scope="module")
def toc_order(site, page):
    """Pages in reading order: start at the root page and follow the "next" links."""
    _goto(page, site)  # index.html redirects to the root page of the toc
    page.wait_for_function("() => !location.pathname.endsWith('/index.html') && location.pathname !== '/'",
                           timeout=15_000)
    # The redirect may still be loading the root page: load it again, fully, before reading
    # its links (on a fast machine the "next" link was read from a page not yet parsed).
    _goto(page, page.url)
    order = [_path(page.url)]
    while True:
        nxt = page.locator("a.right-next")
        if nxt.count() == 0:
            break
        url = urljoin(page.url, nxt.first.get_attribute("href"))
        assert _path(url) not in order, f"'next' links loop back to {_path(url)}"
        _goto(page, url)
        order.append(_path(page.url))
    return order


def test_every_built_page_is_in_the_reading_order(toc_order):
    missing = _built_pages() - set(toc_order)
    assert not missing, f"pages built but not reachable with the next/prev links: {sorted(missing)}"
    assert toc_order[0] == "book/intro.html", f"the root page should be book/intro.html, got {toc_order[0]}"


def _expected_title(page) -> str:
    # Sphinx writes "<page title> — <book title>" into <title>.
    return page.title().split(" \u2014 ")[0].strip()


def _h1_text(page) -> str:
    h1 = page.locator("article h1, main h1").first
    # Drop the "#" permalink that Sphinx appends to headings.
    return h1.inner_text().replace("#", "").strip()


def test_pages(site, page, toc_order):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    problems: list[str] = []
    for i, rel in enumerate(toc_order):
        _goto(page, urljoin(site, rel))
        name = rel.replace("/", "__").removesuffix(".html")
        page.screenshot(path=str(SHOTS / f"{i:02d}_{name}.png"), full_page=True)

        # 1. a visible h1 whose text is the page title
        if page.locator("article h1, main h1").count() == 0:
            problems.append(f"{rel}: no h1 heading")
        else:
            title, h1 = _expected_title(page), _h1_text(page)
            if not title or h1 != title:
                problems.append(f"{rel}: h1 {h1!r} does not match the page title {title!r}")

        # 2. no error output from executed cells
        if page.locator(".cell_output .output.traceback, .cell_output .output.error").count():
            problems.append(f"{rel}: a cell produced an error (traceback output)")
        outputs = page.locator(".cell_output")
        for k in range(outputs.count()):
            text = outputs.nth(k).inner_text()
            if TRACEBACK in text:
                problems.append(f"{rel}: cell output {k} contains {TRACEBACK!r}")
        for k in range(outputs.count()):
            found = NOT_FOR_READERS.search(outputs.nth(k).inner_text())
            if found:
                problems.append(f"{rel}: cell output {k} shows {found.group(0)!r}, not for readers")
        problems += _maths_problems(page, rel)
        stderr = page.locator(".cell_output .output.stderr")
        for k in range(stderr.count()):
            text = stderr.nth(k).inner_text()
            if ERROR_LINE.search(text):
                problems.append(f"{rel}: stderr output {k} reports an error: {text[:200]!r}")

        # 3. lab pages (and any page whose cells draw figures) show a rendered figure
        if rel.startswith("labs/"):
            n = _rendered_output_images(page)
            if n == 0:
                problems.append(f"{rel}: lab page without a rendered figure in its cell outputs")
    assert not problems, "\n".join(problems)


def _maths_problems(page, rel: str) -> list[str]:
    """Every maths element typeset by MathJax (served by the site), none left as raw TeX."""
    n = page.locator("span.math, div.math").count()
    if n == 0:
        return []
    try:
        page.wait_for_function("n => document.querySelectorAll('mjx-container').length >= n", arg=n,
                               timeout=20_000)
    except Exception:
        typeset = page.locator("mjx-container").count()
        return [f"{rel}: {typeset} of {n} maths elements typeset by MathJax"]
    text = page.locator("article").inner_text()
    return [f"{rel}: raw TeX on the page: {m!r}" for m in re.findall(r"\\[(\[].{0,30}", text)[:3]]


def test_no_request_leaves_the_machine(page, offsite, toc_order):
    """After every page was loaded (toc_order and test_pages), nothing was asked of another host."""
    assert not offsite, "requests off the site or failed:\n" + "\n".join(sorted(set(offsite))[:20])


def _lab_pages(toc_order) -> list[str]:
    labs = [rel for rel in toc_order if rel.startswith("labs/")]
    assert labs, "no lab pages in the reading order"
    return labs


def _drawn(figure) -> str:
    return figure.locator(".emergent-plot .plot-container").first.inner_html()


def test_interactive_figures_respond_to_their_controls(site, page, toc_order):
    """Each lab page has an interactive figure; every control of it changes what is drawn."""
    problems = []
    for rel in _lab_pages(toc_order):
        _goto(page, urljoin(site, rel))
        figures = page.locator(".emergent-figure")
        if figures.count() == 0:
            problems.append(f"{rel}: no interactive figure")
            continue
        page.wait_for_selector(".emergent-figure-live .plot-container", timeout=20_000)
        for f in range(figures.count()):
            figure = figures.nth(f)
            controls = figure.locator(".emergent-controls select, .emergent-controls input[type=range]")
            if controls.count() == 0:
                problems.append(f"{rel}: figure {f} has no controls")
            for c in range(controls.count()):
                control, before = controls.nth(c), _drawn(figure)
                name = control.get_attribute("name")
                control.evaluate("""el => {
                    if (el.tagName === 'SELECT') el.selectedIndex = (el.selectedIndex + 1) % el.options.length;
                    else el.value = el.value === el.max ? el.min : el.max;
                    el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input'));
                }""")
                try:
                    page.wait_for_function("([fig, old]) => fig.querySelector('.plot-container').innerHTML !== old",
                                           arg=[figure.element_handle(), before], timeout=5_000)
                except Exception:
                    problems.append(f"{rel}: figure {f}: changing '{name}' left the figure as it was")
        page.screenshot(path=str(SHOTS / f"interactive_{rel.replace('/', '__').removesuffix('.html')}.png"))
    assert not problems, "\n".join(problems)


def test_figures_are_images_without_scripts(browser, site, toc_order):
    """Where scripts do not run, each interactive figure is still a picture (its first view)."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
    pg = context.new_page()
    problems = []
    try:
        for rel in _lab_pages(toc_order):
            _goto(pg, urljoin(site, rel))
            images = pg.evaluate("() => [...document.querySelectorAll('.emergent-figure .emergent-plot img')]"
                                 ".map(img => img.complete && img.naturalWidth > 100)")
            if not images or not all(images):
                problems.append(f"{rel}: {images.count(True)} of {len(images)} figures shown as an image")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_lab_downloads_as_a_notebook(site, page):
    """The download button of a lab offers the executed notebook (.ipynb) on the course's kernel."""
    _goto(page, urljoin(site, "labs/lab1_first_emergence_curve.html"))
    link = page.locator("a[href$='.ipynb']")
    assert link.count() >= 1, "no .ipynb in the download menu of Lab 1"
    reply = page.request.get(urljoin(page.url, link.first.get_attribute("href")))
    assert reply.ok, f"the .ipynb link answers HTTP {reply.status}"
    nb = reply.json()
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) > 5 and sum(bool(c.get("outputs")) for c in code) > 5, "the notebook should carry its outputs"


def _rendered_output_images(page) -> int:
    page.evaluate("() => Promise.all([...document.querySelectorAll('.cell_output img')].map("
                  "img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })))")
    return page.evaluate("() => [...document.querySelectorAll('.cell_output img')]"
                         ".filter(img => img.complete && img.naturalWidth > 0).length")


def test_evidence_page_shows_the_published_figure(site, page):
    _goto(page, urljoin(site, "book/evidence.html"))
    assert _rendered_output_images(page) >= 1, "the evidence chapter should show its re-plotted figure"
    caption = page.locator("figure#fig-gpt3-fewshot figcaption").inner_text()
    assert "Table H.1" in caption and "Brown et al." in caption
    assert "Sources of the plotted numbers" in page.locator(".cell_output").last.inner_text()


def test_next_and_previous_links(site, page, toc_order):
    for here, there in zip(toc_order, toc_order[1:]):
        _goto(page, urljoin(site, here))
        nxt = page.locator("a.right-next")
        assert nxt.count() == 1, f"{here}: no 'next' link"
        with page.expect_navigation(wait_until="load"):
            nxt.first.click()
        assert _path(page.url) == there, f"'next' on {here} led to {_path(page.url)}, expected {there}"
        prev = page.locator("a.left-prev")
        assert prev.count() == 1, f"{there}: no 'previous' link"
        with page.expect_navigation(wait_until="load"):
            prev.first.click()
        assert _path(page.url) == here, f"'previous' on {there} led to {_path(page.url)}, expected {here}"
    _goto(page, urljoin(site, toc_order[-1]))
    assert page.locator("a.right-next").count() == 0, "the last page should have no 'next' link"


def test_search_finds_emergence(site, page):
    _goto(page, urljoin(site, "search.html?q=emergence"))
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(state="attached", timeout=30_000)
    assert results.count() >= 1
    page.screenshot(path=str(SHOTS / "search_emergence.png"), full_page=False)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))
