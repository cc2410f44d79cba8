"""The app in a real browser: pages load, diagrams render, URLs restore views, exports download."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from playwright.sync_api import expect

from gallery.diagram import to_dot
from gallery.render import page_svg
from views.diagrams import MOUNT

from .conftest import download, open_controls, open_exports, wait_for_app

pytestmark = pytest.mark.e2e


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_the_diagram_mount_drops_what_could_run(page):
    """views.diagrams' JavaScript, run in Chromium on markup that tries every way to run code once in the page."""
    hostile = ('<div class="gallery-diagram"><svg onload="window.ran = 1"><script>window.ran = 2</script>'
               '<a href="javascript:window.ran = 3"><text>kept</text></a><g onclick="window.ran = 4"><title>t</title></g>'
               '<foreignObject><img src="x" onerror="window.ran = 5"></foreignObject></svg>'
               '<img src="x" onerror="window.ran = 6"><iframe srcdoc="<script>parent.ran = 7</script>"></iframe></div>')
    page.set_content('<div id="mount"></div>')
    page.evaluate("async ([js, data]) => (await import(URL.createObjectURL(new Blob([js], {type: 'text/javascript'}))))"
                  ".default({parentElement: document.getElementById('mount'), data})", [MOUNT, hostile])
    page.locator("#mount svg a").dispatch_event("click")  # were its link or handlers kept, they would run now
    page.wait_for_timeout(300)
    assert page.evaluate("window.ran") is None
    html = page.inner_html("#mount")
    assert not re.search(r"<script|<iframe|foreignObject|onload|onclick|onerror|javascript:", html, re.I), html
    assert page.locator("#mount .gallery-diagram svg text").text_content() == "kept"  # the figure itself is kept


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
    expect(page.get_by_test_id("stTextInput")).to_have_count(0)  # the filter panel is closed: not drawn
    page.get_by_text("Search, filter and sort").click()
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


def test_gallery_filter_panel_applies_its_filters_while_open_and_keeps_them_when_closed(page, app_url, bundled):
    qwen3 = sum(1 for s, (spec, _) in bundled.items()
                if "qwen3" in f"{spec.name} {s} {spec.family} {spec.organisation}".lower())
    page.goto(app_url + "/?q=qwen3&sort=largest")  # a shared URL with filters opens the panel
    wait_for_app(page)
    expect(page.get_by_text(f"{qwen3} of {len(bundled)} models")).to_be_visible()
    panel = page.get_by_text("Search, filter and sort")
    panel.click()  # closed: every model, and the URL says so
    page.wait_for_url(re.compile(r"/$"))
    wait_for_app(page)
    expect(page.get_by_text(f"{len(bundled)} of {len(bundled)} models")).to_be_visible()
    expect(page.get_by_test_id("stTextInput")).to_have_count(0)
    panel.click()  # open again: the filters as they were
    page.wait_for_url(re.compile(r"q=qwen3"))
    wait_for_app(page)
    expect(page.get_by_test_id("stTextInput").locator("input")).to_have_value("qwen3")
    expect(page.get_by_text(f"{qwen3} of {len(bundled)} models")).to_be_visible()
    assert "sort=largest" in page.url
    _no_exception(page)


def test_model_deep_link_renders_the_diagram_svg(page, app_url, bundled):
    spec, config = bundled["qwen3-8b"]
    page.goto(app_url + "/model?model=qwen3-8b&theme=dark")
    wait_for_app(page)
    _no_exception(page)
    svg = page.locator(".gallery-diagram svg").first  # laid out by dot on the server, sent as SVG
    expect(svg).to_be_visible(timeout=30_000)
    assert page.get_by_test_id("stGraphVizChart").count() == 0  # no layout in the browser
    assert svg.locator("text").count() > 10  # text stays text: selectable, found by the page search
    text = svg.evaluate("e => e.textContent")
    assert f"{config['num_attention_heads']} query heads" in text and f"{config['num_key_value_heads']} KV heads" in text
    expect(page.get_by_role("heading", name=spec.name)).to_be_visible()


def test_model_page_sections_open_from_the_url_and_on_click(page, app_url, bundled):
    page.goto(app_url + "/model?model=llama-2-7b-hf&ctx=4096&batch=2")  # a shared cache view opens its section
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_text("Cache at this context (bf16)")).to_be_visible()
    assert "ctx=4096" in page.url and "batch=2" in page.url
    page.get_by_role("tab", name="Parameters").click()  # drawn when opened, and the URL keeps it
    page.wait_for_url(re.compile(r"section=Parameters"))
    wait_for_app(page)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=30_000)


