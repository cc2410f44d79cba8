"""BLT (issue 15, the byte-level parts around a global transformer): the config read as ``BltConfig`` and its four
sub-configs read it, counted exactly against ``BltForCausalLM`` built on the meta device (the default config, and
variants changing every size of every sub-config: widths, layers, heads, KV heads, d_ff, cross-attention slots and
layers, hash n-grams, vocabularies, tying, the patcher present or not); the cache and FLOPs per byte derived by hand;
the toys (the global layer, the patch-byte cross-attention, the hash n-gram ids and embedding) against transformers."""

from __future__ import annotations

import pytest

from gallery.counts import breakdown, total_params
from gallery.derive import DerivationError, derive_arch
from gallery.flops import attention_flops, matmul_flops
from gallery.memory import kv_bytes
from gallery.toy import toy_trace

from .test_model_types import (default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike,
                               the_try_page_counts_it)

MT = "blt"
# every width distinct, so a width read into the wrong place shows
ENC = {"hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
       "intermediate_size": 40, "cross_attn_k": 2, "vocab_size": 300}
DEC = {"hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 44,
       "hidden_size_global": 64, "cross_attn_k": 2, "vocab_size": 300}
GLO = {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 3,
       "intermediate_size": 96}
PAT = {"hidden_size": 24, "num_attention_heads": 3, "num_hidden_layers": 2, "intermediate_size": 36, "vocab_size": 310}
SMALL = {"model_type": MT, "vocab_size": 300, "cross_attn_k": 2, "encoder_hash_byte_group_vocab": 50,
         "encoder_hash_byte_group_size": [3, 4], "local_attention_window_len": 16, "encoder_config": ENC,
         "decoder_config": DEC, "global_config": GLO, "patcher_config": PAT}


def _sub(key: str, base: dict, **change) -> dict:
    return {key: {**base, **change}}


VARIANTS = {
    "small": {},
    "encoder width": _sub("encoder_config", ENC, hidden_size=48),  # slots 96 wide: a projection to the global 64
    "encoder layers": _sub("encoder_config", ENC, num_hidden_layers=3),
    "encoder heads": _sub("encoder_config", ENC, num_attention_heads=8, num_key_value_heads=8),
    "encoder heads not dividing": _sub("encoder_config", ENC, num_attention_heads=6),  # head_dim 5: q_proj 32 → 30
    "encoder kv null": _sub("encoder_config", ENC, num_key_value_heads=None),
    "encoder d_ff null": _sub("encoder_config", ENC, intermediate_size=None),
    "encoder cross all": _sub("encoder_config", ENC, cross_attn_all_layers=True),
    "encoder slots": _sub("encoder_config", ENC, cross_attn_k=3),
    "encoder vocab": _sub("encoder_config", ENC, vocab_size=333),
    "decoder width": _sub("decoder_config", DEC, hidden_size=48),
    "decoder layers": _sub("decoder_config", DEC, num_hidden_layers=3),
    "decoder cross once": _sub("decoder_config", DEC, cross_attn_all_layers=False),
    "decoder global width": _sub("decoder_config", DEC, hidden_size_global=80),
    "decoder slots": _sub("decoder_config", DEC, cross_attn_k=3),
    "decoder heads": _sub("decoder_config", DEC, num_attention_heads=2, num_key_value_heads=1),
    "decoder d_ff": _sub("decoder_config", DEC, intermediate_size=50),
    "global width": _sub("global_config", GLO, hidden_size=96),
    "global layers": _sub("global_config", GLO, num_hidden_layers=5),
    "global heads": _sub("global_config", GLO, num_attention_heads=8, num_key_value_heads=None),
    "global mqa": _sub("global_config", GLO, num_key_value_heads=1),
    "global d_ff": _sub("global_config", GLO, intermediate_size=70),
    "patcher width": _sub("patcher_config", PAT, hidden_size=36, num_attention_heads=6, num_key_value_heads=2),
    "patcher layers": _sub("patcher_config", PAT, num_hidden_layers=3),
    "patcher vocab": _sub("patcher_config", PAT, vocab_size=280),
    "patcher d_ff": _sub("patcher_config", PAT, intermediate_size=30),
    "no patcher": {"patch_in_forward": False},
    "one slot": {"cross_attn_k": 1},  # 32 wide: a projection to the global 64
    "three slots": {"cross_attn_k": 3},
    "hash sizes": {"encoder_hash_byte_group_size": [2, 3, 5]},
    "hash default sizes": {"encoder_hash_byte_group_size": []},
    "hash functions": {"encoder_hash_byte_group_nb_functions": 3},
    "no hash": {"encoder_hash_byte_group_nb_functions": 0},
    "hash vocab": {"encoder_hash_byte_group_vocab": 77},
    "vocab": {"vocab_size": 280},
    "tied": {"tie_word_embeddings": True},
    "tied, widths differ": {"tie_word_embeddings": True, **_sub("decoder_config", DEC, hidden_size=48)},
    "default sub-configs": {"encoder_config": None, "decoder_config": None, "global_config": None,
                            "patcher_config": None},
}


