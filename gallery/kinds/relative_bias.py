"""A learned relative position bias on the attention scores, from one table the whole model shares (CPM-Ant).

``CpmAntSegmentPositionEmbedding`` holds one ``relative_attention_bias`` of (segment_types² + num_buckets) rows ×
n_heads, built once in ``CpmAntModel`` (not per layer; counted once, :func:`model_terms`) and added by every layer
to its scores after the 1/√head_dim scale (``CpmAntAttention``: ``score = QKᵀ / √d + position_bias``). The row a
query i and key j read: when their segments are equal, the T5-style bucket of j − i (``_position_bucket``, always
bidirectional: half the buckets for keys before the query, half for keys after; in each half, num_buckets // 4
buckets of one distance each, the rest log-spaced up to ``max_distance``, beyond which they saturate); when they
differ, ``num_buckets + seg_i · segment_types + seg_j``, one bucket per ordered segment pair, whatever the distance.
``CpmAntModel.forward`` gives the prompt_length prompt positions segment 0 and the text segment 2 (0 for padding),
and marks the whole input as context (``_prepare_attention_mask``): within the input every token sees every other,
both ways; a token generated after it sees the cache. The bias is computed from positions, so it caches nothing.

Used by :mod:`gallery.kinds.softmax` (its ``relative_bias`` field): the schema, the model's term, the trace step and
the mask's words, the toy's bias (its table a stand-in drawn with a fixed seed, as the model stores it outside the
layer), the label and the compare row.
"""

from __future__ import annotations

from math import log

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..specbase import Strict, rule_error
from ..steps import Step, ew
from ..terms import Term, term
from .contract import Fact

PROMPT_SEGMENT, TEXT_SEGMENT = 0, 2  # CpmAntModel.forward: segment 0 for the prompt rows, 2 for the text
PROMPT_TOY = 2  # the toy's first tokens standing for prompt rows
BUCKETS_TOY, DISTANCE_TOY = 8, 8  # 8 // 4 = 2 exact distances per side, then log buckets the toy's tokens reach


class RelativeBias(Strict):
    """CPM-Ant's segment-aware relative position bias: one table of (segment_types² + num_buckets) × n_heads, stored
    once in the model and read by every layer (CpmAntSegmentPositionEmbedding)."""

    num_buckets: PositiveInt = Field(ge=4, description="Buckets of j − i, half for keys before the query, half after "
                                     "(position_bias_num_buckets)")
    max_distance: PositiveInt = Field(description="The distance where the log buckets saturate "
                                      "(position_bias_max_distance)")
    segment_types: PositiveInt = Field(ge=3, description="Segments: segment_types² more rows, one per ordered pair of "
                                       "different segments (segment_types; the text is segment 2)")

    @model_validator(mode="after")
    def _log_range(self) -> "RelativeBias":
        if self.max_distance <= self.num_buckets // 4:
            raise rule_error("max_distance", "relative_bias_range", f"the log buckets run from num_buckets // 4 = "
                             f"{self.num_buckets // 4} to max_distance ({self.max_distance}): it must be larger")
        return self

    @property
    def rows(self) -> int:
        """Rows of the shared table: segment_types² + num_buckets."""
        return self.segment_types ** 2 + self.num_buckets


def position_bucket(relative: np.ndarray, num_buckets: int, max_distance: int) -> np.ndarray:
    """``CpmAntSegmentPositionEmbedding._position_bucket`` of j − i, in float32 as torch computes it."""
    half = num_buckets // 2
    exact = half // 2
    distance = np.abs(relative)
    ratio = np.maximum(distance, exact).astype(np.float32) / np.float32(exact)  # the log branch only where used
    large = exact + (np.log(ratio) / np.float32(log(max_distance / exact)) * np.float32(half - exact)).astype(np.int32)
    return (relative > 0) * half + np.where(distance < exact, distance, np.minimum(large, half - 1))


