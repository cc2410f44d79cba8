"""Model types of issue 15 with ALiBi positions and parallel blocks: BLOOM, MPT and Falcon (their counts against
transformers are checked with the other types of this family in ``test_model_types_positions.py``); ALiBi's slopes and bias against transformers' own
tensors; the toy layers against the same tiny layers in transformers (float64, within 1e-6); cache and FLOPs by
hand."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.diagram import to_dot
from gallery.flops import attention_flops
from gallery.kinds.alibi import slopes
from gallery.memory import kv_bytes_per_token
from gallery.trial import spec_from_config

from .test_model_types import _arch
from .test_model_types_positions import _NEW_ARCH, _SMALL, toy_layer_equals_transformers

TYPES = ["bloom", "mpt", "falcon"]  # their counts, variants, aliases and refusals: tests/test_model_types_positions.py

# --- ALiBi -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_heads", [1, 2, 6, 8, 12, 16, 71])
def test_alibi_slopes_are_transformers(n_heads):
    """BLOOM's and MPT's slope rules (written differently) give the same slopes; ours equal both."""
    import torch
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

    np.testing.assert_allclose(slopes(n_heads), _get_alibi_slopes(n_heads, torch.device("cpu")).numpy(), rtol=1e-6)
    mpt = build_mpt_alibi_tensor(n_heads, 2)[:, 0, 0].numpy()  # the bias of key 0 seen from key 1: −m_h
    np.testing.assert_allclose(slopes(n_heads), -mpt, rtol=1e-6)
    assert slopes(8).tolist() == [2.0 ** -k for k in range(1, 9)]  # the paper's 1/2 … 1/256 for 8 heads


def test_positions_read_by_hand():
    bloom, mpt, falcon = (_arch({"model_type": t, **_SMALL[t]}) for t in TYPES)
    for arch in (bloom, mpt):
        m = arch.blocks["full"].mixer
        assert m.rope is None and m.alibi is not None and not m.alibi.before_scale
    assert bloom.embedding.norm and not mpt.embedding.norm and bloom.context_length is None
    assert not mpt.norm.bias and mpt.context_length == 100
    assert falcon.blocks["full"].mixer.rope.theta == 10000.0 and falcon.blocks["full"].mixer.alibi is None
    assert _arch({"model_type": "falcon", **_SMALL["falcon"], "alibi": True}).blocks["full"].mixer.alibi.before_scale


def test_cache_and_attention_flops_by_hand():
    """Falcon-7B's layout: one K/V head of 16 per layer; BLOOM: 6 heads; Falcon-40B's: 2 groups."""
    falcon = _arch({"model_type": "falcon", **_SMALL["falcon"]})
    assert kv_bytes_per_token(falcon) == 3 * 2 * 1 * 16 * 2
    assert attention_flops(falcon, 50) == 3 * 2 * 6 * (16 + 16) * 50
    assert kv_bytes_per_token(_arch({"model_type": "falcon", **_SMALL["falcon"], **_NEW_ARCH})) == 3 * 2 * 2 * 16 * 2
    assert kv_bytes_per_token(_arch({"model_type": "bloom", **_SMALL["bloom"]})) == 3 * 2 * 6 * 16 * 2


def test_the_diagram_says_alibi_and_the_embedding_norm():
    dot = to_dot(spec_from_config({"model_type": "bloom", **_SMALL["bloom"]}))
    assert "ALiBi" in dot and "RoPE" not in dot and "→ LayerNorm" in dot


# --- the toy layer against transformers' ---------------------------------------------------------------------------

def _fused(w: dict, name: str, order: list[tuple[str, int]], hd: int) -> dict:
    """Q, K and V of the toy fused into one nn.Linear (out, in), their heads in ``order`` ((q|k|v, head) pairs)."""
    out = {}
    for suffix in ("weight", "bias"):
        if f"q_proj.{suffix}" in w:
            heads = {t: (w[f"{t}_proj.{suffix}"].T if suffix == "weight" else w[f"{t}_proj.{suffix}"])
                     .reshape(-1, hd, *([w["q_proj.weight"].shape[0]] if suffix == "weight" else [])) for t in "qkv"}
            out[f"{name}.{suffix}"] = np.concatenate([heads[t][i] for t, i in order])
    return out


def _linear(w: dict, names: dict) -> dict:
    """The other tensors renamed, nn.Linear's (out, in)."""
    return {f"{hf}.{s}": (w[f"{toy}.{s}"].T if s == "weight" and w[f"{toy}.{s}"].ndim == 2 else w[f"{toy}.{s}"])
            for toy, hf in names.items() for s in ("weight", "bias") if f"{toy}.{s}" in w}