def test_default_config_is_exact():
    default_config_is_exact(MT, None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    built = exact_or_refused_alike({**SMALL, **VARIANTS[variant]})
    assert built
    arch, model = built
    local = arch.byte_latent
    assert (local.patcher is None) == (model.model.patcher is None)
    assert len(model.model.local_encoder.cross_attn_layers) == local.encoder.cross_layers
    assert len(model.model.local_decoder.cross_attn_layers) == local.decoder.cross_layers


def test_the_default_parts_by_hand():
    """BltConfig() by hand: encoder 1 layer of 1,024 (d_ff int(8 × 1,024 / 3) = 2,730), one cross-attention, 2 slots;
    global 25 layers of 2,048 (its input 1,024 × 2 wide: no projection); decoder 9 layers of 1,024 with a
    cross-attention each; 6 hash tables of 500,002 rows; the patcher 14 layers of 768 with its table and head."""
    arch = derive_arch({"model_type": MT})
    parts = breakdown(arch)
    layer = lambda d, ff: 4 * d * d + 3 * d * ff + 2 * d  # noqa: E731  q, k, v, o; gate, up, down; two norms
    cross = 4 * 1024 * 1024 + 2 * 1024
    assert parts["patcher"] == 14 * layer(768, 2048) + 2 * 260 * 768 + 768
    assert parts["embeddings"] == 260 * 1024 + 6 * 500002 * 1024
    assert parts["patch_projections"] == 1024 * 1024 * 2 + 2048 * 1024 * 2
    assert parts["head"] == 1024 * 260
    assert total_params(arch) == (layer(1024, 2730) + 25 * layer(2048, 5632) + 9 * layer(1024, 2816) + 10 * cross
                                  + 1024 + parts["patcher"] + parts["embeddings"] + parts["patch_projections"]
                                  + parts["head"])
    assert arch.byte_latent.patch_size == 4 and arch.byte_latent.encoder.mixer.window == 512


@pytest.mark.parametrize(("change", "message"), [
    ({"cross_attn_k": None}, "cross_attn_k is null"),
    ({"encoder_config": {**ENC, "cross_attn_k": None}}, "encoder_config.cross_attn_k is null"),
    ({"decoder_config": {**DEC, "hidden_size_global": None}}, "decoder_config.hidden_size_global is null"),
    ({"encoder_hash_byte_group_vocab": None}, "encoder_hash_byte_group_vocab is null"),
    ({"global_config": [64]}, "global_config is"),
    ({"encoder_config": {**ENC, "hidden_size": "32"}}, "encoder_config.hidden_size is"),
    ({"encoder_config": {**ENC, "hidden_act": "weird"}}, "encoder_config.hidden_act: activation 'weird'"),
    ({"global_config": {**GLO, "num_hidden_layers": 5000}}, "global_config.num_hidden_layers is 5000"),
    ({"patcher_config": {**PAT, "num_attention_heads": 48}}, "patcher_config.num_attention_heads: 48 heads"),
])
def test_hostile_configs_are_one_line(change, message):
    with pytest.raises(DerivationError, match=message) as err:
        derive_arch({**SMALL, **change})
    assert len(err.value.lines) == 1


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, SMALL, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


def test_cache_and_flops_per_byte_by_hand():
    """SMALL at 100 bytes, patch_size 4. Cache (elements): global 3 layers × ⌈100 / 4⌉ = 25 patches × 2 × 2 KV heads
    × 16; encoder 2 × min(100, window 16) × 2 × 2 × 8; decoder 2 × 16 × 2 × 4 × 8; patcher 2 × min(100, 512) × 2 × 3
    × 8. FLOPs: 2 × (per-byte weights + per-patch weights / 4); attention over the bytes or patches each layer sees."""
    arch = derive_arch(SMALL)
    elements = 3 * 25 * 64 + 2 * 16 * 32 + 2 * 16 * 64 + 2 * 100 * 48
    assert kv_bytes(arch, 100) == 2 * elements
    enc_layer, dec_layer, patcher_layer = 4 * 32 * 32 - 2 * 32 * 16 + 3 * 32 * 40, 4 * 32 * 32 + 3 * 32 * 44, \
        4 * 24 * 24 + 3 * 24 * 36
    per_byte = (2 * enc_layer + 2 * 32 * 16  # encoder layers; its one cross-attention's k and v read the bytes
                + 2 * dec_layer + 2 * 2 * 32 * 32  # decoder layers; q and o of its two cross-attentions, per byte
                + 32 * 300 + 2 * patcher_layer + 24 * 310)  # byte head; patcher layers and head
    global_layer = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 96
    per_patch = (32 * 64 + 2 * 2 * 32 * 32  # encoder projection 32 → 2 × 32; q and o for its 2 slots
                 + 3 * global_layer + 64 * 64  # global layers; decoder projection 64 → 2 × 32
                 + 2 * 2 * 2 * 32 * 32)  # k and v of the decoder's 2 slots at its 2 cross-attentions
    assert matmul_flops(arch) == 2 * (per_byte + per_patch // 4) and per_patch % 4 == 0
    attention = (2 * 2 * 4 * 16 * 16 + 2 * 2 * 4 * 16 * 16 + 2 * 2 * 3 * 16 * 100  # encoder, decoder, patcher
                 + 3 * 2 * 4 * 32 * 25 // 4  # global: 25 patches, once per 4 bytes
                 + 4 * 4 * 8 * 2 + 2 * 4 * 4 * 8 * 2)  # encoder slots over their patch (÷ 4 per byte); decoder bytes
    assert attention_flops(arch, 100) == attention


def test_the_toy_global_layer_equals_transformers():
    """The toy global layer (RoPE on adjacent pairs) against BltTransformerLayer with the same weights, float64."""
    import numpy as np
    import torch
    from transformers import BltGlobalTransformerConfig
    from transformers.models.blt.modeling_blt import BltRotaryEmbedding, BltTransformerLayer

    toy = toy_trace(derive_arch(SMALL), 0, 6)
    m, f = toy.arch.blocks["global"].mixer, toy.arch.blocks["global"].ffn
    cfg = BltGlobalTransformerConfig(hidden_size=toy.arch.d_model, num_attention_heads=m.n_heads,
                                     num_key_value_heads=m.n_kv_heads, intermediate_size=f.d_ff,
                                     rms_norm_eps=toy.arch.norm.eps, rope_parameters={"rope_type": "default",
                                                                                    "rope_theta": m.rope.theta})
    cfg._attn_implementation = "eager"
    layer = BltTransformerLayer(cfg, 0).double().eval()
    names = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
             **{f"{p}.weight": f"self_attn.{p}.weight" for p in ("q_proj", "k_proj", "v_proj", "o_proj")},
             **{f"{p}.weight": f"mlp.{p}.weight" for p in ("gate_proj", "up_proj", "down_proj")}}
    params = dict(layer.named_parameters())
    with torch.no_grad():
        for ours, theirs in names.items():
            w = toy.weights[ours]
            params[theirs].copy_(torch.from_numpy(w.T if w.ndim == 2 else w))
        x = torch.from_numpy(toy.x)[None]
        T = x.shape[1]
        mask = torch.full((T, T), torch.finfo(torch.float64).min, dtype=torch.float64).triu(1)[None, None]
        out = layer(x, attention_mask=mask, position_embeddings=BltRotaryEmbedding(cfg)(x, torch.arange(T)[None]))
    assert np.abs(out[0].numpy() - toy.out).max() < 1e-6


@pytest.mark.parametrize("key", ["encoder_config", "decoder_config", "global_config", "patcher_config"])
def test_sub_config_defaults_are_the_classes(key):
    """Each sub-config's defaults table equals its transformers class's defaults (rope_theta: its default_theta;
    the patcher has none, so PreTrainedConfig's 10,000)."""
    from transformers import BltConfig

    from gallery.derive.families.blt import SUBS

    defaults, _ = SUBS[key]
    cls = BltConfig.sub_configs_defaults[key].config_class
    built = cls()
    for name, value in defaults.items():
        if name == "rope_theta":
            assert built.rope_parameters["rope_theta"] == value
        elif name in ("intermediate_size", "num_key_value_heads") and value is None:  # null: filled in __post_init__
            assert cls.__dataclass_fields__[name].default is None
        elif name != "rope_parameters":
            assert getattr(built, name) == value, name


LENGTHS = [1, 3, 2, 4]  # a BOS patch, then patches of 3, 2 and 4 bytes: 10 bytes, 4 patches


@pytest.mark.parametrize("exact_norm", [False, True], ids=["as transformers", "all float64"])
@pytest.mark.parametrize("side", ["encoder", "decoder"])
def test_the_toy_cross_attention_equals_transformers(side, exact_norm, monkeypatch):
    """The toy BltCrossAttention (GQA: 4 query heads, 2 KV heads; 2 slots per patch) against transformers' with the
    same random weights, float64, on the mask BltModel builds: the encoder's slots query their patch's bytes, the
    decoder's bytes query the slots of the patch before theirs (patch ids from patch_lengths[:, 1:]).

    BltRMSNorm normalises in float32 whatever the input's dtype, and eager_attention_forward takes its softmax in
    float32, so the layer as transformers runs it is within 1e-6 of the float64 toy (5e-8 to 8e-8 here), not closer;
    with both casts taken out (``all float64``) they agree to rounding, 1e-12."""
    import numpy as np
    import torch
    from transformers import BltLocalDecoderConfig, BltLocalEncoderConfig
    from transformers.models.blt import modeling_blt
    from transformers.models.blt.modeling_blt import (BltCrossAttention, BltModel,
                                                      _prepare_patch_cross_attention_mask)

    from gallery.byte_latent_toy import cross_attention, cross_mask, patch_ids

    if exact_norm:
        monkeypatch.setattr(modeling_blt.BltRMSNorm, "forward", lambda self, x: self.weight * x * torch.rsqrt(
            x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))
        softmax = torch.nn.functional.softmax
        monkeypatch.setattr(torch.nn.functional, "softmax", lambda x, dim, dtype=None: softmax(x, dim))
    d, h, kv, k, T, P = 32, 4, 2, 2, 10, len(LENGTHS)
    cls = BltLocalEncoderConfig if side == "encoder" else BltLocalDecoderConfig
    cfg = cls(hidden_size=d, num_attention_heads=h, num_key_value_heads=kv, cross_attn_k=k, rms_norm_eps=1e-5)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    layer = BltCrossAttention(cfg, 0).double().eval()  # nn.Linear's random initialisation
    with torch.no_grad():
        for norm in (layer.q_norm, layer.k_norm):
            norm.weight.copy_(1 + 0.2 * torch.randn_like(norm.weight))
    lengths = torch.tensor([LENGTHS if side == "encoder" else LENGTHS[1:]])
    ids = BltModel._patch_ids_from_lengths(None, lengths, T)  # (1, T)
    assert (ids[0].numpy() == patch_ids(lengths[0].numpy(), T)).all()
    queries_are_patches = side == "encoder"
    mask = _prepare_patch_cross_attention_mask(ids, P, T, patches_as_queries=queries_are_patches, cross_attn_k=k,
                                               dtype=torch.float64)  # (1, 1, Tq, Tk): 0 or the float64 min
    allowed = cross_mask(ids[0].numpy(), P, k, queries_are_patches)
    assert (allowed == (mask[0, 0] == 0).numpy()).all()
    rng = np.random.default_rng(0)
    x, states = rng.standard_normal((P * k, d)), rng.standard_normal((T, d))  # encoder: slots query bytes
    if side == "decoder":
        x, states = states, x  # bytes query slots
    with torch.no_grad():
        out, _ = layer(torch.from_numpy(x)[None], torch.from_numpy(states)[None], attention_mask=mask)
    w = {name: p.detach().numpy().T for name, p in layer.named_parameters()}  # (in, out) as the toys store them
    toy = cross_attention(w, x, states, allowed, h, kv, cfg.rms_norm_eps)
    assert np.abs(out[0].numpy() - toy).max() < (1e-12 if exact_norm else 1e-6)


def test_the_toy_hash_ids_equal_transformers():
    """hash_ids equals byte_group_hash_function on random bytes (and bytes at the top of the range, where the int64
    hash wraps) for every prime compute_hash_embeddings uses and n-gram sizes 1 to 8, id for id."""
    import numpy as np
    import torch
    from transformers.models.blt.modeling_blt import byte_group_hash_function

    from gallery.byte_latent_toy import PRIMES, hash_ids

    rng = np.random.default_rng(0)
    for ids in (rng.integers(0, 260, (2, 40)), np.full((1, 12), 259)):
        for prime in PRIMES:
            for n in range(1, 9):
                for vocab in (50, 500002):
                    theirs = byte_group_hash_function(torch.from_numpy(ids), n, prime, vocab).numpy()
                    assert (hash_ids(ids, n, prime, vocab) == theirs).all(), (prime, n, vocab)


def test_the_toy_hash_embeddings_equal_transformers():
    """hash_embeddings equals compute_hash_embeddings on a tiny config (13 functions, so the primes cycle; sizes 3, 5,
    8; 50 buckets), float64, with random tables."""
    import types

    import numpy as np
    import torch
    from transformers.models.blt.modeling_blt import compute_hash_embeddings

    from gallery.byte_latent_toy import hash_embeddings

    functions, sizes, vocab, d = 13, [3, 5, 8], 50, 8
    torch.manual_seed(0)
    embed = torch.nn.Embedding(260, d).double()
    table = torch.nn.Embedding(functions * len(sizes) * vocab, d).double()
    ids = np.random.default_rng(1).integers(0, 260, (2, 30))
    with torch.no_grad():
        theirs = compute_hash_embeddings(torch.from_numpy(ids), types.SimpleNamespace(embed_tokens=embed), table,
                                         functions, sizes, vocab).numpy()
    ours = hash_embeddings(ids, embed.weight.detach().numpy(), table.weight.detach().numpy(), functions, sizes, vocab)
    assert (ours == theirs).all()  # the same rows summed in the same order: equal to the bit
