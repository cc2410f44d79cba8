"""The toy layer against transformers: the same tiny layer built by the reference, with the toy's NumPy weights
copied in, gives the same output (float64, eager attention).

For each case the test writes a tiny config.json of the model type by hand (the real config with its widths
replaced by the toy's), checks that gallery.derive reads it as exactly the toy block (so the toy keeps the real
structure), builds the model with ``AutoModelForCausalLM.from_config``, copies the toy weights into the layer
(names and layouts per family below), runs random input vectors through the model and compares the chosen
layer's output with the toy's for the same layer input (captured by a forward hook).

Covered: Llama 3.1 (GQA), Mistral (sliding window), Qwen2.5 (QKV bias), Qwen3 (QK-norm per head), Gemma
(MQA, GeGLU), Gemma 2 (sandwich norms, soft-cap, sliding window; sliding and full layers), Gemma 3 (QK-norm,
local and global θ; sliding and full), OLMo 2 (post-norm, QK-norm over the whole projection), StableLM 2 (LayerNorm
with bias, partial RoPE; with qk_layernorm on, QK-norm per head with a weight each), Cohere/Aya (also with
use_qk_norm on: per head, a weight each), Phi-4-mini (fused QKV and gate/up, partial RoPE), StarCoder2 (LayerNorm, ungated MLP with
biases), GPT-2 (fused Conv1D QKV), GPT-BigCode (MQA, fused QKV), GPT-J (parallel block with a shared norm,
partial interleaved RoPE), Cohere/Aya (parallel block, bias-free LayerNorm, interleaved RoPE), Mixtral and
Qwen3-MoE (softmax top-k MoE), Qwen1.5-MoE (gated shared expert), GLM-4.5-Air and MiniMax-M2 (sigmoid scoring
with a correction bias), DeepSeek-V2-Lite (MLA without q compression, dense and MoE layers, shared experts),
DeepSeek-V3 (MLA with q compression, grouped top-k, routed scaling), DeepSeek-V3.2 (the sparse-attention
indexer: its RoPE, LayerNorm, weighted ReLU scores and top-k; ties among zero scores go to the earlier token, as
torch.topk picks them here), gpt-oss (sinks, clamped SwiGLU, biased
experts and router; sliding and full layers), Falcon-Mamba (Mamba-1 with the weightless B, C, Δ norms; the
reference's torch path: causal_conv1d_fn and the sequential loop of mamba_selective_scan, as the toy), LFM2 (a
short-convolution layer and a GQA layer with QK-norm; its operator_norm, feed_forward.w1/w3/w2 names); Gemma 4
26B-A4B (a sliding layer: QK-norm and the weightless norm on V, the dense MLP beside the experts, the router reading
the residual stream through its weightless norm, the experts through their own norm, each branch post-normed).
Qwen3-Next (Gated DeltaNet with fused projections, gated attention with
partial RoPE, zero-centred norms, the MoE with a gated shared expert; a linear and a full layer), Qwen3.5 (split
projections, M-RoPE that is plain RoPE for text; linear and full layers of the dense model, a linear layer of the
MoE). Float32 inside the reference keeps the agreement at about 1e-7: its RMS norms compute in float32,
Falcon-Mamba also takes A = −exp(A_log), D and the Δ bias in float32 and (residual_in_fp32) its residual, and
transformers computes Gated DeltaNet's delta rule in float32 (torch_chunk_gated_delta_rule casts), which the
tolerance of 1e-6 still covers at toy size (largest difference about 5e-7, as for the float32 norms of Gemma).
DeepSeek-V4 (its own test below: compressed attention with the
window, the CSA compressor and indexer, the HCA compressor, sinks, the grouped output projection; hyper-connections
around each sublayer; hash routing from fixed token ids 0 … T − 1 and learned sqrtsoftplus routing; clamped SwiGLU;
within 1e-5 as the reference computes its norms, RoPE, hyper-connection weights and indexer scores in float32, and
leaving out the queries whose indexer top-k boundary falls on a tie).
Nemotron-H (a Mamba-2 layer against the torch path's chunked scan with
chunks of 4, so six tokens span two; a NoPE GQA layer; the sigmoid-routed MoE with ungated relu² experts and a
shared expert, and the same with a latent and biases, plus a relu² MLP layer; within 1e-5, as its norms, router
and scan run in float32).
Gemma 4 full layers (26B-A4B and 31B: values are the keys, proportional RoPE: rotate_half over the whole head
with only the first partial × head_dim/2 frequencies, θ^(−2i/head_dim), non-zero, so dims j and j + head_dim/2
turn for the first of them; at toy size one pair turns, so a test of its own checks the frequencies at head 16).
Step 3.5 Flash (no causal-LM class: ``Step3p7TextModel`` and the head; a sliding dense layer with 24 query heads and a
full MoE layer with half-rotary RoPE: the per-head gate g_proj, zero-centred QK-norm and norms, sigmoid routing with
a correction bias and routed scaling 3, the shared expert; and, in a test of its own, the SwiGLU clamps with limits
small enough to bite on a dense and an MoE layer).
Kimi Linear (a Kimi Delta Attention layer: its per-channel decay, low-rank forget and output gates, sigmoid-gated
norm, against the chunked delta rule transformers runs in float32; an MLA layer without RoPE on the MoE, whose
latent norms keep the class default eps of 1e-6 while the model's is 1e-5).
Not covered: Llama 4 (its MoE multiplies the routing weight into each expert's input, and its NoPE layers
scale queries by position; the spec has no field for either, so the toy and the trace weight expert outputs),
GLM-5, Kimi, MiMo.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gallery.derive import derive
from gallery.spec import Arch, GatedDeltaNet, KimiDeltaAttention, LatentAttention, Mamba2, Moe, SoftmaxAttention
from gallery.toy import EXPERT_TOY, FF_TOY, toy_arch, toy_forward, toy_trace

from .conftest import spec_ids

SEQ = 6

CASES = [
    ("llama-3.1-8b-instruct", 0), ("qwen3-8b", 0), ("gemma-2-9b", 0), ("gemma-2-9b", 1), ("olmo-2-1124-7b", 0),
    ("gpt2", 0), ("gpt-j-6b", 0), ("mixtral-8x7b-v0.1", 0), ("qwen3-30b-a3b", 0), ("qwen1.5-moe-a2.7b", 0),
    ("deepseek-v2-lite-chat", 0), ("deepseek-v2-lite-chat", 1), ("deepseek-v3", 3), ("gpt-oss-20b", 0),
    ("gpt-oss-20b", 1), ("gemma-3-1b-it", 0), ("gemma-3-1b-it", 5), ("gemma-2b", 0), ("qwen2.5-7b", 0),
    ("mistral-7b-v0.1", 0), ("starcoder2-7b", 0), ("stablelm-2-zephyr-1-6b", 0), ("phi-4-mini-instruct", 0),
    ("aya-23-8b", 0), ("glm-4.5-air", 1), ("minimax-m2.7", 0), ("gpt-bigcode-santacoder", 0),
    ("deepseek-v3.2", 3), ("falcon-mamba-7b", 0), ("lfm2-1.2b", 0), ("lfm2-1.2b", 2),
    ("qwen3-next-80b-a3b-instruct", 0), ("qwen3-next-80b-a3b-instruct", 3), ("qwen3.5-27b", 0),
    ("qwen3.5-27b", 3), ("qwen3.5-397b-a17b", 0),
    ("nvidia-nemotron-3-nano-30b-a3b", 0), ("nvidia-nemotron-3-nano-30b-a3b", 1),
    ("nvidia-nemotron-3-nano-30b-a3b", 5), ("gemma-4-26b-a4b", 0), ("gemma-4-26b-a4b", 5), ("gemma-4-31b-it", 0),
    ("gemma-4-31b-it", 5), ("step-3.5-flash", 1), ("step-3.5-flash", 4), ("kimi-linear-48b-a3b-instruct", 0),
    ("kimi-linear-48b-a3b-instruct", 3),
]


N_EMBD = ("gpt2", "gptj", "gpt_bigcode")  # the GPT-2 key names
QWEN_SHARED = ("qwen2_moe", "qwen3_next", "qwen3_5_moe_text")  # a gated shared_expert (Qwen2MoeSparseMoeBlock)
EXPERTS_KEY = {"qwen3_moe": "num_experts", **dict.fromkeys(QWEN_SHARED, "num_experts"), "deepseek_v2": "n_routed_experts",
               "deepseek_v3": "n_routed_experts", "deepseek_v32": "n_routed_experts",
               "glm4_moe": "n_routed_experts", "nemotron_h": "n_routed_experts", "axk1": "n_routed_experts",
               "axk2": "n_routed_experts",
               "gemma4_text": "num_experts", "step3p5": "n_routed_experts"}  # else num_local_experts
EXPERT_WIDTH_KEY = {"mixtral": "intermediate_size", "gpt_oss": "intermediate_size", "minimax_m2": "intermediate_size"}


def _toy_config(config: dict, toy, layer: int) -> dict:
    """The real config with the toy's widths, cut after ``layer`` (written per model type, from the config keys)."""
    cfg = copy.deepcopy(config)
    mt = cfg["model_type"]
    block = toy.blocks[toy.layers[0]]
    m, f = block.mixer, block.ffn
    n = layer + 1
    if cfg.get("pad_token_id") is not None:
        cfg["pad_token_id"] = 0  # within the toy vocabulary
    if mt == "step3p5":  # the Hub's names (attribute_map) as the config class's; per-layer lists cut to the layers
        for alias, key in (("moe_num_experts", "n_routed_experts"), ("moe_top_k", "num_experts_per_tok"),
                           ("num_attention_groups", "num_key_value_heads")):
            cfg[key] = cfg.pop(alias)
        del cfg["attention_other_setting"], cfg["num_nextn_predict_layers"]
        cfg["num_sliding_attention_heads"] = m.n_heads
        for key in ("rope_theta", "partial_rotary_factors", "swiglu_limits", "swiglu_limits_shared"):
            cfg[key] = cfg[key][:n]
        cfg["moe_layers_enum"] = ",".join(i for i in cfg["moe_layers_enum"].split(",") if int(i) < n)
    if mt in N_EMBD:
        cfg.update(n_embd=toy.d_model, n_head=m.n_heads, n_layer=n, vocab_size=32, n_inner=FF_TOY)
        if mt == "gptj":
            cfg["rotary_dim"] = int(m.head_dim * m.rope.partial)
        return cfg
    if mt == "falcon_mamba":  # the slow torch path: the sequential scan, not mambapy's parallel scan
        cfg.update(hidden_size=toy.d_model, num_hidden_layers=n, vocab_size=32, intermediate_size=m.d_inner,
                   state_size=m.d_state, time_step_rank=m.dt_rank, use_mambapy=False)
        return cfg
    if mt == "lfm2":  # block_ff_dim is the SwiGLU width before the auto-adjust, which would round 12 up to 256
        cfg.update(block_ff_dim=FF_TOY, block_auto_adjust_ff_dim=False)
        if not isinstance(m, SoftmaxAttention):  # only the rotary table of the (absent) attention reads the heads
            cfg.update(num_attention_heads=1, num_key_value_heads=1)
    rope = cfg.pop("rope_parameters", None)  # the toy uses plain θ frequencies
    cfg["rope_scaling"] = {"rope_type": "default"}
    if mt.startswith("qwen3_5"):  # θ and the rotary fraction live in rope_parameters; M-RoPE on text is plain RoPE
        cfg["rope_parameters"] = rope
    if mt == "gemma4_text":  # rope_parameters per layer type (the sliding layers' is plain RoPE); the resolved
        cfg["rope_parameters"] = rope  # per-layer table is rebuilt from layer_types and the global widths
        cfg.pop("rope_scaling")
        cfg.pop("per_layer_config", None)
    cfg.update(hidden_size=toy.d_model, vocab_size=32, num_hidden_layers=n, intermediate_size=FF_TOY)
    if "layer_types" in cfg:
        cfg["layer_types"] = cfg["layer_types"][:n]
    if mt == "gemma4_text" and cfg["layer_types"][-1] != "full_attention":  # its last layer is forced full: add one
        cfg.update(layer_types=cfg["layer_types"] + ["full_attention"], num_hidden_layers=n + 1)
    if "hybrid_override_pattern" in cfg:  # Nemotron-H: one letter per layer
        cfg["hybrid_override_pattern"] = cfg["hybrid_override_pattern"][:n]
    if isinstance(m, Mamba2):
        cfg.update(mamba_num_heads=m.n_heads, mamba_head_dim=m.head_dim, n_groups=m.n_groups,
                   ssm_state_size=m.d_state, conv_kernel=m.conv_kernel, chunk_size=m.chunk_size)
    if isinstance(m, SoftmaxAttention):
        cfg.update(num_attention_heads=m.n_heads, num_key_value_heads=m.n_kv_heads, head_dim=m.head_dim)
        if m.window:
            cfg["sliding_window"] = m.window
        if "query_pre_attn_scalar" in cfg:  # Gemma 2/3: the scale is this ** -0.5
            cfg["query_pre_attn_scalar"] = m.head_dim
        if "rotary_dim" in cfg:  # MiniMax-M2: rotary dims, not a fraction
            cfg["rotary_dim"] = int(m.head_dim * m.rope.partial)
        if mt == "gemma4_text":  # Gemma 4: the full layers' heads (and KV heads where values are the keys)
            cfg.update(global_head_dim=m.head_dim, num_global_key_value_heads=m.n_kv_heads)
    if isinstance(m, GatedDeltaNet):
        cfg.update(linear_num_key_heads=m.n_k_heads, linear_num_value_heads=m.n_v_heads,
                   linear_key_head_dim=m.k_head_dim, linear_value_head_dim=m.v_head_dim)
    if mt == "kimi_linear":  # its checkpoint spells the expert keys its own way; its layer lists cut at n
        for alias in ("num_experts", "num_experts_per_token", "num_expert_group"):
            cfg.pop(alias, None)
        sub = cfg["linear_attn_config"]
        sub.update({key: [i for i in sub[key] if i <= n] for key in ("full_attn_layers", "kda_layers")})
        if isinstance(m, KimiDeltaAttention):
            sub.update(num_heads=m.n_heads, head_dim=m.head_dim, short_conv_kernel_size=m.conv_kernel)
    if isinstance(m, LatentAttention):
        cfg.update(num_attention_heads=m.n_heads, num_key_value_heads=m.n_heads, q_lora_rank=m.q_lora_rank,
                   kv_lora_rank=m.kv_lora_rank, qk_nope_head_dim=m.qk_nope_head_dim,
                   qk_rope_head_dim=m.qk_rope_head_dim, v_head_dim=m.v_head_dim)
        if m.indexer:
            cfg.update(index_n_heads=m.indexer.n_heads, index_head_dim=m.indexer.head_dim, index_topk=m.indexer.top_k)
    if isinstance(f, Moe):
        if f.router.n_groups:
            cfg.update(n_group=f.router.n_groups, topk_group=f.router.topk_groups)
        cfg.update({EXPERTS_KEY.get(mt, "num_local_experts"): f.n_experts, "num_experts_per_tok": f.top_k,
                    "experts_per_token": f.top_k, "top_k_experts": f.top_k, EXPERT_WIDTH_KEY.get(mt, "moe_intermediate_size"): EXPERT_TOY})
        if mt in QWEN_SHARED:
            cfg["shared_expert_intermediate_size"] = f.d_shared
        if mt == "step3p5":
            cfg["share_expert_dim"] = f.d_shared
        if mt == "nemotron_h":
            cfg.update(moe_shared_expert_intermediate_size=f.d_shared, moe_latent_size=f.d_latent)
    return cfg


