"""Axial position embeddings (Reformer's ``AxialPositionEmbeddings``, ``models/reformer/modeling_reformer.py``):
instead of one learned row per position, a table per axis of a factored position grid, ``shape[i]`` rows of
``dims[i]`` each; position p = (p // shape[1], p mod shape[1]) gets the concatenation of its rows, the dims summing
to d_model, added to the token embedding. Owns the schema, the count terms and the words; :mod:`gallery.counts` and
:mod:`gallery.diagram` hook them in.
"""

from __future__ import annotations

from math import prod

from pydantic import Field, PositiveInt, model_validator

from .specbase import Strict, rule_error
from .terms import Term, term


class AxialPositions(Strict):
    """Learned positions factored over axes: a table of shape[i] × dims[i] per axis (Reformer)."""

    shape: list[PositiveInt] = Field(min_length=1, description="Positions along each axis; their product is the "
                                     "longest sequence (axial_pos_shape)")
    dims: list[PositiveInt] = Field(min_length=1, description="Width of each axis's table, summing to d_model "
                                    "(axial_pos_embds_dim)")

    @model_validator(mode="after")
    def _axes(self) -> "AxialPositions":
        if len(self.shape) != len(self.dims):
            raise rule_error("dims", "axial_axes", f"dims ({len(self.dims)}) needs one width per axis of shape "
                             f"({len(self.shape)})")
        return self


def terms(ax: AxialPositions) -> list[Term]:
    """One table per axis: shape[i] × dims[i]."""
    return [term("embeddings", f"axial_positions.{i}", "model", (f"axial_pos_shape[{i}]", s),
                 (f"axial_pos_embds_dim[{i}]", w)) for i, (s, w) in enumerate(zip(ax.shape, ax.dims))]


def text(ax: AxialPositions) -> str:
    """The diagram's line."""
    grid = " × ".join(f"{s:,}" for s in ax.shape)
    return f"+ axial positions ({grid} grid; widths {' + '.join(map(str, ax.dims))})"


def positions(ax: AxialPositions) -> int:
    """Positions the grid holds."""
    return prod(ax.shape)
