"""BLT's cache and FLOPs per byte: the byte-level stacks run once per byte, the global transformer once per patch.

With P = ``byte_latent.patch_size`` bytes per patch (the config's ``patch_size``: the real mean depends on the data and
the entropy threshold), per byte of generated text:

* **cache**: K and V of every local encoder and decoder layer per byte (within ``local_attention_window_len``), of
  every global layer per patch (one entry per P bytes), and of every patcher layer per byte (within its window). What
  the architecture needs to decode incrementally; transformers' ``BltModel`` keeps only the local stacks' (an
  ``EncoderDecoderCache``: the encoder's in its self-attention cache, the decoder's in its cross-attention cache) and
  re-runs the global transformer and the patcher over the whole input at each step. The cross-attention's keys and
  values (a patch's bytes, or its slots) are recomputed, not cached.
* **FLOPs** (2 per weight multiplied): per byte, the local layers, the keys and values of the encoder's
  cross-attention (the patch's bytes), the queries and output of the decoder's, the patcher's layers and head, the
  byte head; per patch (÷ P), the encoder's pooled projection and slot queries and outputs at each cross-attention,
  the global projection and layers, the decoder's projection and the keys and values of its slots. Attention over
  the context: each local and patcher layer over the bytes it sees, each global layer over the patches so far (÷ P);
  each encoder slot over its patch's P bytes (÷ P per byte), each decoder byte over its patch's slots.
"""

from __future__ import annotations

from dataclasses import replace

from .byte_latent import LocalStack, Stack, cross_weights, layer_weights
from .kinds import ffn_kind, mixer_kind
from .layercache import LayerCache


def caches(arch, global_caches: list[LayerCache]) -> list[LayerCache]:
    """The global layers' caches one entry per patch, then the local encoder's, the local decoder's, the patcher's."""
    bl = arch.byte_latent
    P = bl.patch_size
    out = [replace(c, ratio=P, formula=f"{c.formula} per patch, one entry per {P} bytes",
                   caveat="transformers' BltModel keeps no cache for the global transformer: it re-runs it over every "
                   "patch at each step") for c in global_caches]
    stacks = [("local encoder", bl.encoder), ("local decoder", bl.decoder)] + (
        [("patcher", bl.patcher)] if bl.patcher else [])
    for name, s in stacks:
        c = mixer_kind(s.mixer).cache(name, s.n_layers, s.mixer, s.d_model)
        out.append(replace(c, formula=f"{c.formula} per byte", caveat="transformers' BltModel keeps none: it re-runs "
                           "the patcher over the whole input" if name == "patcher" else ""))
    return out


def _matmul(weights) -> int:
    return sum(w.tensors[0].count for w in weights if w.component != "norms")


def _layer(s: Stack) -> int:
    return _matmul(layer_weights(s))


def _cross(s: LocalStack) -> tuple[int, int]:
    """(q_proj + o_proj, k_proj + v_proj) weights of one cross-attention."""
    w = {x.name: x.tensors[0].count for x in cross_weights(s)}
    return w["cross q_proj"] + w["cross o_proj"], w["cross k_proj"] + w["cross v_proj"]


def matmul_flops(arch) -> int:
    """2 × the weights one byte multiplies, the per-patch ones ÷ patch_size (rounded to a whole FLOP)."""
    bl = arch.byte_latent
    enc, dec, P = bl.encoder, bl.decoder, bl.patch_size
    d = ("d_model", arch.d_model)
    global_layer = sum(_matmul(mixer_kind(b.mixer).terms.weights(d, b.mixer) + ffn_kind(b.ffn).terms.weights(d, b.ffn))
                       for b in (arch.blocks[k] for k in arch.layers))
    (eq, ekv), (dq, dkv) = _cross(enc), _cross(dec)
    per_byte = enc.n_layers * _layer(enc) + enc.cross_layers * ekv + dec.n_layers * _layer(dec) \
        + dec.cross_layers * dq + dec.d_model * arch.vocab_size
    per_byte += bl.patcher.n_layers * _layer(bl.patcher) + bl.patcher.d_model * bl.patcher.vocab_size \
        if bl.patcher else 0
    per_patch = enc.cross_layers * (enc.d_patch * enc.d_model * enc.cross_attn_k + enc.cross_attn_k * eq) \
        + global_layer + (bl.global_in * arch.d_model if bl.global_in != arch.d_model else 0) \
        + dec.d_patch * dec.d_model * dec.cross_attn_k + dec.cross_layers * dec.cross_attn_k * dkv
    return round(2 * (per_byte + per_patch / P))


def attention_flops(arch, context: int) -> int:
    """QKᵀ and A·V for one byte with ``context`` bytes before it: local and patcher layers over the bytes they see,
    global layers over ceil(context / P) patches (÷ P), the cross-attentions over a patch's bytes or slots."""
    bl = arch.byte_latent
    enc, dec, P = bl.encoder, bl.decoder, bl.patch_size
    patches = -(-context // P)
    global_part = sum(mixer_kind(m).context_flops(m, patches) for m in (arch.blocks[k].mixer for k in arch.layers))
    local = sum(s.n_layers * mixer_kind(s.mixer).context_flops(s.mixer, context)
                for s in (enc, dec, bl.patcher) if s is not None)

    def cross(s: LocalStack) -> int:  # one query over n keys: 2 × heads × head_dim each for QKᵀ and A·V
        return 4 * s.mixer.n_heads * s.mixer.head_dim

    # encoder: k slots per patch over its P bytes, once per patch (k per byte); decoder: each byte over k slots
    slots = enc.cross_layers * cross(enc) * enc.cross_attn_k + dec.cross_layers * cross(dec) * dec.cross_attn_k
    return round(local + global_part / P) + slots
