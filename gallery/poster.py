"""The poster: a selection of models' block diagrams on one sheet, in a grid, each cell titled with its key facts.

Follows Graphviz's own recipe for many drawings on one page (the ``gvpack`` manual): each model's diagram
(:func:`gallery.diagram.diagram`, unchanged, framed in a cluster) is laid out by ``dot``, the layouts are
packed row by row into one graph (``gvpack -array``) and drawn as placed (``neato -n2``) by the cairo
renderers, so the poster is SVG, PNG or PDF with embedded glyphs like every export (:mod:`gallery.render`).
Every diagram keeps its natural size (node text 11 pt): the sheet grows with the selection instead of
shrinking the text, and :func:`print_scale` says how large it prints on A0 or A1 (at 100 % or more, its text
is at least a single diagram's). The number of columns is chosen to fit A0 best. Models are ordered by release
date, or by lineage group (:func:`gallery.lineage.lineage`) and then date; ``--family`` selects by lineage
group, the spec's ``family`` or its ``model_type``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import graphviz

from .compare import compact
from .counts import active_params, total_params
from .diagram import THEMES, diagram
from .lineage import lineage
from .render import layout, pack
from .spec import Spec

SORTS = ("date", "family")
SHEETS = {"A0": (2384, 3370), "A1": (1684, 2384)}  # points, portrait (841 × 1189 mm, 594 × 841 mm)
MARGIN = 36  # points between cells (half an inch)
_BB = re.compile(r'\bbb="([\d.]+),([\d.]+),([\d.]+),([\d.]+)"')


class PosterError(ValueError):
    """A selection that cannot make a poster; the message says what is accepted."""


@dataclass(frozen=True)
class Poster:
    """A packed poster: its slugs in grid order (row by row), the columns, its size in points and the DOT
    with every position (render it with ``gallery.render.render(dot, fmt, placed=True)``)."""

    slugs: tuple[str, ...]
    columns: int
    size: tuple[float, float]
    dot: str


def group(spec: Spec) -> str:
    """The lineage group a model is selected and sorted by (the family tree's clusters)."""
    return lineage(spec)


def _names(spec: Spec) -> set[str]:
    """What ``--family`` may name for this model: its lineage group (also without its parenthesis), family or
    model_type, compared case-insensitively."""
    return {n.casefold() for n in (group(spec), group(spec).split(" (")[0], spec.family, spec.source.model_type)}


def select(specs: list[Spec], families: list[str] = (), slugs: list[str] = ()) -> list[Spec]:
    """The models named by ``slugs`` (all when none) that belong to one of ``families`` (any when none)."""
    known = {s.slug: s for s in specs}
    for slug in slugs:
        if slug not in known:
            raise PosterError(f"no bundled model '{slug}': give slugs from arch_specs/")
    chosen = [known[s] for s in dict.fromkeys(slugs)] if slugs else list(specs)
    for family in families:
        if not any(family.casefold() in _names(s) for s in specs):
            groups = sorted({group(s).split(" (")[0] for s in specs})
            raise PosterError(f"unknown family '{family}': give a lineage group ({', '.join(groups)}), "
                              "a spec's family (e.g. 'Gemma 3') or a model_type (e.g. qwen3_moe)")
    if families:
        chosen = [s for s in chosen if {f.casefold() for f in families} & _names(s)]
    if not chosen:
        raise PosterError("the selection is empty: no model is both among the slugs and in the families given")
    return chosen


def ordered(specs: list[Spec], sort: str = "date") -> list[Spec]:
    """``specs`` by release date (undated last), or by lineage group and then date; ties by name."""
    if sort not in SORTS:
        raise PosterError(f"unknown sort '{sort}': choose one of {', '.join(SORTS)}")
    key = lambda s: (s.release_date is None, s.release_date or 0, s.name.casefold())  # noqa: E731
    return sorted(specs, key=lambda s: (group(s), *key(s)) if sort == "family" else key(s))


def facts(spec: Spec) -> list[str]:
    """The key facts under a cell's name: sizes, depth and width, organisation and release date."""
    total, active = total_params(spec.arch), active_params(spec.arch)
    size = f"{compact(total)} parameters" + (", active undefined (top_k null)" if active is None else
                                              f", {compact(active)} active" if active != total else "")
    return [size, f"{spec.arch.n_layers} layers · d_model {spec.arch.d_model:,}",
            f"{spec.organisation} · released {spec.release_date or 'on an unknown date'}"]


def cell(spec: Spec, theme: str, i: int) -> str:
    """``spec``'s diagram as one poster cell: the same graph with its stack inside a frame titled with the name
    and :func:`facts` (gvpack keeps clusters, not a graph's own label)."""
    g = diagram(spec, theme)
    esc = lambda text: html.escape(str(text), quote=False)  # noqa: E731 - names are a stranger's text
    title = (f'<FONT POINT-SIZE="26"><B>{esc(spec.name)}</B></FONT>'
             + "".join(f'<BR/><FONT POINT-SIZE="15">{esc(line)}</FONT>' for line in facts(spec)))
    frame = graphviz.Digraph(name=f"cluster_poster_{i}", body=g.body, graph_attr={
        "label": f"<{title}>", "labelloc": "b", "labeljust": "c", "style": "rounded", "color": THEMES[theme].edge,
        "penwidth": "1", "margin": "24"})
    framed = graphviz.Digraph(name=g.name, graph_attr=g.graph_attr, node_attr=g.node_attr, edge_attr=g.edge_attr)
    framed.subgraph(frame)
    return framed.source


def _extent(dot: str) -> tuple[float, float]:
    """Width and height in points of a laid-out graph (its first, the root's, bounding box)."""
    x0, y0, x1, y1 = map(float, _BB.search(dot).groups())
    return x1 - x0, y1 - y0


def print_scale(size: tuple[float, float], sheet: str) -> float:
    """How large a sheet of ``size`` points prints when fitted to ``sheet`` (either orientation): 1 is 100 %."""
    (w, h), (pw, ph) = size, SHEETS[sheet]
    return max(min(pw / w, ph / h), min(ph / w, pw / h))


def grid_size(sizes: list[tuple[float, float]], columns: int) -> tuple[float, float]:
    """The size of ``sizes`` in a grid of ``columns`` filled row by row: each column as wide as its widest cell,
    each row as high as its highest, :data:`MARGIN` between them."""
    rows = [sizes[i:i + columns] for i in range(0, len(sizes), columns)]
    widths = [max(r[c][0] for r in rows if c < len(r)) for c in range(min(columns, len(sizes)))]
    return sum(widths) + MARGIN * (len(widths) - 1), sum(max(h for _, h in r) for r in rows) + MARGIN * (len(rows) - 1)


def best_columns(sizes: list[tuple[float, float]], sheet: str = "A0") -> int:
    """The number of columns whose grid prints largest on ``sheet``."""
    return max(range(1, len(sizes) + 1), key=lambda c: (print_scale(grid_size(sizes, c), sheet), -c))


def poster(specs: list[Spec], theme: str = "light", columns: int | None = None) -> Poster:
    """The poster of ``specs`` in their order (see :func:`select`, :func:`ordered`), with ``columns`` columns
    (default: :func:`best_columns` for A0)."""
    if not specs:
        raise PosterError("the selection is empty: give at least one model")
    if columns is not None and columns < 1:
        raise PosterError(f"columns {columns}: give a whole number of at least 1")
    cells = [cell(s, theme, i) for i, s in enumerate(specs)]
    columns = min(columns or best_columns([_extent(layout(c)) for c in cells]), len(cells))
    dot = pack(cells, columns, MARGIN)
    return Poster(tuple(s.slug for s in specs), columns, _extent(dot), dot)

