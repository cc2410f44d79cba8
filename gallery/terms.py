"""A parameter group with the formula that produces it: the unit :mod:`gallery.counts` adds up.

Kind modules (``gallery/kinds/``) write their parameter groups as :class:`Term` s with :func:`term`; the counts
module wires them with embeddings, norms, hyper-connections and the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod


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
