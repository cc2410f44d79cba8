"""A real ``streamlit run`` server on a free port, and Debian's Chromium driven by Playwright.

The browser is ``GALLERY_CHROMIUM`` or the first ``chromium`` on ``PATH`` (``bench.browser``). In CI
(``CI=true``) a missing browser or ``dot`` is a failure, never a skip: ``make test`` installs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.browser import ARGS, HINT, chromium, wait_drawn

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = chromium()


def _require(what: str, ok: bool, hint: str) -> None:
    if ok:
        return
    message = f"{what} is not installed ({hint})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + ": .ci/run must install it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    _require("Chromium", CHROMIUM is not None, HINT)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ARGS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(app_server):
    """The base URL of the app server."""
    return app_server[0]


@contextmanager
def streamlit_server(env: dict[str, str], log_name: str = ".e2e-server.log"):
    """Run the app with ``env`` added to this environment; yield (base URL, server process); stop it."""
    _require("Graphviz dot", shutil.which("dot") is not None, "apt-get install -y graphviz")
    port = _free_port()
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # `make test` runs a pytest-xdist worker per CPU: a log each
    log = open(ROOT / (log_name.replace(".log", f".{worker}.log") if worker else log_name), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "gallery_app.py", "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none", "--global.developmentMode=false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        raise RuntimeError(f"streamlit did not start; see {log.name}")
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def app_server():
    """Start the app on the bundled specs, offline (the Hub cannot be reached); yield (base URL, process)."""
    with streamlit_server({"HF_HUB_OFFLINE": "1"}) as server:
        yield server


def wait_for_app(page) -> None:
    """Streamlit's own readiness signals, as the benchmark reads them: connected, script finished, no skeletons."""
    wait_drawn(page)


def open_exports(page) -> None:
    """Open a diagram's "Theme and slide exports" panel (drawn only when open: views.diagrams.themed)."""
    from playwright.sync_api import expect

    buttons = page.get_by_role("button", name="Download SVG")
    expect(buttons).to_have_count(0)  # closed, its controls are not drawn
    page.get_by_text("Theme and slide exports").click()
    expect(buttons).to_have_count(1)
    wait_for_app(page)
