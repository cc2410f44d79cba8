"""A model's headline figures (total and active parameters, layers, KV cache per token, context), as one HTML element.

The Model and Try pages open with them; the Trace page's layer totals use the same row. Each figure shows its
rounded value, the exact number under it and what it counts: in a tooltip (``title``) and, for a reader on a
keyboard or a touch screen, in a "What these figures count" disclosure (``<details>``) under the row. As five
``st.metric`` elements (each with its help icon) and a page link, the figures cost the browser two more element
types to load and ten more elements to draw: the Model page, 11 loads each in one run in headless Chromium against
the floor app, 1.56× → 1.41× the floor cold, 2.25× → 2.08× warm with them as one piece of markup (issue 17). Every
text is escaped (``views.markup.text``); the links are ``views.markup.link``'s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gallery.compare import compact
from gallery.counts import active_note, active_params, total_params, unrouted
from gallery.memory import kv_bytes_per_token
from gallery.pattern import summary
from gallery.published import CONVENTIONS
from gallery.spec import Arch
from views import markup
from views.markup import QUIET, link, text

ROW = "display:grid;grid-template-columns:repeat(auto-fit,minmax(7.5rem,1fr));gap:1rem;margin:0.25rem 0 0.5rem;"
LABEL = "font-size:0.875rem;"
VALUE = "font-size:2.25rem;line-height:1.25;"


@dataclass(frozen=True)
class Fact:
    """One headline figure: its label, value as shown, the exact figure under it, and what it counts."""

    label: str
    value: str
    exact: str
    counts: str


def headline(arch: Arch) -> list[Fact]:
    """The figures a model's page opens with (the same on the Model and Try pages)."""
    total, active, kv = total_params(arch), active_params(arch), kv_bytes_per_token(arch)
    return [
        Fact("Total parameters", compact(total), f"{total:,}", CONVENTIONS["total"]),
        Fact("Active per token", compact(active), "undefined" if active is None else f"{active:,}",
             f"{unrouted(arch)}." if active is None else f"{CONVENTIONS['active']} {active_note(arch)}".strip()),
        Fact("Layers", str(arch.n_layers), " · ".join(f"{n} {kind}" for kind, n in Counter(arch.layers).items()),
             f"Decoder layers, by block kind in order: {summary(arch.layers)}."),
        Fact("KV cache / token (bf16)", f"{kv / 1024:,.0f} KiB", f"{kv:,} bytes",
             "Every attention layer caching every token (the Cache and compute section applies windows, chunks "
             "and fixed states)."),
        Fact("Context", f"{arch.context_length:,}" if arch.context_length else "no limit",
             "max_position_embeddings" if arch.context_length else "no maximum position",
             "The positions the config allows, RoPE scaling included." if arch.context_length else
             "The config sets no maximum position (attention-free)."),
    ]


def row(facts: list[Fact], links: tuple[str, ...] = ()) -> str:
    """``facts`` side by side, what each counts in a disclosure under them, then ``links`` (``markup.link``'s); one
    line of well-formed XML (a blank line would end Markdown's HTML block)."""
    cells = "".join(
        f'<div title="{text(f.counts)}"><div style="{LABEL}">{text(f.label)}</div>'
        f'<div style="{VALUE}">{text(f.value)}</div><div style="{QUIET}">{text(f.exact)}</div></div>' for f in facts)
    said = "".join(f"<li><strong>{text(f.label)}</strong>&#58; {text(f.counts)}</li>" for f in facts)
    go = "".join(f'<p style="margin:0.5rem 0 0">{a}</p>' for a in links)
    return (f'<div class="gallery-facts" style="margin-bottom:0.75rem"><div style="{ROW}">{cells}</div>'
            f'<details style="{QUIET}"><summary>What these figures count</summary><ul>{said}</ul></details>{go}</div>')


def show(arch: Arch, links: tuple[str, ...] = (), extra: list[Fact] = ()) -> None:
    """The headline figures of ``arch`` (and ``extra`` ones) in the page, then ``links``."""
    markup.show(row(headline(arch) + list(extra), links))


def trace_link(slug: str) -> str:
    """The Model page's link to its trace (the Trace page's parameter is ``slug``: README, pages)."""
    return link("Trace a layer by hand: every operation with shapes, FLOPs and real numbers →", "trace", slug=slug)
