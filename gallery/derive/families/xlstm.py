"""NX-AI's xLSTM (xLSTM Large, ``models/xlstm``): every layer an mLSTM block and a gated feed-forward, no attention.

Read as transformers builds it without the ``xlstm`` package (``xLSTMConfig``, ``xLSTMModel``): ``num_blocks``
xLSTMBlocks (``num_hidden_layers`` when num_blocks is null), each ``norm_mlstm`` → ``xLSTMLayer`` → residual,
``norm_ffn`` → ``xLSTMFeedForward`` → residual, RMS norms with a bias when use_bias; the final ``out_norm`` always
(whatever add_out_norm says) and never with a bias; the head untied (whatever tie_word_embeddings says: the
class names no tied weights), its logits soft-capped. The widths are ``hidden_size``'s;
the token table is ``embedding_dim`` wide, so a config where the two differ builds a model that cannot run, and is
refused. Defaults are the transformers config defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, const

WEIGHT_MODES = ("single", "fused")


def _n_layers(c, kind=None) -> int:
    """``xLSTMConfig.__post_init__``: num_blocks, num_hidden_layers when null; ``xLSTMModel`` builds num_blocks."""
    n = c["num_blocks"]
    return c["num_hidden_layers"] if n is None else n


def _d_model(c, kind=None) -> int:
    """hidden_size; ``embedding_dim`` (hidden_size when null) sizes the token table and must agree."""
    d, e = c["hidden_size"], c["embedding_dim"]
    if e is not None and e != d:
        raise DerivationError(f"embedding_dim {e} differs from hidden_size {d}: xLSTMModel embeds tokens "
                              "embedding_dim wide but its blocks read hidden_size, so the model cannot run; give "
                              "hidden_size equal to embedding_dim")
    return d


def _width(factor: str):
    """``xLSTMLayer``: int(factor × hidden_size) (not the config's qk_dim / v_dim, which round up to 64)."""
    return lambda c, kind=None: int(c["hidden_size"] * c[factor])


def _fused(c, kind=None) -> bool:
    mode = c["weight_mode"]
    if mode not in WEIGHT_MODES:
        raise DerivationError(f"weight_mode: expected 'single' or 'fused', got {mode!r}")
    return mode == "fused"


def _d_ff(c, kind=None) -> int:
    """``xLSTMFeedForward.up_proj_dim``: hidden_size × ffn_proj_factor rounded up to ffn_round_up_to_multiple_of."""
    x, multiple = c["hidden_size"] * c["ffn_proj_factor"], c["ffn_round_up_to_multiple_of"]
    return int(((x + multiple - 1) // multiple) * multiple)


class Xlstm(Family):
    """``models/xlstm``: pre-norm RMS norms, the mLSTM layer and a SwiGLU feed-forward in every block."""

    model_type = "xlstm"
    transformers_class = "xLSTMForCausalLM"
    defaults = {
        "vocab_size": 50304, "hidden_size": 4096, "embedding_dim": None, "num_hidden_layers": 32, "num_blocks": None,
        "num_heads": 8, "use_bias": False, "norm_eps": 1e-6, "qk_dim_factor": 0.5,
        "v_dim_factor": 1.0, "eps": 1e-6, "ffn_proj_factor": 2.667, "ffn_round_up_to_multiple_of": 64,
        "gate_soft_cap": 15.0, "output_logit_soft_cap": 30.0, "weight_mode": "single",
    }
    arch = {
        "d_model": _d_model,
        "n_layers": _n_layers,
        "vocab_size": "vocab_size",
        "context_length": const(None),  # no positions: nothing in the model bounds the context
        "norm.kind": const("rmsnorm"),
        "norm.eps": "norm_eps",
        "norm.bias": "use_bias",
        "norm.final_bias": lambda c: False if c["use_bias"] else DROP,  # out_norm = xLSTMRMSNorm(hidden_size, eps)
        "embedding.tied": const(False),  # xLSTMForCausalLM declares no _tied_weights_keys: tie_word_embeddings is moot
        "embedding.logit_softcap": "output_logit_soft_cap",
    }
    layers = staticmethod(lambda c: ["mlstm"] * _n_layers(c))
    block = {
        "mixer.kind": const("mlstm"),
        "mixer.n_heads": "num_heads",
        "mixer.qk_dim": _width("qk_dim_factor"),
        "mixer.v_dim": _width("v_dim_factor"),
        "mixer.fused": _fused,
        "mixer.bias": "use_bias",
        "mixer.gate_soft_cap": "gate_soft_cap",
        "mixer.eps": "eps",
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _d_ff,
        "ffn.activation": const("silu"),
        "ffn.gated": const(True),
        "ffn.bias": "use_bias",
    }


__all__ = ["Xlstm"]
