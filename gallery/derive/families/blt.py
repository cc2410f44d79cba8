"""BLT, the Byte Latent Transformer (``models/blt``): a global transformer over patches between byte-level stacks.

``BltConfig`` holds four sub-configs, each built from its own dict (``PreTrainedConfig.__post_init__``:
``sub_configs_defaults``, nothing passed down from the top level): ``global_config`` (``BltGlobalTransformerConfig``,
read as the spec's stack: Llama's layers, head_dim = hidden_size // heads, no final norm), ``encoder_config`` and
``decoder_config`` (``BltLocalEncoderConfig``, ``BltLocalDecoderConfig``) and ``patcher_config``
(``BltPatcherConfig``, built only when ``patch_in_forward``). ``BltConfig.__post_init__`` sets the encoder's window to
``local_attention_window_len`` (``BltModel`` builds one mask from it for the encoder's and the decoder's
self-attention) and a global input projection when encoder hidden_size × cross_attn_k differs from the global
hidden_size. Each sub-config's ``intermediate_size`` null (or 0) is int(8 × hidden_size / 3), its
``num_key_value_heads`` null is its heads; the patcher's activation is always silu.
"""

from __future__ import annotations

from ..config import Config, DerivationError, Read
from ..family import activation, const, head_layout_kind, required, rope
from .llama import Llama

ENCODER = {"vocab_size": 260, "cross_attn_all_layers": False, "cross_attn_k": 2, "hidden_size": 1024,
           "num_attention_heads": 16, "num_key_value_heads": None, "num_hidden_layers": 1, "rms_norm_eps": 1e-5,
           "rope_parameters": None, "rope_theta": 500000.0, "hidden_act": "silu", "intermediate_size": None,
           "max_position_embeddings": 24576}
DECODER = ENCODER | {"cross_attn_all_layers": True, "hidden_size_global": 2048, "num_hidden_layers": 9,
                     "intermediate_size": 2816}
GLOBAL = {"hidden_size": 2048, "num_attention_heads": 16, "num_key_value_heads": None, "num_hidden_layers": 25,
          "rms_norm_eps": 1e-5, "rope_parameters": None, "rope_theta": 500000.0, "hidden_act": "silu",
          "intermediate_size": 5632, "max_position_embeddings": 4096}
PATCHER = {"vocab_size": 260, "hidden_size": 768, "num_hidden_layers": 14, "num_attention_heads": 12,
           "num_key_value_heads": None, "rms_norm_eps": 1e-5, "intermediate_size": 2048, "rope_parameters": None,
           "rope_theta": 10000.0, "sliding_window": 512, "max_position_embeddings": 8192}
SUBS = {"encoder_config": (ENCODER, "blt_local_encoder"), "decoder_config": (DECODER, "blt_local_decoder"),
        "global_config": (GLOBAL, "blt_global_transformer"), "patcher_config": (PATCHER, "blt_patcher")}


class Sub:
    """One sub-config read over its class's defaults, each read recorded on the top config as ``sub.key``."""

    def __init__(self, c: Config, key: str):
        raw = c[key]  # checked: an object or null
        c.trail.pop()
        defaults, self.model_type = SUBS[key]
        self.inner, self.top, self.prefix, self.aliases = Config(raw or {}, defaults, self.model_type), c, key, {}

    def __getitem__(self, key: str):
        try:
            value = self.inner[key]
        except DerivationError as exc:  # name the key where the config holds it
            raise DerivationError(*(f"{self.prefix}.{line}" for line in exc.lines)) from None
        read = self.inner.trail.pop()
        self.top.trail.append(Read(f"{self.prefix}.{key}", read.value, read.from_config))
        return value

    def get(self, key: str, fallback=None):
        return self[key] if key in self.inner.raw or key in self.inner.defaults else fallback

    def has(self, key: str) -> bool:
        return self.inner.has(key)

    def need(self, key: str, part: str):
        """The key's value, which the class lets be null but ``part`` cannot be built without."""
        value = self[key]
        if value is None:
            raise DerivationError(f"{self.prefix}.{key} is null: blt's {part} cannot be built without it; set it in "
                                  "config.json")
        return value


def _d_ff(s: Sub) -> int:
    """``intermediate_size or int(8 * hidden_size / 3)``."""
    return s["intermediate_size"] or int(8 * s["hidden_size"] / 3)


