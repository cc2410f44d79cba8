"""Each page's logic with Streamlit's AppTest (no browser): the right model, DOT, tables, resilience."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET

import pytest
from streamlit.testing.v1 import AppTest

from views import diagrams

from .conftest import BASE, ROOT, SPEC_DIR, SVG, diagram_text, page_diagrams, page_facts, page_figures, page_tables


def _app(page: str | None = None, /, **query) -> AppTest:  # positional: the Gallery has a `page` parameter
    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


def test_gallery_shows_every_model(bundled):
    at = _app()
    assert not at.exception
    assert any(f"{len(bundled)} of {len(bundled)} models" in c.value for c in at.caption)


def test_gallery_search_filters_cards(bundled):
    at = _app(q="qwen3")
    expected = sum(1 for s, _ in bundled.values() if "qwen3" in (s.name + s.slug + s.family).lower())
    assert any(f"{expected} of {len(bundled)} models" in c.value for c in at.caption)


def test_model_page_shows_the_dot_of_the_chosen_model(bundled):
    spec, config = bundled["mistral-7b-v0.1"]
    at = _app("views/model.py", model="mistral-7b-v0.1")
    assert not at.exception
    [svg] = page_diagrams(at)
    text = diagram_text(svg)
    assert f"{config['num_key_value_heads']} KV heads" in text
    assert f"sliding window {config['sliding_window']:,}" in text
    assert not at.get("graphviz_chart")  # laid out on the server, not in the browser
    assert at.title[0].value == spec.name


def test_model_page_kv_cache_follows_the_context(bundled):
    spec, config = bundled["llama-2-7b-hf"]
    at = _app("views/model.py", model="llama-2-7b-hf", ctx="4096", batch="2")
    # By hand: 32 layers × 2 (K and V) × 32 KV heads × 128 dims × 2 bytes × 4,096 tokens × batch 2.
    expected = 32 * 2 * 32 * 128 * 2 * 4096 * 2
    metric = next(m for m in at.metric if m.label.startswith("Cache at this context"))
    assert metric.value == f"{expected / 2**30:,.2f} GiB"


def test_model_page_of_an_attention_free_model_counts_its_fixed_state(bundled):
    spec, config = bundled["falcon-mamba-7b"]
    at = _app("views/model.py", model="falcon-mamba-7b", ctx="100000", batch="2")
    assert not at.exception
    assert "Mamba block × 64" in diagram_text(page_diagrams(at)[0])
    assert page_facts(at)["Context"][0] == "no limit"  # no max_position_embeddings
    # No KV cache: 64 layers × 8,192 channels × (16 state + 4 conv taps) × 2 bytes × batch 2, whatever the context.
    state = 64 * 8192 * 20 * 2 * 2
    cache = next(m for m in at.metric if m.label.startswith("Cache at this context"))
    assert cache.value == f"{state / 2**30:,.2f} GiB"
    assert next(m for m in at.metric if m.label == "of which fixed state").value == f"{state / 2**20:,.1f} MiB"


def test_compare_and_try_pages_take_fixed_state_models():
    at = _app("views/compare.py", models=["falcon-mamba-7b", "lfm2-1.2b", "llama-2-7b-hf"], part="Table")
    assert not at.exception
    assert "SSM inner width" in at.dataframe[0].value.index.get_level_values("field")
    at = _app("views/try.py", base="lfm2-1.2b")
    assert not at.exception and "Gated short convolution" in diagram_text(page_diagrams(at)[0])


def test_trace_page_lists_the_steps_of_the_layer_in_the_url(bundled):
    spec, config = bundled["qwen3-8b"]
    at = _app("views/trace.py", slug="qwen3-8b", layer="2", seq="16", toy="true")
    assert not at.exception
    assert at.selectbox(key="slug").value == "qwen3-8b" and at.selectbox(key="layer").value == 2
    assert at.number_input(key="seq").value == 16 and "layer 2" in at.title[0].value
    steps = page_tables(at)[0]  # a static table: every formula whole
    q = steps[steps["op"] == "q_proj"].iloc[0]
    d, h, hd = config["hidden_size"], config["num_attention_heads"], config["head_dim"]
    assert q["in"] == str((16, d)) and q["out"] == str((16, h * hd)) and q["params"] == f"{d * h * hd:,}"
    assert q["FLOPs"] == f"{2 * 16 * d * h * hd:,}" and q["formula"] == "q = x · W_q"
    assert list(steps["op"][:2]) == ["attn norm (pre)", "q_proj"] and "q_norm" in set(steps["op"])
    assert any(e.label.endswith(f"softmax → ({h // config['num_key_value_heads'] * 2}, 6, 6)") for e in at.expander)
    assert len(at.get("vega_lite_chart")) == 1  # the toy's attention heatmaps
    assert dict(at.query_params) == {"slug": "qwen3-8b", "layer": "2", "seq": "16", "toy": "true"}
    assert any(b.proto.label == "Download steps (CSV)" for b in at.get("download_button"))
    at.selectbox(key="layer").set_value(5).run()  # (AppTest does not write bound widgets back to its query_params)
    assert "layer 5" in at.title[0].value and page_tables(at)[0]["in"][0] == str((16, config["hidden_size"]))


def test_trace_page_of_fixed_state_layers_shows_their_state_and_taps():
    at = _app("views/trace.py", slug="falcon-mamba-7b", layer="0", seq="8", toy="true")
    assert not at.exception
    assert "selective scan" in set(page_tables(at)[0]["op"])
    assert len(at.get("vega_lite_chart")) == 2  # Δ and the state; the conv taps
    at = _app("views/trace.py", slug="lfm2-1.2b", layer="0", seq="8", toy="true")
    assert not at.exception and len(at.get("vega_lite_chart")) == 1  # the short conv's taps, no scores
    assert any(e.label.startswith("6. conv → (6, 16)") for e in at.expander)


def test_trace_page_of_a_mamba2_layer_shows_its_time_steps_and_state(bundled):
    spec, config = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    at = _app("views/trace.py", slug="nvidia-nemotron-3-nano-30b-a3b", layer="0", seq="8", toy="true")
    assert not at.exception
    steps = page_tables(at)[0]
    state = steps[steps["op"] == "state update"].iloc[0]
    h, p, n = config["mamba_num_heads"], config["mamba_head_dim"], config["ssm_state_size"]
    assert state["out"] == str((8, h, p, n))
    assert len(at.get("vega_lite_chart")) == 2  # Δ and the decay per token and head; one head's state
    at.selectbox(key="ssm_head").set_value(1).run()
    assert not at.exception and any("Head 1's state" in c.value for c in at.caption)
    at = _app("views/trace.py", slug="nvidia-nemotron-3-nano-30b-a3b", layer="1", seq="8", toy="true")  # MoE: no chart
    assert not at.exception and not at.get("vega_lite_chart")


def test_model_page_links_to_its_trace():
    at = _app("views/model.py", model="gpt2")
    [row] = [ET.fromstring(m.value) for m in at.markdown if m.value.startswith('<div class="gallery-facts"')]
    [link] = [a for a in row.iter("a") if a.text.startswith("Trace a layer by hand")]
    assert link.get("href") == "trace?slug=gpt2" and link.get("target") == "_self"


def test_compare_sends_its_stories_only_when_their_expander_is_open():
    """Closed (two models chosen) the stories' links are not sent; open (fewer than two chosen) every story is."""
    from gallery.compare import STORIES

    at = _app("views/compare.py", models=["gpt2", "qwen3-8b"])
    assert not at.exception and not at.get("page_link")
    assert [e.label for e in at.expander] == ["Stories: comparisons worth opening first", "Theme and slide exports"]
    at = _app("views/compare.py", models=["gpt2"])
    assert [link.proto.label for link in at.get("page_link")] == [story.title for story in STORIES]


