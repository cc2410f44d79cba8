"""KV-cache size from what each layer really caches.

Per layer and per token (elements; bytes = elements × bytes per element, bf16 = 2):

* softmax attention caches K and V for its KV heads: ``2 × n_kv_heads × head_dim``
  (GQA and MQA shrink this; ``head_dim`` is the spec's, not ``d_model / n_heads``);
* MLA caches the compressed latent plus the shared RoPE key: ``kv_lora_rank + qk_rope_head_dim``
  (plus the indexer's key, ``index_head_dim``, with DeepSeek Sparse Attention)
  (DeepSeek-V2 paper, §2.1.2; transformers' reference code caches decompressed K/V, the figure
  here is what the architecture needs);
* a sliding-window layer caches at most ``window`` tokens, a chunked-attention layer (Llama 4) at
  most one ``chunk``.

Two figures are reported: :func:`kv_bytes_per_token`, the fact-sheet convention (every attention
layer caching every token, bf16), and :func:`kv_bytes`, the window-aware total at a context length.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Arch, LatentAttention, SoftmaxAttention

BF16 = 2


@dataclass(frozen=True)
class LayerCache:
    """What one block kind caches per token, with its formula."""

    kind: str
    n_layers: int
    elements_per_token: int
    formula: str
    window: int | None  # tokens kept at most; None = every token


def layer_caches(arch: Arch) -> list[LayerCache]:
    """Per block kind: cached elements per token and the window that bounds them."""
    out = []
    for kind, n in arch.layer_counts().items():
        mixer = arch.blocks[kind].mixer
        if isinstance(mixer, SoftmaxAttention):
            elements = mixer.n_kv_heads * (mixer.head_dim + mixer.value_dim)  # K and V of every KV head
            if mixer.v_head_dim:
                formula = (f"n_kv_heads × (head_dim + v_head_dim) = {mixer.n_kv_heads} × ({mixer.head_dim} + "
                           f"{mixer.v_head_dim}) = {elements:,}")
            else:
                formula = f"2 × n_kv_heads × head_dim = 2 × {mixer.n_kv_heads} × {mixer.head_dim} = {elements:,}"
            out.append(LayerCache(kind, n, elements, formula, mixer.window or mixer.chunk))
        elif isinstance(mixer, LatentAttention):
            elements = mixer.kv_lora_rank + mixer.qk_rope_head_dim
            formula = f"kv_lora_rank + qk_rope_head_dim = {mixer.kv_lora_rank} + {mixer.qk_rope_head_dim}"
            if mixer.indexer and not mixer.indexer.shared:  # DSA also caches one indexer key per token
                elements += mixer.indexer.head_dim
                formula += f" + index_head_dim {mixer.indexer.head_dim}"
            formula += f" = {elements:,}"
            out.append(LayerCache(kind, n, elements, formula, mixer.window))
        else:
            out.append(LayerCache(kind, n, 0, "no attention: nothing cached per token", None))
    return out


def kv_bytes_per_token(arch: Arch, bytes_per_element: int = BF16) -> int:
    """Fact-sheet convention: every attention layer caches every token, in bf16."""
    return sum(c.n_layers * c.elements_per_token for c in layer_caches(arch)) * bytes_per_element


def kv_bytes(arch: Arch, context: int, batch: int = 1, bytes_per_element: int = BF16) -> int:
    """Window-aware cache size for ``batch`` sequences of ``context`` tokens."""
    total = 0
    for c in layer_caches(arch):
        tokens = min(context, c.window) if c.window else context
        total += c.n_layers * c.elements_per_token * tokens
    return total * batch * bytes_per_element
