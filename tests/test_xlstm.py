"""xLSTM (issue 15, the mLSTM kind): the config read as ``xLSTMConfig`` and ``xLSTMModel`` read it (transformers' own
classes, without the ``xlstm`` package) and counted exactly against the model transformers builds on the meta device
(the default config, variants changing every size, both weight modes, biases, num_blocks over num_hidden_layers), the
cache and state FLOPs derived by hand from the config numbers, and the toy layer against transformers' xLSTMBlock
(float64, within 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.derive import derive
from gallery.flops import state_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, state_bytes
from gallery.toy import toy_forward, toy_trace
from gallery.trial import TrialError, spec_from_config

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it
from .test_toy import SEQ, _layer_io, _model_with_toy_layer

MT = "xlstm"
# hidden_size × qk_dim_factor = 48: the config's qk_dim property would round it up to 64, the layer does not
SMALL = {"model_type": MT, "vocab_size": 500, "hidden_size": 96, "num_heads": 4, "num_hidden_layers": 3}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 128}, "heads": {"num_heads": 8}, "one head": {"num_heads": 1},
    "num_blocks": {"num_blocks": 5}, "num_blocks null": {"num_blocks": None}, "layers": {"num_hidden_layers": 4},
    "embedding_dim": {"embedding_dim": 96}, "qk factor": {"qk_dim_factor": 0.25}, "v factor": {"v_dim_factor": 0.5},
    "ffn": {"ffn_proj_factor": 1.3, "ffn_round_up_to_multiple_of": 32}, "ffn exact": {"ffn_round_up_to_multiple_of": 1},
    "bias": {"use_bias": True}, "fused": {"weight_mode": "fused"}, "fused bias": {"weight_mode": "fused", "use_bias": True},
    "tied": {"tie_word_embeddings": True},  # xLSTMForCausalLM ties nothing
    "vocab": {"vocab_size": 777}, "caps": {"gate_soft_cap": 5.0, "output_logit_soft_cap": 10.0},
    "no out norm": {"add_out_norm": False},  # xLSTMModel builds out_norm whatever it says
}


def test_default_config_is_exact():
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and every block's widths are the ones transformers built."""
    arch, model = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    blocks = model.backbone.blocks
    assert len(arch.layers) == len(blocks)
    m, f = arch.blocks["mlstm"].mixer, arch.blocks["mlstm"].ffn
    layer = blocks[0].mlstm_layer
    assert (m.qk_dim, m.v_dim, m.n_heads, f.d_ff) == (layer.qk_dim, layer.v_dim, layer.config.num_heads,
                                                      blocks[0].ffn.up_proj_dim)


def test_the_triton_kernels_of_the_xlstm_package_change_no_count():
    """xLSTM 7B's config names the xlstm package's Triton kernels, which xLSTMConfig refuses without that package: the
    gallery reads the config, and counts what transformers builds with its native kernels."""
    triton = {"chunkwise_kernel": "chunkwise--triton_xl_chunk", "sequence_kernel": "native_sequence__triton",
              "step_kernel": "triton"}
    import transformers

    with pytest.raises(Exception, match="chunkwise_kernel"):  # huggingface_hub's strict dataclass: a Literal
        transformers.CONFIG_MAPPING[MT].from_dict({**SMALL, **triton})
    assert spec_from_config({**SMALL, **triton}).arch == spec_from_config(SMALL).arch


@pytest.mark.parametrize(("change", "why"), [
    ({"embedding_dim": 64}, "embedding_dim 64 differs from hidden_size 96"),
    ({"weight_mode": "both"}, "weight_mode: expected 'single' or 'fused'"),
    ({"num_heads": 5}, "must split into 5 heads"),
])
def test_configs_the_model_cannot_run_are_refused_in_one_line(change, why):
    """transformers builds these on the meta device, but their forward fails (an embedding narrower than the blocks,
    heads that do not divide q) or the config class refuses them (a weight mode it does not know)."""
    with pytest.raises(TrialError, match=why) as err:
        spec_from_config({**SMALL, **change})
    assert "\n" not in str(err.value)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_cache_and_state_flops_by_hand(bundled):
    """xLSTM 7B from its config: no KV cache; each of 32 layers keeps per head C (qk_head × v_head), n (qk_head) and
    m (1), with qk_head = 4096 × 0.5 / 8 = 256 and v_head = 4096 / 8 = 512. One token costs per head: the stabilised
    gates 10; the write of C 4 per element (f'·C, k vᵀ, i'·, +) and of n 3 per element; the read-out q / √d (256) and
    q·C (2 per element); the normaliser q·n (2 × 256), |·|, max, + eps (3) and the division (512)."""
    spec, config = bundled["xlstm-7b"]
    layers, heads, d = config["num_blocks"], config["num_heads"], config["embedding_dim"]
    dk, dv = int(d * config["qk_dim_factor"]) // heads, int(d * config["v_dim_factor"]) // heads
    per_layer = heads * (dk * dv + dk + 1)
    assert kv_bytes_per_token(spec.arch) == 0
    assert state_bytes(spec.arch) == layers * per_layer * 2
    assert kv_bytes(spec.arch, 100_000) == kv_bytes(spec.arch, 10) == layers * per_layer * 2
    per_head = 10 + (4 * dk * dv + 3 * dk) + (dk + 2 * dk * dv) + (2 * dk + 3 + dv)
    assert state_flops(spec.arch) == layers * heads * per_head