@pytest.mark.parametrize(("page", "query", "key"), [
    ("views/model.py", {"model": "gpt2"}, "theme"),
    ("views/compare.py", {"models": ["gpt2", "qwen3-8b"]}, "fig_theme"),
    ("views/tree.py", {"lineage": "Google"}, "tree_theme"),
])
def test_a_diagrams_theme_and_exports_are_sent_only_while_their_panel_is_open(page, query, key):
    """Closed (a plain visit), the diagram is light and no theme control or download button is sent; a URL that
    names a theme opens the panel, with the theme drawn and its three downloads."""
    at = _app(page, **query)
    assert not at.exception and "Theme and slide exports" in [e.label for e in at.expander]
    assert not at.get("download_button") and not at.get("button_group")
    assert 'fill="#111111"' not in page_figures(at)[0]  # the dark theme's background
    at = _app(page, **query, **{key: "dark"})
    assert not at.exception and at.segmented_control(key=key).value == "dark"
    assert [b.proto.label for b in at.get("download_button")] == ["Download SVG", "Download PNG", "Download PDF"]
    assert 'fill="#111111"' in page_figures(at)[0]


def test_compare_sends_its_table_when_its_tab_is_opened():
    at = _app("views/compare.py", models=["llama-2-7b-hf", "mistral-7b-v0.1"])  # the load: changes and figure
    assert not at.exception and not at.dataframe and page_diagrams(at)
    at = _app("views/compare.py", models=["llama-2-7b-hf", "mistral-7b-v0.1"], part="Table")
    assert not at.exception and not page_diagrams(at)
    frame = at.dataframe[0].value
    assert len(frame.columns) == 2


