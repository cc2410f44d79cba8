"""Where each model comes from: its nearest relative by architecture (scale ignored), and the family tree.

The distance between two models counts the compare-table facts (:func:`gallery.compare.rows`, read per
layer as in :mod:`gallery.changes`) that differ once every number is masked: "sliding window 4,096" and
"1,024" are the same architecture, a window and none are not; QK-norm, norm placement, the mixer and
feed-forward kinds, RoPE scaling type, partial rotary, shared experts and the indexer count, widths,
depths, head and expert counts do not; a fixed-state mixer's own sizes count only between two models that both
have such a mixer (its kind differing is the change). Ties go to the model of nearer scale (fewer differing values),
then to the earlier release (the original of an architecture copied unchanged, DeepSeek-V3 before R1), then
the slug. A model's *nearest relative* is found among the models
released before it (where it comes from), its *closest* among all others; the *family tree* hangs every
model under its nearest relative, each edge labelled with the changes in words (:mod:`gallery.changes`)
that change the architecture, grouped by lineage (:func:`lineage`): the DeepSeek template, the hybrids with
fixed-state mixers, then by organisation. :class:`Relatives` reads a folder's facts once and finds every
model's relative with array comparisons over the distinct architectures (1,000 generated specs: 0.3 s, where
comparing every pair of fact dictionaries took 20 s); the changes are worked out once per pair of
architectures.

The tree is drawn with the ``graphviz`` package (left to right in time) and rendered like a diagram
(``gallery.render``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import graphviz
import numpy as np

from .changes import WHOLE_MODEL, Change, changes, layer_facts, stage_of
from .compare import compact, rows
from .counts import total_params
from .diagram import FONT, THEMES, _Dot, _label, _text
from .kinds import MIXERS, mixer_kind
from .spec import Spec

SCALE = ("vocab", "context", "d_model", "layers", "layer pattern")  # sizes, not architecture
_NUMBER = re.compile(r"\d[\d,]*")


def _mask(text: str) -> str:
    """A value with its numbers masked; 0 (no shared experts) is "none"."""
    return "none" if text == "0" else _NUMBER.sub("#", text)


@dataclass(frozen=True)
class Facts:
    """One model's architecture facts (values masked) and exact values, per compare-table row."""

    arch: dict[str, frozenset[str]]
    exact: dict[str, frozenset[str]]


_FACTS: dict[str, Facts] = {}  # memo by architecture: a spec folder often repeats one (copies, fine-tunes)


def facts(spec: Spec) -> Facts:
    """The facts the distance reads: per-layer rows as their sets of values, whole-model rows as one value;
    parameter counts, cache sizes and :data:`SCALE` rows left out."""
    key = spec.arch.model_dump_json()
    if key not in _FACTS:
        exact = {f: frozenset(values) for f, values in layer_facts(spec).items()}
        exact |= {r.field: frozenset(r.exact) for r in rows([spec])
                  if r.group in WHOLE_MODEL and stage_of(r) not in ("parameters", "cache") and r.field not in SCALE}
        _FACTS[key] = Facts({f: frozenset(map(_mask, v)) for f, v in exact.items()}, exact)
    return _FACTS[key]


#: The sizes a fixed-state mixer owns (its heads, widths, conv kernel): compared only between models that both have
#: them. A model without that mixer already differs in its mixer kind, a change counted once, not once per size
#: (a hybrid comes from the attention-only model it adds its fixed-state layers to, not from every other hybrid).
OWNED = frozenset(f.field for k in MIXERS if k.fill == "linear" for f in k.facts)


def _differ(a: dict, b: dict) -> int:
    return sum(a.get(f) != b.get(f) and not (f in OWNED and (f not in a or f not in b)) for f in a.keys() | b.keys())


def distance(a: Facts, b: Facts) -> int:
    """How many architecture facts differ (numbers ignored)."""
    return _differ(a.arch, b.arch)


