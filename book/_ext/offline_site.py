"""Sphinx extension: the built site serves every script and font its pages use.

- MathJax 3 from the `sphinx-mathjax-offline` wheel: only the TeX-to-HTML bundle that
  `mathjax_path` names (_config.yml), the TeX extensions it loads on demand and its fonts,
  about 2 MB of the wheel's 24 MB.
- Plotly's JavaScript from the `plotly` wheel and `emergent_lib/static/figures.js`, which
  draws the interactive figures of `emergent_lib.interactive`; they are copied once and
  only pages with such a figure load them.
- The download button of every executed page offers its notebook as .ipynb (the theme does
  so for Markdown notebooks only when a launch button is configured; the site has none).
- The Figure index is read again at every build, so it lists the labs as they are now, and a
  page whose previous or next page changed is written again.
"""
from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import plotly

import emergent_lib

MATHJAX_PARTS = ("tex-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2")
FIGURE_SCRIPTS = {
    "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
    "emergent-figures.js": Path(emergent_lib.__file__).parent / "static" / "figures.js",
}
FIGURE_MARK = 'class="emergent-figure"'


def _mathjax_dir() -> Path:
    return Path(metadata.distribution("sphinx-mathjax-offline").locate_file("sphinx-mathjax-offline/static/mathjax"))


def copy_assets(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    source = _mathjax_dir()
    for part in MATHJAX_PARTS:
        src, dst = source / part, static / "mathjax" / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    for name, src in FIGURE_SCRIPTS.items():
        shutil.copy2(src, static / name)


def add_figure_scripts(app, pagename, templatename, context, doctree) -> None:
    if FIGURE_MARK in context.get("body", ""):
        for name in FIGURE_SCRIPTS:
            app.add_js_file(name, defer="defer")


def offer_notebook(app, pagename, templatename, context, doctree) -> None:
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if context.get("sourcename", "").endswith((".md", ".md.txt")) and executed.is_file():
        target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        merged = _from_execution_cache(app, pagename)
        if merged is None:
            shutil.copy2(executed, target)
        else:
            import nbformat

            nbformat.write(merged, target)
        context["ipynb_source"] = f"{pagename}.ipynb"


def _from_execution_cache(app, pagename):
    """The page's notebook with the outputs of its cached run, or None if the cache has none.

    myst-nb's copy in jupyter_execute/ has no outputs when a page is read again and its
    outputs come from the execution cache (after any change to the build's configuration),
    so the download would be an empty notebook. Pages executed at every build (the Figure
    index) are not in the cache; their copy in jupyter_execute/ is the executed one."""
    import jupytext
    from jupyter_cache import get_cache

    cache = Path(app.outdir).parent / ".jupyter_cache"
    source = Path(app.srcdir) / f"{pagename}.md"
    if not cache.is_dir() or not source.is_file():
        return None
    try:
        return get_cache(cache).merge_match_into_notebook(jupytext.read(source))[1]
    except KeyError:  # this code has no cached run
        return None


FIGURE_INDEX = "book/figures"  # the page whose table is computed from the labs


def reread_figure_index(app, env, added, changed, removed):
    """The Figure index (book/figures.md) is computed from the labs' code, so it is read (and,
    with its `execution_mode: force`, executed) at every build; otherwise a build after a lab
    changed would keep the old table, since the page itself did not change."""
    return [FIGURE_INDEX] if FIGURE_INDEX in env.found_docs else []


def rewrite_moved_neighbours(app, env):
    """Pages whose previous or next page changed (a page added to the table of contents) are
    written again: Sphinx rewrites only the pages it read, and their old links would skip the
    new page."""
    relations = env.collect_relations()
    before = getattr(env, "emergent_relations", None)
    env.emergent_relations = relations
    if before is None:
        return []
    return [doc for doc, links in relations.items() if before.get(doc) != links]


def setup(app):
    app.connect("env-get-outdated", reread_figure_index)
    app.connect("env-get-updated", rewrite_moved_neighbours)
    app.connect("html-page-context", add_figure_scripts)
    app.connect("html-page-context", offer_notebook, priority=400)  # before the theme's buttons (501)
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
