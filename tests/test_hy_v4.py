"""HY-V4 (``hy_v4``): gated MLA with learned sinks and GLM-5's full-or-shared DSA indexer, hyper-connections without the
comb matrix (iHC) and their hyper-head, sigmoid routing with a correction bias over experts whose SwiGLU is clamped.

Compared with the model transformers builds on the meta device, exactly: the default config (34 layers, 256 experts),
variants that change every size the config has (the Llama-like, expert and latent-attention variants of
tests/test_model_types.py, and HY-V4's own: indexer and MLP layer lists, indexer widths, streams, the post scale,
the clamp, tying, biases) and configs spelled with the attribute_map alias. Cache and FLOPs are derived by hand from
the config numbers; the toy layer (a full-indexer dense layer, a full-indexer MoE layer with a clamp that bites, a
shared-indexer layer) is checked against ``HYV4DecoderLayer`` (float64 model, but its hyper-connections, RMS norms
and indexer scores compute in float32: within 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes_per_token
from gallery.toy import EXPERT_TOY, FF_TOY, toy_forward, toy_trace

from . import test_model_types as types
from .reference import reference_param_count
from .test_toy import _hf_moe, _layer_io, _model_with_toy_layer

BF16 = 2
# Every width distinct: d_model 96, 6 heads, query rank 40, KV latent 24, nope 12 + rope 8, values 20, indexer 3 × 16,
# 3 streams; 6 layers: indexer full on 0, 1, 5 (the default rule), shared on 2-4; layer 0 dense.
SMALL = {"model_type": "hy_v4", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "q_lora_rank": 40,
         "kv_lora_rank": 24, "qk_nope_head_dim": 12, "qk_rope_head_dim": 8, "v_head_dim": 20,
         "intermediate_size": 160, "moe_intermediate_size": 40, "n_routed_experts": 8, "num_experts_per_tok": 2,
         "n_shared_experts": 1, "index_n_heads": 3, "index_head_dim": 16, "index_topk": 64, "hc_mult": 3,
         "num_hidden_layers": 6, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
_OWN = {
    "indexer_types": {"indexer_types": ["full", "shared", "full", "full", "shared"]},
    "mlp_layer_types": {"mlp_layer_types": ["sparse", "dense", "dense", "sparse", "sparse"]},
    "indexer widths": {"index_n_heads": 5, "index_head_dim": 24, "index_topk": 7},
    "two streams": {"hc_mult": 2, "hc_magnitude": 3.5},
    "one stream": {"hc_mult": 1},
    "clamp": {"swiglu_limit": 0.5},
    "attention biases": {"attention_bias": True},
    "tied, 9 layers": {"tie_word_embeddings": True, "num_hidden_layers": 9},
    "no shared expert": {"n_shared_experts": 0},
}
# The experts apply SiLU whatever hidden_act says: another activation is refused (test below), not counted. The
# latent attention never reads num_key_value_heads (HYV4Config overwrites it; its annotation refuses null, as
# glm4_moe_lite's, tests/test_model_types.py).
_NOT_APPLICABLE = {"activation", "null kv heads"}
VARIANTS = {k: v for k, v in (types._VARIANTS | types._EXPERT_VARIANTS | types._MLA_VARIANTS).items()
            if k not in _NOT_APPLICABLE} | _OWN


def test_default_config_is_exact():
    types.default_config_is_exact("hy_v4", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike(types._config("hy_v4", VARIANTS[variant]))


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    types.test_configs_spelled_with_attribute_map_aliases_are_exact("hy_v4")


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": "hy_v4"}, capsys)


def test_the_try_page_reads_it():
    types.the_try_page_counts_it({"model_type": "hy_v4"})


def test_layer_lists_follow_the_config_class_by_hand():
    """HYV4Config.__post_init__: indexer full on layer 0 and where (i − 1) % 4 == 0, else shared; one dense layer
    first, then sparse; given lists win."""
    layers = lambda **c: types._arch({"model_type": "hy_v4", "num_hidden_layers": 7, **c}).layers  # noqa: E731
    assert layers() == ["full-dense", "full-moe", "reuse-moe", "reuse-moe", "reuse-moe", "full-moe", "reuse-moe"]
    assert layers(num_hidden_layers=1) == ["dense"]  # one layer: nothing to tell apart but its MLP
    assert layers(indexer_types=["full"] * 7, mlp_layer_types=["sparse"] * 7) == ["moe"] * 7
    with pytest.raises(DerivationError, match="indexer_types"):
        derive({"model_type": "hy_v4", "num_hidden_layers": 2, "indexer_types": ["full", "sometimes"]})
    with pytest.raises(DerivationError, match="mlp_layer_types"):
        derive({"model_type": "hy_v4", "num_hidden_layers": 2, "mlp_layer_types": ["dense"]})


def test_what_the_config_class_overwrites_or_refuses():
    # num_key_value_heads and head_dim are overwritten in __post_init__: any value counts the same
    plain = total_params(types._arch(SMALL))
    assert total_params(types._arch({**SMALL, "num_key_value_heads": 2, "head_dim": 999})) == plain
    with pytest.raises(DerivationError, match="hidden_act: HY-V4's experts apply SiLU"):
        derive({**SMALL, "hidden_act": "gelu"})
    assert types._arch({**SMALL, "hidden_act": "gelu", "mlp_layer_types": ["dense"] * 6}).blocks[
        "full-dense"].ffn.activation == "gelu"  # dense layers only: described
    for key, value, what in (("hc_mult", 0, "hc_mult"), ("hc_magnitude", "2", "hc_magnitude"),
                             ("swiglu_limit", -1.0, "swiglu_limit"), ("index_topk", None, "index_topk")):
        with pytest.raises(DerivationError, match=what):
            derive({**SMALL, key: value})


def test_cache_flops_and_hyper_connections_by_hand():
    arch = types._arch(SMALL)
    assert arch.layers == ["full-dense", "full-moe", "reuse-moe", "reuse-moe", "reuse-moe", "full-moe"]
    assert total_params(arch) == reference_param_count(SMALL)
    d, h, n, ih, ihd = 96, 6, 3, 3, 16
    # iHC: per sublayer fn (2n × n·d), base 2n, scale 2; the hyper-head fn (n × n·d), base n, scale 1
    hc = 6 * 2 * (2 * n * n * d + 2 * n + 2) + (n * n * d + n + 1)
    assert breakdown(arch)["hyper_connections"] == hc
    # MLA caches the KV latent and the shared RoPE key in all 6 layers, the indexer's key in the 3 full ones
    assert kv_bytes_per_token(arch) == (6 * (24 + 8) + 3 * ihd) * BF16
    attention = d * 40 + 40 * h * (12 + 8) + d * (24 + 8) + 24 * h * (12 + 20) + h * 20 * d  # q_a, q_b, kv_a, kv_b, o
    attention += d * h * 20  # gate_proj; the sinks are elementwise
    indexer = 40 * ih * ihd + d * ihd + d * ih  # wq_b, wk, weights_proj (k_norm is elementwise)
    streams = 2 * (2 * n * n * d)  # each sublayer's fn
    dense = 3 * d * 160
    moe = d * 8 + (2 + 1) * 3 * d * 40  # the router, 2 routed experts and the shared one
    matmul = 6 * (attention + streams) + 3 * indexer + dense + 5 * moe + n * n * d + d * 500  # hyper-head fn, head
    assert matmul_flops(arch) == 2 * matmul
    T = 4096  # QKᵀ over nope + rope dims, A·V over the value dims, on the top-64 tokens; the indexer scores all T
    assert flops_per_token(arch, T) == 2 * matmul + 6 * 2 * h * (12 + 8 + 20) * 64 + 3 * 2 * ih * ihd * T


def test_the_diagram_and_compare_say_what_differs():
    from gallery.compare import rows
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    spec = spec_from_config(SMALL)
    dot = to_dot(spec)
    for words in ("Hyper-connections (iHC)", "adds it to itself (no mixing)", "learned attention sinks",
                  "output gate", "reuses the previous indexer", "gate ≤ 10"):
        assert words in dot, words
    assert "3 streams, no mixing" in [v for r in rows([spec, spec]) for v in r.values]


# Layers 0 (full indexer, dense) and 1 (full indexer, MoE, a clamp of 0.05 that bites) at several lengths; layer 2
# (shared: reuses layer 1's top-k) where the top-k spans every earlier token, so the reuse is the causal mask both
# sides have (the toy cannot hold layer 1's pick).
CASES = [(0, 2), (0, 6), (0, 9), (1, 6), (1, 9), (2, 3)]


def _toy_config(toy, layer: int) -> dict:
    block = toy.blocks[toy.layers[0]]
    m, f, n = block.mixer, block.ffn, layer + 1
    cfg = {**SMALL, "vocab_size": toy.vocab_size, "hidden_size": toy.d_model, "num_hidden_layers": n,
           "num_attention_heads": m.n_heads, "q_lora_rank": m.q_lora_rank, "kv_lora_rank": m.kv_lora_rank,
           "qk_nope_head_dim": m.qk_nope_head_dim, "qk_rope_head_dim": m.qk_rope_head_dim,
           "v_head_dim": m.v_head_dim, "index_n_heads": m.indexer.n_heads, "index_head_dim": m.indexer.head_dim,
           "index_topk": m.indexer.top_k, "intermediate_size": FF_TOY, "moe_intermediate_size": EXPERT_TOY,
           "hc_mult": toy.hyper_connections.streams, "hc_magnitude": toy.hyper_connections.post_scale,
           "swiglu_limit": 0.05, "bos_token_id": 0, "eos_token_id": 0}
    if f.kind == "moe":
        cfg.update(n_routed_experts=f.n_experts, num_experts_per_tok=f.top_k)
    return cfg


def _hf_state(w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under HYV4DecoderLayer's names; Linear weights stored (out, in)."""
    p = f"model.layers.{layer}."
    renamed = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "g_proj": "self_attn.gate_proj"}
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if name.startswith(("attn_hc.", "ffn_hc.")):
            out[p + name] = value.T if kind == "fn" else value  # fn: (2n, n·d)
        elif name.startswith(("experts.", "router.")):
            continue  # _hf_moe
        elif name.startswith("shared_expert."):
            out[p + "mlp.shared_experts." + name.removeprefix("shared_expert.")] = value.T
        elif base in ("gate_proj", "up_proj", "down_proj"):
            out[p + "mlp." + name] = value.T
        elif name == "sinks":
            out[p + "self_attn.sinks"] = value
        else:
            out[p + (renamed.get(base) or f"self_attn.{base}") + "." + kind] = value.T if value.ndim == 2 else value
    return out | (_hf_moe("hy_v4", w, p + "mlp.") if "router.weight" in w else {})


