"""The app in a real browser: pages load, diagrams render, URLs restore views, exports download."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import expect

from .conftest import wait_for_app

pytestmark = pytest.mark.e2e


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


@pytest.mark.parametrize("path", ["/model?model=gpt-oss-20b", "/", "/compare", "/try"])
def test_each_page_loads_without_an_exception(page, app_url, path, bundled):
    page.goto(app_url + path)  # the first of these is the fresh server's first session: a deep link
    wait_for_app(page)
    _no_exception(page)
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Gallery" in nav and "Compare" in nav and "common" not in nav  # the frame's navigation ran
    expect(page.get_by_text(f"{len(bundled)} models from")).to_be_visible()


def test_gallery_lists_every_model_and_opens_one(page, app_url, bundled):
    page.goto(app_url + "/")
    wait_for_app(page)
    expect(page.get_by_text(f"{len(bundled)} of {len(bundled)} models")).to_be_visible()
    page.get_by_test_id("stTextInput").locator("input").fill("gemma 3")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=gemma"))
    wait_for_app(page)
    hits = [s for s, (spec, _) in bundled.items()
            if all(w in f"{spec.name} {s} {spec.family} {spec.organisation}".lower() for w in ("gemma", "3"))]
    expect(page.get_by_text(f"{len(hits)} of {len(bundled)} models")).to_be_visible()
    page.locator("a[href*='model=gemma-3-1b-it']").click()
    page.wait_for_url(re.compile(r"/model\?model=gemma-3-1b-it"))
    wait_for_app(page)
    expect(page.get_by_role("heading", name=bundled["gemma-3-1b-it"][0].name)).to_be_visible()


def test_model_deep_link_renders_the_diagram_svg(page, app_url, bundled):
    spec, config = bundled["qwen3-8b"]
    page.goto(app_url + "/model?model=qwen3-8b&theme=dark")
    wait_for_app(page)
    _no_exception(page)
    svg = page.get_by_test_id("stGraphVizChart").locator("svg").first
    expect(svg).to_be_visible(timeout=30_000)
    text = svg.evaluate("e => e.textContent")
    assert f"{config['num_attention_heads']} query heads" in text and f"{config['num_key_value_heads']} KV heads" in text
    expect(page.get_by_role("heading", name=spec.name)).to_be_visible()


def test_compare_updates_table_and_url(page, app_url, bundled):
    page.goto(app_url + "/compare?models=llama-2-7b-hf&models=mistral-7b-v0.1")
    wait_for_app(page)
    _no_exception(page)
    names = [bundled[s][0].name for s in ("llama-2-7b-hf", "mistral-7b-v0.1")]
    expect(page.get_by_role("heading", name=" vs ".join(names))).to_be_visible()
    box = page.get_by_test_id("stMultiSelect").locator("input")
    box.fill("qwen3-8b")  # fuzzy search also offers qwen3-next-80b…: pick the exact option
    page.get_by_role("option", name="qwen3-8b", exact=True).click()
    page.keyboard.press("Escape")  # close the dropdown
    page.wait_for_url(re.compile(r"models=qwen3-8b"))
    wait_for_app(page)
    _no_exception(page)
    qwen = bundled["qwen3-8b"][0].name
    expect(page.get_by_role("heading", name=re.compile(f"vs {qwen}$"))).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_test_id("stGraphVizChart")).to_have_count(3)


@pytest.mark.parametrize(("fmt", "magic"), [("SVG", b"<?xml"), ("PNG", b"\x89PNG"), ("PDF", b"%PDF-")])
def test_exports_download_files_of_the_right_type(page, app_url, fmt, magic):
    page.goto(app_url + "/model?model=gpt2")
    wait_for_app(page)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=f"Download {fmt}").click()
    data = open(info.value.path(), "rb").read()
    assert data.startswith(magic), data[:40]
    assert info.value.suggested_filename.endswith("." + fmt.lower())
    if fmt == "SVG":
        assert ET.fromstring(data).tag.endswith("svg")


def test_compare_csv_downloads(page, app_url, bundled):
    page.goto(app_url + "/compare?models=gpt2&models=gpt-j-6b")
    wait_for_app(page)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download table (CSV)").click()
    text = open(info.value.path(), encoding="utf-8").read()
    assert "GPT-2 (124M)" in text and "GPT-J 6B" in text


def test_trace_deep_link_restores_the_view_and_exports_its_steps(page, app_url, bundled):
    spec, config = bundled["qwen3-next-80b-a3b-instruct"]
    page.goto(app_url + "/model?model=qwen3-next-80b-a3b-instruct")
    wait_for_app(page)
    page.get_by_role("link", name=re.compile("Trace a layer by hand")).click()  # the Model page links to its trace
    expect(page).to_have_url(re.compile(r"/trace\?slug=qwen3-next-80b-a3b-instruct"), timeout=30_000)  # in-app
    wait_for_app(page)
    _no_exception(page)
    full = config["full_attention_interval"] - 1  # every 4th layer is gated full attention: the attention heatmap
    page.goto(app_url + f"/trace?slug=qwen3-next-80b-a3b-instruct&layer={full}&seq=12")
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_role("heading", name=re.compile(f"layer {full}$"))).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=30_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download steps (CSV)").click()
    rows = list(csv.DictReader(open(info.value.path(), encoding="utf-8")))
    q = next(r for r in rows if r["op"] == "q_proj")  # queries and their output gate: twice the heads × head_dim
    d, h, hd = config["hidden_size"], config["num_attention_heads"], config["head_dim"]
    assert q["in"] == str((12, d)) and q["out"] == str((12, 2 * h * hd))
    assert info.value.suggested_filename == f"qwen3-next-80b-a3b-instruct-layer{full}-T12.csv"


def test_pasted_text_in_an_error_is_shown_literally_and_fetches_nothing(page, app_url):
    """A model_type written as a Markdown image stays characters: the browser requests no such URL (issue 18)."""
    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if "/e.png" in request.url else None)
    page.goto(app_url + "/try?mode=paste+or+upload")
    wait_for_app(page)
    box = page.get_by_role("textbox", name="…or paste it here")
    box.fill('{"model_type": "![t](http://127.0.0.1:9/e.png) **b**"}')
    box.press("Control+Enter")
    wait_for_app(page)
    error = page.get_by_test_id("stAlertContentError").first
    expect(error).to_contain_text('model_type "![t](http://127.0.0.1:9/e.png) **b**" is not supported yet')
    assert error.locator("img").count() == 0 and error.locator("strong").count() == 0
    # GitHub-flavoured Markdown still turns a bare URL into a link, its text the characters as written
    assert [a.inner_text() for a in error.locator("a").all()] in ([], ["http://127.0.0.1:9/e.png"])
    _no_exception(page)
    assert fetched == []
