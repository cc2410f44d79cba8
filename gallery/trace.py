"""Trace one layer by hand: every operation of a decoder layer, in the order the reference runs it.

``trace(spec_or_arch, layer, seq)`` lists the steps of layer ``layer`` for a sequence of ``seq`` tokens:
each :class:`Step` has its input and output shapes, the parameters it multiplies with (name, shape),
its FLOPs and a one-line formula. The order follows the transformers modeling code of the families
(``LlamaDecoderLayer``/``LlamaAttention``/``eager_attention_forward``, ``Gemma2Attention`` for soft-capping,
``GptOssAttention`` for sinks, ``Olmo2DecoderLayer`` for post-norm, ``GPTJBlock`` for the parallel block,
``DeepseekV2Attention`` for MLA, ``Qwen3NextAttention`` for the output gate, ``Qwen3NextGatedDeltaNet`` with
``torch_recurrent_gated_delta_rule`` for Gated DeltaNet, the MoE blocks of Mixtral, Qwen2-MoE, DeepSeek-V3 and Gemma 4;
``DeepseekV4Attention`` with its compressors and indexer, ``DeepseekV4HyperConnection`` and the hash router for
DeepSeek-V4, whose layer reads and writes its ``streams`` residual copies, (T, streams, d_model);
``NemotronHMamba2Mixer.torch_forward`` for Mamba-2 and ``NemotronHMoE`` for latent experts).

Shapes: ``T`` tokens, token-major ``(T, width)``, per head ``(heads, T, dim)``. Weights are written
``(in, out)`` as the formula ``y = x · W`` reads them. FLOPs: a product with weights costs
``2 × T × weights`` (the :mod:`gallery.flops` convention; routed experts count the ``top_k`` a token
uses), QKᵀ and weights × V cost ``2 × heads × T × T × dim`` as the eager code computes the whole
score matrix before masking; a Gated DeltaNet state update costs 2 FLOPs per state element and token for each of
its read by the key, rank-1 write and read-out by the query (:data:`gallery.flops.STATE_FLOPS`); elementwise steps count one FLOP per element per arithmetic operation
(approximate, and small).

Structure: one function per mixer class and per ffn class, dispatched by :data:`MIXERS` and :data:`FFNS`
(keyed on the spec class), and :func:`layer_steps` wires them with the block's norms and residuals
(pre, post, sandwich, parallel, shared norm). **Adding a mixer kind is one function returning its steps
from ``(T, d_model)`` back to ``(T, d_model)`` plus one entry in** :data:`MIXERS` (likewise :data:`FFNS`).
Embeddings, learned positions, the final norm and the head are outside a layer and not traced.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Callable

from .spec import (Arch, CompressedAttention, GatedDeltaNet, LatentAttention, Mamba, Mamba2, Mlp, Moe, ShortConv,
                   SoftmaxAttention, Spec)

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Param:
    """One parameter tensor a step uses: its name in the layer and its shape."""

    name: str
    shape: Shape

    @property
    def count(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class Step:
    """One operation of the layer."""

    op: str  # e.g. "q_proj", "softmax"
    part: str  # the sub-block it belongs to: "attention", "mlp", "experts", "router", "norm", "residual"...
    in_shape: Shape
    out_shape: Shape
    formula: str
    flops: int = 0
    params: tuple[Param, ...] = ()
    matmul: bool = False  # a product with weights: flops = 2 × T × weights (of the active experts)

    @property
    def n_params(self) -> int:
        return sum(p.count for p in self.params)

    def row(self) -> dict:
        """A flat record for tables, CSV and JSON."""
        return {"op": self.op, "part": self.part, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape),
                "params": self.n_params, "param_shapes": {p.name: list(p.shape) for p in self.params},
                "flops": self.flops, "formula": self.formula}


@dataclass(frozen=True)
class _Ctx:
    """What every step function needs besides its own spec part."""

    T: int  # tokens
    d: int  # d_model
    arch: Arch

    def norm(self, op: str, part: str, name: str, shape: Shape, weights: bool = True) -> Step:
        """The model's norm over the last axis of ``shape``."""
        width = shape[-1]
        params = (Param(f"{name}.weight", (width,)),) if weights else ()
        if self.arch.norm.kind == "layernorm":
            params += (Param(f"{name}.bias", (width,)),) if self.arch.norm.bias and weights else ()
            formula = "(x − mean(x)) / √(var(x) + eps) · w" + (" + b" if self.arch.norm.bias else "")
            per = 7
        else:
            formula = "x · rsqrt(mean(x²) + eps)" + (" · w" if weights else "")
            per = 4
        formula += f" (eps = {self.arch.norm.eps:g})"
        return Step(op, part, shape, shape, formula, per * prod(shape), params)


def _linear(c: _Ctx, op: str, part: str, d_in: int, d_out: int, bias: bool, formula: str,
            name: str | None = None) -> Step:
    """``(T, d_in) · W (d_in, d_out) [+ b]``; the tensors are named ``name`` (default: ``op``)."""
    name = name or op
    params = (Param(f"{name}.weight", (d_in, d_out)),) + ((Param(f"{name}.bias", (d_out,)),) if bias else ())
    return Step(op, part, (c.T, d_in), (c.T, d_out), formula + (" + b" if bias else ""),
                2 * c.T * d_in * d_out, params, matmul=True)


def _ew(op: str, part: str, shape: Shape, formula: str, per: int = 1, out: Shape | None = None,
        params: tuple[Param, ...] = ()) -> Step:
    """An elementwise or reshaping step (``per`` FLOPs per element; 0 for a reshape)."""
    return Step(op, part, shape, out or shape, formula, per * prod(shape), params)


# --- token mixers ----------------------------------------------------------------------------


def _rope(part: str, tensor: str, shape: Shape, rot: int, theta: float, pairs: str, tail: bool = False,
          pos: str = "pos", sign: str = "") -> Step:
    """RoPE on the first ``rot`` dims of each vector (the last ``rot`` with ``tail``, DeepSeek-V4)."""
    rest = f"; the other {shape[-1] - rot} dims pass unchanged" if rot < shape[-1] else ""
    dims = f"x[..., -{rot}:]" if tail else f"x[..., :{rot}]"
    return Step(f"RoPE on {tensor}", part, shape, shape,
                f"{dims} · cos({pos}·θ_i) {sign or '+'} rotate_{pairs}({dims}) · sin({pos}·θ_i), "
                f"θ_i = {theta:g}^(−2i/{rot}){rest}", 3 * prod(shape[:-1]) * rot)


