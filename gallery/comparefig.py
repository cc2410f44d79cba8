"""The comparison figure: 2–4 models side by side in one Graphviz drawing, what changed written beside it.

It follows the side-by-side comparisons that circulate for new open models (the README's "The diagram";
issue 16): one drawing, so every model is at the same scale; the stages line up row by row (tokens,
embedding, each block kind, final norm, head, logits: Graphviz's ``newrank=true`` with one ``rank=same``
per row); the first model is the reference, drawn in full colour; in each other model what equals the
reference is faded, and what changed is outlined in the highlight colour with the change in words beside
it. The changes are :func:`gallery.changes.changes` (their phrases, stage by stage), so the highlighted
stages are exactly the change list's. Each model is drawn by :func:`gallery.diagram.draw` (the single
diagrams' code) into a cluster of its own, its node names prefixed ``m0.``, ``m1.``, …; a title row names
the models and a legend explains the marks. Built with the ``graphviz`` package; pure: returns DOT text
for ``gallery.render``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import graphviz

from .changes import STAGES, Change, changes
from .diagram import THEMES, _Dot, _fade, _html, digraph, draw
from .memo import per_object
from .spec import Spec

MAX_MODELS = 4
STAGE_MARK = {"embedding": "embedding", "layers": "pattern", "token mixer": "mixer", "norms": "norm",
              "feed-forward": "ffn", "final norm": "final_norm", "head": "head", "cache": "output",
              "parameters": "output"}
"""Where each stage of the change list is marked: the diagram component (``mark``) it outlines."""
assert set(STAGE_MARK) == set(STAGES)
_BESIDE = {"final_norm": "head"}  # a component the model lacks: its change is written beside this row instead
WRAP = 44  # characters per line of a change written beside its component


def marks(found: Sequence[Change]) -> dict[str, list[str]]:
    """The change phrases by the component they are written beside, in the change list's order."""
    out: dict[str, list[str]] = {}
    for c in found:
        out.setdefault(STAGE_MARK[c.stage], []).append(c.phrase)
    return out


def compare_dot(specs: list[Spec], theme: str = "light", found: Sequence[Sequence[Change]] | None = None) -> str:
    """The DOT text of the comparison figure of ``specs`` (2 to :data:`MAX_MODELS`; the first is the
    reference) in ``theme`` (``light``, ``dark`` or ``transparent``). ``found``: the changes from the first
    model to each other one, when the caller has them already (the Compare page shows them too)."""
    if not 2 <= len(specs) <= MAX_MODELS:
        raise ValueError(f"the comparison figure takes 2 to {MAX_MODELS} models, got {len(specs)}")
    t, base = THEMES[theme], specs[0]
    # the title row and legend at the left, where a reader scrolling a wide figure starts
    g = digraph("compare", t, _title(specs, theme))
    g.attr("graph", labeljust="l")
    rows: dict[str, list[str]] = {}
    per_model = [(), *(found if found is not None else (changes(base, spec) for spec in specs[1:]))]
    for i, spec in enumerate(specs):
        body, drawn = _model(spec, i, theme, tuple(per_model[i]), base.name)
        g.body.extend(body)
        for row, node in drawn:  # every block kind's frame starts on one row
            rows.setdefault("blocks" if row.startswith("block ") else row, []).append(node)
    d = _Dot(t, frozenset(), g)
    for nodes in rows.values():
        if len(nodes) > 1:
            d.same_rank(*nodes)
    return g.source


@per_object
def _drawings(spec: Spec) -> dict[tuple, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]:
    """The clusters drawn of ``spec`` so far, by place, theme and marks (see :func:`_model`)."""
    return {}


def _model(spec: Spec, i: int, theme: str, found: tuple[Change, ...], base: str
           ) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Model ``i``'s cluster (DOT lines) and the node of each of its rows, drawn once per spec object, place,
    theme and changes from the reference ``base``: a selection that adds a model draws only the new one (of
    ~20 ms for four models, most of it the ``graphviz`` package quoting names and attributes)."""
    key = (i, theme, found, base)
    done = _drawings(spec)
    if key not in done:
        t, said = THEMES[theme], marks(found)
        d = _Dot(t, frozenset(said), graphviz.Digraph(), prefix=f"m{i}.", muted=i > 0)
        sub = "reference" if i == 0 else f"{len(found)} change(s) from {base}" if found else f"no changes from {base}"
        with d.cluster(f"m{i}", label=f'<<FONT POINT-SIZE="16"><B>{_html(spec.name)}</B></FONT><BR/>{_html(sub)}>',
                       labelloc="b", labeljust="c", style="rounded", color=_fade(t.edge, t), fontcolor=t.text,
                       margin="12"):
            drawn = draw(d, spec)
            for mark, phrases in said.items():
                anchor = d.marked.get(mark) or drawn.get(_BESIDE.get(mark, ""), drawn["block 1"])
                text = [line for p in phrases for line in textwrap.wrap(p, WRAP, subsequent_indent="  ")]
                d.note(f"m{i}.change.{mark}", text, anchor, colour=t.highlight, fontsize="12",
                       **{"class": f"change {mark}"})
        done[key] = tuple(d.graphs[0].body), tuple(drawn.items())
    return done[key]


def _title(specs: list[Spec], theme: str) -> str:
    """The title row (the models' names) and the legend of the marks, as an HTML-like label."""
    t, base = THEMES[theme], _html(specs[0].name)
    fill = t.fills["attention"]
    cell = 'WIDTH="22" HEIGHT="12" FIXEDSIZE="TRUE"'
    return (f'<<TABLE BORDER="0" CELLSPACING="4">'
            f'<TR><TD COLSPAN="6"><FONT POINT-SIZE="22">{" vs ".join(_html(s.name) for s in specs)}</FONT></TD></TR>'
            f'<TR><TD BGCOLOR="{fill}" BORDER="1" COLOR="{t.edge}" {cell}></TD>'
            f'<TD ALIGN="LEFT">{base}: the reference</TD>'
            f'<TD BGCOLOR="{_fade(fill, t)}" BORDER="1" COLOR="{_fade(t.edge, t)}" {cell}></TD>'
            f'<TD ALIGN="LEFT">faded: the same as in {base}</TD>'
            f'<TD BGCOLOR="{fill}" BORDER="3" COLOR="{t.highlight}" {cell}></TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="{t.highlight}">outlined: changed, said beside it</FONT></TD></TR>'
            f'</TABLE>>')