def test_the_choosers_are_drawn_when_their_popover_opens_and_the_url_keeps_them(page, app_url, bundled):
    """A page's choosers wait in a popover (views.common.controls): not drawn on load, their values still in the URL
    while it is closed, and choosing in it reruns the page (Model, Trace, Try)."""
    page.goto(app_url + "/model?model=qwen3-8b")
    wait_for_app(page)
    expect(page.get_by_test_id("stSelectbox")).to_have_count(0)  # neither drawn nor its JavaScript loaded
    page.get_by_role("tab", name="Parameters").click()  # another bound widget changes the URL: the model stays in it
    page.wait_for_url(re.compile(r"section=Parameters"))
    wait_for_app(page)
    assert "model=qwen3-8b" in page.url
    open_controls(page, "Choose another model")
    page.get_by_test_id("stSelectbox").locator("input").fill("gpt2")
    page.get_by_role("option", name="gpt2", exact=True).click()
    page.wait_for_url(re.compile(r"model=gpt2"))
    expect(page.get_by_role("heading", level=1)).to_have_text(bundled["gpt2"][0].name)
    _no_exception(page)

    page.goto(app_url + "/trace?slug=gpt2&seq=16")
    wait_for_app(page)
    open_controls(page, "Choose the model, layer and T")
    page.get_by_test_id("stSelectbox").nth(1).locator("input").fill("3")
    page.get_by_role("option", name="3", exact=True).click()
    page.wait_for_url(re.compile(r"layer=3"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"layer 3$"))
    assert "seq=16" in page.url and "slug=gpt2" in page.url

    page.goto(app_url + "/try?base=gpt2")
    wait_for_app(page)
    expect(page.locator("[data-testid='stMarkdown'] table")).to_have_count(0)  # the comparison: a panel, closed
    facts = page.locator(".gallery-facts")
    expect(facts).to_contain_text(f"{bundled['gpt2'][1]['n_layer']} full")
    open_controls(page, "Choose the model and change its numbers")
    depth = page.get_by_label("n_layers")
    depth.fill("5")
    depth.press("Enter")
    expect(facts).to_contain_text("5 full")  # gpt2's config, edited: five layers
    page.keyboard.press("Escape")
    open_controls(page, "Add it to the gallery: the spec and config")
    data, name = download(page, "Download config.json")
    assert name == "config.json" and json.loads(data)["n_layer"] == 5
    _no_exception(page)


def test_compare_updates_table_and_url(page, app_url, bundled):
    page.goto(app_url + "/compare?models=llama-2-7b-hf&models=mistral-7b-v0.1")
    wait_for_app(page)
    _no_exception(page)
    names = [bundled[s][0].name for s in ("llama-2-7b-hf", "mistral-7b-v0.1")]
    expect(page.get_by_role("heading", name=" vs ".join(names))).to_be_visible()
    open_controls(page, "Choose the models (2–6)")
    box = page.get_by_test_id("stMultiSelect").locator("input")
    box.fill("qwen3-8b")  # fuzzy search also offers qwen3-next-80b…: pick the exact option
    page.get_by_role("option", name="qwen3-8b", exact=True).click()
    page.keyboard.press("Escape")  # close the dropdown
    page.wait_for_url(re.compile(r"models=qwen3-8b"))
    wait_for_app(page)
    _no_exception(page)
    qwen = bundled["qwen3-8b"][0].name
    expect(page.get_by_role("heading", name=re.compile(f"vs {qwen}$"))).to_be_visible()
    figure = page.locator(".gallery-diagram svg")
    expect(figure).to_have_count(1)  # rendered SVG: the comparison figure, every model in one drawing
    text = figure.evaluate("e => e.textContent")
    assert all(bundled[s][0].name in text for s in ("llama-2-7b-hf", "mistral-7b-v0.1", "qwen3-8b"))
    assert page.get_by_test_id("stGraphVizChart").count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0  # the table is a tab: drawn when opened
    page.get_by_role("tab", name="Table").click()
    page.wait_for_url(re.compile(r"part=Table"))
    wait_for_app(page)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()


@pytest.mark.parametrize(("fmt", "magic"), [("SVG", b"<?xml"), ("PNG", b"\x89PNG"), ("PDF", b"%PDF-")])
def test_exports_download_files_of_the_right_type(page, app_url, fmt, magic):
    page.goto(app_url + "/model?model=gpt2")
    wait_for_app(page)
    open_exports(page)
    data, name = download(page, f"Download {fmt}")
    assert data.startswith(magic), data[:40]
    assert name.endswith("." + fmt.lower())
    if fmt == "SVG":
        assert ET.fromstring(data).tag.endswith("svg")


