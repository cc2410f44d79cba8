"""Exact parameter counts from a spec alone, each term with the formula that produces it.

The counts follow the modules transformers builds (``nn.Linear``, ``nn.Embedding``, norms, expert
tensors, sink logits) and count ``model.parameters()`` the way PyTorch does: a tied output head
shares the embedding matrix and is counted once; buffers (RoPE frequencies, DeepSeek-V3's routing
correction bias) are not parameters. ``tests/test_counts.py`` checks every bundled spec against the
transformers model built from its vendored config on the meta device.

Components: ``embeddings`` (token + learned positions), ``attention`` (projections, QK-norm, sinks),
``linear_mixers`` (the mixers with a fixed-size state: Gated DeltaNet linear attention, Mamba state-space
layers, short convolutions), ``mlp`` (dense feed-forward), ``experts`` (routed), ``shared_experts``, ``router``, ``norms`` (block
and final norms), ``hyper_connections`` (DeepSeek-V4's stream-mixing weights), ``head`` (untied output projection and
its bias).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from .spec import Arch, Block, CompressedAttention, GatedDeltaNet, LatentAttention, Mamba, Mamba2, Mlp, Moe, ShortConv, SoftmaxAttention

COMPONENTS = ("embeddings", "attention", "linear_mixers", "mlp", "experts", "shared_experts", "router", "norms",
              "hyper_connections", "head")


@dataclass(frozen=True)
class Term:
    """One group of parameters: ``count`` per occurrence, occurring ``repeat`` times."""

    component: str
    name: str  # e.g. "k_proj", "experts.down_proj"
    where: str  # block kind, or "model" for embeddings, head and final norm
    symbols: tuple[str, ...]  # the factors, by name: ("d_model", "n_kv_heads", "head_dim")
    values: tuple[int, ...]  # the factors' values
    repeat: int = 1

    @property
    def count(self) -> int:
        """Parameters in one occurrence."""
        return prod(self.values)

    @property
    def total(self) -> int:
        return self.count * self.repeat

    @property
    def formula(self) -> str:
        """``d_model × n_kv_heads × head_dim = 4,096 × 8 × 128 = 4,194,304 (× 32 layers)``."""
        text = f"{' × '.join(self.symbols)} = "
        if len(self.values) > 1:
            text += f"{' × '.join(f'{v:,}' for v in self.values)} = "
        text += f"{self.count:,}"
        if self.repeat > 1:
            text += f" (× {self.repeat} layers = {self.total:,})"
        return text


def _t(component: str, name: str, where: str, *factors: tuple[str, int]) -> Term:
    return Term(component, name, where, tuple(s for s, _ in factors), tuple(v for _, v in factors))


def param_terms(arch: Arch) -> list[Term]:
    """Every parameter group of the model, in build order, with layer repeats applied."""
    d = ("d_model", arch.d_model)
    emb = arch.embedding
    terms = [_t("embeddings", "embed_tokens", "model", ("vocab_size", arch.vocab_size), d)]
    if emb.learned_positions:
        terms.append(_t("embeddings", "embed_positions", "model", ("n_positions", emb.learned_positions), d))
    for kind, n in arch.layer_counts().items():
        for term in block_terms(arch, kind):
            terms.append(Term(term.component, term.name, term.where, term.symbols, term.values, n))
    if arch.final_norm:
        terms.extend(_norm_terms(arch, "final_norm", "model", 1))
    terms += _hc_head_terms(arch)
    if not emb.tied:
        terms.append(_t("head", "lm_head", "model", d, ("vocab_size", arch.vocab_size)))
    if emb.head_bias:
        terms.append(_t("head", "lm_head.bias", "model", ("vocab_size", arch.vocab_size)))
    return terms


def block_terms(arch: Arch, kind: str) -> list[Term]:
    """The parameter groups of one layer of block kind ``kind`` (no repeat)."""
    block = arch.blocks[kind]
    terms: list[Term] = []
    if block.mixer is not None:
        terms += _mixer_terms(arch.d_model, block.mixer, kind)
    if block.ffn is not None:
        terms += _ffn_terms(arch.d_model, block.ffn, kind)
    terms += _norm_terms(arch, "norm", kind, norms_per_block(block))
    terms += _hc_terms(arch, block, kind)
    return terms


def _hc_terms(arch: Arch, block: Block, where: str) -> list[Term]:
    """DeepseekV4HyperConnection before each sublayer (attn_hc, ffn_hc): ``fn`` maps the flattened
    streams to the pre (n), post (n) and comb (n × n) weights, ``base`` is their bias, ``scale`` one per kind."""
    if arch.hyper_connections is None:
        return []
    n = arch.hyper_connections.streams
    mix, flat = ("(2 + hc_mult) × hc_mult", (2 + n) * n), ("hc_mult × d_model", n * arch.d_model)
    subs = [name for name, part in (("attn_hc", block.mixer), ("ffn_hc", block.ffn)) if part is not None]
    return [term for sub in subs for term in (
        _t("hyper_connections", f"{sub}.fn", where, mix, flat),  # (2 + n) · n weights from n · d inputs
        _t("hyper_connections", f"{sub}.base", where, mix),
        _t("hyper_connections", f"{sub}.scale", where, ("3 (pre, post, comb)", 3)),
    )]


def _hc_head_terms(arch: Arch) -> list[Term]:
    """DeepseekV4HyperHead: collapses the streams into one before the final norm (n weights, n biases, one scale)."""
    if arch.hyper_connections is None:
        return []
    n = ("hc_mult", arch.hyper_connections.streams)
    return [_t("hyper_connections", "hc_head.fn", "model", n, ("hc_mult × d_model", n[1] * arch.d_model)),
            _t("hyper_connections", "hc_head.base", "model", n),
            _t("hyper_connections", "hc_head.scale", "model", ("1", 1))]


def norms_per_block(block: Block) -> int:
    """Norm modules in one layer: one per sublayer (two with sandwich), one if shared by both.

    An MoE with a dense MLP beside it (Gemma 4) adds three: after the MLP, before and after the experts.
    """
    if block.shared_norm:
        return 1
    sublayers = (block.mixer is not None) + (block.ffn is not None)
    extra = 3 if isinstance(block.ffn, Moe) and block.ffn.dense_mlp else 0
    return sublayers * (2 if block.norm_placement == "sandwich" else 1) + extra


def _norm_terms(arch: Arch, name: str, where: str, n: int) -> list[Term]:
    if n == 0:
        return []
    factors = [("d_model", arch.d_model)] + ([("n_norms", n)] if n > 1 else [])
    terms = [_t("norms", f"{name}.weight", where, *factors)]
    if arch.norm.bias:
        terms.append(_t("norms", f"{name}.bias", where, *factors))
    return terms


def _mixer_terms(d_model: int, mixer, where: str) -> list[Term]:
    d = ("d_model", d_model)
    if isinstance(mixer, SoftmaxAttention):
        h, kv, hd = ("n_heads", mixer.n_heads), ("n_kv_heads", mixer.n_kv_heads), ("head_dim", mixer.head_dim)
        vd = ("v_head_dim", mixer.v_head_dim) if mixer.v_head_dim else hd
        projections = [("q_proj", h, hd), ("k_proj", kv, hd)] + ([] if mixer.k_eq_v else [("v_proj", kv, vd)])
        terms = [_t("attention", name, where, d, heads, dim) for name, heads, dim in projections]
        if mixer.output_gate:  # Qwen3NextAttention: q_proj emits queries and their gate, (n_heads, 2 × head_dim)
            terms[0] = _t("attention", "q_proj", where, d, h, hd, ("2 (query, gate)", 2))
        if mixer.qkv_bias:
            terms += [_t("attention", f"{name}.bias", where, heads, dim) for name, heads, dim in projections]
        terms.append(_t("attention", "o_proj", where, h, vd, d))
        if mixer.out_bias:
            terms.append(_t("attention", "o_proj.bias", where, d))
        if mixer.qk_norm == "head":
            terms += [_t("attention", "q_norm", where, hd), _t("attention", "k_norm", where, hd)]
        elif mixer.qk_norm == "full":
            terms += [_t("attention", "q_norm", where, h, hd), _t("attention", "k_norm", where, kv, hd)]
        if mixer.sinks:
            terms.append(_t("attention", "sinks", where, h))
        return terms
    if type(mixer) in _MIXER_TERMS:
        return _MIXER_TERMS[type(mixer)](d, mixer, where)
    raise TypeError(f"no parameter count for mixer {type(mixer).__name__}")


def _mla_terms(d: tuple[str, int], m: LatentAttention, where: str) -> list[Term]:
    h = ("n_heads", m.n_heads)
    qk = ("qk_nope_head_dim + qk_rope_head_dim", m.qk_nope_head_dim + m.qk_rope_head_dim)
    rkv = ("kv_lora_rank", m.kv_lora_rank)
    terms: list[Term] = []
    if m.q_lora_rank is None:
        terms.append(_t("attention", "q_proj", where, d, h, qk))
    else:
        rq = ("q_lora_rank", m.q_lora_rank)
        terms.append(_t("attention", "q_a_proj", where, d, rq))
        if m.bias:
            terms.append(_t("attention", "q_a_proj.bias", where, rq))
        terms += [_t("attention", "q_a_layernorm", where, rq), _t("attention", "q_b_proj", where, rq, h, qk)]
    kv_a = ("kv_lora_rank + qk_rope_head_dim", m.kv_lora_rank + m.qk_rope_head_dim)
    terms.append(_t("attention", "kv_a_proj_with_mqa", where, d, kv_a))
    if m.bias:
        terms.append(_t("attention", "kv_a_proj_with_mqa.bias", where, kv_a))
    terms += [
        _t("attention", "kv_a_layernorm", where, rkv),
        _t("attention", "kv_b_proj", where, rkv, h, ("qk_nope_head_dim + v_head_dim", m.qk_nope_head_dim + m.v_head_dim)),
        _t("attention", "o_proj", where, h, ("v_head_dim", m.v_head_dim), d),
    ]
    if m.bias:
        terms.append(_t("attention", "o_proj.bias", where, d))
    if m.indexer and not m.indexer.shared:  # DeepseekV32Indexer: wq_b, wk, k_norm (LayerNorm: w and b), weights_proj
        ih, ihd = ("index_n_heads", m.indexer.n_heads), ("index_head_dim", m.indexer.head_dim)
        terms += [
            _t("attention", "indexer.wq_b", where, ("q_lora_rank", m.q_lora_rank or 0), ih, ihd),
            _t("attention", "indexer.wk", where, d, ihd),
            _t("attention", "indexer.k_norm", where, ("2", 2), ihd),
            _t("attention", "indexer.weights_proj", where, d, ih),
        ]
    return terms


def _gdn_terms(d: tuple[str, int], m: GatedDeltaNet, where: str) -> list[Term]:
    """Qwen3NextGatedDeltaNet (fused in_proj_qkvz, in_proj_ba) / Qwen3_5GatedDeltaNet (four in_proj_*)."""
    c = "linear_mixers"
    hv, dv = ("n_v_heads", m.n_v_heads), ("v_head_dim", m.v_head_dim)
    conv = ("(2 × n_k_heads × k_head_dim + n_v_heads × v_head_dim)", m.conv_dim)  # q, k, v: conv_dim in the code
    if m.fused_projections:
        proj = [_t(c, "in_proj_qkvz", where, d, ("(2 × n_k_heads × k_head_dim + 2 × n_v_heads × v_head_dim)",
                                                    2 * m.n_k_heads * m.k_head_dim + 2 * m.n_v_heads * m.v_head_dim)),
                _t(c, "in_proj_ba", where, d, ("2", 2), hv)]
    else:
        proj = [_t(c, "in_proj_qkv", where, d, conv),
                _t(c, "in_proj_z", where, d, hv, dv), _t(c, "in_proj_b", where, d, hv), _t(c, "in_proj_a", where, d, hv)]
    return proj + [
        _t(c, "conv1d", where, conv, ("conv_kernel", m.conv_kernel)),  # depthwise, no bias: (conv_dim, 1, kernel)
        _t(c, "dt_bias", where, hv),
        _t(c, "A_log", where, hv),
        _t(c, "norm", where, dv),  # Qwen3NextRMSNormGated: one weight of v_head_dim shared by all heads
        _t(c, "out_proj", where, hv, dv, d),
    ]


def _compressed_terms(d: tuple[str, int], m: CompressedAttention, where: str) -> list[Term]:
    """DeepseekV4Attention: low-rank query, one shared KV head, grouped output, sinks; its compressor and indexer."""
    h, hd, rq = ("n_heads", m.n_heads), ("head_dim", m.head_dim), ("q_lora_rank", m.q_lora_rank)
    g, ro = ("o_groups", m.o_groups), ("o_lora_rank", m.o_lora_rank)
    terms = [
        _t("attention", "q_a_proj", where, d, rq),
        _t("attention", "q_a_norm", where, rq),
        _t("attention", "q_b_proj", where, rq, h, hd),
        _t("attention", "kv_proj", where, d, hd),  # one KV head, read as key and value
        _t("attention", "kv_norm", where, hd),
        # DeepseekV4GroupedLinear: each group of n_heads / o_groups heads → o_lora_rank
        _t("attention", "o_a_proj", where,
           ("n_heads × head_dim / o_groups", m.n_heads * m.head_dim // m.o_groups), g, ro),
        _t("attention", "o_b_proj", where, g, ro, d),
    ]
    if m.sinks:
        terms.append(_t("attention", "sinks", where, h))
    if m.ratio is None:
        return terms
    # The compressor (CSA/HCA): kv and gate projections, a gate bias per position in the block, a norm;
    # with overlap, two series per token.
    series = ("2 series", 2) if m.overlap else ("1 series", 1)
    ratio = ("ratio", m.ratio)
    terms += [_t("attention", f"compressor.{name}", where, d, series, hd) for name in ("kv_proj", "gate_proj")]
    terms += [_t("attention", "compressor.position_bias", where, ratio, series, hd),
              _t("attention", "compressor.kv_norm", where, hd)]
    if m.indexer:  # DeepseekV4Indexer: its own two-series compressor at index_head_dim, queries from the q latent
        ih, ihd, two = ("index_n_heads", m.indexer.n_heads), ("index_head_dim", m.indexer.head_dim), ("2 series", 2)
        terms += [_t("attention", f"indexer.{name}", where, d, two, ihd) for name in ("kv_proj", "gate_proj")]
        terms += [
            _t("attention", "indexer.position_bias", where, ratio, two, ihd),
            _t("attention", "indexer.kv_norm", where, ihd),
            _t("attention", "indexer.q_b_proj", where, rq, ih, ihd),
            _t("attention", "indexer.weights_proj", where, d, ih),
        ]
    return terms


def _mamba2_terms(d: tuple[str, int], m: Mamba2, where: str) -> list[Term]:
    """NemotronHMamba2Mixer: in_proj, depthwise conv1d, dt_bias/A_log/D per head, gated norm, out_proj."""
    h = ("n_heads", m.n_heads)
    inner = ("intermediate_size", m.inner)  # n_heads × head_dim
    conv = ("conv_dim", m.conv_dim)  # intermediate_size + 2 × n_groups × d_state
    projection = ("intermediate_size + conv_dim + n_heads", m.inner + m.conv_dim + m.n_heads)  # z, xBC, dt
    terms = [_t("linear_mixers", "in_proj", where, d, projection)]
    if m.bias:
        terms.append(_t("linear_mixers", "in_proj.bias", where, projection))
    terms.append(_t("linear_mixers", "conv1d.weight", where, conv, ("conv_kernel", m.conv_kernel)))  # (conv_dim, 1, k)
    if m.conv_bias:
        terms.append(_t("linear_mixers", "conv1d.bias", where, conv))
    terms += [_t("linear_mixers", name, where, h) for name in ("dt_bias", "A_log", "D")]
    terms += [_t("linear_mixers", "norm.weight", where, inner), _t("linear_mixers", "out_proj", where, inner, d)]
    if m.bias:
        terms.append(_t("linear_mixers", "out_proj.bias", where, d))
    return terms


def _mamba_terms(d: tuple[str, int], m: Mamba, where: str) -> list[Term]:
    """``FalconMambaMixer`` / ``MambaMixer``: the B, C, Δ norms of Falcon-Mamba have no weights (buffers)."""
    di, n, r, k = ("d_inner", m.d_inner), ("d_state", m.d_state), ("dt_rank", m.dt_rank), ("conv_kernel", m.conv_kernel)
    terms = [_t("linear_mixers", "in_proj", where, d, ("2", 2), di)]  # x and the gate z
    if m.bias:
        terms.append(_t("linear_mixers", "in_proj.bias", where, ("2", 2), di))
    terms.append(_t("linear_mixers", "conv1d", where, di, k))  # depthwise: one filter per channel
    if m.conv_bias:
        terms.append(_t("linear_mixers", "conv1d.bias", where, di))
    terms += [
        _t("linear_mixers", "x_proj", where, di, ("dt_rank + 2 × d_state", m.dt_rank + 2 * m.d_state)),  # Δ, B, C
        _t("linear_mixers", "dt_proj", where, r, di),
        _t("linear_mixers", "dt_proj.bias", where, di),
        _t("linear_mixers", "A_log", where, di, n),
        _t("linear_mixers", "D", where, di),
        _t("linear_mixers", "out_proj", where, di, d),
    ]
    if m.bias:
        terms.append(_t("linear_mixers", "out_proj.bias", where, d))
    return terms


def _short_conv_terms(d: tuple[str, int], m: ShortConv, where: str) -> list[Term]:
    """``Lfm2ShortConv``: in_proj (B, C, x), a depthwise conv at d_model width, out_proj; conv_bias biases all three."""
    terms = [_t("linear_mixers", "in_proj", where, d, ("3", 3), d),
             _t("linear_mixers", "conv", where, d, ("conv_kernel", m.conv_kernel)),
             _t("linear_mixers", "out_proj", where, d, d)]
    if m.bias:
        terms += [_t("linear_mixers", "in_proj.bias", where, ("3", 3), d), _t("linear_mixers", "conv.bias", where, d),
                  _t("linear_mixers", "out_proj.bias", where, d)]
    return terms


_MIXER_TERMS = {  # mixer class → its parameter groups (softmax attention, the common case, is written above)
    LatentAttention: _mla_terms,
    GatedDeltaNet: _gdn_terms,
    CompressedAttention: _compressed_terms,
    Mamba2: _mamba2_terms,
    Mamba: _mamba_terms,
    ShortConv: _short_conv_terms,
}


def _mlp_terms(component: str, prefix: str, d: tuple[str, int], width: tuple[str, int], gated: bool,
               bias: bool, where: str, n: tuple[str, int] | None = None) -> list[Term]:
    """gate/up/down (or up/down) projections, optionally for ``n`` experts at once."""
    many = (n,) if n else ()
    mats = ("gate_proj", "up_proj", "down_proj") if gated else ("up_proj", "down_proj")
    terms = [_t(component, f"{prefix}{name}", where, *many, d, width) for name in mats]
    if bias:
        up_biases = ("gate_proj", "up_proj") if gated else ("up_proj",)
        terms += [_t(component, f"{prefix}{name}.bias", where, *many, width) for name in up_biases]
        terms.append(_t(component, f"{prefix}down_proj.bias", where, *many, d))
    return terms


def _latent_terms(d: tuple[str, int], latent: tuple[str, int], bias: bool, where: str) -> list[Term]:
    """The projections into and out of the experts' latent, shared by all experts (used by every token)."""
    terms = [_t("experts", "fc1_latent_proj", where, d, latent), _t("experts", "fc2_latent_proj", where, latent, d)]
    if bias:
        terms += [_t("experts", "fc1_latent_proj.bias", where, latent), _t("experts", "fc2_latent_proj.bias", where, d)]
    return terms


