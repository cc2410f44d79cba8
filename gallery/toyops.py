"""The vocabulary of a toy run: the recorder a toy layer writes one :class:`ToyStep` per trace step into, and the
NumPy helpers kind modules compute with (heads, RoPE, masks, eager attention, a causal convolution, activations).

Numerical conventions follow transformers: RoPE rotates halves (``rotate_half``) or adjacent pairs; attention is
``eager_attention_forward`` (scores, scale, soft-cap, mask, sinks, softmax with the row max subtracted, × V);
the causal convolution is ``causal_conv1d_fn``'s ``F.conv1d`` with ``k − 1`` zeros of left padding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .spec import Arch

D_TOY, HEAD_TOY, LOCAL_TOY = 16, 8, 3  # toy d_model, head width, and windows/chunks/top-k cut so they bite


def rope_toy(rope: dict | None, head_dim: int) -> dict | None:
    """RoPE on an even number of the toy head's dims, close to the real fraction; no context scaling, but
    proportional RoPE (which decides which dims turn at which frequency) and the dims it pairs kept."""
    if rope is None:
        return None
    rot = max(2, round(head_dim * rope.get("partial", 1.0) / 2) * 2)
    kept = {"scaling": {"type": "proportional"}} if is_proportional(rope) else {}
    kept |= {"pairs": True} if rope.get("pairs") else {}
    return {"theta": rope["theta"], **({"partial": rot / head_dim} if rot < head_dim else {}), **kept}


def is_proportional(rope) -> bool:
    """Gemma 4's global layers: rope_type 'proportional' (``_compute_proportional_rope_parameters``)."""
    scaling = rope.get("scaling") if isinstance(rope, dict) else rope.scaling
    return bool(scaling) and (scaling["type"] if isinstance(scaling, dict) else scaling.type) == "proportional"


@dataclass(frozen=True)
class ToyStep:
    """The values of one step: its output, and intermediate values worth seeing."""

    op: str
    value: np.ndarray
    details: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Run:
    """The recorder: weights in, one ToyStep per operation out."""

    arch: Arch
    w: dict[str, np.ndarray]
    ids: np.ndarray | None = None  # token ids, for hash routing
    plan: list | None = None  # the trace's Steps for these tokens: the op list is the trace's, each record checked
    steps: list[ToyStep] = field(default_factory=list)
    after: dict = field(default_factory=dict)  # op → a function of its value run right after it (adapters.py)

    def rec(self, op: str, value: np.ndarray, **details: np.ndarray) -> np.ndarray:
        """Record one step's value. The trace names the ops: a record that is not the trace's next step (its op and
        its output shape) is a bug in a kind's toy, raised here rather than shown beside the wrong trace row."""
        if self.plan is not None:
            i = len(self.steps)
            want = self.plan[i] if i < len(self.plan) else None
            if want is None or (want.op, want.out_shape) != (op, np.shape(value)):
                raise AssertionError(f"toy step {i} {op!r} {np.shape(value)} is not the trace's "
                                     f"{(want.op, want.out_shape) if want else 'end'}")
        self.steps.append(ToyStep(op, value, details))
        hook = self.after.get(op)
        return value if hook is None else hook(value)

    def done(self) -> list[ToyStep]:
        """The recorded steps, once every step of the trace has its value."""
        if self.plan is not None and len(self.steps) != len(self.plan):
            raise AssertionError(f"the toy stopped after {len(self.steps)} of the trace's {len(self.plan)} steps")
        return self.steps

    def linear(self, op: str, x: np.ndarray, name: str | None = None) -> np.ndarray:
        name = name or op
        y = x @ self.w[f"{name}.weight"]
        return self.rec(op, y + self.w.get(f"{name}.bias", 0))

    def norm(self, op: str, name: str, x: np.ndarray, weights: bool = True, eps: float | None = None) -> np.ndarray:
        """The model's norm of ``x`` (``eps``: a norm's own, where a kind says it differs from the usual one)."""
        n = self.arch.norm
        w = self.w[f"{name}.weight"] if weights and n.weights else 1.0
        if np.ndim(w) == 2:  # a weight row per head (QK-norm per head), x is (heads, T, head_dim)
            w = w[:, None, :]
        # DeepseekV32Indexer's own LayerNorm, and MLA's latent norms (DeepseekV2RMSNorm(q_lora_rank / kv_lora_rank),
        # the class default eps whatever rms_norm_eps says): 1e-6
        eps = eps or (1e-6 if name in ("indexer.k_norm", "q_a_layernorm", "kv_a_layernorm") else n.eps)
        if n.kind == "layernorm" or name == "indexer.k_norm":
            mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
            y = (x - mean) / np.sqrt(var + eps) * w + self.w.get(f"{name}.bias", 0)
            return self.rec(op, y, mean=mean, variance=var)
        ms = (x * x).mean(-1, keepdims=True)
        r = 1 / np.sqrt(ms + eps)
        y = x * r * w + (self.w.get(f"{name}.bias", 0) if weights and n.weights else 0)  # xLSTMRMSNorm's use_bias
        return self.rec(op, y, **{"mean of squares": ms, "rsqrt": r, "before the weight": x * r})


