"""NumPy toys of BLT's two byte-level mechanisms, each checked against ``models/blt/modeling_blt.py`` in float64.

- The **cross-attention between patches and bytes** (``BltCrossAttention``): the local encoder's patch slots query the
  bytes of their patch, the local decoder's bytes query the slots of the patch before theirs. :func:`patch_ids` and
  :func:`cross_mask` build which query sees which key as ``BltModel`` does; :func:`cross_attention` is the layer.
- The **hash n-gram ids** (``byte_group_hash_function``, ``compute_hash_embeddings``): :func:`hash_ids` and
  :func:`hash_embeddings`.

Pure functions of NumPy arrays. Weights are stored as the toys store them, ``x @ W``: a torch ``nn.Linear`` weight
transposed, (in, out).
"""

from __future__ import annotations

import numpy as np

from .toyops import Run, attend, heads

# compute_hash_embeddings' primes, one per hash function (cycled when there are more functions)
PRIMES = (1000000007, 5915587277, 1500450271, 3267000013, 5754853343, 4093082899, 9576890767, 3628273133,
          2860486313, 5463458053, 3367900313)


def patch_ids(lengths: np.ndarray, T: int) -> np.ndarray:
    """Each byte's patch index, (T,), from the patch lengths (P,): ``BltModel._patch_ids_from_lengths`` (bytes past
    the last patch's end stay in the last patch)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # (P,)
    return (starts[None, :] <= np.arange(T)[:, None]).sum(-1) - 1  # (T,)


def cross_mask(ids: np.ndarray, n_patches: int, k: int, patches_as_queries: bool) -> np.ndarray:
    """Which query may see which key, True where it may: ``_prepare_patch_cross_attention_mask`` (which turns it into
    0 / the dtype's min, added to the scores). ids (T,) are the bytes' patch indices.

    patches_as_queries (the encoder): (P·k slots, T bytes), slot p·k + j sees the bytes of patch p; otherwise (the
    decoder, ids from ``patch_lengths[:, 1:]``): (T bytes, P·k slots), a byte sees the k slots of its patch."""
    same = np.arange(n_patches)[:, None] == ids[None, :]  # (P, T)
    return np.repeat(same, k, axis=0) if patches_as_queries else np.repeat(same.T, k, axis=1)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """BltRMSNorm: w · x / sqrt(mean(x²) + eps) over the last axis."""
    return w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def cross_attention(w: dict[str, np.ndarray], x: np.ndarray, states: np.ndarray, allowed: np.ndarray,
                    n_heads: int, n_kv_heads: int, eps: float) -> np.ndarray:
    """``BltCrossAttention.forward`` with eager attention: queries from q_norm(x), keys and values from k_norm(states)
    (both RMSNorms over the whole width, before the projections), no RoPE, scale head_dim^−½ (head_dim = hidden_size
    // n_heads), the mask ``allowed`` (Tq, Tk), then o_proj and **+ x** (the layer returns its own residual).

    w: ``q_norm.weight``, ``k_norm.weight`` (d,); ``q_proj``, ``k_proj``, ``v_proj``, ``o_proj`` ``.weight`` (in, out).
    x (Tq, d), states (Tk, d) → (Tq, d). Every query needs a key it may see (true of BLT's masks: no empty patch)."""
    d = x.shape[-1]
    hd = d // n_heads
    R = Run(arch=None, w=w)  # the recorder without a trace: toyops' eager attention, its steps unused
    q = heads(rms_norm(x, w["q_norm.weight"], eps) @ w["q_proj.weight"], hd)  # (heads, Tq, hd)
    s = rms_norm(states, w["k_norm.weight"], eps)  # (Tk, d)
    k, v = (np.repeat(heads(s @ w[f"{t}_proj.weight"], hd), n_heads // n_kv_heads, axis=0)  # repeat_kv: (heads, Tk, hd)
            for t in "kv")
    o = attend(R, q, k, v, hd ** -0.5, None, None, None, False, mask=allowed)  # (Tq, heads·hd)
    return o @ w["o_proj.weight"] + x


def hash_ids(ids: np.ndarray, n: int, prime: int, vocab: int) -> np.ndarray:
    """``byte_group_hash_function``: the n bytes ending at each position (n − 1 zeros padded on the left) hashed as
    Σ_i byte_i · prime^i (``rolling_polynomial_hash``, i = 0 the oldest; int64 arithmetic wrapping as torch's does),
    then taken modulo ``vocab`` (floor modulo: in [0, vocab)). ids (..., T) → (..., T)."""
    ids = np.asarray(ids, dtype=np.int64)
    padded = np.concatenate([np.zeros((*ids.shape[:-1], n - 1), np.int64), ids], -1)  # (..., T + n − 1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, n, axis=-1)  # (..., T, n)
    with np.errstate(over="ignore"):
        powers = np.power(np.int64(prime), np.arange(n, dtype=np.int64))  # (n,), wrapping
        return (windows * powers).sum(-1) % vocab


def hash_embeddings(ids: np.ndarray, embed: np.ndarray, table: np.ndarray, functions: int, sizes: list[int],
                    vocab: int) -> np.ndarray:
    """``compute_hash_embeddings``: the byte's row of ``embed`` (the local encoder's embed_tokens, (V, d)) plus, for
    each hash function f and n-gram size n in that order, the row hash_ids + (f·len(sizes) + slot)·vocab of the fused
    ``table`` (encoder_hash_tok_embedding, (functions·len(sizes)·vocab, d)). ids (..., T) → (..., T, d)."""
    out = embed[ids]
    for f in range(functions):
        for j, n in enumerate(sizes):
            out = out + table[hash_ids(ids, n, PRIMES[f % len(PRIMES)], vocab) + (f * len(sizes) + j) * vocab]
    return out