def _ffn_terms(d_model: int, ffn, where: str) -> list[Term]:
    d = ("d_model", d_model)
    if isinstance(ffn, Mlp):
        return _mlp_terms("mlp", "", d, ("d_ff", ffn.d_ff), ffn.gated, ffn.bias, where)
    assert isinstance(ffn, Moe)
    e = ("n_experts", ffn.n_experts)
    terms = [_t("router", "router", where, d, e)]
    if ffn.router.bias:
        terms.append(_t("router", "router.bias", where, e))
    if ffn.router.scale:  # Gemma4TextRouter: scale (d_model) and per_expert_scale (n_experts)
        terms += [_t("router", "router.scale", where, d), _t("router", "router.per_expert_scale", where, e)]
    if ffn.dense_mlp:
        terms += _mlp_terms("mlp", "", d, ("dense_mlp", ffn.dense_mlp), ffn.gated, False, where)
    if ffn.d_latent:  # NemotronHMoE: fc1_latent_proj (d_model → d_latent) before the experts, fc2 back after
        terms += _latent_terms(d, ("d_latent", ffn.d_latent), ffn.latent_bias, where)
    width_in = ("d_latent", ffn.d_latent) if ffn.d_latent else d  # what each expert reads and writes
    terms += _mlp_terms("experts", "experts.", width_in, ("d_expert", ffn.d_expert), ffn.gated, ffn.expert_bias,
                        where, e)
    if ffn.n_shared_experts:
        width = ("d_shared", ffn.d_shared)
        terms += _mlp_terms("shared_experts", "shared_expert.", d, width, ffn.gated, ffn.shared_bias, where)
        if ffn.shared_gate:
            terms.append(_t("shared_experts", "shared_expert_gate", where, d))
    return terms


