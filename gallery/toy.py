"""Real numbers for a trace: the same layer at toy width, computed step by step with NumPy.

``toy_trace(spec_or_arch, layer, seq)`` shrinks the chosen layer's block to toy widths (``d_model`` 16, or
heads × head_dim where the real model has that equality; heads of 8 dims, the same query-to-KV-head ratio, the same norm placement, activation, QK-norm, rotary
fraction, soft-cap, sinks, router and shared experts; windows, chunks and the indexer's top-k cut to 3
tokens so they bite in a few tokens), draws weights with a fixed seed (named and shaped as the
parameters of :func:`gallery.trace.trace` on the toy) and runs the layer on random token vectors. It
records one :class:`ToyStep` per step of the trace, in the same order, with the step's output and, where
useful, intermediate values (a norm's mean of squares and rsqrt, the scores before and after the mask,
after subtracting the row max).

Numerical conventions follow transformers: RoPE rotates halves (``rotate_half``) for softmax attention and
adjacent pairs for MLA (DeepSeek's complex multiply); RoPE scaling is left out (plain θ frequencies);
gpt-oss's clamped SwiGLU uses its limit 7 and α 1.702; grouped top-k ranks a group by its best expert, or
by the sum of its best two with a correction bias (DeepSeek-V3). Mamba-1 runs its selective scan one token
at a time, as the reference's torch loop (the CUDA kernels compute the same scan in parallel), at d_inner 32
(expand 2), d_state 4 and Δ rank 2; causal convolutions keep the model's taps. Gated DeltaNet (two key heads at
the real value-to-key head ratio, heads of 8, the real convolution width) runs its delta rule token by token as
``torch_recurrent_gated_delta_rule`` writes it; transformers runs a prompt through the chunked
``torch_chunk_gated_delta_rule``, the same function of the inputs, and in float32 (both kernels cast), so the toy
(float64) agrees with it to float32 precision, not exactly. Norm weights are drawn near 1 and used as ``x · w``: where
the model stores a zero-centred weight applied as ``1 + w`` (Gemma, Qwen3-Next, Qwen3.5) the test stores ``w − 1``.
A Mamba-2 layer keeps 2 groups of 2 heads (4
channels, a state of 4), the real conv kernel and chunks of 4 tokens; its scan is the sequential recurrence, token
by token (the reference's chunked SSD scan regroups the same sums), recording the state after every token.
``tests/test_toy.py`` builds the same toy layer in transformers, copies these weights in and compares the outputs.

DeepSeek-V4 (``DeepseekV4DecoderLayer``, no cache): the layer's input and output are the ``streams`` residual
copies, (T, streams, d_model); RoPE rotates adjacent pairs of the *last* rotary dims, the compressed entries at
position ``w · ratio``, and the attention output is rotated back; ``hc_eps`` and ``swiglu_limit`` are the config's
1e-6 and 10 (no spec fields). Hash routing reads token ids, fixed at 0, 1, …, T − 1 (their table ``tid2eid`` is drawn
with the weights). Where the indexer's top-k meets a tie (ReLU gives exact zeros) the toy keeps the earlier entry;
torch.topk's choice among ties is not defined.

Adding a mixer kind: one forward function (recording the same ops as its trace function) and one entry in
:data:`TOY_MIXERS`, plus its shrink rule in :data:`SHRINK`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .spec import (Arch, CompressedAttention, GatedDeltaNet, LatentAttention, Mamba, Mamba2, Mlp, Moe, ShortConv,
                   SoftmaxAttention, Spec)
from .trace import SILU_CLAMP, mixer_label, trace

D_TOY, HEAD_TOY, FF_TOY, EXPERT_TOY, LOCAL_TOY, LATENT_TOY = 16, 8, 12, 6, 3, 8
INNER_TOY, STATE_TOY, RANK_TOY = 2 * D_TOY, 4, 2  # Mamba-1: d_inner (expand 2), d_state, dt_rank
SWIGLU_LIMIT, SWIGLU_ALPHA = 7.0, 1.702  # GptOssExperts defaults (swiglu_limit, alpha)
HC_EPS = 1e-6  # DeepseekV4Config.hc_eps (its default and DeepSeek-V4-Flash's value; not a spec field)


# --- the toy architecture ---------------------------------------------------------------------


def _rope_toy(rope: dict | None, head_dim: int) -> dict | None:
    """Plain RoPE (no scaling) on an even number of the toy head's dims, close to the real fraction."""
    if rope is None:
        return None
    rot = max(2, round(head_dim * rope.get("partial", 1.0) / 2) * 2)
    return {"theta": rope["theta"], **({"partial": rot / head_dim} if rot < head_dim else {})}


def _shrink_attention(m: dict) -> dict:
    group = m["n_heads"] // m["n_kv_heads"]
    kv = min(m["n_kv_heads"], 2)  # MQA stays MQA, GQA keeps two KV groups at the real ratio, MHA two heads
    out = {**m, "n_heads": kv * group, "n_kv_heads": kv, "head_dim": HEAD_TOY, "rope": _rope_toy(m["rope"], HEAD_TOY)}
    if m.get("v_head_dim"):
        out["v_head_dim"] = HEAD_TOY // 2
    for key in ("window", "chunk"):
        if m.get(key):
            out[key] = min(m[key], LOCAL_TOY)
    return out


def _shrink_latent(m: dict) -> dict:
    out = {**m, "n_heads": 2, "q_lora_rank": m["q_lora_rank"] and 6, "kv_lora_rank": 6, "qk_nope_head_dim": 4,
           "qk_rope_head_dim": 4, "v_head_dim": 4, "rope": _rope_toy(m["rope"], 4)}
    if m.get("indexer"):
        out["indexer"] = {**m["indexer"], "n_heads": 2, "head_dim": HEAD_TOY, "topk": LOCAL_TOY}
    return out


