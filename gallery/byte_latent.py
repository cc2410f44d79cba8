"""The Byte Latent Transformer (BLT): byte-level local stacks around a global transformer that runs once per patch.

Follows ``BltModel`` and ``BltForCausalLM`` (``models/blt/modeling_blt.py``). Bytes are embedded by the local
encoder's table plus hashed n-gram rows (:mod:`gallery.hash_ngrams`); the **local encoder** (``BltLocalEncoder``) runs
Llama-style layers over the bytes, and after each layer (or only the last) pools each patch's bytes (max), projects
the pool to ``cross_attn_k`` slots and lets those slots attend to the patch's bytes (``BltCrossAttention``); the
**global transformer** (``BltGlobalTransformer``, the spec's ``arch.layers``) runs over the patches, after a projection
when the slots' width (encoder d_model × cross_attn_k) is not its own; the **local decoder** (``BltLocalDecoder``)
projects each global output to ``cross_attn_k`` slots of its width, and before each layer (or only the first) lets
each byte attend to its patch's slots, then runs its layers over the bytes and a final norm, before the byte head.
The **patcher** (``BltPatcher``, a small byte LM) decides where patches start: a byte whose next-byte entropy exceeds
``patching_threshold`` opens one; ``BltModel`` builds it (frozen, but in ``parameters()``) when ``patch_in_forward``.

BLT's cross-attention norms its queries and its keys/values input over the whole width (``q_norm``, ``k_norm`` of
hidden_size), and returns ``o_proj(...) + query input``, which the caller adds to the stream again (the stream becomes
2 × itself + the attention). :mod:`gallery.byte_latent_toy` holds its NumPy toy, checked against transformers.

The spec's ``arch`` is the global stack (d_model, layers, blocks); ``arch.byte_latent`` (:class:`ByteLatent`) holds
the three others, each with widths of its own. Counts (every stack, exactly as ``parameters()``), cache and FLOPs are
per **byte**: the global transformer runs once per patch, so its cache and FLOPs per byte are its per-patch figures
÷ ``patch_size``, the mean bytes per patch assumed (the config's ``patch_size``; the real mean depends on the data
and the entropy threshold).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from . import hash_ngrams
from .kinds.mlp import Mlp
from .kinds.softmax import SoftmaxAttention
from .specbase import Strict, rule_error
from .terms import Term, Weight, term, weight


class Stack(Strict):
    """A stack of Llama-style layers at a width of its own (pre-norm RMSNorm, attention with RoPE, SwiGLU MLP)."""

    d_model: PositiveInt = Field(description="Its width (hidden_size of its sub-config)")
    n_layers: PositiveInt = Field(description="Its layers (num_hidden_layers of its sub-config)")
    mixer: SoftmaxAttention = Field(description="Each layer's self-attention (BltSelfAttention: head_dim = "
                                    "hidden_size // num_attention_heads)")
    ffn: Mlp = Field(description="Each layer's MLP (BltMLP)")
    eps: PositiveFloat = Field(description="Its RMSNorms' epsilon (rms_norm_eps)")


class LocalStack(Stack):
    """The local encoder or decoder: byte-level layers with cross-attention between bytes and patches."""

    cross_attn_all_layers: bool = Field(description="A cross-attention with every layer (cross_attn_all_layers); "
                                        "false: one only (the encoder's after its last layer, the decoder's before "
                                        "its first)")
    cross_attn_k: PositiveInt = Field(description="Slots per patch: its patch projection gives d_model × this "
                                      "(cross_attn_k of its sub-config)")
    d_patch: PositiveInt = Field(description="What its patch projection reads: the encoder's own width (the "
                                 "pooled bytes), the decoder's hidden_size_global (the global output)")

    @property
    def cross_layers(self) -> int:
        return self.n_layers if self.cross_attn_all_layers else 1


class Patcher(Stack):
    """BltPatcher: a byte LM (embedding, layers, norm, head) whose next-byte entropy places the patch starts."""

    vocab_size: PositiveInt = Field(description="Rows of its byte table and head (vocab_size of patcher_config)")


class ByteLatent(Strict):
    """BLT's byte-level parts around the global transformer (``arch``), each with widths of its own."""

    patch_size: PositiveInt = Field(description="Mean bytes per patch assumed for the cache and FLOPs per byte "
                                    "(patch_size with entropy patching; 1 when every byte is a patch: no patcher, "
                                    "patching_mode not entropy, or patch_size null)")
    patching: Literal["entropy", "bytes"] = Field(description="entropy: the patcher opens a patch where next-byte "
                                                  "entropy exceeds the threshold; bytes: every byte is a patch")
    cross_attn_k: PositiveInt = Field(description="Slots per patch the global transformer reads: encoder d_model × "
                                      "this wide, projected to d_model when that differs (BltConfig.cross_attn_k)")
    byte_vocab: PositiveInt = Field(description="Rows of the local encoder's byte table (encoder_config.vocab_size)")
    encoder: LocalStack = Field(description="BltLocalEncoder (encoder_config): byte layers, then slots per patch "
                                "that attend to the patch's bytes")
    decoder: LocalStack = Field(description="BltLocalDecoder (decoder_config): each byte attends to its patch's slots, "
                                "then byte layers and a final norm")
    patcher: Patcher | None = Field(description="The entropy model BltModel builds when patch_in_forward; null = "
                                    "none (patch lengths given with the input, or one byte each)")

    @property
    def global_in(self) -> int:
        """The width of each patch the global transformer reads: encoder d_model × cross_attn_k."""
        return self.encoder.d_model * self.cross_attn_k


