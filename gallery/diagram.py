"""spec → Graphviz DOT: the block diagram of one model, in the grammar of shared architecture figures.

One vertical stack read bottom to top (tokens → embedding → blocks → final norm → head → logits).
Each block kind is drawn once as a rounded frame with its repeat count, its sub-layers in the order
the reference code runs them (norms where they really sit: pre, post, sandwich, parallel; two mixers side
by side from one norm into one "+" where a block has a ``parallel_mixer``, Falcon-H1; LongCat-Flash's two mixer →
ffn pairs one above the other, its shortcut MoE in a frame beside the first pair's ffn, into the last "+"), residual
additions as "+" nodes, and the numbers as side annotations. A shared block (Zamba) is drawn once, in a frame of its own that says
which layers run it; each of those layers' frames shows its own linear and where the result joins. When layers differ (sliding/full,
dense/MoE) a strip of every layer coloured by kind shows the pattern, and each kind gets its own
frame. Recurrent stacks (HRM) are drawn once each, their cycles as loops with their counts
(``gallery.recurrent_stacks``). The README's "The diagram" section describes the grammar this follows. Each mixer and feed-forward
kind (``gallery/kinds/``) writes its own label, colour role and (an MoE's cluster) nodes; this module lays
out the stack, norms (A.X-K2's gated ones with their gate, ``gallery.gated_norm``), residuals, hyper-connections,
Gemma 3n's AltUp and LAuReL (their words from ``gallery.altup``, ``gallery.laurel``), the layer strip, embedding and head.

Pure: :func:`diagram` returns the ``graphviz.Digraph``, :func:`to_dot` its DOT text; ``gallery.render`` turns
it into SVG/PNG/PDF and the app shows it with ``st.graphviz_chart``. Built with the ``graphviz`` package (its
quoting); every label and attribute value that comes from data goes through :func:`_text` (literal text, never
HTML-like) or, in an HTML-like label, :func:`_html`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import graphviz

from . import (altup, axial, block_attn_residual, byte_latent_diagram, draft_head, gated_norm, hyper, laurel,
               ngram_embedding, recurrent_stacks, residual_scale, reversible, sublayer_conv, tanh_gate)
from .kinds import ffn_kind, mixer_kind
from .pattern import summary
from .sharedblock import draw_shared, shared_use
from .spec import Block, Spec

FONT = "DejaVu Sans"  # installed with fonts-dejavu-core; cairo renders embed its glyphs


@dataclass(frozen=True)
class Theme:
    """Colours of one slide preset. Component colours are the same in every model's diagram."""

    name: str
    background: str
    text: str
    edge: str
    annotation: str
    highlight: str
    fills: dict  # component → fill colour


_FILLS_LIGHT = {
    "embedding": "#dbe9fb", "norm": "#fff1b8", "attention": "#fbd9c4", "linear": "#f9c9de", "ffn": "#d5efd8", "moe": "#c9ead0",
    "router": "#e9dcf5", "head": "#dbe9fb", "add": "#ffffff", "block": "#f6f6f6", "io": "#ffffff",
}
_FILLS_DARK = {
    "embedding": "#1f3a5c", "norm": "#5c4d12", "attention": "#6b3518", "linear": "#5e1f3b", "ffn": "#1f4d2a", "moe": "#1a4426",
    "router": "#43285c", "head": "#1f3a5c", "add": "#262626", "block": "#1b1b1b", "io": "#262626",
}
# Block-kind colours for the layer strip (by position of first appearance; same order everywhere).
KIND_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")

THEMES = {
    "light": Theme("light", "#ffffff", "#1a1a1a", "#555555", "#1565c0", "#d62728", _FILLS_LIGHT),
    "dark": Theme("dark", "#111111", "#f0f0f0", "#bbbbbb", "#7cb8ff", "#ff6b6b", _FILLS_DARK),
    "transparent": Theme("transparent", "transparent", "#1a1a1a", "#555555", "#1565c0", "#d62728", _FILLS_LIGHT),
}

COMPONENTS = ("embedding", "pattern", "norm", "mixer", "ffn", "final_norm", "head")
"""What :func:`diff_components` can mark as different (and ``to_dot(highlight=...)`` outlines)."""


def _text(text: object) -> str:
    """Data as literal DOT text (the package quotes it): backslashes literal, never an HTML-like label, one line."""
    return graphviz.escape(str(text).replace("\n", " "))