def _order(layout: str, h: int, kv: int) -> list[tuple[str, int]]:
    """Head order of a fused QKV: per head (BLOOM), all Q then K then V (MPT, multi-query Falcon), per K/V group."""
    if layout == "per head":
        return [(t, i) for i in range(h) for t in "qkv"]
    if layout == "blocks":
        return [("q", i) for i in range(h)] + [("k", j) for j in range(kv)] + [("v", j) for j in range(kv)]
    g = h // kv
    return [x for j in range(kv) for x in [("q", j * g + i) for i in range(g)] + [("k", j), ("v", j)]]


_TOY = {
    "bloom": ({"model_type": "bloom", "vocab_size": 32, "hidden_size": 16, "n_head": 2, "n_layer": 1},
              "transformer.h.", "self_attention.query_key_value", "per head",
              {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "o_proj": "self_attention.dense",
               "up_proj": "mlp.dense_h_to_4h", "down_proj": "mlp.dense_4h_to_h"}),
    "mpt": ({"model_type": "mpt", "vocab_size": 32, "d_model": 16, "n_heads": 2, "n_layers": 1, "max_seq_len": 16},
            "transformer.blocks.", "attn.Wqkv", "blocks",
            {"attn_norm": "norm_1", "ffn_norm": "norm_2", "o_proj": "attn.out_proj", "up_proj": "ffn.up_proj",
             "down_proj": "ffn.down_proj"}),
}
_FALCON = {"model_type": "falcon", "vocab_size": 32, "hidden_size": 32, "num_attention_heads": 4,
           "num_hidden_layers": 1, "ffn_hidden_size": 12}
_FALCON_NAMES = {"o_proj": "self_attention.dense", "up_proj": "mlp.dense_h_to_4h", "down_proj": "mlp.dense_4h_to_h"}
_FALCON_CASES = {  # Falcon-7B (multi-query, parallel, one norm), Falcon-40B (K/V groups, two norms), Falcon-RW (ALiBi)
    "7b": ({}, "blocks", {"norm": "input_layernorm"}),
    "40b": (_NEW_ARCH, "groups", {"attn_norm": "ln_attn", "ffn_norm": "ln_mlp"}),
    "rw": ({"alibi": True, "multi_query": False, "parallel_attn": False, "bias": True}, "per head",
           {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}),
}


@pytest.mark.parametrize("model_type", ["bloom", "mpt"])
def test_alibi_toy_layer_equals_transformers(model_type):
    cfg, path, qkv, layout, names = _TOY[model_type]
    m = _arch(cfg).blocks["full"].mixer

    def state(w, p):
        fused = _fused(w, qkv, _order(layout, m.n_heads, m.n_kv_heads), m.head_dim) | _linear(w, names)
        return {p + k: v for k, v in fused.items()}

    steps = toy_layer_equals_transformers(cfg, path, state)
    ops = [s.op for s in steps]
    assert ops.index("scale") < ops.index("ALiBi bias") < ops.index("mask")


@pytest.mark.parametrize("case", list(_FALCON_CASES))
def test_falcon_toy_layer_equals_transformers(case):
    change, layout, norms = _FALCON_CASES[case]
    cfg = _FALCON | change
    m = _arch(cfg).blocks["full"].mixer

    def state(w, p):
        fused = _fused(w, "self_attention.query_key_value", _order(layout, m.n_heads, m.n_kv_heads), m.head_dim)
        return {p + k: v for k, v in (fused | _linear(w, _FALCON_NAMES | norms)).items()}

    # with ALiBi, FalconModel puts the scaled bias into the mask and its eager attention adds it to the scores once
    # more: SDPA, transformers' default for Falcon, adds it once, as the original Falcon code does
    toy_layer_equals_transformers(cfg, "transformer.h.", state, attention="sdpa" if cfg.get("alibi") else "eager")
