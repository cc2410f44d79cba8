"""Qwen4-Exp (``qwen4_exp_text`` and its wrapper ``qwen4_exp``): Qwen3.5-MoE's hybrid under low-rank hyper-connections,
with hashed n-gram per-layer embeddings on some linear layers and the QSA indexer on the softmax-attention layers.

Compared with the model transformers builds on the meta device, exactly: the smallest complete config (transformers
cannot build the bare default: its QSA indexer keys are null), variants that change every size the config has (the
Llama-like and expert variants of tests/test_model_types.py that apply, and Qwen4-Exp's own: streams, rank, PLE
layers and widths, n-gram orders, heads, kernel, prime base, padding, seed, indexer widths, gate activation, layer
types), the wrapper read through its text_config. Cache and FLOPs are derived by hand from the config numbers; the toy
layers (a PLE linear layer with a sigmoid gate; an indexed layer whose budget bites) are checked against
``Qwen4ExpTextDecoderLayer`` in float64, within 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import breakdown, total_params
from gallery.derive import DerivationError, derive, derive_arch
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes_per_token, state_bytes
from gallery.ngram_embedding import table_rows
from gallery.toy import toy_forward, toy_trace

from . import test_model_types as types
from .reference import reference_param_count
from .test_toy import _hf_state, _layer_io, _model_with_toy_layer

BF16 = 2
QSA = {"indexer_n_heads": 4, "indexer_kv_heads": 1, "indexer_head_dim": 256, "indexer_budget": 2048,
       "indexer_compress_ratio": 64}
# Every width distinct: d_model 96, 3 streams of rank 24; 5 layers, indexed on 3 (the default interval of 4), PLE on
# layers 1 and 3 (one-based) with 2 orders × 2 heads of 16; heads of 32, 4 index heads of 40 over blocks of 4.
SMALL = {"model_type": "qwen4_exp_text", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6,
         "num_key_value_heads": 2, "head_dim": 32, "num_hidden_layers": 5, "num_experts": 8, "num_experts_per_tok": 2,
         "moe_intermediate_size": 40, "shared_expert_intermediate_size": 56, "linear_num_key_heads": 2,
         "linear_num_value_heads": 4, "linear_key_head_dim": 16, "linear_value_head_dim": 24, "hc_count": 3,
         "hc_lowrank": 24, "ple_layer_ids": [3, 1], "ple_embed_dim": 64, "heads_per_ngram": 2,
         "ngram_vocab_size_base": 1000, "indexer_n_heads": 4, "indexer_kv_heads": 1, "indexer_head_dim": 40,
         "indexer_budget": 8, "indexer_compress_ratio": 4, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
_OWN = {
    "streams": {"hc_count": 2, "hc_lowrank": 7},
    "no PLE": {"ple_layer_ids": None},
    "PLE widths": {"ple_layer_ids": [2], "ple_embed_dim": None, "ngram_size": 4, "heads_per_ngram": 4,
                   "ple_conv_kernel_size": 3},
    "n-gram table": {"ngram_vocab_size_base": 5003, "make_ngram_vocab_size_divisible_by": 7, "seed": 9},
    "PLE eos list": {"eos_token_id": [5, 2]},
    "indexer widths": {"indexer_n_heads": 3, "indexer_head_dim": 32, "indexer_budget": 12,
                       "indexer_compress_ratio": 3},
    "sigmoid gate": {"output_gate_type": "sigmoid"},
    "layer_types": {"layer_types": ["linear_attention", "full_attention", "linear_attention", "indexed_attention",
                                    "indexed_attention"], "ple_layer_ids": [1, 3]},
    "interval 2": {"full_attention_interval": 2, "ple_layer_ids": [1]},
    "partial rope": {"rope_parameters": {"rope_type": "default", "rope_theta": 5e5, "partial_rotary_factor": 0.5}},
    "no top-k renorm": {"norm_topk_prob": False},
}
_APPLY = ("small", "mha", "mqa", "7 layers", "tied", "untied", "biases", "experts", "null kv heads")
VARIANTS = {k: v for k, v in (types._VARIANTS | types._EXPERT_VARIANTS).items() if k in _APPLY} | _OWN


def test_smallest_complete_config_is_exact_and_the_bare_default_refused():
    types.default_config_is_exact("qwen4_exp_text", QSA, "indexer_n_heads is null")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike({**SMALL, **VARIANTS[variant]})


@pytest.mark.parametrize("config", [{"model_type": "qwen4_exp_text", **QSA},
                                    {"model_type": "qwen4_exp", "text_config": {"model_type": "qwen4_exp_text", **QSA}},
                                    {"model_type": "qwen4_exp", "text_config": SMALL}],
                         ids=["text", "wrapper", "wrapper of a small text config"])
def test_new_drafts_a_spec_that_lints_clean_and_the_try_page_counts_it(tmp_path, capsys, config):
    types.drafts_a_clean_spec(tmp_path, config, capsys)
    types.the_try_page_counts_it(config)


def test_the_bare_wrapper_is_refused_in_one_line():
    with pytest.raises(DerivationError, match="indexer_n_heads is null"):
        derive({"model_type": "qwen4_exp", "text_config": {"model_type": "qwen4_exp_text"}})


@pytest.mark.parametrize(("change", "message"), [
    ({"hc_count": 1}, "hc_count: 1"),
    ({"indexer_kv_heads": 2}, "indexer_kv_heads: 2"),
    ({"indexer_budget": 10}, "multiple of block"),
    ({"indexer_head_dim": 16}, "narrower than the 32 dims"),
    ({"indexer_budget": None}, "indexer_budget is null"),
    ({"ple_layer_ids": [4]}, "ple_layer_ids: 4"),
    ({"ple_layer_ids": [6]}, "ple_layer_ids: 6"),
    ({"eos_token_id": None}, "eos_token_id is unset"),
    ({"ple_embed_dim": 66}, "ple_embed_dim: 66"),
    ({"output_gate_type": "gelu"}, "output_gate_type: 'gelu'"),
    ({"hc_lowrank": "8"}, "hc_lowrank"),
])
def test_what_transformers_refuses_is_refused_in_one_line(change, message):
    from tests.test_model_types import _reference

    assert _reference({**SMALL, **change}) is None
    with pytest.raises(DerivationError, match=message):
        derive_arch({**SMALL, **change})


def test_counts_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    assert arch.layers == ["linear-ngram", "linear", "linear-ngram", "full", "linear"]
    assert total_params(arch) == reference_param_count(SMALL)
    d, n, r, v = 96, 3, 24, 500
    # per sublayer: hc_norm (n·d), down (n·d × r), up (r × n·d), inject (n·d × n); the last mixer has no inject
    hc = 5 * 2 * (n * d * r * 2 + n * d * n) + n * d * r * 2
    assert breakdown(arch)["hyper_connections"] == hc
    # the n-gram tables: each PLE layer's 4 heads' primes after 1000 (layer 0: the first 4, layer 1: the next 4),
    # padded to 128 rows; 16 columns
    primes = [1009, 1013, 1019, 1021, 1031, 1033, 1039, 1049]
    rows = [-(-sum(primes[:4]) // 128) * 128, -(-sum(primes[4:]) // 128) * 128]
    ng = arch.ngram_embedding
    assert [table_rows(ng, i) for i in (0, 1)] == rows == [4096, 4224]
    ple = 64 * n * d + 64 * d + 3 * n * d + n * d * 4  # key, value, three norms, the conv of 4 taps
    assert breakdown(arch)["embeddings"] == v * d + sum(rows) * 16
    assert breakdown(arch)["per_layer_inputs"] == 2 * (ple - 3 * n * d)
    # the indexed layer caches K and V of 2 heads of 32 and the raw index key of 40 per token
    assert kv_bytes_per_token(arch) == (2 * 2 * 32 + 40) * BF16
    # each linear layer: the delta-rule state and the conv window; the PLE layers: (4 − 1) × 3 taps of n·d and 2 ids
    gdn = 4 * 16 * 24 + (2 * 2 * 16 + 4 * 24) * 4
    assert state_bytes(arch) == (4 * gdn + 2 * ((4 - 1) * 3 * n * d + 2)) * BF16
    hcm = 2 * n * d * r + n * d * n  # one sublayer's mixer down, up and inject
    gdn_m = d * (2 * 2 * 16 + 4 * 24) + d * 4 * 24 + 2 * d * 4 + (2 * 2 * 16 + 4 * 24) * 4 + 4 * 24 * d
    attn_m = d * 6 * 32 * 2 + 2 * d * 2 * 32 + 6 * 32 * d + d * 5 * 40  # q (with gate), k, v, o, index_qk_proj
    moe = d * 8 + 2 * 3 * d * 40 + 3 * d * 56 + d  # router, 2 experts, the shared expert and its gate
    matmul = 4 * gdn_m + attn_m + 5 * (moe + 2 * hcm) + 2 * (ple - 3 * n * d) + 2 * n * d * r + d * v
    assert matmul_flops(arch) == 2 * matmul
    T = 4099  # the last query keeps 2 of its 1024 complete blocks (8 tokens) and the tail of 3; it scores every block
    attended, blocks = 8 + 3, 4099 // 4
    assert flops_per_token(arch, T) - flops_per_token(arch, 1) == (
        2 * 6 * (32 + 32) * (attended - 1) + 2 * 4 * 40 * blocks)


def test_the_diagram_and_compare_say_what_differs():
    from gallery.compare import rows
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    spec = spec_from_config({**SMALL, "output_gate_type": "sigmoid"})
    dot = to_dot(spec)
    for words in ("Hyper-connections (low-rank)", "rank-24 mixer", "QSA indexer", "Hashed n-gram embedding",
                  "sigmoid(z)"):
        assert words in dot, words
    values = [v for r in rows([spec, spec]) for v in r.values]
    assert "3 streams, rank-24 mixer" in values and "3-grams, 4 heads, d_embed 64" in values


def _toy_config(toy, kind: str) -> dict:
    """A two-layer model whose second layer is the toy's: a linear layer first, so the streams differ."""
    block, hc = toy.blocks[kind], toy.hyper_connections
    m, f, ng = block.mixer, block.ffn, toy.ngram_embedding
    cfg = {**SMALL, "vocab_size": toy.vocab_size, "hidden_size": toy.d_model, "num_hidden_layers": 2,
           "hc_count": hc.streams, "hc_lowrank": hc.lowrank, "num_experts": f.n_experts,
           "num_experts_per_tok": f.top_k, "moe_intermediate_size": f.d_expert,
           "shared_expert_intermediate_size": f.d_shared, "eos_token_id": 2,
           "layer_types": ["linear_attention", "linear_attention" if kind.startswith("linear") else "indexed_attention"],
           "ple_layer_ids": [2] if ng else None}
    if ng:
        cfg.update(ple_embed_dim=ng.d_embed, heads_per_ngram=ng.heads_per_ngram, ngram_size=ng.ngram_size,
                   ngram_vocab_size_base=ng.vocab_base, make_ngram_vocab_size_divisible_by=ng.pad_to,
                   ple_conv_kernel_size=ng.conv_kernel, seed=ng.seed)
    if m.kind == "gated_deltanet":
        cfg.update(linear_num_key_heads=m.n_k_heads, linear_num_value_heads=m.n_v_heads,
                   linear_key_head_dim=m.k_head_dim, linear_value_head_dim=m.v_head_dim,
                   output_gate_type=m.gate_activation)
    else:
        cfg.update(num_attention_heads=m.n_heads, num_key_value_heads=m.n_kv_heads, head_dim=m.head_dim,
                   indexer_n_heads=m.qsa.n_heads, indexer_head_dim=m.qsa.head_dim, indexer_budget=m.qsa.budget,
                   indexer_compress_ratio=m.qsa.block)
    return cfg