def architectural(change: Change) -> bool:
    """True when a change alters the architecture, not just a size ("QK-norm added", not "d_ff 14,336 → 12,288")."""
    return not set(change.fields) <= set(SCALE) and _mask(change.before) != _mask(change.after)


@dataclass(frozen=True)
class Relative:
    """A model's nearest relative and what changed from it (``slug`` None: no candidate)."""

    slug: str | None
    distance: int
    changes: tuple[Change, ...]

    @property
    def headline(self) -> list[Change]:
        """The changes that alter the architecture."""
        return [c for c in self.changes if architectural(c)]


class Relatives:
    """The models of one spec folder with their facts read once, and each one's nearest relative.

    The facts are coded as integers (one column per fact, equal codes for equal values), so one model's distances
    to all the others are one comparison of arrays: a folder of 1,000 specs is answered in a fraction of a second,
    not a million dictionary comparisons. The changes from a relative are worked out when asked for, once per pair
    of architectures (copies and fine-tunes share one).
    """

    def __init__(self, specs: list[Spec]):
        self.specs = list(specs)
        self.slugs = {s.slug: i for i, s in enumerate(self.specs)}
        read = [facts(s) for s in self.specs]  # one Facts object per architecture (memo): distances between those
        kinds = {id(f): f for f in read}
        number = {key: n for n, key in enumerate(kinds)}
        self._kind = np.array([number[id(f)] for f in read], dtype=np.int64)
        self._arch, self._exact = (_codes([getattr(f, which) for f in kinds.values()]) for which in ("arch", "exact"))
        fields = sorted(set().union(*(f.arch for f in kinds.values())))  # the arch codes' columns
        self._unowned = np.array([[name in OWNED and name not in f.arch for name in fields] for f in kinds.values()],
                                 dtype=bool).reshape(len(kinds), len(fields))  # a fixed-state size the model lacks
        dates = [s.release_date for s in self.specs]
        self._undated = np.array([d is None for d in dates])
        self._date = np.array([d.toordinal() if d else 0 for d in dates])
        self._slug = np.argsort(np.argsort([s.slug for s in self.specs]))  # each slug's rank, the last tie-break
        content: dict[str, int] = {}  # what changes() reads: the architecture and the published sizes
        self._content = [content.setdefault(s.model_dump_json(include={"arch", "published"}), len(content))
                         for s in self.specs]
        self._changes: dict[tuple[int, int], tuple[Change, ...]] = {}
        self._all: dict[bool, dict[str, Relative]] = {}

    def nearest(self, slug: str, earlier: bool = True) -> Relative:
        """The model closest to ``slug`` in architecture: among those released before it (``earlier``) or among
        all others; with the changes from it. Ties: fewer differing values (nearer scale), the earlier release,
        the slug."""
        i = self.slugs[slug]
        pool = np.arange(len(self.specs)) != i
        if earlier:
            pool &= ~self._undated & (self._date < self._date[i]) & (not self._undated[i])
        if not pool.any():
            return Relative(None, 0, ())
        k = self._kind
        d = ((self._arch != self._arch[k[i]]) & ~(self._unowned | self._unowned[k[i]])).sum(axis=1)[k]
        e = (self._exact != self._exact[k[i]]).sum(axis=1)[k]
        among = np.flatnonzero(pool)
        keys = (self._slug, self._date, self._undated, e, d)  # lexsort: the last key first
        j = int(among[np.lexsort([key[among] for key in keys])[0]])
        pair = (self._content[j], self._content[i])
        if pair not in self._changes:
            self._changes[pair] = tuple(changes(self.specs[j], self.specs[i]))
        return Relative(self.specs[j].slug, int(d[j]), self._changes[pair])

    def all(self, earlier: bool = True) -> dict[str, Relative]:
        """slug → :meth:`nearest` relative, for every model (found once)."""
        if earlier not in self._all:
            self._all[earlier] = {slug: self.nearest(slug, earlier) for slug in self.slugs}
        return self._all[earlier]


