"""A ``streamlit run`` server on a free local port: the one way the benchmark and the browser tests serve the app.

Both meet the app as a visitor does (a real server, headless, no file watcher, no usage statistics), so the page
``python -m bench`` times is the page the browser tests drive.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_S = 60  # seconds a server may take to answer its health check (1.2 s on this idle 2-core machine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(script: str = "gallery_server.py", cwd: Path = ROOT, env: dict[str, str] | None = None,
          log: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``script`` in ``cwd`` with ``env`` added to this process's environment, its output written to ``log``
    (discarded when None); yield (base URL, process) once it answers; stop it after. RuntimeError when it does not
    answer within :data:`START_S` seconds (the log says why)."""
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
         "--global.developmentMode=false"],
        cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if log:
            out.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path | None) -> None:
    deadline = time.time() + START_S
    while time.time() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not start at {url}" + (f"; see {log}" if log else ""))
