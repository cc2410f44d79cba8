"""What Reformer's two attention kinds share (``EfficientAttentionMixin`` and the ``_attend`` of
``LSHSelfAttention`` and ``LocalSelfAttention`` in ``models/reformer/modeling_reformer.py``): the sequence padded to
whole chunks, each chunk's keys joined by those of the ``chunks_before`` chunks before it (``_look_adjacent``, which
wraps around: chunk 0's chunk before is the last one, masked away by the causal mask), scores masked with the finite
values transformers uses (−1e9 where a key is later than its query, −1e5 on a token's own key in the shared-QK
kind), the softmax as exp(S − logsumexp S), the chunks merged back; the trace steps and toy helpers for them, the
span a query sees, and the Trace page's picture of one head's weights by token. Not a kind (no ``KIND``).

Padding: ``ReformerModel`` pads a sequence that is not a whole number of chunks to one (with pad tokens, masked as
keys); the toy of one layer pads to its own chunk, the trace shows the padded length in the chunked shapes.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from ..specbase import Strict
from ..steps import Ctx, Step, ew
from ..toyops import Run
from .contract import Caption, Choose, Heatmap

MASKED, SELF = -1e9, -1e5  # mask_value_float32, self_mask_value_float32


class Chunked(Strict):
    """The fields both kinds have: heads, and the chunks a query sees (the kinds add their ``kind`` tag)."""

    n_heads: PositiveInt = Field(description="Attention heads (num_attention_heads)")
    head_dim: PositiveInt = Field(description="Dims per head (attention_head_size)")
    chunk: PositiveInt = Field(description="Tokens per chunk (local_attn_chunk_length, lsh_attn_chunk_length)")
    chunks_before: NonNegativeInt = Field(description="Chunks before its own a query also sees "
                                          "(local_num_chunks_before, lsh_num_chunks_before)")


def padded(T: int, chunk: int) -> int:
    """The sequence length after padding to whole chunks."""
    return -(-T // chunk) * chunk


def adjacent(x: np.ndarray, before: int) -> np.ndarray:
    """``_look_adjacent`` with no chunks after: along axis 1 (the chunks), each chunk's entries preceded by those of
    the ``before`` chunks before it, wrapping around; the entries (axis 2) concatenated."""
    return np.concatenate([np.roll(x, i, axis=1) for i in range(before, 0, -1)] + [x], axis=2)


def span_text(chunk: int, before: int) -> str:
    """What a query sees, in words."""
    return f"chunks of {chunk:,}, each with the {before} chunk{'s' if before != 1 else ''} before it"


def chunk_steps(c: Ctx, part: str, h: int, hd: int, chunks: int, chunk: int, before: int, mask: str) -> list[Step]:
    """Chunks → keys and values of the adjacent chunks → scores → mask → softmax → × V, for ``chunks`` chunks of
    ``chunk`` queries per head."""
    s, q = chunk * (1 + before), (h, chunks, chunk, hd)
    wide = (h, chunks, s, hd)
    joined = f"each chunk's keys after those of the {before} chunk(s) before it (wrapping around)"
    return [ew("adjacent chunks (K)", part, q, joined, per=0, out=wide),
            ew("adjacent chunks (V)", part, q, joined.replace("keys", "values"), per=0, out=wide),
            *attend_steps(part, q, (h, chunks, chunk, s), hd, mask)]


def attend_steps(part: str, q: tuple, s: tuple, hd: int, mask: str) -> list[Step]:
    """Scores of queries ``q`` (…, queries, hd) against keys → mask → softmax → × V; ``s`` the scores' shape."""
    out = (*s[:-1], hd)
    n = int(np.prod(s))
    return [Step("scores = Q·Kᵀ", part, q, s, f"S = Q · Kᵀ over {hd} dims per query and key", 2 * n * hd),
            ew("mask", part, s, mask),
            ew("softmax", part, s, "P = exp(S − logsumexp_j S) (the row's logsumexp is kept)", per=4),
            Step("weights × V", part, s, out, "O = Σ_j P[i, j] · V[j]", 2 * n * hd)]


def attend(R: Run, q: np.ndarray, k: np.ndarray, v: np.ndarray, qi: np.ndarray, ki: np.ndarray, T: int,
           self_mask: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, mask, softmax and × V as ``_attend``: ``qi`` and ``ki`` the token positions of the queries and keys
    (keys at T or later are padding). Returns (the output, the logsumexp per query, the weights)."""
    s = R.rec("scores = Q·Kᵀ", q @ np.swapaxes(k, -1, -2))
    allowed = (qi[..., :, None] >= ki[..., None, :]) & (ki[..., None, :] < T)
    masked = np.where(allowed, s, MASKED)
    if self_mask:  # always applied: a token sees itself only when nothing else is left
        masked = np.where(qi[..., :, None] != ki[..., None, :], masked, SELF)
    masked = R.rec("mask", masked, before=s)
    top = masked.max(-1, keepdims=True)
    lse = top + np.log(np.exp(masked - top).sum(-1, keepdims=True))
    p = R.rec("softmax", np.exp(masked - lse), logsumexp=lse[..., 0])
    return R.rec("weights × V", p @ v), lse[..., 0], p


def by_token(p: np.ndarray, qi: np.ndarray, ki: np.ndarray, weight: np.ndarray, T: int) -> np.ndarray:
    """The weights ``p`` (heads, …, queries, keys) laid out as (heads, T query token, T key token), each query's row
    times ``weight`` (heads, …, queries) (the share of its hash round), padding left out."""
    h = p.shape[0]
    out = np.zeros((h, T + 1, T + 1))
    qq = np.broadcast_to(np.minimum(qi, T)[..., :, None], p.shape)
    kk = np.broadcast_to(np.minimum(ki, T)[..., None, :], p.shape)
    hh = np.broadcast_to(np.arange(h).reshape((h,) + (1,) * (p.ndim - 1)), p.shape)
    np.add.at(out, (hh, qq, kk), p * weight[..., None])
    return out[:, :T, :T]


def token_picture(steps: list, choose: Choose) -> list:
    """One head's attention weights by token (query × key), as the chunks (and hash rounds) gave them."""
    import pandas as pd  # with the picture: the CLI starts without pandas

    weights = next(s for s in steps if s.op == "merge heads").details["weights by token"]
    head = choose("Head", list(range(weights.shape[0])), "head") or 0
    T = weights.shape[1]
    cells = pd.DataFrame([(i, j, float(weights[head, i, j])) for i in range(T) for j in range(T)],
                         columns=["query", "key", "value"])
    return [Heatmap(cells, "key", "query", title="attention weights by token"),
            Caption("Each query's weights over the tokens it saw: its chunk and the chunks before it (for hashed "
                    "attention, in bucket order, summed over the hash rounds); 0 where it saw nothing.")]
