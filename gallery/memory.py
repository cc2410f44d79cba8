"""Inference cache size from what each layer really keeps: a per-token KV cache, a fixed state, or both.

Per layer (elements; bytes = elements × bytes per element, bf16 = 2):

* softmax attention caches K and V for its KV heads, per token: ``2 × n_kv_heads × head_dim``
  (GQA and MQA shrink this; ``head_dim`` is the spec's, not ``d_model / n_heads``);
* MLA caches the compressed latent plus the shared RoPE key per token: ``kv_lora_rank +
  qk_rope_head_dim`` (plus the indexer's key, ``index_head_dim``, with DeepSeek Sparse Attention)
  (DeepSeek-V2 paper, §2.1.2; transformers' reference code caches decompressed K/V, the figure
  here is what the architecture needs);
* a sliding-window layer caches at most ``window`` tokens, a chunked-attention layer (Llama 4) at
  most one ``chunk``; a compressing layer keeps one entry per ``ratio`` tokens;
* compressed attention (DeepSeek-V4) keeps one shared K = V vector of ``head_dim`` per token of its
  window, and in compressing layers one entry of ``head_dim`` (plus the indexer's key) per ``ratio``
  tokens; the full window and the compressor's not-yet-pooled tokens are counted as its fixed state;
* a linear-attention, state-space or convolution layer keeps a **state of fixed size per sequence**
  (``state_elements``) that does not grow with the context. Gated DeltaNet: the recurrent state
  ``n_v_heads × k_head_dim × v_head_dim`` plus the convolution's last ``conv_kernel`` inputs,
  ``conv_dim × conv_kernel`` (transformers' ``LinearAttentionLayer`` in ``cache_utils.py``).

Two figures are reported: :func:`kv_bytes_per_token`, the fact-sheet convention (every attention
layer caching every token, bf16, fixed states left out), and :func:`kv_bytes`, the total at a
context length: window- and ratio-aware, fixed states included. :func:`cache_curve` gives the
total per block kind over context lengths, for the charts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import Arch, CompressedAttention, GatedDeltaNet, LatentAttention, Mamba, Mamba2, ShortConv, SoftmaxAttention

BF16 = 2


@dataclass(frozen=True)
class LayerCache:
    """What one layer of a block kind keeps while generating, with its formulas."""

    kind: str
    n_layers: int
    elements_per_token: int  # per cached entry, growing with the context
    formula: str
    window: int | None  # tokens kept at most; None = every token
    state_elements: int = 0  # fixed per sequence, whatever the context (recurrent, SSM, conv state)
    state_formula: str = ""
    ratio: int = 1  # one cached entry per `ratio` tokens (compressed attention)
    caveat: str = ""  # where this figure is not the whole truth, said plainly

    def elements(self, context: int) -> int:
        """Elements one layer keeps for one sequence of ``context`` tokens."""
        tokens = min(context, self.window) if self.window else context
        entries = -(-tokens // self.ratio)  # ceil: a partly filled block is kept too
        return entries * self.elements_per_token + self.state_elements


def _none(kind: str, n: int) -> LayerCache:
    return LayerCache(kind, n, 0, "no token mixer: nothing cached", None)


def _state_only(kind: str, n: int, state: int, formula: str, caveat: str) -> LayerCache:
    """A layer with no KV cache, only ``state`` elements per sequence (state-space and convolution layers)."""
    return LayerCache(kind, n, 0, "no KV cache: a fixed state only", None, state, formula, caveat=caveat)


def _f32_state(what: str, taps: int) -> str:
    """The caveat of a recurrent state that transformers keeps in float32, beside a conv window."""
    return f"bytes assume bf16; transformers keeps the {what} in float32, twice that; " + _conv_window(taps)


def _conv_window(taps: int) -> str:
    """transformers' conv_states hold ``taps`` inputs per channel; decoding reads only the last taps − 1."""
    return f"the conv window holds {taps} inputs per channel where {taps - 1} would do"