def _html(text: object) -> str:
    """Text made safe inside an HTML-like DOT label."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _label(*lines: object) -> str:
    """A multi-line label from data lines, each literal (:func:`_text`)."""
    return graphviz.nohtml("\\n".join(_text(line) for line in lines if line))


def _fade(colour: str, t: Theme, keep: float = 0.35) -> str:
    """``colour`` faded toward the theme's background (white for ``transparent``): a muted component."""
    bg = "#ffffff" if t.background == "transparent" else t.background
    mix = (round(int(colour[i:i + 2], 16) * keep + int(bg[i:i + 2], 16) * (1 - keep)) for i in (1, 3, 5))
    return "#" + "".join(f"{v:02x}" for v in mix)


def _n(x: int) -> str:
    return f"{x:,}"


# --- words for each component ------------------------------------------------------------------

def mixer_fill(m) -> str:
    """The fill style of a mixer: its kind's colour role (``linear`` for fixed-state mixers, ``attention``)."""
    return mixer_kind(m).fill


def mixer_lines(m) -> list[str]:
    """The mixer label: kind and head layout, positions, window, extras (its kind's lines)."""
    return mixer_kind(m).lines(m)


def ffn_lines(f) -> list[str]:
    """The feed-forward label: kind, width, wiring (its kind's lines)."""
    return ffn_kind(f).lines(f)


def _norm_name(spec: Spec) -> str:
    return spec.arch.norm.label()


# --- the graph -------------------------------------------------------------------------------------


class _Dot:
    """A diagram being built: a ``graphviz.Digraph`` and the cluster being drawn into, with the theme's node styles."""

    label = staticmethod(_label)  # for the kinds that draw nodes of their own

    def __init__(self, theme: Theme, highlight: frozenset[str], graph: graphviz.Digraph, prefix: str = "",
                 muted: bool = False):
        # prefix: put before every node name, so several models can share one graph (gallery.comparefig);
        # muted: components not in ``highlight`` are drawn faded (what equals the reference model)
        self.t, self.highlight, self.prefix, self.muted = theme, highlight, prefix, muted
        self.graphs = [graph]  # the graph, then each cluster open inside it
        self.marked: dict[str, str] = {}  # each mark's first node (where a comparison writes what changed)
        # for a kind whose parts read the residual stream past the block's norm (Gemma 4's router and experts): the
        # node of the stream its sublayer reads and the model's norm in words, set before it draws
        self.stream, self.norm = "", ""
        self.uses: dict[str, list[tuple[str, str]]] = {}  # shared block → (each using frame's linear, its input)

    @property
    def g(self) -> graphviz.Digraph:
        """The graph or cluster being drawn into."""
        return self.graphs[-1]

    @contextmanager
    def cluster(self, name: str, **attrs: str):
        """Draw into the cluster ``name`` (``cluster_`` put before it) with graph attributes ``attrs``."""
        self.graphs.append(graphviz.Digraph(name=f"cluster_{name}", graph_attr=attrs))
        yield
        frame = self.graphs.pop()
        self.g.subgraph(frame)

    def node(self, name: str, label: str, component: str, shape: str = "box", mark: str = "", **attrs) -> None:
        fill = self.t.fills.get(component, self.t.fills["block"])
        if mark:
            self.marked.setdefault(mark, name)
        style = "rounded,filled" if shape == "box" else "filled"
        if mark and mark in self.highlight:
            outline = {"color": self.t.highlight, "penwidth": "3"}
            attrs = {**attrs, "class": f"changed {mark}"} if self.muted else attrs
        elif self.muted:
            fill = _fade(fill, self.t)
            outline = {"color": _fade(self.t.edge, self.t), "fontcolor": _fade(self.t.text, self.t)}
        else:
            outline = {"color": self.t.edge}
        self.g.node(name, label, shape=shape, style=style, fillcolor=fill, **outline, **_texts(attrs))

    def edge(self, a: str, b: str, lines: list[str] | None = None, **attrs) -> None:
        """An edge; ``lines``: a label of several lines (:func:`_label`)."""
        self.g.edge(a, b, **({"label": _label(*lines)} if lines else {}), **_texts(attrs))

    def same_rank(self, *names: str) -> None:
        """Put the nodes ``names`` on one rank."""
        with self.g.subgraph() as row:
            row.attr(rank="same")
            for name in names:
                row.node(name)

    def note(self, name: str, text: str | list[str], anchor: str, colour: str = "", **attrs) -> None:
        """A side annotation (one line or several) in the annotation colour (or ``colour``), beside ``anchor``."""
        colour = colour or self.t.annotation
        label = _label(*text) if isinstance(text, list) else _label(text)
        self.g.node(name, label, shape="plaintext", fontcolor=colour, **_texts(attrs))
        self.same_rank(anchor, name)
        self.g.edge(anchor, name, style="dotted", arrowhead="none", color=colour)


