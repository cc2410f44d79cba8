"""The parts of the spec model that every kind module builds on: the strict base, rule errors, RoPE, the indexer,
activations.

Kept apart from :mod:`gallery.spec` so that the kind modules (``gallery/kinds/``), whose schema classes
:mod:`gallery.spec` collects into its unions, can import them without importing the spec itself.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from pydantic_core import PydanticCustomError


def rule_error(field: str, error_type: str, message: str) -> PydanticCustomError:
    """A cross-field rule violation that names the field to fix (``ctx.field``; see gallery.codes)."""
    return PydanticCustomError(error_type, message.replace("{", "(").replace("}", ")"), {"field": field})


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, numbers are not parsed from strings."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    renamed: ClassVar[dict[str, str]] = {}  # old key → its field: ``lint --fix`` rewrites specs written before
    renamed_values: ClassVar[dict[str, dict[str, str]]] = {}  # field → {old value: today's}, as ``renamed``

# --- positions -------------------------------------------------------------------------------


class RopeScaling(Strict):
    """Context extension applied to RoPE frequencies (``rope_parameters.rope_type`` != default)."""

    type: str = Field(description="RoPE scaling type: linear, dynamic, yarn, longrope, llama3, ...")
    factor: float | None = Field(None, description="Context extension factor")
    original_context: PositiveInt | None = Field(
        None, description="Context length the model was pre-trained at (original_max_position_embeddings)"
    )


class Rope(Strict):
    """Rotary position embedding applied to queries and keys."""

    theta: float = Field(gt=0, description="Base wavelength θ (rope_theta)")
    partial: float = Field(1.0, gt=0, le=1, description="Fraction of each head's dims that rotate")
    scaling: RopeScaling | None = None
    pairs: bool = Field(False, description="Turns adjacent pairs of dims (BLT's rotate_half on x[..., ::2] and "
                        "x[..., 1::2], its frequencies repeat_interleave'd); false: the two halves (Llama)")


class Indexer(Strict):
    """DeepSeek Sparse Attention's lightning indexer: scores past tokens with its own small heads and lets
    attention see only the ``top_k`` best (DeepSeek-V3.2, GLM-5; DeepSeek-V4 scores compressed entries)."""

    n_heads: PositiveInt = Field(description="Indexer heads (index_n_heads)")
    head_dim: PositiveInt = Field(description="Indexer head width (index_head_dim); its key is cached per token")
    renamed = {"topk": "top_k"}

    top_k: PositiveInt = Field(description="Tokens (DeepSeek-V4: compressed entries) each query attends to (index_topk)")
    shared: bool = Field(False, description="Reuses the previous indexer layer's selection: no indexer weights or "
                         "indexer cache of its own (GLM-5 indexer_types 'shared')")
    rope_last: bool = Field(False, description="RoPE on the last qk_rope_head_dim dims of each indexer head, not the "
                            "first (HY-V4 HYV4Indexer)")
    rope_pairs: bool = Field(False, description="RoPE on the indexer's query and key turns adjacent pairs (GLM-5 "
                             "GlmMoeDsaIndexer, Dots3NoteTextIndexer: interleaved); false: halves (DeepseekV32Indexer)")


Activation = Annotated[
    Literal["silu", "gelu", "gelu_tanh", "relu", "relu2", "swish_clamped", "silu_clamped"],
    Field(description="gelu_tanh: tanh-approximated GELU (gelu_new, gelu_pytorch_tanh); swish_clamped: "
          "x·σ(1.702x) on clamped inputs with (up + 1), gpt-oss's SwiGLU variant; silu_clamped: SwiGLU with the gate "
          "capped at swiglu_limit and up clamped to ±swiglu_limit (DeepSeek-V4)"),
]