def _hf_qwen4(toy, w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under Qwen4ExpTextDecoderLayer's names: Qwen3.5-MoE's mixer and MoE, then the gated residuals,
    the PLE layer and the indexer's norms (Qwen4ExpTextRMSNorm stores w − 1)."""
    p = f"model.layers.{layer}."
    own = ("attn_hc.", "mixer_hc.", "ffn_hc.", "ngram.", "ngram_embedding.")
    out = _hf_state("qwen3_5_moe_text", toy, {k: v for k, v in w.items() if not k.startswith(own)}, layer)
    hc = {"attn_hc": "attn_hyper_connection", "mixer_hc": "attn_hyper_connection", "ffn_hc": "mlp_hyper_connection",
          "ngram": "ple"}
    for name, value in w.items():
        head, _, rest = name.partition(".")
        if name == "ngram_embedding.weight":
            out[p + "ple.ple_embedding.ngram_embedding.weight"] = value
        elif head in hc:
            module = rest.rpartition(".")[0]
            if "norm" in module:
                value = value - 1
            elif module == "conv1d":
                value = value[:, None, :]
            else:
                value = value.T
            out[p + f"{hc[head]}.{rest}"] = value
        elif name in ("indexer.q_layernorm.weight", "indexer.k_layernorm.weight"):
            out[p + f"self_attn.{name}"] = value - 1
    return out


# the PLE layer over 9 tokens with an eos among them (the n-grams restart there; the conv's taps reach back 3, 6 and
# 9 tokens); the indexed layer over 9 tokens: its budget of 2 blocks of 2 keeps every token of the first queries and
# bites on the later ones
CASES = [("linear-ngram", 9, True), ("full", 9, False)]


@pytest.mark.parametrize(("kind", "seq", "eos"), CASES, ids=[f"{k}-T{t}{'-eos' if e else ''}" for k, t, e in CASES])
def test_toy_layer_equals_transformers(kind, seq, eos):
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    arch = types._arch({**SMALL, "output_gate_type": "sigmoid"})
    toy = toy_trace(arch, arch.layers.index(kind), seq, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    cfg = _toy_config(toy.arch, kind)
    derived = types._arch(cfg)
    assert derived.blocks[derived.layers[1]] == block  # the toy keeps the real structure
    assert (derived.hyper_connections, derived.ngram_embedding) == (toy.arch.hyper_connections,
                                                                     toy.arch.ngram_embedding)

    model = _model_with_toy_layer(transformers.CONFIG_MAPPING["qwen4_exp_text"].from_dict(cfg),
                                  _hf_qwen4(toy.arch, toy.weights, 1), "model.layers.1.")
    ids = (np.arange(seq) * 7 + 3) % toy.arch.vocab_size
    if eos:
        ids[4] = 2
    hidden_in, hidden_out = _layer_io(model, "qwen4_exp_text", 1, None, torch.from_numpy(ids)[None])
    hidden_in = hidden_in.reshape(seq, toy.arch.hyper_connections.streams, toy.arch.d_model)
    steps = toy_forward(toy.arch, toy.weights, hidden_in, ids)
    ops = {s.op: s.value for s in steps}
    if kind == "full" and seq == 9:  # the budget bites: the last query keeps 2 of its 4 blocks and its tail
        assert ops["select blocks"][-1].sum() == 4 + 1
    np.testing.assert_allclose(steps[-1].value, hidden_out.reshape(seq, -1, toy.arch.d_model), rtol=1e-6, atol=1e-6)