def _texts(attrs: dict) -> dict:
    """Attribute values as literal text (:func:`_text`)."""
    return {k: _text(v) for k, v in attrs.items()}


def frames(spec: Spec) -> list[list[str]]:
    """The block kinds drawn in each frame, in order of first appearance. Kinds whose blocks differ only in their
    token mixer, or only in their feed-forward (the same sublayers and norm wiring otherwise) share one frame, the
    differing part drawn as alternatives side by side, the way hand-drawn figures do (Gemma 3's sliding and full
    layers, Qwen3-Next's linear and full ones, a dense prefix before MoE layers); others keep a frame each
    (Nemotron-H's Mamba, attention and MoE-only layers)."""
    kinds = list(spec.arch.layer_counts())
    blocks = [spec.arch.blocks[k] for k in kinds]
    wiring = {(b.norm_placement, b.parallel, b.shared_norm, b.mixer is None, b.ffn is None, b.residual_from_norm,
               b.mixer_scale, b.ffn_scale, b.mixer_norm, b.learned_residual, b.shared is None, b.sublayer_pairs,
               b.shortcut, b.tanh_gated, b.gated_norm, b.sublayer_conv, b.ngram_embedding) for b in blocks}
    same = lambda part: all(getattr(b, part) == getattr(blocks[0], part) for b in blocks)  # noqa: E731
    return [kinds] if len(kinds) > 1 and len(wiring) == 1 and same("parallel_mixer") and (
        same("mixer") or same("ffn")) else [[k] for k in kinds]


def _block(d: _Dot, spec: Spec, kinds: list[str], colours: dict[str, str]) -> tuple[str, str]:
    """Draw one frame of block kinds (see :func:`frames`) as a cluster, its outline in the kind's strip colour
    (none: a frame of one kind only, or of several); return its (entry, exit) node names."""
    colour = colours.get(kinds[0]) if len(kinds) == 1 else None
    counts, block = spec.arch.layer_counts(), spec.arch.blocks[kinds[0]]
    p = f"{d.prefix}{kinds[0]}."
    single = mixer_kind(block.mixer).block_name if block.mixer is not None else "Transformer block"
    if block.parallel_mixer is not None:
        single = "Hybrid block (two mixers side by side)"
    if block.sublayer_pairs > 1:
        single = f"Layer of {block.sublayer_pairs} mixer → feed-forward pairs" + (" + shortcut" if block.shortcut else "")
    count = sum(counts[k] for k in kinds)
    title = f"{' / '.join(kinds)} block × {count}" if len(spec.arch.blocks) > 1 else f"{single} × {count}"
    fill, text = d.t.fills["block"], d.t.text
    if d.muted:
        fill, text = _fade(fill, d.t, 0.6), _fade(text, d.t)
    single_kind = len(spec.arch.blocks) == 1  # then the frame's count is the layer pattern
    outline = {"color": d.t.highlight, "penwidth": "3"} if single_kind and "pattern" in d.highlight else \
        {"color": colour or d.t.edge, "penwidth": "2"}
    with d.cluster(p[:-1], label=_label(title), labeljust="l", style="rounded,filled", fillcolor=fill, **outline,
                   fontcolor=text):
        return _frame(d, spec, kinds, colours, single_kind)


