"""A student's first click: JupyterLab, started as the README says, opens Lab 1 as a notebook.

The test starts a real JupyterLab server of this environment (`jupyter lab labs/`, as
`make lab` does, on a copy of labs/: JupyterLab saves an open notebook by itself, and
jupytext would rewrite the lab) on a free port of 127.0.0.1, with a token and its own
runtime, config and user-settings folders, opens Lab 1 in headless Chromium, checks that it is a notebook
(a notebook panel with cells, not a text editor) on the course's kernel, and runs its first
code cell. The default viewer comes from the settings `make install` puts in the
environment (jupyter/lab-settings.json); the first cell needs the toy zoo (`make zoo`).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("EMERGENT_CHROMIUM", "/usr/bin/chromium")
SETTINGS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "emergent-labs.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server started as the README says; yields (base URL, token)."""
    if not SETTINGS.is_file():
        pytest.fail(f"{SETTINGS} is missing: run `make install` (it makes the labs open as notebooks)")
    home = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(ROOT / "labs", home / "labs")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "PYTHONPATH": str(ROOT)}
    log = open(home / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "labs/", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0", "--allow-root"],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_lab1_opens_as_a_notebook_and_runs(jupyterlab):
    base, token = jupyterlab
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; set EMERGENT_CHROMIUM to its path")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
            page = context.new_page()
            page.goto(f"{base}/lab?token={token}")
            # a double click on the file, as a student does
            item = page.locator(".jp-DirListing-item", has_text="lab1_first_emergence_curve.md")
            item.wait_for(timeout=60_000)
            item.dblclick()
            panel = page.locator(".jp-MainAreaWidget.jp-NotebookPanel:visible")
            panel.wait_for(timeout=60_000)
            assert page.locator(".jp-MainAreaWidget .jp-FileEditor:visible").count() == 0, \
                "Lab 1 opened in a text editor"
            # the panel draws the cells in view (JupyterLab renders long notebooks lazily)
            page.wait_for_function("el => el.querySelectorAll('.jp-Cell').length >= 3",
                                   arg=panel.element_handle(), timeout=60_000)
            served = json.loads(urllib.request.urlopen(
                f"{base}/api/contents/lab1_first_emergence_curve.md?type=notebook&token={token}").read())
            n_code = sum(c["cell_type"] == "code" for c in served["content"]["cells"])
            assert served["type"] == "notebook" and n_code > 10, f"Lab 1 served with {n_code} code cells"

            # run the cell once the kernel is up (a cell run while it starts can be dropped)
            deadline = time.monotonic() + 180
            while not any(k["execution_state"] == "idle" for k in
                          json.loads(urllib.request.urlopen(f"{base}/api/kernels?token={token}").read())):
                assert time.monotonic() < deadline, "the course's kernel did not start within 3 minutes"
                time.sleep(1)
            first = panel.locator(".jp-CodeCell").first
            first.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            prompt = first.locator(".jp-InputPrompt")
            (ROOT / "_build").mkdir(exist_ok=True)
            try:
                page.wait_for_function("el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(),
                                       timeout=240_000)
            finally:
                page.screenshot(path=str(ROOT / "_build" / "jupyterlab_lab1.png"))
            output = first.locator(".jp-OutputArea").inner_text()
            assert first.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0, output[-1500:]
            assert "family addition-3d-full" in output and "Traceback" not in output, output[-1500:]
            sessions = json.loads(urllib.request.urlopen(f"{base}/api/sessions?token={token}").read())
            kernels = [(s["name"], s["kernel"]["name"]) for s in sessions]
            assert kernels == [("lab1_first_emergence_curve.md", "python3")], f"kernels: {kernels}"
        finally:
            browser.close()
