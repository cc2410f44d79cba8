"""DeepSeek-V4's attention (DeepseekV4Attention): one shared KV head whose key is also its value, over a sliding
window, plus (CSA, HCA) one KV entry per ``ratio`` earlier tokens pooled by a compressor.

Schema :class:`CompressedAttention`; parameters (low-rank query, the KV head, the grouped output, sinks, the
compressor and the indexer); the cache (one K = V vector per window token; per ``ratio`` tokens one entry plus the
indexer's key; the window and the pending block as fixed state, as DeepseekV4HCACache / DeepseekV4CSACache keep
them); attention FLOPs; the label; the trace and toy of the attention, DeepseekV4CSACompressor /
DeepseekV4HCACompressor and DeepseekV4Indexer; the shrink rule; the score heatmaps with the compressed entries.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import Indexer, Rope, Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step, scores_to_output
from ..terms import Weight, WeightTerms, Weights, params, table, weight
from ..toyops import HEAD_TOY, LOCAL_TOY, Run, attend, causal, heads, rope_toy, rotate
from .attention import attention, rope_facts, rope_text, tail_lines
from .mla import TEMPLATE
from .contract import Fact, or_none
from .mla import indexer_text


class CompressedAttention(Strict):
    """DeepSeek-V4's attention: all query heads share one KV head whose key is also its value.

    Every layer attends to the last ``window`` tokens uncompressed; a compressing layer also attends to
    one KV entry per ``ratio`` earlier tokens (a learned softmax-gated pooling of the block's tokens).
    With ``overlap`` (compressed sparse attention, CSA) each entry pools two adjacent blocks and an
    ``indexer`` picks the ``top_k`` entries a query sees; without (heavily compressed attention, HCA)
    it sees every entry. Queries pass a low-rank ``q_lora_rank`` bottleneck; the output is projected
    per group of heads to ``o_lora_rank`` dims, then mixed to ``d_model``.
    """

    kind: Literal["compressed"]
    n_heads: PositiveInt = Field(description="Query heads (num_attention_heads); one shared KV head, K = V")
    head_dim: PositiveInt = Field(description="Dims per head and per KV entry (head_dim)")
    q_lora_rank: PositiveInt = Field(description="Rank of the query compression (q_lora_rank)")
    o_groups: PositiveInt = Field(description="Head groups of the grouped output projection (o_groups)")
    o_lora_rank: PositiveInt = Field(
        description="Dims each head group is projected to before the output mix (o_lora_rank)")
    window: PositiveInt = Field(description="Recent tokens attended uncompressed (sliding_window)")
    ratio: PositiveInt | None = Field(
        None, description="Tokens pooled into one compressed KV entry (compress_rates of the layer type); "
        "null = window only (sliding_attention)")
    overlap: bool = Field(False, description="Each entry pools two overlapping blocks, from two series of "
                          "projections per token (compressed_sparse_attention)")
    indexer: Indexer | None = Field(None, description="Lightning indexer picking the top-k compressed entries "
                                    "(compressed_sparse_attention); null = every entry")
    sinks: bool = Field(False, description="Learned per-head attention sink logits")
    rope: Rope | None = Field(description="RoPE on the last dims of each head: rope_theta in window-only layers, "
                              "compress_rope_theta with rope_scaling in compressing ones")

    @model_validator(mode="after")
    def _compression(self) -> "CompressedAttention":
        if (self.overlap or self.indexer) and self.ratio is None:
            raise rule_error("ratio", "block_wiring", "overlap and indexer need a compression ratio")
        if self.indexer and not self.overlap:
            raise rule_error("overlap", "block_wiring", "an indexer goes with overlapping compression (CSA)")
        if (self.n_heads * self.head_dim) % self.o_groups:
            raise rule_error("o_groups", "block_wiring",
                             f"n_heads × head_dim ({self.n_heads * self.head_dim}) must split into "
                             f"{self.o_groups} groups")
        return self

    @property
    def n_kv_heads(self) -> int:
        """One KV head, shared by every query head (DeepseekV4Attention: num_key_value_groups = n_heads)."""
        return 1


def weights(d: tuple[str, int], m: CompressedAttention) -> list[Weight]:
    """DeepseekV4Attention: low-rank query, one shared KV head, grouped output, sinks; its compressor and indexer."""
    h, hd, rq, a = ("n_heads", m.n_heads), ("head_dim", m.head_dim), ("q_lora_rank", m.q_lora_rank), "attention"
    g, ro = ("o_groups", m.o_groups), ("o_lora_rank", m.o_lora_rank)
    per_group = ("n_heads × head_dim / o_groups", m.n_heads * m.head_dim // m.o_groups)
    out = [
        weight(a, "q_a_proj", d, rq),
        weight(a, "q_a_norm", rq),
        weight(a, "q_b_proj", rq, h, hd, shape=(rq[1], h[1] * hd[1])),
        weight(a, "kv_proj", d, hd),  # one KV head, read as key and value
        weight(a, "kv_norm", hd),
        # DeepseekV4GroupedLinear: each group of n_heads / o_groups heads → o_lora_rank; the (in, out) matrix holds
        # the groups side by side
        weight(a, "o_a_proj", per_group, g, ro, shape=(per_group[1], g[1] * ro[1])),
        weight(a, "o_b_proj", g, ro, d, shape=(g[1] * ro[1], d[1])),
    ]
    if m.sinks:
        out.append(weight(a, "sinks", h, tensor="sinks"))
    if m.ratio is None:
        return out
    # The compressor (CSA/HCA): kv and gate projections, a gate bias per position in the block, a norm;
    # with overlap, two series per token.
    series = ("2 series", 2) if m.overlap else ("1 series", 1)
    out += _compressor_weights("compressor", d, ("ratio", m.ratio), series, hd)
    if m.indexer:  # DeepseekV4Indexer: its own two-series compressor at index_head_dim, queries from the q latent
        ih, ihd = ("indexer.n_heads", m.indexer.n_heads), ("indexer.head_dim", m.indexer.head_dim)
        out += _compressor_weights("indexer", d, ("ratio", m.ratio), ("2 series", 2), ihd)
        out += [weight(a, "indexer.q_b_proj", rq, ih, ihd, shape=(rq[1], ih[1] * ihd[1])),
                weight(a, "indexer.weights_proj", d, ih)]
    return out


def _compressor_weights(name: str, d: tuple[str, int], ratio: tuple[str, int], series: tuple[str, int],
                        dim: tuple[str, int]) -> list[Weight]:
    """A compressor's kv and gate projections (``series × dim`` each), its position bias and its norm."""
    width = series[1] * dim[1]
    return [*(weight("attention", f"{name}.{proj}", d, series, dim, shape=(d[1], width))
              for proj in ("kv_proj", "gate_proj")),
            weight("attention", f"{name}.position_bias", ratio, series, dim, shape=(ratio[1], width),
                   tensor=f"{name}.position_bias"),
            weight("attention", f"{name}.kv_norm", dim)]


def _pending(ratio: int, series: int, dim: int) -> int:
    """Most a compressor holds before pooling: the kv and gate rows (``series × dim`` each) of up to
    ``ratio − 1`` tokens of the open block, and with overlap the previous block's first series (``ratio × dim``)."""
    return 2 * ((ratio - 1) * series * dim + (series - 1) * ratio * dim)


def cache(kind: str, n: int, m: CompressedAttention, d_model: int) -> LayerCache:
    """One K = V vector per window token; per ``ratio`` tokens one compressed entry (+ the indexer's key).

    transformers' DeepseekV4HCACache / DeepseekV4CSACache keep the same: the window's keys (the values are the
    same tensor), the compressed entries (``compressed_kv``), the pending block (``buffer_kv``,
    ``buffer_gate``) and the overlap (``overlap_kv``, ``overlap_gate``).
    """
    if m.ratio is None:
        formula = f"head_dim (one shared KV head, K = V) = {m.head_dim:,}"
        caveat = "transformers' DynamicSlidingWindowLayer stores this vector twice (as keys and as values)"
        return LayerCache(kind, n, m.head_dim, formula, m.window, caveat=caveat)
    entry = m.head_dim + (m.indexer.head_dim if m.indexer else 0)
    formula = f"head_dim {m.head_dim}" + (f" + indexer.head_dim {m.indexer.head_dim}" if m.indexer else "")
    formula += f" = {entry:,} per entry, one entry per {m.ratio} tokens"
    series = 2 if m.overlap else 1
    pending = _pending(m.ratio, series, m.head_dim) + (_pending(m.ratio, 2, m.indexer.head_dim) if m.indexer else 0)
    state = m.window * m.head_dim + pending
    state_formula = (f"window {m.window} × head_dim {m.head_dim} + pending block (kv and gate of < {m.ratio} "
                     f"tokens × {series} series{', previous block for the overlap' if m.overlap else ''}"
                     f"{', the same for the indexer' if m.indexer else ''}) = {state:,}")
    caveat = (f"the state is counted at its most: the {m.window}-token window is full from {m.window} tokens on, the "
              f"pending block (< {m.ratio} tokens, pooled once complete) varies with the position in its block")
    return LayerCache(kind, n, entry, formula, None, state, state_formula, m.ratio, caveat)


def context_flops(m: CompressedAttention, context: int) -> int:
    """One layer: QKᵀ and A·V over the window and the compressed entries it sees, plus the indexer's scores."""
    entries = context // m.ratio if m.ratio else 0  # only complete blocks are pooled
    seen = min(context, m.window) + (min(entries, m.indexer.top_k) if m.indexer else entries)
    flops = 2 * m.n_heads * (m.head_dim + m.head_dim) * seen  # K = V: both of head_dim
    if m.indexer:  # every compressed entry scored by each indexer head
        flops += 2 * m.indexer.n_heads * m.indexer.head_dim * entries
    return flops


def lines(m: CompressedAttention) -> list[str]:
    """DeepSeek-V4 attention: what is compressed and how, the shared K = V head, low-rank query and output."""
    if m.ratio is None:
        title = "Sliding-window attention (window only)"
    else:
        title = "Compressed sparse attention (CSA)" if m.indexer else "Heavily compressed attention (HCA)"
    out = [title, f"{m.n_heads} query heads · 1 shared KV head (K = V) · head dim {m.head_dim}",
           f"query latent {m.q_lora_rank:,} · output: {m.o_groups} head groups → {m.o_lora_rank:,} each "
           "→ d_model",
           rope_text(m.rope)]
    if m.ratio:
        block = f"overlapping blocks of 2 × {m.ratio}" if m.overlap else f"blocks of {m.ratio}"
        out.append(f"1 KV entry per {m.ratio:,} tokens (gated pooling over {block})")
    if m.indexer:
        out.append(f"sparse: indexer ({m.indexer.n_heads} × {m.indexer.head_dim}) keeps top-{m.indexer.top_k:,} "
                     "entries")
    return out + tail_lines(f"+ the last {m.window:,} tokens uncompressed (sliding window)", m.sinks)


def steps(c: Ctx, m: CompressedAttention) -> list[Step]:
    """DeepseekV4Attention: low-rank queries, one K = V head over a sliding window, plus (CSA/HCA) compressed
    entries from DeepseekV4CSACompressor / DeepseekV4HCACompressor; sinks; grouped output projection."""
    T, p, W = c.T, "attention", table(weights(c.dm, m))
    h, hd, rq, g, ro = m.n_heads, m.head_dim, m.q_lora_rank, m.o_groups, m.o_lora_rank
    rot, theta = int(hd * m.rope.partial), m.rope.theta
    steps = [
        linear(c, "q_a_proj", p, W, "c_q = x · W_qa (compress the query)"),
        c.norm("q_a_norm", p, "q_a_norm", (T, rq), params=params(W, "q_a_norm.weight")),
        linear(c, "q_b_proj", p, W, "q = c_q · W_qb (decompress)"),
        ew("split Q heads", p, (T, h * hd), "reshape (T, heads·dim) → (heads, T, dim)", per=0, out=(h, T, hd)),
        c.norm("q_b_norm", p, "q_b_norm", (h, T, hd), weights=False),
        rope_step(p, "Q", (h, T, hd), rot, theta, "pairs", tail=True),
        linear(c, "kv_proj", p, W, "kv = x · W_kv (one head, read as key and as value)"),
        c.norm("kv_norm", p, "kv_norm", (T, hd), params=params(W, "kv_norm.weight")),
        ew("split KV head", p, (T, hd), "one KV head: (1, T, dim)", per=0, out=(1, T, hd)),
        rope_step(p, "KV", (1, T, hd), rot, theta, "pairs", tail=True),
    ]
    n = T // m.ratio if m.ratio else 0  # compressed entries: complete blocks of ratio tokens
    if m.ratio:
        steps += _pool_steps(c, "compressor", m, W, rot)
        if m.indexer:
            steps += _indexer_steps(c, m, W, n, rot)
            seen = f"the indexer's top {m.indexer.top_k} of the entries e < ⌊(i + 1) / {m.ratio}⌋"
        else:
            steps.append(ew("entry mask", p, (n, hd), f"query i sees entry e when e < ⌊(i + 1) / {m.ratio}⌋ "
                             "(its block is complete)", per=0, out=(T, n)))
            seen = f"entries e < ⌊(i + 1) / {m.ratio}⌋"
        steps.append(ew("concat KV", p, (n, hd), "[window K = V | compressed entries] along the keys", per=0,
                         out=(1, T + n, hd)))
    mask = f"−∞ where j > i or i − j ≥ {m.window} over the {T} tokens" + (f"; over the {n} entries all but {seen}"
                                                                        if m.ratio else "")
    steps.append(ew("repeat KV head", p, (1, T + n, hd), f"the one K = V head serves all {h} query heads "
                     "(repeat_kv)", per=0, out=(h, T + n, hd)))
    *attend, _merge = scores_to_output(c, p, h, hd, hd, hd ** -0.5, None, None, None, params(W, "sinks") if m.sinks
                                        else (), (h, T, hd), T + n, mask)
    steps += attend + [  # V carried RoPE (V = K): rotate the output back by its query's position
        rope_step(p, "O (inverse)", (h, T, hd), rot, theta, "pairs", tail=True, sign="−"),
        ew("group heads", p, (h, T, hd), f"transpose and concatenate the heads in {g} groups of {h // g}", per=0,
            out=(T, g, h * hd // g)),
        Step("o_a_proj", p, (T, g, h * hd // g), (T, g, ro), f"o_g = O_g · W_oa[g]: each group to {ro} dims "
             "(DeepseekV4GroupedLinear; the (in, out) matrix holds the groups side by side)",
             2 * T * h * hd * ro, params(W, "o_a_proj.weight"), matmul=True),
        ew("flatten groups", p, (T, g, ro), "concatenate the groups", per=0, out=(T, g * ro)),
        linear(c, "o_b_proj", p, W, "y = o · W_ob (mix the groups to d_model)"),
    ]
    return steps


def _pool_steps(c: Ctx, name: str, m: CompressedAttention, W: Weights, rot: int) -> list[Step]:
    """One compressor (the attention's, or the indexer's at its head_dim): a softmax-gated pooling of each block of
    ``ratio`` tokens (two series per token with overlap: block w pools series a of block w−1 and b of w)."""
    T, r, p = c.T, m.ratio, name  # part: "compressor" or "indexer"
    s, n = 2 if m.overlap else 1, c.T // m.ratio
    dim = W[f"{name}.kv_norm.weight"].shape[0]
    slots = 2 * r if m.overlap else r
    steps = [
        linear(c, f"{name}.kv_proj", p, W, f"c = x · W_kv ({s} series of {dim})"),
        linear(c, f"{name}.gate_proj", p, W, "z = x · W_gate (pooling logits per channel)"),
        ew(f"{name}: blocks", p, (T, s * dim), f"{n} complete blocks of {r} tokens (the last T mod {r} wait)",
            per=0, out=(n, r, s * dim)),
        Step(f"{name}: gate + position bias", p, (T, s * dim), (n, r, s * dim), "z[w, t] + B[t] (blocks as above; "
             "t: place in the block)", n * r * s * dim, params(W, f"{name}.position_bias")),
    ]
    if m.overlap:
        steps.append(ew(f"{name}: overlap blocks", p, (n, r, s * dim), f"slots of entry w = [series a of block "
                         f"w − 1 | series b of block w] ({slots} slots; block −1 empty, gate −∞)", per=0,
                         out=(n, slots, dim)))
    steps += [
        ew(f"{name}: gate softmax", p, (n, slots, dim), f"P = softmax(z) over the {slots} slots, per channel",
            per=3),
        Step(f"{name}: pool", p, (n, slots, dim), (n, dim), "e_w = Σ_slots P ⊙ c", 2 * n * slots * dim),
        c.norm(f"{name}.kv_norm", p, f"{name}.kv_norm", (n, dim), params=params(W, f"{name}.kv_norm.weight")),
        rope_step(p, f"{name} entries", (n, dim), rot, m.rope.theta, "pairs", tail=True, pos=f"{r}·w"),
    ]
    return steps


def _indexer_steps(c: Ctx, m: CompressedAttention, W: Weights, n: int, rot: int) -> list[Step]:
    """DeepseekV4Indexer: its own compressor at indexer.head_dim; ReLU scores of small query heads from the query
    latent against the compressed keys, weighted per head; each query keeps its top-k entries."""
    T, p, ix = c.T, "indexer", m.indexer
    ih, ihd, k = ix.n_heads, ix.head_dim, min(ix.top_k, n)
    return _pool_steps(c, "indexer", m, W, rot) + [
        linear(c, "indexer.q_b_proj", p, W, "q_I = c_q · W_q (from the query latent)"),
        ew("split indexer Q heads", p, (T, ih * ihd), "reshape to (heads, T, dim)", per=0, out=(ih, T, ihd)),
        rope_step(p, "indexer Q", (ih, T, ihd), rot, m.rope.theta, "pairs", tail=True),
        Step("indexer scores", p, (ih, T, ihd), (ih, T, n), f"ReLU(q_I[h, i] · e_I[w]) / √{ihd}",
             2 * ih * T * n * ihd + 2 * ih * T * n),
        linear(c, "indexer.weights_proj", p, W, f"w = x · W_w / √{ih} (one weight per indexer head)"),
        Step("weighted sum over heads", p, (ih, T, n), (T, n), "I[i, w] = Σ_h w[i, h] · score[h, i, w]; −∞ where "
             f"w ≥ ⌊(i + 1) / {m.ratio}⌋", 2 * ih * T * n),
        ew("top-k entries", p, (T, n), f"each query keeps its {k} best-scoring visible entries", per=0),
    ]


def forward(R: Run, m: CompressedAttention, x: np.ndarray) -> np.ndarray:
    """DeepseekV4Attention without a cache: the window's K = V plus the compressed entries, sinks, grouped output."""
    T, h, hd, g = x.shape[0], m.n_heads, m.head_dim, m.o_groups
    rot, theta = int(hd * m.rope.partial), m.rope.theta
    cq = R.norm("q_a_norm", "q_a_norm", R.linear("q_a_proj", x))
    q = R.rec("split Q heads", heads(R.linear("q_b_proj", cq), hd))
    q = R.norm("q_b_norm", "q_b_norm", q, weights=False)
    q = R.rec("RoPE on Q", rotate(q, rot, theta, True, tail=True))
    kv = R.rec("split KV head", R.norm("kv_norm", "kv_norm", R.linear("kv_proj", x))[None])
    kv = R.rec("RoPE on KV", rotate(kv, rot, theta, True, tail=True))  # (1, T, hd)
    mask = causal(T, m.window)
    if m.ratio:
        entries = _pool_forward(R, "compressor", m, x, rot)  # (n, hd)
        n = len(entries)
        visible = np.arange(n)[None, :] < ((np.arange(T) + 1) // m.ratio)[:, None]  # (T, n): block complete
        keep = _indexer_forward(R, m, x, cq, visible, rot) if m.indexer else R.rec("entry mask", visible)
        kv = R.rec("concat KV", np.concatenate([kv, entries[None]], 1))
        mask = np.concatenate([mask, keep], 1)
    k = R.rec("repeat KV head", np.repeat(kv, h, 0))
    o = attend(R, q, k, k, hd ** -0.5, None, None, None, m.sinks, mask=mask, merge=False)  # (h, T, hd)
    o = R.rec("RoPE on O (inverse)", rotate(o, rot, theta, True, tail=True, sign=-1.0))  # V = K carried RoPE
    grouped = R.rec("group heads", o.transpose(1, 0, 2).reshape(T, g, -1))
    w = R.w["o_a_proj.weight"]  # (in per group, groups · o_lora_rank): group i uses columns i·r … (i + 1)·r
    a = R.rec("o_a_proj", np.einsum("tgi,gio->tgo", grouped, w.reshape(w.shape[0], g, -1).transpose(1, 0, 2)))
    return R.linear("o_b_proj", R.rec("flatten groups", a.reshape(T, -1)))


def _pool_forward(R: Run, name: str, m: CompressedAttention, x: np.ndarray, rot: int) -> np.ndarray:
    """A compressor (DeepseekV4CSACompressor / HCACompressor / the indexer's): softmax-gated pooling of each
    complete block of ``ratio`` tokens; with overlap, block w's slots are series a of block w − 1 and b of w."""
    r, T = m.ratio, x.shape[0]
    n = T // r
    c, z = R.linear(f"{name}.kv_proj", x), R.linear(f"{name}.gate_proj", x)
    dim = c.shape[1] // (2 if m.overlap else 1)
    c = R.rec(f"{name}: blocks", c[:n * r].reshape(n, r, c.shape[1]))
    z = R.rec(f"{name}: gate + position bias", z[:n * r].reshape(n, r, z.shape[1]) + R.w[f"{name}.position_bias"])
    if m.overlap:
        ck, zk = np.zeros((n, 2 * r, dim)), np.full((n, 2 * r, dim), -np.inf)
        ck[:, r:], zk[:, r:] = c[..., dim:], z[..., dim:]  # series b of block w
        ck[1:, :r], zk[1:, :r] = c[:-1, :, :dim], z[:-1, :, :dim]  # series a of block w − 1
        c, z = R.rec(f"{name}: overlap blocks", ck, gate=zk), zk
    e = np.exp(z - z.max(1, keepdims=True))
    p = R.rec(f"{name}: gate softmax", e / e.sum(1, keepdims=True))
    pooled = R.norm(f"{name}.kv_norm", f"{name}.kv_norm", R.rec(f"{name}: pool", (p * c).sum(1)))
    return R.rec(f"RoPE on {name} entries", rotate(pooled, rot, m.rope.theta, True, tail=True, pos=np.arange(n) * r))


def _indexer_forward(R: Run, m: CompressedAttention, x: np.ndarray, cq: np.ndarray, visible: np.ndarray,
                   rot: int) -> np.ndarray:
    """DeepseekV4Indexer: Σ_h w_h · ReLU(q_h · e) over the indexer's own entries; each query keeps its top-k."""
    ix = m.indexer
    keys = _pool_forward(R, "indexer", m, x, rot)  # (n, ihd)
    qi = R.rec("split indexer Q heads", heads(R.linear("indexer.q_b_proj", cq), ix.head_dim))
    qi = R.rec("RoPE on indexer Q", rotate(qi, rot, m.rope.theta, True, tail=True))
    per_head = R.rec("indexer scores", np.maximum(qi @ keys.T, 0) * ix.head_dim ** -0.5)  # (ih, T, n)
    wi = R.rec("indexer.weights_proj", x @ R.w["indexer.weights_proj.weight"] * ix.n_heads ** -0.5)  # (T, ih)
    scores = R.rec("weighted sum over heads", np.where(visible, (per_head * wi.T[:, :, None]).sum(0), -np.inf))
    best = np.argsort(-scores, -1, kind="stable")[:, :min(ix.top_k, scores.shape[1])]  # ties: the earlier entry
    keep = np.zeros_like(visible)
    np.put_along_axis(keep, best, True, -1)
    return R.rec("top-k entries", keep & visible)


def shrink(m: dict) -> dict:
    """4 heads of 8 in 2 output groups; window 3; CSA pools blocks of 2 (its indexer keeps 2 entries), HCA of 3."""
    out = {**m, "n_heads": 4, "head_dim": HEAD_TOY, "q_lora_rank": 6, "o_groups": 2, "o_lora_rank": 6,
           "window": min(m["window"], LOCAL_TOY), "rope": rope_toy(m["rope"], HEAD_TOY)}
    if m.get("ratio"):
        out["ratio"] = min(m["ratio"], 2 if m.get("overlap") else LOCAL_TOY)
    if m.get("indexer"):
        out["indexer"] = {**m["indexer"], "n_heads": 2, "head_dim": 4, "top_k": 2}
    return out


def _compression(m: CompressedAttention) -> object:
    """"4 (overlapping)": tokens per compressed entry; "none" for a window-only layer."""
    if m.ratio is None:
        return "none"
    return f"{m.ratio} (overlapping)" if m.overlap else m.ratio


KIND = attention(
    schema=CompressedAttention, name=lambda m: "Compressed", template=TEMPLATE, terms=WeightTerms(weights), cache=cache, context_flops=context_flops,
    lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
        Fact("Attention", "head dim", lambda m: m.head_dim),
        Fact("Attention", "group size", lambda m: m.n_heads // m.n_kv_heads),
        Fact("Attention", "sliding window", lambda m: or_none(m.window)),
        Fact("Attention", "attention chunk", lambda m: "none"),
        Fact("Attention", "sinks", lambda m: m.sinks),
        Fact("Attention", "logit soft-cap", lambda m: "none"),
        Fact("Attention", "q_lora_rank", lambda m: or_none(m.q_lora_rank)),
        Fact("Attention", "compression (tokens per KV entry)", _compression),
        Fact("Attention", "sparse indexer", lambda m: indexer_text(m.indexer)),
        Fact("Attention", "output groups × o_lora_rank", lambda m: f"{m.o_groups} × {m.o_lora_rank:,}"),
        *rope_facts(),
    ),
)