def _frame(d: _Dot, spec: Spec, kinds: list[str], colours: dict[str, str], single_kind: bool) -> tuple[str, str]:
    """The inside of :func:`_block`'s frame."""
    counts, block = spec.arch.layer_counts(), spec.arch.blocks[kinds[0]]
    p = f"{d.prefix}{kinds[0]}."
    norm = _norm_name(spec)
    d.node(p + "in", _label("block input"), "io", shape="plaintext", mark="pattern" if single_kind else "")

    def alternatives(part: str) -> list[tuple[str, Block, dict]]:
        """(node prefix, block, attributes of the edge into it: its kind and layer count) of each drawn version
        of a sublayer: one when the frame's kinds share it."""
        found = [(k, spec.arch.blocks[k]) for k in kinds]
        if all(getattr(b, part) == getattr(block, part) for _, b in found):
            return [(p, block, {})]
        return [(f"{d.prefix}{k}.", b, {"label": f"{k} × {counts[k]}", "fontcolor": colours[k], "fontsize": "11"})
                for k, b in found]

    # each sublayer in code order: (its name, each alternative's (node in, attributes of the edge into it), nodes out)
    parts: list[tuple[str, list[tuple[str, dict]], list[str]]] = []
    for i in range(block.sublayer_pairs):  # LongCat-Flash: the mixer → ffn pair twice, nodes of pair i named "p.i."
        pp = p if block.sublayer_pairs == 1 else f"{p}{i}."
        if block.mixer is not None:
            found = alternatives("mixer") if pp == p else [(pp, block, {})]
            for q, b, _ in found:
                d.node(q + "mixer", _label(*mixer_lines(b.mixer)), mixer_fill(b.mixer), mark="mixer")
            if block.parallel_mixer is not None:  # Falcon-H1: a second mixer beside the first, summed into the add
                d.node(p + "parallel_mixer", _label(*mixer_lines(block.parallel_mixer)),
                       mixer_fill(block.parallel_mixer), mark="mixer")
                found.append((p + "parallel_", block, {"label": "beside, summed", "fontsize": "11"}))
            parts.append((pp + "mixer", [(q + "mixer", e) for q, _, e in found], [q + "mixer" for q, _, _ in found]))
        if block.ffn is not None:
            d.stream, d.norm = (p + "in" if block.parallel or not parts else f"{p}add{len(parts)}"), norm
            found = alternatives("ffn") if pp == p else [(pp, block, {})]
            parts.append((pp + "ffn", [(q + "ffn", e) for q, _, e in found], [ffn_kind(b.ffn).draw(d, q, b.ffn)
                                                                              for q, b, _ in found]))
    shortcut = _shortcut(d, p, block.shortcut) if block.shortcut is not None else None
    entry = p + "in"
    if block.parallel:  # GPT-J, Cohere: x + mixer(norm(x)) + ffn(norm(x)); GPT-NeoX: two norms
        norms = [p + "norm"] if block.shared_norm else [p + "norm_mixer", p + "norm_ffn"]
        for name in norms:
            d.node(name, _label(norm), "norm", mark="norm")
            d.edge(entry, name)
        d.node(p + "add", _label("+"), "add", shape="circle", width="0.3", fixedsize="true")
        for i, (_, ins, outs) in enumerate(parts):
            for (node, edge), out in zip(ins, outs):
                d.edge(norms[0 if block.shared_norm else i], node, **edge)
                d.edge(out, p + "add")
        d.edge(entry, p + "add", style="dashed", label="residual")
        return entry, p + "add"
    prev = _altup(d, p + "altup_predict", spec.arch.altup, entry, altup.lines(spec.arch.altup)[:2]) \
        if spec.arch.altup else entry
    if block.ngram_embedding:  # Qwen4ExpTextPLELayer, before the mixer's hyper-connection
        prev = _side_add(d, p + "ngram", ngram_embedding.lines(spec.arch.ngram_embedding), prev, _residual(spec))
    hc = spec.arch.hyper_connections
    for i, (name, ins, outs) in enumerate(parts):
        before = block.norm_placement in ("pre", "sandwich") and (name != p + "mixer" or block.mixer_norm) and not (
            hc and hc.lowrank)  # Qwen4ExpTextGatedResidual norms the streams itself
        after = block.norm_placement in ("post", "sandwich")
        into = shared_use(d, p, spec, block, prev) if i == 0 and block.shared else prev
        if before:  # A.X-K2: a gated norm says its gate under its name
            label = mixer_kind(block.mixer).label if name.endswith("mixer") else "ffn"
            d.node(f"{name}_pre", _label(norm, *gated_norm.lines(block.gated_norm, label, spec.arch.d_model)), "norm",
                   mark="norm")
            d.edge(into, f"{name}_pre")
            if shortcut and name == parts[1][0]:  # the shortcut reads the first pair's normed ffn input
                d.edge(f"{name}_pre", shortcut[0])
        for node, edge in ins:
            d.edge(f"{name}_pre" if before else into, node, **edge)
        last = outs
        if block.sublayer_conv:  # InklingDecoderLayer: y + conv(y) on each sublayer's output, before the add
            d.node(f"{name}_conv", _label(*sublayer_conv.line(block.sublayer_conv, block.sublayer_conv_scaled)), "linear")
            for out in outs:
                d.edge(out, f"{name}_conv")
            last = [f"{name}_conv"]
        if after:
            d.node(f"{name}_post", _label(norm), "norm", mark="norm")
            for out in outs:
                d.edge(out, f"{name}_post")
            last = [f"{name}_post"]
        add = f"{p}add{i + 1}"
        d.node(add, _label("+"), "add", shape="circle", width="0.3", fixedsize="true")
        for out in last:
            d.edge(out, add)
        scale = block.mixer_scale if name == p + "mixer" else block.ffn_scale
        d.edge(f"{name}_pre" if block.residual_from_norm else prev, add, style="dashed", label=_residual(spec) + (
            f" × {scale.residual:.4g}, output × {scale.output:.4g}" if scale else
            residual_scale.text(block.learned_residual) if block.learned_residual else
            f"; {tanh_gate.TEXT}" if block.tanh_gated else ""))
        prev = add
        if name == p + "mixer" and spec.arch.laurel:  # Gemma3nTextDecoderLayer: LAuReL beside attention
            prev = _laurel(d, p, spec, f"{name}_pre" if before else prev, add)
        if block.norm_placement == "post_residual":  # OpenAI GPT: the residual sum is normed
            d.node(f"{name}_after", _label(norm), "norm", mark="norm")
            d.edge(add, f"{name}_after")
            prev = f"{name}_after"
    if shortcut:  # LongcatFlashDecoderLayer: added with the last pair's ffn output
        d.edge(shortcut[1], prev, label="shortcut: added at the layer's end", style="bold")
    if spec.arch.altup:
        prev = _altup(d, p + "altup_correct", spec.arch.altup, prev, altup.lines(spec.arch.altup)[2:])
    if spec.arch.per_layer_embedding is not None:
        prev = _per_layer_input(d, p, spec, prev)
    if spec.arch.hyper_connections:
        _note(d, p + "hc", hyper.lines(spec.arch.hyper_connections), entry)
    if spec.arch.block_attn_residual:  # Inkling 2: each sublayer's input attended from the block states
        _note(d, p + "attn_res", block_attn_residual.lines(spec.arch.block_attn_residual), entry)
    if spec.arch.reversible:  # ReformerLayer: each sublayer's output goes to the other stream
        _note(d, p + "rev", reversible.LINES, entry)
    return entry, prev