def _shrink_gdn(m: dict) -> dict:
    """Two key heads (one if the model has one) at the real value-to-key head ratio; heads of 8; the real kernel."""
    nk = min(m["n_k_heads"], 2)
    return {**m, "n_k_heads": nk, "n_v_heads": nk * (m["n_v_heads"] // m["n_k_heads"]), "k_head_dim": HEAD_TOY,
            "v_head_dim": HEAD_TOY}


def _shrink_compressed(m: dict) -> dict:
    """4 heads of 8 in 2 output groups; window 3; CSA pools blocks of 2 (its indexer keeps 2 entries), HCA of 3."""
    out = {**m, "n_heads": 4, "head_dim": HEAD_TOY, "q_lora_rank": 6, "o_groups": 2, "o_lora_rank": 6,
           "window": min(m["window"], LOCAL_TOY), "rope": _rope_toy(m["rope"], HEAD_TOY)}
    if m.get("ratio"):
        out["ratio"] = min(m["ratio"], 2 if m.get("overlap") else LOCAL_TOY)
    if m.get("indexer"):
        out["indexer"] = {**m["indexer"], "n_heads": 2, "head_dim": 4, "topk": 2}
    return out


def _shrink_mlp(f: dict) -> dict:
    return {**f, "d_ff": FF_TOY}


def _shrink_moe(f: dict) -> dict:
    router = dict(f["router"])
    grouped = (router.get("n_groups") or 1) > 1
    if grouped:
        router.update(n_groups=2, topk_groups=1)
    out = {**f, "n_experts": 4, "top_k": min(f["top_k"], 2), "d_expert": EXPERT_TOY, "router": router}
    if f["n_shared_experts"]:
        out["d_shared"] = EXPERT_TOY * f["n_shared_experts"]
    if f.get("dense_mlp"):
        out["dense_mlp"] = FF_TOY
    if f.get("d_latent"):
        out["d_latent"] = LATENT_TOY
    return out


def _shrink_mamba(m: dict) -> dict:
    """Mamba-1 at expand 2 with a small state and Δ rank; the conv taps, biases and B/C/Δ norms as the model."""
    return {**m, "d_inner": INNER_TOY, "d_state": STATE_TOY, "dt_rank": RANK_TOY}


def _shrink_mamba2(m: dict) -> dict:
    """Two groups of two heads of 4 channels, a state of 4; the real kernel; chunks of 4 so a few tokens span two."""
    return {**m, "n_heads": 4, "head_dim": 4, "n_groups": 2, "d_state": 4,
            "chunk_size": m["chunk_size"] and min(m["chunk_size"], 4)}


SHRINK: dict[type, Callable[[dict], dict]] = {
    SoftmaxAttention: _shrink_attention, LatentAttention: _shrink_latent, GatedDeltaNet: _shrink_gdn, Mlp: _shrink_mlp,
    Moe: _shrink_moe, Mamba: _shrink_mamba,
    ShortConv: dict,  # the short conv has no width of its own: d_model, its taps as the model
    CompressedAttention: _shrink_compressed,
    Mamba2: _shrink_mamba2,
}


def toy_arch(arch: Arch, kind: str) -> Arch:
    """A one-layer model of block kind ``kind`` at toy widths, keeping the block's structure."""
    block = arch.blocks[kind]
    data = block.model_dump()
    for part in ("mixer", "ffn"):
        if getattr(block, part) is not None:
            data[part] = SHRINK[type(getattr(block, part))](data[part])
    d_model = D_TOY
    if isinstance(block.mixer, SoftmaxAttention) and arch.d_model == block.mixer.n_heads * block.mixer.head_dim:
        d_model = data["mixer"]["n_heads"] * HEAD_TOY  # keep d_model = heads × head_dim where the model has it
    return Arch.model_validate({
        "d_model": d_model, "n_layers": 1, "vocab_size": 32, "context_length": 64, "norm": arch.norm.model_dump(),
        "embedding": {"tied": True}, "final_norm": False, "layers": [kind], "blocks": {kind: data},
        "hyper_connections": arch.hyper_connections and arch.hyper_connections.model_dump(),
    }, strict=False)


# --- the toy computation ------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyStep:
    """The values of one step: its output, and intermediate values worth seeing."""

    op: str
    value: np.ndarray
    details: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _Run:
    """The recorder: weights in, one ToyStep per operation out."""

    arch: Arch
    w: dict[str, np.ndarray]
    ids: np.ndarray | None = None  # token ids, for hash routing
    steps: list[ToyStep] = field(default_factory=list)

    def rec(self, op: str, value: np.ndarray, **details: np.ndarray) -> np.ndarray:
        self.steps.append(ToyStep(op, value, details))
        return value

    def linear(self, op: str, x: np.ndarray, name: str | None = None) -> np.ndarray:
        name = name or op
        y = x @ self.w[f"{name}.weight"]
        return self.rec(op, y + self.w.get(f"{name}.bias", 0))

    def norm(self, op: str, name: str, x: np.ndarray, weights: bool = True) -> np.ndarray:
        n, w = self.arch.norm, self.w[f"{name}.weight"] if weights else 1.0
        eps = 1e-6 if name == "indexer.k_norm" else n.eps  # DeepseekV32Indexer: its own LayerNorm
        if n.kind == "layernorm" or name == "indexer.k_norm":
            mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
            y = (x - mean) / np.sqrt(var + eps) * w + self.w.get(f"{name}.bias", 0)
            return self.rec(op, y, mean=mean, variance=var)
        ms = (x * x).mean(-1, keepdims=True)
        r = 1 / np.sqrt(ms + eps)
        return self.rec(op, x * r * w, **{"mean of squares": ms, "rsqrt": r, "before the weight": x * r})


def _heads(x: np.ndarray, dim: int) -> np.ndarray:
    """(T, heads·dim) → (heads, T, dim)."""
    return x.reshape(x.shape[0], -1, dim).transpose(1, 0, 2)


def _rope(x: np.ndarray, rot: int, theta: float, pairs: bool, tail: bool = False, pos: np.ndarray | None = None,
          sign: float = 1.0) -> np.ndarray:
    """Rotate the first ``rot`` dims (the last with ``tail``) of (..., T, dim) by position (default 0…T−1; ``sign``
    −1 rotates back): halves (rotate_half) or adjacent pairs."""
    pos = np.arange(x.shape[-2]) if pos is None else pos
    ang = pos[:, None] * theta ** (-np.arange(0, rot, 2) / rot)  # (T, rot/2)
    cos, sin = np.cos(ang), sign * np.sin(ang)
    r, rest = (x[..., x.shape[-1] - rot:], x[..., :x.shape[-1] - rot]) if tail else (x[..., :rot], x[..., rot:])
    a, b = (r[..., 0::2], r[..., 1::2]) if pairs else (r[..., :rot // 2], r[..., rot // 2:])
    a2, b2 = a * cos - b * sin, a * sin + b * cos
    out = np.stack([a2, b2], -1).reshape(r.shape) if pairs else np.concatenate([a2, b2], -1)
    return np.concatenate([rest, out] if tail else [out, rest], -1)


def _causal(T: int, window: int | None = None, chunk: int | None = None) -> np.ndarray:
    """(T query, T key) True where a query may see a key: causal, within a window or a chunk."""
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    allowed = j <= i
    if chunk:
        allowed &= i // chunk == j // chunk
    elif window:
        allowed &= i - j < window
    return allowed


def _attend(R: _Run, q, k, v, scale, softcap, window, chunk, sinks: bool, extra_mask=None, mask=None,
            merge: bool = True) -> np.ndarray:
    """QKᵀ → scale → soft-cap → mask → (sinks) → softmax → × V → merge heads, as eager_attention_forward.

    ``mask`` (T query, S key) replaces the causal/window/chunk mask (keys beyond the sequence's own tokens);
    without ``merge`` the heads come back unmerged, (heads, T, dim)."""
    T, S = q.shape[1], k.shape[1]
    s = R.rec("scores = Q·Kᵀ", q @ k.transpose(0, 2, 1))
    s = R.rec("scale", s * scale)
    if softcap:
        s = R.rec("soft-cap", softcap * np.tanh(s / softcap))
    allowed = _causal(T, window, chunk) if mask is None else mask
    if extra_mask is not None:
        allowed = allowed & extra_mask
    masked = R.rec("mask", np.where(allowed, s, -np.inf), before=s)
    if sinks:
        sink = np.broadcast_to(R.w["sinks"][:, None, None], (*masked.shape[:2], 1))
        masked = R.rec("append sink logit", np.concatenate([masked, sink], -1))
    shifted = R.rec("subtract row max", masked - masked.max(-1, keepdims=True), **{"row max": masked.max(-1)})
    e = np.exp(shifted)
    p = e / e.sum(-1, keepdims=True)
    p = R.rec("softmax", p[..., :S], exp=e, **({"sink weight": p[..., S]} if sinks else {}))
    o = R.rec("weights × V", p @ v)
    return R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1)) if merge else o


def _softmax_attention(R: _Run, m: SoftmaxAttention, x: np.ndarray) -> np.ndarray:
    hd, vd = m.head_dim, m.value_dim
    q = R.linear("q_proj", x)
    if m.output_gate:  # Qwen3NextAttention: per head, head_dim queries then head_dim gates
        qg = q.reshape(len(x), -1, 2 * hd)
        gate = qg[..., hd:].reshape(len(x), -1)
        q = R.rec("split Q | gate", qg[..., :hd].reshape(len(x), -1), gate=gate)
    k = R.linear("k_proj", x)
    v = k if m.k_eq_v else R.linear("v_proj", x)
    if m.qk_norm == "full":
        q, k = R.norm("q_norm", "q_norm", q), R.norm("k_norm", "k_norm", k)
    q, k = R.rec("split Q heads", _heads(q, hd)), R.rec("split K heads", _heads(k, hd))
    v = R.rec("V = K" if m.k_eq_v else "split V heads", _heads(v, vd))
    if m.qk_norm == "head":
        q, k = R.norm("q_norm", "q_norm", q), R.norm("k_norm", "k_norm", k)
    if m.rope:
        rot = int(hd * m.rope.partial)
        q = R.rec("RoPE on Q", _rope(q, rot, m.rope.theta, False))
        k = R.rec("RoPE on K", _rope(k, rot, m.rope.theta, False))
    if m.qk_norm == "l2":
        eps = R.arch.norm.eps
        q = R.rec("L2 norm Q", q / np.sqrt((q * q).mean(-1, keepdims=True) + eps))
        k = R.rec("L2 norm K", k / np.sqrt((k * k).mean(-1, keepdims=True) + eps))
    if m.group_size > 1:
        k = R.rec("repeat K heads", np.repeat(k, m.group_size, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, m.group_size, axis=0))
    o = _attend(R, q, k, v, m.scale or hd ** -0.5, m.softcap, m.window, m.chunk, m.sinks)
    if m.output_gate:
        o = R.rec("output gate", o / (1 + np.exp(-gate)), **{"σ(gate)": 1 / (1 + np.exp(-gate))})
    return R.linear("o_proj", o)


def _latent_attention(R: _Run, m: LatentAttention, x: np.ndarray) -> np.ndarray:
    nope, rope, r, vd = m.qk_nope_head_dim, m.qk_rope_head_dim, m.kv_lora_rank, m.v_head_dim
    if m.q_lora_rank is None:
        q = R.linear("q_proj", x)
    else:
        cq = R.norm("q_a_layernorm", "q_a_layernorm", R.linear("q_a_proj", x))
        q = R.linear("q_b_proj", cq)
    q = R.rec("split Q heads", _heads(q, nope + rope))
    q_pe = R.rec("split Q nope | rope", q[..., nope:])
    ckv = R.linear("kv_a_proj_with_mqa", x)
    latent = R.rec("take latent c_kv", ckv[:, :r])
    k_pe = R.rec("take k_pe", ckv[None, :, r:])
    latent = R.norm("kv_a_layernorm", "kv_a_layernorm", latent)
    if m.rope:
        q_pe = R.rec("RoPE on q_pe", _rope(q_pe, rope, m.rope.theta, True))
        k_pe = R.rec("RoPE on k_pe", _rope(k_pe, rope, m.rope.theta, True))
    kv = R.rec("split KV heads", _heads(R.linear("kv_b_proj", latent), nope + vd))
    k_nope, v = R.rec("take k_nope", kv[..., :nope]), R.rec("take V", kv[..., nope:])
    q = R.rec("concat Q", np.concatenate([q[..., :nope], q_pe], -1))
    k = R.rec("concat K", np.concatenate([k_nope, np.broadcast_to(k_pe, (*k_nope.shape[:2], rope))], -1))
    keep = _indexer(R, m, x, cq) if m.indexer else None
    o = _attend(R, q, k, v, m.scale or (nope + rope) ** -0.5, m.softcap, m.window, None, False, keep)
    return R.linear("o_proj", o)


def _indexer(R: _Run, m: LatentAttention, x: np.ndarray, cq: np.ndarray) -> np.ndarray:
    """Lightning indexer: per head ReLU(q_I · k_I), weighted and summed; each query keeps its top-k tokens."""
    ix, T = m.indexer, x.shape[0]
    causal = np.arange(T)[None, :] <= np.arange(T)[:, None]
    if ix.shared:
        return R.rec("reuse top-k", causal)
    theta = m.rope.theta if m.rope else 10000.0
    qi = R.rec("split indexer Q heads", _heads(R.linear("indexer.wq_b", cq), ix.head_dim))  # (ih, T, ihd)
    ki = R.norm("indexer.k_norm", "indexer.k_norm", R.linear("indexer.wk", x))  # (T, ihd)
    qi = R.rec("RoPE on indexer Q", _rope(qi, m.qk_rope_head_dim, theta, False))
    ki = R.rec("RoPE on indexer K", _rope(ki[None], m.qk_rope_head_dim, theta, False)[0])
    wi = R.rec("indexer.weights_proj", x @ R.w["indexer.weights_proj.weight"] * ix.n_heads ** -0.5)  # (T, ih)
    per_head = np.maximum(np.einsum("htd,sd->hts", qi, ki) * ix.head_dim ** -0.5, 0)  # (ih, T query, T key)
    scores = R.rec("index scores", np.where(causal, (per_head * wi.T[:, :, None]).sum(0), -np.inf))
    best = np.argsort(-scores, -1, kind="stable")[:, :ix.topk]  # ties (ReLU zeros) go to the earlier token
    keep = np.zeros((T, T), dtype=bool)
    np.put_along_axis(keep, best, True, -1)
    return R.rec("top-k mask", causal & keep)


def _conv(x: np.ndarray, w: np.ndarray, bias: np.ndarray | float = 0) -> np.ndarray:
    """Depthwise causal conv over the tokens of x (T, width) with w (width, k): causal_conv1d_fn's F.conv1d
    with k − 1 zeros of padding, cut to the first T outputs."""
    k = w.shape[1]
    padded = np.concatenate([np.zeros((k - 1, x.shape[1])), x])  # (T + k − 1, width)
    return sum(w[:, j] * padded[j:j + len(x)] for j in range(k)) + bias


def _causal_conv(R: _Run, op: str, name: str, x: np.ndarray) -> np.ndarray:
    """:func:`_conv` with the layer's ``name.weight`` (and bias), its taps recorded for the page."""
    w = R.w[f"{name}.weight"]
    return R.rec(op, _conv(x, w, R.w.get(f"{name}.bias", 0)), taps=w.T)


def _mamba(R: _Run, m: Mamba, x: np.ndarray) -> np.ndarray:
    """FalconMambaMixer.forward's torch path, with mamba_selective_scan's sequential loop written out.

    The CUDA kernels (selective_scan_fn, mamba_inner_fn) compute the same recurrence in parallel.
    """
    di, n, r = m.d_inner, m.d_state, m.dt_rank
    xz = R.linear("in_proj", x)  # (T, 2 · d_inner)
    xs, z = R.rec("split x | z", xz[:, :di]), xz[:, di:]  # (T, d_inner) each
    xs = R.rec("activation (silu)", ACT["silu"](_causal_conv(R, "conv1d", "conv1d", xs)))
    dbc = R.linear("x_proj", xs)  # (T, dt_rank + 2 · d_state)
    dt, B, C = R.rec("take Δ", dbc[:, :r]), R.rec("take B", dbc[:, r:r + n]), R.rec("take C", dbc[:, r + n:])
    if m.bc_dt_norm_eps:
        dt, B, C = [R.rec(f"{t} norm", v / np.sqrt((v * v).mean(-1, keepdims=True) + m.bc_dt_norm_eps))
                    for t, v in (("Δ", dt), ("B", B), ("C", C))]
    dt = R.rec("softplus", np.logaddexp(0, R.linear("dt_proj", dt)))  # (T, d_inner)
    A = -np.exp(R.w["A_log"])  # (d_inner, d_state)
    decay = R.rec("discretise A", np.exp(dt[:, :, None] * A), A=A)  # (T, d_inner, d_state)
    u = R.rec("Δ·B·x", dt[:, :, None] * B[:, None, :] * xs[:, :, None])  # (T, d_inner, d_state)
    h, states = np.zeros((di, n)), []
    for t in range(len(x)):  # one token at a time, as the reference's loop
        h = decay[t] * h + u[t]
        states.append(h)
    states = R.rec("selective scan", np.stack(states))  # (T, d_inner, d_state): the state after each token
    y = R.rec("read out C·h", np.einsum("tcs,ts->tc", states, C))
    y = R.rec("D skip", y + R.w["D"] * xs)
    y = R.rec("gate y ⊙ SiLU(z)", y * ACT["silu"](z), z=z)
    return R.linear("out_proj", y)


def _short_conv(R: _Run, m: ShortConv, x: np.ndarray) -> np.ndarray:
    """Lfm2ShortConv.forward without a cache: B ⊙ x, the causal conv, C ⊙ conv (no activation)."""
    d = x.shape[1]
    bcx = R.linear("in_proj", x)  # (T, 3 · d_model)
    B, C, xs = [R.rec(f"take {t}", bcx[:, i * d:(i + 1) * d]) for i, t in enumerate("BCx")]
    u = R.rec("B ⊙ x", B * xs)
    y = R.rec("C ⊙ conv", C * _causal_conv(R, "conv", "conv", u))
    return R.linear("out_proj", y)


def _gated_deltanet(R: _Run, m: GatedDeltaNet, x: np.ndarray) -> np.ndarray:
    """Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet, the delta rule token by token as
    torch_recurrent_gated_delta_rule writes it (the chunked form transformers runs on a prompt is equivalent)."""
    T, nk, nv, dk, dv = len(x), m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim
    r, kd = nv // nk, nk * dk
    if m.fused_projections:  # grouped per key head: [q (dk) | k (dk) | v (r·dv) | z (r·dv)], [b (r) | a (r)]
        qkvz = R.linear("in_proj_qkvz", x).reshape(T, nk, -1)
        ba = R.linear("in_proj_ba", x).reshape(T, nk, 2 * r)
        q, k, v, z = np.split(qkvz, [dk, 2 * dk, 2 * dk + r * dv], -1)
        z = z.reshape(T, -1)
        mixed = R.rec("split q, k, v, z", np.concatenate([t.reshape(T, -1) for t in (q, k, v)], -1), z=z)
        a = ba[..., r:].reshape(T, nv)
        b = R.rec("split b, a", ba[..., :r].reshape(T, nv), a=a)
    else:
        mixed, z = R.linear("in_proj_qkv", x), R.linear("in_proj_z", x)
        b, a = R.linear("in_proj_b", x), R.linear("in_proj_a", x)
    conv = R.rec("causal conv1d", _conv(mixed, R.w["conv1d.weight"]))  # weight (conv_dim, kernel), no bias
    h = R.rec("SiLU", ACT["silu"](conv))
    q, k = R.rec("split Q heads", _heads(h[:, :kd], dk)), R.rec("split K heads", _heads(h[:, kd:2 * kd], dk))
    v = R.rec("split V heads", _heads(h[:, 2 * kd:], dv))
    beta = R.rec("β = σ(b)", 1 / (1 + np.exp(-b)))  # (T, nv)
    g = -np.exp(R.w["A_log"]) * np.logaddexp(0, a + R.w["dt_bias"])  # softplus(y) = log(1 + e^y)
    g = R.rec("g = −exp(A_log) · softplus(a + dt_bias)", g, **{"decay factor exp(g)": np.exp(g)})
    if r > 1:
        q, k = R.rec("repeat Q heads", np.repeat(q, r, 0)), R.rec("repeat K heads", np.repeat(k, r, 0))
    q = R.rec("L2 norm Q", q / np.sqrt((q * q).sum(-1, keepdims=True) + 1e-6))
    k = R.rec("L2 norm K", k / np.sqrt((k * k).sum(-1, keepdims=True) + 1e-6))
    q = R.rec("scale Q", q * dk ** -0.5)
    S = np.zeros((nv, dk, dv))  # one (dk, dv) state per value head
    read, delta, out = (np.zeros((nv, T, dv)) for _ in range(3))
    states = []
    for t in range(T):
        S = S * np.exp(g[t])[:, None, None]
        decayed = S
        read[:, t] = np.einsum("hkv,hk->hv", S, k[:, t])
        delta[:, t] = beta[t][:, None] * (v[:, t] - read[:, t])
        S = S + k[:, t, :, None] * delta[:, t, None, :]
        out[:, t] = np.einsum("hkv,hk->hv", S, q[:, t])
        states.append(S)
    R.rec("decay state", decayed)  # the values at the last token
    R.rec("read by k", read)
    R.rec("delta", delta)
    R.rec("write state", S, **{"state after each token": np.stack(states)})  # (T, nv, dk, dv)
    o = R.rec("read-out by q", out)
    o = R.norm("norm (gated)", "norm", o)
    o = R.rec("× silu(z)", o * ACT["silu"](_heads(z, dv)))
    o = R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1))
    return R.linear("out_proj", o)


