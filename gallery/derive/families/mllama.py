"""Mllama's language model (``models/mllama``, Llama 3.2 Vision): Llama with cross-attention layers to the image.

``MllamaTextModel`` builds ``MllamaCrossAttentionDecoderLayer`` at the indices of ``cross_attention_layers`` (block
kind ``cross``: cross-attention to the vision states, q_norm and k_norm, tanh gates on both residual adds) and
``MllamaSelfAttentionDecoderLayer`` elsewhere (``full``: Llama's layer, head_dim = hidden_size // heads, no biases);
its ``embed_tokens`` has 8 rows beyond ``vocab_size``, which ``MllamaForCausalLM.lm_head`` has not, and nothing ties
them (no ``_tied_weights_keys``), whatever ``tie_word_embeddings`` says. The model type ``mllama`` (the wrapper) is
read through its ``text_config`` (``mllama_text_model``, which has no causal-LM class of its own: the mapping's
``MllamaForCausalLM`` takes the text config); the wrapper's ``vision_config`` gives the image tokens a
cross-attention layer reads. Defaults are the ``MllamaTextConfig`` (and ``MllamaVisionConfig``) defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, const, rope
from .llama import Llama

EXTRA_ROWS = 8  # MllamaTextModel: nn.Embedding(config.vocab_size + 8, hidden_size, padding_idx)
VISION = {"image_size": 448, "patch_size": 14, "max_num_tiles": 4}  # MllamaVisionConfig defaults


def _layers(c, kind=None) -> list[str]:
    """``layer_idx in config.cross_attention_layers``: indices outside the stack are never met."""
    cross = c["cross_attention_layers"]
    cross = set([3, 8, 13, 18, 23, 28, 33, 38] if cross is None else cross)  # MllamaTextConfig.__post_init__
    return ["cross" if i in cross else "full" for i in range(c["num_hidden_layers"])]


def _image_tokens(c, kind=None) -> int:
    """MllamaVisionModel: each tile gives (image_size // patch_size)² patches and a class token; an image is
    max_num_tiles tiles (MllamaModel reshapes the projected states to (images × tiles) × patches per sample)."""
    vision = VISION | {k: v for k, v in (c.get("vision_config") or {}).items() if k in VISION}
    return vision["max_num_tiles"] * ((vision["image_size"] // vision["patch_size"]) ** 2 + 1)


def _extra_rows(c) -> int:
    """The 8 extra rows; the padding index (pad_token_id) must be one of the table's rows, as nn.Embedding asserts."""
    rows, pad = c["vocab_size"] + EXTRA_ROWS, c["pad_token_id"]
    if pad is not None and not -rows <= pad < rows:
        raise DerivationError(f"pad_token_id is {pad}: embed_tokens has vocab_size + 8 = {rows:,} rows and its "
                              "padding index must be one of them; accepted: a row index or null")
    return EXTRA_ROWS


def _cross(rule):
    """``rule`` in the cross-attention blocks, left out of the others."""
    return lambda c, k: rule(c, k) if k == "cross" else DROP


def _self(rule):
    """``rule`` in the self-attention blocks, left out of the cross-attention ones."""
    return lambda c, k: DROP if k == "cross" else rule(c, k)


class MllamaText(Llama):
    """``models/mllama`` (MllamaTextModel + lm_head, MllamaForCausalLM): Llama 3 with a cross-attention layer to the
    image every fifth layer from layer 3, by default."""

    model_type = "mllama_text_model"
    transformers_class = "MllamaForCausalLM"
    wrapper_head = True  # the mapping's MllamaForCausalLM is listed under the wrapper's type, mllama
    wrapper_keys = ("vision_config",)
    defaults = {
        "vocab_size": 128256, "hidden_size": 4096, "hidden_act": "silu", "num_hidden_layers": 40,
        "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336, "rope_parameters": None,
        "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "max_position_embeddings": 131072, "tie_word_embeddings": False,
        "cross_attention_layers": None, "pad_token_id": 128004,
    }
    arch = Llama.arch | {"embedding.tied": const(False), "embedding.extra_rows": _extra_rows}
    layers = staticmethod(_layers)
    block = {k: _self(v) for k, v in Llama.block.items() if k.startswith("mixer.")} | {
        k: v for k, v in Llama.block.items() if not k.startswith("mixer.")} | {
        "mixer.kind": lambda c, k: "cross_attention" if k == "cross" else Llama.block["mixer.kind"](c, k),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.head_dim": lambda c, k: c["hidden_size"] // c["num_attention_heads"],
        "mixer.qkv_bias": _self(const(False)),
        "mixer.out_bias": _self(const(False)),
        "mixer.rope": _self(rope),
        "mixer.image_tokens": _cross(_image_tokens),
        "ffn.bias": const(False),
        "tanh_gated": lambda c, k: k == "cross",
    }


__all__ = ["MllamaText"]
