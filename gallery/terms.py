"""A parameter group with the formula that produces it: the unit :mod:`gallery.counts` adds up; and a kind's
:class:`Weight`, declared once, from which both its count term and its trace tensor are built.

Kind modules (``gallery/kinds/``) declare each parameter tensor once with :func:`weight` (its term's component,
name and symbolic factors, and the shape the trace shows); :class:`WeightTerms` gives the counts' :class:`Term` s
and :func:`table` the steps' tensors (:mod:`gallery.steps` takes a step's params from the table by name), so the
count and the trace cannot drift apart. The counts module wires the terms with embeddings, norms,
hyper-connections and the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Param:
    """One parameter tensor a trace step uses: its name in the layer and its shape."""

    name: str
    shape: Shape

    @property
    def count(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Term:
    """One group of parameters: ``count`` per occurrence, occurring ``repeat`` times."""

    component: str
    name: str  # e.g. "k_proj", "experts.down_proj"
    where: str  # block kind, or "model" for embeddings, head and final norm
    symbols: tuple[str, ...]  # the factors, by name: ("d_model", "n_kv_heads", "head_dim")
    values: tuple[int, ...]  # the factors' values
    repeat: int = 1

    @property
    def count(self) -> int:
        """Parameters in one occurrence."""
        return prod(self.values)

    @property
    def total(self) -> int:
        return self.count * self.repeat

    @property
    def formula(self) -> str:
        """``d_model × n_kv_heads × head_dim = 4,096 × 8 × 128 = 4,194,304 (× 32 layers)``."""
        text = f"{' × '.join(self.symbols)} = "
        if len(self.values) > 1:
            text += f"{' × '.join(f'{v:,}' for v in self.values)} = "
        text += f"{self.count:,}"
        if self.repeat > 1:
            text += f" (× {self.repeat} layers = {self.total:,})"
        return text


def term(component: str, name: str, where: str, *factors: tuple[str, int]) -> Term:
    """A term from its named factors: ``term("attention", "k_proj", kind, ("d_model", 4096), ("head_dim", 128))``."""
    return Term(component, name, where, tuple(s for s, _ in factors), tuple(v for _, v in factors))


@dataclass(frozen=True)
class Weight:
    """A kind's parameter group, declared once: its count term (component, name, symbolic factors) and the tensors
    the trace shows (usually one; shapes ``(in, out)`` for a matrix as ``y = x · W`` reads it)."""

    component: str
    name: str  # the term's name: "k_proj", "k_proj.bias", "sinks"
    factors: tuple[tuple[str, int], ...]
    tensors: tuple[Param, ...]  # together the same number of elements as the factors

    def __post_init__(self) -> None:
        if sum(t.count for t in self.tensors) != prod(v for _, v in self.factors):
            raise ValueError(f"{self.name}: the tensors {self.tensors} do not hold {self.factors}")

    def term(self, where: str) -> Term:
        return term(self.component, self.name, where, *self.factors)


def weight(component: str, name: str, *factors: tuple[str, int], shape: Shape | None = None,
           tensor: str | None = None, tensors: tuple[Param, ...] | None = None) -> Weight:
    """A kind's parameter tensor: ``weight("attention", "k_proj", d, kv, hd, shape=(d_model, kv × hd))``.

    ``shape`` defaults to the factors' values; ``tensor`` (its name in the layer) to ``name`` for a ``.bias`` and
    ``name.weight`` otherwise (give ``tensor=name`` for a bare parameter such as ``sinks`` or ``A_log``).
    ``tensors``: a term that counts several tensors at once (a LayerNorm's weight and bias)."""
    if tensors is None:
        shape = tuple(v for _, v in factors) if shape is None else tuple(shape)
        tensors = (Param(tensor or (name if name.endswith(".bias") else f"{name}.weight"), shape),)
    return Weight(component, name, tuple(factors), tensors)


Weights = dict[str, Param]  # tensor name → the tensor, in build order


def table(weights: list[Weight]) -> Weights:
    """A kind's tensors by name, for its trace steps."""
    return {t.name: t for w in weights for t in w.tensors}


@dataclass(frozen=True)
class WeightTerms:
    """A kind's ``terms`` facet built from its ``weights(d, part)``: ``(d, part, where)`` → its count terms, in build
    order (``terms=WeightTerms(weights)``); the trace steps read the same ``weights`` through :func:`table`."""

    weights: Callable[..., list[Weight]]

    def __call__(self, d: tuple[str, int], part: object, where: str) -> list[Term]:
        return [w.term(where) for w in self.weights(d, part)]


def params(W: Weights, *tensors: str) -> tuple[Param, ...]:
    """The trace params of the named tensors (a ``.bias`` the table does not hold is left out)."""
    return tuple(W[t] for t in tensors if t in W or not t.endswith(".bias"))
