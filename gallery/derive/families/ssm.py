"""State-space models without attention: Mamba (Mamba-1) and Falcon-Mamba.

Every layer is one pre-norm RMSNorm, a Mamba mixer and a residual, with no feed-forward; there is no
position limit in the config (no attention, no position encoding). Falcon-Mamba is Mamba plus
weightless RMS norms of B, C and Δ inside the mixer. Defaults are the transformers config defaults.
"""

from __future__ import annotations

import math

from ..config import DerivationError
from ..family import Family, const


def _d_inner(c, kind=None) -> int:
    """``MambaConfig.__post_init__`` sets ``int(expand × hidden_size)``; an ``intermediate_size`` in
    config.json then overrides it (Falcon-Mamba-7B: expand 16 but intermediate_size 8,192)."""
    if c.has("intermediate_size"):
        return c["intermediate_size"]
    expand, hidden = c["expand"], c["hidden_size"]
    if not all(isinstance(v, (int, float)) for v in (expand, hidden)):  # a text × a number would repeat the text
        raise DerivationError(f"expand ({expand!r}) and hidden_size ({hidden!r}) must be numbers")
    return int(expand * hidden)


def _dt_rank(c, kind=None) -> int:
    """``time_step_rank``; "auto" is ``ceil(hidden_size / 16)`` (``MambaConfig.__post_init__``)."""
    rank = c["time_step_rank"]
    return math.ceil(c["hidden_size"] / 16) if rank == "auto" else int(rank)


class Mamba(Family):
    """``models/mamba``: pre-norm RMSNorm → MambaMixer → residual in every layer; tied head by default."""

    model_type = "mamba"
    transformers_class = "MambaForCausalLM"
    defaults = {
        "vocab_size": 50280, "hidden_size": 768, "state_size": 16, "num_hidden_layers": 32,
        "layer_norm_epsilon": 1e-5, "expand": 2, "conv_kernel": 4, "use_bias": False, "use_conv_bias": True,
        "time_step_rank": "auto", "tie_word_embeddings": True,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "vocab_size": "vocab_size",
        "context_length": const(None),  # no max_position_embeddings: nothing in the model bounds the context
        "norm.kind": const("rmsnorm"),
        "norm.eps": "layer_norm_epsilon",
        "embedding.tied": "tie_word_embeddings",
    }
    layers = staticmethod(lambda c: ["mamba"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": const("mamba"),
        "mixer.d_inner": _d_inner,
        "mixer.d_state": "state_size",
        "mixer.dt_rank": _dt_rank,
        "mixer.conv_kernel": "conv_kernel",
        "mixer.conv_bias": "use_conv_bias",
        "mixer.bias": "use_bias",
    }


class FalconMamba(Mamba):
    """``models/falcon_mamba``: Mamba with RMS norms (no weights) of B, C and Δ before the scan."""

    model_type = "falcon_mamba"
    transformers_class = "FalconMambaForCausalLM"
    defaults = Mamba.defaults | {"mixer_rms_eps": 1e-6}
    block = Mamba.block | {"mixer.bc_dt_norm_eps": "mixer_rms_eps"}


__all__ = ["Mamba", "FalconMamba"]
