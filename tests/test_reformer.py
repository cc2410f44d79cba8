"""Reformer (issue 15: the LSH and chunked local attention kinds, the reversible two-stream layer, axial positions):
the config read as ``ReformerConfig`` and ``ReformerModelWithLMHead`` read it and counted exactly against the model
transformers builds on the meta device (the smallest complete config, since the default's is_decoder is false, and
variants changing every size), the cache and FLOPs derived by hand from the config numbers, and each kind's toy layer
against transformers' ``ReformerLayer`` (float64, within 1e-6), with the LSH rotations handed over."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from gallery.derive import FAMILIES, DerivationError, derive
from gallery.flops import attention_flops, matmul_flops
from gallery.kinds import lsh
from gallery.memory import kv_bytes, kv_bytes_per_token
from gallery.spec import Arch
from gallery.toy import toy_forward, toy_trace
from gallery.trace import trace

from .test_model_types import default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it

MT = "reformer"
SMALLEST = {"is_decoder": True}  # ReformerConfig's default is_decoder false: ReformerModelWithLMHead asserts true
# every width distinct, so a width read into the wrong place shows
SMALL = {"model_type": MT, "is_decoder": True, "hidden_size": 48, "num_attention_heads": 3, "attention_head_size": 20,
         "attn_layers": ["local", "lsh", "lsh"], "feed_forward_size": 72, "axial_pos_shape": [8, 16],
         "axial_pos_embds_dim": [16, 32], "vocab_size": 500, "local_attn_chunk_length": 8,
         "lsh_attn_chunk_length": 16, "max_position_embeddings": 128, "num_buckets": 8, "num_hashes": 2}
VARIANTS = {
    "small": {}, "width": {"hidden_size": 64, "axial_pos_embds_dim": [16, 48]}, "heads": {"num_attention_heads": 5},
    "head size": {"attention_head_size": 12}, "all lsh": {"attn_layers": ["lsh"] * 4},
    "all local": {"attn_layers": ["local"] * 2}, "5 layers": {"attn_layers": ["lsh", "local", "local", "lsh", "lsh"]},
    "chunks": {"local_attn_chunk_length": 4, "lsh_attn_chunk_length": 32},
    "before": {"local_num_chunks_before": 0, "lsh_num_chunks_before": 2}, "hashes": {"num_hashes": 4},
    "factored buckets": {"num_buckets": [4, 8]}, "one-entry buckets": {"num_buckets": [16]},
    "buckets null": {"num_buckets": None}, "d_ff": {"feed_forward_size": 40}, "axial shape": {"axial_pos_shape": [4, 32]},
    "axial dims": {"axial_pos_embds_dim": [8, 40]}, "three axes": {"axial_pos_shape": [2, 4, 16],
                                                                   "axial_pos_embds_dim": [8, 8, 32]},
    "learned positions": {"axial_pos_embds": False}, "learned 256": {"axial_pos_embds": False,
                                                                     "max_position_embeddings": 256},
    "vocab": {"vocab_size": 777}, "tied": {"tie_word_embeddings": True}, "eps": {"layer_norm_eps": 1e-6},
    "gelu": {"hidden_act": "gelu"}, "num_hidden_layers": {"num_hidden_layers": 2},
    "num_hidden_layers, one kind": {"attn_layers": ["lsh", "lsh"], "num_hidden_layers": 5},
    "axial dims off": {"axial_pos_embds_dim": [16, 40]},  # transformers refuses: widths sum to 56, not 48
}


def test_default_config_is_exact():
    default_config_is_exact(MT, SMALLEST, "is_decoder")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    """Each size changed: the count equals transformers', and every layer's attention is the one transformers built,
    as wide and as chunked."""
    built = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    if built is None:
        return
    arch, model = built
    ours = [(k, arch.blocks[k].mixer.n_heads, arch.blocks[k].mixer.head_dim, arch.blocks[k].mixer.chunk)
            for k in arch.layers]
    theirs = [(("lsh" if type(a).__name__ == "LSHSelfAttention" else "local"), a.num_attention_heads,
               a.attention_head_size, a.chunk_length) for a in (lay.attention.self_attention
                                                                 for lay in model.reformer.encoder.layers)]
    assert ours == theirs
    assert arch.reversible and model.lm_head.decoder.in_features == 2 * arch.d_model


def test_the_config_class_has_no_aliases():
    """ReformerConfig's attribute_map is empty: the family reads every key by its own name."""
    import transformers

    assert transformers.ReformerConfig.attribute_map == {} and FAMILIES[MT].aliases == {}


