"""VaultGemma: Gemma 2 trained with differential privacy, without Gemma 2's post-sublayer norms.

``models/vaultgemma``: the same alternating local/global attention, soft-capping and GeGLU as Gemma 2, but each
layer has only ``input_layernorm`` and ``pre_feedforward_layernorm`` (plain pre-norm). Defaults are the
transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import const
from .gemma import Gemma2


class VaultGemma(Gemma2):
    """``models/vaultgemma``: Gemma 2 with pre-norm only."""

    model_type = "vaultgemma"
    transformers_class = "VaultGemmaForCausalLM"
    block = Gemma2.block | {"norm_placement": const("pre")}


__all__ = ["VaultGemma"]