def _shortcut(d: _Dot, p: str, f) -> tuple[str, str]:
    """A shortcut feed-forward (LongCat-Flash's MoE) in a frame of its own: (its input node, its output node)."""
    q = p + "shortcut."
    with d.cluster(q + "frame", label=_label("Shortcut (reads the first pair's normed input)"), labeljust="l",
                   style="rounded,dashed", color=d.t.annotation, fontcolor=d.t.annotation):
        out = ffn_kind(f).draw(d, q, f)
    return q + "ffn", out


def _per_layer_input(d: _Dot, p: str, spec: Spec, prev: str) -> str:
    """Gemma4TextDecoderLayer's side path after the feed-forward: gate, activation, × the layer's per-layer input,
    projection back to d_model, norm, residual add; returns the add node."""
    ple, norm = spec.arch.per_layer_embedding, _norm_name(spec)
    d.node(p + "ple", _label("Per-layer input", f"gate {_n(spec.arch.d_model)} → {_n(ple.d_per_layer)}, "
                             f"{ple.activation}", "⊙ this layer's slice of the per-layer inputs",
                             f"project {_n(ple.d_per_layer)} → {_n(spec.arch.d_model)}, {norm}"),
           "embedding", mark="embedding")
    d.edge(prev, p + "ple")
    d.node(p + "add_ple", _label("+"), "add", shape="circle", width="0.3", fixedsize="true")
    d.edge(p + "ple", p + "add_ple")
    a = spec.arch.altup  # Gemma3nTextDecoderLayer: added to the corrected streams 1…, not to stream 0
    d.edge(prev, p + "add_ple", style="dashed", label=f"AltUp streams (+ into 1…{a.streams - 1})" if a else
           _residual(spec))
    return p + "add_ple"


def _side_add(d: _Dot, name: str, lines: list[str], prev: str, residual: str) -> str:
    """A side path from ``prev`` whose output is added to the stream; returns the add node."""
    d.node(name, _label(*lines), "embedding", mark="embedding")
    d.edge(prev, name)
    d.node(name + "_add", _label("+"), "add", shape="circle", width="0.3", fixedsize="true")
    d.edge(name, name + "_add")
    d.edge(prev, name + "_add", style="dashed", label=residual)
    return name + "_add"


def _altup(d: _Dot, name: str, a, prev: str, lines: list[str]) -> str:
    """AltUp's predict (before the sublayers) or correct (after them) around each layer (Gemma3nTextAltUp)."""
    d.node(name, _label(*lines), "add", mark="norm")
    d.edge(prev, name)
    return name