@pytest.mark.parametrize(("change", "why"), [
    ({"is_decoder": False}, "is_decoder"), ({"local_num_chunks_after": 1}, "local_num_chunks_after"),
    ({"lsh_num_chunks_after": 2}, "lsh_num_chunks_after"), ({"attn_layers": ["lsh", "full"]}, r"attn_layers\[1\]"),
    ({"attn_layers": []}, "attn_layers"), ({"num_buckets": 5, "num_hashes": 1}, "num_buckets"),
    ({"num_buckets": [4, 3]}, "num_buckets"), ({"attention_head_size": "64"}, "attention_head_size"),
    ({"hidden_size": None}, "hidden_size"), ({"lsh_attn_chunk_length": None}, "lsh_attn_chunk_length"),
    ({"axial_pos_embds_dim": [16, 40]}, "axial_pos_embds_dim"), ({"num_hashes": 0}, "num_hashes"),
    ({"axial_pos_shape": [8]}, "axial_pos_shape"),
    ({"num_hidden_layers": 4}, "num_hidden_layers")])
def test_hostile_values_are_refused_in_one_line(change, why):
    with pytest.raises(DerivationError, match=why) as err:
        derive({**SMALL, **change})
    assert "\n" not in str(err.value)


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": MT, **SMALLEST}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it({"model_type": MT, **SMALLEST})


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


def test_cache_and_flops_by_hand():
    """ReformerDynamicCache keeps, per layer and token, the normed layer input (hidden_size) and in an LSH layer one
    int64 bucket per head and hashing round (8 bytes: 4 two-byte units); no K or V. One token multiplies 2 FLOPs per
    weight: local attention's query, key, value and output, LSH's query_key, value and output (each hidden_size ×
    heads × head size), the two dense layers, and the head over both streams (2 × hidden_size × vocab)."""
    d, h, hd, ff, v = 48, 3, 20, 72, 500
    arch = _arch(SMALL)  # layers local, lsh, lsh; 2 hashing rounds; chunks 8 (local) and 16 (LSH), one chunk before
    per_token = 3 * d + 2 * (4 * h * 2)
    assert kv_bytes_per_token(arch) == 2 * per_token
    assert kv_bytes(arch, 1000, batch=2) == 2 * 2 * 1000 * per_token  # every token kept, whatever the chunks
    assert matmul_flops(arch) == 2 * (4 * d * h * hd + 2 * 3 * d * h * hd + 3 * 2 * d * ff + 2 * d * v)
    span = 2 * 2 * h * hd  # QKᵀ and A·V per key
    # context 10: local sees tokens 1-10 (the chunk before, 0-7, and its own up to itself, 8-9); LSH: one chunk of
    # 16 holds them all, plain attention over 10
    assert attention_flops(arch, 10) == span * 10 + 2 * span * 10
    # context 100: local sees 8 + (99 mod 8) + 1 = 12; LSH in each of 2 rounds 2 × 16 keys and its hash,
    # heads × head size × 8 buckets (2 FLOPs per product, 8/2 products a dim)
    assert attention_flops(arch, 100) == span * 12 + 2 * 2 * (span * 32 + h * hd * 8)


def test_trace_holds_the_layer_weights_on_both_paths():
    """A sequence within one chunk is plain attention, a longer one hashed and chunked: both traces hold every weight
    of the layer once, and the layer reads and writes the two streams."""
    arch = _arch(SMALL)
    for layer in (0, 1):
        weights = None
        for T in (5, 40):
            steps = trace(arch, layer, T)
            assert steps[0].in_shape == (T, 2, 48) and steps[-1].out_shape == (T, 2, 48)
            total = sum(s.n_params for s in steps)
            assert weights in (None, total)
            weights = total
        assert weights == 2 * (2 * 48) + (4 if layer == 0 else 3) * 48 * 60 + 2 * 48 * 72 + 72 + 48


NAMES = {"attn_norm": "attention.layer_norm", "query_key": "attention.self_attention.query_key",
         "query": "attention.self_attention.query", "key": "attention.self_attention.key",
         "value": "attention.self_attention.value", "output.dense": "attention.output.dense",
         "ffn_norm": "feed_forward.layer_norm", "up_proj": "feed_forward.dense.dense",
         "down_proj": "feed_forward.output.dense"}


