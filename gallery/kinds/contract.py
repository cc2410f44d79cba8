"""The contract of a kind module: everything the gallery knows about one mixer or feed-forward kind, side by side.

A kind module defines its schema class and fills in one :class:`MixerKind` or :class:`FfnKind` as ``KIND``; the
package scan in :mod:`gallery.kinds` registers it. The concern modules (counts, memory, flops, diagram, trace, toy,
compare, catalog, the Trace page) ask the registry for the kind of a spec part and call its facets; they keep the
machinery every kind shares (residual wiring, norms, hyper-connections, embeddings and head, the DOT layout, the
trace and toy runners).

Each parameter tensor is declared once: the module's ``weights(d, part)`` lists :class:`~gallery.terms.Weight` s
(:func:`~gallery.terms.weight`: the term's component, name and symbolic factors, and the tensor's name and shape in
the trace); ``terms=WeightTerms(weights)`` gives the counts' terms, and its ``steps`` take every tensor from
``table(weights(c.dm, part))`` (``linear``, ``conv_step``, ``params(W, ...)``), so the count and the trace cannot
drift (tests/test_kinds.py checks that each declared tensor is in exactly one step).

The Trace page's picture is data: a kind returns :class:`Heatmap`, :class:`Side`, :class:`Table` and
:class:`Caption` items, asking for a head or token through the ``choose`` callback the page passes in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pictures hold frames; the CLI starts without pandas
    import pandas as pd

Choose = Callable[..., Any]  # choose(label, options, key, bound=True, index=0) → the chosen option (a page widget)


@dataclass(frozen=True)
class Fact:
    """One row of the compare table a kind fills: its group, its field name, and how to read it from the part."""

    group: str
    field: str
    get: Callable[[Any], Any]


def or_none(value: Any) -> Any:
    """An optional setting in the compare table: its value, or "none" when the model does without it."""
    return "none" if value is None else value


@dataclass(frozen=True)
class Heatmap:
    """Long-form cells drawn as coloured squares: ``x``, ``y`` and ``value`` columns, one panel per ``facet``."""

    cells: pd.DataFrame
    x: str
    y: str
    facet: str | None = None
    title: str | None = None
    diverging: bool = False  # a red-blue scale centred on 0 instead of viridis
    size: int = 180
    independent: bool = True  # one colour scale per panel
    width: int | None = None


@dataclass(frozen=True)
class Side:
    """Heatmaps side by side, each with its own colour scale."""

    maps: tuple[Heatmap, ...]


@dataclass(frozen=True)
class Table:
    """A small table of numbers."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Caption:
    """A line of text under a picture."""

    text: str


Picture = Callable[[list, Choose], list]  # (the toy's ToySteps, choose) → Heatmap | Side | Table | Caption items


def no_picture(steps: list, choose: Choose) -> list:
    """A kind whose toy has nothing to draw beyond its step values."""
    return []


@dataclass(frozen=True)
class MixerKind:
    """A token mixer kind: its schema class and every facet the gallery shows of it."""

    schema: type  # the pydantic class; its ``kind`` Literal gives the spec's tags
    name: Callable[[Any], str]  # catalogue name of a mixer: "GQA", "MLA", ...
    terms: Callable[..., list]  # WeightTerms(weights): (d, mixer, where) → its parameter Terms, d = ("d_model", width)
    cache: Callable[..., Any]  # (block kind, layers, mixer, d_model) → LayerCache (per-token entries, fixed state, caveat)
    context_flops: Callable[[Any, int], int]  # one token attending over a context: FLOPs beyond the weights
    state_flops: Callable[[Any], int]  # one token's state update and read-out (fixed-state mixers), any context
    lines: Callable[[Any], list[str]]  # the diagram label, line by line
    fill: str  # the diagram's colour role: "attention" or "linear" (fixed-state mixers)
    label: str  # how the sublayer's norms are named: "attn" (attn_norm) or "mixer" (mixer_norm)
    steps: Callable[..., list]  # (Ctx, mixer) → its trace Steps from (T, d_model) back to (T, d_model), tensors from
    # the table of its weights
    forward: Callable[..., Any]  # (Run, mixer, x) → the toy output, recording one ToyStep per trace step
    shrink: Callable[[dict], dict]  # the mixer's fields at toy widths, its structure kept
    facts: tuple[Fact, ...]  # its rows of the compare table
    picture: Picture  # what the Trace page draws of its toy
    block_name: str = "Transformer block"  # a single-kind model's frame title
    axis0: str = "head"  # what the first axis of its 3-D toy values is, for the step tables
    init: Mapping[str, Callable] = field(default_factory=dict)  # toy weights drawn by a rule of their own: name → (rng, shape)
    toy_d_model: Callable[[Any, dict, int], int | None] = lambda m, shrunk, d_model: None  # a toy width the kind keeps
    # (experts a token uses, experts stored) of a mixer with routed experts (their weights named ``experts.…``)
    routed: Callable[[Any], tuple[int, int]] = lambda m: (1, 1)

    @property
    def tags(self) -> tuple[str, ...]:
        return self.schema.model_fields["kind"].annotation.__args__


def fixed_state(**facets) -> MixerKind:
    """A mixer that keeps a fixed-size state instead of attending over the context: nothing grows with the context,
    its diagram fill is ``linear``, its norms are named ``mixer``."""
    return MixerKind(context_flops=lambda m, context: 0, fill="linear", label="mixer", **facets)


@dataclass(frozen=True)
class FfnKind:
    """A feed-forward kind: its schema class and every facet the gallery shows of it."""

    schema: type
    name: Callable[[Any], str]  # catalogue name: "dense", "MoE"
    terms: Callable[..., list]  # WeightTerms(weights): (d, ffn, where) → its parameter Terms
    routed: Callable[[Any], tuple[int, int]]  # (experts a token uses, experts stored): (1, 1) for a dense ffn
    extra_norms: Callable[[Any], int]  # norm modules of its own beyond the sublayer's
    lines: Callable[[Any], list[str]]  # the diagram label
    # (dot, prefix, ffn) → draws its node(s) with the diagram's ``node``/``edge``/``cluster``/``label``, every name and
    # cluster name starting with ``prefix`` (it carries the model's prefix in a comparison figure and the block kind's
    # name), returns the node its output leaves from
    draw: Callable[..., str]
    steps: Callable[..., list]  # (Ctx, ffn) → its trace Steps
    forward: Callable[..., Any]  # (Run, ffn, x, residual) → the toy output
    shrink: Callable[[dict], dict]
    facts: tuple[Fact, ...]
    buffers: Callable[..., dict] = lambda f, rng, vocab: {}  # toy buffers (not parameters) the forward reads
    picture: Picture = no_picture
    # (block kind, layers, ffn, d_model) → the fixed state it keeps between tokens (a LayerCache, ``state_only``), or
    # None: a feed-forward that reads only the current token keeps nothing
    cache: Callable[..., Any] = lambda kind, n, f, d_model: None

    @property
    def tags(self) -> tuple[str, ...]:
        return self.schema.model_fields["kind"].annotation.__args__
