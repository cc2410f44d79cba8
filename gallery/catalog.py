"""The gallery's catalogue: one card of key facts per model, with search, filters and sorting.

Pure functions over specs (no Streamlit, no pandas): the Gallery page renders what :func:`select`
and :func:`sort` return, and the numbers on a card are the exact counts of ``gallery.counts``, with the
publisher's own figures beside them (``gallery.published``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .counts import active_params, total_params
from .pattern import summary
from .kinds import ffn_kind, mixer_kind
from .published import published_line
from .spec import Spec


@dataclass(frozen=True)
class Card:
    """What a gallery card shows of one model."""

    slug: str
    name: str
    family: str
    organisation: str
    release_date: dt.date | None
    total_params: int
    active_params: int | None  # None: undefined (an MoE whose top_k the config leaves unset)
    attention: str  # "GQA", "MLA", "MQA + sliding", "GQA / Mamba", ... (see attention_label)
    moe: bool
    n_layers: int
    d_model: int
    context_length: int | None  # None: no limit in the config (Falcon-Mamba)
    pattern: str
    published: str | None  # "total 21B (rounding) · active 3.6B (input embedding left out, rounding)"


def attention_label(spec: Spec) -> str:
    """The model's attention kinds in capitals, "+ sliding" when some layers use a window."""
    mixers = [m for b in spec.arch.blocks.values() for m in b.mixers]
    kinds = sorted({mixer_kind(m).name(m) for m in mixers})
    label = " / ".join(kinds)
    if any(getattr(m, "window", None) for m in mixers):
        label += " + sliding"
    if any(getattr(m, "chunk", None) for m in mixers):
        label += " + chunked"
    return label


def card(spec: Spec) -> Card:
    """The card of one model."""
    a = spec.arch
    return Card(
        slug=spec.slug, name=spec.name, family=spec.family, organisation=spec.organisation,
        release_date=spec.release_date, total_params=total_params(a), active_params=active_params(a),
        attention=attention_label(spec), moe=any(ffn_kind(f).routed(f)[1] > 1 for b in a.blocks.values() for f in b.ffns),
        n_layers=a.n_layers, d_model=a.d_model, context_length=a.context_length, pattern=summary(a.layers),
        published=published_line(spec),
    )


def cards(specs: list[Spec]) -> list[Card]:
    """The cards of the given models, in the same order."""
    return [card(s) for s in specs]


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the gallery to; empty tuples and None mean "any"."""

    query: str = ""
    families: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    attention: tuple[str, ...] = ()
    moe: bool | None = None
    min_params: int | None = None
    max_params: int | None = None


def _matches(c: Card, f: Filters) -> bool:
    text = f"{c.name} {c.slug} {c.family} {c.organisation}".lower()
    return (
        all(word in text for word in f.query.lower().split())
        and (not f.families or c.family in f.families)
        and (not f.organisations or c.organisation in f.organisations)
        and (not f.attention or c.attention in f.attention)
        and (f.moe is None or c.moe == f.moe)
        and (f.min_params is None or c.total_params >= f.min_params)
        and (f.max_params is None or c.total_params <= f.max_params)
    )


def select(items: list[Card], filters: Filters) -> list[Card]:
    """The cards that pass every filter (search words must all appear in name/slug/family/org)."""
    return [c for c in items if _matches(c, filters)]


_UNDATED = dt.date.min
SORTS = {
    "newest": lambda c: (c.release_date is None, -(c.release_date or _UNDATED).toordinal()),
    "oldest": lambda c: (c.release_date is None, (c.release_date or _UNDATED).toordinal()),
    "largest": lambda c: -c.total_params,
    "smallest": lambda c: c.total_params,
    "name": lambda c: c.name.lower(),
}
"""Sort orders by name; undated models go last in date orders."""


def sort(items: list[Card], how: str) -> list[Card]:
    """The cards in the order named ``how`` (a key of :data:`SORTS`)."""
    return sorted(items, key=SORTS[how])


def facets(items: list[Card]) -> dict[str, list[str]]:
    """The distinct values each filter can take, sorted."""
    return {
        "families": sorted({c.family for c in items}),
        "organisations": sorted({c.organisation for c in items}),
        "attention": sorted({c.attention for c in items}),
    }


def _billions(n: int | None) -> str:
    if n is None:
        return "undefined"
    return f"{n / 1e9:,.1f}B" if n >= 1e9 else f"{n / 1e6:,.0f}M"


def models_table(specs: list[Spec]) -> str:
    """The README's table of bundled models, oldest first (undated last): one Markdown row each."""
    rows = ["| released | model (`slug`) | organisation | `model_type` | parameters (active) | layers | mixers |",
            "|---|---|---|---|---|---|---|"]
    for s in sorted(specs, key=lambda s: (s.release_date or dt.date.max, s.name)):
        c = card(s)
        size = _billions(c.total_params) + (f" ({_billions(c.active_params)})" if c.moe else "")
        rows.append(f"| {c.release_date or '—'} | {c.name} (`{c.slug}`) | {c.organisation} | "
                    f"`{s.source.model_type}` | {size} | {c.n_layers} | {c.attention} |")
    return "\n".join(rows)
