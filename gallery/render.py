"""DOT → SVG, PNG or PDF bytes on the server, with Graphviz's ``dot`` and its cairo renderer.

The cairo renderers draw text as glyph outlines with the DejaVu Sans font the diagrams name, so an
exported SVG, PNG or PDF looks the same in every viewer and slide tool, installed fonts or not.
PNG is rendered at ``scale`` × 96 dpi (2× by default, for sharp slides). Renders are cached by
(DOT, format, scale). The command line and its run come from the ``graphviz`` package (``dot_command``,
``run_check`` with a timeout, its ``ExecutableNotFound`` and ``CalledProcessError``). :func:`page_svg` is
what the app shows: Graphviz's own SVG writer, whose text stays ``<text>`` (selectable, found by the
browser's search), as an element to inline in a page. Without ``dot`` a :class:`RenderError` says what to
install; the app then lets the browser lay the diagrams out itself.
"""

from __future__ import annotations

import functools
import hashlib
import re
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
    return _run(dot, fmt, fmt, "cairo", [f"-Gdpi={96 * scale:g}"] if fmt == "png" else [])


@functools.lru_cache(maxsize=512)
def page_svg(dot: str) -> str:
    """The diagram as one ``<svg>`` element for a web page, at its natural size (1 pt = 4/3 CSS px).

    Graphviz's core SVG writer (text as ``<text>`` in DejaVu Sans), without the XML prolog, comments
    and blank lines, its element ids prefixed with a hash of ``dot`` so several diagrams can share a
    page. Cached by DOT (which includes the theme).
    """
    svg = _run(dot, "page SVG", "svg", None, []).decode()
    svg = re.sub(r"<!--.*?-->", "", svg[svg.index("<svg"):], flags=re.S)
    prefix = hashlib.sha1(dot.encode()).hexdigest()[:8]
    svg = svg.replace(' id="', f' id="d{prefix}-')
    return "\n".join(line for line in svg.splitlines() if line.strip())


def _run(dot: str, what: str, fmt: str, renderer: str | None, args: list[str]) -> bytes:
    """``dot`` run on ``dot`` to ``fmt`` (with ``renderer``, e.g. cairo, or Graphviz's own writer)."""
    missing = f"Graphviz 'dot' was not found, so {what.upper()} cannot be rendered: {INSTALL_HINT}"
    if not dot_available():
        raise RenderError(missing)
    cmd = dot_command.command("dot", fmt, renderer=renderer)  # the graphviz package's: dot -Kdot -Tfmt[:renderer]
    cmd.extend(args)
    try:
        proc = execute.run_check(cmd, input=dot.encode(), capture_output=True, timeout=TIMEOUT, quiet=True)
    except graphviz.ExecutableNotFound:
        raise RenderError(missing) from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"dot failed to render {what}: {exc.stderr.decode(errors='replace').strip()[:500]}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"dot took longer than {TIMEOUT} s to render {what}") from None
    if not proc.stdout:
        raise RenderError(f"dot rendered an empty {what}")
    return proc.stdout
