"""Compare from a gallery card in a real browser, the changes in words, and the family tree page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import download, open_controls, open_exports, wait_for_app

pytestmark = pytest.mark.e2e


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_compare_opens_from_a_gallery_card_and_says_the_changes(page, app_url, bundled):
    _, config = bundled["deepseek-v3.2"]
    page.goto(app_url + "/?q=deepseek-v3.2")
    wait_for_app(page)
    page.get_by_role("link", name=re.compile("Compare with")).click()
    expect(page).to_have_url(re.compile(r"/compare\?models=deepseek-v3\.2$"), timeout=30_000)
    wait_for_app(page)
    _no_exception(page)
    open_controls(page, "Choose the models (2–6)")
    box = page.get_by_test_id("stMultiSelect").locator("input")
    box.fill("deepseek-v3")
    page.get_by_role("option", name="deepseek-v3", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"models=deepseek-v3\.2&models=deepseek-v3$"))
    wait_for_app(page)
    _no_exception(page)
    names = [bundled[s][0].name for s in ("deepseek-v3.2", "deepseek-v3")]
    expect(page.get_by_text(f"{names[0]} → {names[1]}: 1 change(s)")).to_be_visible()
    indexer = f"{config['index_n_heads']} × {config['index_head_dim']}, top-{config['index_topk']:,}"
    expect(page.get_by_text(f"no sparse indexer (was {indexer})").first).to_be_visible()  # the list (and the figure)
    figure = page.locator(".gallery-diagram svg")  # the comparison figure, its change written beside the mixer
    expect(figure).to_have_count(1)
    assert "no sparse indexer" in figure.evaluate("e => e.textContent")
    open_exports(page)
    data, name = download(page, "Download PDF")
    assert data[:5] == b"%PDF-" and name == "compare-deepseek-v3.2-vs-deepseek-v3-light.pdf"


def test_family_tree_renders_and_its_nodes_open_models(page, app_url, bundled):
    page.goto(app_url + "/tree")
    wait_for_app(page)
    _no_exception(page)
    svg = page.get_by_role("figure", name="Family tree").locator("svg")
    expect(svg).to_be_visible(timeout=30_000)
    assert svg.locator("g.node").count() == len(bundled)
    text = svg.evaluate("e => e.textContent")
    assert all(spec.name in text for spec, _ in bundled.values())
    assert "sparse indexer" in text  # DeepSeek-V3.2's edge says what it added
    box = svg.locator("g.node", has_text=bundled["kimi-k2-instruct"][0].name).bounding_box()
    assert box["height"] >= 12  # drawn at its own size, the page scrolls rather than shrinking it
    svg.locator("g.node", has_text=bundled["kimi-k2-instruct"][0].name).locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/model\?model=kimi-k2-instruct$"), timeout=30_000)
    wait_for_app(page)
    expect(page.get_by_role("heading", name=bundled["kimi-k2-instruct"][0].name)).to_be_visible()


@pytest.mark.parametrize(("fmt", "magic"), [("SVG", b"<?xml"), ("PNG", b"\x89PNG"), ("PDF", b"%PDF-")])
def test_family_tree_downloads_files_of_the_right_type(page, app_url, fmt, magic):
    page.goto(app_url + "/tree?lineage=Google&tree_theme=dark")
    wait_for_app(page)
    _no_exception(page)
    data, name = download(page, f"Download {fmt}")
    assert data.startswith(magic), data[:40]
    assert name == f"family-tree-dark.{fmt.lower()}"
