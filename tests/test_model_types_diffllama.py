"""DiffLlama (differential attention; its counts against transformers: ``test_model_types_positions.py``): odd KV
heads refused as transformers refuses them; its toy layer against the same tiny layer in transformers (float64; its
softmax and norms run in float32, so within 1e-5), and its cache and attention FLOPs by hand."""

from __future__ import annotations

import pytest

from gallery.counts import breakdown
from gallery.derive import DerivationError, derive
from gallery.flops import attention_flops
from gallery.memory import kv_bytes_per_token

from .test_model_types import _arch, _reference
from .test_model_types_positions import _SMALL as _SMALL_ALL
from .test_model_types_positions import toy_layer_equals_transformers
from .test_toy import _renamed

_SMALL = {"model_type": "diffllama", **_SMALL_ALL["diffllama"]}  # its counts: test_model_types_positions.py


def test_odd_kv_heads_are_refused_in_one_line():
    assert _reference(_SMALL | {"num_key_value_heads": 3}) is None
    with pytest.raises(DerivationError, match="even number"):
        derive(_SMALL | {"num_key_value_heads": 3})


def test_cache_lambdas_and_attention_flops_by_hand():
    """K and V as Llama's (2 KV heads of 16); four λ vectors of head_dim per layer; each of the 6 heads scores 16 dims
    and reads both value halves, 2 × 16 dims."""
    arch = _arch(_SMALL)
    assert kv_bytes_per_token(arch) == 3 * 2 * 2 * 16 * 2
    attention = 3 * (96 * 96 + 2 * 96 * 32 + 96 * 96 + 4 * 16)  # q, k and v, o, the λ vectors
    assert breakdown(arch)["attention"] == attention
    assert attention_flops(arch, 50) == 3 * 2 * 6 * (16 + 2 * 16) * 50


@pytest.mark.parametrize("kv", [2, 4])  # grouped (3 query heads per KV head) and one query head per KV head
def test_toy_layer_equals_transformers(kv):
    cfg = {"model_type": "diffllama", "vocab_size": 32, "hidden_size": 16, "num_attention_heads": 4,
           "num_key_value_heads": kv, "head_dim": 8, "num_hidden_layers": 1, "intermediate_size": 12}
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"} | {
        k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj", "o_proj", "lambda_q1", "lambda_k1", "lambda_q2",
                                      "lambda_k2")} | {k: f"mlp.{k}" for k in ("gate_proj", "up_proj", "down_proj")}
    steps = toy_layer_equals_transformers(cfg, "model.layers.", lambda w, p: _renamed(names, w, p), tol=1e-5)
    ops = [s.op for s in steps]
    assert ops.index("softmax") < ops.index("O1 − λ · O2") < ops.index("RMS norm per pair") < ops.index("o_proj")