# --- totals ----------------------------------------------------------------------------------


def total_params(arch: Arch) -> int:
    """All parameters, tied weights once: what ``sum(p.numel() for p in model.parameters())`` gives."""
    return sum(t.total for t in param_terms(arch))


def breakdown(arch: Arch) -> dict[str, int]:
    """Total parameters per component (every component present, zero when absent)."""
    out = dict.fromkeys(COMPONENTS, 0)
    for t in param_terms(arch):
        out[t.component] += t.total
    return out


def inactive_expert_params(arch: Arch) -> int:
    """Routed-expert parameters a token does not use: (n_experts − top_k) experts per MoE layer."""
    inactive = 0
    for kind, n in arch.layer_counts().items():
        ffn = arch.blocks[kind].ffn
        if isinstance(ffn, Moe):
            per_expert = sum(t.count for t in _ffn_terms(arch.d_model, ffn, kind)
                             if t.name.startswith("experts."))  # not the latent projections every token uses
            inactive += n * per_expert // ffn.n_experts * (ffn.n_experts - ffn.top_k)
    return inactive


def mtp_terms(arch: Arch) -> list[Term]:
    """The multi-token-prediction modules a DeepSeek-V3-style checkpoint stores but transformers skips.

    Each module (DeepSeek-V3's ``modeling_deepseek.py``, layer index ``n_layers``): RMSNorms on the
    hidden state and on the next token's embedding (enorm, hnorm), ``eh_proj`` (2·d_model → d_model),
    one decoder layer of the last block kind, and a shared head with its own norm; the checkpoint also
    stores a copy of the embedding and output matrices with each module.
    """
    if not arch.mtp_layers:
        return []
    d, v = ("d_model", arch.d_model), ("vocab_size", arch.vocab_size)
    layer = sum(t.count for t in block_terms(arch, arch.layers[-1]))
    n = arch.mtp_layers
    return [Term(t.component, t.name, "mtp", t.symbols, t.values, n) for t in [
        _t("mtp", "decoder_layer", "mtp", (f"params of one {arch.layers[-1]} layer", layer)),
        _t("mtp", "enorm + hnorm + shared_head.norm", "mtp", ("3", 3), d),
        _t("mtp", "eh_proj", "mtp", ("2 × d_model", 2 * arch.d_model), d),
        _t("mtp", "embed_tokens + shared_head.head (stored copies)", "mtp", ("2", 2), v, d),
    ]]


def mtp_params(arch: Arch) -> int:
    """Parameters of the MTP modules (0 for models without them); not part of :func:`total_params`."""
    return sum(t.total for t in mtp_terms(arch))


def active_params(arch: Arch) -> int:
    """Parameters used for one token: the total less the routed experts it is not sent to.

    Embeddings and head are included, as in the "A3B"-style figures model publishers give.
    """
    return total_params(arch) - inactive_expert_params(arch)