def _scores_to_output(c: _Ctx, part: str, h: int, qk: int, vd: int, scale: float, softcap: float | None,
                      window: int | None, chunk: int | None, sinks: bool, q: Shape, keys: int | None = None,
                      mask: str | None = None) -> list[Step]:
    """QKᵀ → scale → soft-cap → mask → (sinks) → softmax → × V → merge heads (eager_attention_forward).

    ``keys`` (default T) and ``mask`` (default: causal, windowed or chunked) for attention over more than the
    sequence's own tokens (DeepSeek-V4's compressed entries)."""
    T, S = c.T, keys or c.T
    s = (h, T, S)  # (n_heads, T query, S key)
    steps = [
        Step("scores = Q·Kᵀ", part, q, s, f"S[h, i, j] = Σ_d Q[h, i, d] · K[h, j, d] over {qk} dims",
             2 * h * T * S * qk),
        _ew("scale", part, s, f"S · {scale:.6g}" + (" (= 1/√d_k)" if abs(scale - qk ** -0.5) < 1e-12 else "")),
    ]
    if softcap:
        steps.append(_ew("soft-cap", part, s, f"{softcap:g} · tanh(S / {softcap:g})", per=3))
    if mask is None and chunk:
        mask = f"−∞ where j > i or ⌊j/{chunk}⌋ ≠ ⌊i/{chunk}⌋ (chunked local attention)"
    elif mask is None:
        mask = f"−∞ where j > i or i − j ≥ {window} (causal sliding window of {window})" if window else \
            "−∞ where j > i (causal)"
    steps.append(_ew("mask", part, s, "S + M, M = " + mask))
    if sinks:
        steps.append(_ew("append sink logit", part, s, "[S | s_h]: one learned logit per head as an extra column",
                         per=0, out=(h, T, S + 1), params=(Param("sinks", (h,)),)))
    wide = steps[-1].out_shape
    dropped = ", then the sink column is dropped" if sinks else ""
    steps += [
        _ew("subtract row max", part, wide, "S − max_j S[h, i, j] (softmax is unchanged; exp cannot overflow)"),
        _ew("softmax", part, wide, f"P = exp(S) / Σ_j exp(S){dropped}", per=3, out=s),
        Step("weights × V", part, s, (h, T, vd), "O[h, i] = Σ_j P[h, i, j] · V[h, j]", 2 * h * T * S * vd),
        _ew("merge heads", part, (h, T, vd), "transpose and concatenate the heads", per=0, out=(T, h * vd)),
    ]
    return steps


def _softmax_attention(c: _Ctx, m: SoftmaxAttention) -> list[Step]:
    """LlamaAttention + eager_attention_forward, with the options of the other families."""
    T, d, p = c.T, c.d, "attention"
    h, kv, hd, vd = m.n_heads, m.n_kv_heads, m.head_dim, m.value_dim
    steps = [_linear(c, "q_proj", p, d, h * hd * (2 if m.output_gate else 1), m.qkv_bias,
                     "[q | gate] = x · W_q" if m.output_gate else "q = x · W_q")]
    if m.output_gate:  # Qwen3NextAttention: per head, head_dim queries then head_dim gates
        steps.append(_ew("split Q | gate", p, (T, 2 * h * hd), f"view as (T, {h}, 2 × {hd}): each head's first {hd} "
                         f"dims are its queries, the last {hd} its output gate", per=0, out=(T, h * hd)))
    steps.append(_linear(c, "k_proj", p, d, kv * hd, m.qkv_bias, "k = x · W_k"))
    if not m.k_eq_v:
        steps.append(_linear(c, "v_proj", p, d, kv * vd, m.qkv_bias, "v = x · W_v"))
    if m.qk_norm == "full":  # Olmo2Attention: one norm over all heads' dims, before the split
        steps += [c.norm("q_norm", p, "q_norm", (T, h * hd)), c.norm("k_norm", p, "k_norm", (T, kv * hd))]
    split = "reshape (T, heads·dim) → (T, heads, dim), transpose to (heads, T, dim)"
    steps += [_ew("split Q heads", p, (T, h * hd), split, per=0, out=(h, T, hd)),
              _ew("split K heads", p, (T, kv * hd), split, per=0, out=(kv, T, hd))]
    if m.k_eq_v:
        steps.append(_ew("V = K", p, (T, kv * hd), "values are the keys before k_norm and RoPE (no v_proj)",
                         per=0, out=(kv, T, vd)))
    else:
        steps.append(_ew("split V heads", p, (T, kv * vd), split, per=0, out=(kv, T, vd)))
    if m.qk_norm == "head":  # Qwen3Attention: one norm of head_dim shared by all heads, before RoPE
        steps += [c.norm("q_norm", p, "q_norm", (h, T, hd)), c.norm("k_norm", p, "k_norm", (kv, T, hd))]
    if m.rope:
        rot = int(hd * m.rope.partial)
        steps += [_rope(p, "Q", (h, T, hd), rot, m.rope.theta, "half"), _rope(p, "K", (kv, T, hd), rot, m.rope.theta,
                                                                            "half")]
    if m.qk_norm == "l2":  # Llama4TextL2Norm, after RoPE, no weights
        steps += [_ew(f"L2 norm {t}", p, shp, "x · rsqrt(mean(x²) + eps), no weights", per=3)
                  for t, shp in (("Q", (h, T, hd)), ("K", (kv, T, hd)))]
    if m.group_size > 1:
        serves = f"each of the {kv} KV heads serves {m.group_size} query heads (repeat_kv)"
        steps += [_ew(f"repeat {t} heads", p, (kv, T, dim), serves, per=0, out=(h, T, dim))
                  for t, dim in (("K", hd), ("V", vd))]
    steps += _scores_to_output(c, p, h, hd, vd, m.scale or hd ** -0.5, m.softcap, m.window, m.chunk, m.sinks,
                               (h, T, hd))
    if m.output_gate:
        steps.append(_ew("output gate", p, (T, h * vd), "O ⊙ σ(gate)", per=4))
    steps.append(_linear(c, "o_proj", p, h * vd, d, m.out_bias, "y = O · W_o"))
    return steps