def _mixer(s: Sub, window) -> dict:
    """BltSelfAttention: Llama's projections without biases, head_dim = hidden_size // heads; its RoPE turns adjacent
    pairs (BltRotaryEmbedding repeat_interleaves the frequencies, rotate_half takes x[..., ::2] and x[..., 1::2])."""
    heads = s["num_attention_heads"]
    if s["hidden_size"] < heads:
        raise DerivationError(f"{s.prefix}.num_attention_heads: {heads} heads are more than hidden_size "
                              f"{s['hidden_size']}: head_dim = hidden_size // heads would be 0")
    return {"kind": head_layout_kind(s), "n_heads": heads, "n_kv_heads": s["num_key_value_heads"] or heads,
            "head_dim": s["hidden_size"] // heads, "rope": rope(s) | {"pairs": True}, "window": window}


def _stack(s: Sub, window=None, act: str | None = None) -> dict:
    try:
        act = act or activation("hidden_act")(s)
    except DerivationError as exc:  # an unknown activation, named where the config holds it
        raise DerivationError(*(f"{s.prefix}.{line}" for line in exc.lines)) from None
    return {"d_model": s["hidden_size"], "n_layers": s["num_hidden_layers"], "mixer": _mixer(s, window),
            "ffn": {"kind": "mlp", "d_ff": _d_ff(s), "gated": True, "bias": False,
                    "activation": act},
            "eps": s["rms_norm_eps"]}


def _local(c: Config, key: str) -> dict:
    s = Sub(c, key)
    window = c["local_attention_window_len"]  # BltModel: one mask, from the encoder's config, for both stacks
    out = _stack(s, window) | {"cross_attn_all_layers": bool(s["cross_attn_all_layers"]),
                               "cross_attn_k": s.need("cross_attn_k", "patch projection")}
    out["d_patch"] = s.need("hidden_size_global", "patch projection") if key == "decoder_config" \
        else out["d_model"]
    return out


def _patching(c: Config) -> str:
    """BltModel.forward: the patcher's entropies when patching_mode is entropy, it exists and patch_size is set;
    otherwise one byte per patch."""
    entropy = c["patching_mode"] == "entropy" and c["patch_in_forward"] and c["patch_size"] is not None
    return "entropy" if entropy else "bytes"


def _patch_size(c: Config, kind=None) -> int:
    if _patching(c) == "bytes":
        return 1
    longest = c["max_patch_length"]  # process_patch_lengths splits longer patches
    return min(c["patch_size"], longest) if longest else c["patch_size"]


def _byte_latent(c: Config, kind=None) -> dict:
    enc = _local(c, "encoder_config")
    patcher = None
    if c["patch_in_forward"]:
        s = Sub(c, "patcher_config")
        patcher = _stack(s, s["sliding_window"], "silu") | {"vocab_size": s["vocab_size"]}
    return {"patch_size": _patch_size(c), "patching": _patching(c),
            "cross_attn_k": required("cross_attn_k", "global input")(c),
            "byte_vocab": Sub(c, "encoder_config")["vocab_size"], "encoder": enc,
            "decoder": _local(c, "decoder_config"), "patcher": patcher}


def _hash_ngrams(c: Config, kind=None):
    """``encoder_hash_byte_group_size or [3, 4, 5, 6, 7, 8]``; no rows without hash functions."""
    functions = required("encoder_hash_byte_group_nb_functions", "hash embedding")(c)
    vocab = required("encoder_hash_byte_group_vocab", "hash embedding")(c)
    sizes = c["encoder_hash_byte_group_size"] or [3, 4, 5, 6, 7, 8]
    return {"sizes": sizes, "functions": functions, "vocab_size": vocab} if functions else None


def _global(rule):
    """``rule`` read from global_config."""
    return lambda c, kind=None: rule(Sub(c, "global_config"), kind)


class Blt(Llama):
    """``models/blt`` (BltForCausalLM): the global stack as the spec's layers, the byte-level parts beside it."""

    model_type = "blt"
    transformers_class = "BltForCausalLM"
    defaults = {
        "vocab_size": 260, "max_position_embeddings": 4096, "patch_in_forward": True, "patch_size": 4,
        "patching_mode": "entropy", "max_patch_length": None, "local_attention_window_len": 512, "cross_attn_k": 2,
        "encoder_hash_byte_group_size": None, "encoder_hash_byte_group_vocab": 500002,
        "encoder_hash_byte_group_nb_functions": 1, "patcher_config": None, "encoder_config": None,
        "decoder_config": None, "global_config": None, "tie_word_embeddings": False,
    }
    arch = {
        "d_model": _global(lambda s, k: s["hidden_size"]),
        "n_layers": _global(lambda s, k: s["num_hidden_layers"]),
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("rmsnorm"),
        "norm.eps": _global(lambda s, k: s["rms_norm_eps"]),
        "final_norm": const(False),
        "embedding.tied": "tie_word_embeddings",
        "embedding.hash_ngrams": _hash_ngrams,
        "byte_latent": _byte_latent,
    }
    layers = staticmethod(lambda c: ["global"] * Sub(c, "global_config")["num_hidden_layers"])
    block = {
        "mixer": _global(lambda s, k: _mixer(s, None)),
        "ffn": _global(lambda s, k: _stack(s)["ffn"]),
    }


__all__ = ["Blt"]
