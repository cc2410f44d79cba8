"""A view of config.json that reads keys the way transformers does, checks them, and remembers what it read.

transformers fills every key a config.json leaves out with the default of that model type's
config class (``LlamaConfig.rms_norm_eps = 1e-6`` and so on). :class:`Config` does the same from the
family's ``defaults`` table, and records each key it was asked for, so every derived spec field can
say where it came from (``n_kv_heads ← num_key_value_heads``, or "transformers default").

Every value config.json gives is checked against :data:`EXPECT` before a rule sees it: the JSON
type the model type's transformers config class annotates (its ``@strict`` dataclass in
``configuration_*.py`` refuses ``"head_dim": "4096"``, ``2.0`` or ``true`` for an ``int`` too), null
only where that class accepts it (``LlamaConfig.num_key_value_heads: int | None`` is MHA,
``GemmaConfig``'s is a plain ``int``), and the range the modeling code needs (a width of 0 divides
by zero; more than :data:`MAX_LAYERS` layers are refused to keep everything bounded). A refused
value is a :class:`DerivationError` naming the key, the value and what is accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..spec import MAX_LAYERS  # one cap for specs and configs

MAX_INT = 2**53 - 1  # the largest integer JSON tools (and browsers) read exactly


class DerivationError(ValueError):
    """A config that cannot be read: an unsupported model type, a missing or impossible value.

    ``lines`` holds one problem each (a config that fails the spec's rules may break several).
    """

    def __init__(self, *lines: str):
        super().__init__("; ".join(lines))
        self.lines = list(lines)


_NAMES = {int: "integer", float: "float", bool: "boolean", str: "string", list: "list", dict: "object",
          (float, int): "number"}


@dataclass(frozen=True)
class Expect:
    """What one config key may hold: a JSON type, a range, and whether null is accepted."""

    types: tuple[type, ...]
    minimum: float | None = None
    above: bool = False  # the value must exceed ``minimum`` (epsilons, RoPE bases), not equal it
    null: bool | frozenset[str] = False  # True: accepted; a set: only by the config classes of these model types
    items: type | None = None  # the type of every entry of a list
    maximum: float = MAX_INT
    int_too: frozenset[str] = frozenset()  # model types whose config class takes an integer for this float too
    entries: dict | None = None  # an object's entries the gallery reads (nested objects: one per layer type)
    only: tuple = ()  # (type, model types): a type of ``types`` that only these model types' config classes take
    any_items: frozenset[str] = frozenset()  # model types whose config class takes a list of any entries

    def problem(self, key: str, value: Any, model_type: str) -> str | None:
        """Why ``value`` is refused for ``key``, or None when it is accepted."""
        if type(value) in (int, float) and type(value) in self.types and self._in_range(value):
            return None  # the usual case, decided at once
        if value is None:
            if self.null is True or (self.null and model_type in self.null):
                return None
            return (f"{key} is null: expected {self.describe(model_type)} "
                    f"(the config class of model_type {model_type} refuses null)")
        narrowed = self._types(model_type)
        if not _is(value, narrowed + ((int,) if model_type in self.int_too else ())):
            return f"{key} is {shown(value)}, {_a(value)}: expected {self.describe(model_type)}"
        if isinstance(value, (list, str)) and len(value) > MAX_LAYERS:
            return f"{key} has {len(value):,} entries: a model here has at most {MAX_LAYERS:,} layers"
        if isinstance(value, list) and self.items and model_type not in self.any_items:
            i, bad = next(((i, v) for i, v in enumerate(value) if not _is(v, (self.items,))), (0, _OK))
            if bad is not _OK:  # one entry per layer: name the layer
                what = "" if bad is None else f" is {_a(bad)}"
                return f"{key}[{i}]: {shown(bad)} at layer {i}{what}: expected {self.describe(model_type)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not self._in_range(value):
            return f"{key} is {shown(value)}: expected {self.describe(model_type)}"
        if isinstance(value, dict) and self.entries:
            return self._entry_problem(key, value, model_type)
        return None

    def _entry_problem(self, key: str, value: dict, model_type: str) -> str | None:
        for name, entry in value.items():
            inner = self if isinstance(entry, dict) else self.entries.get(name)
            problem = inner and inner.problem(f"{key}.{name}", entry, model_type)
            if problem:
                return problem
        return None

    def _in_range(self, value: float) -> bool:
        if value != value or value > self.maximum:  # NaN, or too large
            return False
        return self.minimum is None or value > self.minimum or (value == self.minimum and not self.above)

    def _types(self, model_type: str) -> tuple[type, ...]:
        """The JSON types this model type's config class takes (a type of ``only`` for its model types alone)."""
        return tuple(t for t in self.types if all(t is not kind or model_type in who for kind, who in self.only))

    def describe(self, model_type: str = "") -> str:
        """The accepted values in words: "a positive integer", "a number above 0", "a list of strings or null"."""
        types = self._types(model_type) if self.only else self.types
        if types == (int,) and self.minimum == 1:
            text = "a positive integer"
        elif self.items and types == (list,):
            text = f"a list of {_NAMES[self.items]}s"
        elif self.items:
            one = _NAMES[types[0]]
            text = f"{'an' if one[0] in 'aeiou' else 'a'} {one} or a list of {_NAMES[self.items]}s"
        else:
            kinds = [self.types] if self.types in _NAMES else self.types
            text = " or ".join(("an " if _NAMES[t][0] in "aeiou" else "a ") + _NAMES[t] for t in kinds)
            if self.minimum is not None:
                text += f" {'above' if self.above else 'of at least'} {self.minimum:g}"
        if self.maximum < MAX_INT:
            text += f" up to {self.maximum:,}"
        return text + (" or null" if self.null is True or (self.null and model_type in self.null) else "")


_OK = object()


def _is(value: Any, types: tuple[type, ...]) -> bool:
    """``isinstance`` as the strict config classes mean it: true is not an integer."""
    return bool in types if isinstance(value, bool) else isinstance(value, types)


def shown(value: Any) -> str:
    """A config value as JSON, cut to 40 characters (a message stays one short line)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _a(value: Any) -> str:
    name = _NAMES.get(type(value), type(value).__name__)
    return ("an " if name[0] in "aeiou" else "a ") + name


def _expect(types, minimum=None, **kw) -> Expect:
    return Expect(types if isinstance(types, tuple) else (types,), minimum, **kw)


SIZE = _expect(int, 1)  # widths, head counts, experts, layers: int, at least 1
COUNT = _expect(int, 0)  # may be zero: shared experts, dense layers first, MTP modules
FLAG = _expect(bool)
NAME = _expect(str)
EPS = _expect(float, 0, above=True)  # annotated ``float``: transformers refuses 1 for 1.0
BASE = _expect((float, int), 0, above=True)  # annotated ``float | int`` (RoPE bases, scale factors)


def _null(expect: Expect, *model_types: str) -> Expect:
    """``expect``, with null accepted by every model type (no names) or only by those named."""
    return Expect(**{**expect.__dict__, "null": frozenset(model_types) if model_types else True})


def _layers(items: type) -> Expect:
    return Expect((list,), items=items, null=True)


#: Each config key the families read → what it may hold, from the transformers config classes'
#: annotations (``tests/test_hostile.py`` compares every one with them); keys a config class pops
#: in ``__post_init__`` without an annotation follow the code that reads them.
EXPECT: dict[str, Expect] = {
    **dict.fromkeys([
        "hidden_size", "num_attention_heads", "vocab_size", "max_position_embeddings",
        "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
        "linear_conv_kernel_dim", "mamba_head_dim", "mamba_num_heads", "n_groups", "ssm_state_size", "state_size",
        "conv_kernel", "conv_L_cache", "index_head_dim", "index_n_heads", "index_topk", "o_groups", "o_lora_rank",
        "hc_mult", "hc_sinkhorn_iters", "n_embd", "n_head", "n_positions", "moe_shared_expert_intermediate_size",
        "shared_expert_intermediate_size", "intermediate_size_mlp", "original_max_position_embeddings",
        "block_multiple_of", "block_ff_dim", "chunk_size", "expand", "decoder_sparse_step",
        "interleave_moe_layer_step", "no_rope_layer_interval", "full_attention_interval", "global_head_dim",
        "num_global_key_value_heads", "query_pre_attn_scalar", "rotary_dim",
        "sliding_window_size", "default_num_hash_layers", "share_expert_dim",
        "linear_head_dim", "linear_num_heads", "intermediate_multiple_size", "kv_channels", "cca_time0", "cca_time1",
        "router_hidden_size", "shared_experts_intermediate_size", "keep_window_size",
    ], SIZE),
    "num_hidden_layers": _expect(int, 1, maximum=MAX_LAYERS),
    # HrmTextConfig: the cycles, the per-stack layers (null on first construction) and the embeddings' multiplier
    **dict.fromkeys(["H_cycles", "L_cycles"], _expect(int, 1, maximum=MAX_LAYERS)),
    "num_layers_per_stack": _null(_expect(int, 1, maximum=MAX_LAYERS)),
    "embedding_scale": _null(EPS),
    "initializer_range": _expect(float, 0, maximum=1),
    "num_layers": _expect(int, 1, maximum=MAX_LAYERS),
    "zero_expert_num": COUNT,  # LongcatFlashConfig: identity experts beside the routed ones
    "expert_ffn_hidden_size": SIZE,
    "qk_head_dim": _null(SIZE, "longcat_flash"),
    "router_bias": FLAG,
    # Dots3NoteTextConfig.__post_init__ pops the sliding layers' widths, their RoPE base and the attention switches
    **dict.fromkeys(["swa_num_attention_heads", "swa_num_key_value_heads", "swa_q_lora_rank", "swa_kv_lora_rank",
                     "swa_head_dim", "swa_qk_nope_head_dim", "swa_v_head_dim", "swa_qk_rope_head_dim"], SIZE),
    "swa_rope_theta": BASE,
    "use_dsa": _null(FLAG),
    # GPT-Neo, RWKV: null is 4 × hidden_size; Gemma3nTextConfig: one width, or one per layer
    "intermediate_size": Expect((int, list), 1, null=frozenset({"gpt_neo", "rwkv", "zamba2", "blt_local_encoder"}),
                                items=int,
                                only=((list, frozenset({"gemma3n_text"})),)),
    # RwkvConfig: null is hidden_size; ZambaConfig: 2 × it; Zamba2Config sets 2 × it, a stored value overrides
    "attention_hidden_size": _null(SIZE, "rwkv", "zamba", "zamba2"),
    "activation_sparsity_pattern": Expect((float, list), items=float, null=True),  # Gemma3nTextConfig, per layer
    **dict.fromkeys(["altup_num_inputs", "laurel_rank", "gated_norm_rank"], SIZE),
    "altup_active_idx": COUNT,
    "altup_correct_scale": FLAG,
    "n_layer": _expect(int, 1, maximum=MAX_LAYERS),
    **dict.fromkeys(["num_kv_shared_layers", "num_mtp_layers",
                     "num_nextn_predict_layers", "num_hash_layers", "hidden_size_per_layer_input",
                     "vocab_size_per_layer_input"], COUNT),  # 0 in the Gemma 4 assistants' text_config
    # Gemma4AssistantConfig, Gemma4UnifiedAssistantConfig: the target's width and the centroid head
    **dict.fromkeys(["backbone_hidden_size", "num_centroids", "centroid_intermediate_top_k"], SIZE),
    "use_ordered_embeddings": FLAG,
    "first_k_dense_replace": _null(COUNT, "deepseek_v3", "kimi_k2", "dots1"),
    # Dots1Config annotates its expert counts and window layers int | None (its default leaves the counts null)
    "n_routed_experts": _null(SIZE, "dots1"),
    **dict.fromkeys(["n_shared_experts", "max_window_layers"], _null(COUNT, "dots1")),
    # Ernie4_5_MoeConfig annotates its expert keys int | None; moe_layer_end_index -1 means the last layer
    **dict.fromkeys(["moe_k", "moe_layer_interval"], _null(SIZE)),
    "moe_num_experts": _null(SIZE, "ernie4_5_moe"),  # AriaTextConfig: an int
    "moe_layer_start_index": _null(COUNT),
    "moe_num_shared_experts": _null(COUNT, "ernie4_5_moe"),
    "moe_layer_end_index": _null(_expect(int, -1)),
    "num_shared_experts": _null(COUNT, "hy_v3", "afmoe"),
    # HunYuanMoEV1Config: one top-k, or one per layer; AriaTextConfig: one
    "moe_topk": Expect((int, list), 1, items=int, only=((list, frozenset({"hunyuan_v1_moe"})),)),
    "num_key_value_heads": _null(SIZE, "cohere", "llama", "olmo2", "phi3", "qwen2", "qwen2_moe", "qwen3", "smollm3",
                                 "arcee", "cohere2", "ernie4_5", "flex_olmo", "glm", "granite", "granitemoe",
                                 "granitemoeshared", "hunyuan_v1_dense", "internlm3", "iquestcoder", "olmo3", "olmoe",
                                 "ernie4_5_moe", "hunyuan_v1_moe", "dots1", "granite_swa", "granitemoe_swa", "jais2",
                                 "hyperclovax", "qwen3_vl_text", "seed_oss", "bamba", "granitemoehybrid", "olmo_hybrid",
                                 "phi", "nemotron", "olmo", "nanochat", "recurrent_gemma", "diffllama", "emu3_text_model",
                                 "aria_text", "cohere2_moe", "cohere_compass_text", "afmoe", "falcon_h1", "apertus",
                                 "bitnet", "longcat_flash", "zamba2", "doge", "blt_local_encoder",
                                 "blt_local_decoder", "blt_global_transformer", "blt_patcher"),
    "head_dim": _null(SIZE, "llama", "mistral", "mixtral", "arcee", "ernie4_5", "glm", "hunyuan_v1_dense",
                      "hunyuan_v1_moe", "jais2", "hyperclovax", "internlm3",
                      "iquestcoder", "ministral", "qwen3_vl_moe_text", "seed_oss", "nemotron", "diffllama", "minimax",
                      "aria_text", "afmoe"),
    "sliding_window": _null(SIZE, "gemma2", "gemma3_text", "gpt_oss", "mistral", "mixtral", "phi3", "qwen2",
                            "qwen2_moe", "qwen3", "qwen3_moe", "smollm3", "starcoder2", "cohere2", "exaone4", "mellum",
                            "ministral", "ministral3", "olmo3", "vaultgemma", "step3p5", "kolibri1", "dots1", "phimoe",
                            "granite_swa", "granitemoe_swa", "minimax", "lfm3", "cohere2_moe", "cohere_compass_text",
                            "afmoe", "beam", "zaya", "dots3_note_text", "dots3_note", "doge", "blt_local_encoder",
                            "blt_patcher"),
    "sliding_window_pattern": _expect((int, str), 1, null=frozenset({"exaone4", "exaone_moe"}),  # "LLLG" or a number
                                      only=((str, frozenset({"exaone4", "exaone_moe"})),)),
    "num_local_experts": _null(COUNT, "granitemoe", "granitemoeshared", "granitemoehybrid",
                               "granitemoe_swa"),  # 0: no experts
    "moe_intermediate_size": _null(SIZE, "gemma4_text"),
    "num_experts": _null(SIZE, "gemma4_text", "hy_v3", "afmoe"),
    "num_experts_per_tok": _null(SIZE, "deepseek_v2", "deepseek_v3", "kimi_k2", "kimi_linear", "granitemoe",
                                 "granitemoeshared", "granitemoehybrid", "dots1", "granitemoe_swa", "hy_v3", "afmoe"),
    "n_group": _null(SIZE, "deepseek_v2", "deepseek_v3", "kimi_k2", "dots1", "beam", "axk2"),
    "topk_group": _null(SIZE, "deepseek_v2", "deepseek_v3", "kimi_k2", "kimi_linear", "dots1", "beam", "axk2"),
    "q_lora_rank": _null(SIZE, "deepseek_v2", "deepseek_v3", "kimi_k2", "kimi_linear", "minicpm3", "youtu",
                         "glm4_moe_lite", "dots3_note_text", "dots3_note"),
    "v_head_dim": _null(SIZE, "deepseek_v3", "kimi_k2", "kimi_linear", "minicpm3", "youtu"),
    **dict.fromkeys(["attention_chunk_size", "moe_latent_size", "n_inner", "top_k_experts",
                     "num_sliding_attention_heads"], _null(SIZE)),
    "moe_router_scaling_factor": Expect((float,), 0, above=True),
    # MiniMaxConfig: the weights of each residual add (int | float) and the block length of its lightning attention
    **dict.fromkeys([f"{sublayer}_{factor}_factor" for sublayer in ("full_attn", "linear_attn", "mlp")
                     for factor in ("alpha", "beta")], _expect((float, int))),
    "block_size": SIZE,
    **dict.fromkeys(["layer_group_size", "short_conv_kernel_size"], SIZE),  # BailingHybridConfig
    "kda_safe_gate": FLAG,
    "kda_lower_bound": _expect(float),
    "moe_routed_scaling_factor": Expect((float,), 0, above=True),  # LagunaConfig
    **dict.fromkeys(["mixer_rms_eps", "norm_eps", "norm_epsilon"], EPS),
    "rms_norm_eps": _null(EPS, "cohere2_moe"),  # Cohere2MoeConfig: null builds LayerNorms
    "layer_norm_epsilon": _null(EPS, "falcon"),
    "layer_norm_eps": _null(EPS, "cohere"),
    "prefix_dense_intermediate_size": _null(SIZE),
    "attn_logit_softcapping": _null(EPS),
    # Gemma3nTextConfig annotates a plain float: null only where the class says float | None (Beam's: int | float | None)
    "final_logit_softcapping": Expect((float,), 0, above=True, int_too=frozenset({"beam"}), null=frozenset({
        "gemma2", "gemma3_text", "gemma4_text", "gemma4_unified_text", "nanochat", "vaultgemma", "beam"})),
    "logit_scale": _null(EPS, "cohere", "cohere_compass_text"),
    "partial_rotary_factor": Expect((float,), 0, above=True, maximum=1, null=True),
    "default_partial_rotary_factor": Expect((float, int), 0, above=True, maximum=1),
    "rotary_pct": Expect((float, int), 0, above=True, maximum=1),
    **dict.fromkeys(["rope_theta", "compress_rope_theta", "rope_local_base_freq", "rotary_emb_base",
                     "block_ffn_dim_multiplier"], BASE),
    "routed_scaling_factor": Expect((float,), 0, above=True, null=frozenset({"mimo_v2_flash"}),
                                    int_too=frozenset({"nemotron_h", "beam"})),
    **dict.fromkeys([
        "attention_bias", "attention_k_eq_v", "block_auto_adjust_ff_dim", "conv_bias", "enable_moe_block",
        "linear_allow_neg_eigval", "mlp_bias", "qk_layernorm", "qkv_bias", "tie_word_embeddings",
        "use_conv_bias", "use_parallel_residual", "use_qkv_bias", "use_sliding_window", "use_double_wide_mlp",
        "norm_bias", "decoder_bias", "classifier_bias", "lm_head_bias", "is_moe",
    ], FLAG),
    "local_attention": _null(SIZE, "modernbert-decoder"),  # ModernBertDecoderConfig: null sets no window
    # ReformerConfig: widths, chunks and hashing of its two attention kinds (the LSH ones int | None), attn_layers
    # (which sets num_hidden_layers), the axial positions and the decoder switch
    **dict.fromkeys(["attention_head_size", "feed_forward_size", "num_hashes", "local_attn_chunk_length"], SIZE),
    "lsh_attn_chunk_length": _null(SIZE, "reformer"),
    **dict.fromkeys(["local_num_chunks_before", "local_num_chunks_after"], COUNT),
    **dict.fromkeys(["lsh_num_chunks_before", "lsh_num_chunks_after"], _null(COUNT, "reformer")),
    "num_buckets": Expect((int, list), 1, items=int, null=frozenset({"reformer"})),
    "attn_layers": Expect((list,), items=str),
    **dict.fromkeys(["axial_pos_shape", "axial_pos_embds_dim"], Expect((list,), items=int)),
    **dict.fromkeys(["axial_pos_embds", "is_decoder"], FLAG),
    # CpmAntConfig: widths, the relative position bias and segments; prompts may be none
    **dict.fromkeys(["dim_head", "dim_ff", "position_bias_num_buckets", "position_bias_max_distance",
                     "segment_types"], SIZE),
    **dict.fromkeys(["prompt_types", "prompt_length"], COUNT),
    **dict.fromkeys(["global_rope_theta", "local_rope_theta"], BASE),
    "norm_topk_prob": _null(FLAG, "deepseek_v3", "kimi_k2", "dots1", "axk1"),
    "use_bias": _null(FLAG, "ernie4_5", "ernie4_5_moe"),
    "use_qk_norm": _null(FLAG, "cohere"),
    **dict.fromkeys(["activation_function", "hidden_act", "hidden_activation", "mlp_hidden_act", "scoring_func",
                     "classifier_activation"],
                    NAME),
    "activation": _null(NAME, "falcon"),
    "topk_method": _null(NAME),
    "time_step_rank": _expect((int, str)),  # a number or "auto"
    "hybrid_override_pattern": NAME,
    **dict.fromkeys(["shared_expert_combination_strategy", "expert_selection_fn"], NAME),
    **dict.fromkeys(["linear_key_head_dim", "linear_num_key_heads", "linear_num_value_heads", "linear_value_head_dim"],
                    _null(SIZE, "olmo_hybrid")),  # null: from the attention's widths (OlmoHybridConfig)
    # Bamba's, Granite 4's and Falcon-H1's mamba_* keys are annotated ``int | None`` (a null width is refused by the
    # family; Falcon-H1's null mamba_d_ssm means mamba_expand × hidden_size)
    **dict.fromkeys(["mamba_n_heads", "mamba_n_groups", "mamba_d_state", "mamba_d_conv", "mamba_expand",
                     "mamba_chunk_size"], _null(SIZE, "bamba", "granitemoehybrid", "falcon_h1")),
    "mamba_d_ssm": _null(SIZE, "falcon_h1"),
    "mamba_d_head": _expect((int, str), 1, null=frozenset({"bamba", "granitemoehybrid", "falcon_h1"})),  # or "auto"
    **dict.fromkeys(["mamba_conv_bias", "mamba_proj_bias"], _null(FLAG, "bamba", "granitemoehybrid", "falcon_h1")),
    **dict.fromkeys(["mamba_norm_before_gate", "mamba_rms_norm", "projectors_bias"], _null(FLAG, "falcon_h1")),
    "attn_layer_indices": _layers(int),
    # Zamba's shared block widths (null: 2 × hidden_size, 2 × hidden_size / heads), Mamba heads, hybrid period
    "attention_head_dim": _null(SIZE, "zamba", "zamba2"),
    **dict.fromkeys(["n_mamba_heads", "attn_layer_period"], SIZE),
    "attn_layer_offset": COUNT,
    # Zamba2: Mamba-2 groups, the shared blocks taken in turn and their adapters' rank
    **dict.fromkeys(["mamba_ngroups", "num_mem_blocks", "adapter_rank", "mamba_headdim"], SIZE),
    "hybrid_layer_ids": _layers(int),
    **dict.fromkeys(["use_shared_attention_adapter", "use_mem_rope", "use_long_context", "add_bias_linear"], FLAG),
    "mamba_dt_rank": _expect((int, str), 1),  # a number or "auto"
    "position_embedding_type": _null(NAME),
    "num_heads": SIZE,
    **dict.fromkeys(["attention_heads", "dff"], SIZE),
    "afn": NAME,
    "attention_dropout": Expect((float, int), 0, null=frozenset({"diffllama"})),  # DiffLlama refuses all but 0
    **dict.fromkeys(["add_cross_attention", "apply_residual_connection_post_layernorm"], FLAG),
    # FalconConfig annotates its switches bool | None (null is false where the modeling code tests them)
    **dict.fromkeys(["multi_query", "alibi", "new_decoder_architecture", "parallel_attn", "bias"],
                    _null(FLAG, "falcon")),
    **dict.fromkeys(["num_kv_heads", "num_ln_in_parallel_attn", "ffn_hidden_size"], _null(SIZE, "falcon")),
    "n_embed": SIZE,  # BloomConfig/FalconConfig pop it in __post_init__ (no annotation)
    # MPT's and DBRX's sizes (DbrxConfig annotates them int | None) and nested attention configs (MptAttentionConfig,
    # DbrxAttentionConfig); DBRX's DbrxFFNConfig (ffn_act_fn: {"name": "silu"})
    **dict.fromkeys(["d_model", "n_heads", "max_seq_len"], _null(SIZE, "dbrx")),
    "n_layers": _null(_expect(int, 1, maximum=MAX_LAYERS), "dbrx"),
    "attn_config": Expect((dict,), null=True, entries={
        "softmax_scale": _null(BASE), "kv_n_heads": SIZE, "clip_qkv": _null(BASE), "rope_theta": BASE,
        "attn_pdrop": _expect((float, int), 0)}),
    "ffn_config": Expect((dict,), null=True, entries={
        **dict.fromkeys(["ffn_hidden_size", "moe_num_experts", "moe_top_k"], SIZE), "name": NAME,
        "moe_normalize_expert_weights": _null(BASE), "moe_jitter_eps": _null(BASE)}),
    "window_size": SIZE,
    "ffn_dim": SIZE,
    "word_embed_proj_dim": _null(SIZE, "opt"),
    **dict.fromkeys(["do_layer_norm_before", "_remove_final_layer_norm", "enable_bias",
                     "layer_norm_elementwise_affine", "scale_embedding"], FLAG),
    "attention_types": Expect((list,), null=True),  # GPT-Neo: [[["global", "local"], repeats], ...]
    "shared_intermediate_size": COUNT,
    "num_dense_layers": _null(COUNT, "afmoe"),
    **dict.fromkeys(["global_attn_every_n_layers"], _null(SIZE, "afmoe")),
    "route_scale": Expect((float,), 0, above=True, null=frozenset({"afmoe"})),
    **dict.fromkeys(["prefix_dense_sliding_window_pattern"], SIZE),
    **dict.fromkeys(["use_expert_bias", "use_sandwich_norm", "use_attention_gate"], FLAG),
    "mup_enabled": _null(FLAG, "afmoe"),
    **dict.fromkeys(["dense_intermediate_size"], _null(SIZE, "inkling_text")),  # InklingTextConfig: null, unswapped
    **dict.fromkeys(["swiglu_alpha", "swiglu_limit"], _expect(float, 0, above=True)),
    "hc_magnitude": EPS,  # HYV4Config: the post weights' scale
    # popped in __post_init__: AXK1Config and AXK2Config divide by an integer (i % moe_layer_freq), MiniMaxM3VLConfig reads a list
    "moe_layer_freq": Expect((int, list), 1, items=int, null=frozenset({"minimax_m3_vl_text"}),
                             only=((int, frozenset({"axk1", "axk2", "dots3_note_text", "dots3_note"})),
                                   (list, frozenset({"minimax_m3_vl_text", "dots3_note_text", "dots3_note"})))),
    "sparse_attention_config": Expect((dict,), null=True, entries={"sparse_attention_freq": _layers(int)}),
    # RecurrentGemmaConfig: lru_width null is hidden_size; block_types is the cycle of temporal blocks
    "lru_width": _null(SIZE, "recurrent_gemma"),
    **dict.fromkeys(["attention_window_size", "conv1d_width"], SIZE),
    "logits_soft_cap": EPS,
    "block_types": _layers(str),
    # xLSTMConfig: embedding_dim and num_blocks null follow hidden_size and num_hidden_layers; the factors are floats
    "embedding_dim": _null(SIZE, "xlstm"),
    "num_blocks": _null(_expect(int, 1, maximum=MAX_LAYERS), "xlstm"),
    **dict.fromkeys(["qk_dim_factor", "v_dim_factor", "ffn_proj_factor", "gate_soft_cap", "output_logit_soft_cap",
                     "eps"], EPS),
    "ffn_round_up_to_multiple_of": SIZE,  # (weight_mode, a Literal of two names, is checked by its family)
    **dict.fromkeys(["layer_types", "layers_block_type", "indexer_types"], _layers(str)),
    # Cohere2MoeConfig annotates a list of anything (its validation then takes "sparse" or "dense" only)
    "mlp_layer_types": Expect((list,), items=str, null=True, any_items=frozenset({"cohere2_moe"})),
    **dict.fromkeys(["full_attn_idxs", "mlp_only_layers", "moe_layers", "no_rope_layers", "compress_ratios"],
                    _layers(int)),
    **dict.fromkeys(["rope_parameters", "rope_scaling"], Expect((dict,), null=True, entries={
        # transformers' RopeParameters (modeling_rope_utils.py): every entry may be null
        **dict.fromkeys(["rope_theta", "factor"], _null(BASE)),
        "partial_rotary_factor": Expect((float, int), 0, above=True, maximum=1, null=True),
        "original_max_position_embeddings": _null(SIZE),
        **dict.fromkeys(["rope_type", "type"], _null(NAME)),
    })),
    **dict.fromkeys(["compress_rates", "default_compress_rates"], _null(_expect(dict))),
    # KimiLinearConfig.__post_init__ reads the checkpoint's linear_attn_config from its kwargs
    "linear_attn_config": Expect((dict,), null=True, entries={
        **dict.fromkeys(["head_dim", "num_heads", "short_conv_kernel_size"], SIZE),
        **dict.fromkeys(["full_attn_layers", "kda_layers"], Expect((list,), items=int)),
    }),
    # MllamaTextConfig: the cross-attention layers; pad_token_id is embed_tokens' padding_idx (nn.Embedding refuses one
    # outside its rows); the wrapper's vision_config gives the image tokens (MllamaVisionConfig's keys)
    "cross_attention_layers": _layers(int),
    "pad_token_id": _null(_expect(int)),
    "vision_config": Expect((dict,), null=True, entries=dict.fromkeys(["image_size", "patch_size", "max_num_tiles"],
                                                                      SIZE)),
    # InklingTextConfig (its swa_* heads are read by the rule above): the relative bias, the convolutions, the logit
    # divisor
    **dict.fromkeys(["d_rel", "rel_extent", "conv_kernel_size"], SIZE),
    "log_scaling_n_floor": _null(SIZE, "inkling_text"),
    "log_scaling_alpha": _expect(float),
    "logits_mup_width_multiplier": EPS,
    "local_layer_ids": _layers(int),
    "dense_mlp_idx": COUNT,  # popped in __post_init__ (no field)
    # Inkling2TextConfig: the clips, the experts' soft-caps, the attention residuals' block
    **dict.fromkeys(["qk_l2_clip_threshold", "rel_l2_clip_threshold", "mlp_gate_softcap", "mlp_up_softcap"], EPS),
    "n_layers_per_attn_res_block": SIZE,
    # Qwen4ExpTextConfig: low-rank hyper-connections, the n-gram embeddings (null ple_embed_dim is hidden_size), the
    # QSA indexer (all five null: no indexer, which its indexed layers cannot be built without), the output gate
    **dict.fromkeys(["hc_count", "hc_lowrank", "ple_conv_kernel_size", "ngram_size", "heads_per_ngram",
                     "ngram_vocab_size_base", "make_ngram_vocab_size_divisible_by"], SIZE),
    "seed": COUNT,
    "ple_layer_ids": _layers(int),
    **dict.fromkeys(["ple_embed_dim", "indexer_n_heads", "indexer_kv_heads", "indexer_head_dim", "indexer_budget",
                     "indexer_compress_ratio"], _null(SIZE, "qwen4_exp_text")),
    "output_gate_type": _null(NAME, "qwen4_exp_text"),
    "eos_token_id": Expect((int, list), items=int, null=True),
    # BltConfig: its four sub-configs (each read over its own class's defaults), patching, the hash n-grams; the
    # sub-configs' cross-attention keys
    **dict.fromkeys(["encoder_config", "decoder_config", "global_config", "patcher_config"],
                    Expect((dict,), null=True)),
    **dict.fromkeys(["patch_size", "max_patch_length", "local_attention_window_len", "cross_attn_k",
                     "encoder_hash_byte_group_vocab", "hidden_size_global"], _null(SIZE)),
    "encoder_hash_byte_group_nb_functions": _null(COUNT),
    "encoder_hash_byte_group_size": _layers(int),
    **dict.fromkeys(["patch_in_forward", "cross_attn_all_layers"], _null(FLAG)),
    "patching_mode": _null(NAME),
}


@dataclass(frozen=True)
class Read:
    """One config key read while deriving a field."""

    key: str
    value: Any
    from_config: bool  # False: the key was absent and the transformers default was used

    def __str__(self) -> str:
        return self.key if self.from_config else f"{self.key} (absent: transformers default {self.value!r})"


@dataclass
class Config:
    """config.json (``raw``) over the model type's transformers defaults, recording reads."""

    raw: dict
    defaults: dict
    model_type: str
    aliases: dict[str, str] = field(default_factory=dict)  # attribute_map: json name → attribute
    trail: list[Read] = field(default_factory=list)

    def __post_init__(self) -> None:
        # transformers' attribute_map lets config.json say hidden_size where GPT-2 means n_embd.
        self.raw = dict(self.raw)
        for alias, key in self.aliases.items():
            if alias in self.raw and key not in self.raw:
                self.raw[key] = self.raw[alias]

    def __getitem__(self, key: str) -> Any:
        if key in self.raw:  # an explicit null is a value too (Mistral v0.3: sliding_window null)
            value, present = self.raw[key], True
            expect = EXPECT.get(key)
            problem = expect and expect.problem(key, value, self.model_type)
            if problem:
                raise DerivationError(problem)
        elif key in self.defaults:
            value, present = self.defaults[key], False
        else:
            raise DerivationError(
                f"config.json of model_type '{self.model_type}' has no '{key}' and transformers has no "
                "default for it: add the key to the config"
            )
        self.trail.append(Read(key, value, present))
        return value

    def get(self, key: str, fallback: Any = None) -> Any:
        """The key's value, or ``fallback`` when neither the config nor the defaults have it."""
        if key in self.raw or key in self.defaults:
            return self[key]
        return fallback

    def has(self, key: str) -> bool:
        """True when config.json itself sets the key to a non-null value (nothing is recorded)."""
        return self.raw.get(key) is not None

    def take_trail(self) -> list[Read]:
        """The reads since the last call, then forget them."""
        trail, self.trail = self.trail, []
        return trail