def _gated_deltanet(kind: str, n: int, m: GatedDeltaNet, d_model: int) -> LayerCache:
    """Qwen3NextGatedDeltaNet's cache: nothing per token, a recurrent state and a conv state per sequence."""
    recurrent = m.n_v_heads * m.k_head_dim * m.v_head_dim  # (n_v_heads, k_head_dim, v_head_dim)
    conv = m.conv_dim * m.conv_kernel  # (conv_dim, conv_kernel): the last conv_kernel inputs of q, k, v
    formula = (f"recurrent n_v_heads × k_head_dim × v_head_dim = {m.n_v_heads} × {m.k_head_dim} × {m.v_head_dim} "
               f"= {recurrent:,} + conv conv_dim × conv_kernel = {m.conv_dim:,} × {m.conv_kernel} = {conv:,} "
               f"→ {recurrent + conv:,}")
    return _state_only(kind, n, recurrent + conv, formula, _f32_state("recurrent state", m.conv_kernel))


def _mamba2_cache(kind: str, n: int, m: Mamba2, d_model: int) -> LayerCache:
    """A Mamba-2 layer keeps, per sequence, each head's SSM state and the last conv_kernel inputs of its
    convolution (transformers' LinearAttentionLayer: recurrent_states (B, n_heads, head_dim, d_state),
    conv_states (B, conv_dim, conv_kernel)); nothing per token."""
    ssm = m.n_heads * m.head_dim * m.d_state
    conv = m.conv_dim * m.conv_kernel
    formula = (f"n_heads × head_dim × d_state + conv_dim × conv_kernel = "
               f"{m.n_heads} × {m.head_dim} × {m.d_state} + {m.conv_dim:,} × {m.conv_kernel} = {ssm + conv:,}")
    return _state_only(kind, n, ssm + conv, formula, _f32_state("SSM state (whatever the model's dtype)",
                                                                m.conv_kernel))


def _mamba_cache(kind: str, n: int, m: Mamba, d_model: int) -> LayerCache:
    """Mamba-1: per sequence an SSM state (d_inner, d_state) and a conv window (d_inner, conv_kernel), the shapes
    transformers' ``LinearAttentionLayer`` allocates (recurrent_states, conv_states)."""
    state = m.d_inner * (m.d_state + m.conv_kernel)  # (d_inner, d_state) + (d_inner, conv_kernel)
    formula = (f"d_inner × d_state + d_inner × conv_kernel = {m.d_inner:,} × {m.d_state} + {m.d_inner:,} × "
               f"{m.conv_kernel} = {state:,}")
    return _state_only(kind, n, state, formula, _f32_state("SSM state (d_inner × d_state)", m.conv_kernel))


def _short_conv_cache(kind: str, n: int, m: ShortConv, d_model: int) -> LayerCache:
    """LFM2 short conv: per sequence a conv window (d_model, conv_kernel), transformers' conv_states."""
    state = d_model * m.conv_kernel  # (d_model, conv_kernel)
    formula = f"d_model × conv_kernel = {d_model:,} × {m.conv_kernel} = {state:,}"
    return _state_only(kind, n, state, formula, _conv_window(m.conv_kernel))


def _softmax_cache(kind: str, n: int, m: SoftmaxAttention, d_model: int) -> LayerCache:
    """K and V of every KV head per token, kept for the window (or chunk) when there is one."""
    elements = m.n_kv_heads * (m.head_dim + m.value_dim)  # K and V of every KV head
    if m.v_head_dim:
        formula = (f"n_kv_heads × (head_dim + v_head_dim) = {m.n_kv_heads} × ({m.head_dim} + "
                   f"{m.v_head_dim}) = {elements:,}")
    else:
        formula = f"2 × n_kv_heads × head_dim = 2 × {m.n_kv_heads} × {m.head_dim} = {elements:,}"
    return LayerCache(kind, n, elements, formula, m.window or m.chunk)


def _latent_cache(kind: str, n: int, m: LatentAttention, d_model: int) -> LayerCache:
    """MLA: the KV latent and the shared RoPE key per token (plus the DSA indexer's key)."""
    elements = m.kv_lora_rank + m.qk_rope_head_dim
    formula = f"kv_lora_rank + qk_rope_head_dim = {m.kv_lora_rank} + {m.qk_rope_head_dim}"
    if m.indexer and not m.indexer.shared:  # DSA also caches one indexer key per token
        elements += m.indexer.head_dim
        formula += f" + index_head_dim {m.indexer.head_dim}"
    return LayerCache(kind, n, elements, formula + f" = {elements:,}", m.window)


