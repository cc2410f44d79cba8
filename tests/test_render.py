"""Server-side renders: real Graphviz output of the right type, sizes for slides, clear errors."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from gallery import render as render_module
from gallery.diagram import to_dot
from gallery.render import RenderError, page_svg, render

from .conftest import SVG, spec_ids


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


@pytest.mark.parametrize("slug", spec_ids())
def test_every_bundled_diagram_has_a_page_svg_with_text_at_the_export_size(bundled, slug):
    spec, config = bundled[slug]
    dot = to_dot(spec)
    root = ET.fromstring(page_svg(dot))
    export = ET.fromstring(render(dot, "svg"))
    assert (root.get("width"), root.get("height")) == (export.get("width"), export.get("height"))  # one layout
    texts = list(root.iter(f"{SVG}text"))
    assert f"vocab {config['vocab_size']:,}" in "\n".join("".join(t.itertext()) for t in texts)  # text stays text
    # Drawn at its natural size (1 pt = 4/3 px), a 9 pt label is 12 px: readable (tests/e2e measures it)
    assert min(float(t.get("font-size")) for t in texts) >= 9


def test_page_svgs_can_share_a_page_and_exports_stay_byte_identical(bundled):
    dots = [to_dot(bundled[s][0]) for s in ("gpt2", "qwen3-8b")]
    ids = [[e.get("id") for e in ET.fromstring(page_svg(d)).iter() if e.get("id")] for d in dots]
    assert ids[0] and ids[1] and not set(ids[0]) & set(ids[1])
    assert not page_svg(dots[0]).startswith("<?xml")  # an element to inline in HTML, not a document
    render_module._render.cache_clear()
    first = render(dots[0], "svg")
    render_module._render.cache_clear()
    assert render(dots[0], "svg") == first and b"<text" not in first  # exports: glyph outlines, same bytes


def test_dot_vanishing_after_the_check_is_the_same_clear_error(monkeypatch):
    """The graphviz package's ExecutableNotFound (dot gone from PATH between the check and the run) says what to
    install too, not a traceback."""
    monkeypatch.setattr(render_module, "dot_available", lambda: True)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RenderError, match="apt-get install -y graphviz"):
        render('digraph { "only in this test too" }', "svg")