def test_compare_csv_downloads(page, app_url, bundled):
    page.goto(app_url + "/compare?models=gpt2&models=gpt-j-6b&part=Table")
    wait_for_app(page)
    text = download(page, "Download table (CSV)")[0].decode("utf-8")
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
    page.goto(app_url + f"/trace?slug=qwen3-next-80b-a3b-instruct&layer={full}&seq=12&toy=true")
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_role("heading", name=re.compile(f"layer {full}$"))).to_be_visible()
    steps = page.locator("[data-testid='stMarkdown'] table").first  # static: every formula whole, numbers aligned
    q_row = steps.locator("tbody tr", has=page.get_by_role("cell", name="q_proj", exact=True))
    params = q_row.locator("td").nth(5)
    expect(params).to_have_text(f"{config['hidden_size'] * 2 * config['num_attention_heads'] * config['head_dim']:,}")
    expect(params).to_have_css("text-align", "right")
    expect(q_row.locator("td").nth(3)).to_have_css("white-space", "nowrap")
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=30_000)
    data, name = download(page, "Download steps (CSV)")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    q = next(r for r in rows if r["op"] == "q_proj")  # queries and their output gate: twice the heads × head_dim
    d, h, hd = config["hidden_size"], config["num_attention_heads"], config["head_dim"]
    assert q["in"] == str((12, d)) and q["out"] == str((12, 2 * h * hd))
    assert name == f"qwen3-next-80b-a3b-instruct-layer{full}-T12.csv"


def test_a_toy_link_naming_a_head_keeps_the_toy_open_in_its_url(page, app_url):
    """A link that opens the toy by one of its pictures' parameters (head=0, the default: left out of the URL) writes
    toy=true into the URL, so the address shown is a link to the same view; closing the toy takes both out."""
    page.goto(app_url + "/trace?slug=gpt2&layer=1&head=0")
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible(timeout=30_000)  # the toy's heatmaps
    page.wait_for_url(re.compile(r"toy=true"))
    page.get_by_text("Run the layer on a toy and show every value").click()
    wait_for_app(page)
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)
    assert "toy=" not in page.url and "head=" not in page.url and "layer=1" in page.url
    page.reload()
    wait_for_app(page)
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(0)  # the closed view, as its URL says


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
    box.fill('{"model_type": ":material/home: is an icon"}')  # Streamlit's icon syntax: characters too
    box.press("Control+Enter")
    wait_for_app(page)
    expect(error).to_contain_text('model_type ":material/home: is an icon" is not supported yet')
    assert error.locator("[data-testid='stIconMaterial']").count() == 0



def test_try_shows_its_comparison_as_a_table_in_the_page(page, app_url, bundled):
    """The comparison arrives as HTML in Markdown (views/markup.py): the browser draws a real table of it. A URL that
    names the model compared with opens its panel."""
    page.goto(app_url + "/try?base=llama-2-7b-hf&with=gpt2")
    wait_for_app(page)
    table = page.locator("[data-testid='stMarkdown'] table")
    expect(table).to_have_count(1)
    expect(table.locator("thead tr").first.locator("th").last).to_have_text(bundled["gpt2"][0].name)
    total = table.locator("tbody tr", has=page.locator("th", has_text=re.compile(r"^total$")))
    expect(total.locator("td")).to_have_text(["6.74B", "124M"])  # transformers' 6,738,415,616 and 124,439,808
    _no_exception(page)


def test_compare_draws_its_stories_when_their_expander_is_opened(page, app_url):
    from gallery.compare import STORIES

    page.goto(app_url + "/compare?models=gpt2&models=qwen3-8b")
    wait_for_app(page)
    stories = page.get_by_test_id("stExpander")
    expect(stories.get_by_test_id("stPageLink")).to_have_count(0)  # closed: not drawn
    stories.get_by_text("Stories: comparisons worth opening first").click()
    expect(stories.get_by_test_id("stPageLink")).to_have_count(len(STORIES))
    expect(stories.get_by_text(STORIES[0].look_at)).to_be_visible()
    _no_exception(page)

# Issue 16, "readable where it is shown": at a 1,400 × 1,000 px window every diagram label is at least 12 px
# high; a figure wider than the page scrolls inside its box instead of shrinking, and the page keeps its width.
READABLE_PX = 12
MEASURE = """box => ({page: document.documentElement.scrollWidth, box: box.clientWidth, content: box.scrollWidth,
  scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowX),
  figures: [...box.querySelectorAll('svg')].map(s => ({natural: s.width.baseVal.value,
    shown: s.getBoundingClientRect().width,
    texts: [...s.querySelectorAll('text')].map(t => t.getBoundingClientRect().height)}))})"""