def test_a_spec_without_notes_says_so_on_the_model_page(folder, monkeypatch):
    spec = folder / f"{BASE}.yaml"
    text = spec.read_text()
    spec.write_text(text[:text.index("\nnotes:")] + "\nnotes: []\n")  # loads; lint asks for 2 to 5 notes
    monkeypatch.setenv("GALLERY_SPECS", str(folder))
    at = _app("views/model.py", model=BASE)
    assert not at.exception and any("has no notes yet" in c.value for c in at.caption)


def test_broken_specs_next_to_good_ones_are_listed_and_the_rest_shown(tmp_path, monkeypatch, bundled):
    folder = tmp_path / "specs"
    shutil.copytree(SPEC_DIR, folder)
    broken = {
        "syntax.yaml": "slug: syntax\narch: [unclosed\n",  # Y001
        "schema.yaml": (SPEC_DIR / "gpt2.yaml").read_text().replace("slug: gpt2", "slug: schema")
                       .replace("n_heads: 12", "n_heads: twelve"),  # S003
        "empty.yaml": "",  # not a mapping
    }
    for name, text in broken.items():
        (folder / name).write_text(text)
    monkeypatch.setenv("GALLERY_SPECS", str(folder))
    for page in (None, "views/model.py", "views/compare.py"):
        at = _app(page)
        assert not at.exception
        [box] = [e for e in at.expander if "could not be loaded" in e.label]
        assert f"{len(broken)} spec file(s)" in box.label
        shown = " ".join(m.value for m in box.markdown) + " ".join(c.value for c in box.code)
        assert all(name in shown for name in broken) and "[Y001]" in shown and "[S003]" in shown
    assert any(f"{len(bundled)} of {len(bundled)} models" in c.value for c in _app().caption)


def _hostile_folder(folder):
    """Three good specs beside one broken spec of each class of issue 18; the broken files' names → their code."""
    (folder / "configs").mkdir(parents=True)
    good = ["gpt2", "qwen3-0.6b", "falcon-mamba-7b"]
    for slug in good:
        shutil.copy(SPEC_DIR / f"{slug}.yaml", folder)
        shutil.copy(SPEC_DIR / "configs" / f"{slug}.json", folder / "configs")
    gpt2 = (SPEC_DIR / "gpt2.yaml").read_text()

    def variant(name, old, new):
        assert gpt2.count(old) == 1
        (folder / f"{name}.yaml").write_text(gpt2.replace("slug: gpt2", f"slug: {name}").replace(old, new))

    aliases = "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    (folder / "laughs.yaml").write_text("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + aliases)
    variant("deep", "d_model: 768", "d_model: " + "[" * 5000 + "]" * 5000)
    variant("huge-int", "d_model: 768", "d_model: " + "9" * 5000)
    variant("dev-zero", "config: configs/gpt2.json", "config: /dev/zero")
    variant("outside", "config: configs/gpt2.json", "config: ../../../../etc/passwd")
    variant("fifo-config", "config: configs/gpt2.json", "config: configs/fifo.json")
    os.mkfifo(folder / "configs" / "fifo.json")
    variant("symlink-config", "config: configs/gpt2.json", "config: configs/passwd.json")
    (folder / "configs" / "passwd.json").symlink_to("/etc/passwd")
    os.mkfifo(folder / "fifo.yaml")
    (folder / "dangling.yaml").symlink_to(folder / "nowhere.yaml")
    (folder / "huge.yaml").write_bytes(b"# " + b"x" * (2 * 1024 * 1024))
    variant("pattern", "layers: [", "layers: \"full*100000000\"\n  old: [")
    return good, {"laughs.yaml": "Y005", "deep.yaml": "Y006", "huge-int.yaml": "Y007", "dev-zero.yaml": "F007",
                  "outside.yaml": "F007", "fifo-config.yaml": "F003", "symlink-config.yaml": "F003",
                  "fifo.yaml": "Y001", "dangling.yaml": "Y001", "huge.yaml": "Y001", "pattern.yaml": "S001"}


