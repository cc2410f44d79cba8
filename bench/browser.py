"""The headless Chromium that the benchmark and the browser tests launch: which executable, which flags, and
when a page of the app counts as drawn.

The executable is ``GALLERY_CHROMIUM`` when set (a path, or a name looked up on ``PATH``), otherwise the
first ``chromium`` (or ``chromium-browser``) on ``PATH``: Debian's package is a real browser, the one
``make test`` installs (README, "Two commands"). The flags are those for a browser run as root in a
container without a display or outside traffic (Playwright's and Chromium's own headless advice).
"""

from __future__ import annotations

import os
import shutil

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
HINT = "set GALLERY_CHROMIUM to its path, or apt-get install -y chromium"


def chromium() -> str | None:
    """The browser's executable, or None when there is none."""
    named = os.environ.get("GALLERY_CHROMIUM")
    if named:
        return shutil.which(named)
    return shutil.which("chromium") or shutil.which("chromium-browser")


DRAWN = """svg => {
  const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.dataset.testConnectionState === "CONNECTED" && app.dataset.testScriptState === "notRunning"
    && !document.querySelector("[data-testid='stSkeleton']")
    && (!svg || !!document.querySelector(".gallery-diagram svg, [data-testid='stGraphVizChart'] svg"));
}"""


def wait_drawn(page, svg: bool = False) -> None:
    """Wait until the app's page is drawn: connected, its script idle, no element still the placeholder shown
    while its lazily loaded JavaScript arrives (``stSkeleton``), and (``svg``) the diagram in place.

    Checked by the page's own ``querySelector`` at each animation frame (``wait_for_function``). Not with
    Playwright's ``wait_for_selector``: its selector engine walks every node and shadow root at each poll and
    checks visibility, so the wait itself took renderer time in proportion to the page (the Model page's warm
    load, 5 runs: 1,128 ms that way against 907 ms to the same point). And not at "script idle" alone: the Model
    page then still showed 12 placeholders (metrics, buttons, the selectboxes), drawn over the next ~200 ms.
    """
    page.wait_for_function(DRAWN, arg=svg, timeout=120_000)