def _laurel(d: _Dot, p: str, spec: Spec, source: str, add: str) -> str:
    """Gemma3nTextLaurelBlock beside attention: from its normed input into a merge after the residual add."""
    d.node(p + "laurel", _label(*laurel.lines(spec.arch.laurel, spec.arch.d_model)[:2]), "ffn", mark="norm")
    d.edge(source, p + "laurel")
    d.node(p + "laurel_merge", _label("(x + l) / √2"), "add", mark="norm")
    d.edge(add, p + "laurel_merge")
    d.edge(p + "laurel", p + "laurel_merge", style="dashed", label="LAuReL")
    return p + "laurel_merge"


def _residual(spec: Spec) -> str:
    hc = spec.arch.hyper_connections
    if spec.arch.reversible:
        return "the other stream"
    return f"residual ({hc.streams} streams, {hyper.short(hc)})" if hc else "residual"


def _note(d: _Dot, name: str, lines: list[str], anchor: str) -> None:
    """What a residual form does around each sublayer (:mod:`gallery.hyper`, :mod:`gallery.block_attn_residual`,
    :mod:`gallery.reversible`), beside the block input."""
    d.g.node(name, _label(*lines), shape="box", style="rounded,dashed", color=d.t.annotation,
             fontcolor=d.t.annotation)
    d.same_rank(anchor, name)


def _strip(d: _Dot, spec: Spec, colours: dict[str, str]) -> None:
    """One cell per layer, coloured by block kind, with the pattern in words."""
    layers = spec.arch.layers
    cells = "".join(f'<TD BGCOLOR="{colours[k]}" WIDTH="8" HEIGHT="14"></TD>' for k in layers)
    legend = " · ".join(f'<FONT COLOR="{colours[k]}">■</FONT> {_html(k)} × {n}'
                        for k, n in spec.arch.layer_counts().items())
    words = _html(f"{len(layers)} layers: {summary(layers)}")
    label = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2">'
             f'<TR><TD><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1"><TR>{cells}</TR></TABLE></TD></TR>'
             f'<TR><TD>{words}</TD></TR><TR><TD>{legend}</TD></TR></TABLE>>')
    d.node(d.prefix + "layers", label, "io", mark="pattern")


def to_dot(spec: Spec, theme: str = "light", highlight: frozenset[str] | set[str] = frozenset()) -> str:
    """The DOT text of ``spec``'s block diagram (:func:`diagram`)."""
    return diagram(spec, theme, highlight).source


def diagram(spec: Spec, theme: str = "light", highlight: frozenset[str] | set[str] = frozenset()) -> graphviz.Digraph:
    """``spec``'s block diagram.

    ``theme``: ``light``, ``dark`` or ``transparent`` (slide presets). ``highlight``: components from
    :data:`COMPONENTS` to outline (see :func:`diff_components`).
    """
    t = THEMES[theme]
    d = _Dot(t, frozenset(highlight), digraph(spec.slug, t, _label(f"{spec.name} · {spec.organisation}")))
    draw(d, spec)
    return d.g


def digraph(name: str, t: Theme, label: str) -> graphviz.Digraph:
    """An empty diagram ``name`` with the graph, node and edge defaults of theme ``t`` and title ``label``."""
    return graphviz.Digraph(
        name=_text(name),
        graph_attr={"rankdir": "BT", "bgcolor": t.background, "fontname": FONT, "fontcolor": t.text, "nodesep": "0.35",
                    "ranksep": "0.3", "label": label, "labelloc": "t", "fontsize": "18", "newrank": "true"},
        node_attr={"fontname": FONT, "fontsize": "11", "fontcolor": t.text, "margin": "0.15,0.06"},
        edge_attr={"color": t.edge, "fontname": FONT, "fontsize": "9", "fontcolor": t.edge})


