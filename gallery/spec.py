"""The architecture spec: one pydantic v2 model per part of a decoder-only language model.

A spec has three parts:

* curated facts a config lacks (display name, organisation, release date, licence, notes);
* ``source``: where the architecture was read from (Hub repo, revision, vendored config.json);
* ``arch``: the architecture itself, re-derivable from the vendored config (see ``gallery.derive``).

Vocabulary follows the papers and nanoGPT: ``d_model``, ``n_layers``, ``n_heads``, ``n_kv_heads``,
``head_dim``, ``d_ff``. Per-layer variation is explicit: ``arch.layers`` names the block kind of
every layer (like ``layer_types`` in transformers) and ``arch.blocks`` defines each kind once.
A compact pattern such as ``"dense*3, moe*58"`` or ``"(sliding*5, full)*8"`` is accepted on input
and expanded to the explicit list.

Unknown keys are rejected everywhere (``extra="forbid"``); kinds that differ in their fields are
discriminated unions on ``kind``. ``schema/spec.schema.json`` is generated from :class:`Spec`.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

SCHEMA_URL = "../schema/spec.schema.json"
SLUG_RE = r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$"


def rule_error(field: str, error_type: str, message: str) -> PydanticCustomError:
    """A cross-field rule violation that names the field to fix (``ctx.field``; see gallery.codes)."""
    return PydanticCustomError(error_type, message.replace("{", "(").replace("}", ")"), {"field": field})


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, numbers are not parsed from strings."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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


# --- token mixers ----------------------------------------------------------------------------


class SoftmaxAttention(Strict):
    """Softmax attention with separate query and KV head counts (MHA, GQA, MQA).

    ``kind`` is ``mha`` when every query head has its own KV head, ``mqa`` when all share one,
    ``gqa`` in between; the validator checks that it agrees with the head counts.
    """

    kind: Literal["mha", "gqa", "mqa"]
    n_heads: PositiveInt = Field(description="Query heads")
    n_kv_heads: PositiveInt = Field(description="Key/value heads")
    head_dim: PositiveInt = Field(description="Dims per head (may differ from d_model / n_heads)")
    v_head_dim: PositiveInt | None = Field(
        None, description="Dims per value head when they differ from head_dim (MiMo-V2-Flash); null = head_dim")
    k_eq_v: bool = Field(False, description="Values are the keys: no v_proj (Gemma 4 global layers)")
    qkv_bias: bool = Field(False, description="Bias on the Q, K and V projections")
    out_bias: bool = Field(False, description="Bias on the output projection")
    qk_norm: Literal["none", "head", "full", "l2"] = Field(
        "none",
        description="Norm on queries and keys: 'head' is one norm of head_dim shared by all heads "
        "(Qwen3, Gemma 3); 'full' has weights for every head (OLMo 2, Cohere, StableLM); 'l2' is an L2 "
        "normalisation without weights (Llama 4)",
    )
    rope: Rope | None = Field(description="RoPE settings; null for NoPE (no positional signal)")
    window: PositiveInt | None = Field(None, description="Sliding-window size in tokens; null = full causal")
    chunk: PositiveInt | None = Field(
        None, description="Chunked local attention: a token attends only within its chunk of this many tokens "
        "(Llama 4 attention_chunk_size); the cache keeps at most one chunk")
    sinks: bool = Field(False, description="Learned per-head attention sink logits (gpt-oss)")
    output_gate: bool = Field(
        False, description="q_proj also emits a gate per query dim: the attention output × sigmoid(gate) goes to "
        "o_proj, so q_proj is twice as wide (Qwen3-Next/Qwen3.5 Qwen3NextAttention; config attn_output_gate, "
        "always built by transformers)")
    softcap: float | None = Field(None, gt=0, description="tanh soft-capping of attention logits")
    scale: float | None = Field(None, gt=0, description="Query scaling if not 1/sqrt(head_dim)")

    @model_validator(mode="after")
    def _heads(self) -> "SoftmaxAttention":
        if self.n_heads % self.n_kv_heads:
            raise rule_error(
                "n_kv_heads", "heads_not_divisible",
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})",
            )
        expected = attention_kind(self.n_heads, self.n_kv_heads)
        if self.kind != expected:
            raise rule_error(
                "kind", "attention_kind_mismatch",
                f"kind '{self.kind}' does not match {self.n_heads} query heads and "
                f"{self.n_kv_heads} KV heads: use '{expected}'",
            )
        return self

    @property
    def group_size(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads

    @property
    def value_dim(self) -> int:
        """Dims per value head: ``v_head_dim``, or ``head_dim`` when not set."""
        return self.v_head_dim or self.head_dim


def attention_kind(n_heads: int, n_kv_heads: int) -> str:
    """The conventional name of a head layout: MHA, MQA or GQA."""
    if n_kv_heads == n_heads:
        return "mha"
    return "mqa" if n_kv_heads == 1 else "gqa"


class Indexer(Strict):
    """DeepSeek Sparse Attention's lightning indexer: scores past tokens with its own small heads and lets
    attention see only the ``topk`` best (DeepSeek-V3.2, GLM-5; DeepSeek-V4 scores compressed entries)."""

    n_heads: PositiveInt = Field(description="Indexer heads (index_n_heads)")
    head_dim: PositiveInt = Field(description="Indexer head width (index_head_dim); its key is cached per token")
    topk: PositiveInt = Field(description="Tokens (DeepSeek-V4: compressed entries) each query attends to (index_topk)")
    shared: bool = Field(False, description="Reuses the previous indexer layer's selection: no indexer weights or "
                         "indexer cache of its own (GLM-5 indexer_types 'shared')")


class LatentAttention(Strict):
    """Multi-head latent attention (DeepSeek-V2/V3): K and V are decompressed from a low-rank latent.

    Each head's query/key is a ``qk_nope_head_dim`` part without positions plus a ``qk_rope_head_dim``
    part with RoPE; the RoPE key part is shared by all heads. The cache holds the latent
    (``kv_lora_rank``) plus the shared RoPE key, not full K and V.
    """

    kind: Literal["mla"]
    n_heads: PositiveInt
    q_lora_rank: PositiveInt | None = Field(description="Rank of the query compression; null = full q_proj")
    kv_lora_rank: PositiveInt = Field(description="Width of the compressed KV latent")
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt
    bias: bool = Field(False, description="Bias on the down-projections and o_proj (attention_bias)")
    indexer: Indexer | None = Field(None, description="Sparse-attention indexer (DSA); null = dense attention")
    rope: Rope | None
    window: PositiveInt | None = None
    softcap: float | None = None
    scale: float | None = None


class GatedDeltaNet(Strict):
    """Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5): a fixed-size state per value head, updated by
    the gated delta rule, instead of a cache that grows with the context.

    q, k and v are projected, passed through a short causal depthwise convolution (silu) and q, k are
    L2-normalised; per value head, β = σ(b) sets how strongly a token is written and
    g = −exp(A_log) · softplus(a + dt_bias) how fast the state decays. The read-out is RMS-normed (one weight of
    ``v_head_dim``) and gated by silu(z) before ``out_proj``. Each key head serves
    ``n_v_heads / n_k_heads`` value heads.
    """

    kind: Literal["gated_deltanet"]
    n_k_heads: PositiveInt = Field(description="Query/key heads (linear_num_key_heads)")
    n_v_heads: PositiveInt = Field(description="Value heads, each with its own state (linear_num_value_heads)")
    k_head_dim: PositiveInt = Field(description="Dims per query/key head (linear_key_head_dim)")
    v_head_dim: PositiveInt = Field(description="Dims per value head (linear_value_head_dim)")
    conv_kernel: PositiveInt = Field(
        description="Width of the causal depthwise convolution over q, k and v (linear_conv_kernel_dim)")
    fused_projections: bool = Field(
        False, description="q, k, v, z in one in_proj_qkvz and b, a in one in_proj_ba (Qwen3-Next); false: "
        "in_proj_qkv, in_proj_z, in_proj_b, in_proj_a (Qwen3.5); the same parameters either way")

    @model_validator(mode="after")
    def _heads(self) -> "GatedDeltaNet":
        if self.n_v_heads % self.n_k_heads:
            raise rule_error(
                "n_k_heads", "heads_not_divisible",
                f"n_v_heads ({self.n_v_heads}) must be a multiple of n_k_heads ({self.n_k_heads})",
            )
        return self

    @property
    def conv_dim(self) -> int:
        """Channels of the convolution: q, k and v side by side (conv_dim in the reference code)."""
        return 2 * self.n_k_heads * self.k_head_dim + self.n_v_heads * self.v_head_dim


class CompressedAttention(Strict):
    """DeepSeek-V4's attention: all query heads share one KV head whose key is also its value.

    Every layer attends to the last ``window`` tokens uncompressed; a compressing layer also attends to
    one KV entry per ``ratio`` earlier tokens (a learned softmax-gated pooling of the block's tokens).
    With ``overlap`` (compressed sparse attention, CSA) each entry pools two adjacent blocks and an
    ``indexer`` picks the ``topk`` entries a query sees; without (heavily compressed attention, HCA)
    it sees every entry. Queries pass a low-rank ``q_lora_rank`` bottleneck; the output is projected
    per group of heads to ``o_lora_rank`` dims, then mixed to ``d_model``.
    """

    kind: Literal["compressed"]
    n_heads: PositiveInt = Field(description="Query heads (num_attention_heads); one shared KV head, K = V")
    head_dim: PositiveInt = Field(description="Dims per head and per KV entry (head_dim)")
    q_lora_rank: PositiveInt = Field(description="Rank of the query compression (q_lora_rank)")
    o_groups: PositiveInt = Field(description="Head groups of the grouped output projection (o_groups)")
    o_lora_rank: PositiveInt = Field(
        description="Dims each head group is projected to before the output mix (o_lora_rank)")
    window: PositiveInt = Field(description="Recent tokens attended uncompressed (sliding_window)")
    ratio: PositiveInt | None = Field(
        None, description="Tokens pooled into one compressed KV entry (compress_rates of the layer type); "
        "null = window only (sliding_attention)")
    overlap: bool = Field(False, description="Each entry pools two overlapping blocks, from two series of "
                          "projections per token (compressed_sparse_attention)")
    indexer: Indexer | None = Field(None, description="Lightning indexer picking the top-k compressed entries "
                                    "(compressed_sparse_attention); null = every entry")
    sinks: bool = Field(False, description="Learned per-head attention sink logits")
    rope: Rope | None = Field(description="RoPE on the last dims of each head: rope_theta in window-only layers, "
                              "compress_rope_theta with rope_scaling in compressing ones")

    @model_validator(mode="after")
    def _compression(self) -> "CompressedAttention":
        if (self.overlap or self.indexer) and self.ratio is None:
            raise rule_error("ratio", "block_wiring", "overlap and indexer need a compression ratio")
        if self.indexer and not self.overlap:
            raise rule_error("overlap", "block_wiring", "an indexer goes with overlapping compression (CSA)")
        if (self.n_heads * self.head_dim) % self.o_groups:
            raise rule_error("o_groups", "block_wiring",
                             f"n_heads × head_dim ({self.n_heads * self.head_dim}) must split into "
                             f"{self.o_groups} groups")
        return self

    @property
    def n_kv_heads(self) -> int:
        """One KV head, shared by every query head (DeepseekV4Attention: num_key_value_groups = n_heads)."""
        return 1


class Mamba2(Strict):
    """A Mamba-2 state-space mixer (SSD; Nemotron-H's ``NemotronHMamba2Mixer``).

    ``in_proj`` makes, per token, the gate ``z`` (n_heads × head_dim), the convolved stream ``xBC``
    (the inner x plus B and C, one pair of ``d_state`` vectors per group) and one time step per head;
    a causal depthwise convolution runs over ``xBC``; each head's state (head_dim × d_state) decays by
    exp(Δ·A) and takes in Δ·B·x, and is read out by C plus a skip D·x; a gated RMSNorm (gate applied
    before the norm, in n_groups groups) and ``out_proj`` bring it back to d_model. A, D and the Δ bias
    are one number per head. The state does not grow with the context.
    """

    kind: Literal["mamba2"]
    n_heads: PositiveInt = Field(description="SSM heads (mamba_num_heads); each has its own A, D and time step")
    head_dim: PositiveInt = Field(description="Channels per SSM head (mamba_head_dim); n_heads × head_dim is the "
                                  "inner width (intermediate_size in the code)")
    n_groups: PositiveInt = Field(description="Groups of heads sharing one B and one C (n_groups); also the groups "
                                  "of the gated RMSNorm")
    d_state: PositiveInt = Field(description="State size per channel: the width of B and C (ssm_state_size)")
    conv_kernel: PositiveInt = Field(description="Width of the causal depthwise convolution over x, B and C "
                                     "(conv_kernel)")
    conv_bias: bool = Field(True, description="Bias on the convolution (use_conv_bias)")
    bias: bool = Field(False, description="Bias on in_proj and out_proj (Nemotron-H: use_bias)")
    chunk_size: PositiveInt | None = Field(
        None, description="Tokens per chunk of the chunked scan a prompt is processed in (chunk_size); no effect on "
        "weights or state")

    @property
    def inner(self) -> int:
        """``intermediate_size = n_heads × head_dim``: the width of x, z and y."""
        return self.n_heads * self.head_dim

    @property
    def conv_dim(self) -> int:
        """``conv_dim = intermediate_size + 2 × n_groups × d_state``: channels of the convolution (x, B, C)."""
        return self.inner + 2 * self.n_groups * self.d_state


class Mamba(Strict):
    """Mamba-1 selective state-space mixer (Mamba, Falcon-Mamba): no attention, a fixed state per sequence.

    ``in_proj`` widens d_model to 2 × d_inner (x and the gate z); x runs through a depthwise causal
    conv of ``conv_kernel`` and the activation (hidden_act, SiLU); ``x_proj`` gives Δ (rank ``dt_rank``, widened by ``dt_proj``), B and
    C (``d_state`` each); the selective scan keeps a d_inner × d_state state; y ⊙ SiLU(z) → ``out_proj``.
    """

    kind: Literal["mamba"]
    d_inner: PositiveInt = Field(description="Inner width (intermediate_size; expand × hidden_size when absent)")
    d_state: PositiveInt = Field(description="SSM state per inner channel (state_size)")
    dt_rank: PositiveInt = Field(
        description="Rank of the Δ projection (time_step_rank; 'auto' = ceil(hidden_size / 16))")
    conv_kernel: PositiveInt = Field(description="Length of the depthwise causal convolution (conv_kernel)")
    conv_bias: bool = Field(True, description="Bias on the convolution (use_conv_bias)")
    bias: bool = Field(False, description="Bias on in_proj and out_proj (use_bias)")
    bc_dt_norm_eps: float | None = Field(
        None, gt=0, description="Weightless RMS norms of B, C and Δ before the scan, with this eps (Falcon-Mamba "
        "mixer_rms_eps); null = none (Mamba)")


class ShortConv(Strict):
    """LFM2's gated short convolution: ``in_proj`` (d_model → 3 × d_model) gives B, C and x;
    y = ``out_proj``(C ⊙ conv(B ⊙ x)) with a depthwise causal conv of ``conv_kernel`` taps at d_model width."""

    kind: Literal["short_conv"]
    conv_kernel: PositiveInt = Field(description="Length of the depthwise causal convolution (conv_L_cache)")
    bias: bool = Field(False, description="Bias on in_proj, the convolution and out_proj (conv_bias)")


Mixer = Annotated[Union[SoftmaxAttention, LatentAttention, GatedDeltaNet, CompressedAttention, Mamba2, Mamba, ShortConv],
                  Field(discriminator="kind")]


def kind_tags(union: Any) -> frozenset[str]:
    """The ``kind`` values of a discriminated union (``Mixer`` → mha, gqa, …, mamba2, short_conv): the tags
    pydantic inserts into error locations."""
    members = typing.get_args(typing.get_args(union)[0])  # Annotated[Union[...], Field] → the member classes
    return frozenset(tag for cls in members for tag in cls.model_fields["kind"].annotation.__args__)


# --- feed-forward ----------------------------------------------------------------------------

Activation = Annotated[
    Literal["silu", "gelu", "gelu_tanh", "relu", "relu2", "swish_clamped", "silu_clamped"],
    Field(description="gelu_tanh: tanh-approximated GELU (gelu_new, gelu_pytorch_tanh); swish_clamped: "
          "x·σ(1.702x) on clamped inputs with (up + 1), gpt-oss's SwiGLU variant; silu_clamped: SwiGLU with the gate "
          "capped at swiglu_limit and up clamped to ±swiglu_limit (DeepSeek-V4)"),
]


class Mlp(Strict):
    """A dense feed-forward: gated (SwiGLU, GeGLU: gate, up, down) or plain (up, down)."""

    kind: Literal["mlp"]
    d_ff: PositiveInt = Field(description="Hidden width")
    activation: Activation
    gated: bool = Field(description="gate ⊙ act(up) with three matrices, or act(up) with two")
    bias: bool = False


class Router(Strict):
    """How a token picks its experts."""

    scoring: Literal["softmax", "sigmoid", "sqrtsoftplus"] = Field(
        "softmax",
        description="Score function on the router logits (scoring_func; sqrtsoftplus: √softplus, DeepSeek-V4)")
    hash: bool = Field(False, description="Experts picked by a frozen token id → experts table (tid2eid), not by the "
                       "scores, which only weight them (DeepSeek-V4 hash_moe layers)")
    bias: bool = Field(False, description="Learned bias on the router logits (gpt-oss)")
    correction_bias: bool = Field(
        False, description="Per-expert bias added for selection only (DeepSeek-V3 aux-loss-free balancing)"
    )
    n_groups: PositiveInt | None = Field(None, description="Expert groups for grouped top-k")
    topk_groups: PositiveInt | None = Field(None, description="Groups a token may pick from")
    normalize_topk: bool = Field(True, description="Renormalise the top-k weights to sum to one")
    scale: bool = Field(False, description="Learned scale on the router input and per-expert scale on the weights "
                        "(Gemma 4)")
    weight_scale: float = Field(1.0, gt=0, description="Multiplier on the routing weights (routed_scaling_factor)")


class Moe(Strict):
    """A mixture-of-experts feed-forward: a router picks ``top_k`` of ``n_experts`` per token."""

    kind: Literal["moe"]
    n_experts: PositiveInt
    top_k: PositiveInt = Field(description="Experts active per token")
    d_expert: PositiveInt = Field(description="Hidden width of one expert")
    activation: Activation
    gated: bool = True
    expert_bias: bool = Field(False, description="Biases inside each expert (gpt-oss)")
    n_shared_experts: int = Field(0, ge=0, description="Experts every token always uses")
    d_shared: PositiveInt | None = Field(None, description="Hidden width of the shared expert MLP")
    shared_gate: bool = Field(False, description="Sigmoid gate on the shared expert output (Qwen2-MoE)")
    shared_bias: bool = Field(False, description="Biases in the shared expert MLP (DeepSeek-V2 mlp_bias)")
    dense_mlp: PositiveInt | None = Field(
        None, description="Width of a dense gated MLP that runs beside the experts on every token; the two outputs "
        "are normed and added (Gemma 4)")
    d_latent: PositiveInt | None = Field(
        None, description="Routed experts work in a latent of this width: projected down before them and back up "
        "after (moe_latent_size; Nemotron-H fc1_latent_proj / fc2_latent_proj); null = they read d_model")
    latent_bias: bool = Field(False, description="Biases on the two latent projections (Nemotron-H mlp_bias)")
    router: Router = Router()

    @model_validator(mode="after")
    def _experts(self) -> "Moe":
        if self.top_k > self.n_experts:
            raise rule_error(
                "top_k", "too_many_active_experts",
                f"top_k ({self.top_k}) must be at most n_experts ({self.n_experts})",
            )
        if (self.n_shared_experts > 0) != (self.d_shared is not None):
            raise rule_error(
                "d_shared", "shared_expert_width",
                "d_shared is required exactly when n_shared_experts > 0",
            )
        return self


Ffn = Annotated[Union[Mlp, Moe], Field(discriminator="kind")]
KIND_TAGS = kind_tags(Mixer) | kind_tags(Ffn)  # every discriminator tag a validation error's loc may carry


# --- blocks and the whole model -------------------------------------------------------------


class Norm(Strict):
    """The normalisation layer used throughout the model."""

    kind: Literal["rmsnorm", "layernorm"]
    eps: float = Field(gt=0)
    bias: bool = Field(False, description="LayerNorm with a learned bias")


class Block(Strict):
    """One kind of decoder layer: a token mixer and/or a feed-forward, with its norms and residuals."""

    mixer: Mixer | None = None
    ffn: Ffn | None = None
    norm_placement: Literal["pre", "post", "sandwich"] = Field(
        "pre",
        description="pre: norm → sublayer → add (Llama); post: sublayer → norm → add (OLMo 2); "
        "sandwich: norm → sublayer → norm → add (Gemma 2/3)",
    )
    parallel: bool = Field(False, description="Mixer and FFN read the same input and are added together")
    shared_norm: bool = Field(False, description="With parallel: one norm feeds both (GPT-J, Cohere)")

    @model_validator(mode="after")
    def _parts(self) -> "Block":
        if self.mixer is None and self.ffn is None:
            raise rule_error("mixer", "empty_block", "a block needs a mixer, an ffn or both")
        if self.shared_norm and not self.parallel:
            raise rule_error("shared_norm", "block_wiring", "shared_norm is only meaningful with parallel: true")
        if self.parallel and (self.mixer is None or self.ffn is None):
            raise rule_error("parallel", "block_wiring", "parallel needs both a mixer and an ffn")
        return self


class Embedding(Strict):
    """Token (and learned position) embeddings and the output head."""

    tied: bool = Field(description="The output head reuses the token embedding matrix")
    scaled: bool = Field(False, description="Embeddings multiplied by sqrt(d_model) (Gemma)")
    learned_positions: PositiveInt | None = Field(
        None, description="Rows of a learned absolute position table (GPT-2); null without one"
    )
    head_bias: bool = Field(False, description="Bias on the output head (GPT-J)")
    logit_softcap: float | None = Field(None, gt=0, description="tanh soft-capping of final logits")
    logit_scale: float | None = Field(None, gt=0, description="Constant multiplied into logits (Cohere)")


_TERM = re.compile(r"(?:(?P<name>[A-Za-z_][\w\-]*)|\((?P<group>[^()]*)\))(?:\s*\*\s*(?P<n>\d+))?")
MAX_LAYERS = 1024  # more than any real model; a compact pattern may not expand beyond it


def expand_layers(value: Any) -> Any:
    """Expand the compact layer forms accepted on input into the explicit per-layer list.

    ``"dense*3, moe*58"`` → 3 × dense then 58 × moe; ``"(sliding*5, full)*8"`` → the group 8 times;
    a list may mix plain names and ``name*N`` items. Anything else is returned unchanged for
    pydantic to report. A pattern that expands beyond :data:`MAX_LAYERS` layers is refused before
    it is expanded.
    """
    if isinstance(value, str):
        items = _split_top(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        return value
    out: list[str] = []
    for item in items:
        m = _TERM.fullmatch(item.strip())
        if not m:
            shown = item if len(item) <= 40 else item[:37] + "..."
            raise ValueError(f"cannot read layer pattern item {shown!r}: use 'name', 'name*N' or '(a, b)*N'")
        part = expand_layers(m["group"]) if m["group"] is not None else [m["name"]]
        n = int(m["n"] or 1) if len(m["n"] or "") < 8 else MAX_LAYERS + 1  # no int() of a million digits
        if len(out) + len(part) * n > MAX_LAYERS:
            raise ValueError(f"the layer pattern expands to more than {MAX_LAYERS:,} layers")
        out.extend(part * n)
    return out


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in (*parts, cur) if p.strip()]


class HyperConnections(Strict):
    """Manifold-constrained hyper-connections (mHC, DeepSeek-V4): the residual is kept as ``streams`` copies.

    Around every sublayer, weights computed from the streams collapse them into the sublayer's input,
    spread its output back over the streams, and mix the streams by a doubly-stochastic matrix; a
    final hyper-head collapses them before the last norm.
    """

    streams: PositiveInt = Field(description="Parallel residual streams (hc_mult)")
    sinkhorn_iters: PositiveInt = Field(description="Sinkhorn-Knopp iterations that make the mixing matrix doubly "
                                        "stochastic (hc_sinkhorn_iters)")


class Arch(Strict):
    """The architecture, as the reference implementation builds it from config.json."""

    d_model: PositiveInt = Field(description="Residual stream width (hidden_size)")
    n_layers: PositiveInt
    vocab_size: PositiveInt
    context_length: PositiveInt | None = Field(
        description="Maximum positions (max_position_embeddings); null when the config sets no limit "
        "(attention-free Falcon-Mamba)")
    norm: Norm
    embedding: Embedding
    final_norm: bool = Field(True, description="A norm after the last layer, before the head")
    hyper_connections: HyperConnections | None = Field(
        None, description="Residual kept as several mixed streams (DeepSeek-V4 hc_mult); null = one plain residual")
    mtp_layers: int = Field(
        0, ge=0, description="Multi-token-prediction modules the checkpoint carries but transformers does not build "
        "(DeepSeek-V3 num_nextn_predict_layers); counted apart from total_params")
    layers: Annotated[list[str], Field(min_length=1, description="Block kind of every layer, in order")]
    blocks: dict[str, Block] = Field(min_length=1, description="Each block kind named in layers")

    @field_validator("layers", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_layers(value)

    @model_validator(mode="after")
    def _layers(self) -> "Arch":
        if len(self.layers) != self.n_layers:
            raise rule_error(
                "layers", "layer_count",
                f"layers lists {len(self.layers)} layers but n_layers is {self.n_layers}",
            )
        unknown = sorted(set(self.layers) - set(self.blocks))
        if unknown:
            raise rule_error(
                "layers", "unknown_block_kind",
                f"layers names block kinds not defined in blocks: {', '.join(unknown)}",
            )
        unused = sorted(set(self.blocks) - set(self.layers))
        if unused:
            raise rule_error("blocks", "unused_block_kind", f"blocks defines kinds no layer uses: {', '.join(unused)}")
        return self

    def layer_counts(self) -> dict[str, int]:
        """How many layers of each block kind, in order of first appearance."""
        counts: dict[str, int] = {}
        for kind in self.layers:
            counts[kind] = counts.get(kind, 0) + 1
        return counts


class Source(Strict):
    """Where the architecture was read from."""

    hf_repo: str = Field(pattern=r"^[\w.\-]+/[\w.\-]+$", description="Hugging Face Hub repo id")
    revision: str | None = Field(None, pattern=r"^[0-9a-f]{40}$", description="Commit sha, when known")
    config: str = Field(description="Vendored config.json, relative to the spec file")
    model_type: str = Field(description="config.json model_type")
    transformers_class: str = Field(description="The transformers class that builds the counted model")
    text_config: bool = Field(False, description="Counted from text_config of a multimodal wrapper")


class Note(Strict):
    """One thing that is distinctive, and where the reference code shows it."""

    text: str = Field(min_length=1)
    ref: str = Field(
        min_length=1,
        description="File and class/function in transformers, e.g. "
        "'models/llama/modeling_llama.py: LlamaDecoderLayer'",
    )


class Spec(Strict):
    """One model of the gallery."""

    model_config = ConfigDict(title="LLM Architecture Gallery spec", extra="forbid", strict=True, frozen=True)

    slug: str = Field(pattern=SLUG_RE, description="Stable id; equals the file name without .yaml")
    name: str = Field(min_length=1, description="Display name")
    family: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    release_date: dt.date | None = None
    licence: str | None = None
    source: Source
    arch: Arch
    notes: list[Note] = []

    @field_validator("release_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        # YAML loads an unquoted 2024-07-23 as a date; a quoted one arrives as a string.
        return dt.date.fromisoformat(value) if isinstance(value, str) else value


def json_schema() -> dict:
    """The JSON Schema of a spec file, for editors (yaml-language-server) and other tools."""
    schema = Spec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
