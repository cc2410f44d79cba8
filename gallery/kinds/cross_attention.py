"""Cross-attention to image features: queries from the text, keys and values from an image's vision tokens (Mllama,
Llama 3.2 Vision: ``MllamaTextCrossAttention`` in ``models/mllama/modeling_mllama.py``).

The layers at ``cross_attention_layers`` mix tokens this way instead of by self-attention: q_proj reads the text,
k_proj and v_proj read the vision states (the vision tower's output projected to d_model by the multi-modal
projector), each head's queries and keys are RMS-normed (q_norm, k_norm of head_dim, shared by the heads), there is no
RoPE and no causal mask (a text token sees the tiles of the images before it: the cross-attention mask). Owns the
schema, the weights (K and V projections named ``… (image)``: they run once per image, not per text token, so
:mod:`gallery.flops` leaves them out of a text token's FLOPs), the cache (K and V of one image's tokens, computed
once and kept), the attention FLOPs per text token, the label, the trace, the toy forward (on image states drawn with
a fixed seed, :func:`image_states_toy`) and the shrink rule. The tanh gates on the layer's two residual adds are a
block option (:mod:`gallery.tanh_gate`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..layercache import LayerCache
from ..specbase import Strict, rule_error
from ..steps import Ctx, Step, ew, linear, scores_to_output
from ..terms import Weight, WeightTerms, params, table, weight
from ..toyops import HEAD_TOY, Run, attend, heads
from .attention import attention
from .contract import Fact

PART = "cross-attention"
IMAGE_TOY = 5  # the toy's image tokens
MASK = ("the cross-attention mask: 0 where the text token may see the image tile, −∞ elsewhere; no causal mask, the "
        "image comes before the text that reads it")


class CrossAttention(Strict):
    """Attention from the text to one image's vision tokens (Mllama ``MllamaTextCrossAttention``)."""

    kind: Literal["cross_attention"]
    n_heads: PositiveInt = Field(description="Query heads (num_attention_heads)")
    n_kv_heads: PositiveInt = Field(description="Key/value heads over the image tokens (num_key_value_heads)")
    head_dim: PositiveInt = Field(description="Dims per head (hidden_size // num_attention_heads)")
    image_tokens: PositiveInt = Field(
        description="Vision tokens of one image the layer attends to: max_num_tiles × ((image_size // patch_size)² + "
        "1) of the wrapper's vision_config (its defaults when absent)")

    @model_validator(mode="after")
    def _heads(self) -> "CrossAttention":
        if self.n_heads % self.n_kv_heads:
            raise rule_error("n_kv_heads", "heads_not_divisible",
                             f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        return self


def weights(d: tuple[str, int], m: CrossAttention) -> list[Weight]:
    """q_proj from the text, k_proj and v_proj from the image states (d_model wide), o_proj, q_norm and k_norm."""
    h, kv, hd = ("n_heads", m.n_heads), ("n_kv_heads", m.n_kv_heads), ("head_dim", m.head_dim)
    return [weight("attention", "q_proj", d, h, hd, shape=(d[1], h[1] * hd[1])),
            *(weight("attention", f"{t}_proj (image)", d, kv, hd, shape=(d[1], kv[1] * hd[1]), tensor=f"{t}_proj.weight")
              for t in "kv"),
            weight("attention", "o_proj", h, hd, d, shape=(h[1] * hd[1], d[1])),
            weight("attention", "q_norm", hd), weight("attention", "k_norm", hd)]


def cache(kind: str, n: int, m: CrossAttention, d_model: int) -> LayerCache:
    """Nothing per text token; K and V of one image's tokens, computed once per image and kept while generating."""
    state = m.image_tokens * 2 * m.n_kv_heads * m.head_dim
    return LayerCache(kind, n, 0, "0 per text token: K and V come from the image", None, state,
                      f"image_tokens × 2 × n_kv_heads × head_dim = {m.image_tokens:,} × 2 × {m.n_kv_heads} × "
                      f"{m.head_dim} = {state:,} per image",
                      caveat="K and V of one image, computed once when the image is read and kept while generating; "
                      "each further image adds as much; a text-only prompt skips these layers and keeps nothing")


def context_flops(m: CrossAttention, context: int) -> int:
    """QKᵀ and A·V of one text token over one image's tokens, whatever the text context."""
    return 2 * m.n_heads * 2 * m.head_dim * m.image_tokens


def lines(m: CrossAttention) -> list[str]:
    return ["Cross-attention to the image",
            f"{m.n_heads} query heads (text) · {m.n_kv_heads} KV heads (image) · head dim {m.head_dim}",
            f"K, V from {m.image_tokens:,} vision tokens per image, computed once",
            "QK-norm per head (RMS, shared weight) · no RoPE · no causal mask",
            "skipped when the prompt has no image"]


def image_states_toy(m: CrossAttention, d_model: int) -> np.ndarray:
    """The toy's stand-in for one image's vision states, (image_tokens, d_model), drawn with seed 0."""
    return np.random.default_rng(0).standard_normal((m.image_tokens, d_model))


def steps(c: Ctx, m: CrossAttention) -> list[Step]:
    """MllamaTextCrossAttention + eager_attention_forward: the queries, then K and V of the image (once per image)."""
    T, p, W, I = c.T, PART, table(weights(c.dm, m)), m.image_tokens
    h, kv, hd = m.n_heads, m.n_kv_heads, m.head_dim
    split = "reshape (tokens, heads·dim) → (tokens, heads, dim), transpose to (heads, tokens, dim)"
    image = replace(c, T=I)
    out = [linear(c, "q_proj", p, W, "q = x · W_q"),
           ew("split Q heads", p, (T, h * hd), split, per=0, out=(h, T, hd)),
           c.norm("q_norm", p, "q_norm", (h, T, hd), params=params(W, "q_norm.weight")),
           ew("image states", p, (T, c.d), f"the {I:,} vision tokens of one image, projected to d_model by the "
              "multi-modal projector (outside the layer)", per=0, out=(I, c.d))]
    for t in "kv":  # a product with weights over the image's tokens, once per image: not a text token's FLOPs
        step = linear(image, f"{t}_proj", p, W, f"{t} = image · W_{t} (once per image, then cached)")
        out.append(replace(step, matmul=False))
    out += [ew("split K heads", p, (I, kv * hd), split, per=0, out=(kv, I, hd)),
            ew("split V heads", p, (I, kv * hd), split, per=0, out=(kv, I, hd)),
            c.norm("k_norm", p, "k_norm", (kv, I, hd), params=params(W, "k_norm.weight"))]
    if h > kv:
        serves = f"each of the {kv} KV heads serves {h // kv} query heads (repeat_kv)"
        out += [ew(f"repeat {t} heads", p, (kv, I, hd), serves, per=0, out=(h, I, hd)) for t in "KV"]
    out += scores_to_output(c, p, h, hd, hd, hd ** -0.5, None, None, None, (), (h, T, hd), keys=I, mask=MASK)
    return out + [linear(c, "o_proj", p, W, "y = O · W_o")]


def forward(R: Run, m: CrossAttention, x: np.ndarray) -> np.ndarray:
    """Every toy token sees the whole image (the mask is all zeros)."""
    hd = m.head_dim
    q = R.norm("q_norm", "q_norm", R.rec("split Q heads", heads(R.linear("q_proj", x), hd)))
    image = R.rec("image states", image_states_toy(m, x.shape[1]))
    k, v = (R.rec(f"{t}_proj", image @ R.w[f"{t}_proj.weight"]) for t in "kv")
    k, v = R.rec("split K heads", heads(k, hd)), R.rec("split V heads", heads(v, hd))
    k = R.norm("k_norm", "k_norm", k)
    if m.n_heads > m.n_kv_heads:
        k = R.rec("repeat K heads", np.repeat(k, m.n_heads // m.n_kv_heads, axis=0))
        v = R.rec("repeat V heads", np.repeat(v, m.n_heads // m.n_kv_heads, axis=0))
    o = attend(R, q, k, v, hd ** -0.5, None, None, None, False, mask=np.ones((len(x), m.image_tokens), bool))
    return R.linear("o_proj", o)


def shrink(m: dict) -> dict:
    """Two KV heads (one for MQA) at the real query-to-KV ratio, toy heads, a few image tokens."""
    group, kv = m["n_heads"] // m["n_kv_heads"], min(m["n_kv_heads"], 2)
    return {**m, "n_heads": kv * group, "n_kv_heads": kv, "head_dim": HEAD_TOY, "image_tokens": IMAGE_TOY}


KIND = attention(
    schema=CrossAttention, name=lambda m: "Cross-attention", terms=WeightTerms(weights), cache=cache,
    context_flops=context_flops, lines=lines, steps=steps, forward=forward, shrink=shrink,
    facts=(Fact("Attention", "query heads", lambda m: m.n_heads),
           Fact("Attention", "KV heads", lambda m: m.n_kv_heads),
           Fact("Attention", "head dim", lambda m: m.head_dim),
           Fact("Attention", "image tokens per cross-attention", lambda m: m.image_tokens)),
    block_name="Cross-attention block",
    toy_d_model=lambda m, shrunk, d_model: shrunk["n_heads"] * HEAD_TOY,  # transformers: head_dim = d_model / heads
)