@pytest.mark.parametrize(("layer", "seq"), CASES, ids=[f"L{n}-T{t}" for n, t in CASES])
def test_toy_layer_equals_transformers(layer, seq):
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    arch = types._arch({**SMALL, "swiglu_limit": 0.05})
    toy = toy_trace(arch, layer, seq, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    assert (block.mixer.indexer.shared, block.ffn.kind) == ((False, "mlp"), (False, "moe"), (True, "moe"))[layer]
    cfg = _toy_config(toy.arch, layer)
    derived = types._arch(cfg)
    assert derived.blocks[derived.layers[layer]] == block  # the toy keeps the real structure
    assert derived.hyper_connections == toy.arch.hyper_connections

    model = _model_with_toy_layer(transformers.CONFIG_MAPPING["hy_v4"].from_dict(cfg), _hf_state(toy.weights, layer),
                                  f"model.layers.{layer}.")
    ids = np.arange(seq) % toy.arch.vocab_size
    hidden_in, hidden_out = _layer_io(model, "hy_v4", layer, None, torch.from_numpy(ids)[None])
    assert hidden_in.shape == (seq, toy.arch.hyper_connections.streams, toy.arch.d_model)
    steps = toy_forward(toy.arch, toy.weights, hidden_in, ids)
    # a query whose top-k boundary falls on a tie (ReLU's exact zeros) may keep either token: torch.topk's pick among
    # ties is implementation-defined, the toy keeps the earlier one; a token's output depends only on its own pick
    tied = np.zeros(seq, dtype=bool)
    if not block.mixer.indexer.shared:
        [scores] = [s.value for s in steps if s.op == "index scores"]
        k, best = block.mixer.indexer.top_k, -np.sort(-scores, -1)
        if best.shape[1] > k:
            tied = np.isfinite(best[:, k]) & (best[:, k - 1] == best[:, k])
    assert tied.sum() <= seq // 3
    if block.ffn.kind == "moe":  # the clamp bites: the gate capped before SiLU
        ops = {s.op: s.value for s in steps}
        assert (ops["clamp"] < ops["experts.gate_proj"]).any()
    np.testing.assert_allclose(steps[-1].value[~tied], hidden_out[~tied], rtol=1e-5, atol=1e-5)