def heads(x: np.ndarray, dim: int) -> np.ndarray:
    """(T, heads·dim) → (heads, T, dim)."""
    return x.reshape(x.shape[0], -1, dim).transpose(1, 0, 2)


def rotate(x: np.ndarray, rot: int, theta: float, pairs: bool, tail: bool = False, pos: np.ndarray | None = None,
          sign: float = 1.0, proportional: bool = False) -> np.ndarray:
    """Rotate the first ``rot`` dims (the last with ``tail``) of (..., T, dim) by position (default 0…T−1; ``sign``
    −1 rotates back): halves (rotate_half) or adjacent pairs.

    ``proportional`` (Gemma 4's global layers, ``_compute_proportional_rope_parameters``): the frequencies of RoPE
    over the whole head, θ^(−2i/dim), with all but the first rot/2 set to 0; rotate_half then turns dim j with dim
    j + dim/2 for j < rot/2 and leaves the other dims as they are."""
    pos = np.arange(x.shape[-2]) if pos is None else pos
    if proportional:
        dim = x.shape[-1]
        ang = pos[:, None] * (theta ** (-np.arange(0, dim, 2) / dim) * (np.arange(dim // 2) < rot // 2))
        rot = dim
    else:
        ang = pos[:, None] * theta ** (-np.arange(0, rot, 2) / rot)  # (T, rot/2)
    cos, sin = np.cos(ang), sign * np.sin(ang)
    r, rest = (x[..., x.shape[-1] - rot:], x[..., :x.shape[-1] - rot]) if tail else (x[..., :rot], x[..., rot:])
    a, b = (r[..., 0::2], r[..., 1::2]) if pairs else (r[..., :rot // 2], r[..., rot // 2:])
    a2, b2 = a * cos - b * sin, a * sin + b * cos
    out = np.stack([a2, b2], -1).reshape(r.shape) if pairs else np.concatenate([a2, b2], -1)
    return np.concatenate([rest, out] if tail else [out, rest], -1)


def causal(T: int, window: int | None = None, chunk: int | None = None) -> np.ndarray:
    """(T query, T key) True where a query may see a key: causal, within a window or a chunk."""
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    allowed = j <= i
    if chunk:
        allowed &= i // chunk == j // chunk
    elif window:
        allowed &= i - j < window
    return allowed


def attend(R: Run, q, k, v, scale, softcap, window, chunk, sinks: "bool | np.ndarray", extra_mask=None, mask=None,
            merge: bool = True, bias: np.ndarray | None = None, bias_op: str = "ALiBi bias") -> np.ndarray:
    """QKᵀ → scale → soft-cap → (bias) → mask → (sinks) → softmax → × V → merge heads, as eager_attention_forward.

    ``mask`` (T query, S key) replaces the causal/window/chunk mask (keys beyond the sequence's own tokens);
    ``bias`` (heads, T, S) is added to the scores (ALiBi, the relative bias, the dynamic mask's; ``bias_op`` names its
    step); without ``merge`` the heads come back unmerged,
    (heads, T, dim)."""
    T, S = q.shape[1], k.shape[1]
    s = R.rec("scores = Q·Kᵀ", q @ k.transpose(0, 2, 1))
    s = R.rec("scale", s * scale)
    if softcap:
        s = R.rec("soft-cap", softcap * np.tanh(s / softcap))
    if bias is not None:
        s = R.rec(bias_op, s + bias, bias=np.broadcast_to(bias, s.shape))
    allowed = causal(T, window, chunk) if mask is None else mask
    if extra_mask is not None:
        allowed = allowed & extra_mask
    masked = R.rec("mask", np.where(allowed, s, -np.inf), before=s)
    sinks = None if sinks is False or sinks is None else R.w["sinks"][:, None] if sinks is True else sinks
    if sinks is not None:  # a learned logit per head, (heads, 1), or the kind's per head and query, (heads, T)
        sink = np.broadcast_to(sinks[..., None], (*masked.shape[:2], 1))
        masked = R.rec("append sink logit", np.concatenate([masked, sink], -1))
    shifted = R.rec("subtract row max", masked - masked.max(-1, keepdims=True), **{"row max": masked.max(-1)})
    e = np.exp(shifted)
    p = e / e.sum(-1, keepdims=True)
    p = R.rec("softmax", p[..., :S], exp=e, **({"sink weight": p[..., S]} if sinks is not None else {}))
    o = R.rec("weights × V", p @ v)
    return R.rec("merge heads", o.transpose(1, 0, 2).reshape(T, -1)) if merge else o


def conv(x: np.ndarray, w: np.ndarray, bias: np.ndarray | float = 0) -> np.ndarray:
    """Depthwise causal conv over the tokens of x (T, width) with w (width, k): causal_conv1d_fn's F.conv1d
    with k − 1 zeros of padding, cut to the first T outputs."""
    k = w.shape[1]
    padded = np.concatenate([np.zeros((k - 1, x.shape[1])), x])  # (T + k − 1, width)
    return sum(w[:, j] * padded[j:j + len(x)] for j in range(k)) + bias


def causal_conv(R: Run, op: str, name: str, x: np.ndarray) -> np.ndarray:
    """:func:`conv` with the layer's ``name.weight`` (and bias), its taps recorded for the page."""
    w = R.w[f"{name}.weight"]
    return R.rec(op, conv(x, w, R.w.get(f"{name}.bias", 0)), taps=w.T)


def delta_rule(R: Run, q: np.ndarray, k: np.ndarray, v: np.ndarray, beta: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """The gated delta rule token by token (torch_recurrent_gated_delta_rule, recurrent_kimi_delta_attention): per
    head, S ← decay_t · S, read m_t = k_tᵀ S, write S ← S + k_t ⊗ β_t (v_t − m_t), read out o_t = q_tᵀ S.

    q, k (heads, T, dk); v (heads, T, dv); beta (T, heads); decay (T, heads, dk or 1, 1), the factors exp(g) that
    scale the state's key rows. Records the decay, read, delta and write steps; returns the recorded read-out."""
    h, T, dk = k.shape
    S = np.zeros((h, dk, v.shape[-1]))  # one (dk, dv) state per head, zeros before the first token
    read, delta, out = (np.zeros(v.shape) for _ in range(3))
    states = []
    for t in range(T):
        S = S * decay[t]
        decayed = S
        read[:, t] = np.einsum("hkv,hk->hv", S, k[:, t])
        delta[:, t] = beta[t][:, None] * (v[:, t] - read[:, t])
        S = S + k[:, t, :, None] * delta[:, t, None, :]
        out[:, t] = np.einsum("hkv,hk->hv", S, q[:, t])
        states.append(S)
    R.rec("decay state", decayed)  # the values at the last token
    R.rec("read by k", read)
    R.rec("delta", delta)
    R.rec("write state", S, **{"state after each token": np.stack(states)})  # (T, heads, dk, dv)
    return R.rec("read-out by q", out)


ACT = {
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
    "relu": lambda x: np.maximum(x, 0),
    "relu2": lambda x: np.maximum(x, 0) ** 2,
}


def erf(x: np.ndarray) -> np.ndarray:
    from math import erf

    return np.vectorize(erf)(x)