def _hf_state(w: dict, fused: bool) -> dict[str, np.ndarray]:
    """The toy's weights under xLSTMBlock's names: Linear stores (out, in); the fused feed-forward's proj_up_gate_z is
    [gate | up]."""
    p, out = "backbone.blocks.0.", {}
    ffn = {"gate_proj": "proj_up_gate", "up_proj": "proj_up", "down_proj": "proj_down"}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if base in ("mixer_norm", "ffn_norm"):
            out[p + f"norm_{'mlstm' if base == 'mixer_norm' else 'ffn'}.{kind}"] = value
        elif base in ffn:
            out[p + f"ffn.{ffn[base]}.{kind}"] = value.T if kind == "weight" else value
        else:
            out[p + f"mlstm_layer.{name}"] = value.T if value.ndim == 2 else value
    if fused:
        for kind in ("weight", "bias"):
            parts = [out.pop(p + f"ffn.{n}.{kind}", None) for n in ("proj_up_gate", "proj_up")]
            if parts[0] is not None:
                out[p + f"ffn.proj_up_gate_z.{kind}"] = np.concatenate(parts)
    return out


@pytest.mark.parametrize("change", [{}, {"weight_mode": "fused", "use_bias": True}, {"chunk_size": 4}],
                         ids=["single", "fused, biases", "chunkwise kernel"])
def test_toy_layer_equals_transformers(change, monkeypatch):
    """The toy block (RMS norm, mLSTM, residual, RMS norm, SwiGLU, residual) against xLSTMBlock with the same weights,
    float64 throughout (no float32 norm reductions, the recurrence's state in float64), positions 0 … T − 1. With
    chunk_size 4 transformers runs the first 4 tokens through its chunkwise kernel, the rest token by token: the
    toy's recurrence equals both.

    Every weight of the block is the toy's, so transformers' own initialisation is skipped: in weight_mode fused it
    fails (``_init_weights`` subtracts a vector of 2 × num_heads from one of num_heads)."""
    import torch
    import transformers

    monkeypatch.setattr(transformers.models.xlstm.modeling_xlstm.xLSTMPreTrainedModel, "_init_weights",
                        lambda self, module: None)

    cfg = {**SMALL, **change, "hidden_size": 16, "num_heads": 2, "num_hidden_layers": 1, "vocab_size": 32,
           "ffn_proj_factor": 0.75, "ffn_round_up_to_multiple_of": 1, "norm_reduction_force_float32": False}
    spec = spec_from_config(cfg)
    toy = toy_trace(spec, 0, SEQ, seed=3)
    block = toy.arch.blocks["mlstm"]
    derived = derive(cfg).arch["blocks"]["mlstm"]
    assert type(block).model_validate(derived, strict=False) == block  # the tiny config reads as the toy block
    hf_config = transformers.CONFIG_MAPPING[MT].from_dict(cfg)
    object.__setattr__(hf_config, "inference_state_dtype", "float64")  # xLSTMBackend's dtype_state
    model = _model_with_toy_layer(hf_config, _hf_state(toy.weights, block.mixer.fused), "backbone.blocks.0.")
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, MT, 0, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=1e-6, atol=1e-6)


def test_the_recurrence_is_causal_and_its_gates_are_bounded(bundled):
    """The toy mLSTM: the stabilised gates lie in (0, 1], and the state after token t does not depend on later
    tokens."""
    spec, _ = bundled["xlstm-7b"]
    toy = toy_trace(spec, 0, SEQ, seed=1)
    by_op = {s.op: s for s in toy.steps}
    gates = by_op["stabilised gates"]
    for g in (gates.value, gates.details["i'"]):
        assert ((g > 0) & (g <= 1)).all()
    x = toy.x.copy()
    x[-1] += 1.0
    changed = {s.op: s.value for s in toy_forward(toy.arch, toy.weights, x)}
    np.testing.assert_array_equal(changed["normalise"][:, :-1], by_op["normalise"].value[:, :-1])
