"""BLT's byte-level parts in the block diagram: the byte embedding with its hash n-grams, the local encoder's frame
below the global stack, the local decoder's frame above it, and the patcher beside (see :mod:`gallery.byte_latent`
for what each part computes; ``gallery.diagram`` calls these where the stack meets them). Their nodes carry no
comparison mark: a change of the global stack's mixer, feed-forward or final norm is written beside the global
stack's nodes (or the head), not beside a byte-level stack's."""

from __future__ import annotations

from . import hash_ngrams
from .byte_latent import ByteLatent, LocalStack, Stack
from .kinds import ffn_kind, mixer_kind


def _n(x: int) -> str:
    return f"{x:,}"


def embedding_lines(arch) -> list[str]:
    """The byte table (the encoder's width), tied to the head or not, and the hashed rows added to it."""
    bl = arch.byte_latent
    rows = arch.vocab_size if arch.embedding.tied else bl.byte_vocab  # tied: the table is lm_head's weight
    out = ["Byte embedding", f"{_n(rows)} × {_n(bl.encoder.d_model)}"]
    return out + (hash_ngrams.lines(arch.embedding.hash_ngrams) if arch.embedding.hash_ngrams else [])


def head_lines(arch) -> list[str]:
    tied = " (its weight is the byte embedding's)" if arch.embedding.tied else ""
    return [f"Linear byte head{tied}", f"{_n(arch.byte_latent.decoder.d_model)} → {_n(arch.vocab_size)}"]


def _stack_lines(s: Stack, what: str) -> list[str]:
    head = [f"{what} × {s.n_layers} layer{'s' * (s.n_layers > 1)} · d_model {_n(s.d_model)}"]
    return head + mixer_kind(s.mixer).lines(s.mixer)[1:] + ffn_kind(s.ffn).lines(s.ffn)[:2]


def _cross_lines(s: LocalStack, queries: str, keys: str, where: str) -> list[str]:
    m = s.mixer
    return [f"Cross-attention {where}", f"queries: {queries}; keys and values: {keys}",
            f"{m.n_heads} heads · {m.n_kv_heads} KV heads · head dim {m.head_dim} · no RoPE",
            f"q_norm, k_norm over all {_n(s.d_model)}; out = o_proj(…) + queries, added to the stream again"]


def draw_encoder(d, spec, below: str) -> str:
    """The local encoder's frame between the byte embedding (``below``) and the global stack; returns the node of the
    patches the global stack reads."""
    bl, q = spec.arch.byte_latent, d.prefix + "blt_enc."
    enc, d_model = bl.encoder, spec.arch.d_model
    with d.cluster(q[:-1], label=d.label("Local encoder: per byte"), labeljust="l", style="rounded,dashed",
                   color=d.t.edge, fontcolor=d.t.text):
        d.node(q + "layers", d.label(*_stack_lines(enc, "Byte layers")), "attention")
        d.node(q + "pool", d.label("Pool each patch's bytes (max)",
                                   f"→ patch_embedding_projection {_n(enc.d_patch)} → {enc.cross_attn_k} × "
                                   f"{_n(enc.d_model)} slots"), "ffn")
        where = "after every layer" if enc.cross_attn_all_layers else "after the last layer"
        d.node(q + "cross", d.label(*_cross_lines(enc, f"{enc.cross_attn_k} slots per patch", "the patch's bytes",
                                                  where)), "attention")
        for a, b in ((q + "layers", q + "pool"), (q + "pool", q + "cross")):
            d.edge(a, b)
    d.edge(below, q + "layers")  # outside the frame: an edge drawn inside a cluster pulls its ends into it
    into = [f"Patches: {bl.cross_attn_k} × {_n(enc.d_model)} = {_n(bl.global_in)} wide"]
    into.append(f"→ token_embedding_projection {_n(bl.global_in)} → {_n(d_model)}" if bl.global_in != d_model else
                "read as they are (the global d_model)")
    d.node(q + "patches", d.label(*into, f"one per patch: about {bl.patch_size} byte{'s' * (bl.patch_size > 1)} each"),
           "io", shape="box")
    d.edge(q + "cross", q + "patches")
    _patcher(d, spec, bl, q + "pool")
    return q + "patches"


def _patcher(d, spec, bl: ByteLatent, pool: str) -> None:
    """The entropy model beside the encoder: its layers in one node, where the patches start as its edge."""
    p, q = bl.patcher, d.prefix + "blt_patcher"
    if p is None:
        d.note(q, "no patcher: patch lengths come with the input (else one byte per patch)", pool)
        return
    d.node(q, d.label("Patcher (entropy model; frozen, in parameters())",
                      f"byte LM: {p.vocab_size} × {_n(p.d_model)} embedding, {p.n_layers} layers, head",
                      *mixer_kind(p.mixer).lines(p.mixer)[1:2], *ffn_kind(p.ffn).lines(p.ffn)[1:2]), "router")
    d.edge(d.prefix + "tokens", q, style="dashed", constraint="false")
    rule = "a patch opens where next-byte entropy > threshold" if bl.patching == "entropy" else "one byte per patch"
    d.edge(q, pool, style="dashed", constraint="false", label=rule)


def draw_decoder(d, spec, below: str) -> str:
    """The local decoder's frame after the global stack (``below``); returns its final norm."""
    bl, q = spec.arch.byte_latent, d.prefix + "blt_dec."
    dec = bl.decoder
    with d.cluster(q[:-1], label=d.label("Local decoder: per byte"), labeljust="l", style="rounded,dashed",
                   color=d.t.edge, fontcolor=d.t.text):
        d.node(q + "proj", d.label(f"patch_embedding_projection {_n(dec.d_patch)} → {dec.cross_attn_k} × "
                                   f"{_n(dec.d_model)} slots"), "ffn")
        where = "before every layer" if dec.cross_attn_all_layers else "before the first layer"
        d.node(q + "cross", d.label(*_cross_lines(dec, "each byte", f"its patch's {dec.cross_attn_k} slots", where)),
               "attention")
        d.node(q + "layers", d.label(*_stack_lines(dec, "Byte layers")), "attention")
        d.node(q + "norm", d.label(f"Final {spec.arch.norm.label()} ({_n(dec.d_model)})"), "norm")
        for a, b in ((q + "proj", q + "cross"), (q + "cross", q + "layers"), (q + "layers", q + "norm")):
            d.edge(a, b)
    d.edge(below, q + "proj")
    d.edge(d.prefix + "blt_enc.layers", q + "cross", style="dashed", constraint="false",
           label="the encoder's byte states")
    return q + "norm"