def _latent_attention(c: _Ctx, m: LatentAttention) -> list[Step]:
    """DeepseekV2Attention (and V3, V3.2's indexer): K and V decompressed from a low-rank latent."""
    T, d, p = c.T, c.d, "attention"
    h, nope, rope, vd, r = m.n_heads, m.qk_nope_head_dim, m.qk_rope_head_dim, m.v_head_dim, m.kv_lora_rank
    qk = nope + rope
    if m.q_lora_rank is None:
        steps = [_linear(c, "q_proj", p, d, h * qk, False, "q = x · W_q")]
    else:
        rq = m.q_lora_rank
        steps = [_linear(c, "q_a_proj", p, d, rq, m.bias, "c_q = x · W_qa (compress the query)"),
                 c.norm("q_a_layernorm", p, "q_a_layernorm", (T, rq)),
                 _linear(c, "q_b_proj", p, rq, h * qk, False, "q = c_q · W_qb (decompress)")]
    steps += [
        _ew("split Q heads", p, (T, h * qk), "reshape to (heads, T, nope + rope)", per=0, out=(h, T, qk)),
        _ew("split Q nope | rope", p, (h, T, qk), f"q_nope = q[..., :{nope}], q_pe = q[..., {nope}:]", per=0,
            out=(h, T, rope)),
        _linear(c, "kv_a_proj_with_mqa", p, d, r + rope, m.bias, "[c_kv | k_pe] = x · W_kva (compress K and V)"),
        _ew("take latent c_kv", p, (T, r + rope), f"c_kv = the first {r} dims", per=0, out=(T, r)),
        _ew("take k_pe", p, (T, r + rope), f"k_pe = the last {rope} dims: one RoPE key shared by all heads", per=0,
            out=(1, T, rope)),
        c.norm("kv_a_layernorm", p, "kv_a_layernorm", (T, r)),
    ]
    if m.rope:
        steps += [_rope(p, "q_pe", (h, T, rope), rope, m.rope.theta, "pairs"),
                  _rope(p, "k_pe", (1, T, rope), rope, m.rope.theta, "pairs")]
    steps += [
        _linear(c, "kv_b_proj", p, r, h * (nope + vd), False, "[k_nope | v] = c_kv · W_kvb (decompress per head)"),
        _ew("split KV heads", p, (T, h * (nope + vd)), "reshape to (heads, T, nope + v)", per=0,
            out=(h, T, nope + vd)),
        _ew("take k_nope", p, (h, T, nope + vd), f"k_nope = the first {nope} dims of each head", per=0,
            out=(h, T, nope)),
        _ew("take V", p, (h, T, nope + vd), f"v = the last {vd} dims of each head", per=0, out=(h, T, vd)),
        _ew("concat Q", p, (h, T, rope), "Q = [q_nope | q_pe]", per=0, out=(h, T, qk)),
        _ew("concat K", p, (h, T, nope), "K = [k_nope | k_pe broadcast to every head]", per=0, out=(h, T, qk)),
    ]
    if m.indexer:
        steps += _indexer(c, m)
    steps += _scores_to_output(c, p, h, qk, vd, m.scale or qk ** -0.5, m.softcap, m.window, None, False, (h, T, qk))
    steps.append(_linear(c, "o_proj", p, h * vd, d, m.bias, "y = O · W_o"))
    return steps


def _indexer(c: _Ctx, m: LatentAttention) -> list[Step]:
    """DeepseekV32Indexer: small heads score every earlier token; attention keeps the top-k."""
    T, d, p, ix = c.T, c.d, "indexer", m.indexer
    ih, ihd, k, rope = ix.n_heads, ix.head_dim, ix.topk, m.qk_rope_head_dim
    if ix.shared:
        return [_ew("reuse top-k", p, (T, T), f"the previous indexer layer's {k} tokens per query (no weights)",
                    per=0)]
    theta = m.rope.theta if m.rope else 10000.0
    return [
        _linear(c, "indexer.wq_b", p, m.q_lora_rank or 0, ih * ihd, False, "q_I = c_q · W_q (from the query latent)"),
        _ew("split indexer Q heads", p, (T, ih * ihd), "reshape to (heads, T, dim)", per=0, out=(ih, T, ihd)),
        _linear(c, "indexer.wk", p, d, ihd, False, "k_I = x · W_k (one key for all indexer heads)"),
        Step("indexer.k_norm", p, (T, ihd), (T, ihd), "(k_I − mean) / √(var + 1e-6) · w + b (LayerNorm)",
             7 * T * ihd, (Param("indexer.k_norm.weight", (ihd,)), Param("indexer.k_norm.bias", (ihd,)))),
        _rope(p, "indexer Q", (ih, T, ihd), rope, theta, "half"),
        _rope(p, "indexer K", (T, ihd), rope, theta, "half"),
        _linear(c, "indexer.weights_proj", p, d, ih, False, "w = x · W_w (one weight per indexer head)"),
        Step("index scores", p, (ih, T, ihd), (T, T), f"I[i, j] = Σ_h w[i, h] / √{ih} · ReLU(q_I[h, i] · k_I[j] / "
             f"√{ihd}), −∞ where j > i", 2 * ih * ihd * T * T),
        _ew("top-k mask", p, (T, T), f"attention sees only the {k} best-scoring earlier tokens of each query", per=0),
    ]


def _weightless_rms(op: str, part: str, shape: Shape, eps: float) -> Step:
    """An RMS norm without weights over the last axis (FalconMambaWeightlessRMSNorm)."""
    return _ew(op, part, shape, f"x · rsqrt(mean(x²) + {eps:g}), no weights", per=3)


def _causal_conv(c: _Ctx, op: str, part: str, width: int, k: int, bias: bool, name: str) -> Step:
    """A depthwise causal convolution of ``k`` taps over the tokens (nn.Conv1d, groups = width, left padding)."""
    params = (Param(f"{name}.weight", (width, k)),) + ((Param(f"{name}.bias", (width,)),) if bias else ())
    formula = (f"y[t, c] = Σ_j w[c, j] · x[t − {k - 1} + j, c]" + (" + b[c]" if bias else "")
               + f", j < {k} taps; x = 0 before the first token")
    return Step(op, part, (c.T, width), (c.T, width), formula, 2 * c.T * width * k, params, matmul=True)


def _mamba(c: _Ctx, m: Mamba) -> list[Step]:
    """FalconMambaMixer / MambaMixer: the torch path (causal_conv1d_fn, then mamba_selective_scan's loop).

    The state per sequence is (d_inner, d_state); the scan writes it once per token, so the per-token cost is
    the same at any position (no T × T matrix).
    """
    T, d, p = c.T, c.d, "mamba"
    di, n, r = m.d_inner, m.d_state, m.dt_rank
    state = (T, di, n)  # one (d_inner, d_state) state per token
    steps = [
        _linear(c, "in_proj", p, d, 2 * di, m.bias, "[x | z] = x · W_in"),
        _ew("split x | z", p, (T, 2 * di), f"x = the first {di} channels, gate z = the last {di}", per=0,
            out=(T, di)),
        _causal_conv(c, "conv1d", p, di, m.conv_kernel, m.conv_bias, "conv1d"),
        _ew("activation (silu)", p, (T, di), "x = x · σ(x) (SiLU)", per=4),
        _linear(c, "x_proj", p, di, r + 2 * n, False, "[Δ | B | C] = x · W_x"),
        _ew("take Δ", p, (T, r + 2 * n), f"Δ = the first {r} dims (low rank)", per=0, out=(T, r)),
        _ew("take B", p, (T, r + 2 * n), f"B = the next {n} dims: what each token writes into the state", per=0,
            out=(T, n)),
        _ew("take C", p, (T, r + 2 * n), f"C = the last {n} dims: how each token reads the state", per=0, out=(T, n)),
    ]
    if m.bc_dt_norm_eps:  # FalconMambaMixer: dt_layernorm, b_layernorm, c_layernorm (buffers of ones)
        eps = m.bc_dt_norm_eps
        steps += [_weightless_rms("Δ norm", p, (T, r), eps), _weightless_rms("B norm", p, (T, n), eps),
                  _weightless_rms("C norm", p, (T, n), eps)]
    steps += [
        _linear(c, "dt_proj", p, r, di, True, "Δ = Δ · W_dt (back to d_inner channels; the reference adds b "
                "in the scan, just before the softplus)"),
        _ew("softplus", p, (T, di), "Δ = log(1 + exp(Δ)) > 0: each token's step size per channel", per=3),
        Step("discretise A", p, (T, di), state, "Ā[t, c, s] = exp(Δ[t, c] · A[c, s]), A = −exp(A_log) < 0, "
             "so 0 < Ā < 1", 2 * T * di * n, (Param("A_log", (di, n)),)),
        Step("Δ·B·x", p, (T, di), state, "u[t, c, s] = Δ[t, c] · B[t, s] · x[t, c]", 2 * T * di * n),
        _ew("selective scan", p, state, f"h_t = Ā_t ⊙ h_(t−1) + u_t, h_0 = 0: token by token, the state "
            f"h ({di}, {n}) per sequence", per=2),
        Step("read out C·h", p, state, (T, di), "y[t, c] = Σ_s h_t[c, s] · C[t, s]", 2 * T * di * n),
        _ew("D skip", p, (T, di), "y = y + D ⊙ x", per=2, params=(Param("D", (di,)),)),
        _ew("gate y ⊙ SiLU(z)", p, (T, di), "y = y ⊙ z · σ(z)", per=5),
        _linear(c, "out_proj", p, di, d, m.bias, "y = y · W_out"),
    ]
    return steps


