"""DOT → SVG, PNG or PDF bytes on the server, with Graphviz's ``dot`` and its cairo renderer.

The cairo renderers draw text as glyph outlines with the DejaVu Sans font the diagrams name, so an
exported SVG, PNG or PDF looks the same in every viewer and slide tool, installed fonts or not.
PNG is rendered at ``scale`` × 96 dpi (2× by default, for sharp slides). Renders are cached by
(DOT, format, scale). The command line and its run come from the ``graphviz`` package (``dot_command``,
``run_check`` with a timeout, its ``ExecutableNotFound`` and ``CalledProcessError``). :func:`page_svg` is
what the app shows: Graphviz's own SVG writer, whose text stays ``<text>`` (selectable, found by the
browser's search), as an element to inline in a page. Without ``dot`` a :class:`RenderError` says what to
install; the app then lets the browser lay the diagrams out itself. :func:`pack` lays several diagrams out
with ``dot`` and packs them into one graph in a grid with Graphviz's ``gvpack`` (the poster); such a graph
carries every position and is drawn as placed (``render(..., placed=True)``: ``neato -n2``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

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


def render(dot: str, fmt: str, scale: float = 2.0, placed: bool = False) -> bytes:
    """The diagram ``dot`` rendered as ``fmt`` (svg, png or pdf); PNG at ``scale`` × 96 dpi. ``placed``: ``dot``
    already carries every position (:func:`pack`'s output), drawn as it is instead of laid out."""
    if fmt not in FORMATS:
        raise RenderError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    return _render(dot, fmt, float(scale) if fmt == "png" else 1.0, placed)


@functools.lru_cache(maxsize=256)
def _render(dot: str, fmt: str, scale: float, placed: bool) -> bytes:
    args = [f"-Gdpi={96 * scale:g}"] if fmt == "png" else []
    return _run(dot, fmt, fmt, "cairo", args, *(("neato", 2) if placed else ()))


@functools.lru_cache(maxsize=512)
def layout(dot: str) -> str:
    """``dot`` laid out by ``dot``: the same graph with every position and its bounding box (``bb``)."""
    return _run(dot, "layout", "dot", None, []).decode()


def pack(graphs: list[str], columns: int, margin: int = 36) -> str:
    """The graphs laid out (:func:`layout`) and packed into one graph by ``gvpack``: a grid of ``columns``
    columns filled row by row in the given order, cells aligned at the top, ``margin`` points apart. Each
    graph's own label is dropped (gvpack keeps clusters, so a title belongs in a cluster)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # one dot process per graph
        laid = list(pool.map(layout, graphs))
    # gvpack orders by size unless told: each graph's sortv and the u flag keep ours
    laid = [re.sub(r"\A(\s*digraph\b[^{]*\{)", rf"\1 graph [sortv={i}];", g, count=1) for i, g in enumerate(laid)]
    cmd = ["gvpack", f"-array_ut{columns}", f"-m{margin}"]
    return _execute(cmd, "\n".join(laid).encode(), "the packed graphs").decode()


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


def _run(dot: str, what: str, fmt: str, renderer: str | None, args: list[str], engine: str = "dot",
         no_op: int | None = None) -> bytes:
    """``dot`` run on ``dot`` to ``fmt`` (with ``renderer``, e.g. cairo, or Graphviz's own writer; ``engine``
    ``neato`` with ``no_op`` 2 keeps the positions the graph carries)."""
    if not dot_available():
        raise RenderError(f"Graphviz 'dot' was not found, so {what.upper()} cannot be rendered: {INSTALL_HINT}")
    # the graphviz package's command line: dot -Kengine -Tfmt[:renderer] [-n2]
    cmd = dot_command.command(engine, fmt, renderer=renderer, neato_no_op=no_op)
    return _execute(cmd + args, dot.encode(), what)


def _execute(cmd: list, data: bytes, what: str) -> bytes:
    """A Graphviz program run on ``data``, its output; every failure a :class:`RenderError` saying why."""
    tool = str(cmd[0])
    try:
        proc = execute.run_check(cmd, input=data, capture_output=True, timeout=TIMEOUT, quiet=True)
    except graphviz.ExecutableNotFound:
        raise RenderError(f"Graphviz '{tool}' was not found, so {what.upper()} cannot be rendered: "
                          f"{INSTALL_HINT}") from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"{tool} failed to render {what}: {exc.stderr.decode(errors='replace').strip()[:500]}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{tool} took longer than {TIMEOUT} s to render {what}") from None
    if not proc.stdout:
        raise RenderError(f"{tool} rendered an empty {what}")
    return proc.stdout
