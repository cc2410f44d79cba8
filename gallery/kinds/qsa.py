"""Qwen4-Exp's QSA indexer, an option of softmax attention: each query keeps whole blocks of earlier tokens.

``Qwen4ExpTextQSAIndexer`` (``models/qwen4_exp/modeling_qwen4_exp.py``): one projection ``index_qk_proj`` gives
``n_heads`` index queries and one raw index key per token (``indexer_kv_heads`` is always 1), each of ``head_dim``;
the queries are RMS-normed (``q_layernorm``) and rotated by the attention's RoPE. For every query, the tokens it may
see are cut into complete blocks of ``block`` tokens (``indexer_compress_ratio``); each block's key is the mean of its
raw keys, RMS-normed (``k_layernorm``) and rotated at the block's first position. A block scores
Σ_heads ReLU(q_h · k_block) / √head_dim; the top ``budget / block`` blocks (``indexer_budget``) and the incomplete tail
are what the query attends to (the causal mask ∧ the selection). The raw keys are cached (``update_indexer``).
Owns the schema, the weights, the cache and FLOPs added to the attention's, the trace steps, the toy forward and the
words; :mod:`.softmax` wires them in.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..specbase import Strict, rule_error
from ..steps import Ctx, Step, ew, linear, rope_step
from ..terms import Weight, Weights, weight
from ..toyops import HEAD_TOY, Run, rotate
from .contract import Fact


class QsaIndexer(Strict):
    """QSA: a query attends to the top blocks of earlier tokens by a pooled-key score, plus the incomplete tail."""

    n_heads: PositiveInt = Field(description="Index query heads (indexer_n_heads)")
    head_dim: PositiveInt = Field(description="Dims of every index query and of the index key (indexer_head_dim)")
    budget: PositiveInt = Field(description="Tokens a query keeps from complete blocks at most (indexer_budget)")
    block: PositiveInt = Field(description="Consecutive tokens pooled into one index block (indexer_compress_ratio)")

    @model_validator(mode="after")
    def _blocks(self) -> "QsaIndexer":
        if self.budget % self.block:
            raise rule_error("budget", "block_wiring", f"budget ({self.budget}) must be a multiple of block "
                             f"({self.block}): whole blocks are kept")
        return self


MASK = "−∞ where j > i or token j is not among those the QSA indexer selected for query i"


def weights(d: tuple[str, int], q: QsaIndexer) -> list[Weight]:
    """index_qk_proj (queries and the one key), q_layernorm, k_layernorm (each head_dim)."""
    hd = ("indexer.head_dim", q.head_dim)
    return [weight("attention", "indexer.index_qk_proj", d, ("(indexer.n_heads + 1)", q.n_heads + 1), hd,
                   shape=(d[1], (q.n_heads + 1) * q.head_dim)),
            weight("attention", "indexer.q_layernorm", hd),
            weight("attention", "indexer.k_layernorm", hd)]


def attended(q: QsaIndexer, context: int) -> int:
    """Tokens the last query of ``context`` attends to: the kept complete blocks and the incomplete tail."""
    return min(context // q.block, q.budget // q.block) * q.block + context % q.block


def context_flops(q: QsaIndexer, context: int) -> int:
    """The index scores of one query over the complete blocks it sees (ReLU and the head sum elementwise)."""
    return 2 * q.n_heads * q.head_dim * (context // q.block)


def text(q: QsaIndexer) -> str:
    return (f"QSA indexer: {q.n_heads} heads × {q.head_dim}, keys pooled in blocks of {q.block}; "
            f"top {q.budget // q.block} blocks ({q.budget} tokens) + the tail")


def steps(c: Ctx, p: str, q: QsaIndexer, rot: int, theta: float, W: Weights) -> list[Step]:
    """The indexer from the layer's input to the selection mask the attention's mask is cut by."""
    T, h, hd, b = c.T, q.n_heads, q.head_dim, q.block
    blocks = max(T // b, 1)
    return [
        linear(c, "index_qk_proj", p, W, "[q_idx | k_raw] = x · W_idx", "indexer.index_qk_proj"),
        ew("split index Q", p, (T, (h + 1) * hd), f"the first {h} × {hd}: the query heads", per=0, out=(h, T, hd)),
        ew("raw index K", p, (T, (h + 1) * hd), f"the last {hd}: the token's raw index key (cached)", per=0,
           out=(T, hd)),
        c.norm("index q_layernorm", p, "indexer.q_layernorm", (h, T, hd)),
        rope_step(p, "index Q", (h, T, hd), rot, theta, "half"),
        ew("pool block keys", p, (T, hd), f"each complete block of {b} visible tokens: the mean of its raw keys",
           per=1, out=(blocks, hd)),
        c.norm("index k_layernorm", p, "indexer.k_layernorm", (blocks, hd)),
        rope_step(p, "block K", (blocks, hd), rot, theta, "half"),
        Step("block scores", p, (h, T, hd), (T, blocks), "s = Σ_heads ReLU(q_h · k_block) / √head_dim",
             2 * h * T * blocks * hd + 2 * h * T * blocks, matmul=False),
        ew("select blocks", p, (T, blocks), f"top {q.budget // b} blocks per query, their tokens and the incomplete "
           "tail: the causal mask ∧ the selection", per=0, out=(T, T)),
    ]


def forward(R: Run, q: QsaIndexer, x: np.ndarray, rot: int, theta: float) -> np.ndarray:
    """The toy indexer: the (T, T) mask of the tokens each query keeps (causal ∧ selected)."""
    T, h, hd, b = len(x), q.n_heads, q.head_dim, q.block
    qk = R.linear("index_qk_proj", x, "indexer.index_qk_proj")
    iq, raw = qk[:, :h * hd].reshape(T, h, hd).transpose(1, 0, 2), qk[:, h * hd:]
    iq, raw = R.rec("split index Q", iq), R.rec("raw index K", raw)
    iq = R.rec("RoPE on index Q", rotate(R.norm("index q_layernorm", "indexer.q_layernorm", iq), rot, theta, False))
    n = max(T // b, 1)
    pooled = raw[:n * b].reshape(n, b, hd).mean(1) if T >= b else np.zeros((1, hd))
    pooled = R.rec("pool block keys", pooled)
    k = R.norm("index k_layernorm", "indexer.k_layernorm", pooled)
    k = R.rec("RoPE on block K", rotate(k[None], rot, theta, False, pos=np.arange(n) * b)[0])
    scores = np.maximum(np.einsum("htd,nd->htn", iq, k), 0).sum(0) / np.sqrt(hd)
    R.rec("block scores", scores)
    keep = np.zeros((T, T), dtype=bool)
    for t in range(T):
        full = (t + 1) // b
        if full:
            order = np.argsort(-scores[t, :full], kind="stable")[:q.budget // b]
            for blk in order:
                keep[t, blk * b:(blk + 1) * b] = True
        keep[t, full * b:t + 1] = True
    return R.rec("select blocks", keep)


def shrink(q: dict) -> dict:
    """Toy size: 2 heads of the toy head width, blocks of 2, a budget of 2 blocks (it bites in a few tokens)."""
    return {**q, "n_heads": 2, "head_dim": HEAD_TOY, "block": 2, "budget": 4}


FACT = Fact("Attention", "QSA indexer", lambda m: f"{m.qsa.n_heads} × {m.qsa.head_dim}, blocks of {m.qsa.block}, "
            f"budget {m.qsa.budget}" if getattr(m, "qsa", None) else "none")
