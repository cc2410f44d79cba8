"""A.X-K2 (``axk2``): A.X-K1 without its MoE output norm, plus DeepSeek-V3.2's indexer on every layer, a fused
query-and-gate projection (``q_gate_proj`` over [q_a_layernorm(c_q) ‖ c_q], the output × σ(gate) before o_proj) and
gated RMSNorms (RMSNorm, then × σ(fc2(silu(fc1 y)))) before attention everywhere and before the MoE on sparse layers;
ungrouped routing when ``n_group`` is null. Compared with the model transformers builds on the meta device, exactly:
the default config, variants that change every size the config has (the Llama-like, expert and latent-attention
variants of tests/test_model_types.py, the legacy dense-layer keys, the gate rank and the indexer's widths) and the
attribute_map aliases. Cache and FLOPs are derived by hand from the config numbers; the toy layer (dense and MoE) is
checked against ``AXK2DecoderLayer`` in float64."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import block_terms, breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes_per_token
from gallery.spec import Arch

from . import test_model_types as types
from .reference import reference_param_count
from .test_model_types_mla import _LEGACY
from .test_toy import _check_against_transformers, _hf_state

BF16 = 2
# AXK2Config annotates q_lora_rank, v_head_dim, num_experts_per_tok and norm_topk_prob without null: transformers
# refuses those variants, and derive refuses them alike (exact_or_refused_alike checks both). It refuses a null
# num_key_value_heads too, a key the latent attention never reads (nor derive): that variant is left out, as for axk1.
_OWN = {
    "gate rank": {"gated_norm_rank": 7},
    "indexer widths": {"index_n_heads": 3, "index_head_dim": 24, "index_topk": 32},
    "grouped routing": {"n_routed_experts": 12, "n_group": 3, "topk_group": 2, "num_experts_per_tok": 3},
    # AXK2Config.validate_architecture's routing checks: refused by both
    "one group only": {"n_group": 4},
    "one group count only": {"topk_group": 2},
    "groups that do not divide the experts": {"n_routed_experts": 10, "n_group": 4, "topk_group": 2},
    "more top groups than groups": {"n_routed_experts": 8, "n_group": 2, "topk_group": 4},
    "no shared expert": {"n_shared_experts": 0},
}
VARIANTS = {k: v for k, v in (types._VARIANTS | types._EXPERT_VARIANTS | types._MLA_VARIANTS | _LEGACY | _OWN).items()
            if k != "null kv heads"}


def test_default_config_is_exact():
    types.default_config_is_exact("axk2", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike(types._config("axk2", VARIANTS[variant]))


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    types.test_configs_spelled_with_attribute_map_aliases_are_exact("axk2")


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": "axk2"}, capsys)


def test_the_try_page_reads_it():
    types.the_try_page_counts_it({"model_type": "axk2"})


def test_what_the_config_class_refuses_is_refused():
    for key in ("q_lora_rank", "num_experts_per_tok", "first_k_dense_replace", "gated_norm_rank", "norm_topk_prob"):
        with pytest.raises(DerivationError, match=f"{key} is null"):
            derive({"model_type": "axk2", key: None})
    with pytest.raises(DerivationError, match="gated_norm_rank"):
        derive({"model_type": "axk2", "gated_norm_rank": "16"})


# Every width distinct: d_model 96, 6 heads, query rank 40, KV latent 24, nope 12 + rope 8, values 20, gate rank 5,
# indexer 3 heads of 16; the legacy default makes layer 0 dense, layers 1 and 2 sparse.
SMALL = {"model_type": "axk2", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6, "q_lora_rank": 40,
         "kv_lora_rank": 24, "qk_nope_head_dim": 12, "qk_rope_head_dim": 8, "v_head_dim": 20,
         "intermediate_size": 160, "moe_intermediate_size": 40, "n_routed_experts": 8, "num_experts_per_tok": 2,
         "n_shared_experts": 1, "num_hidden_layers": 3, "gated_norm_rank": 5, "index_n_heads": 3,
         "index_head_dim": 16, "index_topk": 64, "pad_token_id": 0}


def test_the_options_are_read_per_layer():
    arch = types._arch(SMALL)
    assert arch.layers == ["dense", "moe", "moe"]
    dense, moe = arch.blocks["dense"], arch.blocks["moe"]
    assert (dense.gated_norm.rank, dense.gated_norm.ffn, moe.gated_norm.ffn) == (5, False, True)
    for block in (dense, moe):
        assert block.mixer.q_gate and block.mixer.indexer.n_heads == 3 and block.mixer.gate is None
    assert moe.ffn.router.n_groups is None and not getattr(moe.ffn, "out_norm", False)  # no A.X-K1 output norm


def test_counts_by_hand():
    """Each part of the count written out from the config numbers, against the meta-device model."""
    arch = types._arch(SMALL)
    d, h, rq, r, qk, vd, rank, ih, ihd = 96, 6, 40, 24, 12 + 8, 20, 5, 3, 16
    attention = (d * rq + rq + 2 * rq * h * (qk + vd)  # q_a_proj, q_a_layernorm, q_gate_proj (no q_b_proj)
                 + d * (r + 8) + r + r * h * (12 + vd) + h * vd * d  # kv_a, its norm, kv_b, o_proj
                 + rq * ih * ihd + d * ihd + 2 * ihd + d * ih)  # indexer: wq_b, wk, k_norm (w, b), weights_proj
    gate = 2 * d * rank  # fc1 and fc2 of one gated norm
    parts = breakdown(arch)
    assert parts["attention"] == 3 * attention
    assert parts["norm_gates"] == (1 + 2 * 2) * gate  # the input norm of 3 layers, the ffn norm of the 2 sparse ones
    assert parts["norms"] == 3 * 2 * d + d  # each gated norm keeps its RMSNorm weight; the final norm
    assert total_params(arch) == reference_param_count(SMALL)


def test_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    # MLA caches the KV latent, the shared RoPE key and the indexer's key per token in each of 3 layers
    assert kv_bytes_per_token(arch) == 3 * (24 + 8 + 16) * BF16
    d, h, rq, qk, vd = 96, 6, 40, 20, 20
    attention = (d * rq + 2 * rq * h * (qk + vd) + d * (24 + 8) + 24 * h * (12 + vd) + h * vd * d
                 + rq * 3 * 16 + d * 16 + d * 3)  # the indexer's three projections
    gates = 2 * d * 5  # a gated norm's fc1 and fc2 are matrices a token multiplies with
    dense = 3 * d * 160
    moe = d * 8 + (2 + 1) * 3 * d * 40  # the router, 2 routed experts and the shared one
    matmul = 3 * attention + (3 + 2) * gates + dense + 2 * moe + d * 500  # and the untied head
    assert matmul_flops(arch) == 2 * matmul
    for T, seen in ((40, 40), (4096, 64)):  # attention over at most index_topk 64 tokens; the indexer scores all T
        assert flops_per_token(arch, T) == 2 * matmul + 3 * (2 * h * (qk + vd) * seen + 2 * 3 * 16 * T)


def _axk2_state(mt: str, toy: Arch, w: dict, layer: int) -> dict[str, np.ndarray]:
    """AXK2DecoderLayer's names: a gated norm keeps its RMSNorm as ``norm`` and its gate as ``mlp.fc1``/``mlp.fc2``;
    the query and gate come from ``self_attn.q_gate_proj``; the rest as the common mapping names it."""
    p, block = f"model.layers.{layer}.", toy.blocks[toy.layers[0]]
    hf_norm = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}
    own = {k for k in w if ".mlp.fc" in k or k == "q_gate_proj.weight"}
    out = _hf_state(mt, toy, {k: v for k, v in w.items() if k not in own}, layer)
    gated = [hf_norm["attn_norm"]] + [hf_norm["ffn_norm"]] * block.gated_norm.ffn
    out = {(k.replace(".weight", ".norm.weight") if k.removeprefix(p) in {f"{g}.weight" for g in gated} else k): v
           for k, v in out.items()}
    for k in own:
        norm, _, rest = k.partition(".")
        out[p + (f"{hf_norm[norm]}.{rest}" if rest.startswith("mlp.") else f"self_attn.{k}")] = w[k].T
    return out


@pytest.mark.parametrize("layer", [0, 1])
def test_toy_layer_equals_transformers(layer):
    """The dense layer (a gated input norm) and a sparse one (gated before attention and before the MoE), with the
    fused query gate and the indexer, against AXK2DecoderLayer in float64."""
    from gallery.gated_norm import RANK_TOY

    config = SMALL | {"gated_norm_rank": RANK_TOY}  # the toy's rank (its config must read as the toy block)
    arch = types._arch(config)
    ops = [s.op for s in _check_against_transformers(arch, config, layer, _axk2_state)]
    assert ops[:6] == ["attn norm (pre)", "attn gate: fc1", "attn gate: silu", "attn gate: fc2", "attn gate: × σ",
                       "q_a_proj"]
    assert ops.index("concat [normed | raw] c_q") == ops.index("q_a_layernorm") + 1
    assert ops.index("gate") == ops.index("o_proj") - 1 and "q_b_proj" not in ops
    assert ("ffn gate: × σ" in ops) == (layer == 1)


def test_options_are_traced_counted_and_drawn():
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    for layer, kind in ((0, "dense"), (1, "moe")):
        steps = trace(arch, layer, 7)
        # every tensor the trace multiplies with is counted, once
        assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, kind))
    steps = {s.op: s for s in trace(arch, 1, 7)}
    assert [p.shape for p in steps["q_gate_proj"].params] == [(80, 6 * (20 + 20))]
    assert steps["ffn gate: fc1"].params[0].shape == (96, 5) and steps["ffn gate: fc2"].flops == 2 * 7 * 5 * 96
    dot = to_dot(spec_from_config(SMALL))
    assert dot.count("× σ(fc2(silu(fc1 y))), 96 → 5 → 96") == 3  # dense: before attention; sparse: before both
    assert "q_gate_proj" in dot


def test_refused_wiring():
    from pydantic import ValidationError

    arch = types._arch(SMALL).model_dump()
    arch["blocks"]["moe"]["norm_placement"] = "sandwich"
    with pytest.raises(ValidationError, match="gated_norm gates pre norms"):
        Arch.model_validate(arch, strict=False)
    arch = types._arch(SMALL).model_dump()
    arch["blocks"]["dense"]["mixer"]["q_lora_rank"] = None
    with pytest.raises(ValidationError, match="q_gate reads the query latent"):
        Arch.model_validate(arch, strict=False)
