"""LongCat-Flash (``longcat_flash``): two MLA → MLP pairs and a shortcut MoE with zero-compute experts per layer.

The default config, variants that change every size the config has, and configs spelled with the config class's
attribute_map aliases are compared with the model transformers builds on the meta device, exactly. The new wiring
(``sublayer_pairs``, ``shortcut``), the zero-compute experts and MLA's latent scales are checked by a toy layer
against ``LongcatFlashDecoderLayer`` in float64; the cache, FLOPs and active-parameter bounds are derived by hand
from the config numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import active_bounds, active_note, active_params, block_terms, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token

from . import test_model_types as types
from .reference import reference_param_count

BF16 = 2
# Every width distinct: d_model 96, 6 heads, query rank 40, KV latent 24, nope 12 + rope 8 (= head_dim), values 20,
# MLPs of 160, 5 experts of 40 and 3 zero experts, top-4; 3 decoder layers.
SMALL = {"model_type": "longcat_flash", "vocab_size": 500, "hidden_size": 96, "num_layers": 3,
         "num_attention_heads": 6, "q_lora_rank": 40, "kv_lora_rank": 24, "qk_nope_head_dim": 12,
         "qk_rope_head_dim": 8, "head_dim": 8, "v_head_dim": 20, "ffn_hidden_size": 160, "expert_ffn_hidden_size": 40,
         "n_routed_experts": 5, "zero_expert_num": 3, "moe_topk": 4, "pad_token_id": 0}
VARIANTS = {
    "small": {},
    "num_hidden_layers wins": {"num_hidden_layers": 7},  # LongcatFlashConfig: num_layers = 7 // 2 = 3
    "one layer": {"num_layers": 1},
    "tied": {"tie_word_embeddings": True},
    "biases": {"attention_bias": True},
    "router bias": {"router_bias": True},  # LongcatFlashTopkRouter reads it with getattr
    "no zero experts": {"zero_expert_num": 0},
    "top-k beyond the real experts": {"moe_topk": 7},  # 7 of 5 real + 3 zero
    "one expert": {"n_routed_experts": 1, "moe_topk": 1},
    "latent ranks": {"kv_lora_rank": 16, "q_lora_rank": 56},
    "head widths": {"qk_nope_head_dim": 4, "qk_rope_head_dim": 16, "head_dim": 16, "v_head_dim": 8},
    "qk_head_dim given": {"qk_head_dim": 20},
    "null kv heads": {"num_key_value_heads": None},
    "widths": {"hidden_size": 64, "ffn_hidden_size": 72, "expert_ffn_hidden_size": 24},
    "activation": {"hidden_act": "gelu_pytorch_tanh"},
    "yarn": {"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0, "mscale_all_dim": 1.0,
                                 "original_max_position_embeddings": 4096}},
}


def test_default_config_is_exact():
    types.default_config_is_exact("longcat_flash", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike(SMALL | VARIANTS[variant])


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    config = {k: v for k, v in SMALL.items() if k not in (
        "n_routed_experts", "moe_topk", "ffn_hidden_size", "expert_ffn_hidden_size")}
    config |= {"num_local_experts": 6, "num_experts_per_tok": 2, "intermediate_size": 88, "moe_intermediate_size": 28}
    arch = types._arch(config)
    moe = arch.blocks["scmoe"].shortcut
    assert (moe.n_experts, moe.top_k, moe.d_expert, arch.blocks["scmoe"].ffn.d_ff) == (6, 2, 28, 88)
    assert total_params(arch) == reference_param_count(config)


def test_configs_transformers_builds_but_could_never_run_are_refused():
    for change, why in (({"head_dim": 16}, "head_dim is 16"), ({"qk_head_dim": 24}, "qk_head_dim is 24"),
                        ({"num_hidden_layers": 1}, "0 decoder layers"), ({"zero_expert_num": None}, "zero_expert_num"),
                        ({"n_routed_experts": 0}, "n_routed_experts")):
        with pytest.raises(DerivationError, match=why):
            derive(SMALL | change)


def test_each_layer_is_two_pairs_and_a_shortcut_by_hand():
    """Per layer: two MLAs, two MLPs, four norms (input_layernorm and post_attention_layernorm, two each), and one
    MoE whose gate and up are built for every scored expert, zero ones included, down for the real ones."""
    arch = types._arch(SMALL)
    assert arch.n_layers == 3 and arch.layers == ["scmoe"] * 3
    d, h = 96, 6
    mla = d * 40 + 40 + 40 * h * 20 + d * (24 + 8) + 24 + 24 * h * (12 + 20) + h * 20 * d  # + the two latent norms
    mlp, norms = 3 * d * 160, 4 * d
    moe = d * (5 + 3) + (5 + 3) * 2 * d * 40 + 5 * 40 * d  # router, gate and up of 8 experts, down of 5
    assert sum(t.count for t in block_terms(arch, "scmoe")) == 2 * mla + 2 * mlp + norms + moe
    assert total_params(arch) == 3 * (2 * mla + 2 * mlp + norms + moe) + 2 * 500 * d + d


def test_cache_flops_and_active_bounds_by_hand():
    arch = types._arch(SMALL)
    # each of the 3 layers caches two latents and shared RoPE keys, one per attention sublayer
    assert kv_bytes_per_token(arch) == 3 * 2 * (24 + 8) * BF16
    assert kv_bytes(arch, 1000, batch=2) == 3 * 2 * (24 + 8) * 1000 * 2 * BF16
    d, h, total = 96, 6, reference_param_count(SMALL)
    expert = 3 * d * 40  # gate, up and down of one real expert
    unused_zero_rows = 3 * 2 * d * 40  # the zero experts' gate and up rows: no token reads them
    # most: all 4 picks real experts; fewest: 3 of the 4 picks zero experts, 1 real
    most = total - 3 * (1 * expert + unused_zero_rows)
    fewest = total - 3 * (4 * expert + unused_zero_rows)
    assert active_params(arch) == most and active_bounds(arch) == (fewest, most)
    assert f"from {fewest:,}" in active_note(arch) and f"to {most:,}" in active_note(arch)
    plain = types._arch(SMALL | {"zero_expert_num": 0})
    assert active_bounds(plain)[0] == active_bounds(plain)[1] and active_note(plain) == ""
    mla = d * 40 + 40 * h * 20 + d * (24 + 8) + 24 * h * (12 + 20) + h * 20 * d
    matmul = 3 * (2 * mla + 2 * 3 * d * 160 + d * 8 + 4 * expert) + d * 500  # router over all 8; untied head
    assert matmul_flops(arch) == 2 * matmul
    T = 4096  # QKᵀ over nope + rope, A·V over the values, 6 heads, 2 attention sublayers in each of 3 layers
    assert flops_per_token(arch, T) == 2 * matmul + 3 * 2 * 2 * h * (12 + 8 + 20) * T


def _hf_layer(toy, eps: float):
    """LongcatFlashDecoderLayer at the toy's widths, float64, with the toy's weights copied in."""
    import torch
    from transformers import LongcatFlashConfig
    from transformers.models.longcat_flash.modeling_longcat_flash import LongcatFlashDecoderLayer

    block = toy.arch.blocks["scmoe"]
    m, f, moe = block.mixer, block.ffn, block.shortcut
    cfg = LongcatFlashConfig(
        vocab_size=32, hidden_size=toy.arch.d_model, num_layers=1, num_attention_heads=m.n_heads,
        q_lora_rank=m.q_lora_rank, kv_lora_rank=m.kv_lora_rank, qk_nope_head_dim=m.qk_nope_head_dim,
        qk_rope_head_dim=m.qk_rope_head_dim, head_dim=m.qk_rope_head_dim, v_head_dim=m.v_head_dim,
        ffn_hidden_size=f.d_ff, expert_ffn_hidden_size=moe.d_expert, n_routed_experts=moe.n_experts,
        zero_expert_num=moe.zero_experts, moe_topk=moe.top_k, routed_scaling_factor=moe.router.weight_scale,
        rms_norm_eps=eps, rope_parameters={"rope_type": "default", "rope_theta": m.rope.theta})
    cfg._attn_implementation = "eager"
    torch.set_default_dtype(torch.float64)
    try:
        layer = LongcatFlashDecoderLayer(cfg, 0)
    finally:
        torch.set_default_dtype(torch.float32)
    w = {k: torch.from_numpy(v) for k, v in toy.weights.items()}
    state = {"mlp.router.classifier.weight": w["router.weight"].T,
             "mlp.router.e_score_correction_bias": w["router.correction_bias"],
             "mlp.experts.gate_up_proj": torch.cat([w["experts.gate_proj.weight"], w["experts.up_proj.weight"]],
                                                   -1).transpose(1, 2),
             "mlp.experts.down_proj": w["experts.down_proj.weight"].transpose(1, 2)}
    for i in (0, 1):
        state |= {f"input_layernorm.{i}.weight": w[f"{i}.attn_norm.weight"],
                  f"post_attention_layernorm.{i}.weight": w[f"{i}.ffn_norm.weight"]}
        for name in ("q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"):
            state[f"self_attn.{i}.{name}.weight"] = w[f"{i}.{name}.weight"].T
        for name in ("q_a_layernorm", "kv_a_layernorm"):
            state[f"self_attn.{i}.{name}.weight"] = w[f"{i}.{name}.weight"]
        for name in ("gate_proj", "up_proj", "down_proj"):
            state[f"mlps.{i}.{name}.weight"] = w[f"{i}.{name}.weight"].T
    layer.load_state_dict(state, strict=True)
    return cfg, layer


def test_toy_layer_equals_transformers():
    """Both pairs, the shortcut MoE with zero experts (picked by some tokens) and the latent scales, float64."""
    import torch
    from transformers.models.longcat_flash.modeling_longcat_flash import LongcatFlashRotaryEmbedding

    from gallery.toy import toy_forward, toy_trace

    arch = types._arch(SMALL | {"rms_norm_eps": 1e-6})  # LongcatFlashMLA's latent norms keep their default 1e-6
    toy = toy_trace(arch, 0, 6, seed=3)
    block = toy.arch.blocks["scmoe"]
    assert block.sublayer_pairs == 2 and block.shortcut.zero_experts == 2 and block.mixer.latent_scales
    cfg, layer = _hf_layer(toy, 1e-6)
    x = np.random.default_rng(7).standard_normal((6, toy.arch.d_model))
    T = len(x)
    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)[None, None]
    pos = torch.arange(T)[None]
    rope = LongcatFlashRotaryEmbedding(cfg)(torch.zeros(1, dtype=torch.float64), pos)
    held = {}
    layer.mlp.register_forward_hook(lambda module, args, out: held.setdefault("moe", out[0].numpy()))
    with torch.no_grad():
        want = layer(torch.from_numpy(x)[None], attention_mask=mask, position_ids=pos, position_embeddings=rope)[0]
    steps = toy_forward(toy.arch, toy.weights, x)
    picks = next(s for s in steps if s.op == "top-k").details["experts"]
    assert (picks >= 4).any() and (picks < 4).any()  # zero experts and real ones are both picked
    shortcut = next(s for s in steps if s.op == "weighted sum of experts").value
    # the two pairs with their latent scales, without the shortcut: float64 throughout
    np.testing.assert_allclose(steps[-1].value - shortcut, want.numpy() - held["moe"], rtol=1e-6, atol=1e-6)
    # LongcatFlashTopkRouter computes its logits, softmax and weights in float32 whatever the model's dtype (as
    # Nemotron-H's router in tests/test_toy.py): the shortcut, and so the layer's output, carry float32 rounding
    np.testing.assert_allclose(shortcut, held["moe"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(steps[-1].value, want.numpy(), rtol=1e-5, atol=1e-5)


def test_diagram_and_trace_follow_the_pairs():
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    steps = trace(arch, 0, 5)
    assert [s.op for s in steps].count("o_proj") == 2 and [s.op for s in steps].count("router logits") == 1
    assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, "scmoe"))
    assert steps[-1].formula.startswith("x = x + ffn(x) + shortcut(h)")
    dot = to_dot(spec_from_config(SMALL))
    assert '"scmoe.1.ffn_pre" -> "scmoe.1.ffn"' in dot and '"scmoe.0.ffn_pre" -> "scmoe.shortcut.ffn"' in dot
    assert '"scmoe.shortcut.ffn_out" -> "scmoe.add4"' in dot


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": "longcat_flash"}, capsys)


def test_the_try_page_reads_it():
    types.the_try_page_counts_it({"model_type": "longcat_flash"})


def test_stats_says_the_active_range(tmp_path):
    import json
    import subprocess
    import sys

    from .conftest import ROOT

    path = tmp_path / "config.json"
    path.write_text(json.dumps(SMALL))
    run = lambda *flags: subprocess.run([sys.executable, "-m", "gallery", "stats", str(path), *flags],  # noqa: E731
                                        capture_output=True, text=True, cwd=ROOT, check=True).stdout
    fewest, most = active_bounds(types._arch(SMALL))
    assert json.loads(run("--json"))["active_bounds"] == [fewest, most]
    assert f"({fewest:,} to {most:,} active, as routing goes)" in run()