def draw(d: _Dot, spec: Spec) -> dict[str, str]:
    """Write ``spec``'s stack into ``d`` (node names prefixed with ``d.prefix``); return the node of each row
    that lines up across models: ``tokens``, ``embedding``, ``block 1`` (each block kind's input, or the layer
    strip), ``final norm``, ``head``, ``logits``."""
    a, emb, q = spec.arch, spec.arch.embedding, d.prefix
    d.node(q + "tokens", _label(*draft_head.input_text(a)) if a.draft_head else _label(
        "Bytes" if a.byte_latent else "Tokenized text"), "io", shape="plaintext")
    emb_lines = byte_latent_diagram.embedding_lines(a) if a.byte_latent else [
        "Token embedding", f"{_n(a.vocab_size)} × {_n(a.d_model)}" + (
            f" (+ {emb.extra_rows} rows the head has not)" if emb.extra_rows else "")]
    if (prompts := emb.prompt_rows) is not None:  # CpmAntModel.input_embedding: the prompt rows after the vocabulary
        emb_lines.append(f"+ {_n(prompts.types * prompts.length)} prompt rows ({prompts.types} × {prompts.length})")
    if emb.segments:
        emb_lines.append(f"+ segment embedding ({_n(emb.segments)} segments)")
    if emb.scaled:
        emb_lines.append("× √d_model")
    if emb.multiplier:
        emb_lines.append(f"× {emb.multiplier:g}")
    if emb.learned_positions:
        emb_lines.append(f"+ learned positions ({_n(emb.learned_positions)})")
    if emb.axial_positions:
        emb_lines.append(axial.text(emb.axial_positions))
    if emb.sinusoidal_positions:
        offset = emb.sinusoidal_positions.offset
        emb_lines.append("+ sinusoidal positions (fixed, no weights" + (f"; rows from {offset})" if offset else ")"))
    if emb.norm:
        emb_lines.append(f"→ {_norm_name(spec)}")
    if emb.input_scale:  # ZayaModel: input_hidden_states_scale and _bias
        emb_lines.append("→ (e + b) · s, learned")
    if a.hyper_connections:
        emb_lines.append(f"copied into {a.hyper_connections.streams} residual streams")
    if a.reversible:
        emb_lines.append("copied into 2 streams (reversible layers)")
    if a.ngram_embedding:  # Qwen4ExpTextNGramEmbedding: one hashed table per layer that adds it
        emb_lines.append("+ a hashed n-gram table for each layer with PLE")
    if a.altup and a.altup.streams > 1:  # Gemma3nTextModel.altup_projections
        emb_lines.append(f"AltUp: {a.altup.streams} streams, {a.altup.streams - 1} of them projected "
                         f"{_n(a.d_model)} → {_n(a.d_model)}, RMS-matched")
    if (ple := a.per_layer_embedding) is not None:  # Gemma4TextModel.get_per_layer_inputs, project_per_layer_inputs
        emb_lines += ["+ per-layer embeddings (one slice per layer)",
                      f"{_n(ple.vocab_size)} × ({a.n_layers} × {_n(ple.d_per_layer)}) × √{_n(ple.d_per_layer)}",
                      f"+ projection {_n(a.d_model)} → {a.n_layers} × {_n(ple.d_per_layer)}, {_norm_name(spec)}; "
                      "/ √2"]
    d.node(q + "embed", _label(*(draft_head.entry_lines(a) if a.draft_head else emb_lines)), "embedding",
           mark="embedding")
    d.edge(q + "tokens", q + "embed")
    d.note(q + "note_embed", f"vocab {_n(a.vocab_size)} · d_model {_n(a.d_model)}" + (
        " (global: once per patch)" if a.byte_latent else ""), q + "embed")
    below = byte_latent_diagram.draw_encoder(d, spec, q + "embed") if a.byte_latent else q + "embed"  # BLT

    counts = a.layer_counts()
    colours = {k: KIND_COLOURS[i % len(KIND_COLOURS)] for i, k in enumerate(counts)}
    rows = {"tokens": q + "tokens", "embedding": q + "embed"}
    if a.recurrent_stacks:  # HRM: each stack drawn once, its cycles as loops with their counts
        entry, top = recurrent_stacks.draw(d, spec, lambda kinds: _block(d, spec, kinds, colours), q + "embed")
        rows["block 1"] = entry
    elif len(counts) == 1:
        entry, top = _block(d, spec, a.layers[:1], {})
        d.edge(below, entry)
        rows["block 1"] = entry
    else:
        _strip(d, spec, colours)
        d.edge(below, q + "layers")
        for i, kinds in enumerate(frames(spec)):
            entry, _ = _block(d, spec, kinds, colours)
            colour = colours[kinds[0]] if len(kinds) == 1 else d.t.edge
            d.edge(q + "layers", entry, style="dashed", arrowhead="none", color=colour, constraint="false")
            rows[f"block {i + 1}"] = entry
        top = q + "layers"
    if a.draft_head:  # Gemma4AssistantForCausalLM: the layers attend over the target's K and V
        d.note(q + "note_target_kv", draft_head.target_kv_lines(a), rows["block 1"])
    for name in a.shared_blocks:  # drawn once, beside the layers that run it
        draw_shared(d, spec, name)
    d.note(q + "note_context", f"context {_n(a.context_length)} tokens" if a.context_length else "no context limit "
           "in the config", q + "tokens")

    if a.hyper_connections:
        d.node(q + "hc_head", _label("Hyper-head", f"{a.hyper_connections.streams} streams → 1 (learned weights)"
                                     + (", no final norm" if a.hyper_connections.lowrank else "")),
               "add", mark="final_norm")
        d.edge(top, q + "hc_head")
        top = q + "hc_head"
    if a.block_attn_residual:  # Inkling2TextModel.final_input
        d.node(q + "attn_res_final", _label("Final attention residual", "a learned query over the block states",
                                            "and the last block"), "add", mark="final_norm")
        d.edge(top, q + "attn_res_final")
        top = q + "attn_res_final"
    if a.altup and a.altup.streams > 1:  # Gemma3nTextModel.altup_unembed_projections, then the mean
        d.node(q + "altup_head", _label("AltUp unembed", f"streams 1…{a.altup.streams - 1} projected back, "
                                        "RMS-matched;", f"mean of the {a.altup.streams} streams"),
               "add", mark="final_norm")
        d.edge(top, q + "altup_head")
        top = q + "altup_head"
    if a.byte_latent:
        top = rows["final norm"] = byte_latent_diagram.draw_decoder(d, spec, top)
    if a.final_norm:
        d.node(q + "final_norm", _label(f"Final {_norm_name(spec)}", *(["over both streams, concatenated (2 × d_model)"]
                                        if a.reversible else [])), "norm", mark="final_norm")
        d.edge(top, q + "final_norm")
        top = rows["final norm"] = q + "final_norm"
    head = byte_latent_diagram.head_lines(a) if a.byte_latent else [
        "Output head (tied to embedding)" if emb.tied else "Linear output head",
        f"{_n(reversible.width(a)[1])} → {_n(a.vocab_size)}"]
    if emb.head_bias:
        head.append("with bias")
    if emb.head_mlp:  # ModernBertDecoderPredictionHead, before the projection
        head.append(f"after dense {_n(a.d_model)} → {_n(a.d_model)}{' + bias' if emb.head_mlp.bias else ''}, "
                    f"{emb.head_mlp.activation}, {_norm_name(spec)}")
    if emb.logit_scale:
        head.append(f"logits × {emb.logit_scale:g}")
    if emb.logit_softcap:
        head.append(f"logit soft-cap {emb.logit_softcap:g}")
    if a.draft_head:
        head += draft_head.head_lines(a)
    d.node(q + "head", _label(*head), "head", mark="head")
    d.edge(top, q + "head")
    d.node(q + "logits", _label("Next-token logits"), "io", shape="plaintext", mark="output")
    d.edge(q + "head", q + "logits")
    return {**rows, "head": q + "head", "logits": q + "logits"}


