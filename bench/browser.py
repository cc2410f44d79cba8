"""The headless Chromium that the benchmark and the browser tests launch: which executable, which flags.

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