def check(arch) -> None:
    """Hash n-grams go with the byte-level parts (their width is the local encoder's); those parts need no final norm
    on the global stack (BltGlobalTransformer has none) and the plain Llama-style global layers."""
    bl, hashed = arch.byte_latent, arch.embedding.hash_ngrams
    if hashed is not None and bl is None:
        raise rule_error("embedding.hash_ngrams", "block_wiring", "hash_ngrams needs byte_latent: the hashed rows are "
                         "as wide as the local encoder")
    if bl is not None and (arch.final_norm or arch.embedding.learned_positions or arch.shared_blocks
                           or arch.hyper_connections or arch.altup or arch.laurel or arch.per_layer_embedding
                           or arch.draft_head or arch.block_attn_residual or arch.recurrent_stacks):
        raise rule_error("byte_latent", "block_wiring", "byte_latent needs final_norm: false (the global stack has "
                         "none) and no other residual, shared-block, position, per-layer or draft option")


def summary(arch) -> str | None:
    """The byte-level parts in words, for the compare table; None without them."""
    bl = arch.byte_latent
    if bl is None:
        return None
    stacks = [f"{name} {s.n_layers} × {s.d_model:,}" for name, s in (("encoder", bl.encoder), ("decoder", bl.decoder),
                                                                     ("patcher", bl.patcher)) if s is not None]
    size = f"{bl.patch_size} bytes" if bl.patch_size > 1 else "1 byte"
    return f"{', '.join(stacks)}; patches of {size} ({bl.patching})"


# --- counts: every stack, in the order BltForCausalLM builds them ----------------------------------------------


def layer_weights(s: Stack) -> list[Weight]:
    """One layer of a stack: its attention and MLP as their kinds declare them, and its two RMSNorms."""
    from .kinds import ffn_kind, mixer_kind  # the registry imports the spec's kinds; read it when counting

    d = ("d_model", s.d_model)
    return (mixer_kind(s.mixer).terms.weights(d, s.mixer) + ffn_kind(s.ffn).terms.weights(d, s.ffn)
            + [weight("norms", f"{n}.weight", d) for n in ("input_layernorm", "post_attention_layernorm")])


