"""GPT-2 and GPT-J under other names: GPT-SW3 and CodeGen.

``gpt-sw3`` is ``GPT2Config`` and ``GPT2LMHeadModel`` under its own model_type; ``models/codegen`` is GPT-J
(one LayerNorm feeding attention and MLP in parallel, partial RoPE, a biased head) with Q, K and V fused into
one bias-free ``qkv_proj``, which changes no count. Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from .gpt import Gpt2, Gptj


class GptSw3(Gpt2):
    """``gpt-sw3``: AI Sweden's GPT-SW3, read exactly as GPT-2."""

    model_type = "gpt-sw3"


class CodeGen(Gptj):
    """``models/codegen``: GPT-J with a fused qkv_proj."""

    model_type = "codegen"
    transformers_class = "CodeGenForCausalLM"


__all__ = ["GptSw3", "CodeGen"]
