"""Latent attention's latent scales: the query and the normed KV latent × √(d_model / rank), no parameters.

One option of :mod:`.mla` (``latent_scales``), two places for the query's scale:

- ``"query"``: ``LongcatFlashMLA`` (``mla_scale_q_lora``, ``mla_scale_kv_lora``): the query, after ``q_b_proj``,
  × √(d_model / q_lora_rank);
- ``"query_latent"``: ``Dots3NoteTextAttention`` (``q_lora_scale``, ``kv_lora_scale``): the normed query latent, before
  ``q_b_proj``, × √(d_model / q_lora_rank); the sparse-attention indexer reads that scaled latent too.

Both scale the KV latent after ``kv_a_layernorm`` × √(d_model / kv_lora_rank). Without an indexer the two places give
the same attention (``q_b_proj`` is linear without bias); they differ in what the indexer reads and in the FLOPs
(q_lora_rank products per token against n_heads × (qk_nope_head_dim + qk_rope_head_dim)).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..steps import Ctx, Step, ew
from ..toyops import Run

Place = Literal["query", "query_latent"]

DESCRIPTION = ("The query and the normed KV latent × √(d_model / rank), no parameters: 'query' scales the query after "
               "q_b_proj (LongcatFlashMLA mla_scale_q_lora, mla_scale_kv_lora), 'query_latent' the normed query latent "
               "before q_b_proj, which the indexer reads too (Dots3NoteTextAttention q_lora_scale, kv_lora_scale); "
               "null without")


def older_value(value):
    """A spec written before the option had two places said ``true`` (LongCat-Flash's, the query) or ``false``."""
    return {True: "query", False: None}.get(value, value) if isinstance(value, bool) else value


def query_latent_steps(c: Ctx, m, p: str) -> list[Step]:
    """``"query_latent"``: c_q × √(d_model / q_lora_rank), after q_a_layernorm and before q_b_proj."""
    if m.latent_scales != "query_latent":
        return []
    return [ew("scale query latent", p, (c.T, m.q_lora_rank),
               f"c_q · √(d_model / q_lora_rank) = c_q · √({c.d} / {m.q_lora_rank}) (q_b_proj and the indexer read it)")]


def latent_steps(c: Ctx, m, p: str) -> list[Step]:
    """After kv_a_layernorm: the query (``"query"``) and the KV latent × their scales."""
    if m.latent_scales is None:
        return []
    T, r, h, qk = c.T, m.kv_lora_rank, m.n_heads, m.qk_nope_head_dim + m.qk_rope_head_dim
    latent = ew("scale latent", p, (T, r), f"c_kv · √(d_model / kv_lora_rank) = c_kv · √({c.d} / {r})")
    if m.latent_scales == "query_latent":
        return [latent]
    return [ew("scale Q", p, (h, T, qk), f"q · √(d_model / q_lora_rank) = q · √({c.d} / {m.q_lora_rank})"), latent]


def scale_query_latent(R: Run, m, cq: np.ndarray, d_model: int) -> np.ndarray:
    """The toy's ``"query_latent"`` scale of the normed query latent (``cq`` itself otherwise)."""
    if m.latent_scales != "query_latent":
        return cq
    return R.rec("scale query latent", cq * (d_model / m.q_lora_rank) ** 0.5)


def scale(R: Run, m, q: np.ndarray, q_pe: np.ndarray, latent: np.ndarray, d_model: int):
    """The toy's scales after kv_a_layernorm: (q, q_pe, latent), the query's only with ``"query"``."""
    if m.latent_scales == "query":
        s = (d_model / m.q_lora_rank) ** 0.5
        q, q_pe = R.rec("scale Q", q * s), q_pe * s
    if m.latent_scales is not None:
        latent = R.rec("scale latent", latent * (d_model / m.kv_lora_rank) ** 0.5)
    return q, q_pe, latent


def text(m) -> str:
    """The scales in words for a diagram label ("" without)."""
    return {"query": "query and KV latent × √(d_model / rank)",
            "query_latent": "query latent and KV latent × √(d_model / rank)", None: ""}[m.latent_scales]
