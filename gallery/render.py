"""DOT → SVG, PNG or PDF bytes on the server, with Graphviz's ``dot`` and its cairo renderer.

The cairo renderers draw text as glyph outlines with the DejaVu Sans font the diagrams name, so an
exported SVG, PNG or PDF looks the same in every viewer and slide tool, installed fonts or not.
PNG is rendered at ``scale`` × 96 dpi (2× by default, for sharp slides). Renders are cached by
(DOT, format, scale). The command line and its run come from the ``graphviz`` package (``dot_command``,
``run_check`` with a timeout, its ``ExecutableNotFound`` and ``CalledProcessError``). Without ``dot`` a
:class:`RenderError` says what to install; the app still shows diagrams, which the browser lays out itself.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

import graphviz
from graphviz.backend import dot_command, execute

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}
TIMEOUT = 60  # seconds a render may take
INSTALL_HINT = "install Graphviz: apt-get install -y graphviz (or brew install graphviz)"


class RenderError(RuntimeError):
    """The diagram could not be rendered; the message says why and what to do."""


def dot_available() -> bool:
    """True when Graphviz's ``dot`` is on PATH."""
    return shutil.which("dot") is not None


def render(dot: str, fmt: str, scale: float = 2.0) -> bytes:
    """The diagram ``dot`` rendered as ``fmt`` (svg, png or pdf); PNG at ``scale`` × 96 dpi."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    return _render(dot, fmt, float(scale) if fmt == "png" else 1.0)


@functools.lru_cache(maxsize=256)
def _render(dot: str, fmt: str, scale: float) -> bytes:
    missing = f"Graphviz 'dot' was not found, so {fmt.upper()} cannot be rendered: {INSTALL_HINT}"
    if not dot_available():
        raise RenderError(missing)
    cmd = dot_command.command("dot", fmt, renderer="cairo")  # the graphviz package's command line: dot -Kdot -Tfmt:cairo
    if fmt == "png":
        cmd.append(f"-Gdpi={96 * scale:g}")
    try:
        proc = execute.run_check(cmd, input=dot.encode(), capture_output=True, timeout=TIMEOUT, quiet=True)
    except graphviz.ExecutableNotFound:
        raise RenderError(missing) from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"dot failed to render {fmt}: {exc.stderr.decode(errors='replace').strip()[:500]}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot took longer than {TIMEOUT} s to render {fmt}") from None
    if not proc.stdout:
        raise RenderError(f"dot rendered an empty {fmt}")
    return proc.stdout