def test_a_broken_spec_of_each_hostile_class_leaves_the_good_ones_served(tmp_path, monkeypatch):
    good, broken = _hostile_folder(tmp_path / "specs")
    monkeypatch.setenv("GALLERY_SPECS", str(tmp_path / "specs"))
    pages = [(None, {}), ("views/model.py", {"model": "qwen3-0.6b"}), ("views/trace.py", {"slug": "gpt2"}),
             ("views/compare.py", {"models": good}), ("views/try.py", {"base": "falcon-mamba-7b"})]
    for page, query in pages:
        at = _app(page, **query)
        assert not at.exception, (page, at.exception)
        [box] = [e for e in at.expander if "could not be loaded" in e.label]
        assert f"{len(broken)} spec file(s)" in box.label
        shown = "\n".join(c.value for c in box.code)
        for name, code in broken.items():
            assert any(line.startswith(str(tmp_path / "specs" / name)) and line.endswith(f"[{code}]")
                       for line in shown.split("\n")), (name, shown)
        assert "root:" not in shown  # /etc/passwd's content never shows
    assert any(f"{len(good)} of {len(good)} models" in c.value for c in _app().caption)


def test_try_page_edits_a_bundled_model(bundled):
    at = _app("views/try.py", base="llama-2-7b-hf")
    assert not at.exception and not at.error
    assert f"From **{bundled['llama-2-7b-hf'][0].name}**, as bundled." in [c.value for c in at.caption]
    at.number_input(key="edit-n_kv_heads").set_value(8).run()
    spec, config = bundled["llama-2-7b-hf"]
    said = f"From **{spec.name}**, edited: n_kv_heads {config['num_key_value_heads']} → 8."
    assert said in [c.value for c in at.caption]
    from gallery.trial import edit_config

    from .reference import reference_param_count
    expected = reference_param_count(edit_config(bundled["llama-2-7b-hf"][1], n_kv_heads=8))
    assert page_facts(at)["Total parameters"][1] == f"{expected:,}"
    assert "8 KV heads" in diagram_text(page_diagrams(at)[0])


@pytest.mark.parametrize(("text", "message"), [
    ("{oops", "not valid JSON"),
    ('{"model_type": "mamba9"}', "not supported yet"),
    ('{"model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 5}', "multiple of n_kv_heads"),
])
def test_try_page_shows_errors_not_tracebacks(text, message):
    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(text).run()
    assert not at.exception
    from views.common import literal

    assert any(literal(message) in e.value for e in at.error)


def test_try_page_counts_a_config_whose_active_figure_is_undefined():
    """DeepSeek-V2's default (num_experts_per_tok null): the total is shown, the active figure says why it is not."""
    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value('{"model_type": "deepseek_v2"}').run()
    assert not at.exception and not at.error
    from .reference import reference_param_count

    shown = page_facts(at)
    assert shown["Total parameters"][1] == f"{reference_param_count({'model_type': 'deepseek_v2'}):,}"
    value, exact, counts = shown["Active per token"]
    assert value == exact == "undefined" and "num_experts_per_tok) is null" in counts


def test_a_strangers_words_in_a_spec_reach_the_model_page_as_text(tmp_path, monkeypatch):
    """Name, family, organisation and licence are free text in a spec (a pull request's): every element that shows
    them gets the characters as written, escaped for Markdown (an image or an icon made of them would be fetched or
    drawn)."""
    folder = tmp_path / "specs"
    (folder / "configs").mkdir(parents=True)
    shutil.copy(SPEC_DIR / "configs" / "gpt2.json", folder / "configs" / "gpt2.json")
    evil = "![t](http://127.0.0.1:9/e.png) **b** :material/home:"
    text = (SPEC_DIR / "gpt2.yaml").read_text()
    for field, was in [("name", "GPT-2 (124M)"), ("family", "GPT-2"), ("organisation", "OpenAI"), ("licence", "MIT")]:
        text = text.replace(f"{field}: {was}\n", f"{field}: '{field.upper()} {evil}'\n")
    (folder / "gpt2.yaml").write_text(text)
    monkeypatch.setenv("GALLERY_SPECS", str(folder))
    at = _app("views/model.py", model="gpt2", section="Where it comes from")
    assert not at.exception
    from views.common import literal

    shown = [e.value for e in [*at.title, *at.caption, *at.markdown] if not e.value.startswith("<")]  # markup: XML-
    shown += [e.label for e in at.expander]  # escaped, tested in test_hostile_names_reach_the_page_as_text
    for field in ("name", "family", "organisation", "licence"):
        said = [v for v in shown if f"{field.upper()} " in v]
        assert said and all(literal(f"{field.upper()} {evil}") in v for v in said), (field, said)
    assert not [v for v in shown if "](http://127.0.0.1:9/e.png)" in v]  # no image nor link made of the words


