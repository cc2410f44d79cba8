"""DOT → SVG, PNG or PDF bytes on the server, with Graphviz's ``dot`` and its cairo renderer.

The cairo renderers draw text as glyph outlines with the DejaVu Sans font the diagrams name, so an
exported SVG, PNG or PDF looks the same in every viewer and slide tool, installed fonts or not.
PNG is rendered at ``scale`` × 96 dpi (2× by default, for sharp slides). Renders are cached by
(DOT, format, scale). Without ``dot`` a :class:`RenderError` says what to install; the app still
shows diagrams, which the browser lays out itself.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}
_DEVICES = {"svg": "svg:cairo", "png": "png:cairo", "pdf": "pdf:cairo"}
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
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(f"Graphviz 'dot' was not found, so {fmt.upper()} cannot be rendered: {INSTALL_HINT}")
    args = [exe, f"-T{_DEVICES[fmt]}"]
    if fmt == "png":
        args.append(f"-Gdpi={96 * scale:g}")
    proc = subprocess.run(args, input=dot.encode(), capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise RenderError(f"dot failed to render {fmt}: {proc.stderr.decode(errors='replace').strip()[:500]}")
    return proc.stdout
