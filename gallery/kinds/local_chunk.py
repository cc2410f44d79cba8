"""Chunked local attention (Reformer's ``LocalSelfAttention``, ``models/reformer/modeling_reformer.py``; Kitaev et
al. 2020, §3): queries, keys and values from projections of their own (no bias, ``n_heads × head_dim``, no
positions: Reformer adds its positions to the embeddings); the keys scaled by 1/√head_dim; the sequence cut into
chunks of ``chunk`` tokens, each chunk's queries attending to its own keys and those of the ``chunks_before`` chunks
before it, causally (a sequence of at most one chunk: plain causal attention); the heads merged and projected back
by ``output.dense`` (``ReformerSelfOutput``, no bias). The ``LocalSelfAttention`` of a decoder takes no chunks after
(``ReformerModelWithLMHead`` asserts it).

The cache (``ReformerDynamicCache``) keeps what transformers keeps: every token's normed layer input (d_model), not
K and V; a decoding step takes the last ``chunks_before`` whole chunks and the current one's tokens and projects
their keys and values again (``_retrieve_relevant_hidden_states``), FLOPs counted beyond the weights. Schema
:class:`LocalChunkAttention`; parameters; cache; FLOPs; label; trace and toy (shared parts: :mod:`.chunked`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..layercache import LayerCache
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, table, weight
from ..toyops import HEAD_TOY, Run, heads
from . import chunked
from .contract import Fact, MixerKind

PART = "local attention"


class LocalChunkAttention(chunked.Chunked):
    """Causal attention within chunks, each chunk also seeing the chunks before it."""

    kind: Literal["local_chunk"]


def weights(d: tuple[str, int], m: LocalChunkAttention) -> list[Weight]:
    """LocalSelfAttention's query, key, value, then ReformerSelfOutput's dense."""
    h, hd = ("n_heads", m.n_heads), ("head_dim", m.head_dim)
    width = m.n_heads * m.head_dim
    return [*(weight("attention", name, d, h, hd, shape=(d[1], width)) for name in ("query", "key", "value")),
            weight("attention", "output.dense", h, hd, d, shape=(width, d[1]))]


def seen(m: LocalChunkAttention, context: int) -> int:
    """Tokens the last of ``context`` tokens attends to: the chunks before its own and its own up to itself."""
    return min(context, m.chunks_before * m.chunk + (context - 1) % m.chunk + 1)


def cache(kind: str, n: int, m: LocalChunkAttention, d_model: int) -> LayerCache:
    """Every token's normed layer input, d_model elements (``ReformerDynamicCache.states_cache``)."""
    return LayerCache(kind, n, d_model, f"d_model = {d_model:,}: the normed layer input of every token (its K and V "
                      "are projected again when read)", None,
                      caveat=f"transformers keeps every token; a step reads at most the last {m.chunks_before + 1} × "
                      f"{m.chunk:,} of them (local_num_chunks_before + 1 chunks) and projects their K and V again, "
                      "2 × 2 × d_model × n_heads × head_dim FLOPs per token read, not in the FLOPs figure")


def context_flops(m: LocalChunkAttention, context: int) -> int:
    """QKᵀ and A·V over the tokens the query sees (the keys and values transformers projects again when decoding
    are left out: see the cache's caveat)."""
    return 2 * 2 * m.n_heads * m.head_dim * seen(m, context)


def lines(m: LocalChunkAttention) -> list[str]:
    return ["Chunked local attention",
            f"{m.n_heads} heads · head dim {m.head_dim} · Q, K, V of their own",
            "no positions in the layer (added to the embeddings)",
            f"causal within {chunked.span_text(m.chunk, m.chunks_before)}"]