def _measure(page) -> dict:
    box = page.locator(".gallery-diagram")
    expect(box).to_have_count(1)
    return box.evaluate(MEASURE)


def _unreadable(m: dict) -> list[str]:
    """What is wrong with the measured figures: shrunk, labels under 12 px, or the page itself widened."""
    wrong = [f"shrunk to {f['shown']:.0f} of {f['natural']:.0f} px" for f in m["figures"]
             if abs(f["shown"] - f["natural"]) > 1]
    wrong += [f"{sum(h < READABLE_PX for h in f['texts'])} labels under {READABLE_PX} px "
              f"(smallest {min(f['texts'], default=0):.1f})"
              for f in m["figures"] if not f["texts"] or min(f["texts"]) < READABLE_PX]
    wrong += [f"{m['content']} px of figure in a {m['box']} px box that does not scroll"] * (
        m["content"] > m["box"] and not m["scrolls"])
    return wrong + ([f"page widened to {m['page']} px"] if m["page"] > 1400 else [])


def _extremes(bundled) -> list[str]:
    """The bundled models whose page figures are the widest, the tallest, the smallest and the most labelled
    (laid out by ``dot`` as the page does), and the first by name: the range the page's box must hold.
    Every bundled figure's label size and natural size are checked without a browser in tests/test_render.py;
    here the browser shows that the page keeps them."""
    sizes = {}
    for slug, (spec, _) in bundled.items():
        root = ET.fromstring(page_svg(to_dot(spec)))
        w, h = (float(root.get(k).removesuffix("pt")) for k in ("width", "height"))
        sizes[slug] = (w, h, w * h, sum(1 for _ in root.iter("{http://www.w3.org/2000/svg}text")))
    picks = [max(sizes, key=lambda s: sizes[s][0]), max(sizes, key=lambda s: sizes[s][1]),
             min(sizes, key=lambda s: sizes[s][2]), max(sizes, key=lambda s: sizes[s][3]), sorted(bundled)[0]]
    return list(dict.fromkeys(picks))


def test_model_page_diagrams_are_readable_from_the_smallest_to_the_largest(page, app_url, bundled):
    page.set_viewport_size({"width": 1400, "height": 1000})
    problems, widest = {}, ("", 0)
    slugs = _extremes(bundled)
    page.goto(f"{app_url}/model?model={slugs[0]}")
    wait_for_app(page)
    open_controls(page, "Choose another model")
    for slug in slugs:  # then picked in the page's own selector: a rerun, not a page load, for speed
        if slug != slugs[0]:
            page.get_by_test_id("stSelectbox").first.locator("input").fill(slug)
            page.get_by_role("option", name=slug, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(bundled[slug][0].name)
        wait_for_app(page)
        m = _measure(page)
        if _unreadable(m):
            problems[slug] = _unreadable(m)
        if m["content"] > widest[1]:
            widest = (slug, m["content"])
    assert not problems, problems
    assert widest[1] > 1400  # the widest hybrid (e.g. DeepSeek-V4, Nemotron-H) is wider than the window: scrolled


FOUR = ["llama-3.1-8b-instruct", "qwen3-8b", "gemma-3-27b-it", "deepseek-v3"]


def test_a_four_model_comparison_figure_is_readable_and_exports(page, app_url, bundled):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url + "/compare?" + "&".join(f"models={s}" for s in FOUR))
    wait_for_app(page)
    _no_exception(page)
    m = _measure(page)
    assert len(m["figures"]) == 1 and not _unreadable(m), _unreadable(m)
    assert m["content"] > m["box"]  # one drawing at full size, wider than the page: the box scrolls
    open_exports(page)
    for fmt, magic in (("SVG", b"<?xml"), ("PNG", b"\x89PNG"), ("PDF", b"%PDF-")):
        data, name = download(page, f"Download {fmt}")
        assert data.startswith(magic), (fmt, data[:40])
        assert name == "compare-" + "-vs-".join(FOUR) + f"-light.{fmt.lower()}"


def test_a_four_model_compare_shows_every_diagram_readable_at_one_scale(page, app_url, bundled):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(app_url + "/compare?" + "&".join(f"models={s}" for s in FOUR) + "&part=Diagrams")
    wait_for_app(page)
    _no_exception(page)
    m = _measure(page)
    assert len(m["figures"]) == 4 and not _unreadable(m), _unreadable(m)
    assert m["content"] > m["box"]  # side by side at full size: wider than the page, so the box scrolls
