"""The changes in words: what differs from one model to the next, stage by stage, each said once.

Built on the compare table (:func:`gallery.compare.rows`), so it says exactly the facts the table marks
as differing, in the table's words: the list is *complete* (every differing row is accounted for by one
change) and *minimal* (an equal row never appears; a row that follows from another change is folded
into it instead of being said again). What follows from what:

* the parameter counts and cache sizes follow from the architecture facts that set them, the
  attention label and group size from the head layout and windows, the layer pattern from the layer
  count and the block kinds;
* a new token-mixer kind ("MLA (was GQA)", named by ``gallery.kinds``) or feed-forward kind
  ("MoE 128 experts, top-8 (was dense)") brings the facts that only apply to it (its heads, state,
  experts) and retires the facts of the old one;
* a new ``d_model`` carries the widths that keep their ratio to it (``head_dim`` = ``d_model /
  n_heads``, a ``d_ff`` of 4 × ``d_model``), as papers describe a model scaled up.

Facts that differ between the layers of one model are read per layer (the table's row of each block
kind alone), so a change says on how many layers it holds: "sliding window 4,096 on 52 of 62 layers".
The order is fixed: by :data:`STAGES` (the rows of a diagram, bottom to top, then what follows from
them), then by the table's row order.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .compare import Row, rows
from .kinds import ffn_kind, mixer_kind
from .memo import per_object
from .pattern import summary
from .spec import Moe, Spec

STAGES = ("embedding", "layers", "token mixer", "norms", "feed-forward", "final norm", "head", "cache",
          "parameters")
_GROUP_STAGE = {"Parameters": "parameters", "Attention": "token mixer", "Fixed-state mixers": "token mixer",
                "Positions": "token mixer", "Norms": "norms", "Feed-forward": "feed-forward"}
_FIELD_STAGE = {"vocab": "embedding", "d_model": "embedding", "scaled embeddings": "embedding",
                "embedding multiplier": "embedding",
                "per-layer embeddings": "embedding", "hashed n-gram embeddings": "embedding", "prompt rows": "embedding",
                "segment embedding": "embedding",
                "learned positions": "embedding", "sinusoidal positions": "embedding", "embedding norm": "embedding",
                "axial positions": "embedding",
                "byte-level parts": "embedding",
                "context": "token mixer", "layers": "layers",
                "layer pattern": "layers", "QK-norm": "token mixer", "final norm": "final norm",
                "tied embeddings": "head", "final logit soft-cap": "head", "draft head": "head"}
WHOLE_MODEL = ("Parameters", "Vocabulary & context")  # groups read over the whole stack, never per layer
SCALES_WITH_D_MODEL = ("query heads", "head dim", "d_ff", "expert width", "SSM inner width", "kv_lora_rank",
                       "q_lora_rank")
# facts that follow from others: said only when none of the facts they follow from changed
_FOLLOWS = {"attention kind": ("KV heads", "sliding window", "attention chunk"),
            "group size": ("KV heads", "query heads"),
            "layer pattern": ("attention kind", "kind", "layers")}
_NONE = re.compile(r"^(?:(?:none|no|—)(?:\b|$)|0$)")  # without the setting (0 shared experts too)


@dataclass(frozen=True)
class Change:
    """One thing that changed: where, in words, and the two sides as the table writes them."""

    stage: str  # one of STAGES
    phrase: str  # "QK-norm added (head)", "d_ff 14,336 → 12,288"
    before: str
    after: str
    fields: tuple[str, ...]  # the compare-table rows the phrase says
    follows: tuple[str, ...] = ()  # the differing rows that follow from it (counts, cache, the new kind's facts)

    def row(self) -> dict:
        """The change as data (``--json``)."""
        return {"stage": self.stage, "change": self.phrase, "before": self.before, "after": self.after,
                "fields": list(self.fields), "follows": list(self.follows)}


def stage_of(row: Row) -> str:
    """The stage a compare-table row belongs to."""
    if "bytes" in row.field:
        return "cache"
    return _FIELD_STAGE.get(row.field) or _GROUP_STAGE.get(row.group) or row.group.lower()


# --- facts per layer -------------------------------------------------------------------------


def _kind_spec(spec: Spec, kind: str) -> Spec:
    """The model with every layer of one block kind (as many layers as it has of that kind), and the shared block it
    runs."""
    n, block = spec.arch.layer_counts()[kind], spec.arch.blocks[kind]
    shared = {name: sb for name, sb in spec.arch.shared_blocks.items() if block.shared and name in block.shared.names}
    arch = spec.arch.model_copy(update={"n_layers": n, "layers": [kind] * n, "blocks": {kind: block},
                                        "shared_blocks": shared})
    return spec.model_copy(update={"arch": arch})


@per_object
def layer_facts(spec: Spec) -> dict[str, Counter]:
    """Each per-layer fact of the compare table as {value as the table writes it: layers with it};
    layers the fact does not apply to are left out. Computed once per spec object (read it, never change it)."""
    kinds = spec.arch.layer_counts()
    per_kind = {kind: rows([_kind_spec(spec, kind)]) if len(kinds) > 1 else rows([spec]) for kind in kinds}
    out: dict[str, Counter] = {}
    for kind, table in per_kind.items():
        for r in table:
            if r.group not in WHOLE_MODEL and r.field != "layer pattern" and r.values[0] is not None:
                out.setdefault(r.field, Counter())[r.exact[0]] += kinds[kind]
    return out


def _mixer_family(block) -> tuple[type, ...] | None:
    """The kinds of the block's mixers (schema classes: MHA, GQA and MQA are one kind; Falcon-H1's two side by side),
    None for an ffn-only block."""
    return tuple(type(m) for m in block.mixers) or None


def _ffn_family(block) -> str | None:
    # "dense", "MoE" (a shortcut MoE beside dense MLPs, LongCat-Flash: "MoE")
    return next((ffn_kind(f).name(f) for f in block.ffns), None)


def _families(spec: Spec, family) -> Counter:
    return Counter(f for f in (family(spec.arch.blocks[k]) for k in spec.arch.layers) if f is not None)


def say(values: Counter, n_layers: int) -> str:
    """A per-layer fact in words: "4,096" on every layer it applies to, else "4,096 on 52 of 62 layers"
    (layers without the setting left unsaid)."""
    if len(values) == 1:
        return next(iter(values))
    shown = [(v, n) for v, n in sorted(values.items(), key=lambda vn: (-vn[1], vn[0])) if not _NONE.match(v)]
    if not shown:
        return "none"
    return ", ".join(f"{v} on {n} of {n_layers} layers" if i == 0 else f"{v} on {n}"
                     for i, (v, n) in enumerate(shown))


def _is_none(values: Counter) -> bool:
    return all(_NONE.match(v) for v in values)


def phrase(name: str, before: str, after: str, a: Counter, b: Counter, n_layers: tuple[int, int]) -> str:
    """How a changed fact is said: added, removed, moved to some layers, or before → after (``n_layers``: of the
    two models)."""
    if name == "placement":
        return f"{after} norms (was {before})"
    if set(a) | set(b) <= {"yes", "no"}:
        if set(a) == {"no"}:
            return f"{name} added" + (f" on {after.split(' on ', 1)[1]}" if " on " in after else "")
        if set(b) == {"no"}:
            return f"{name} removed"
    if _is_none(a):
        return f"{name} {after}" if after[:1].isdigit() else f"{name} added ({after})"
    if _is_none(b):
        return f"no {name} (was {before})"
    for one, many, n, was in ((a, b, n_layers[1], True), (b, a, n_layers[0], False)):
        if len(one) == 1 and len(many) > 1 and set(one) <= set(many):  # one value everywhere, the other on some
            kept = next(iter(one))
            few = ", ".join(f"{v} on {k} of {n} layers" for v, k in sorted(many.items(), key=lambda vk: -vk[1])
                            if v != kept)
            return f"{name} {few} (was {kept} on every layer)" if was else f"{name} {kept} on every layer (was {few})"
    return f"{name} {before} → {after}"


def _renamed(layers: list[str]) -> list[str]:
    """The layers with their kinds renamed by first appearance (a, b, …): the split without the names."""
    names: dict[str, str] = {}
    return [names.setdefault(k, chr(97 + len(names))) for k in layers]


def _same_split(a: Spec, b: Spec, said: dict) -> bool:
    """True when a changed layer pattern follows from what is said: a kind that came or went, new kind names
    over the same split, or a new depth over the same repeating unit ("(5 a : 1 b) ×#, # a")."""
    if "attention kind" in said or "kind" in said:
        return True
    x, y = _renamed(a.arch.layers), _renamed(b.arch.layers)
    mask = lambda layers: re.sub(r"\d+(?![^()]*\))", "#", summary(layers))  # noqa: E731 - counts outside a unit
    return x == y or "layers" in said and mask(x) == mask(y)


def _int(text: str) -> int | None:
    return int(text.replace(",", "")) if re.fullmatch(r"\d[\d,]*", text) else None


# --- the changes -----------------------------------------------------------------------------


def _mixer_change(a: Spec, b: Spec) -> tuple[str, str] | None:
    """A token-mixer kind that appears or goes: ("GQA", "MLA"), with the share of layers when a model mixes kinds."""
    fa, fb = _families(a, _mixer_family), _families(b, _mixer_family)
    if set(fa) == set(fb):
        return None

    def names(spec: Spec, fam: Counter) -> str:  # each kind by its catalogue names ("MHA/GQA" if a model has both)
        name = {k: "/".join(sorted({" + ".join(mixer_kind(m).name(m) for m in b.mixers)
                                    for b in spec.arch.blocks.values() if _mixer_family(b) == k})) for k in fam}
        return say(Counter({name[k]: n for k, n in fam.items()}), spec.arch.n_layers)

    return names(a, fa), names(b, fb)


def _moe(spec: Spec) -> str:
    f = next(x for blk in spec.arch.blocks.values() for x in blk.ffns if isinstance(x, Moe))
    shared = f", {f.n_shared_experts} shared" if f.n_shared_experts else ""
    return f"MoE {f.n_experts:,} experts, top-{f.top_k or 'k unset'}{shared}"


def _ffn_change(a: Spec, b: Spec) -> tuple[str, str] | None:
    """Dense ↔ MoE: ("dense", "MoE 128 experts, top-8"), or ("MoE on 58 of 61 layers", "MoE on every layer")
    when only a dense prefix comes or goes (the experts are then said on their own); another feed-forward kind by its
    catalogue name."""
    fa, fb = _families(a, _ffn_family), _families(b, _ffn_family)
    if set(fa) == set(fb):
        return None
    both = "MoE" in fa and "MoE" in fb

    def words(spec: Spec, fam: Counter) -> str:
        moe = fam["MoE"]
        if not fam:  # mixer-only layers (Falcon-Mamba)
            return "none"
        if not moe:  # dense, or another feed-forward kind by its catalogue name
            return " / ".join(fam)
        where = "every layer" if moe == sum(fam.values()) else f"{moe} of {spec.arch.n_layers} layers"
        return "dense" if not moe else f"MoE on {where}" if both else _moe(spec) + ("" if "every" in where
                                                                                    else f" on {where}")

    return words(a, fa), words(b, fb)


@dataclass
class _Said:
    """A change being assembled: the rows it accounts for grow as consequences are folded in."""

    stage: str
    phrase: str
    before: str
    after: str
    fields: list[str]
    follows: list[str] = field(default_factory=list)


def _kind_changes(a: Spec, b: Spec, differing: set[str]) -> dict[str, _Said]:
    """The new token-mixer and feed-forward kinds, keyed by the table row each one says."""
    out = {}
    for name, stage, found in (("attention kind", "token mixer", _mixer_change(a, b)),
                               ("kind", "feed-forward", _ffn_change(a, b))):
        if found and name in differing:
            before, after = found
            text = "no feed-forward" if after == "none" else after  # mixer-only layers (Falcon-Mamba)
            out[name] = _Said(stage, f"{text} (was {before})", before, after, [name])
    return out


def _side(r: Row, i: int, facts: dict[str, Counter], n_layers: int) -> tuple[Counter | None, str]:
    """One side of a row: its per-layer values (None: applies to no layer) and how they are said."""
    if r.group in WHOLE_MODEL:
        return Counter([r.exact[i]]), r.exact[i]
    values = facts.get(r.field)
    return values, say(values, n_layers) if values else "—"


def _scales_with(r: Row, d_model: Row | None, before: str, after: str) -> bool:
    """True when the row's width kept its ratio to a changed d_model."""
    if d_model is None or r.field not in SCALES_WITH_D_MODEL:
        return False
    x, y = _int(before), _int(after)
    return bool(x and y and x * d_model.values[1] == y * d_model.values[0])