def _codes(values: list[dict[str, frozenset[str]]]) -> np.ndarray:
    """The facts as integer codes: one row per model, one column per fact (a fact a model lacks is a value too)."""
    fields = sorted(set().union(*values))
    seen: dict[tuple, int] = {}
    return np.array([[seen.setdefault((f, v.get(f)), len(seen)) for f in fields] for v in values],
                    dtype=np.int64).reshape(len(values), len(fields))


def relatives(specs: list[Spec], earlier: bool = True) -> dict[str, Relative]:
    """slug → nearest (earlier) relative, for every model of ``specs`` (:class:`Relatives`)."""
    return Relatives(specs).all(earlier)


def lineage(spec: Spec) -> str:
    """The group a model is drawn in: an architecture template it shares, else its organisation. A fixed-state
    mixer (linear attention, state space, convolution) makes a hybrid; a kind that names a template (MLA and what
    grew from it: the DeepSeek template) puts its models there; other attention kinds keep their organisation."""
    kinds = [mixer_kind(m) for b in spec.arch.blocks.values() for m in b.mixers]
    if any(k.fill == "linear" for k in kinds):
        return "Fixed-state hybrids (linear attention, state space, convolution)"
    return next((k.template for k in kinds if k.template), spec.organisation)


def edge_label(relative: Relative, most: int = 3) -> list[str]:
    """The changes on a tree edge, line by line: the architectural ones (at most ``most``, then how many more), or
    "rescaled"."""
    said = [c.phrase for c in relative.headline]
    if not said:
        return ["rescaled" if relative.changes else "same architecture"]
    return said[:most] + ([f"+{len(said) - most} more"] if len(said) > most else [])


def tree(specs: list[Spec], theme: str = "light", found: dict[str, Relative] | None = None) -> graphviz.Digraph:
    """The family tree: every model under its nearest earlier relative, one cluster per :func:`lineage`.

    Nodes link to the model's page (``model?model=<slug>``), edges to the pair in Compare. Drawn like a diagram
    (:class:`gallery.diagram._Dot`: the theme's node styles, text from the specs literal, never read as an
    HTML-like label or a backslash escape; Graphviz's SVG escapes it again as XML).
    """
    t = THEMES[theme]
    found = found if found is not None else relatives(specs)
    d = _Dot(t, frozenset(), graphviz.Digraph("family_tree", graph_attr={
        "rankdir": "LR", "bgcolor": t.background, "fontname": FONT, "fontcolor": t.text, "nodesep": "0.12",
        "ranksep": "0.5", "label": "Family tree: each model under its nearest earlier relative", "labelloc": "t",
        "fontsize": "18"}, node_attr={"fontname": FONT, "fontsize": "10", "fontcolor": t.text},
        edge_attr={"fontname": FONT, "fontsize": "8", "fontcolor": t.annotation, "color": t.edge}))
    groups: dict[str, list[Spec]] = {}
    for spec in sorted(specs, key=lambda s: (s.release_date is None, s.release_date or 0, s.slug)):
        groups.setdefault(lineage(spec), []).append(spec)
    for i, (name, members) in enumerate(sorted(groups.items())):
        with d.cluster(str(i), label=_text(name), style="rounded", color=t.edge, fontsize="12"):
            for spec in members:
                when = str(spec.release_date or "date unknown")
                d.node(spec.slug, _label(spec.name, f"{when} · {compact(total_params(spec.arch))}"), "block",
                       URL=f"model?model={spec.slug}", target="_top", tooltip=spec.name)
    for slug, rel in found.items():
        if rel.slug:
            pair = f"compare?models={rel.slug}&amp;models={slug}"  # dot writes a URL into the SVG as it is
            d.edge(rel.slug, slug, lines=edge_label(rel), URL=pair, target="_top")
    return d.g
