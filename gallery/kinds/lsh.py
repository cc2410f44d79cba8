"""LSH attention (Reformer's ``LSHSelfAttention``, ``models/reformer/modeling_reformer.py``; Kitaev et al. 2020, §2):
one shared projection gives each head's queries and keys (``query_key``), another its values (``value``), no bias,
no positions in the layer. Each of ``n_hashes`` rounds hashes every vector with a random rotation (angular LSH:
the argmax over [xR | −xR], R of head_dim × n_buckets/2; with ``n_buckets`` a list, one rotation slice per factor
and the bucket numbers combined), sorts the tokens by (round, bucket, position), cuts them into chunks of
``chunk`` and lets each chunk's queries attend to its keys and those of the ``chunks_before`` chunks before it; the
keys are the queries length-normalised (x · rsqrt(mean(x²) + 1e-6) / √head_dim); a key later than its query gets
−1e9, a token's own key −1e5 (it sees itself only when nothing else is left); the rounds' outputs are undone from
the sort and summed with weights softmax over their logsumexps; ``output.dense`` projects back
(``ReformerSelfOutput``, no bias). A sequence of at most one chunk is plain causal attention of the same shared-QK
form. The rotations are drawn at every call (``torch.randn`` after ``torch.manual_seed(hash_seed)`` when the config
sets one); the toy draws its own with a fixed seed, and tests hand transformers the same ones.

``n_buckets`` null: ``_set_num_buckets`` chooses 2^⌊log2(2T/chunk)⌋ buckets at the first long sequence, factored in
two when above 2 · max(√(max_position_embeddings / chunk), chunk).

The cache (``ReformerDynamicCache``) keeps what transformers keeps: every token's normed layer input (d_model) and
its bucket in each round for each head (int64); a decoding step hashes its query, sorts, and projects the
query-keys and values of the ``(1 + chunks_before) × chunk`` tokens of its chunk in every round again
(``_get_relevant_hid_states_and_buckets``). Schema :class:`LshAttention`; parameters; cache; FLOPs; label; trace and
toy (shared parts: :mod:`.chunked`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import rule_error
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, WeightTerms, table, weight
from ..toyops import HEAD_TOY, Run, heads
from . import chunked
from .contract import Fact, MixerKind

PART = "LSH attention"
ROTATION_SEED = 0  # the toy's rotations: numpy's default_rng(0), handed to transformers by the tests
INT64 = 4  # a bucket number is an int64: 8 bytes, 4 elements of the cache's 2-byte unit


class LshAttention(chunked.Chunked):
    """Attention within chunks of tokens sorted by a locality-sensitive hash of their shared queries and keys."""

    kind: Literal["lsh"]
    n_hashes: PositiveInt = Field(description="Hashing rounds, each with its own rotation (num_hashes)")
    n_buckets: PositiveInt | list[PositiveInt] | None = Field(
        description="Buckets per round (num_buckets), or factors whose product is the number of buckets; null: "
        "chosen from the first long sequence's length")

    @model_validator(mode="after")
    def _even(self) -> "LshAttention":
        factors = self.factors or []
        if not factors and self.n_buckets is not None or any(f % 2 for f in factors):
            raise rule_error("n_buckets", "odd_buckets", f"n_buckets ({self.n_buckets}) must be even, or a list of "
                             "even factors (a rotation gives each bucket pair ±)")
        return self

    @property
    def factors(self) -> list[int] | None:
        """The bucket factors: [n_buckets] for one number, the list as given, None when chosen at run time."""
        return [self.n_buckets] if isinstance(self.n_buckets, int) else self.n_buckets


def auto_buckets(T: int, chunk: int, max_positions: int) -> list[int]:
    """``_set_num_buckets``: 2^⌊log2(2 · (T // chunk))⌋, factored in two when above the limit."""
    power = (2 * (T // chunk)).bit_length() - 1
    limit = 2 * max(int((max_positions // chunk) ** 0.5), chunk)
    return [2 ** power] if 2 ** power <= limit else [2 ** (power // 2), 2 ** (power - power // 2)]


def _factors(m: LshAttention, T: int, max_positions: int | None) -> list[int]:
    return m.factors or auto_buckets(T, m.chunk, max_positions or T)


def weights(d: tuple[str, int], m: LshAttention) -> list[Weight]:
    """LSHSelfAttention's query_key and value, then ReformerSelfOutput's dense."""
    h, hd = ("n_heads", m.n_heads), ("head_dim", m.head_dim)
    width = m.n_heads * m.head_dim
    return [weight("attention", "query_key", d, h, hd, shape=(d[1], width)),
            weight("attention", "value", d, h, hd, shape=(d[1], width)),
            weight("attention", "output.dense", h, hd, d, shape=(width, d[1]))]


def cache(kind: str, n: int, m: LshAttention, d_model: int) -> LayerCache:
    """Every token's normed layer input and its buckets (``ReformerDynamicCache``: states_cache, buckets_cache)."""
    buckets = INT64 * m.n_heads * m.n_hashes
    return LayerCache(kind, n, d_model + buckets,
                      f"d_model + 4 × n_heads × n_hashes = {d_model:,} + 4 × {m.n_heads} × {m.n_hashes} = "
                      f"{d_model + buckets:,}: the normed layer input, and one int64 bucket (4 two-byte units) per "
                      "head and round", None,
                      caveat=f"no K or V is kept: a step projects the query-keys and values of {1 + m.chunks_before} "
                      f"× {m.chunk:,} tokens in each of the {m.n_hashes} rounds again, 2 × 2 × d_model × n_heads × "
                      "head_dim FLOPs per token read, not in the FLOPs figure")


def context_flops(m: LshAttention, context: int) -> int:
    """One query: within a chunk (context ≤ chunk), QKᵀ and A·V over the context; beyond, in each round, its hash
    (head_dim × rotation size / 2 products per head: 2 FLOPs each) and QKᵀ and A·V over (1 + chunks_before) ×
    chunk keys."""
    width = m.n_heads * m.head_dim
    if context <= m.chunk:
        return 2 * 2 * width * context
    rotation = sum(_factors(m, context, None))
    return m.n_hashes * (2 * 2 * width * (1 + m.chunks_before) * m.chunk + width * rotation)


def lines(m: LshAttention) -> list[str]:
    buckets = "buckets from the sequence length" if m.n_buckets is None else (
        f"{m.n_buckets} buckets" if isinstance(m.n_buckets, int) else
        f"{np.prod(m.n_buckets):,} buckets ({' × '.join(map(str, m.n_buckets))})")
    return ["LSH attention",
            f"{m.n_heads} heads · head dim {m.head_dim} · shared Q = K (query_key), V",
            f"{m.n_hashes} hash round{'s' if m.n_hashes > 1 else ''} · {buckets} · random rotations",
            f"sorted by bucket; causal within {chunked.span_text(m.chunk, m.chunks_before)}",
            "a token sees itself only when nothing else is left"]


def steps(c: Ctx, m: LshAttention) -> list[Step]:
    """LSHSelfAttention.forward (the hashed path beyond one chunk), then ReformerSelfOutput."""
    T, p, W, h, hd, L, n = c.T, PART, table(weights(c.dm, m)), m.n_heads, m.head_dim, m.chunk, m.n_hashes
    split = "reshape (T, heads·dim) → (heads, T, dim)"
    out = [linear(c, "query_key", p, W, "qk = x · W_qk (queries and keys alike)"),
           linear(c, "value", p, W, "v = x · W_v"),
           *(ew(f"split {t} heads", p, (T, h * hd), split, per=0, out=(h, T, hd)) for t in ("QK", "V"))]
    norm = "K = QK · rsqrt(mean(QK²) + 1e-6) / √head_dim"
    mask = f"{chunked.MASKED:g} where key > query; then {chunked.SELF:g} on the token's own key"
    if T <= L:  # one chunk: no hashing
        return out + [ew("keys: length norm", p, (h, T, hd), norm, per=5),
                      *chunked.attend_steps(p, (h, T, hd), (h, T, T), hd, mask), *_tail(c, m, W)]
    Tp = chunked.padded(T, L)
    factors = _factors(m, Tp, c.arch.context_length)
    r, C = sum(factors) // 2, n * Tp // L
    pad = f"pad to {Tp} tokens (a whole number of chunks; pads get a bucket of their own), " if Tp > T else ""
    out += [Step("hash: rotate", p, (h, T, hd), (h, n, Tp, r), f"{pad}R = QK · rotations ({hd} × {r} per head "
                 f"and round, random)", 2 * h * n * Tp * hd * r),
            ew("hash: buckets", p, (h, n, Tp, r), "bucket = argmax [R | −R]" + (
                " per factor, combined" if len(factors) > 1 else "") + f", + round × {int(np.prod(factors))}",
               per=2, out=(h, n, Tp)),
            ew("sort QK by bucket", p, (h, n, Tp), "stable sort of (round, bucket, position); gather QK",
               per=0, out=(h, n * Tp, hd)),
            ew("sort V by bucket", p, (h, n, Tp), "gather V in the same order", per=0, out=(h, n * Tp, hd)),
            ew("split into chunks", p, (h, n * Tp, hd), f"({C} chunks of {L}); V alike", per=0,
               out=(h, C, L, hd)),
            ew("keys: length norm", p, (h, C, L, hd), norm, per=5),
            *chunked.chunk_steps(c, p, h, hd, C, L, m.chunks_before, mask + ", pad keys masked"),
            ew("undo the sort", p, (h, C, L, hd), "back to token order in each round, padding dropped", per=0,
               out=(h, n, T, hd))]
    if n > 1:
        out.append(ew("combine hash rounds", p, (h, n, T, hd), "O = Σ_r softmax_r(logsumexp_r) · O_r", per=4,
                      out=(h, T, hd)))
    else:
        out.append(ew("one hash round", p, (h, n, T, hd), "O = O_1", per=0, out=(h, T, hd)))
    return out + _tail(c, m, W)


def _tail(c: Ctx, m: LshAttention, W) -> list[Step]:
    return [ew("merge heads", PART, (m.n_heads, c.T, m.head_dim), "transpose and concatenate the heads", per=0,
               out=(c.T, m.n_heads * m.head_dim)),
            linear(c, "output.dense", PART, W, "y = O · W_o")]


def rotations(m: LshAttention, T: int, max_positions: int | None) -> np.ndarray:
    """The toy's random rotations, (heads, head_dim, rounds, rotation size / 2), as ``_hash_vectors`` shapes them."""
    r = sum(_factors(m, chunked.padded(T, m.chunk), max_positions)) // 2
    return np.random.default_rng(ROTATION_SEED).standard_normal((m.n_heads, m.head_dim, m.n_hashes, r))


def buckets(qk: np.ndarray, rot: np.ndarray, factors: list[int]) -> np.ndarray:
    """``_hash_vectors`` without offsets: (heads, T, dim) → (heads, rounds, T) bucket numbers."""
    turned = np.einsum("htd,hdnr->hntr", qk, rot)
    out, at, product = 0, 0, 1
    for f in factors:
        part = turned[..., at:at + f // 2]
        out = out + product * np.argmax(np.concatenate([part, -part], -1), -1)
        at, product = at + f // 2, product * f
    return out


def forward(R: Run, m: LshAttention, x: np.ndarray) -> np.ndarray:
    T, hd, L, n = len(x), m.head_dim, m.chunk, m.n_hashes
    qk, v = R.linear("query_key", x), R.linear("value", x)
    qk, v = R.rec("split QK heads", heads(qk, hd)), R.rec("split V heads", heads(v, hd))
    h = qk.shape[0]
    if T <= L:
        keys = R.rec("keys: length norm", _length_norm(qk))
        pos = np.broadcast_to(np.arange(T), (h, T))
        o, _, p = chunked.attend(R, qk, keys, v, pos, pos, T, self_mask=True)
        return _merge(R, o, p)
    Tp = chunked.padded(T, L)
    qk, v = (np.concatenate([a, np.zeros((h, Tp - T, hd))], 1) for a in (qk, v))
    factors = _factors(m, Tp, R.arch.context_length)
    rot = rotations(m, T, R.arch.context_length)
    turned = R.rec("hash: rotate", np.einsum("htd,hdnr->hntr", qk, rot), rotations=rot)
    b = buckets(qk, rot, factors)
    total = int(np.prod(factors)) + (Tp > T)  # pads: a bucket of their own, after the others
    b = np.where(np.arange(Tp) < T, b, total - 1)
    b = R.rec("hash: buckets", b + total * np.arange(n)[None, :, None], rotated=turned)
    order = np.argsort(b.reshape(h, n * Tp), -1, kind="stable")
    pos = order % Tp
    qk_s = R.rec("sort QK by bucket", np.take_along_axis(qk, pos[..., None], 1), order=order)
    v_s = R.rec("sort V by bucket", np.take_along_axis(v, pos[..., None], 1))
    C = n * Tp // L
    q = R.rec("split into chunks", qk_s.reshape(h, C, L, hd))
    keys = R.rec("keys: length norm", _length_norm(q))
    keys = R.rec("adjacent chunks (K)", chunked.adjacent(keys, m.chunks_before))
    vals = R.rec("adjacent chunks (V)", chunked.adjacent(v_s.reshape(h, C, L, hd), m.chunks_before))
    qi = pos.reshape(h, C, L)
    ki = chunked.adjacent(qi, m.chunks_before)
    o, lse, p = chunked.attend(R, q, keys, vals, qi, ki, T, self_mask=True)
    undo = np.argsort(order, -1)
    o = np.take_along_axis(o.reshape(h, n * Tp, hd), undo[..., None], 1).reshape(h, n, Tp, hd)[:, :, :T]
    lse = np.take_along_axis(lse.reshape(h, n * Tp), undo, 1).reshape(h, n, Tp)[:, :, :T]
    o = R.rec("undo the sort", o, logsumexp=lse)
    top = lse.max(1, keepdims=True)
    share = np.exp(lse - top - np.log(np.exp(lse - top).sum(1, keepdims=True)))  # each round's weight per token
    o = R.rec("combine hash rounds" if n > 1 else "one hash round", (o * share[..., None]).sum(1),
              **{"round weights": share})
    sorted_share = np.take_along_axis(np.pad(share, ((0, 0), (0, 0), (0, Tp - T))).reshape(h, n * Tp), order, 1)
    return _merge(R, o, chunked.by_token(p, qi, ki, sorted_share.reshape(h, C, L), T))


def _length_norm(x: np.ndarray) -> np.ndarray:
    """``_len_and_dim_norm``: x · rsqrt(mean(x²) + 1e-6) / √dim."""
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) / np.sqrt(x.shape[-1])


def _merge(R: Run, o: np.ndarray, weights: np.ndarray) -> np.ndarray:
    o = R.rec("merge heads", o.transpose(1, 0, 2).reshape(o.shape[1], -1), **{"weights by token": weights})
    return R.linear("output.dense", o)


def shrink(m: dict) -> dict:
    factors = m["n_buckets"] if isinstance(m["n_buckets"], list) else None
    return {**m, "n_heads": min(m["n_heads"], 2), "head_dim": HEAD_TOY, "chunk": min(m["chunk"], 2),
            "chunks_before": min(m["chunks_before"], 1), "n_hashes": min(m["n_hashes"], 2),
            "n_buckets": [2] * len(factors) if factors else 4}


KIND = MixerKind(
    schema=LshAttention, name=lambda m: "LSH", terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops, state_flops=lambda m: 0, fill="attention", label="attn", lines=lines, steps=steps,
    forward=forward, shrink=shrink, picture=chunked.token_picture,
    facts=(
        Fact("Attention", "query heads", lambda m: m.n_heads),
        Fact("Attention", "head dim", lambda m: m.head_dim),
        Fact("Attention", "attention chunk", lambda m: m.chunk),
        Fact("Attention", "chunks before", lambda m: m.chunks_before),
        Fact("Attention", "hash rounds", lambda m: m.n_hashes),
        Fact("Attention", "hash buckets", lambda m: "from the sequence" if m.n_buckets is None else m.n_buckets),
    ),
)