def cross_weights(s: LocalStack) -> list[Weight]:
    """BltCrossAttention: q_norm and k_norm over the whole width, q/k/v/o projections of its heads."""
    d, h = ("d_model", s.d_model), ("n_heads", s.mixer.n_heads)
    kv, hd = ("n_kv_heads", s.mixer.n_kv_heads), ("head_dim", s.mixer.head_dim)
    return [weight("attention", "cross q_proj", d, h, hd, shape=(d[1], h[1] * hd[1])),
            weight("attention", "cross k_proj", d, kv, hd, shape=(d[1], kv[1] * hd[1])),
            weight("attention", "cross v_proj", d, kv, hd, shape=(d[1], kv[1] * hd[1])),
            weight("attention", "cross o_proj", h, hd, d, shape=(h[1] * hd[1], d[1])),
            weight("norms", "cross q_norm", d), weight("norms", "cross k_norm", d)]


def _repeat(weights: list[Weight], where: str, n: int) -> list[Term]:
    return [Term(t.component, t.name, where, t.symbols, t.values, n) for t in (w.term(where) for w in weights)]


def _stack_terms(s: Stack, where: str) -> list[Term]:
    return _repeat(layer_weights(s), where, s.n_layers)


def projection(s: LocalStack, where: str) -> Term:
    """patch_embedding_projection: d_patch → d_model × cross_attn_k (no bias)."""
    return term("patch_projections", "patch_embedding_projection", where, ("d_patch", s.d_patch),
                ("d_model", s.d_model), ("cross_attn_k", s.cross_attn_k))


def global_projection(arch) -> list[Term]:
    """BltGlobalTransformer.token_embedding_projection, when the slots' width is not the global d_model."""
    bl = arch.byte_latent
    if bl.global_in == arch.d_model:
        return []
    return [term("patch_projections", "token_embedding_projection", "global",
                 ("encoder d_model × cross_attn_k", bl.global_in), ("d_model", arch.d_model))]


def patcher_terms(p: Patcher | None) -> list[Term]:
    """The entropy model: its layers, byte table, final norm and head (all in ``parameters()``, though frozen)."""
    if p is None:
        return []
    d, v = ("patcher d_model", p.d_model), ("patcher vocab", p.vocab_size)
    own = [term("patcher", "patcher.embed_tokens", "patcher", v, d), term("patcher", "patcher.norm", "patcher", d),
           term("patcher", "patcher.lm_head", "patcher", d, v)]
    layers = [Term("patcher", "patcher." + t.name, t.where, t.symbols, t.values, t.repeat)
              for t in _stack_terms(p, "patcher")]
    return layers + own


def model_terms(arch, global_layers: list[Term]) -> list[Term]:
    """Every parameter of BltForCausalLM: encoder, global, decoder, hash table, patcher, head."""
    bl, enc, dec = arch.byte_latent, arch.byte_latent.encoder, arch.byte_latent.decoder
    e, dd = "local encoder", "local decoder"
    width = ("encoder d_model", enc.d_model)
    # tied: the encoder's byte table is replaced by lm_head's weight (_tied_weights_keys maps embed_tokens to lm_head)
    table = [] if arch.embedding.tied else [term("embeddings", "embed_tokens", "model", ("byte vocab", bl.byte_vocab),
                                                 width)]
    terms = _stack_terms(enc, e) + [projection(enc, e)] + table
    terms += _repeat(cross_weights(enc), e, enc.cross_layers)
    terms += global_layers + global_projection(arch)
    terms += _stack_terms(dec, dd) + [projection(dec, dd), term("norms", "norm.weight", dd, ("d_model", dec.d_model))]
    terms += _repeat(cross_weights(dec), dd, dec.cross_layers)
    if arch.embedding.hash_ngrams is not None:
        terms += [w.term("model") for w in hash_ngrams.weights(width, arch.embedding.hash_ngrams)]
    terms += patcher_terms(bl.patcher)
    return terms + [term("head", "lm_head", "model", ("decoder d_model", dec.d_model), ("vocab_size", arch.vocab_size))]