def _compressed_attention(R: _Run, m: CompressedAttention, x: np.ndarray) -> np.ndarray:
    """DeepseekV4Attention without a cache: the window's K = V plus the compressed entries, sinks, grouped output."""
    T, h, hd, g = x.shape[0], m.n_heads, m.head_dim, m.o_groups
    rot, theta = int(hd * m.rope.partial), m.rope.theta
    cq = R.norm("q_a_norm", "q_a_norm", R.linear("q_a_proj", x))
    q = R.rec("split Q heads", _heads(R.linear("q_b_proj", cq), hd))
    q = R.norm("q_b_norm", "q_b_norm", q, weights=False)
    q = R.rec("RoPE on Q", _rope(q, rot, theta, True, tail=True))
    kv = R.rec("split KV head", R.norm("kv_norm", "kv_norm", R.linear("kv_proj", x))[None])
    kv = R.rec("RoPE on KV", _rope(kv, rot, theta, True, tail=True))  # (1, T, hd)
    mask = _causal(T, m.window)
    if m.ratio:
        entries = _pool(R, "compressor", m, x, rot)  # (n, hd)
        n = len(entries)
        visible = np.arange(n)[None, :] < ((np.arange(T) + 1) // m.ratio)[:, None]  # (T, n): block complete
        keep = _entry_indexer(R, m, x, cq, visible, rot) if m.indexer else R.rec("entry mask", visible)
        kv = R.rec("concat KV", np.concatenate([kv, entries[None]], 1))
        mask = np.concatenate([mask, keep], 1)
    k = R.rec("repeat KV head", np.repeat(kv, h, 0))
    o = _attend(R, q, k, k, hd ** -0.5, None, None, None, m.sinks, mask=mask, merge=False)  # (h, T, hd)
    o = R.rec("RoPE on O (inverse)", _rope(o, rot, theta, True, tail=True, sign=-1.0))  # V = K carried RoPE
    grouped = R.rec("group heads", o.transpose(1, 0, 2).reshape(T, g, -1))
    w = R.w["o_a_proj.weight"]  # (in per group, groups · o_lora_rank): group i uses columns i·r … (i + 1)·r
    a = R.rec("o_a_proj", np.einsum("tgi,gio->tgo", grouped, w.reshape(w.shape[0], g, -1).transpose(1, 0, 2)))
    return R.linear("o_b_proj", R.rec("flatten groups", a.reshape(T, -1)))


def _pool(R: _Run, name: str, m: CompressedAttention, x: np.ndarray, rot: int) -> np.ndarray:
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
    return R.rec(f"RoPE on {name} entries", _rope(pooled, rot, m.rope.theta, True, tail=True, pos=np.arange(n) * r))


def _entry_indexer(R: _Run, m: CompressedAttention, x: np.ndarray, cq: np.ndarray, visible: np.ndarray,
                   rot: int) -> np.ndarray:
    """DeepseekV4Indexer: Σ_h w_h · ReLU(q_h · e) over the indexer's own entries; each query keeps its top-k."""
    ix = m.indexer
    keys = _pool(R, "indexer", m, x, rot)  # (n, ihd)
    qi = R.rec("split indexer Q heads", _heads(R.linear("indexer.q_b_proj", cq), ix.head_dim))
    qi = R.rec("RoPE on indexer Q", _rope(qi, rot, m.rope.theta, True, tail=True))
    per_head = R.rec("indexer scores", np.maximum(qi @ keys.T, 0) * ix.head_dim ** -0.5)  # (ih, T, n)
    wi = R.rec("indexer.weights_proj", x @ R.w["indexer.weights_proj.weight"] * ix.n_heads ** -0.5)  # (T, ih)
    scores = R.rec("weighted sum over heads", np.where(visible, (per_head * wi.T[:, :, None]).sum(0), -np.inf))
    best = np.argsort(-scores, -1, kind="stable")[:, :min(ix.topk, scores.shape[1])]  # ties: the earlier entry
    keep = np.zeros_like(visible)
    np.put_along_axis(keep, best, True, -1)
    return R.rec("top-k entries", keep & visible)


def _mamba2(R: _Run, m: Mamba2, x: np.ndarray) -> np.ndarray:
    """NemotronHMamba2Mixer's torch path, with its chunked scan (``mamba2_chunk_scan``) written as the sequential
    recurrence it regroups: both give the same y up to rounding. The chunked path also clamps Δ from below at
    ``time_step_min`` (1e-3; not in the spec): the toy leaves that out (tests/test_toy.py checks it never bites)."""
    T, H, P, G, N = len(x), m.n_heads, m.head_dim, m.n_groups, m.d_state
    inner, conv = m.inner, m.conv_dim
    zxbcdt = R.linear("in_proj", x)  # (T, inner + conv + H)
    z = R.rec("take gate z", zxbcdt[:, :inner])
    xbc = R.rec("take xBC", zxbcdt[:, inner:inner + conv])
    dt = R.rec("take dt", zxbcdt[:, inner + conv:])
    xbc = R.rec("causal conv1d", _conv(xbc, R.w["conv1d.weight"].T, R.w.get("conv1d.bias", 0)))  # weight (k, conv)
    xbc = R.rec("activation (silu)", ACT["silu"](xbc))
    xs = R.rec("take x", _heads(xbc[:, :inner], P))  # (H, T, P)
    B = R.rec("take B", _heads(xbc[:, inner:inner + G * N], N))  # (G, T, N)
    C = R.rec("take C", _heads(xbc[:, inner + G * N:], N))
    delta = R.rec("Δ = softplus(dt + dt_bias)", np.logaddexp(0, dt + R.w["dt_bias"]))  # (T, H)
    B = R.rec("repeat B groups", np.repeat(B, H // G, axis=0))  # (H, T, N)
    C = R.rec("repeat C groups", np.repeat(C, H // G, axis=0))
    A = -np.exp(R.w["A_log"])  # (H,)
    a = R.rec("decay exp(Δ·A)", np.exp(delta * A), A=A)  # (T, H)
    h = np.zeros((H, P, N))
    states = []
    for t in range(T):  # h_t = a_t · h_{t−1} + Δ_t · x_t ⊗ B_t, per head
        h = a[t, :, None, None] * h + (delta[t, :, None] * xs[:, t])[..., None] * B[:, t, None, :]
        states.append(h)
    hs = R.rec("state update", np.stack(states))  # (T, H, P, N)
    y = np.einsum("thpn,htn->htp", hs, C) + R.w["D"][:, None, None] * xs
    y = R.rec("read-out y = C·h + D·x", y)  # (H, T, P)
    y = R.rec("merge heads", y.transpose(1, 0, 2).reshape(T, inner))
    y = R.rec("gate y ⊙ SiLU(z)", y * ACT["silu"](z))
    grouped = y.reshape(T, G, inner // G)
    ms = (grouped * grouped).mean(-1, keepdims=True)
    normed = (grouped / np.sqrt(ms + R.arch.norm.eps)).reshape(T, inner)
    y = R.rec("gated norm", normed * R.w["norm.weight"], **{"mean of squares per group": ms[..., 0]})
    return R.linear("out_proj", y)


ACT = {
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
    "relu": lambda x: np.maximum(x, 0),
    "relu2": lambda x: np.maximum(x, 0) ** 2,
}


def _erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return np.vectorize(erf)(x)


def _mlp_chain(R: _Run, name: str, f, gated: bool, x: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """gate/up → act (→ ⊙) → down; with ``idx`` (T, k) each token's row goes through its chosen experts."""
    def proj(op: str, h: np.ndarray) -> np.ndarray:
        w, b = R.w[f"{name}{op}.weight"], R.w.get(f"{name}{op}.bias")
        if idx is None:
            y = h @ w + (0 if b is None else b)
        else:  # w (E, in, out): x (T, in) for gate/up, h (T, k, in) for down
            y = np.einsum("ti,tkio->tko" if h.ndim == 2 else "tki,tkio->tko", h, w[idx])
            y = y + (0 if b is None else b[idx])
        return R.rec(f"{name}{op}", y)

    act = f.activation
    if not gated:
        u = proj("up_proj", x)
        return proj("down_proj", R.rec(f"activation ({act})", ACT[act](u)))
    g, u = proj("gate_proj", x), proj("up_proj", x)
    if act == "swish_clamped":
        gc, uc = np.minimum(g, SWIGLU_LIMIT), np.clip(u, -SWIGLU_LIMIT, SWIGLU_LIMIT)
        h = R.rec("gate · act(up + 1)", gc / (1 + np.exp(-SWIGLU_ALPHA * gc)) * (uc + 1))
    elif act == "silu_clamped":  # DeepseekV4Experts / DeepseekV4MLP
        a = R.rec("activation (silu_clamped)", ACT["silu"](np.minimum(g, SILU_CLAMP)))
        h = R.rec("a ⊙ u", a * np.clip(u, -SILU_CLAMP, SILU_CLAMP))
    else:
        a = R.rec(f"activation ({act})", ACT[act](g))
        h = R.rec("a ⊙ u", a * u)
    return proj("down_proj", h)


def _mlp(R: _Run, f: Mlp, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    return _mlp_chain(R, "", f, f.gated, x)


def _router(R: _Run, f: Moe, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chosen expert ids (T, k), their weights (T, k))."""
    r, k = f.router, f.top_k
    if r.scale:
        x = R.norm("router norm", "router.norm", x, weights=False)
        x = R.rec("router input scale", x * R.w["router.scale"] * x.shape[-1] ** -0.5)
    z = R.linear("router logits", x, "router")
    if r.scoring == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        s = R.rec("scores (softmax)", e / e.sum(-1, keepdims=True))
    elif r.scoring == "sqrtsoftplus":
        s = R.rec("scores (sqrtsoftplus)", np.sqrt(np.logaddexp(0, z)))
    else:
        s = R.rec("scores (sigmoid)", 1 / (1 + np.exp(-z)))
    choose = s
    if r.correction_bias:
        choose = R.rec("add correction bias", s + R.w["router.correction_bias"])
    if r.n_groups and r.n_groups > 1:
        grouped = choose.reshape(len(s), r.n_groups, -1)
        best = np.sort(grouped, -1)[..., ::-1]
        group_score = best[..., :2].sum(-1) if r.correction_bias else best[..., 0]
        keep = np.argsort(-group_score, -1, kind="stable")[:, :r.topk_groups]
        mask = np.zeros_like(group_score, dtype=bool)
        np.put_along_axis(mask, keep, True, -1)
        choose = R.rec("group top-k", np.where(np.repeat(mask, grouped.shape[-1], -1), choose, 0.0))
    if r.hash:  # DeepseekV4HashRouter: the token id picks the experts
        idx = R.w["router.tid2eid"][R.ids]
        w = R.rec("hash pick", np.take_along_axis(s, idx, -1), experts=idx)
    else:
        idx = np.argsort(-choose, -1, kind="stable")[:, :k]
        w = R.rec("top-k", np.take_along_axis(s, idx, -1), experts=idx)
    if r.normalize_topk:
        w = R.rec("normalise top-k", w / w.sum(-1, keepdims=True))
    if r.weight_scale != 1:
        w = R.rec("scale weights", w * r.weight_scale)
    if r.scale:
        w = R.rec("per-expert scale", w * R.w["router.per_expert_scale"][idx])
    return idx, w


def _experts(R: _Run, f: Moe, x: np.ndarray, idx: np.ndarray, w: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
    """The routed experts' weighted sum, plus the shared expert (``s`` when it already ran)."""
    xe = R.linear("fc1_latent_proj", x) if f.d_latent else x  # NemotronHMoE: experts in a latent
    y = _mlp_chain(R, "experts.", f, f.gated, xe, idx)
    y = R.rec("weighted sum of experts", (w[..., None] * y).sum(1))
    if f.d_latent:
        y = R.linear("fc2_latent_proj", y)
    if f.n_shared_experts:
        s = _mlp_chain(R, "shared_expert.", f, f.gated, x) if s is None else s
        if f.shared_gate:
            gamma = R.linear("shared_expert_gate", x)
            s = R.rec("gate shared expert", s / (1 + np.exp(-gamma)))
        y = R.rec("add shared expert", y + s)
    return y


def _moe(R: _Run, f: Moe, x: np.ndarray, resid: np.ndarray) -> np.ndarray:
    if not f.dense_mlp:  # Qwen2MoeSparseMoeBlock runs a gated shared expert's MLP before the router
        s = _mlp_chain(R, "shared_expert.", f, f.gated, x) if f.shared_gate else None
        idx, w = _router(R, f, x)
        return _experts(R, f, x, idx, w, s)
    dense = R.norm("mlp norm (post)", "post_mlp_norm", _mlp_chain(R, "", f, f.gated, x))
    idx, w = _router(R, f, resid)
    y = _experts(R, f, R.norm("experts norm (pre)", "experts_norm", resid), idx, w)
    y = R.norm("experts norm (post)", "post_experts_norm", y)
    return R.rec("add mlp and experts", dense + y)


TOY_MIXERS: dict[type, Callable] = {SoftmaxAttention: _softmax_attention, LatentAttention: _latent_attention,
                                    GatedDeltaNet: _gated_deltanet, Mamba: _mamba, ShortConv: _short_conv,
                                    CompressedAttention: _compressed_attention, Mamba2: _mamba2}
TOY_FFNS: dict[type, Callable] = {Mlp: _mlp, Moe: _moe}


def toy_forward(arch: Arch, weights: dict[str, np.ndarray], x: np.ndarray,
                ids: np.ndarray | None = None) -> list[ToyStep]:
    """Run the one layer of the toy ``arch`` on ``x`` (T, d_model), or (T, streams, d_model) with hyper-connections;
    one ToyStep per trace step. ``ids``: the token ids hash routing reads (default 0, 1, …, T − 1: fixed, not drawn)."""
    R = _Run(arch, weights, np.arange(len(x)) % arch.vocab_size if ids is None else ids)
    block = arch.blocks[arch.layers[0]]
    if block.parallel:
        h = R.norm("norm (shared)", "norm", x) if block.shared_norm else R.norm("attention norm", "attn_norm", x)
        a = TOY_MIXERS[type(block.mixer)](R, block.mixer, h)
        if not block.shared_norm:
            h = R.norm("ffn norm", "ffn_norm", x)
        f = TOY_FFNS[type(block.ffn)](R, block.ffn, h, x)
        R.rec("residual add", x + a + f)
        return R.steps
    for sub, label in ((block.mixer, mixer_label(block.mixer)), (block.ffn, "ffn")):
        if sub is None:
            continue

        def sublayer(x: np.ndarray) -> np.ndarray:
            h = x if block.norm_placement == "post" else R.norm(f"{label} norm (pre)", f"{label}_norm", x)
            y = TOY_MIXERS[type(sub)](R, sub, h) if sub is block.mixer else TOY_FFNS[type(sub)](R, sub, h, x)
            return R.norm(f"{label} norm (post)", f"post_{label}_norm", y) if block.norm_placement in (
                "post", "sandwich") else y

        x = _hyper(R, f"{label}_hc", x, sublayer) if arch.hyper_connections else R.rec("residual add", x + sublayer(x))
    return R.steps


_INIT = {  # parameters drawn by their own rule: Gated DeltaNet's decay rates and convolution taps
    "A_log": lambda rng, shape: np.log(rng.uniform(0.1, 1.0, shape)),  # decay exp(g) mostly between 0.3 and 0.95
    "dt_bias": lambda rng, shape: 0.2 * rng.standard_normal(shape),
    "conv1d.weight": lambda rng, shape: rng.standard_normal(shape) / np.sqrt(shape[-1]),  # (channels, kernel)
}


def _hyper(R: _Run, name: str, x: np.ndarray, sublayer: Callable) -> np.ndarray:
    """DeepseekV4HyperConnection and the mixing of DeepseekV4DecoderLayer around one sublayer; x (T, n, d)."""
    T, n, d = x.shape
    hc = R.arch.hyper_connections
    flat = R.norm(f"{name}: input norm", "", R.rec(f"{name}: flatten streams", x.reshape(T, n * d)), weights=False)
    m = R.rec(f"{name}: mix logits", flat @ R.w[f"{name}.fn"])
    m = R.rec(f"{name}: scale + base", m * np.repeat(R.w[f"{name}.scale"], [n, n, n * n]) + R.w[f"{name}.base"])
    pre = R.rec(f"{name}: pre weights", 1 / (1 + np.exp(-m[:, :n])) + HC_EPS)
    post = R.rec(f"{name}: post weights", 2 / (1 + np.exp(-m[:, n:2 * n])))
    z = m[:, 2 * n:].reshape(T, n, n)
    e = np.exp(z - z.max(-1, keepdims=True))
    comb = R.rec(f"{name}: comb weights", e / e.sum(-1, keepdims=True) + HC_EPS)
    comb = comb / (comb.sum(-2, keepdims=True) + HC_EPS)  # Sinkhorn-Knopp: columns, then rows and columns
    for _ in range(hc.sinkhorn_iters - 1):
        comb = comb / (comb.sum(-1, keepdims=True) + HC_EPS)
        comb = comb / (comb.sum(-2, keepdims=True) + HC_EPS)
    comb = R.rec(f"{name}: Sinkhorn", comb, **{"row sums": comb.sum(-1), "column sums": comb.sum(-2)})
    y = sublayer(R.rec(f"{name}: collapse streams", (pre[..., None] * x).sum(1)))
    expanded = R.rec(f"{name}: expand (post)", post[..., None] * y[:, None, :])
    mixed = R.rec(f"{name}: mix streams (comb)", np.einsum("tjk,tjd->tkd", comb, x))
    return R.rec("residual add", expanded + mixed)


def toy_weights(arch: Arch, seed: int = 0) -> dict[str, np.ndarray]:
    """Random weights for every parameter the trace names (norm weights near 1, small biases), plus buffers."""
    rng = np.random.default_rng(seed)
    weights = {}
    for step in trace(arch, 0, 1):
        for p in step.params:
            if p.name in _INIT:
                weights[p.name] = _INIT[p.name](rng, p.shape)
            elif ("norm" in p.name and p.name.endswith(".weight")) or p.name.startswith("router.") and "scale" in p.name \
                    or p.name.endswith("hc.scale"):
                weights[p.name] = 1 + 0.2 * rng.standard_normal(p.shape)  # scales near 1
            elif p.name == "A_log":  # near the S4D-real init: A = −(1 … d_state) in every channel
                weights[p.name] = np.log(np.arange(1, p.shape[-1] + 1)) + 0.1 * rng.standard_normal(p.shape)
            elif p.name == "D":  # the skip, near its init of ones
                weights[p.name] = 1 + 0.2 * rng.standard_normal(p.shape)
            elif p.name.endswith("conv1d.weight") or p.name == "conv.weight":  # (channels, taps): fan-in = taps
                weights[p.name] = rng.standard_normal(p.shape) / np.sqrt(p.shape[-1])
            elif p.name.endswith((".bias", "hc.base", "position_bias")) or p.name == "sinks" or len(p.shape) == 1:
                weights[p.name] = 0.2 * rng.standard_normal(p.shape)
            else:
                weights[p.name] = rng.standard_normal(p.shape) / np.sqrt(p.shape[-2])  # fan-in scaled
    ffn = arch.blocks[arch.layers[0]].ffn
    if isinstance(ffn, Moe) and ffn.router.correction_bias:  # a buffer, not a parameter
        weights["router.correction_bias"] = 0.1 * rng.standard_normal(ffn.n_experts)
    if isinstance(ffn, Moe) and ffn.router.hash:  # a buffer: token id → top_k distinct experts
        weights["router.tid2eid"] = np.stack([rng.permutation(ffn.n_experts)[:ffn.top_k]
                                              for _ in range(arch.vocab_size)])
    return weights


@dataclass(frozen=True)
class Toy:
    """A toy layer run: its architecture, weights, input and the values of every step."""

    arch: Arch
    weights: dict[str, np.ndarray]
    x: np.ndarray
    steps: list[ToyStep]

    @property
    def out(self) -> np.ndarray:
        return self.steps[-1].value


def toy_trace(spec_or_arch: Spec | Arch, layer: int, seq: int = 6, seed: int = 0) -> Toy:
    """The toy version of layer ``layer`` run on ``seq`` random token vectors with seed ``seed``."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    toy = toy_arch(arch, arch.layers[layer])
    weights = toy_weights(toy, seed)
    streams = (toy.hyper_connections.streams,) if toy.hyper_connections else ()  # DeepSeek-V4: (T, n, d)
    x = np.random.default_rng(seed + 1).standard_normal((seq, *streams, toy.d_model))
    return Toy(toy, weights, x, toy_forward(toy, weights, x))