def changes(a: Spec, b: Spec) -> list[Change]:
    """What changed from ``a`` to ``b``, in :data:`STAGES` order, each differing compare-table row
    accounted for exactly once (see the module docstring)."""
    table = [r for r in rows([a, b]) if r.differs]
    if not table:
        return []
    facts, layers = (layer_facts(a), layer_facts(b)), (a.arch.n_layers, b.arch.n_layers)
    said = _kind_changes(a, b, {r.field for r in table})
    d_model = next((r for r in table if r.field == "d_model"), None)
    later: list[Row] = []  # rows that follow from others
    shares: list[Row] = []  # rows whose values are the same, held by other shares of the layers
    with_d_model: list[str] = []
    for r in table:
        if r.field in said:
            continue
        if r.group == "Parameters" or stage_of(r) == "cache" or r.field in _FOLLOWS:
            later.append(r)
            continue
        (va, before), (vb, after) = _side(r, 0, facts[0], a.arch.n_layers), _side(r, 1, facts[1], b.arch.n_layers)
        owner = said.get("kind" if r.group == "Feed-forward" else "attention kind")
        if (va is None or vb is None) and owner:  # a fact of a kind that came or went
            owner.follows.append(r.field)
        elif va and vb and set(va) == set(vb):  # the same values, on other shares of the layers
            shares.append(r)
        elif _scales_with(r, d_model, before, after):
            with_d_model.append(r.field)
        else:
            va, vb = va or Counter(["—"]), vb or Counter(["—"])
            said[r.field] = _Said(stage_of(r), phrase(r.field, before, after, va, vb, layers), before, after, [r.field])
    if with_d_model:
        said["d_model"].follows += with_d_model
        said["d_model"].phrase += f" ({', '.join(with_d_model)} with it)"
    if "layer pattern" in (r.field for r in later) and not _same_split(a, b, said):
        later = [r for r in later if r.field != "layer pattern"]  # the layers are split another way: say so
        pattern = next(r for r in table if r.field == "layer pattern")
        said["layer pattern"] = _Said("layers", f"layer pattern {pattern.exact[0]} → {pattern.exact[1]}",
                                      *pattern.exact, ["layer pattern"])
    for r in shares:
        kind = "kind" if r.group == "Feed-forward" else "attention kind"
        owner = next(said[s] for s in (kind, "layer pattern", "layers", *said) if s in said)
        owner.follows.append(r.field)
    for r in later:
        owner = next((said[s] for s in _FOLLOWS.get(r.field, ()) if s in said), None) or next(iter(said.values()), None)
        if owner:
            owner.follows.append(r.field)
        else:  # nothing said explains it: a count that moved with a detail the table does not show
            va, vb = Counter([r.exact[0]]), Counter([r.exact[1]])
            said[r.field] = _Said(stage_of(r), phrase(r.field, r.exact[0], r.exact[1], va, vb, layers), r.exact[0],
                                  r.exact[1], [r.field])
    order = {r.field: i for i, r in enumerate(table)}
    ranked = sorted(said.values(), key=lambda s: (STAGES.index(s.stage) if s.stage in STAGES else len(STAGES),
                                                  order[s.fields[0]]))
    return [Change(s.stage, s.phrase, s.before, s.after, tuple(s.fields), tuple(s.follows)) for s in ranked]