def _pending(ratio: int, series: int, dim: int) -> int:
    """Most a compressor holds before pooling: the kv and gate rows (``series × dim`` each) of up to
    ``ratio − 1`` tokens of the open block, and with overlap the previous block's first series (``ratio × dim``)."""
    return 2 * ((ratio - 1) * series * dim + (series - 1) * ratio * dim)


def _compressed_cache(kind: str, n: int, m: CompressedAttention, d_model: int) -> LayerCache:
    """One K = V vector per window token; per ``ratio`` tokens one compressed entry (+ the indexer's key).

    transformers' DeepseekV4HCACache / DeepseekV4CSACache keep the same: the window's keys (the values are the
    same tensor), the compressed entries (``compressed_kv``), the pending block (``buffer_kv``,
    ``buffer_gate``) and the overlap (``overlap_kv``, ``overlap_gate``).
    """
    if m.ratio is None:
        formula = f"head_dim (one shared KV head, K = V) = {m.head_dim:,}"
        caveat = "transformers' DynamicSlidingWindowLayer stores this vector twice (as keys and as values)"
        return LayerCache(kind, n, m.head_dim, formula, m.window, caveat=caveat)
    entry = m.head_dim + (m.indexer.head_dim if m.indexer else 0)
    formula = f"head_dim {m.head_dim}" + (f" + index_head_dim {m.indexer.head_dim}" if m.indexer else "")
    formula += f" = {entry:,} per entry, one entry per {m.ratio} tokens"
    series = 2 if m.overlap else 1
    pending = _pending(m.ratio, series, m.head_dim) + (_pending(m.ratio, 2, m.indexer.head_dim) if m.indexer else 0)
    state = m.window * m.head_dim + pending
    state_formula = (f"window {m.window} × head_dim {m.head_dim} + pending block (kv and gate of < {m.ratio} "
                     f"tokens × {series} series{', previous block for the overlap' if m.overlap else ''}"
                     f"{', the same for the indexer' if m.indexer else ''}) = {state:,}")
    caveat = (f"the state is counted at its most: the {m.window}-token window is full from {m.window} tokens on, the "
              f"pending block (< {m.ratio} tokens, pooled once complete) varies with the position in its block")
    return LayerCache(kind, n, entry, formula, None, state, state_formula, m.ratio, caveat)


_CACHES = {  # mixer class → what one layer keeps: (block kind, layers, mixer, d_model) → LayerCache
    # (d_model matters only to the short convolution, whose state is d_model wide)
    SoftmaxAttention: _softmax_cache,
    LatentAttention: _latent_cache,
    GatedDeltaNet: _gated_deltanet,
    CompressedAttention: _compressed_cache,
    Mamba2: _mamba2_cache,
    Mamba: _mamba_cache,
    ShortConv: _short_conv_cache,
}


def layer_caches(arch: Arch) -> list[LayerCache]:
    """Per block kind: cached elements per token, the window that bounds them, and any fixed state."""
    out = []
    for kind, n in arch.layer_counts().items():
        mixer = arch.blocks[kind].mixer
        if mixer is None:
            out.append(_none(kind, n))
        elif type(mixer) in _CACHES:
            out.append(_CACHES[type(mixer)](kind, n, mixer, arch.d_model))
        else:
            raise TypeError(f"no cache model for mixer {type(mixer).__name__}")
    return out


def kv_bytes_per_token(arch: Arch, bytes_per_element: int = BF16) -> int:
    """Fact-sheet convention: every attention layer caches every token, in bf16 (fixed states left out)."""
    return sum(c.n_layers * c.elements_per_token for c in layer_caches(arch)) * bytes_per_element


def state_bytes(arch: Arch, bytes_per_element: int = BF16) -> int:
    """The fixed per-sequence state of all linear/state-space/convolution layers (and the windows and pending
    blocks of compressed attention), in bytes."""
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