def test_hostile_names_reach_the_page_as_text(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    (folder / "configs").mkdir(parents=True)
    shutil.copy(SPEC_DIR / "configs" / "gpt2.json", folder / "configs" / "gpt2.json")
    evil = '<IMG SRC=x onerror=alert(1)> "quoted" \\\\ <b>bold</b>'
    text = (SPEC_DIR / "gpt2.yaml").read_text().replace("name: GPT-2 (124M)", f"name: '{evil}'")
    (folder / "gpt2.yaml").write_text(text)
    monkeypatch.setenv("GALLERY_SPECS", str(folder))
    at = _app("views/model.py", model="gpt2")
    assert not at.exception
    from views.common import literal

    assert at.title[0].value == literal(evil)  # every character escaped: Markdown shows the literal text
    [svg] = page_diagrams(at)  # the one HTML a page sends: Graphviz's SVG, every text XML-escaped by dot
    assert evil in diagram_text(svg).splitlines()[0]  # the title: the literal text, no element made of it
    assert {e.tag for e in svg.iter()} <= {f"{SVG}{t}" for t in ("svg", "g", "title", "text", "polygon", "path",
                                                                  "ellipse", "polyline")}
    # Streamlit escapes HTML in markdown unless a page opts in; only views/markup.py does, for the SVG Graphviz
    # wrote (every text in it escaped as XML) and pandas' escaped tables (tests/test_markup.py); a large figure (the
    # family tree's, with its links) goes through its mount, which drops what could run (tests/e2e/test_app_e2e.py)
    for page in (ROOT / "views").glob("*.py"):
        assert ("unsafe_allow_html" in page.read_text()) == (page.name == "markup.py"), page
    at = _app("views/tree.py")
    assert not at.exception
    [html] = page_figures(at)
    svg = ET.fromstring(html[html.index("<svg"):html.rindex("</svg>") + len("</svg>")])
    assert evil in "".join(svg.itertext()) and not {e.tag.split("}")[-1] for e in svg.iter()} & {"img", "b"}


def test_trace_page_of_a_gated_deltanet_layer_shows_its_state(bundled):
    spec, config = bundled["qwen3-next-80b-a3b-instruct"]
    at = _app("views/trace.py", slug="qwen3-next-80b-a3b-instruct", layer="0", seq="16", toy="true")
    assert not at.exception
    steps = page_tables(at)[0]
    nv, dk, dv = (config[f"linear_{k}"] for k in ("num_value_heads", "key_head_dim", "value_head_dim"))
    assert steps[steps["op"] == "write state"].iloc[0]["out"] == str((nv, dk, dv))  # the state, not T × T
    assert len(at.get("vega_lite_chart")) == 1  # the toy's state per token instead of attention heatmaps
    assert at.selectbox(key="head").label == "Value head"
    at = _app("views/trace.py", slug="qwen3.5-27b", layer="3", seq="4", toy="true")  # the gated full-attention layer
    assert not at.exception and "output gate" in set(page_tables(at)[0]["op"])


def test_trace_page_takes_compressed_attention_and_hyper_connections(bundled):
    spec, config = bundled["deepseek-v4-flash"]
    at = _app("views/trace.py", slug="deepseek-v4-flash", layer="2", seq="9", toy="true")
    assert not at.exception
    steps = page_tables(at)[0]
    n, d = config["hc_mult"], config["hidden_size"]
    assert steps["in"].iloc[0] == str((9, n, d)) and steps["out"].iloc[-1] == str((9, n, d))  # the residual streams
    ratio = config["compress_ratios"][2]
    assert steps[steps["op"] == "concat KV"]["out"].iloc[0] == str((1, 9 + 9 // ratio, config["head_dim"]))
    assert len(at.get("vega_lite_chart")) == 1  # the heatmap shows the toy's window tokens and compressed entries


def test_try_page_says_when_an_edit_has_no_effect():
    at = _app("views/try.py", base="nvidia-nemotron-3-nano-30b-a3b")
    assert not at.exception and not at.warning
    at.number_input(key="edit-n_layers").set_value(10).run()  # Nemotron-H's depth is its hybrid_override_pattern
    assert not at.exception
    from views.common import literal

    assert any(w.value.startswith(literal("n_layers 10 has no effect")) for w in at.warning)


def test_compare_says_the_changes_above_the_table(bundled):
    _, config = bundled["deepseek-v3.2"]
    at = _app("views/compare.py", models=["deepseek-v3", "deepseek-v3.2"], diff="true", part="Table")
    assert not at.exception
    said = "\n".join(m.value for m in at.markdown)
    assert f"sparse indexer {config['index_n_heads']} × {config['index_head_dim']}" in said and "1 change(s)" in said
    frame = at.dataframe[0].value  # the toggle bound to the URL keeps only the rows that differ
    assert "sparse indexer" in frame.index.get_level_values("field") and "vocab" not in frame.index.get_level_values(
        "field")


def test_model_page_says_where_the_model_comes_from():
    at = _app("views/model.py", model="kimi-k2-instruct")  # behind its tab: the load reads no other model's facts
    assert not at.exception and not any("Nearest earlier relative" in m.value for m in at.markdown)
    at = _app("views/model.py", model="kimi-k2-instruct", section="Where it comes from")
    assert not at.exception
    assert any("Nearest earlier relative: **DeepSeek-V3**" in m.value for m in at.markdown)
    links = [p.proto for p in at.get("page_link") if p.proto.page == "compare"]
    assert any(p.query_string == "models=deepseek-v3&models=kimi-k2-instruct" for p in links)


def test_model_page_marks_curated_facts_no_vendored_source_confirms(bundled):
    spec, _ = bundled["nvidia-nemotron-3.5-lightning-30b-a3b"]
    at = _app("views/model.py", model=spec.slug)
    assert not at.exception
    captions = [c.value for c in at.caption]
    for fact in ("release_date", "licence"):
        said = f"{fact.replace('_', ' ').capitalize()} unconfirmed"
        assert any(said in c and spec.unconfirmed[fact][:40] in c for c in captions), (said, captions)
    at = _app("views/model.py", model="llama-3.1-8b-instruct")
    assert not any("unconfirmed" in c.value for c in at.caption)


def _cards(at: AppTest) -> ET.Element:
    """The Gallery's cards, sent as one HTML element (views/cards.py)."""
    [grid] = [m.value for m in at.markdown if m.value.startswith('<div class="gallery-cards"')]
    return ET.fromstring(grid)


def test_gallery_cards_open_their_model_and_compare_with_it_first(bundled):
    at = _app(q="deepseek-v3.2")
    [card] = _cards(at)
    links = {a.text: a.get("href") for a in card.iter("a")}
    assert links == {"Open →": "model?model=deepseek-v3.2", "Compare with…": "compare?models=deepseek-v3.2"}
    assert {a.get("target") for a in card.iter("a")} == {"_self"}  # in the same tab, as a page link did


def test_gallery_draws_its_filters_only_while_their_panel_is_open(bundled):
    """A plain visit: the panel is closed, none of its widgets is sent, every model is listed. A URL that carries
    a filter opens it, with the filter in its widget."""
    at = _app()
    assert not at.exception and [e.label for e in at.expander] == ["Search, filter and sort"]
    assert not at.text_input and not at.multiselect and not at.selectbox and not at.get("button_group")
    assert len(_cards(at)) == 12 and any(f"{len(bundled)} of {len(bundled)} models" in c.value for c in at.caption)
    at = _app(family="Gemma 3", sort="name")
    assert not at.exception and at.multiselect(key="family").value == ["Gemma 3"]
    assert at.selectbox(key="sort").value == "name"
    names = sorted((s.name for s, _ in bundled.values() if s.family == "Gemma 3"), key=str.lower)
    assert [card.find("strong").text for card in _cards(at)] == names[:12]


def test_family_tree_page_draws_every_model_and_filters_by_lineage(bundled):
    at = _app("views/tree.py")
    assert not at.exception and not at.multiselect  # every lineage: the filter's panel is closed, not drawn
    assert [e.label for e in at.expander] == ["Lineages", "Theme and slide exports"]
    [svg] = page_figures(at)
    assert len(svg) > diagrams.LARGE and len(at.get("bidi_component")) == 1  # every model: mounted, not Markdown
    assert svg.count('class="node"') == len(bundled) and "model?model=gpt2" in svg
    at = _app("views/tree.py", lineage="Google")
    [svg] = page_figures(at)
    assert len(svg) <= diagrams.LARGE and not at.get("bidi_component")  # one lineage: sent as Markdown
    # RecurrentGemma's RG-LRU layers put it among the fixed-state hybrids, not in Google's lineage group
    google = [s for s, (spec, _) in bundled.items() if spec.organisation == "Google" and s != "recurrentgemma-2b"]
    assert all(f"model?model={s}" in svg for s in google) and "model?model=deepseek-v3" not in svg


def test_model_page_sends_no_chart_or_table_until_its_section_is_opened(bundled):
    spec, _ = bundled["gpt2"]
    at = _app("views/model.py", model="gpt2")  # the load: diagram, facts and notes; no Vega chart, no grid
    assert not at.exception and not at.get("vega_lite_chart") and not at.dataframe and not at.get("json")
    [notes] = [m.value for m in at.markdown if spec.notes[0].text in m.value]  # one list, in the spec's order
    pointers = notes.splitlines()[1::2]  # each note's second line: "↳ transformers/models/gpt2/... GPT2Model"
    assert len(pointers) == len(spec.notes) and all(n.ref.split()[-1] in p for n, p in zip(spec.notes, pointers))
    for section, element in [("Parameters", "vega_lite_chart"), ("Cache and compute", "vega_lite_chart"),
                             ("config.json → spec", "json")]:  # every section stays one click (or URL) away
        at = _app("views/model.py", model="gpt2", section=section)
        assert not at.exception and at.get(element) and (page_tables(at) or at.dataframe), section
    terms = page_tables(_app("views/model.py", model="gpt2", section="Parameters"))[0]  # every count with its formula
    assert sum(int(n.replace(",", "")) for n in terms["parameters"]) == 124_439_808  # transformers' GPT-2 (test_counts)
    assert all(terms["formula"]) and "embed_positions" in set(terms["tensor"])  # GPT-2 learns its positions


@pytest.mark.parametrize(("page", "query", "key", "tabs"), [
    (None, {}, "view", ["Timeline"]),
    ("views/compare.py", {"models": ["gpt2", "qwen3-8b"]}, "part",
     ["Parameters by component", "Cache against context"]),
])
def test_gallery_and_compare_draw_their_charts_when_asked(page, query, key, tabs):
    at = _app(page, **query)
    assert not at.exception and not at.get("vega_lite_chart")
    for tab in tabs:
        at = _app(page, **query, **{key: tab})
        assert not at.exception and len(at.get("vega_lite_chart")) == 1, tab


def test_trace_page_runs_the_toy_only_when_asked():
    at = _app("views/trace.py", slug="qwen3-8b", layer="2", seq="16")
    assert not at.exception and len(page_tables(at)) == 1 and not at.get("vega_lite_chart")  # the steps only
    assert "Run the layer on a toy and show every value" in [e.label for e in at.expander]  # closed
    for query in ({"toy": "true"}, {"head": "1"}):  # the panel's own parameter, or one of its pictures' widgets
        at = _app("views/trace.py", slug="qwen3-8b", layer="2", seq="16", **query)
        assert not at.exception and len(page_tables(at)) > 1 and len(at.get("vega_lite_chart")) == 1


def test_without_dot_the_browser_lays_the_diagram_out_and_a_caption_says_why(monkeypatch, bundled):
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else which(name, *a, **k))
    at = _app("views/model.py", model="gpt2")
    assert not at.exception and not page_diagrams(at)
    assert f"{bundled['gpt2'][1]['n_head']} query heads" in at.get("graphviz_chart")[0].spec  # the same DOT
    assert any("Graphviz `dot` is not installed" in c.value and "apt-get install" in c.value for c in at.caption)


def test_published_sizes_beside_the_exact_ones_on_every_page():
    # gpt-oss-20b: OpenAI's 3.6B active leaves out the input embedding (201,088 × 2,880 = 579,133,440).
    at = _app("views/model.py", model="gpt-oss-20b")
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any("Published active: **3.6B** (input embedding left out, rounding)" in c and "579,133,440" in c
               for c in captions), captions
    shown = page_facts(at)
    assert "tied" in shown["Total parameters"][2] and "routed experts" in shown["Active per token"][2]
    [card] = _cards(_app(q="gpt-oss-20b"))
    published = "".join(card.find("p").findall("span")[-1].itertext())  # the card's facts' last line
    assert published.startswith("Published: total 21B") and "3.6B (input embedding left out" in published
    at = _app("views/compare.py", models=["gpt-oss-20b", "glm-4.5-air"], part="Table")
    frame = at.dataframe[0].value
    row = frame.loc[("Parameters", "published active")]
    assert list(row) == ["3.6B (input embedding left out, rounding)",
                         "12B (input embedding left out, output head left out, rounding)"]


def test_a_published_source_is_shown_literally_in_its_tooltip(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    (folder / "configs").mkdir(parents=True)
    shutil.copy(SPEC_DIR / "configs" / "gpt2.json", folder / "configs" / "gpt2.json")
    evil = "![t](http://127.0.0.1:9/x.png) *card*"
    text = (SPEC_DIR / "gpt2.yaml").read_text()
    start = text.index("  source: ", text.index("published:"))
    end = text.index("\n", start)
    (folder / "gpt2.yaml").write_text(text[:start] + f"  source: '{evil}'" + text[end:])
    monkeypatch.setenv("GALLERY_SPECS", str(folder))
    at = _app("views/model.py", model="gpt2")
    assert not at.exception
    from views.common import literal

    helps = [c.proto.help for c in at.caption if c.value.startswith("Published")]
    assert helps and all(h.endswith(f"Source: {literal(evil)}") for h in helps)


@pytest.mark.parametrize("page, query, said, shown", [
    ("views/model.py", {"model": "no-such-model"}, "model=no-such-model", "showing "),
    ("views/trace.py", {"slug": "gpt2", "layer": "12", "seq": "0"}, "seq=0, layer=12", "layer 0 (of 0-11), T = 8"),
    ("views/compare.py", {"models": ["gpt2", "nope", "qwen3-8b"]}, "models=nope", "left out of the comparison"),
    ("views/try.py", {"base": "nope"}, "base=nope", "starting from "),
    ("views/try.py", {"mode": "bogus"}, "mode=bogus", "starting from a bundled model"),
    ("views/try.py", {"base": "gpt2", "with": "nope"}, "with=nope", "comparing with "),
    (None, {"family": "Bogus", "sort": "weird"}, "family=Bogus, sort=weird", "left out of the filters"),
    (None, {"page": "99"}, "page=99", "showing page 1 of "),
    (None, {"size": "7"}, "size=7", "left out of the filters"),  # a range is two of the slider's sizes
    (None, {"size": ["5", "∞", "1"]}, "size=5, size=∞, size=1", "left out of the filters"),
    (None, {"view": "Timeline", "colour": "mauve"}, "colour=mauve", "coloured by family"),
    (None, {"view": "Bogus"}, "view=Bogus", "showing *Cards*"),
    ("views/model.py", {"model": "gpt2", "ctx": "abc", "batch": "0"}, "ctx=abc, batch=0",
     "showing a context of 1,024 tokens, batch 1"),  # gpt2's n_positions
    ("views/model.py", {"model": "gpt2", "theme": "neon"}, "theme=neon", "drawn in the light theme"),
    ("views/compare.py", {"models": ["gpt2", "qwen3-8b"], "part": "Bogus"}, "part=Bogus", "showing *Figure*"),
    ("views/tree.py", {"lineage": "Bogus"}, "lineage=Bogus", "left out of the lineages shown"),
    ("views/trace.py", {"slug": "gpt2", "head": "99"}, "head=99", "showing 0"),
    ("views/trace.py", {"slug": "gpt2", "seq": "²"}, "seq=²", "T = 8"),  # a digit to str.isdigit, not to int
    ("views/trace.py", {"slug": "gpt2", "layer": "9" * 5000}, "layer=" + "9" * 5000, "layer 0"),  # int's limit: 4,300
])
def test_a_link_asking_for_what_the_page_does_not_offer_says_so(page, query, said, shown):
    """Streamlit drops a bound widget's URL value that is not among its options and shows its default without a word;
    the page says so in one line (gpt2 has 12 layers: 0-11)."""
    at = _app(page, **query)
    assert not at.exception
    [warning] = [w.value for w in at.warning]
    assert f"This link asks for {said}, which this page does not offer" in warning and shown in warning


def test_a_comparison_link_of_more_than_six_models_says_which_are_left_out():
    slugs = ["gpt2", "qwen3-8b", "gemma-2-9b", "gpt-oss-20b", "llama-2-7b-hf", "mistral-7b-v0.1", "deepseek-v3"]
    at = _app("views/compare.py", models=slugs)
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "A comparison takes 6 models at most; this link's others are left out: deepseek-v3."]
    assert at.multiselect(key="models").value == slugs[:6]


OFFERED = [
    (None, {"family": "Gemma 2", "ffn": "MoE", "sort": "largest", "size": ["0.5", "∞"]}),
    (None, {"view": "Timeline", "colour": "attention"}),
    (None, {"page": "2"}),
    ("views/model.py", {"model": "gpt2", "ctx": "4096", "batch": "2", "theme": "dark"}),
    ("views/trace.py", {"slug": "gpt2", "layer": "11", "seq": "16"}),
    ("views/compare.py", {"models": ["gpt2", "qwen3-8b"]}),
    ("views/try.py", {"base": "gpt2", "with": "qwen3-8b", "mode": "a bundled model"}),
]


def test_a_link_the_page_offers_says_nothing():
    for page, query in OFFERED:
        at = _app(page, **query)
        assert not at.exception and not at.warning, (page, [w.value for w in at.warning])
