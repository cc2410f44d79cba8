"""Trace one layer by hand: every operation of a decoder layer, in the order the reference runs it.

``trace(spec_or_arch, layer, seq)`` lists the steps of layer ``layer`` for a sequence of ``seq`` tokens:
each :class:`Step` has its input and output shapes, the parameters it multiplies with (name, shape),
its FLOPs and a one-line formula. The order follows the transformers modeling code of the families
(``LlamaDecoderLayer``/``LlamaAttention``/``eager_attention_forward``, ``Gemma2Attention`` for soft-capping,
``GptOssAttention`` for sinks, ``Olmo2DecoderLayer`` for post-norm, ``GPTJBlock`` for the parallel block,
``DeepseekV2Attention`` for MLA, the MoE blocks of Mixtral, Qwen2-MoE, DeepSeek-V3 and Gemma 4,
``NemotronHMamba2Mixer.torch_forward`` for Mamba-2 and ``NemotronHMoE`` for latent experts).

Shapes: ``T`` tokens, token-major ``(T, width)``, per head ``(heads, T, dim)``. Weights are written
``(in, out)`` as the formula ``y = x · W`` reads them. FLOPs: a product with weights costs
``2 × T × weights`` (the :mod:`gallery.flops` convention; routed experts count the ``top_k`` a token
uses), QKᵀ and weights × V cost ``2 × heads × T × T × dim`` as the eager code computes the whole
score matrix before masking; elementwise steps count one FLOP per element per arithmetic operation
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

from .spec import Arch, LatentAttention, Mamba2, Mlp, Moe, SoftmaxAttention, Spec

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


def _rope(part: str, tensor: str, shape: Shape, rot: int, theta: float, pairs: str) -> Step:
    rest = f"; the other {shape[-1] - rot} dims pass unchanged" if rot < shape[-1] else ""
    return Step(f"RoPE on {tensor}", part, shape, shape,
                f"x[..., :{rot}] · cos(pos·θ_i) + rotate_{pairs}(x[..., :{rot}]) · sin(pos·θ_i), "
                f"θ_i = {theta:g}^(−2i/{rot}){rest}", 3 * prod(shape[:-1]) * rot)


def _scores_to_output(c: _Ctx, part: str, h: int, qk: int, vd: int, scale: float, softcap: float | None,
                      window: int | None, chunk: int | None, sinks: bool, q: Shape) -> list[Step]:
    """QKᵀ → scale → soft-cap → mask → (sinks) → softmax → × V → merge heads (eager_attention_forward)."""
    T = c.T
    s = (h, T, T)  # (n_heads, T query, T key)
    steps = [
        Step("scores = Q·Kᵀ", part, q, s, f"S[h, i, j] = Σ_d Q[h, i, d] · K[h, j, d] over {qk} dims",
             2 * h * T * T * qk),
        _ew("scale", part, s, f"S · {scale:.6g}" + (" (= 1/√d_k)" if abs(scale - qk ** -0.5) < 1e-12 else "")),
    ]
    if softcap:
        steps.append(_ew("soft-cap", part, s, f"{softcap:g} · tanh(S / {softcap:g})", per=3))
    if chunk:
        mask = f"−∞ where j > i or ⌊j/{chunk}⌋ ≠ ⌊i/{chunk}⌋ (chunked local attention)"
    elif window:
        mask = f"−∞ where j > i or i − j ≥ {window} (causal sliding window of {window})"
    else:
        mask = "−∞ where j > i (causal)"
    steps.append(_ew("mask", part, s, "S + M, M = " + mask))
    if sinks:
        steps.append(_ew("append sink logit", part, s, "[S | s_h]: one learned logit per head as an extra column",
                         per=0, out=(h, T, T + 1), params=(Param("sinks", (h,)),)))
    wide = steps[-1].out_shape
    dropped = ", then the sink column is dropped" if sinks else ""
    steps += [
        _ew("subtract row max", part, wide, "S − max_j S[h, i, j] (softmax is unchanged; exp cannot overflow)"),
        _ew("softmax", part, wide, f"P = exp(S) / Σ_j exp(S){dropped}", per=3, out=s),
        Step("weights × V", part, s, (h, T, vd), "O[h, i] = Σ_j P[h, i, j] · V[h, j]", 2 * h * T * T * vd),
        _ew("merge heads", part, (h, T, vd), "transpose and concatenate the heads", per=0, out=(T, h * vd)),
    ]
    return steps


def _softmax_attention(c: _Ctx, m: SoftmaxAttention) -> list[Step]:
    """LlamaAttention + eager_attention_forward, with the options of the other families."""
    T, d, p = c.T, c.d, "attention"
    h, kv, hd, vd = m.n_heads, m.n_kv_heads, m.head_dim, m.value_dim
    steps = [_linear(c, "q_proj", p, d, h * hd, m.qkv_bias, "q = x · W_q"),
             _linear(c, "k_proj", p, d, kv * hd, m.qkv_bias, "k = x · W_k")]
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
}


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
               _ew("a ⊙ u", part, hidden, "h = a ⊙ u (elementwise product)")]
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
    scoring = "softmax(z) over experts" if r.scoring == "softmax" else "σ(z) per expert"
    steps.append(_ew(f"scores ({r.scoring})", p, (T, E), "s = " + scoring, per=3))
    if r.correction_bias:
        steps.append(_ew("add correction bias", p, (T, E), "s' = s + b_e (a buffer; used to choose, not to weight)"))
    if r.n_groups and r.n_groups > 1:
        rank = "the sum of its best two scores" if r.correction_bias else "its best score"
        steps.append(_ew("group top-k", p, (T, E), f"split {E} experts into {r.n_groups} groups ranked by {rank}; "
                         f"keep the {r.topk_groups} best groups, mask the rest"))
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


def _experts(c: _Ctx, f: Moe) -> list[Step]:
    """The chosen experts' MLPs and their weighted sum, then the shared expert (Mixtral, Qwen2-MoE, DeepSeek); with
    a latent (NemotronHMoE) the experts read and write ``d_latent``, projected down before and back up after."""
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
        steps += _mlp_chain(c, "shared expert", "shared_expert.", f.d_shared, f.gated, f.activation, f.shared_bias)
        if f.shared_gate:  # Qwen2MoeSparseMoeBlock
            steps += [_linear(c, "shared_expert_gate", "shared expert", d, 1, False, "γ = x · W_g"),
                      _ew("gate shared expert", "shared expert", (T, d), "σ(γ) · shared_expert(x)", per=4)]
        steps.append(_ew("add shared expert", "shared expert", (T, d), "y = routed + shared"))
    return steps


def _moe(c: _Ctx, f: Moe) -> list[Step]:
    """Router then experts; with a dense MLP beside them (Gemma4TextDecoderLayer) the MLP runs on the normed
    input and the router and experts on the residual, each with its own norms, and the two are added."""
    if not f.dense_mlp:
        return _router(c, f) + _experts(c, f)
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
    if mixer is not None:
        what = "attention(x)" if isinstance(block.mixer, (SoftmaxAttention, LatentAttention)) else "mixer(x)"
        steps += _sublayer(c, mixer, block.norm_placement, "attn") + [_residual(c, what)]
    if ffn is not None:
        steps += _sublayer(c, ffn, block.norm_placement, "ffn") + [_residual(c, "ffn(x)")]
    return steps


def trace(spec_or_arch: Spec | Arch, layer: int, seq: int) -> list[Step]:
    """Every operation of layer ``layer`` (0-based) for a sequence of ``seq`` tokens, in execution order."""
    arch = spec_or_arch.arch if isinstance(spec_or_arch, Spec) else spec_or_arch
    if not 0 <= layer < arch.n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0–{arch.n_layers - 1}")
    if seq < 1:
        raise ValueError("the sequence needs at least one token")
    return layer_steps(arch, arch.layers[layer], seq)
