"""A real ``streamlit run`` server on a free port, and Debian's Chromium driven by Playwright.

The browser is ``GALLERY_CHROMIUM`` or the first ``chromium`` on ``PATH`` (``bench.browser``). In CI
(``CI=true``) a missing browser or ``dot`` is a failure, never a skip: ``make test`` installs them.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.browser import ARGS, HINT, chromium, wait_drawn
from bench.server import serve

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


LOGS: list[Path] = []  # the logs of the servers this process started, newest last
LOG_TAIL = 40  # lines of each log a failed test's report shows


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test's report ends with the tail of each app server's log: what the server said (a deferred
    download's error, a traceback) is then in CI's output, not in a file of a clone that is gone."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for path in LOGS:
        lines = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
        report.sections.append((f"server log {path.name}, last {LOG_TAIL} lines", "\n".join(lines[-LOG_TAIL:])))


@pytest.fixture(scope="session")
def app_url(app_server):
    """The base URL of the app server."""
    return app_server[0]


@contextmanager
def streamlit_server(env: dict[str, str], log_name: str = ".e2e-server.log"):
    """Run the app with ``env`` added to this environment (``bench.server.serve``), its output in ``log_name`` (one
    per pytest-xdist worker: `make test` runs one per CPU); yield (base URL, server process); stop it."""
    _require("Graphviz dot", shutil.which("dot") is not None, "apt-get install -y graphviz")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    log = ROOT / (log_name.replace(".log", f".{worker}.log") if worker else log_name)
    LOGS.append(log)
    with serve("gallery_server.py", ROOT, env, log) as server:
        yield server


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


def open_controls(page, label: str) -> None:
    """Open the page's popover of controls ``label`` (``views.common.controls``): its widgets are drawn only then."""
    from playwright.sync_api import expect

    page.get_by_role("button", name=label).click()
    expect(page.get_by_test_id("stPopoverBody")).to_be_visible()
    wait_for_app(page)


def download(page, label: str) -> tuple[bytes, str]:
    """Click the download button ``label``: the file's bytes and the name the browser was given. The server makes an
    export when it is clicked (a deferred download, rendered by ``dot`` if not cached), so it may take a while."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=label).click()
    return open(info.value.path(), "rb").read(), info.value.suggested_filename
