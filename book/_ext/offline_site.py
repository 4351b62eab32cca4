"""Sphinx extension: the built site serves every script and font its pages use.

- MathJax 3 from the `sphinx-mathjax-offline` wheel: only the TeX-to-HTML bundle that
  `mathjax_path` names (_config.yml), the TeX extensions it loads on demand and its fonts,
  about 2 MB of the wheel's 24 MB.
- Plotly's JavaScript from the `plotly` wheel and `emergent_lib/static/figures.js`, which
  draws the interactive figures of `emergent_lib.interactive`; they are copied once and
  only pages with such a figure load them.
- The download button of every executed page offers its notebook as .ipynb (the theme does
  so for Markdown notebooks only when a launch button is configured; the site has none).
- The Figure index is read again at every build, so it lists the labs as they are now.
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
        shutil.copy2(executed, target)
        context["ipynb_source"] = f"{pagename}.ipynb"


FIGURE_INDEX = "book/figures"  # the page whose table is computed from the labs


def reread_figure_index(app, env, added, changed, removed):
    """The Figure index (book/figures.md) is computed from the labs' code, so it is read (and,
    with its `execution_mode: force`, executed) at every build; otherwise a build after a lab
    changed would keep the old table, since the page itself did not change."""
    return [FIGURE_INDEX] if FIGURE_INDEX in env.found_docs else []


def setup(app):
    app.connect("env-get-outdated", reread_figure_index)
    app.connect("html-page-context", add_figure_scripts)
    app.connect("html-page-context", offer_notebook, priority=400)  # before the theme's buttons (501)
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
