"""Inference cache size from what each layer really keeps: a per-token KV cache, a fixed state, or both.

Per layer (elements; bytes = elements × bytes per element, bf16 = 2), as each mixer kind's module says
(``gallery/kinds/``, its ``cache`` facet, with formulas and a caveat where transformers keeps more):

* softmax attention caches K and V for its KV heads, per token: ``2 × n_kv_heads × head_dim``
  (GQA and MQA shrink this; ``head_dim`` is the spec's, not ``d_model / n_heads``);
* MLA caches the compressed latent plus the shared RoPE key per token: ``kv_lora_rank +
  qk_rope_head_dim`` (plus the indexer's key, ``indexer.head_dim``, with DeepSeek Sparse Attention)
  (DeepSeek-V2 paper, §2.1.2; transformers' reference code caches decompressed K/V, the figure
  here is what the architecture needs);
* a KV-shared layer (Gemma 4 E-models, ``num_kv_shared_layers``) reads the K and V an earlier layer cached and
  keeps nothing of its own (transformers gives it a ``DummyLayer``); a draft model whose every layer is KV-shared
  (Gemma 4 assistants) reads the target model's K and V and adds no cache (:mod:`gallery.draft_head`);
* a sliding-window layer caches at most ``window`` tokens, a chunked-attention layer (Llama 4) at
  most one ``chunk``; a compressing layer keeps one entry per ``ratio`` tokens;
* a shared block (Zamba) caches its K and V at every layer that runs it, as that layer's own;
* a layer of recurrent stacks (HRM) keeps a cache slot per run: H_cycles × L_cycles in the L stack, H_cycles in the H
  stack;
* a linear-attention, state-space or convolution layer keeps a **state of fixed size per sequence**
  (``state_elements``) that does not grow with the context (transformers' ``LinearAttentionLayer`` in
  ``cache_utils.py``); so does a feed-forward kind that reads the previous token (its ``cache`` facet), added to
  its mixer's.

Two figures are reported: :func:`kv_bytes_per_token`, the fact-sheet convention (every attention
layer caching every token, bf16, fixed states left out), and :func:`kv_bytes`, the total at a
context length: window- and ratio-aware, fixed states included. :func:`cache_curve` gives the
total per block kind over context lengths, for the charts.
"""

from __future__ import annotations

from functools import reduce

from . import byte_latent_cost, draft_head, ngram_embedding, recurrent_stacks, sublayer_conv
from .kinds import ffn_kind, mixer_kind
from .layercache import LayerCache, no_mixer, repeated, side_by_side  # noqa: F401  (LayerCache: importable from here)
from .sharedblock import use_caches
from .spec import Arch

BF16 = 2


def layer_caches(arch: Arch) -> list[LayerCache]:
    """Per block kind: cached elements per token, the window that bounds them, and any fixed state (BLT: per byte, the
    global layers' one entry per patch, then the byte-level stacks', :mod:`gallery.byte_latent_cost`)."""
    caches = [draft_head.cache(arch, recurrent_stacks.cache(arch, kind, _block_cache(arch, kind, n)))
              for kind, n in arch.layer_counts().items()]
    return byte_latent_cost.caches(arch, caches) if arch.byte_latent else caches


def _block_cache(arch: Arch, kind: str, n: int) -> LayerCache:
    """One block kind's cache: its mixer's, both mixers' side by side (Falcon-H1; a shared block's attention beside
    the layer's own mixer, its K and V kept per use: Zamba), one per pair in a layer that runs its mixer → ffn pair
    several times (LongCat-Flash), with its feed-forward's fixed state where it keeps one; nothing without a mixer."""
    block = arch.blocks[kind]
    caches = [mixer_kind(m).cache(kind, n, m, arch.d_model) for m in block.mixers]
    if not caches:
        return no_mixer(kind, n)
    caches = [repeated(reduce(side_by_side, caches), block.sublayer_pairs)] + use_caches(arch, kind, n)
    ffn = block.ffn and ffn_kind(block.ffn).cache(kind, n, block.ffn, arch.d_model)
    convs = [sublayer_conv.cache(kind, n, 1 + (block.ffn is not None), block.sublayer_conv, arch.d_model)
             ] if block.sublayer_conv else []  # Inkling: a conv window after each sublayer
    if block.ngram_embedding:  # Qwen4ExpTextPLELayer: its dilated conv's window and the last token ids
        convs.append(ngram_embedding.cache(kind, n, arch.ngram_embedding, arch.hyper_connections.streams, arch.d_model))
    return reduce(side_by_side, caches + ([ffn] if ffn else []) + convs)


def kv_bytes_per_token(arch: Arch, bytes_per_element: int = BF16) -> int:
    """Fact-sheet convention: every attention layer caches every token, in bf16 (fixed states left out)."""
    return sum(c.n_layers * c.elements_per_token for c in layer_caches(arch)) * bytes_per_element


def state_bytes(arch: Arch, bytes_per_element: int = BF16) -> int:
    """The fixed per-sequence state of all linear/state-space/convolution layers (and of attention layers that count
    their window or a pending block as state), in bytes."""
    return sum(c.n_layers * c.state_elements for c in layer_caches(arch)) * bytes_per_element


def kv_bytes(arch: Arch, context: int, batch: int = 1, bytes_per_element: int = BF16) -> int:
    """Everything cached for ``batch`` sequences of ``context`` tokens: window- and ratio-aware, states included."""
    return sum(c.n_layers * c.elements(context) for c in layer_caches(arch)) * batch * bytes_per_element


UNLIMITED_SHOWN = 131_072  # how far a curve goes for a model whose config sets no context limit (Falcon-Mamba)


def context_grid(longest: int | None) -> list[int]:
    """Context lengths for a cache curve: powers of two from 1,024 up to ``longest``, and ``longest`` itself
    (up to :data:`UNLIMITED_SHOWN` when there is no limit)."""
    longest = longest or UNLIMITED_SHOWN
    return sorted({2**k for k in range(10, 25) if 2**k <= longest} | {longest})


def cache_curve(arch: Arch, contexts: list[int], batch: int = 1,
                bytes_per_element: int = BF16) -> list[dict]:
    """Rows ``{kind, context, bytes, grows}`` per block kind and context, for a stacked area chart.

    ``grows`` is False for a block kind whose cache is a fixed state only.
    """
    return [{"kind": c.kind, "context": n, "bytes": c.n_layers * c.elements(n) * batch * bytes_per_element,
             "grows": c.elements_per_token > 0}
            for c in layer_caches(arch) for n in contexts]