def steps(c: Ctx, m: LocalChunkAttention) -> list[Step]:
    """LocalSelfAttention.forward, then ReformerSelfOutput."""
    T, p, W, h, hd, L = c.T, PART, table(weights(c.dm, m)), m.n_heads, m.head_dim, m.chunk
    split = "reshape (T, heads·dim) → (heads, T, dim)"
    out = [linear(c, name, p, W, f"{name[0]} = x · W_{name[0]}") for name in ("query", "key", "value")]
    out += [ew(f"split {t} heads", p, (T, h * hd), split, per=0, out=(h, T, hd)) for t in "QKV"]
    out.append(ew("scale K", p, (h, T, hd), f"K / √{hd}"))
    if T <= L:  # one chunk: plain causal attention
        out += chunked.attend_steps(p, (h, T, hd), (h, T, T), hd, f"{chunked.MASKED:g} where key > query (causal)")
    else:
        Tp = chunked.padded(T, L)
        out.append(ew("split into chunks", p, (h, T, hd), f"pad to {Tp} (a whole number of chunks, pad keys "
                      f"masked), then (heads, {Tp // L} chunks, {L}, dim); Q, K and V alike", per=0,
                      out=(h, Tp // L, L, hd)))
        out += chunked.chunk_steps(c, p, h, hd, Tp // L, L, m.chunks_before,
                                   f"{chunked.MASKED:g} where key > query or a pad key (causal)")
        out.append(ew("merge chunks", p, (h, Tp // L, L, hd), "chunks back into the sequence, padding dropped",
                      per=0, out=(h, T, hd)))
    return out + [ew("merge heads", p, (h, T, hd), "transpose and concatenate the heads", per=0, out=(T, h * hd)),
                  linear(c, "output.dense", p, W, "y = O · W_o")]


def forward(R: Run, m: LocalChunkAttention, x: np.ndarray) -> np.ndarray:
    T, hd, L = len(x), m.head_dim, m.chunk
    q, k, v = (R.linear(name, x) for name in ("query", "key", "value"))
    q, k, v = (R.rec(f"split {t} heads", heads(a, hd)) for t, a in zip("QKV", (q, k, v)))
    k = R.rec("scale K", k / np.sqrt(hd))
    h, pos = q.shape[0], np.broadcast_to(np.arange(T), (q.shape[0], T))
    if T <= L:
        o, _, p = chunked.attend(R, q, k, v, pos, pos, T, self_mask=False)
        weights = p
    else:
        Tp = chunked.padded(T, L)
        q, k, v = (np.concatenate([a, np.zeros((h, Tp - T, hd))], 1).reshape(h, Tp // L, L, hd) for a in (q, k, v))
        q = R.rec("split into chunks", q)
        idx = np.broadcast_to(np.arange(Tp), (h, Tp)).reshape(h, Tp // L, L)
        k, v = (R.rec(f"adjacent chunks ({t})", chunked.adjacent(a, m.chunks_before)) for t, a in (("K", k), ("V", v)))
        kidx = chunked.adjacent(idx, m.chunks_before)
        o, _, p = chunked.attend(R, q, k, v, idx, kidx, T, self_mask=False)
        weights = chunked.by_token(p, idx, kidx, np.ones(idx.shape), T)
        o = R.rec("merge chunks", o.reshape(h, Tp, hd)[:, :T])
    o = R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1), **{"weights by token": weights})
    return R.linear("output.dense", o)


def shrink(m: dict) -> dict:
    return {**m, "n_heads": min(m["n_heads"], 2), "head_dim": HEAD_TOY, "chunk": min(m["chunk"], 2),
            "chunks_before": min(m["chunks_before"], 1)}


KIND = MixerKind(
    schema=LocalChunkAttention, name=lambda m: "Local (chunked)", state_flops=lambda m: 0, fill="attention",
    label="attn", picture=chunked.token_picture, terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops, lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "head dim", lambda m: m.head_dim),
        Fact("Attention", "attention chunk", lambda m: m.chunk),
        Fact("Attention", "chunks before", lambda m: m.chunks_before),
    ),
)
