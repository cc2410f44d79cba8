"""An RMS norm on latent attention's shared RoPE key before it is rotated, an option of :mod:`.mla`
(``rope_key_norm``).

``Dots3NoteTextAttention.k_rope_only_layernorm``: the qk_rope_head_dim part of ``kv_a_proj_with_mqa``'s output (the one
RoPE key all heads share) goes through the model's RMSNorm (a weight of qk_rope_head_dim, the model's rms_norm_eps)
before interleaved RoPE; the KV latent has its own ``kv_a_layernorm`` as in DeepSeek-V2.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step
from ..terms import Weight, Weights, params, weight
from ..toyops import Run
from .contract import Fact

DESCRIPTION = ("An RMS norm with a weight of qk_rope_head_dim on the shared RoPE key before RoPE "
               "(Dots3NoteTextAttention k_rope_only_layernorm)")
NAME = "k_rope_only_layernorm"


def weights(m) -> list[Weight]:
    """The norm's weight, qk_rope_head_dim (none without the option)."""
    return [weight("attention", NAME, ("qk_rope_head_dim", m.qk_rope_head_dim))] if m.rope_key_norm else []


def steps(c: Ctx, m, p: str, W: Weights) -> list[Step]:
    """The norm over k_pe (1, T, qk_rope_head_dim), after the KV latent's norm and scale, before RoPE."""
    if not m.rope_key_norm:
        return []
    return [c.norm(NAME, p, NAME, (1, c.T, m.qk_rope_head_dim), params=params(W, f"{NAME}.weight"))]


def forward(R: Run, m, k_pe: np.ndarray) -> np.ndarray:
    """The toy's norm of k_pe (``k_pe`` itself without the option)."""
    return R.norm(NAME, NAME, k_pe) if m.rope_key_norm else k_pe


TEXT = "RoPE key RMS-normed before rotation"
FACT = Fact("Norms", "RoPE-key norm", lambda m: getattr(m, "rope_key_norm", False))