GEMMA = ("gemma", "gemma2", "gemma3", "gemma3_text")
ZERO_CENTRED = GEMMA + ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text", "step3p5")  # RMSNorm weights stored as w − 1
GDN = ("in_proj_qkvz", "in_proj_ba", "in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj", "norm",
       "dt_bias", "A_log", "conv1d")  # Qwen3NextGatedDeltaNet's tensors (its gated norm is a plain RMSNorm)
KDA = ("conv1d", "forget_gate", "b_proj", "g_a_proj", "g_b_proj", "o_norm")  # KimiLinearDeltaAttention's own tensors
GEMMA4_MOE = {"post_mlp_norm": "post_feedforward_layernorm_1", "experts_norm": "pre_feedforward_layernorm_2",
              "post_experts_norm": "post_feedforward_layernorm_2"}  # Gemma4TextDecoderLayer's norms of the MoE block
NORMS = {  # toy norm name → transformers module, by norm placement
    "pre": {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"},
    "sandwich": {"attn_norm": "input_layernorm", "post_attn_norm": "post_attention_layernorm",
                 "ffn_norm": "pre_feedforward_layernorm", "post_ffn_norm": "post_feedforward_layernorm"},
    "post": {"post_attn_norm": "post_attention_layernorm", "post_ffn_norm": "post_feedforward_layernorm"},
}


def _rope_perm(head_dim: int, rot: int, heads: int) -> np.ndarray:
    """Output columns of Q/K so that rotate_half on the toy's dims is the reference's rotation of adjacent pairs."""
    one = np.r_[np.arange(0, rot, 2), np.arange(1, rot, 2), np.arange(rot, head_dim)]
    return np.concatenate([h * head_dim + one for h in range(heads)])


LAYERS = {"gpt2": "transformer.h.", "gptj": "transformer.h.", "gpt_bigcode": "transformer.h.",
          "falcon_mamba": "backbone.layers.", "gpt_neox_japanese": "gpt_neox_japanese.layers.",
          "xlstm": "backbone.blocks."}  # else model.layers.
RENAMED = {  # toy name → transformers module under the layer, for the families mapped by name alone
    "falcon_mamba": {"attn_norm": "norm"} | {k: f"mixer.{k}" for k in ("in_proj", "conv1d", "x_proj", "dt_proj",
                                                                        "A_log", "D", "out_proj")},
    "lfm2": {"attn_norm": "operator_norm", "ffn_norm": "ffn_norm", "q_norm": "self_attn.q_layernorm",
             "k_norm": "self_attn.k_layernorm", "o_proj": "self_attn.out_proj", "in_proj": "conv.in_proj",
             "conv": "conv.conv", "out_proj": "conv.out_proj", "gate_proj": "feed_forward.w1",
             "up_proj": "feed_forward.w3", "down_proj": "feed_forward.w2"}
    | {k: f"self_attn.{k}" for k in ("q_proj", "k_proj", "v_proj")},
}


def _renamed(names: dict[str, str], w: dict, p: str) -> dict[str, np.ndarray]:
    """Rename by module; nn.Linear stores (out, in), nn.Conv1d (channels, 1, taps); A_log and D as they are."""
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        base, kind = (base, "." + kind) if base else (name, "")
        if base in ("conv", "conv1d") and kind == ".weight":
            value = value[:, None, :]
        elif kind == ".weight" and value.ndim == 2:
            value = value.T
        out[p + names[base] + kind] = value
    return out


def _hf_state(mt: str, toy, w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under the transformers names and layouts of layer ``layer``."""
    block = toy.blocks[toy.layers[0]]
    m, f = block.mixer, block.ffn
    # a fixed-state block's first norm is the toy's mixer_norm; transformers names it as any other block's
    w = {k.replace("mixer_norm.", "attn_norm.", 1) if k.startswith(("mixer_norm.", "post_mixer_norm.")) else k: v
         for k, v in w.items()}
    if mt in RENAMED:
        return _renamed(RENAMED[mt], w, f"{LAYERS.get(mt, 'model.layers.')}{layer}.")
    if mt in ("gpt2", "gpt_bigcode"):
        p = f"transformer.h.{layer}."
        t = (lambda a: a) if mt == "gpt2" else (lambda a: a.T)  # GPT-2's Conv1D stores (in, out); Linear (out, in)
        qkv = ("q_proj", "k_proj", "v_proj")  # one fused matrix
        out = {p + "attn.c_attn.weight": t(np.concatenate([w[f"{n}.weight"] for n in qkv], 1)),
               p + "attn.c_attn.bias": np.concatenate([w[f"{n}.bias"] for n in qkv]),
               p + "attn.c_proj.weight": t(w["o_proj.weight"]), p + "attn.c_proj.bias": w["o_proj.bias"],
               p + "mlp.c_fc.weight": t(w["up_proj.weight"]), p + "mlp.c_fc.bias": w["up_proj.bias"],
               p + "mlp.c_proj.weight": t(w["down_proj.weight"]), p + "mlp.c_proj.bias": w["down_proj.bias"]}
        for toy_name, hf in (("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
            out |= {p + f"{hf}.weight": w[f"{toy_name}.weight"], p + f"{hf}.bias": w[f"{toy_name}.bias"]}
        return out
    if mt == "gptj":
        p = f"transformer.h.{layer}."
        perm = np.argsort(_rope_perm(m.head_dim, int(m.head_dim * m.rope.partial), m.n_heads))
        return {p + "attn.q_proj.weight": w["q_proj.weight"][:, perm].T,
                p + "attn.k_proj.weight": w["k_proj.weight"][:, perm].T,
                p + "attn.v_proj.weight": w["v_proj.weight"].T, p + "attn.out_proj.weight": w["o_proj.weight"].T,
                p + "mlp.fc_in.weight": w["up_proj.weight"].T, p + "mlp.fc_in.bias": w["up_proj.bias"],
                p + "mlp.fc_out.weight": w["down_proj.weight"].T, p + "mlp.fc_out.bias": w["down_proj.bias"],
                p + "ln_1.weight": w["norm.weight"], p + "ln_1.bias": w["norm.bias"]}
    p = f"model.layers.{layer}."
    if mt == "nemotron_h":
        return _hf_nemotron_h(w, p)
    if mt == "cohere":  # CohereRotaryEmbedding rotates adjacent pairs; one LayerNorm (no bias) feeds both
        perm = np.argsort(_rope_perm(m.head_dim, int(m.head_dim * m.rope.partial), m.n_heads))
        kperm = np.argsort(_rope_perm(m.head_dim, int(m.head_dim * m.rope.partial), m.n_kv_heads))
        w = {**w, "q_proj.weight": w["q_proj.weight"][:, perm], "k_proj.weight": w["k_proj.weight"][:, kperm]}
        w = {("attn_norm.weight" if k == "norm.weight" else k): v for k, v in w.items()}
        one = np.argsort(_rope_perm(m.head_dim, int(m.head_dim * m.rope.partial), 1))  # within each head
        w |= {f"{t}_norm.weight": w[f"{t}_norm.weight"][:, one] for t in "qk" if f"{t}_norm.weight" in w}
    if mt == "phi3":  # fused projections
        return {p + "self_attn.qkv_proj.weight": np.concatenate([w[f"{n}_proj.weight"] for n in "qkv"], 1).T,
                p + "self_attn.o_proj.weight": w["o_proj.weight"].T,
                p + "mlp.gate_up_proj.weight": np.concatenate([w["gate_proj.weight"], w["up_proj.weight"]], 1).T,
                p + "mlp.down_proj.weight": w["down_proj.weight"].T,
                p + "input_layernorm.weight": w["attn_norm.weight"],
                p + "post_attention_layernorm.weight": w["ffn_norm.weight"]}
    mlp_names = {"up_proj": "c_fc", "down_proj": "c_proj"} if mt == "starcoder2" else {}
    out = {}
    if mt == "stablelm":  # StableLmLayerNormPerHead: one LayerNorm(head_dim) per head, q_layernorm.norms.<head>
        for t in "qk":
            rows = w.pop(f"{t}_norm.weight", ())
            out |= {p + f"self_attn.{t}_layernorm.norms.{i}.weight": row for i, row in enumerate(rows)}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if base in NORMS[block.norm_placement]:
            out[p + NORMS[block.norm_placement][base] + "." + kind] = value - (mt in ZERO_CENTRED)
        elif base in ("q_norm", "k_norm"):
            out[p + f"self_attn.{name}"] = value - (mt in ZERO_CENTRED)
        elif base in GEMMA4_MOE:
            out[p + f"{GEMMA4_MOE[base]}.{kind}"] = value
        elif base == "post_mlp_layernorm":  # AXK1MoE's norm of its output
            out[p + f"mlp.{name}"] = value
        elif isinstance(m, GatedDeltaNet) and name.split(".")[0] in GDN:
            hf = value[:, None, :] if base == "conv1d" else value.T  # Conv1d stores (channels, 1, kernel)
            out[p + f"linear_attn.{name}"] = hf
        elif isinstance(m, KimiDeltaAttention) and name.split(".")[0] in KDA:
            if base == "conv1d":
                value = value[:, None, :]  # Conv1d stores (channels, 1, kernel)
            elif name == "forget_gate.A_log":
                value = value.reshape(1, 1, -1, 1)  # KimiLinearForgetGate: (1, 1, n_heads, 1)
            out[p + f"self_attn.{name}"] = value.T if value.ndim == 2 else value
        elif name == "sinks":
            out[p + "self_attn.sinks"] = value
        elif base in ("q_proj", "k_proj", "v_proj", "o_proj", "g_proj", "q_a_proj", "q_b_proj", "kv_a_proj_with_mqa",
                      "kv_b_proj", "q_a_layernorm", "kv_a_layernorm") or base.startswith("indexer."):
            out[p + f"self_attn.{name}"] = value.T if value.ndim == 2 else value
        elif base in ("gate_proj", "up_proj", "down_proj"):
            out[p + f"mlp.{mlp_names.get(base, base)}.{kind}"] = value.T if kind == "weight" else value
        elif base.startswith("shared_expert."):
            hf = "shared_expert." if mt in QWEN_SHARED else "shared_experts."
            out[p + "mlp." + hf + name.removeprefix("shared_expert.")] = value.T if kind == "weight" else value
        elif name == "shared_expert_gate.weight":
            out[p + "mlp.shared_expert_gate.weight"] = value.T
    if isinstance(f, Moe):
        out |= _hf_moe(mt, w, p + ("" if mt == "gemma4_text" else "mlp."))  # Gemma 4: router and experts beside mlp
    return out


def _hf_nemotron_h(w: dict, p: str) -> dict[str, np.ndarray]:
    """NemotronHBlock: one ``norm`` and one ``mixer`` (Mamba-2, attention or MoE); weights stored (out, in)."""
    rename = {"router.weight": "gate.weight", "router.correction_bias": "gate.e_score_correction_bias",
              "experts.up_proj.weight": "experts.up_proj", "experts.down_proj.weight": "experts.down_proj"}
    out = {}
    for name, value in w.items():
        if name in ("attn_norm.weight", "ffn_norm.weight"):
            out[p + "norm.weight"] = value
            continue
        if name == "conv1d.weight":  # toy (conv_kernel, conv_dim); nn.Conv1d (conv_dim, 1, conv_kernel)
            value = value.T[:, None, :]
        elif value.ndim >= 2:  # (in, out) → (out, in); experts (E, in, out) → (E, out, in)
            value = np.swapaxes(value, -1, -2)
        out[p + "mixer." + rename.get(name, name.replace("shared_expert.", "shared_experts."))] = value
    return out


def _hf_moe(mt: str, w: dict, p: str) -> dict[str, np.ndarray]:
    g, u, d = w["experts.gate_proj.weight"], w["experts.up_proj.weight"], w["experts.down_proj.weight"]  # (E, in, out)
    if mt == "gpt_oss":  # gate and up interleaved along the output axis, weights stored (in, out)
        gu = np.stack([g, u], -1).reshape(*g.shape[:2], -1)
        gub = np.stack([w["experts.gate_proj.bias"], w["experts.up_proj.bias"]], -1).reshape(g.shape[0], -1)
        return {p + "router.weight": w["router.weight"].T, p + "router.bias": w["router.bias"],
                p + "experts.gate_up_proj": gu, p + "experts.gate_up_proj_bias": gub,
                p + "experts.down_proj": d, p + "experts.down_proj_bias": w["experts.down_proj.bias"]}
    experts = {p + "experts.gate_up_proj": np.concatenate([g, u], 2).transpose(0, 2, 1),  # (E, 2·width, d_model)
               p + "experts.down_proj": d.transpose(0, 2, 1)}
    if mt == "gemma4_text":  # Gemma4TextRouter: proj, its input scale, the per-expert scale
        return experts | {p + "router.proj.weight": w["router.weight"].T, p + "router.scale": w["router.scale"],
                          p + "router.per_expert_scale": w["router.per_expert_scale"]}
    out = {p + "gate.weight": w["router.weight"].T, **experts}
    if "router.correction_bias" in w:
        out[p + ("" if mt == "minimax_m2" else "gate.") + "e_score_correction_bias"] = w["router.correction_bias"]
    return out


def _layer_io(model, mt: str, layer: int, x, ids=None):
    """(input, output) hidden states of decoder layer ``layer`` when the model reads ``x`` as embeddings (or the
    token ids ``ids``)."""
    import torch

    layers = model.get_submodule(LAYERS.get(mt, "model.layers.").rstrip("."))
    seen = {}

    def hook(module, args, kwargs, output):
        seen["in"] = args[0] if args else kwargs["hidden_states"]
        seen["out"] = output[0] if isinstance(output, tuple) else output

    handle = layers[layer].register_forward_hook(hook, with_kwargs=True)
    with torch.no_grad():
        model(inputs_embeds=x, use_cache=False) if ids is None else model(input_ids=ids, use_cache=False)
    handle.remove()
    return seen["in"][0].numpy(), seen["out"][0].numpy()


def _model_with_toy_layer(hf_config, state: dict[str, np.ndarray], prefix: str):
    """The float64 eager model of ``hf_config`` with the toy weights ``state`` copied in; every parameter of the
    layer under ``prefix`` must be among them."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from .reference import _text_model, _text_model_with_head

    torch.manual_seed(0)
    if hf_config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        model = AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager",
                                                 experts_implementation="eager").double().eval()
    else:  # no causal-LM class (Step 3.5): the text model and the head, as tests/reference.py builds them
        hf_config._attn_implementation = "eager"
        model = _text_model_with_head()(_text_model(hf_config), False).double().eval()
    params = dict(model.named_parameters()) | dict(model.named_buffers())
    layer_params = {k for k, _ in model.named_parameters() if k.startswith(prefix)}
    assert layer_params <= set(state), f"toy weights missing for {sorted(layer_params - set(state))}"
    with torch.no_grad():
        for name, value in state.items():
            assert params[name].shape == value.shape, name
            params[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model


@pytest.mark.parametrize(("slug", "layer"), CASES, ids=[f"{s}-L{n}" for s, n in CASES])
def test_toy_layer_equals_transformers(bundled, slug, layer):
    spec, config = bundled[slug]
    _check_against_transformers(spec.arch, config, layer)


@pytest.mark.parametrize(("slug", "switch"), [("aya-23-8b", "use_qk_norm"), ("stablelm-2-zephyr-1-6b", "qk_layernorm")])
def test_per_head_qk_norm_equals_transformers(bundled, slug, switch):
    # no bundled Cohere or StableLM switches QK-norm on: the same configs with it on, a weight row per head
    _, config = bundled[slug]
    config = {**config, switch: True}
    arch = Arch.model_validate(derive(config).arch, strict=False)
    assert arch.blocks[arch.layers[0]].mixer.qk_norm == "per_head"
    steps = _check_against_transformers(arch, config, 0)
    ops = [s.op for s in steps]
    assert ops.index("split K heads") < ops.index("q_norm") < ops.index("k_norm") < ops.index("RoPE on Q")


def test_nemotron_h_latent_moe_mlp_and_biases_equal_transformers(bundled):
    # no bundled Nemotron-H has moe_latent_size, biases or dense MLP layers: the Nano config with a latent, mlp_bias
    # (latent, shared expert and MLP biases), use_bias (in_proj and out_proj of the Mamba-2 mixer) and the pattern
    # Mamba-2, MoE, MLP
    _, config = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    config = {**config, "moe_latent_size": 512, "mlp_bias": True, "use_bias": True, "hybrid_override_pattern": "ME-"}
    arch = Arch.model_validate(derive(config).arch, strict=False)
    mamba, moe, mlp = (arch.blocks[kind] for kind in arch.layers)
    assert moe.ffn.d_latent == 512 and moe.ffn.latent_bias and mamba.mixer.bias and mlp.ffn.bias
    steps = _check_against_transformers(arch, config, 1)
    assert [s.op for s in steps if "latent" in s.op] == ["fc1_latent_proj", "fc2_latent_proj"]
    _check_against_transformers(arch, config, 0)
    steps = _check_against_transformers(arch, config, 2)
    assert [s.op for s in steps] == ["ffn norm (pre)", "up_proj", "activation (relu2)", "down_proj", "residual add"]


def test_nemotron_h_scan_is_the_torch_path_and_its_dt_clamp_never_bites(bundled):
    # transformers falls back to its torch code (chunked scan, F.conv1d) when neither mamba_ssm nor causal_conv1d
    # is installed; that chunked scan clamps Δ below at time_step_min, which the toy (and the spec) leave out
    import importlib.util

    assert importlib.util.find_spec("mamba_ssm") is None and importlib.util.find_spec("causal_conv1d") is None
    spec, config = bundled["nvidia-nemotron-3-nano-30b-a3b"]
    for seed in (0, 3):
        delta = {s.op: s for s in toy_trace(spec, 0, SEQ, seed=seed).steps}["Δ = softplus(dt + dt_bias)"].value
        assert delta.min() > config["time_step_min"]


def _check_against_transformers(arch: Arch, config: dict, layer: int, state=None):
    """Build the tiny model, copy the toy weights into layer ``layer``, compare that layer's output; the toy steps.
    ``state``: the weights under the transformers names, for a type whose names the common mapping does not know
    (default :func:`_hf_state`)."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    toy = toy_trace(arch, layer, SEQ, seed=3)
    kind = arch.layers[layer]
    cfg = config
    if config["model_type"] == "nemotron_h":  # the layers before the compared one small too: a fast build and run
        for other in sorted(set(arch.layers[:layer]) - {kind}):
            cfg = _toy_config(cfg, toy_arch(arch, other), layer)
    cfg = _toy_config(cfg, toy.arch, layer)
    derived = derive(cfg).arch
    assert derived["layers"][layer] == kind
    # the toy keeps the real structure: the reference's tiny config reads as exactly the toy block (but for an
    # explicit attention scale, which the real model derives from its own widths and RoPE scaling: set below)
    block = toy.arch.blocks[kind]
    dumps = [block.model_dump(), type(block).model_validate(derived["blocks"][kind], strict=False).model_dump()]
    for dump in dumps:
        (dump["mixer"] or {}).pop("scale", None)
    assert dumps[0] == dumps[1]

    mt = cfg["model_type"]
    hf_config = transformers.CONFIG_MAPPING[mt].from_dict(cfg)
    hf_config._attn_implementation = "eager"
    prefix = f"{LAYERS.get(mt, 'model.layers.')}{layer}."
    model = _model_with_toy_layer(hf_config, (state or _hf_state)(mt, toy.arch, toy.weights, layer), prefix)
    if getattr(block.mixer, "scale", None):
        model.model.layers[layer].self_attn.scaling = block.mixer.scale
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, hidden_out = _layer_io(model, mt, layer, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    # RoPE angles are float32 in transformers (and GPT-J scores too); Nemotron-H computes its norms, router and
    # scan in float32 whatever the model's dtype
    tol = 1e-5 if mt in ("gptj", "nemotron_h") else 1e-6
    np.testing.assert_allclose(steps[-1].value, hidden_out, rtol=tol, atol=tol)
    return steps


def test_proportional_rope_equals_gemma4_rotary_embedding():
    # Gemma 4's global layers at a width where θ matters (at toy size one angle turns, at frequency θ⁰ = 1): a head
    # of 16 with half its frequencies kept, 4 of 8, at θ^(−2i/16), against Gemma4TextRotaryEmbedding and
    # apply_rotary_pos_emb
    import torch
    from transformers import Gemma4TextConfig
    from transformers.models.gemma4.modeling_gemma4 import Gemma4TextRotaryEmbedding, apply_rotary_pos_emb

    from gallery.toyops import rotate

    rope = {"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
            "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.5, "rope_theta": 1e6}}
    config = Gemma4TextConfig(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                              global_head_dim=16, num_hidden_layers=2, rope_parameters=rope,
                              layer_types=["sliding_attention", "full_attention"])
    x = np.random.default_rng(0).standard_normal((2, SEQ, 16))
    cos, sin = Gemma4TextRotaryEmbedding(config)(torch.zeros(1, dtype=torch.float64), torch.arange(SEQ)[None],
                                                 "full_attention")
    expected = apply_rotary_pos_emb(torch.from_numpy(x)[None], cos, sin).numpy()[0]
    np.testing.assert_allclose(rotate(x, 8, 1e6, False, proportional=True), expected, rtol=1e-6, atol=1e-6)
    assert not np.allclose(rotate(x, 8, 1e6, False), expected, atol=1e-3)  # plain partial RoPE on 8 dims differs
    turned = np.r_[0:4, 8:12]
    assert np.array_equal(expected[..., np.setdiff1d(np.arange(16), turned)], x[..., np.setdiff1d(np.arange(16), turned)])


def test_toy_shows_the_masked_scores_and_softmax(bundled):
    spec, _ = bundled["gemma-2-9b"]
    toy = toy_trace(spec, 0, SEQ)
    values = {s.op: s for s in toy.steps}
    masked = values["mask"].value
    assert np.isneginf(masked[:, 0, 1:]).all()  # causal: the first token sees only itself
    assert np.isneginf(masked[:, 5, :3]).all() and np.isfinite(masked[:, 5, 3:]).all()  # window of 3
    shifted = values["subtract row max"].value
    assert np.allclose(np.nanmax(np.where(np.isfinite(shifted), shifted, np.nan), -1), 0)
    p = values["softmax"].value
    assert np.allclose(p.sum(-1), 1) and (p[:, 0, 1:] == 0).all()
    soft = values["soft-cap"].value
    assert (np.abs(soft) < 50).all()


@pytest.mark.parametrize("slug", spec_ids())
def test_toy_runs_every_step_of_the_trace_in_order(bundled, slug):
    from gallery.trace import trace

    spec, _ = bundled[slug]
    for kind in spec.arch.blocks:
        toy = toy_trace(spec, spec.arch.layers.index(kind), SEQ)
        steps = trace(toy.arch, 0, SEQ)
        assert [s.op for s in toy.steps] == [s.op for s in steps], kind
        assert [s.value.shape for s in toy.steps] == [s.out_shape for s in steps], kind
        assert np.isfinite(toy.out).all()


def test_fixed_state_toys_are_causal_and_their_scan_is_a_recurrence(bundled):
    mamba = {s.op: s for s in toy_trace(bundled["falcon-mamba-7b"][0], 0, SEQ).steps}
    decay, u, h = mamba["discretise A"].value, mamba["Δ·B·x"].value, mamba["selective scan"].value
    assert (mamba["softplus"].value > 0).all() and ((0 < decay) & (decay < 1)).all()  # A < 0, Δ > 0
    assert np.allclose(h[0], u[0]) and np.allclose(h[3], decay[3] * h[2] + u[3])  # h_0 = 0, then the update
    conv = {s.op: s for s in toy_trace(bundled["lfm2-1.2b"][0], 0, SEQ).steps}
    taps, gated = conv["conv"].details["taps"], conv["B ⊙ x"].value  # taps (k, d_model); k − 1 is the current token
    k = taps.shape[0]
    assert np.allclose(conv["conv"].value[0], taps[-1] * gated[0])  # the first token sees only itself
    assert np.allclose(conv["conv"].value[k], (taps * gated[1:k + 1]).sum(0))  # then its k − 1 predecessors


def test_mamba_toy_draws_a_log_near_the_s4d_real_init(bundled):
    """FalconMambaMixer initialises A_log = log(1 … d_state) in every channel (S4D-real, A = −(1 … d_state)); the
    toy draws its A_log near that, so its decays span the real range rather than one shared rate."""
    from transformers import FalconMambaConfig, FalconMambaModel

    toy = toy_trace(bundled["falcon-mamba-7b"][0], 0, SEQ)
    a_log = toy.weights["A_log"]
    d_inner, d_state = a_log.shape
    cfg = FalconMambaConfig(hidden_size=toy.arch.d_model, intermediate_size=d_inner, state_size=d_state,
                            num_hidden_layers=1, vocab_size=8, time_step_rank=2)
    reference = FalconMambaModel(cfg).layers[0].mixer.A_log.detach().numpy()  # the init transformers writes
    assert reference.shape == a_log.shape
    assert np.abs(a_log - reference).max() < 0.5 and abs((a_log - reference).mean()) < 0.05


# DeepSeek-V4-Flash: window-only + hash routing, CSA + hash routing, HCA, CSA (layers 0, 2, 3, 4 of the real model)
V4_CASES = [(layer, seq) for layer in (0, 2, 3, 4) for seq in (2, SEQ, 11)]  # 2: no HCA entry; 11: incomplete blocks
V4_TYPES = {0: "sliding_attention", 4: "compressed_sparse_attention", 128: "heavily_compressed_attention"}


def _v4_config(config: dict, toy, layer: int) -> dict:
    """DeepSeek-V4-Flash's config at the toy's widths, cut after ``layer`` (layer types from its compress_ratios;
    plain RoPE in both the main and the compress rotary, as the toy has no YaRN)."""
    cfg = copy.deepcopy(config)
    for key in ("quantization_config", "expert_dtype", "rope_scaling", "compress_ratios", "qk_rope_head_dim"):
        cfg.pop(key, None)  # no FP8 quantizer on a toy; the legacy keys are replaced below
    block = toy.blocks[toy.layers[0]]
    m, f, n = block.mixer, block.ffn, layer + 1
    types = [V4_TYPES[r] for r in config["compress_ratios"][:n]]
    rates = {"compressed_sparse_attention": 2, "heavily_compressed_attention": 3}  # the other layers: any rate
    if m.ratio:
        rates[types[layer]] = m.ratio
    rope = {label: {"rope_type": "default", "rope_theta": config[key], "partial_rotary_factor": m.rope.partial}
            for label, key in (("main", "rope_theta"), ("compress", "compress_rope_theta"))}
    cfg.update(hidden_size=toy.d_model, vocab_size=toy.vocab_size, num_hidden_layers=n, layer_types=types,
               compress_rates=rates, num_attention_heads=m.n_heads, head_dim=m.head_dim, q_lora_rank=m.q_lora_rank,
               o_groups=m.o_groups, o_lora_rank=m.o_lora_rank, sliding_window=m.window, rope_parameters=rope,
               partial_rotary_factor=m.rope.partial, n_routed_experts=f.n_experts, num_experts_per_tok=f.top_k,
               moe_intermediate_size=EXPERT_TOY)
    if m.indexer:
        cfg.update(index_n_heads=m.indexer.n_heads, index_head_dim=m.indexer.head_dim, index_topk=m.indexer.top_k)
    return cfg


def _hf_v4_state(w: dict, layer: int) -> dict[str, np.ndarray]:
    """The toy's weights under DeepseekV4DecoderLayer's names; Linear weights stored (out, in)."""
    p = f"model.layers.{layer}."
    renamed = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "router": "mlp.gate",
               "compressor": "self_attn.compressor", "indexer": "self_attn.compressor.indexer",
               "indexer.weights_proj": "self_attn.compressor.indexer.scorer.weights_proj"}
    out = {}
    for name, value in w.items():
        base, _, kind = name.rpartition(".")
        if name.startswith(("attn_hc.", "ffn_hc.")):
            out[p + name] = value.T if kind == "fn" else value  # fn: ((2 + n)·n, n·d)
        elif base.startswith(("experts.", "shared_expert.")) or name.startswith("router.") and kind != "weight":
            continue  # below
        else:
            head, _, rest = base.rpartition(".")
            hf = renamed.get(base) or (renamed[head] + "." + rest if head in renamed else f"self_attn.{base}")
            if not base:  # sinks
                hf, kind = "self_attn", name
            out[p + hf + "." + kind] = value.T if value.ndim == 2 and kind == "weight" else value
    out |= _hf_moe("deepseek_v4", w, p + "mlp.")
    out |= {p + "mlp.shared_experts." + name.removeprefix("shared_expert."): value.T
            for name, value in w.items() if name.startswith("shared_expert.")}
    if "router.tid2eid" in w:
        out[p + "mlp.gate.tid2eid"] = w["router.tid2eid"]
    return out


@pytest.mark.parametrize(("layer", "seq"), V4_CASES, ids=[f"L{n}-T{t}" for n, t in V4_CASES])
def test_deepseek_v4_toy_layer_equals_transformers(bundled, layer, seq):
    """Compressed attention, its compressor and indexer, sinks, the grouped output, hyper-connections, hash and
    learned routing, clamped SwiGLU experts: the toy layer against DeepseekV4DecoderLayer, token ids 0 … T − 1."""
    import torch
    import transformers
    from transformers.utils import logging

    logging.set_verbosity_error()
    spec, config = bundled["deepseek-v4-flash"]
    toy = toy_trace(spec, layer, seq, seed=3)
    kind = spec.arch.layers[layer]
    cfg = _v4_config(config, toy.arch, layer)
    derived = derive(cfg).arch
    block = toy.arch.blocks[kind]
    ours = type(block).model_validate(derived["blocks"][derived["layers"][layer]], strict=False)
    assert ours.model_dump() == block.model_dump()  # the toy keeps the real structure
    assert type(toy.arch.hyper_connections).model_validate(derived["hyper_connections"]) == toy.arch.hyper_connections

    hf_config = transformers.CONFIG_MAPPING["deepseek_v4"].from_dict(cfg)
    model = _model_with_toy_layer(hf_config, _hf_v4_state(toy.weights, layer), f"model.layers.{layer}.")
    ids = np.arange(seq)
    hidden_in, hidden_out = _layer_io(model, "deepseek_v4", layer, None, torch.from_numpy(ids)[None])
    assert hidden_in.shape == (seq, toy.arch.hyper_connections.streams, toy.arch.d_model)
    steps = toy_forward(toy.arch, toy.weights, hidden_in, ids)
    # A query whose top-k boundary falls on a tie (ReLU makes exact zeros when every indexer head is ≤ 0) may keep
    # either entry: torch.topk's pick among ties is implementation-defined, the toy keeps the earlier one. A token's
    # output depends only on its own pick, so the others are compared.
    tied = np.zeros(seq, dtype=bool)
    if block.mixer.indexer:
        [scores] = [s.value for s in steps if s.op == "weighted sum over heads"]  # (T, entries), −∞ = not visible
        k = block.mixer.indexer.top_k
        best = -np.sort(-scores, -1)
        if best.shape[1] > k:
            tied = np.isfinite(best[:, k]) & (best[:, k - 1] == best[:, k])
    assert tied.sum() <= seq // 3
    # DeepseekV4RMSNorm, the RoPE, the hyper-connection weights and the indexer scores compute in float32 even in a
    # float64 model: agreement to float32 precision
    np.testing.assert_allclose(steps[-1].value[~tied], hidden_out[~tied], rtol=1e-5, atol=1e-5)


def test_step3p5_swiglu_clamps_equal_transformers(bundled):
    # at toy width the real limits (7 on the routed experts of layers 43-44, 16 on layer 44's shared expert) never
    # bite: the same config with small limits on a dense layer (swiglu_limits_shared, read by Step3p7MLP) and on the
    # routed and shared experts of an MoE layer, so that they do
    _, config = bundled["step-3.5-flash"]
    routed, shared = [0.0] * 48, [0.0] * 48
    shared[1], routed[4], shared[4] = 0.03, 0.05, 0.02
    config = {**config, "swiglu_limits": routed, "swiglu_limits_shared": shared}
    arch = Arch.model_validate(derive(config).arch, strict=False)
    assert (arch.layers[1], arch.layers[4]) == ("sliding-dense-clamped", "full-moe-clamped")
    for layer in (1, 4):
        steps = _check_against_transformers(arch, config, layer)
        clamps = [(before.value, s.value) for before, s in zip(steps, steps[1:]) if s.op == "clamp"]
        assert len(clamps) == (1 if layer == 1 else 2)  # the MoE layer: routed experts and the shared expert
        assert all((after < before).any() for before, after in clamps)  # each cap bites


def test_a_toy_that_leaves_the_traces_op_list_fails_as_it_runs(bundled):
    """The trace names the ops: a record out of order, of another shape, or a toy that stops early is an error."""
    from gallery.toyops import Run
    from gallery.trace import trace

    arch = toy_trace(bundled["llama-3.1-8b-instruct"][0], 0, SEQ).arch
    plan = trace(arch, 0, SEQ)
    first = plan[0]
    with pytest.raises(AssertionError, match="not the trace's"):
        Run(arch, {}, plan=plan).rec("q_proj", np.zeros(first.out_shape))
    with pytest.raises(AssertionError, match="not the trace's"):
        Run(arch, {}, plan=plan).rec(first.op, np.zeros((SEQ + 1, arch.d_model)))
    run = Run(arch, {}, plan=plan)
    run.rec(first.op, np.zeros(first.out_shape))
    with pytest.raises(AssertionError, match=f"after 1 of the trace's {len(plan)} steps"):
        run.done()