# --- what differs between two models ------------------------------------------------------------------


def _kinds(spec: Spec, part: str) -> list:
    return [getattr(b, part) for b in spec.arch.blocks.values()]


def diff_components(base: Spec, other: Spec) -> set[str]:
    """Components of ``other`` that differ from ``base`` (to outline in ``other``'s diagram)."""
    a, b = base.arch, other.arch
    out = set()
    embedding = lambda x: (x.vocab_size, x.d_model, x.embedding.scaled, x.embedding.learned_positions,  # noqa: E731
                           x.embedding.sinusoidal_positions, x.embedding.norm, x.per_layer_embedding,
                           x.embedding.input_scale, x.embedding.prompt_rows, x.embedding.segments,
                           x.embedding.extra_rows, x.embedding.multiplier, x.recurrent_stacks, x.draft_head)
    if embedding(a) != embedding(b):
        out.add("embedding")
    if summary(a.layers) != summary(b.layers):
        out.add("pattern")
    placement = lambda s: sorted({(x.norm_placement, x.parallel, x.shared_norm, x.learned_residual or "",  # noqa: E731
                                   x.tanh_gated)
                                  for x in s.arch.blocks.values()})
    if a.norm != b.norm or placement(base) != placement(other) or (a.altup, a.laurel) != (b.altup, b.laurel):
        out.add("norm")
    if _kinds(base, "mixer") != _kinds(other, "mixer"):
        out.add("mixer")
    if _kinds(base, "ffn") != _kinds(other, "ffn"):
        out.add("ffn")
    if a.final_norm != b.final_norm or a.norm != b.norm:
        out.add("final_norm")
    if (a.embedding.tied, a.embedding.head_bias, a.embedding.logit_softcap, a.embedding.logit_scale,
            a.embedding.head_mlp) != (b.embedding.tied, b.embedding.head_bias, b.embedding.logit_softcap,
                                      b.embedding.logit_scale, b.embedding.head_mlp):
        out.add("head")
    return out
