"""Hashed n-gram per-layer embeddings (Qwen4-Exp's PLE): some layers add what the last few tokens were, by hash.

``Qwen4ExpTextNGramEmbedding`` and ``Qwen4ExpTextPLELayer`` (``models/qwen4_exp/modeling_qwen4_exp.py``), before the
attention's hyper-connection of each layer in ``ple_layer_ids``: every 2- to ``ngram_size``-gram ending at the token
(n-grams stop at a document's start, the ``eos`` token) is hashed by ``heads_per_ngram`` heads, each XOR-mixing the
tokens times odd multipliers (splitmix64 of ``seed`` and the PLE layer's index) modulo a prime of its own (the primes
after ``vocab_base``, one per head of every PLE layer in turn), into one table per layer of those primes' sum rows
(padded to a multiple of ``pad_to``) and d_embed / heads columns; the heads' rows side by side are the token's e.
Then k̂ = norm(e · W_key) (one key per stream), v = e · W_value, q̂ = norm(x) per stream; gate
g = signed √|Σ k̂ ⊙ q̂ / √d_model|; u = σ(g) · v per stream; x += u + silu(conv(norm(u))), a depthwise convolution of
``conv_kernel`` taps dilated by ``ngram_size``. Owns the schema, the table sizes, the weights (count terms and trace
tensors), the trace steps, the toy forward with the real hash, the fixed state and the words; :mod:`gallery.counts`,
:mod:`gallery.trace`, :mod:`gallery.toy`, :mod:`gallery.memory` and :mod:`gallery.diagram` wire them in.
"""

from __future__ import annotations

import functools

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from .hyper_lowrank import grouped_norm
from .layercache import LayerCache, state_only
from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew, linear
from .terms import Term, Weight, params, table, term, weight
from .toyops import ACT, Run

PART = "n-gram embedding"
_MASK64, _GAMMA, _M1, _M2, _PRIME_1 = (1 << 64) - 1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 10007