def _compressed_attention(c: _Ctx, m: CompressedAttention) -> list[Step]:
    """DeepseekV4Attention: low-rank queries, one K = V head over a sliding window, plus (CSA/HCA) compressed
    entries from DeepseekV4CSACompressor / DeepseekV4HCACompressor; sinks; grouped output projection."""
    T, d, p = c.T, c.d, "attention"
    h, hd, rq, g, ro = m.n_heads, m.head_dim, m.q_lora_rank, m.o_groups, m.o_lora_rank
    rot, theta = int(hd * m.rope.partial), m.rope.theta
    steps = [
        _linear(c, "q_a_proj", p, d, rq, False, "c_q = x · W_qa (compress the query)"),
        c.norm("q_a_norm", p, "q_a_norm", (T, rq)),
        _linear(c, "q_b_proj", p, rq, h * hd, False, "q = c_q · W_qb (decompress)"),
        _ew("split Q heads", p, (T, h * hd), "reshape (T, heads·dim) → (heads, T, dim)", per=0, out=(h, T, hd)),
        c.norm("q_b_norm", p, "q_b_norm", (h, T, hd), weights=False),
        _rope(p, "Q", (h, T, hd), rot, theta, "pairs", tail=True),
        _linear(c, "kv_proj", p, d, hd, False, "kv = x · W_kv (one head, read as key and as value)"),
        c.norm("kv_norm", p, "kv_norm", (T, hd)),
        _ew("split KV head", p, (T, hd), "one KV head: (1, T, dim)", per=0, out=(1, T, hd)),
        _rope(p, "KV", (1, T, hd), rot, theta, "pairs", tail=True),
    ]
    n = T // m.ratio if m.ratio else 0  # compressed entries: complete blocks of ratio tokens
    if m.ratio:
        steps += _pool(c, "compressor", m, hd, rot)
        if m.indexer:
            steps += _entry_indexer(c, m, n, rot)
            seen = f"the indexer's top {m.indexer.topk} of the entries e < ⌊(i + 1) / {m.ratio}⌋"
        else:
            steps.append(_ew("entry mask", p, (n, hd), f"query i sees entry e when e < ⌊(i + 1) / {m.ratio}⌋ "
                             "(its block is complete)", per=0, out=(T, n)))
            seen = f"entries e < ⌊(i + 1) / {m.ratio}⌋"
        steps.append(_ew("concat KV", p, (n, hd), "[window K = V | compressed entries] along the keys", per=0,
                         out=(1, T + n, hd)))
    mask = f"−∞ where j > i or i − j ≥ {m.window} over the {T} tokens" + (f"; over the {n} entries all but {seen}"
                                                                        if m.ratio else "")
    steps.append(_ew("repeat KV head", p, (1, T + n, hd), f"the one K = V head serves all {h} query heads "
                     "(repeat_kv)", per=0, out=(h, T + n, hd)))
    *attend, _merge = _scores_to_output(c, p, h, hd, hd, hd ** -0.5, None, None, None, m.sinks, (h, T, hd), T + n,
                                        mask)
    steps += attend + [  # V carried RoPE (V = K): rotate the output back by its query's position
        _rope(p, "O (inverse)", (h, T, hd), rot, theta, "pairs", tail=True, sign="−"),
        _ew("group heads", p, (h, T, hd), f"transpose and concatenate the heads in {g} groups of {h // g}", per=0,
            out=(T, g, h * hd // g)),
        Step("o_a_proj", p, (T, g, h * hd // g), (T, g, ro), f"o_g = O_g · W_oa[g]: each group to {ro} dims "
             "(DeepseekV4GroupedLinear; the (in, out) matrix holds the groups side by side)",
             2 * T * h * hd * ro, (Param("o_a_proj.weight", (h * hd // g, g * ro)),), matmul=True),
        _ew("flatten groups", p, (T, g, ro), "concatenate the groups", per=0, out=(T, g * ro)),
        _linear(c, "o_b_proj", p, g * ro, d, False, "y = o · W_ob (mix the groups to d_model)"),
    ]
    return steps


def _gdn_projections(c: _Ctx, m: GatedDeltaNet) -> list[Step]:
    """x → the convolution's input [q | k | v] (T, conv_dim), z, b and a: fused (Qwen3-Next) or split (Qwen3.5)."""
    T, d, p = c.T, c.d, "gated deltanet"
    nk, nv, dk, dv, r = m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim, m.n_v_heads // m.n_k_heads
    if not m.fused_projections:  # Qwen3_5GatedDeltaNet
        return [_linear(c, "in_proj_qkv", p, d, m.conv_dim, False, "[q | k | v] = x · W_qkv"),
                _linear(c, "in_proj_z", p, d, nv * dv, False, "z = x · W_z (the output gate)"),
                _linear(c, "in_proj_b", p, d, nv, False, "b = x · W_b (write strength, one per value head)"),
                _linear(c, "in_proj_a", p, d, nv, False, "a = x · W_a (decay drive, one per value head)")]
    qkvz = 2 * nk * dk + 2 * nv * dv
    return [  # Qwen3NextGatedDeltaNet.fix_query_key_value_ordering: the fused outputs are grouped per key head
        _linear(c, "in_proj_qkvz", p, d, qkvz, False, "[q | k | v | z] = x · W_qkvz"),
        _linear(c, "in_proj_ba", p, d, 2 * nv, False, "[b | a] = x · W_ba"),
        _ew("split q, k, v, z", p, (T, qkvz), f"view as (T, {nk} key heads, {dk} + {dk} + 2 × {r}·{dv}): each key "
            f"head's q and k, then v and z of its {r} value heads; q, k, v side by side for the convolution, z kept "
            f"as (T, {nv}·{dv})", per=0, out=(T, m.conv_dim)),
        _ew("split b, a", p, (T, 2 * nv), f"view as (T, {nk}, 2 × {r}): b and a, (T, {nv}) each", per=0,
            out=(T, nv)),
    ]


def _gated_deltanet(c: _Ctx, m: GatedDeltaNet) -> list[Step]:
    """Qwen3NextGatedDeltaNet / Qwen3_5GatedDeltaNet with the token-by-token torch_recurrent_gated_delta_rule.

    The recurrence runs per token in turn; its steps below are one pass of that loop, listed once, and the state
    (n_v_heads, k_head_dim, v_head_dim) stays that size at any T. For a prompt, transformers runs the equivalent
    chunked form (torch_chunk_gated_delta_rule), which gives the same output.
    """
    T, p = c.T, "gated deltanet"
    nk, nv, dk, dv, K = m.n_k_heads, m.n_v_heads, m.k_head_dim, m.v_head_dim, m.conv_kernel
    x, s, per_v = (T, m.conv_dim), (nv, dk, dv), (nv, T, dv)  # mixed q|k|v; the state; per value head and token
    steps = _gdn_projections(c, m) + [
        _causal_conv(c, "causal conv1d", p, m.conv_dim, K, False, "conv1d"),
        _ew("SiLU", p, x, "y · σ(y)", per=4),
        _ew("split Q heads", p, x, f"q = channels 0–{nk * dk - 1} as ({nk}, T, {dk})", per=0, out=(nk, T, dk)),
        _ew("split K heads", p, x, f"k = the next {nk * dk} channels as ({nk}, T, {dk})", per=0, out=(nk, T, dk)),
        _ew("split V heads", p, x, f"v = the last {nv * dv} channels as ({nv}, T, {dv})", per=0, out=(nv, T, dv)),
        _ew("β = σ(b)", p, (T, nv), "β = 1 / (1 + exp(−b)): how strongly each token writes, per value head", per=3),
        _ew("g = −exp(A_log) · softplus(a + dt_bias)", p, (T, nv), "the log-decay per token and value head (≤ 0)",
            per=6, params=(Param("dt_bias", (nv,)), Param("A_log", (nv,)))),
    ]
    if nv > nk:
        serves = f"each of the {nk} key heads serves {nv // nk} consecutive value heads (repeat_interleave)"
        steps += [_ew(f"repeat {t} heads", p, (nk, T, dk), serves, per=0, out=(nv, T, dk)) for t in "QK"]
    steps += [_ew(f"L2 norm {t}", p, (nv, T, dk), "x / √(Σ x² + 1e-6), no weights", per=3) for t in "QK"]
    steps += [
        _ew("scale Q", p, (nv, T, dk), f"q / √{dk}"),
        Step("decay state", p, (T, nv), s, f"for each token t in turn: S ← exp(g_t) · S; S is one {dk} × {dv} matrix "
             f"per value head, zeros before the first token", T * nv * dk * dv),
        Step("read by k", p, s, per_v, "m_t = k_tᵀ · S: what the state holds under the key k_t", 2 * T * nv * dk * dv),
        _ew("delta", p, per_v, "δ_t = β_t · (v_t − m_t)", per=2),
        Step("write state", p, per_v, s, "S ← S + k_t ⊗ δ_t (a rank-1 write: the delta rule)", 2 * T * nv * dk * dv),
        Step("read-out by q", p, s, per_v, "o_t = q_tᵀ · S, after token t's write", 2 * T * nv * dk * dv),
        c.norm("norm (gated)", p, "norm", per_v),  # Qwen3NextRMSNormGated: one weight of v_head_dim, a plain RMSNorm
        _ew("× silu(z)", p, per_v, "o ⊙ z · σ(z) (z of the same value head)", per=5),
        _ew("merge heads", p, per_v, "transpose and concatenate the value heads", per=0, out=(T, nv * dv)),
        _linear(c, "out_proj", p, nv * dv, c.d, False, "y = o · W_out"),
    ]
    return steps


def _pool(c: _Ctx, name: str, m: CompressedAttention, dim: int, rot: int) -> list[Step]:
    """One compressor (the attention's, or the indexer's at its head_dim): a softmax-gated pooling of each block of
    ``ratio`` tokens (two series per token with overlap: block w pools series a of block w−1 and b of w)."""
    T, d, r, p = c.T, c.d, m.ratio, name  # part: "compressor" or "indexer"
    s, n = 2 if m.overlap else 1, c.T // m.ratio
    slots = 2 * r if m.overlap else r
    steps = [
        _linear(c, f"{name}.kv_proj", p, d, s * dim, False, f"c = x · W_kv ({s} series of {dim})"),
        _linear(c, f"{name}.gate_proj", p, d, s * dim, False, "z = x · W_gate (pooling logits per channel)"),
        _ew(f"{name}: blocks", p, (T, s * dim), f"{n} complete blocks of {r} tokens (the last T mod {r} wait)",
            per=0, out=(n, r, s * dim)),
        Step(f"{name}: gate + position bias", p, (T, s * dim), (n, r, s * dim), "z[w, t] + B[t] (blocks as above; "
             "t: place in the block)", n * r * s * dim, (Param(f"{name}.position_bias", (r, s * dim)),)),
    ]
    if m.overlap:
        steps.append(_ew(f"{name}: overlap blocks", p, (n, r, s * dim), f"slots of entry w = [series a of block "
                         f"w − 1 | series b of block w] ({slots} slots; block −1 empty, gate −∞)", per=0,
                         out=(n, slots, dim)))
    steps += [
        _ew(f"{name}: gate softmax", p, (n, slots, dim), f"P = softmax(z) over the {slots} slots, per channel",
            per=3),
        Step(f"{name}: pool", p, (n, slots, dim), (n, dim), "e_w = Σ_slots P ⊙ c", 2 * n * slots * dim),
        c.norm(f"{name}.kv_norm", p, f"{name}.kv_norm", (n, dim)),
        _rope(p, f"{name} entries", (n, dim), rot, m.rope.theta, "pairs", tail=True, pos=f"{r}·w"),
    ]
    return steps


def _short_conv(c: _Ctx, m: ShortConv) -> list[Step]:
    """Lfm2ShortConv: in_proj → B, C, x; B ⊙ x; depthwise causal conv; C ⊙ conv; out_proj (no activation)."""
    T, d, p = c.T, c.d, "short conv"
    return [
        _linear(c, "in_proj", p, d, 3 * d, m.bias, "[B | C | x] = x · W_in"),
        *[_ew(f"take {t}", p, (T, 3 * d), f"{t} = {which} {d} channels", per=0, out=(T, d))
          for t, which in (("B", "the first"), ("C", "the middle"), ("x", "the last"))],
        _ew("B ⊙ x", p, (T, d), "u = B ⊙ x (input gate)"),
        _causal_conv(c, "conv", p, d, m.conv_kernel, m.bias, "conv"),
        _ew("C ⊙ conv", p, (T, d), "y = C ⊙ conv(u) (output gate)"),
        _linear(c, "out_proj", p, d, d, m.bias, "y = y · W_out"),
    ]


def _entry_indexer(c: _Ctx, m: CompressedAttention, n: int, rot: int) -> list[Step]:
    """DeepseekV4Indexer: its own compressor at index_head_dim; ReLU scores of small query heads from the query
    latent against the compressed keys, weighted per head; each query keeps its top-k entries."""
    T, d, p, ix = c.T, c.d, "indexer", m.indexer
    ih, ihd, k = ix.n_heads, ix.head_dim, min(ix.topk, n)
    return _pool(c, "indexer", m, ihd, rot) + [
        _linear(c, "indexer.q_b_proj", p, m.q_lora_rank, ih * ihd, False, "q_I = c_q · W_q (from the query latent)"),
        _ew("split indexer Q heads", p, (T, ih * ihd), "reshape to (heads, T, dim)", per=0, out=(ih, T, ihd)),
        _rope(p, "indexer Q", (ih, T, ihd), rot, m.rope.theta, "pairs", tail=True),
        Step("indexer scores", p, (ih, T, ihd), (ih, T, n), f"ReLU(q_I[h, i] · e_I[w]) / √{ihd}",
             2 * ih * T * n * ihd + 2 * ih * T * n),
        _linear(c, "indexer.weights_proj", p, d, ih, False, f"w = x · W_w / √{ih} (one weight per indexer head)"),
        Step("weighted sum over heads", p, (ih, T, n), (T, n), "I[i, w] = Σ_h w[i, h] · score[h, i, w]; −∞ where "
             f"w ≥ ⌊(i + 1) / {m.ratio}⌋", 2 * ih * T * n),
        _ew("top-k entries", p, (T, n), f"each query keeps its {k} best-scoring visible entries", per=0),
    ]


def _mamba2(c: _Ctx, m: Mamba2) -> list[Step]:
    """NemotronHMamba2Mixer (torch path), its scan written as the per-token recurrence it computes.

    The reference runs the scan in chunks of ``chunk_size`` (``mamba2_chunk_scan``, the SSD form: within a chunk
    an attention-like C·Bᵀ product under a decay mask, between chunks the state carried over); that is the same
    recurrence regrouped, so the steps show the recurrence, token by token, with the state of each head.
    """
    T, d, p = c.T, c.d, "mamba2"
    H, P, G, N, k = m.n_heads, m.head_dim, m.n_groups, m.d_state, m.conv_kernel
    inner, conv = m.inner, m.conv_dim  # H·P; H·P + 2·G·N
    proj = (T, inner + conv + H)  # (T, z | xBC | dt)
    conv_params = (Param("conv1d.weight", (k, conv)),) + ((Param("conv1d.bias", (conv,)),) if m.conv_bias else ())
    per_group = f"each of the {G} groups serves {H // G} heads (repeat_interleave)"
    return [
        _linear(c, "in_proj", p, d, inner + conv + H, m.bias, "[z | xBC | dt] = x · W_in"),
        _ew("take gate z", p, proj, f"z = the first {inner} dims (n_heads × head_dim)", per=0, out=(T, inner)),
        _ew("take xBC", p, proj, f"xBC = the next {conv} dims (x, then B and C of each group)", per=0,
            out=(T, conv)),
        _ew("take dt", p, proj, f"dt = the last {H} dims: one time step per head", per=0, out=(T, H)),
        Step("causal conv1d", p, (T, conv), (T, conv), f"xBC[t, c] = Σ_i w[i, c] · xBC[t − {k - 1} + i, c]"
             + (" + b[c]" if m.conv_bias else "") + f" over i < {k} (depthwise, zeros before the first token)",
             2 * T * conv * k, conv_params, matmul=True),
        _ew("activation (silu)", p, (T, conv), f"xBC = xBC · σ(xBC), act(x) = {ACTIVATIONS['silu']}", per=4),
        _ew("take x", p, (T, conv), f"x = xBC[:, :{inner}] as (heads, T, head_dim)", per=0, out=(H, T, P)),
        _ew("take B", p, (T, conv), f"B = the next {G} × {N} dims as (groups, T, d_state)", per=0, out=(G, T, N)),
        _ew("take C", p, (T, conv), f"C = the last {G} × {N} dims as (groups, T, d_state)", per=0, out=(G, T, N)),
        _ew("Δ = softplus(dt + dt_bias)", p, (T, H), "Δ = log(1 + exp(dt + dt_bias)) per token and head (the chunked "
            "prefill path also clamps Δ ≥ time_step_min)", per=4,
            params=(Param("dt_bias", (H,)),)),
        _ew("repeat B groups", p, (G, T, N), per_group, per=0, out=(H, T, N)),
        _ew("repeat C groups", p, (G, T, N), per_group, per=0, out=(H, T, N)),
        _ew("decay exp(Δ·A)", p, (T, H), "a = exp(Δ · A), A = −exp(A_log) < 0 per head: 0 < a < 1", per=2,
            params=(Param("A_log", (H,)),)),
        Step("state update", p, (H, T, P), (T, H, P, N),
             "h_t = a_t · h_{t−1} + Δ_t · x_t ⊗ B_t per head, h_0 = 0: a fixed state of (n_heads, head_dim, "
             "d_state) carried from token to token (shown after every token; only the last is kept)",
             3 * T * H * P * N),
        Step("read-out y = C·h + D·x", p, (T, H, P, N), (H, T, P), "y_t = h_t · C_t (sum over d_state) + D · x_t",
             2 * T * H * P * N + 2 * T * H * P, (Param("D", (H,)),)),
        _ew("merge heads", p, (H, T, P), "transpose and concatenate the heads", per=0, out=(T, inner)),
        _ew("gate y ⊙ SiLU(z)", p, (T, inner), "y · z · σ(z)", per=5),
        Step("gated norm", p, (T, inner), (T, inner), f"in {G} groups of {inner // G}: y · rsqrt(mean(y²) + eps) "
             f"· w (eps = {c.arch.norm.eps:g})", 4 * T * inner, (Param("norm.weight", (inner,)),)),
        _linear(c, "out_proj", p, inner, d, m.bias, "y = y · W_out"),
    ]


# --- feed-forward ----------------------------------------------------------------------------

ACTIVATIONS = {
    "silu": "x · σ(x)", "gelu": "x · Φ(x)", "gelu_tanh": "0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))",
    "relu": "max(x, 0)", "relu2": "max(x, 0)²",
    "swish_clamped": "g = min(g, 7); u = clamp(u, −7, 7); g · σ(1.702 g) · (u + 1)",
    "silu_clamped": "min(x, 10) · σ(min(x, 10)) (gate capped at swiglu_limit 10)",
}
SILU_CLAMP = 10.0  # DeepseekV4Config.swiglu_limit: its default and DeepSeek-V4-Flash's value (not a spec field)


def _mlp_chain(c: _Ctx, part: str, name: str, width: int, gated: bool, activation: str, bias: bool,
               n: int = 1, k: int = 1, d_io: int | None = None) -> list[Step]:
    """gate/up → activation (→ product) → down; for ``n`` experts of which each token uses ``k``.

    With experts, the weights are stored for all ``n`` experts, and each token's row goes through ``k`` of
    them: the hidden shapes are (T, k, width). ``d_io``: the width read and written (default d_model).
    """
    T, d = c.T, d_io or c.d
    many, kk = ((n,), (k,)) if n > 1 else ((), ())

    def proj(op: str, d_in: int, d_out: int, formula: str) -> Step:
        params = (Param(f"{name}{op}.weight", (*many, d_in, d_out)),)
        params += (Param(f"{name}{op}.bias", (*many, d_out)),) if bias else ()
        src = (T, *kk, d_in) if op == "down_proj" else (T, d_in)
        return Step(f"{name}{op}", part, src, (T, *kk, d_out), formula + (" + b" if bias else ""),
                    2 * T * k * d_in * d_out, params, matmul=True)

    hidden = (T, *kk, width)
    if not gated:
        return [proj("up_proj", d, width, "u = x · W_up"),
                _ew(f"activation ({activation})", part, hidden, f"a = act(u), act(x) = {ACTIVATIONS[activation]}",
                    per=4),
                proj("down_proj", width, d, "y = a · W_down")]
    if activation == "swish_clamped":  # GptOssExperts: clamp, then glu · (up + 1)
        act = [_ew("gate · act(up + 1)", part, hidden, ACTIVATIONS[activation], per=7)]
    else:
        act = [_ew(f"activation ({activation})", part, hidden, f"a = act(g), act(x) = {ACTIVATIONS[activation]}",
                   per=4),
               _ew("a ⊙ u", part, hidden, "h = a ⊙ clamp(u, −10, 10) (up clamped to ±swiglu_limit)"
                   if activation == "silu_clamped" else "h = a ⊙ u (elementwise product)", per=1 + 2 * (
                       activation == "silu_clamped"))]
    return [proj("gate_proj", d, width, "g = x · W_gate"), proj("up_proj", d, width, "u = x · W_up"), *act,
            proj("down_proj", width, d, "y = h · W_down")]


def _mlp(c: _Ctx, f: Mlp) -> list[Step]:
    """LlamaMLP (gated) or GPT-2/GPT-J's up → act → down."""
    return _mlp_chain(c, "mlp", "", f.d_ff, f.gated, f.activation, f.bias)


def _router(c: _Ctx, f: Moe) -> list[Step]:
    """Router logits → scores → (correction bias, groups) → top-k → weights (DeepseekV3TopkRouter et al.)."""
    T, d, E, k, r, p = c.T, c.d, f.n_experts, f.top_k, f.router, "router"
    steps = []
    if r.scale:  # Gemma4TextRouter: a weightless RMS norm, then × scale × d^-0.5
        steps += [c.norm("router norm", p, "router.norm", (T, d), weights=False),
                  _ew("router input scale", p, (T, d), "x · scale / √d_model", per=2,
                      params=(Param("router.scale", (d,)),))]
    steps.append(_linear(c, "router logits", p, d, E, r.bias, "z = x · W_router", name="router"))
    scoring = {"softmax": "softmax(z) over experts", "sigmoid": "σ(z) per expert",
               "sqrtsoftplus": "√softplus(z) = √log(1 + exp z) per expert"}[r.scoring]
    steps.append(_ew(f"scores ({r.scoring})", p, (T, E), "s = " + scoring, per=3))
    if r.correction_bias:
        steps.append(_ew("add correction bias", p, (T, E), "s' = s + b_e (a buffer; used to choose, not to weight)"))
    if r.n_groups and r.n_groups > 1:
        rank = "the sum of its best two scores" if r.correction_bias else "its best score"
        steps.append(_ew("group top-k", p, (T, E), f"split {E} experts into {r.n_groups} groups ranked by {rank}; "
                         f"keep the {r.topk_groups} best groups, mask the rest"))
    if r.hash:  # DeepseekV4HashRouter: the token id picks the experts, the scores only weight them
        steps.append(_ew("hash pick", p, (T, E), f"the {k} experts tid2eid[token id] (a frozen table, a buffer); "
                         "keep their scores s", per=0, out=(T, k)))
    else:
        steps.append(_ew("top-k", p, (T, E), f"pick the {k} highest-scoring experts; keep their scores s", per=1,
                         out=(T, k)))
    if r.normalize_topk:
        steps.append(_ew("normalise top-k", p, (T, k), "w = s / Σ s over the chosen experts"))
    if r.weight_scale != 1:
        steps.append(_ew("scale weights", p, (T, k), f"w · {r.weight_scale:g} (routed_scaling_factor)"))
    if r.scale:
        steps.append(_ew("per-expert scale", p, (T, k), "w · per_expert_scale[e]",
                         params=(Param("router.per_expert_scale", (E,)),)))
    return steps


def _shared_expert(c: _Ctx, f: Moe) -> list[Step]:
    return _mlp_chain(c, "shared expert", "shared_expert.", f.d_shared, f.gated, f.activation, f.shared_bias)


def _experts(c: _Ctx, f: Moe, shared_ran: bool = False) -> list[Step]:
    """The chosen experts' MLPs and their weighted sum, then the shared expert (Mixtral, Qwen2-MoE, DeepSeek); with
    a latent (NemotronHMoE) the experts read and write ``d_latent``, projected down before and back up after.
    ``shared_ran``: the shared expert's MLP already ran (Qwen2-MoE), only its gate and the sum remain."""
    T, d, k, L = c.T, c.d, f.top_k, f.d_latent
    steps = [_linear(c, "fc1_latent_proj", "experts", d, L, f.latent_bias, "x_L = x · W_fc1 (down to the experts' "
                     "latent)")] if L else []
    steps += _mlp_chain(c, "experts", "experts.", f.d_expert, f.gated, f.activation, f.expert_bias, f.n_experts, k,
                        L)
    steps.append(Step("weighted sum of experts", "experts", (T, k, L or d), (T, L or d),
                      f"y = Σ over the {k} chosen experts of w_e · expert_e(x)", 2 * k * T * (L or d)))
    if L:
        steps.append(_linear(c, "fc2_latent_proj", "experts", L, d, f.latent_bias, "y = y_L · W_fc2 (back up to "
                             "d_model)"))
    if f.n_shared_experts:
        steps += [] if shared_ran else _shared_expert(c, f)
        if f.shared_gate:  # Qwen2MoeSparseMoeBlock
            steps += [_linear(c, "shared_expert_gate", "shared expert", d, 1, False, "γ = x · W_g"),
                      _ew("gate shared expert", "shared expert", (T, d), "σ(γ) · shared_expert(x)", per=4)]
        steps.append(_ew("add shared expert", "shared expert", (T, d), "y = routed + shared"))
    return steps


def _moe(c: _Ctx, f: Moe) -> list[Step]:
    """Router then experts; with a dense MLP beside them (Gemma4TextDecoderLayer) the MLP runs on the normed
    input and the router and experts on the residual, each with its own norms, and the two are added."""
    if not f.dense_mlp:  # Qwen2MoeSparseMoeBlock runs a gated shared expert's MLP first, its gate after the experts
        first = _shared_expert(c, f) if f.shared_gate else []
        return first + _router(c, f) + _experts(c, f, shared_ran=f.shared_gate)
    x, n = (c.T, c.d), c.norm
    return [
        *_mlp_chain(c, "mlp", "", f.dense_mlp, f.gated, f.activation, False),
        n("mlp norm (post)", "norm", "post_mlp_norm", x),
        *_router(c, f),  # reads the residual stream x, not the normed input
        n("experts norm (pre)", "norm", "experts_norm", x),
        *_experts(c, f),
        n("experts norm (post)", "norm", "post_experts_norm", x),
        _ew("add mlp and experts", "experts", x, "y = mlp + experts"),
    ]


# --- the layer: norms and residual wiring ----------------------------------------------------

MIXERS: dict[type, Callable[[_Ctx, object], list[Step]]] = {
    SoftmaxAttention: _softmax_attention,
    LatentAttention: _latent_attention,
    Mamba: _mamba,
    ShortConv: _short_conv,
    GatedDeltaNet: _gated_deltanet,
    CompressedAttention: _compressed_attention,
    Mamba2: _mamba2,
}
FFNS: dict[type, Callable[[_Ctx, object], list[Step]]] = {
    Mlp: _mlp,
    Moe: _moe,
}


def _sublayer(c: _Ctx, steps: list[Step], placement: str, label: str, norm_in: bool = True) -> list[Step]:
    """Norms around one sublayer as the block places them (pre, post, sandwich), without the residual add."""
    x = (c.T, c.d)
    before = [c.norm(f"{label} norm (pre)", "norm", f"{label}_norm", x)] if norm_in and placement != "post" else []
    after = [c.norm(f"{label} norm (post)", "norm", f"post_{label}_norm", x)] if placement in ("post",
                                                                                           "sandwich") else []
    return before + steps + after


def _residual(c: _Ctx, what: str) -> Step:
    return _ew("residual add", "residual", (c.T, c.d), f"x = x + {what}")


ATTENTION = (SoftmaxAttention, LatentAttention, CompressedAttention)


def mixer_label(mixer: object) -> str:
    """How a block's mixer sublayer is named in its norms' ops and weights: ``attn`` ("attn norm (pre)",
    ``attn_norm.weight``) before attention, ``mixer`` before a fixed-state mixer (Gated DeltaNet, Mamba, the
    short convolution), which attends to nothing."""
    return "attn" if isinstance(mixer, ATTENTION) else "mixer"


def layer_steps(arch: Arch, kind: str, seq: int) -> list[Step]:
    """The steps of one layer of block kind ``kind`` for ``seq`` tokens."""
    c = _Ctx(seq, arch.d_model, arch)
    block = arch.blocks[kind]
    mixer = MIXERS[type(block.mixer)](c, block.mixer) if block.mixer is not None else None
    ffn = FFNS[type(block.ffn)](c, block.ffn) if block.ffn is not None else None
    x = (c.T, c.d)
    if block.parallel:  # GPTJBlock: attention and MLP read the same (normed) input, both added to x
        if block.shared_norm:
            return [c.norm("norm (shared)", "norm", "norm", x), *mixer, *ffn,
                    _ew("residual add", "residual", x, "x = x + attention + mlp", per=2)]
        return [c.norm("attention norm", "norm", "attn_norm", x), *mixer, c.norm("ffn norm", "norm", "ffn_norm", x),
                *ffn, _ew("residual add", "residual", x, "x = x + attention + mlp", per=2)]
    steps: list[Step] = []
    for sub, label, what in ((mixer, mixer_label(block.mixer), f"{mixer[-1].part}(x)" if mixer else ""),
                             (ffn, "ffn", "ffn(x)")):
        if sub is None:
            continue
        inner = _sublayer(c, sub, block.norm_placement, label)
        steps += _hyper(c, f"{label}_hc", inner) if arch.hyper_connections else inner + [_residual(c, what)]
    return steps


def _hyper(c: _Ctx, name: str, inner: list[Step]) -> list[Step]:
    """DeepseekV4HyperConnection around one sublayer (DeepseekV4DecoderLayer): the residual is ``streams`` copies
    (T, n, d); weights from all streams collapse them into the sublayer's input (pre), spread its output back
    (post) and mix the streams by a Sinkhorn-normalised n × n matrix (comb)."""
    hc, T, d, p = c.arch.hyper_connections, c.T, c.d, "hyper-connection"
    n = hc.streams
    x, mixes = (T, n, d), (2 + n) * n
    return [
        _ew(f"{name}: flatten streams", p, x, "(T, n, d) → (T, n·d)", per=0, out=(T, n * d)),
        c.norm(f"{name}: input norm", p, f"{name}.input_norm", (T, n * d), weights=False),
        Step(f"{name}: mix logits", p, (T, n * d), (T, mixes), f"m = x̂ · fn: {n} pre, {n} post, {n}×{n} comb",
             2 * T * n * d * mixes, (Param(f"{name}.fn", (n * d, mixes)),), matmul=True),
        _ew(f"{name}: scale + base", p, (T, mixes), "m · scale[pre | post | comb] + base", per=2,
            params=(Param(f"{name}.base", (mixes,)), Param(f"{name}.scale", (3,)))),
        _ew(f"{name}: pre weights", p, (T, mixes), "pre = σ(m_pre) + 1e-6 (hc_eps)", per=5, out=(T, n)),
        _ew(f"{name}: post weights", p, (T, mixes), "post = 2 σ(m_post)", per=5, out=(T, n)),
        _ew(f"{name}: comb weights", p, (T, mixes), "comb = softmax(m_comb) over each row + 1e-6", per=4,
            out=(T, n, n)),
        _ew(f"{name}: Sinkhorn", p, (T, n, n), f"{hc.sinkhorn_iters} rounds: comb / (column sums + eps), the first "
            "round columns only, then rows / (row sums + eps) and columns again", per=4 * hc.sinkhorn_iters),
        Step(f"{name}: collapse streams", p, x, (T, d), "h = Σ_i pre_i · x_i (the sublayer's input)", 2 * T * n * d),
        *inner,
        Step(f"{name}: expand (post)", p, (T, d), x, "y_i = post_i · f(h) for each stream i", T * n * d),
        Step(f"{name}: mix streams (comb)", p, x, x, "x'_k = Σ_j comb[j, k] · x_j", 2 * T * n * n * d),
        _ew("residual add", "residual", x, "x = y + x' (every stream)"),
    ]


def trace(spec_or_arch: Spec | Arch, layer: int, seq: int) -> list[Step]:
    """Every operation of layer ``layer`` (0-based) for a sequence of ``seq`` tokens, in execution order."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    if not 0 <= layer < arch.n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0–{arch.n_layers - 1}")
    if seq < 1:
        raise ValueError("the sequence needs at least one token")
    return layer_steps(arch, arch.layers[layer], seq)
