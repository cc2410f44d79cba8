"""The poster: one cell per selected model in the order asked for, titled with facts read here from the spec
and its config, packed at the diagrams' own size, rendered to real SVG, PNG and PDF; clear errors."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import pytest

from gallery.compare import compact
from gallery.poster import PosterError, grid_size, ordered, poster, print_scale, select
from gallery.render import layout, render

from .conftest import SVG
from .reference import reference_param_count

_CLUSTER = re.compile(r"subgraph (cluster_poster_\d+) \{\s*graph \[bb=\"([\d.]+),([\d.]+),([\d.]+),([\d.]+)\",(.*?)\];",
                      re.S)


def _cells(dot: str) -> dict[str, tuple[tuple[float, ...], str]]:
    """cluster name → (bounding box x0, y0, x1, y1 in points, its title label) of a laid-out poster or cell."""
    return {m[1]: (tuple(map(float, m.groups()[1:5])), re.search(r"label=<(.*?)>,\n", m[6], re.S)[1])
            for m in _CLUSTER.finditer(dot)}


def _specs(bundled):
    return [spec for spec, _ in bundled.values()]


# Models whose recurrent or linear-attention layers put them in the fixed-state hybrids' lineage group, not in their
# organisation's: RecurrentGemma (Google's RG-LRU), MiniMax-Text-01 (lightning attention)
HYBRIDS = {"recurrentgemma-2b", "minimax-text-01"}


def test_one_cell_per_model_row_by_row_in_date_order_with_name_and_facts(bundled):
    google = {slug: (spec, config) for slug, (spec, config) in bundled.items()
              if spec.organisation == "Google" and slug not in HYBRIDS}
    by_date = sorted(google, key=lambda s: (google[s][0].release_date, google[s][0].name.lower()))
    made = poster(ordered(select(_specs(bundled), ["google"]), "date"), columns=3)
    assert made.slugs == tuple(by_date) and made.columns == 3
    cells = _cells(made.dot)
    assert sorted(cells) == sorted(f"cluster_poster_{i}" for i in range(len(by_date)))
    boxes = [cells[f"cluster_poster_{i}"][0] for i in range(len(by_date))]
    for i, (x0, _, x1, top) in enumerate(boxes):  # row by row, three to a row, tops aligned, left to right
        row, col = divmod(i, 3)
        if col:
            assert top == boxes[i - 1][3] and x0 > boxes[i - 1][2]
        elif row:
            assert top < min(b[1] for b in boxes[i - 3:i])  # below the whole previous row
    for i, slug in enumerate(by_date):
        spec, config = google[slug]
        title = cells[f"cluster_poster_{i}"][1]
        assert f"<B>{spec.name}</B>" in title
        assert f"{config['num_hidden_layers']} layers · d_model {config['hidden_size']:,}" in title
        assert f"released {spec.release_date.isoformat()}" in title


def test_a_cell_says_the_parameters_transformers_builds(bundled):
    spec, config = bundled["gpt2"]
    made = poster(select(_specs(bundled), [], ["gpt2"]))
    assert f">{compact(reference_param_count(config))} parameters<" in _cells(made.dot)["cluster_poster_0"][1]


def test_family_sort_groups_the_lineages_and_dates_within(bundled):
    chosen = select(_specs(bundled), ["Meta", "Google"])
    expected = sorted((s for s in _specs(bundled) if s.organisation in ("Meta", "Google") and s.slug not in HYBRIDS),
                      key=lambda s: (s.organisation, s.release_date, s.name.lower()))  # Google, then Meta
    assert [s.slug for s in ordered(chosen, "family")] == [s.slug for s in expected]


def test_family_names_a_lineage_group_a_family_or_a_model_type(bundled):
    specs = _specs(bundled)
    assert {s.slug for s in select(specs, ["Gemma 3"])} == {s.slug for s in specs if s.family == "Gemma 3"}
    assert {s.slug for s in select(specs, ["qwen3_moe"])} == {
        s.slug for s in specs if s.source.model_type == "qwen3_moe"}
    deepseek = {s.slug for s in select(specs, ["deepseek template"])}
    assert {"deepseek-v3", "deepseek-v3.2", "kimi-k2-instruct"} <= deepseek and "llama-2-7b-hf" not in deepseek
    assert [s.slug for s in select(specs, [], ["qwen3-8b", "gpt2"])] == ["qwen3-8b", "gpt2"]


@pytest.mark.parametrize("call, message", [
    (lambda specs: select(specs, ["no such family"]), "unknown family 'no such family': give a lineage group"),
    (lambda specs: select(specs, [], ["no-such-model"]), "no bundled model 'no-such-model'"),
    (lambda specs: select(specs, ["Google"], ["gpt2"]), "the selection is empty"),
    (lambda specs: ordered(specs, "size"), "unknown sort 'size': choose one of date, family"),
    (lambda specs: poster([]), "the selection is empty"),
    (lambda specs: poster(specs[:1], columns=0), "columns 0"),
])
def test_bad_selections_are_one_line_errors(bundled, call, message):
    with pytest.raises(PosterError, match=re.escape(message)) as raised:
        call(_specs(bundled))
    assert "\n" not in str(raised.value)


def test_cells_keep_the_diagrams_own_size(bundled):
    """Packed, not scaled: each cell is as large as its diagram laid out alone, and the sheet is the grid."""
    made = poster(select(_specs(bundled), [], ["gemma-3-27b-it", "qwen3-next-80b-a3b-instruct", "gpt2"]), columns=2)
    from gallery.poster import cell

    packed = _cells(made.dot)
    sizes = []
    for i, slug in enumerate(made.slugs):
        (x0, y0, x1, y1), _ = _cells(layout(cell(bundled[slug][0], "light", i)))[f"cluster_poster_{i}"]
        px0, py0, px1, py1 = packed[f"cluster_poster_{i}"][0]
        assert (round(px1 - px0), round(py1 - py0)) == (round(x1 - x0), round(y1 - y0))
        sizes.append((x1 - x0, y1 - y0))
    w, h = grid_size(sizes, 2)
    assert made.size[0] >= w and made.size[1] >= h  # every cell fits: nothing shrunk to make room
    assert re.search(r"fontsize=11\b", made.dot)  # the diagrams' node text as in a single export


def test_grid_and_print_scale_by_hand():
    # two columns: widths max(100, 50) and 200, 36 pt apart; rows max(50, 80) and 30
    assert grid_size([(100, 50), (200, 80), (50, 30)], 2) == (100 + 36 + 200, 80 + 36 + 30)
    assert print_scale((2384, 3370), "A0") == 1 and print_scale((3370, 2384), "A0") == 1  # either orientation
    assert print_scale((2 * 2384, 2 * 3370), "A0") == 0.5
    assert print_scale((1684, 2384), "A1") == 1


@pytest.fixture(scope="module")
def small(bundled):
    return poster(select(_specs(bundled), [], ["llama-3.1-8b-instruct", "qwen3-8b"]), "dark")


def test_renders_to_real_svg_png_and_pdf(small):
    svg = ET.fromstring(render(small.dot, "svg", placed=True))
    assert svg.tag == f"{SVG}svg" and svg.findall(f".//{SVG}path")  # text as glyph outlines
    width = float(svg.get("width").removesuffix("pt"))
    assert abs(width - small.size[0]) <= 16  # drawn as placed, at the packed size (plus Graphviz's pad)
    png = render(small.dot, "png", 1, placed=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert abs(struct.unpack(">I", png[16:20])[0] - small.size[0] * 96 / 72) <= 24  # 96 dpi at scale 1
    pdf = render(small.dot, "pdf", placed=True)
    assert pdf[:5] == b"%PDF-" and b"DejaVu" in pdf and b"/FontFile" in pdf