class NgramEmbedding(Strict):
    """Hashed n-gram embeddings added to the residual streams of the layers whose block says ``ngram_embedding``."""

    ngram_size: int = Field(ge=2, description="The longest n-gram (ngram_size); 2- to ngram_size-grams are hashed")
    heads_per_ngram: PositiveInt = Field(description="Hash heads per n-gram order (heads_per_ngram)")
    d_embed: PositiveInt = Field(description="Width of a token's concatenated n-gram rows (ple_embed_dim)")
    conv_kernel: PositiveInt = Field(description="Taps of the dilated depthwise convolution (ple_conv_kernel_size)")
    vocab_base: PositiveInt = Field(description="Each head's table size is a prime after this (ngram_vocab_size_base)")
    pad_to: PositiveInt = Field(description="A layer's table rows are padded to a multiple of this "
                                "(make_ngram_vocab_size_divisible_by)")
    seed: int = Field(ge=0, description="Seeds the hash multipliers (seed)")
    eos_id: int = Field(ge=0, description="The token that starts a document: n-grams do not reach across it, and it "
                        "stands for the tokens before the first (eos_token_id)")

    @property
    def heads(self) -> int:
        """Hash heads of one layer: (ngram_size − 1) × heads_per_ngram."""
        return (self.ngram_size - 1) * self.heads_per_ngram

    @model_validator(mode="after")
    def _widths(self) -> "NgramEmbedding":
        if self.d_embed % self.heads:
            raise rule_error("d_embed", "heads_not_divisible", f"d_embed ({self.d_embed}) must be a multiple of the "
                             f"{self.heads} hash heads ((ngram_size − 1) × heads_per_ngram)")
        return self


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3 × 10^24 (as transformers' trial division decides)."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    if n in small:
        return True
    if any(n % p == 0 for p in small):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        if all((x := x * x % n) != n - 1 for _ in range(s - 1)):
            return False
    return True


@functools.lru_cache(maxsize=64)
def _primes(base: int, count: int) -> tuple[int, ...]:
    """The first ``count`` primes ≥ ``base`` (``_find_nth_prime_after(base − 1, i + 1)`` for i < count)."""
    out, n = [], base - 1
    while len(out) < count:
        n += 1
        if _is_prime(n):
            out.append(n)
    return tuple(out)


def head_sizes(ng: NgramEmbedding, index: int) -> tuple[int, ...]:
    """The prime table size of every hash head of PLE layer ``index`` (0 for the first layer with PLE)."""
    return _primes(ng.vocab_base, (index + 1) * ng.heads)[index * ng.heads:]


def table_rows(ng: NgramEmbedding, index: int) -> int:
    """Rows of PLE layer ``index``'s table: its heads' primes summed, padded to a multiple of ``pad_to``."""
    return -(-sum(head_sizes(ng, index)) // ng.pad_to) * ng.pad_to


def model_terms(ng: NgramEmbedding | None, layers: int) -> list[Term]:
    """The ``layers`` tables (one per layer with PLE), each its own rows × d_embed / heads."""
    if ng is None or not layers:
        return []
    rows = sum(table_rows(ng, i) for i in range(layers))
    return [term("embeddings", "ngram_embedding", "model", ("Σ table rows (primes, padded)", rows),
                 ("d_embed / hash heads", ng.d_embed // ng.heads))]


def weights(d: tuple[str, int], ng: NgramEmbedding, streams: int) -> list[Weight]:
    """Qwen4ExpTextPLELayer's own weights: key_proj, value_proj, the three stream-wise norms, the dilated conv."""
    e, flat = ("d_embed", ng.d_embed), ("streams × d_model", streams * d[1])
    return [weight("per_layer_inputs", "ngram.key_proj", e, flat),
            weight("per_layer_inputs", "ngram.value_proj", e, d),
            *(weight("norms", f"ngram.{n}", flat) for n in ("norm_key", "norm_query", "norm_conv")),
            weight("per_layer_inputs", "ngram.conv1d", flat, ("conv_kernel", ng.conv_kernel))]


def cache(kind: str, n: int, ng: NgramEmbedding, streams: int, d_model: int) -> LayerCache:
    """The dilated conv's window and the last ngram_size − 1 token ids, per sequence."""
    taps = (ng.conv_kernel - 1) * ng.ngram_size
    state = taps * streams * d_model + ng.ngram_size - 1
    return state_only(kind, n, state, f"n-gram conv window (conv_kernel − 1) × ngram_size × streams × d_model = "
                      f"{taps} × {streams * d_model:,} + {ng.ngram_size - 1} token ids = {state:,}",
                      "the token ids are integers, counted here as elements")


def steps(c: Ctx, ng: NgramEmbedding, streams: int) -> list[Step]:
    """Qwen4ExpTextPLELayer.forward on the layer's streams (T, n, d), before the attention's hyper-connection."""
    T, d, n, p = c.T, c.d, streams, PART
    W, x, e = table(weights(c.dm, ng, n)), (T, n, d), ng.d_embed
    taps, dil = ng.conv_kernel, ng.ngram_size

    def norm(op: str, name: str) -> Step:
        return Step(op, p, (T, n * d), (T, n * d), f"each stream's {d} dims: x · rsqrt(mean(x²) + eps) · w",
                    4 * T * n * d, params(W, f"ngram.{name}.weight"))

    return [
        ew("n-gram: flatten streams", p, x, "(T, n, d) → (T, n·d)", per=0, out=(T, n * d)),
        Step("n-gram lookup", p, (T, n * d), (T, e), f"from the token ids: the 2- to {ng.ngram_size}-grams ending at "
             f"each token (not across an eos), {ng.heads} hash heads, h = (t₀·m₀ ⊕ t₋₁·m₋₁ ⊕ …) mod prime + offset; "
             f"this layer's table rows side by side (the table is counted with the embeddings)", 0),
        linear(c, "key_proj", p, W, "k = e · W_key (one key per stream)", "ngram.key_proj"),
        norm("norm_key", "norm_key"),
        linear(c, "value_proj", p, W, "v = e · W_value", "ngram.value_proj"),
        norm("norm_query", "norm_query"),
        Step("n-gram gate", p, (T, n * d), (T, n), f"g = Σ_d k̂ ⊙ q̂ / √{d}, then sign(g) · √max(|g|, 1e-6)",
             2 * T * n * d + 3 * T * n),
        Step("gated value", p, (T, n), (T, n * d), "u_i = σ(g_i) · v for each stream i", 5 * T * n + T * n * d),
        norm("norm_conv", "norm_conv"),
        Step("dilated conv", p, (T, n * d), (T, n * d), f"y[t, c] = Σ_j w[c, j] · û[t − {dil}·({taps - 1} − j), c], "
             f"{taps} taps {dil} tokens apart, zeros before the first", 2 * T * n * d * taps,
             params(W, "ngram.conv1d.weight"), matmul=True),
        ew("SiLU (n-gram conv)", p, (T, n * d), "silu(y)", per=4),
        ew("n-gram residual add", "residual", (T, n * d), "x_i = x_i + u_i + silu(y)_i", per=2, out=x),
    ]


def _multipliers(ng: NgramEmbedding, vocab: int, index: int) -> list[int]:
    """``_build_layer_multipliers``: odd splitmix64 multipliers, one per n-gram position."""
    half = max(1, ((1 << 63) - 1) // max(vocab, 1) // 2)
    out = []
    for i in range(ng.ngram_size):
        v = (ng.seed + _PRIME_1 * index + _GAMMA * (i + 1) + _GAMMA) & _MASK64
        v = ((v ^ (v >> 30)) * _M1) & _MASK64
        v = ((v ^ (v >> 27)) * _M2) & _MASK64
        out.append(2 * ((v ^ (v >> 31)) % half) + 1)
    return out


def ngram_rows(ng: NgramEmbedding, ids: np.ndarray, vocab: int, index: int) -> np.ndarray:
    """(T, heads) table rows of every token: ``Qwen4ExpTextNGramEmbedding.forward`` without a cache."""
    ids = [int(t) for t in ids]
    mult, sizes = _multipliers(ng, vocab, index), head_sizes(ng, index)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    start = 0  # where the token's document starts: after the last eos before it
    out = []
    for t, token in enumerate(ids):
        before = [ids[t - s] if t - s >= start else ng.eos_id for s in range(ng.ngram_size)]
        row = []
        for order in range(2, ng.ngram_size + 1):
            mixed = 0
            for s in range(order):
                mixed ^= before[s] * mult[s]
            heads = range((order - 2) * ng.heads_per_ngram, (order - 1) * ng.heads_per_ngram)
            row += [mixed % sizes[h] + int(offsets[h]) for h in heads]
        out.append(row)
        start = t + 1 if token == ng.eos_id else start
    return np.array(out)


def forward(R: Run, ng: NgramEmbedding, x: np.ndarray, index: int) -> np.ndarray:
    """The toy's n-gram embedding on the streams x (T, n, d), with the real hash of the token ids ``R.ids``."""
    T, n, d = x.shape
    flat = R.rec("n-gram: flatten streams", x.reshape(T, -1))
    rows = ngram_rows(ng, R.ids, R.arch.vocab_size, index)
    e = R.rec("n-gram lookup", R.w["ngram_embedding.weight"][rows].reshape(T, -1), rows=rows)
    k = grouped_norm(R, "norm_key", "ngram.norm_key", R.linear("key_proj", e, "ngram.key_proj"), n)
    v = R.linear("value_proj", e, "ngram.value_proj")
    q = grouped_norm(R, "norm_query", "ngram.norm_query", flat, n)
    g = (k * q).reshape(T, n, d).sum(-1) / np.sqrt(d)
    g = R.rec("n-gram gate", np.sqrt(np.maximum(np.abs(g), 1e-6)) * np.sign(g))
    u = R.rec("gated value", (v[:, None, :] / (1 + np.exp(-g[..., None]))).reshape(T, -1))
    un = grouped_norm(R, "norm_conv", "ngram.norm_conv", u, n)
    w, dil = R.w["ngram.conv1d.weight"], ng.ngram_size
    taps = w.shape[1]
    padded = np.concatenate([np.zeros(((taps - 1) * dil, un.shape[1])), un])
    y = R.rec("dilated conv", sum(w[:, j] * padded[j * dil:j * dil + T] for j in range(taps)))
    y = R.rec("SiLU (n-gram conv)", ACT["silu"](y))
    return R.rec("n-gram residual add", x + (u + y).reshape(T, n, d))


def toy_table(ng: NgramEmbedding, rng: np.random.Generator) -> np.ndarray:
    """The toy's table of its first PLE layer (a buffer-like input: the layer trace does not count it)."""
    return rng.standard_normal((table_rows(ng, 0), ng.d_embed // ng.heads))


def shrink(ng: dict) -> dict:
    """Toy size: 2 heads per order of 4 dims, small primes (after 11), the real n-gram size and kernel."""
    heads = (ng["ngram_size"] - 1) * 2
    return {**ng, "heads_per_ngram": 2, "d_embed": 4 * heads, "vocab_base": 11, "pad_to": 8}


def lines(ng: NgramEmbedding) -> list[str]:
    """The diagram's words for the n-gram embedding on the layers that have it."""
    return ["Hashed n-gram embedding (PLE)", f"2- to {ng.ngram_size}-grams × {ng.heads_per_ngram} hash heads → "
            f"{ng.d_embed} dims", "key per stream gates the value by the streams;",
            f"+ silu(dilated conv, {ng.conv_kernel} taps × {ng.ngram_size} apart)"]


def fact(ng: NgramEmbedding | None) -> str:
    """The compare table's row."""
    return "none" if ng is None else f"{ng.ngram_size}-grams, {ng.heads} heads, d_embed {ng.d_embed}"

