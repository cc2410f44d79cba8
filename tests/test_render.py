"""Server-side renders: real Graphviz output of the right type, sizes for slides, clear errors."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from gallery import render as render_module
from gallery.diagram import to_dot
from gallery.render import RenderError, render

from .conftest import spec_ids


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # IHDR width, height


@pytest.mark.parametrize("slug", spec_ids())
def test_every_bundled_diagram_renders_to_svg(bundled, slug):
    svg = render(to_dot(bundled[slug][0]), "svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.findall(".//{http://www.w3.org/2000/svg}path")  # text drawn as glyph outlines


@pytest.mark.parametrize("theme", ["light", "dark", "transparent"])
def test_png_and_pdf_have_their_signatures(bundled, theme):
    dot = to_dot(bundled["gemma-2-9b"][0], theme)
    assert render(dot, "pdf")[:5] == b"%PDF-"
    _png_size(render(dot, "png"))


def test_png_scale_multiplies_the_pixels(bundled):
    dot = to_dot(bundled["llama-2-7b-hf"][0])
    w1, h1 = _png_size(render(dot, "png", scale=1))
    w2, h2 = _png_size(render(dot, "png", scale=2))
    assert abs(w2 - 2 * w1) <= 2 and abs(h2 - 2 * h1) <= 2


def test_pdf_embeds_the_diagram_font(bundled):
    pdf = render(to_dot(bundled["qwen3-8b"][0]), "pdf")
    assert b"DejaVu" in pdf and b"/FontFile" in pdf


def test_unknown_format_is_a_clear_error():
    with pytest.raises(RenderError, match="choose one of svg, png, pdf"):
        render("digraph {}", "gif")


def test_missing_dot_says_what_to_install(monkeypatch):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match="apt-get install -y graphviz"):
        render('digraph { "only in this test" }', "png")


def test_bad_dot_reports_graphviz_message():
    with pytest.raises(RenderError, match="syntax error"):
        render("digraph { a -> }", "svg")


def test_dot_vanishing_after_the_check_is_the_same_clear_error(monkeypatch):
    """The graphviz package's ExecutableNotFound (dot gone from PATH between the check and the run) says what to
    install too, not a traceback."""
    monkeypatch.setattr(render_module, "dot_available", lambda: True)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RenderError, match="apt-get install -y graphviz"):
        render('digraph { "only in this test too" }', "svg")
