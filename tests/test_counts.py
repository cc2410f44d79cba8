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
