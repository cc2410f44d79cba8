"""Parameter counts equal what transformers builds from the same config, exactly."""

from __future__ import annotations

import pytest

from gallery.counts import COMPONENTS, active_params, breakdown, param_terms, total_params

from .conftest import spec_ids
from .reference import reference_model, reference_param_count


@pytest.mark.parametrize("slug", spec_ids())
def test_total_equals_transformers(bundled, slug):
    spec, config = bundled[slug]
    assert total_params(spec.arch) == reference_param_count(config)


@pytest.mark.parametrize("slug", spec_ids())
def test_components_sum_to_total(bundled, slug):
    spec, _ = bundled[slug]
    parts = breakdown(spec.arch)
    assert set(parts) == set(COMPONENTS)
    assert sum(parts.values()) == total_params(spec.arch)


@pytest.mark.parametrize("slug", spec_ids())
def test_embedding_and_head_match_transformers_modules(bundled, slug):
    """The embeddings and head components equal the input/output embedding modules' sizes."""
    spec, config = bundled[slug]
    model = reference_model(config)
    inp = model.get_input_embeddings().weight.numel()
    parts = breakdown(spec.arch)
    assert parts["embeddings"] >= inp  # learned positions add to token embeddings
    out = model.get_output_embeddings()
    tied = out.weight is model.get_input_embeddings().weight
    assert spec.arch.embedding.tied == tied
    head = 0 if tied else out.weight.numel()
    head += out.bias.numel() if getattr(out, "bias", None) is not None else 0
    assert parts["head"] == head


@pytest.mark.parametrize("slug", spec_ids())
def test_active_never_exceeds_total(bundled, slug):
    spec, _ = bundled[slug]
    assert 0 < active_params(spec.arch) <= total_params(spec.arch)


def test_formula_explains_its_number(bundled):
    """Every term's formula ends in the number it explains."""
    for spec, _ in bundled.values():
        for term in param_terms(spec.arch):
            assert f"= {term.count:,}" in term.formula


def test_mtp_modules_counted_apart_from_what_transformers_builds(bundled):
    from gallery.counts import mtp_params

    from .reference import reference_model

    spec, config = bundled["deepseek-v3"]
    model = reference_model(config)
    last_layer = sum(p.numel() for p in model.model.layers[-1].parameters())  # an MoE decoder layer
    d, v = config["hidden_size"], config["vocab_size"]
    # DeepSeek-V3's MTP module: the layer + enorm, hnorm, head norm (3·d) + eh_proj (2d → d)
    # + the embedding and head copies stored with it (2·V·d); num_nextn_predict_layers of them.
    expected = config["num_nextn_predict_layers"] * (last_layer + 3 * d + 2 * d * d + 2 * v * d)
    assert mtp_params(spec.arch) == expected
    assert mtp_params(bundled["llama-2-7b-hf"][0].arch) == 0


def test_hyper_connections_and_compressed_attention_match_transformers_modules(bundled):
    """DeepSeek-V4's components against the modules transformers builds (attn_hc, ffn_hc, hc_head; self_attn)."""
    spec, config = bundled["deepseek-v4-flash"]
    model = reference_model(config)

    def numel(names):
        return sum(p.numel() for n, p in model.named_parameters() if any(k in n for k in names))

    parts = breakdown(spec.arch)
    assert parts["hyper_connections"] == numel(("attn_hc.", "ffn_hc.", "hc_head.")) == 33_884_439
    assert parts["attention"] == numel(("self_attn.",))
    assert parts["router"] == numel(("mlp.gate.",))
    # The odd total: every hyper-connection has 3 scales (86 of them: even), the hyper-head 1.
    assert total_params(spec.arch) % 2 == 1 and model.model.hc_head.hc_scale.numel() == 1


def test_nemotron_3_nano_components_by_hand(bundled):
    """Each Nemotron-H part written out from the config, the way NemotronH's modules build it."""
    spec, c = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    d, p = c["hidden_size"], c["hybrid_override_pattern"]
    h, hd, g, n, k = c["mamba_num_heads"], c["mamba_head_dim"], c["n_groups"], c["ssm_state_size"], c["conv_kernel"]
    inner, conv_dim = h * hd, h * hd + 2 * g * n
    # in_proj (z, xBC, dt), conv1d weight + bias, dt_bias + A_log + D, gated norm, out_proj
    mamba = d * (inner + conv_dim + h) + conv_dim * k + conv_dim + 3 * h + inner + inner * d
    experts = c["n_routed_experts"] * 2 * d * c["moe_intermediate_size"]  # up and down, ungated
    parts = breakdown(spec.arch)
    assert parts["linear_mixers"] == p.count("M") * mamba
    assert parts["experts"] == p.count("E") * experts
    assert parts["shared_experts"] == p.count("E") * 2 * d * c["moe_shared_expert_intermediate_size"]
    assert parts["router"] == p.count("E") * c["n_routed_experts"] * d  # the correction bias is a buffer
    assert parts["attention"] == p.count("*") * d * c["head_dim"] * (2 * c["num_attention_heads"]
                                                                      + 2 * c["num_key_value_heads"])
    assert parts["norms"] == (len(p) + 1) * d  # one per layer, plus the final norm


def test_latent_experts_are_inactive_but_their_projections_are_not():
    from gallery.derive import derive
    from gallery.spec import Arch

    config = {"model_type": "nemotron_h", "hidden_size": 96, "hybrid_override_pattern": "E", "vocab_size": 100,
              "n_routed_experts": 8, "num_experts_per_tok": 3, "moe_intermediate_size": 18,
              "moe_shared_expert_intermediate_size": 26, "moe_latent_size": 32}
    arch = Arch.model_validate(derive(config).arch, strict=False)
    assert total_params(arch) == reference_param_count(config)
    # 5 of 8 experts unused, each up (32 → 18) and down (18 → 32); the 96 ↔ 32 projections always run.
    assert total_params(arch) - active_params(arch) == 5 * 2 * 32 * 18