def _their_layer(toy):
    """transformers' ReformerLayer of the toy's kind and widths, in float64, holding the toy's weights."""
    import torch
    import transformers

    block = toy.arch.blocks[toy.arch.layers[0]]
    m, kind = block.mixer, "lsh" if block.mixer.kind == "lsh" else "local"
    config = transformers.ReformerConfig(
        is_decoder=True, hidden_size=toy.arch.d_model, num_attention_heads=m.n_heads, attention_head_size=m.head_dim,
        attn_layers=[kind], feed_forward_size=block.ffn.d_ff, hidden_act=block.ffn.activation,
        layer_norm_eps=toy.arch.norm.eps, local_attn_chunk_length=m.chunk, local_num_chunks_before=m.chunks_before,
        lsh_attn_chunk_length=m.chunk, lsh_num_chunks_before=m.chunks_before, num_hashes=getattr(m, "n_hashes", 1),
        num_buckets=getattr(m, "n_buckets", None), hidden_dropout_prob=0.0, lsh_attention_probs_dropout_prob=0.0,
        local_attention_probs_dropout_prob=0.0, axial_pos_embds=False, vocab_size=32, max_position_embeddings=64)
    layer = transformers.models.reformer.modeling_reformer.ReformerLayer(config, 0).double().eval()
    state = {f"{NAMES[name.rpartition('.')[0]]}.{name.rpartition('.')[2]}": torch.from_numpy(
        (w.T if w.ndim == 2 else w).copy()) for name, w in toy.weights.items()}  # Linear stores (out, in)
    assert not layer.load_state_dict(state, strict=False).unexpected_keys
    return layer


@pytest.mark.parametrize(("change", "layer", "seq"), [
    ({}, 0, 6), ({}, 0, 2), ({}, 0, 5), ({}, 1, 6), ({}, 1, 2), ({}, 1, 5),
    ({"num_hashes": 3, "num_buckets": [4, 8]}, 1, 8), ({"num_hashes": 3, "num_buckets": [4, 8]}, 1, 7),
    ({"num_hashes": 2, "num_buckets": 16}, 1, 4)])
def test_toy_layer_equals_transformers(change, layer, seq):
    """The toy reversible layer (stream X₂ → LayerNorm → attention, added to X₁; → LayerNorm → feed-forward, added
    to X₂) against ReformerLayer with the same weights, float64: on the chunked path (chunks of 2), within one chunk
    (2 tokens), and padded to whole chunks as ReformerModel pads (5 and 7 tokens: pad rows after them, masked by the
    attention mask); the LSH rotations the toy drew are what torch.randn gives transformers."""
    import torch

    toy = toy_trace(_arch({"model_type": MT, **SMALLEST, **change}), layer, seq, seed=3)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    theirs = _their_layer(toy)
    rotations = torch.from_numpy(lsh.rotations(m, seq, toy.arch.context_length)) if m.kind == "lsh" else None
    pads = -seq % m.chunk if seq > m.chunk else 0
    x = torch.from_numpy(np.concatenate([toy.x, np.random.default_rng(5).standard_normal((pads, 2, toy.x.shape[-1]))]))
    mask = torch.tensor([[1] * seq + [0] * pads]) if pads else None
    with mock.patch.object(torch, "randn", lambda *a, **k: rotations.clone()), torch.no_grad():
        out = theirs(prev_attn_output=x[None, :, 0], hidden_states=x[None, :, 1], attention_mask=mask)
    expected = np.stack([out.attn_output[0].numpy(), out.hidden_states[0].numpy()], 1)[:seq]
    np.testing.assert_allclose(toy.out, expected, rtol=1e-6, atol=1e-6)


def test_local_attention_is_causal_and_lsh_sees_itself_only_when_alone():
    """A later token changes no earlier output of a local layer; in an LSH layer the first token, with nothing
    before it, puts all its weight on itself, and no other token does."""
    arch = _arch({"model_type": MT, **SMALLEST})
    toy = toy_trace(arch, 0, 7, seed=1)
    x = toy.x.copy()
    x[-1] += 1.0
    after = toy_forward(toy.arch, toy.weights, x)
    np.testing.assert_array_equal(after[-1].value[:-1], toy.out[:-1])
    weights = next(s for s in toy_trace(arch, 1, 6).steps if s.op == "merge heads").details["weights by token"]
    np.testing.assert_allclose(weights[:, 0, 0], 1.0)
    own = np.diagonal(weights, axis1=1, axis2=2)
    assert ((own < 1e-30) | (np.abs(own - 1) < 1e-12)).all()  # all of it (nothing earlier in view) or none
    np.testing.assert_allclose(weights.sum(-1), 1.0)