def buckets(rb: RelativeBias, segments: np.ndarray) -> np.ndarray:
    """(T query, T key) rows of the table: the position bucket within a segment, the segment pair's across."""
    pos = np.arange(len(segments))
    within = position_bucket(pos[None, :] - pos[:, None], rb.num_buckets, rb.max_distance)
    across = rb.num_buckets + segments[:, None] * rb.segment_types + segments[None, :]
    return np.where(segments[:, None] == segments[None, :], within, across)


def _users(arch) -> set[tuple[RelativeBias, int]]:
    """(settings, heads) of every mixer that reads the shared table."""
    return {(m.relative_bias, m.n_heads) for b in arch.blocks.values() for m in b.mixers
            if getattr(m, "relative_bias", None) is not None}


def model_terms(arch) -> list[Term]:
    """The one table (CpmAntModel.position_bias), counted once however many layers read it."""
    return [term("attention", "position_bias.relative_attention_bias", "model",
                 ("(segment_types² + num_buckets)", rb.rows), ("n_heads", heads)) for rb, heads in _users(arch)]


def check(arch) -> None:
    """The layers that read the shared table agree on its settings and heads (the model stores one)."""
    if len(_users(arch)) > 1:
        raise rule_error("blocks", "relative_bias_shared", "the relative position bias is one table the model "
                         "shares: every layer that reads it needs the same relative_bias and n_heads")


def step(part: str, n_heads: int, T: int, rb: RelativeBias) -> Step:
    """The trace step that adds the shared table's rows to the scaled scores (one addition per score)."""
    return ew("relative position bias", part, (n_heads, T, T), f"S + B[bucket(i, j), h]; B the model's one table "
              f"of ({rb.segment_types}² + {rb.num_buckets}) × {n_heads} = {rb.rows * n_heads:,} parameters, counted "
              f"once (not in this layer); bucket: within a segment, j − i in {rb.num_buckets} log buckets to "
              f"{rb.max_distance:,} (half for j > i), across segments {rb.num_buckets} + seg_i · {rb.segment_types} "
              "+ seg_j")


MASK = ("0: CpmAntModel marks the whole input as context, so each of its tokens sees every other, both ways (a token "
        "generated after it sees the cache)")


def segments_toy(T: int) -> np.ndarray:
    """The toy's segments, as CpmAntModel.forward gives them: its first tokens prompt rows, the rest text."""
    return np.where(np.arange(T) < PROMPT_TOY, PROMPT_SEGMENT, TEXT_SEGMENT)


def table_toy(rb: RelativeBias, n_heads: int) -> np.ndarray:
    """The toy's stand-in for the model's table, (rows, heads), drawn with seed 0 (the layer does not hold it)."""
    return np.random.default_rng(0).standard_normal((rb.rows, n_heads))


def toy_args(rb: RelativeBias, n_heads: int, T: int) -> dict:
    """What the toy's attention takes: no mask (the input seen both ways) and the bias (heads, T query, T key)."""
    rows = buckets(rb, segments_toy(T))
    return {"mask": np.ones((T, T), bool), "bias": table_toy(rb, n_heads)[rows].transpose(2, 0, 1),
            "bias_op": "relative position bias"}


def shrink(rb: dict) -> dict:
    """Fewer buckets, so the toy's few tokens reach the log buckets; the segments as they are."""
    return {**rb, "num_buckets": BUCKETS_TOY, "max_distance": DISTANCE_TOY}


def text(rb: RelativeBias) -> str:
    """The bias in words for a diagram label."""
    return (f"relative position bias: one shared table, {rb.num_buckets} log buckets to {rb.max_distance:,} "
            f"+ {rb.segment_types}² segment pairs")


SPAN = "full attention: the whole input both ways, then each generated token over the cache"


FACT = Fact("Positions", "relative position bias", lambda m: "none" if getattr(m, "relative_bias", None) is None else
            f"{m.relative_bias.num_buckets} buckets to {m.relative_bias.max_distance:,}, "
            f"{m.relative_bias.segment_types} segments, shared")
