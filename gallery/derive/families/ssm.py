"""State-space models without attention: Mamba (Mamba-1), Falcon-Mamba and Mamba-2.

Every layer is one pre-norm RMSNorm, a Mamba mixer and a residual, with no feed-forward; there is no
position limit in the config (no attention, no position encoding). Falcon-Mamba is Mamba plus
weightless RMS norms of B, C and Δ inside the mixer. Mamba-2 (``models/mamba2``) is the same stack with the
Mamba-2 (SSD) mixer. Defaults are the transformers config defaults.
"""

from __future__ import annotations

import math

from ..config import DerivationError
from ..family import Family, const, without


def _d_inner(c, kind=None) -> int:
    """``MambaConfig.__post_init__`` sets ``int(expand × hidden_size)``; an ``intermediate_size`` in
    config.json then overrides it (Falcon-Mamba-7B: expand 16 but intermediate_size 8,192)."""
    if c.has("intermediate_size"):
        return c["intermediate_size"]
    expand, hidden = c["expand"], c["hidden_size"]
    if not all(isinstance(v, (int, float)) for v in (expand, hidden)):  # a text × a number would repeat the text
        raise DerivationError(f"expand ({expand!r}) and hidden_size ({hidden!r}) must be numbers")
    return int(expand * hidden)


def dt_rank(key: str):
    """The Δ rank ``key`` (time_step_rank; Jamba's mamba_dt_rank); "auto" is ``ceil(hidden_size / 16)``
    (``MambaConfig.__post_init__``, ``JambaConfig.__post_init__``)."""
    def rule(c, kind=None) -> int:
        rank = c[key]
        if isinstance(rank, str) and rank != "auto":
            raise DerivationError(f"{key} is {rank!r}: expected a positive integer or \"auto\"")
        return math.ceil(c["hidden_size"] / 16) if rank == "auto" else int(rank)

    return rule


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
        "mixer.dt_rank": dt_rank("time_step_rank"),
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


def _mamba2_head_dim(c, kind=None) -> int:
    """``Mamba2Config.validate_architecture``: the heads fill the inner width expand × hidden_size exactly."""
    inner, heads, d_head = c["expand"] * c["hidden_size"], c["num_heads"], c["head_dim"]
    if heads * d_head != inner:
        raise DerivationError(f"num_heads {heads} × head_dim {d_head} must equal expand × hidden_size = {inner} "
                              "(the Mamba-2 inner width)")
    return d_head


class Mamba2(Mamba):
    """``models/mamba2``: Mamba with the Mamba-2 (SSD) mixer: scalar decay per head, B and C shared by groups of
    heads, a gated RMSNorm before out_proj; untied head by default."""

    model_type = "mamba2"
    transformers_class = "Mamba2ForCausalLM"
    defaults = without(Mamba.defaults, "time_step_rank") | {
        "num_heads": 128, "head_dim": 64, "vocab_size": 32768, "hidden_size": 4096, "state_size": 128,
        "num_hidden_layers": 64, "n_groups": 8, "chunk_size": 256, "tie_word_embeddings": False,
    }
    block = {
        "mixer.kind": const("mamba2"),
        "mixer.n_heads": "num_heads",
        "mixer.head_dim": _mamba2_head_dim,
        "mixer.n_groups": "n_groups",
        "mixer.d_state": "state_size",
        "mixer.conv_kernel": "conv_kernel",
        "mixer.conv_bias": "use_conv_bias",
        "mixer.bias": "use_bias",
        "mixer.chunk_size": "chunk_size",
    }


__all__ = ["Mamba", "FalconMamba", "Mamba2", "dt_rank"]
