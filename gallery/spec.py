"""The architecture spec: one pydantic v2 model per part of a decoder-only language model.

A spec has three parts:

* curated facts a config lacks (display name, organisation, release date, licence, published sizes, notes);
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
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PositiveInt, field_validator, model_validator

from .altup import AltUp
from .axial import AxialPositions
from .block_attn_residual import BlockAttnResidual, check as check_attn_residual
from .byte_latent import ByteLatent, check as check_byte_latent
from .hash_ngrams import HashNgrams
from .draft_head import DraftHead, reads_target
from .hyper import HyperConnections
from .ngram_embedding import NgramEmbedding
from .kinds import FFNS, MIXERS, mixer_kind, schema_classes, union
from .gated_norm import GatedNorm
from .kinds.relative_bias import check as check_relative_bias
from .laurel import Laurel
from .recurrent_stacks import RecurrentStacks, check as check_stacks
from .kinds.softmax import SoftmaxAttention, attention_kind  # noqa: F401  (attention_kind: read by gallery.derive)
from .sharedblock import SharedBlock, SharedUse, check as check_shared
from .specbase import Activation, Indexer, Rope, RopeScaling, Strict, rule_error  # noqa: F401  (the spec's parts)

SLUG_RE = r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$"

# --- token mixers and feed-forwards: one schema class per kind module in gallery/kinds/ -----------

Mixer = union(MIXERS)
Ffn = union(FFNS)


KIND_TAGS = frozenset(tag for k in MIXERS + FFNS for tag in k.tags)  # every tag a validation error's loc may carry


def __getattr__(name: str) -> type:
    """The kinds' schema classes (``gallery.spec.Moe``, ...), importable from here as from their modules."""
    try:
        return schema_classes()[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


# --- blocks and the whole model -------------------------------------------------------------


class Norm(Strict):
    """The normalisation layer used throughout the model."""

    kind: Literal["rmsnorm", "layernorm"]
    eps: float = Field(gt=0)
    bias: bool = Field(False, description="LayerNorm with a learned bias")
    weights: bool = Field(True, description="Learned weights (and bias); false: non-parametric norms that only "
                          "normalise (OLMo's OlmoLayerNorm)")
    final_bias: bool = Field(True, description="With bias: the final norm has one too; false: only the layers' norms "
                             "do (xLSTM's out_norm, an xLSTMRMSNorm built without use_bias)")

    def label(self) -> str:
        """The norm in words: RMSNorm, LayerNorm (bias), LayerNorm (no weights)."""
        name = "RMSNorm" if self.kind == "rmsnorm" else "LayerNorm"
        return name + (" (no weights)" if not self.weights else " (bias)" if self.bias else "")


class ResidualScale(Strict):
    """Weights of the residual add around one sublayer, x = residual · r + output · f(…) (MiniMax-01's alpha and beta
    factors: ``MiniMaxDecoderLayer``); they change no parameter count."""

    residual: float = Field(description="Multiplies what the residual carries (full_attn_alpha_factor, "
                            "linear_attn_alpha_factor, mlp_alpha_factor)")
    output: float = Field(description="Multiplies the sublayer's output (full_attn_beta_factor, "
                          "linear_attn_beta_factor, mlp_beta_factor)")


class Block(Strict):
    """One kind of decoder layer: a token mixer and/or a feed-forward, with its norms and residuals."""

    mixer: Mixer | None = None
    parallel_mixer: Mixer | None = Field(
        None, description="A second token mixer beside mixer: both read the same normed input and their outputs are "
        "added before the residual (Falcon-H1: attention beside its state-space mixer); null = one mixer")
    ffn: Ffn | None = None
    shared: SharedUse | None = Field(None, description="A shared block this layer runs before its mixer, its output "
                                     "added to the mixer's input (Zamba's hybrid layers); null = none")
    norm_placement: Literal["pre", "post", "sandwich", "post_residual"] = Field(
        "pre",
        description="pre: norm → sublayer → add (Llama); post: sublayer → norm → add (OLMo 2); "
        "sandwich: norm → sublayer → norm → add (Gemma 2/3); post_residual: sublayer → add → norm, the norm reads "
        "the residual sum and its output is the stream the next sublayer reads (the original Transformer's post-LN: "
        "GPT-1)",
    )
    parallel: bool = Field(False, description="Mixer and FFN read the same input and are added together")
    shared_norm: bool = Field(False, description="With parallel: one norm feeds both (GPT-J, Cohere)")
    residual_from_norm: bool = Field(
        False, description="With pre norms: the residual carries each sublayer's normed input, not its input, "
        "x = norm(x) + f(norm(x)) (MiniMax-01)")
    mixer_scale: ResidualScale | None = Field(None, description="Weights of the residual add after the mixer; null: "
                                              "a plain x + mixer(x)")
    ffn_scale: ResidualScale | None = Field(None, description="Weights of the residual add after the ffn; null: a "
                                            "plain x + ffn(x)")
    mixer_norm: bool = Field(True, description="With pre norms: false leaves out the norm before the mixer, which reads "
                             "the stream as it is (ModernBERT decoder's layer 0: attn_norm is nn.Identity, the "
                             "embedding norm's output goes straight in)")
    gated_norm: GatedNorm | None = Field(None, description="A low-rank sigmoid gate after the norm before the mixer "
                                         "(and the ffn): y · σ(fc2(silu(fc1 y))) (A.X-K2 AXK2GatedRMSNorm); null = "
                                         "plain norms")
    learned_residual: Literal["scale_bias", "residual_scale"] | None = Field(
        None, description="Learned weights on each residual add: 'scale_bias', (x + b_r) · s_r + (f(x) + b_y) · s_y "
        "with four vectors of d_model (ZAYA ZayaResidualScaling); 'residual_scale', w ⊙ x + f(x) with one (Doge "
        "input_residual, post_attention_residual); null = a plain x + f(x)")
    tanh_gated: bool = Field(False, description="Each sublayer's output is scaled by tanh of a learned scalar before "
                             "its residual add, x = x + tanh(g) · f(x) (Mllama's layers that attend to the image: "
                             "cross_attn_attn_gate and cross_attn_mlp_gate, zero at init)")
    sublayer_pairs: PositiveInt = Field(
        1, description="The mixer → ffn pair runs this many times in one layer, each time with weights of its own "
        "(LongCat-Flash: 2, LongcatFlashDecoderLayer; its config's num_hidden_layers counts the pairs)")
    shortcut: Ffn | None = Field(
        None, description="A feed-forward beside the first pair's ffn: it reads the same normed input and its output "
        "is added to the residual at the layer's end, after the last pair (LongCat-Flash's shortcut MoE); null = none")
    ngram_embedding: bool = Field(False, description="The layer adds the model's hashed n-gram embedding to its "
                                  "streams before the mixer (Qwen4-Exp ple_layer_ids; arch.ngram_embedding)")
    sublayer_conv: PositiveInt | None = Field(
        None, description="Each sublayer's output y becomes y + conv(y) before the residual add, a depthwise causal "
        "convolution of this many taps at d_model (Inkling attn_sconv and mlp_sconv, conv_kernel_size); null = none")
    sublayer_conv_scaled: bool = Field(False, description="With sublayer_conv: (y + conv(y)) / √(taps + 1) (Inkling 2 "
                                       "post_attention_convolution, post_mlp_convolution)")

    @model_validator(mode="after")
    def _parts(self) -> "Block":
        if self.mixer is None and self.ffn is None:
            raise rule_error("mixer", "empty_block", "a block needs a mixer, an ffn or both")
        if self.sublayer_conv and self.parallel:
            raise rule_error("sublayer_conv", "block_wiring", "sublayer_conv needs a block that is not parallel")
        if self.shared_norm and not self.parallel:
            raise rule_error("shared_norm", "block_wiring", "shared_norm is only meaningful with parallel: true")
        if self.parallel and (self.mixer is None or self.ffn is None):
            raise rule_error("parallel", "block_wiring", "parallel needs both a mixer and an ffn")
        if self.learned_residual and (self.parallel or self.mixer_scale or self.ffn_scale or self.residual_from_norm):
            raise rule_error("learned_residual", "block_wiring", "learned_residual needs a block that is not parallel, "
                             "without residual_from_norm or constant residual scales")
        if self.tanh_gated and (self.parallel or self.mixer_scale or self.ffn_scale or self.residual_from_norm
                                or self.learned_residual):
            raise rule_error("tanh_gated", "block_wiring", "tanh_gated needs a block that is not parallel, without "
                             "residual_from_norm, learned_residual or constant residual scales")
        if self.parallel and (self.mixer_scale or self.ffn_scale):
            raise rule_error("mixer_scale", "block_wiring", "residual scales need a block that is not parallel")
        if self.residual_from_norm and (self.parallel or self.norm_placement != "pre"):
            raise rule_error("residual_from_norm", "block_wiring", "residual_from_norm needs norm_placement: pre "
                             "and no parallel block")
        if not self.mixer_norm and (self.mixer is None or self.parallel or self.norm_placement != "pre"):
            raise rule_error("mixer_norm", "block_wiring", "mixer_norm: false needs a mixer, norm_placement: pre and "
                             "no parallel block")
        if self.gated_norm and (self.norm_placement != "pre" or self.parallel or not self.mixer_norm
                                or self.mixer is None or (self.gated_norm.ffn and self.ffn is None)):
            raise rule_error("gated_norm", "block_wiring", "gated_norm gates pre norms: it needs norm_placement: pre, "
                             "a mixer with its norm, no parallel block, and an ffn when ffn is true")
        if self.parallel_mixer is not None and (self.mixer is None or self.parallel):
            raise rule_error("parallel_mixer", "block_wiring", "parallel_mixer goes beside a mixer, in a block that "
                             "is not parallel")
        if self.parallel_mixer is not None and (type(self.parallel_mixer) is type(self.mixer) or all(
                mixer_kind(m).fill == "attention" for m in self.mixers)):
            raise rule_error("parallel_mixer", "block_wiring", "parallel_mixer must be of another kind than mixer "
                             "(their weights would share names), and at most one of them attention")
        if (self.sublayer_pairs > 1 or self.shortcut is not None) and (
                self.mixer is None or self.ffn is None or self.parallel or self.parallel_mixer is not None
                or self.norm_placement != "pre"):
            raise rule_error("sublayer_pairs", "block_wiring", "sublayer_pairs and shortcut need a mixer and an ffn "
                             "one after the other with pre norms (no parallel block, no parallel_mixer)")
        return self

    @property
    def ffns(self) -> tuple:
        """The block's feed-forwards in code order: none, ``ffn``, or the ``shortcut`` and ``ffn``."""
        return tuple(f for f in (self.shortcut, self.ffn) if f is not None)

    @property
    def mixers(self) -> tuple:
        """The block's token mixers in code order: none, ``mixer``, or ``mixer`` and ``parallel_mixer``."""
        return tuple(m for m in (self.mixer, self.parallel_mixer) if m is not None)


class SinusoidalPositions(Strict):
    """Fixed sine and cosine position vectors added to the token embeddings: a buffer, no parameters."""

    offset: int = Field(0, ge=0, description="Rows of the table skipped before position 0 (XGLM: 2, fairseq's "
                        "padding_idx + 1; CTRL: 0)")


class HeadMlp(Strict):
    """A prediction head between the final norm and the output projection: dense d_model → d_model, an activation,
    then a norm of the model's kind (ModernBertDecoderPredictionHead)."""

    activation: Activation = Field(description="After the dense layer (classifier_activation)")
    bias: bool = Field(description="Bias on the dense layer (classifier_bias)")


class PromptRows(Strict):
    """Rows of the token table after the vocabulary, for prompt tokens the model prepends (CPM-Ant: prompt_types ×
    prompt_length, ``CpmAntModel.input_embedding``); the head keeps vocab_size rows."""

    types: int = Field(ge=0, description="Kinds of prompt (prompt_types)")
    length: int = Field(ge=0, description="Prompt tokens of each kind (prompt_length)")


class Embedding(Strict):
    """Token (and learned or sinusoidal position) embeddings and the output head."""

    tied: bool = Field(description="The output head reuses the token embedding matrix")
    scaled: bool = Field(False, description="Embeddings multiplied by sqrt(d_model) (Gemma)")
    multiplier: float | None = Field(None, gt=0, description="Embeddings multiplied by this constant (HRM "
                                     "embedding_scale, 1 / initializer_range by default); null = none")
    learned_positions: PositiveInt | None = Field(
        None, description="Rows of a learned absolute position table (GPT-2); null without one"
    )
    axial_positions: AxialPositions | None = Field(
        None, description="Learned positions factored over a grid of axes, one table per axis (Reformer "
        "axial_pos_embds); null without")
    sinusoidal_positions: SinusoidalPositions | None = Field(
        None, description="Fixed sinusoidal positions added to the token embeddings (XGLM, CTRL); null without")
    norm: bool = Field(False, description="A norm of the model's kind on the embeddings before the first layer "
                       "(BLOOM word_embeddings_layernorm)")
    head_bias: bool = Field(False, description="Bias on the output head (GPT-J)")
    extra_rows: int = Field(0, ge=0, description="Rows of the token table beyond vocab_size, which the untied head "
                            "does not have (Mllama: 8, MllamaTextModel.embed_tokens holds vocab_size + 8)")
    head_mlp: HeadMlp | None = Field(None, description="A prediction head (dense, activation, norm) before the output "
                                     "head (ModernBERT decoder); null without one")
    input_scale: bool = Field(False, description="The embeddings become (e + b) · s with two learned vectors of "
                              "d_model before the first layer (ZAYA input_hidden_states_scale and _bias)")
    prompt_rows: PromptRows | None = Field(None, description="Prompt rows after the vocabulary in the token table "
                                           "(CPM-Ant); null without")
    segments: PositiveInt | None = Field(None, description="Rows of a learned segment table (segments × d_model) whose "
                                         "row of each token's segment is added to its embedding (CPM-Ant "
                                         "segment_types); null without")
    hash_ngrams: HashNgrams | None = Field(None, description="Hashed n-gram rows added to each byte's embedding (BLT "
                                           "encoder_hash_tok_embedding); null without")
    logit_softcap: float | None = Field(None, gt=0, description="tanh soft-capping of final logits")
    logit_scale: float | None = Field(None, gt=0, description="Constant multiplied into logits (Cohere)")

    @model_validator(mode="after")
    def _one_position_scheme(self) -> "Embedding":
        if sum(map(bool, (self.learned_positions, self.sinusoidal_positions, self.axial_positions))) > 1:
            raise rule_error("sinusoidal_positions", "position_schemes",
                             "learned_positions, sinusoidal_positions and axial_positions exclude each other: give one")
        if self.extra_rows and (self.tied or self.prompt_rows):
            raise rule_error("extra_rows", "block_wiring", "extra_rows needs an untied head (a tied head would have "
                             "the table's rows too) and no prompt_rows")
        return self


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


class PerLayerEmbedding(Strict):
    """Per-layer input embeddings (PLE, Gemma 4 E-models): a second token table gives every layer a small input
    of its own.

    ``Gemma4TextModel``: a table of ``vocab_size`` rows × (n_layers × ``d_per_layer``) (one slice per layer) plus a
    projection of the embedded token d_model → n_layers × ``d_per_layer`` with a norm of ``d_per_layer``; their sum
    × 1/√2 is the layers' per-layer input. ``Gemma4TextDecoderLayer``, after the feed-forward: gate d_model →
    ``d_per_layer``, activation, × this layer's slice, projection back to d_model, norm, residual add.
    """

    d_per_layer: PositiveInt = Field(description="Width of each layer's input slice (hidden_size_per_layer_input)")
    vocab_size: PositiveInt = Field(description="Rows of the per-layer table (vocab_size_per_layer_input)")
    activation: Activation = Field(description="Applied to the layer's gate before the product (hidden_activation)")


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
        None, description="Residual kept as several streams with learned weights around each sublayer (DeepSeek-V4, HY-V4 "
        "hc_mult); null = one plain residual")
    reversible: bool = Field(False, description="Two residual streams, both the embeddings at first: each layer adds "
                             "attention(norm(X₂)) to X₁, then ffn(norm(Y₁)) to X₂; the final norm and the head read "
                             "both, 2 × d_model (Reformer's reversible layers)")
    per_layer_embedding: PerLayerEmbedding | None = Field(
        None, description="A per-layer input for every layer from a second token table (Gemma 4 E-models "
        "hidden_size_per_layer_input); null = none")
    ngram_embedding: NgramEmbedding | None = Field(
        None, description="Hashed n-gram embeddings that the layers whose block says ngram_embedding add to their "
        "streams (Qwen4-Exp's PLE, ple_layer_ids); null = none")
    altup: AltUp | None = Field(None, description="Residual kept as several streams, one computed per layer, the "
                                "others predicted and corrected (Gemma 3n AltUp, altup_num_inputs); null = none")
    laurel: Laurel | None = Field(None, description="A learned low-rank residual beside every layer's attention "
                                  "(Gemma 3n LAuReL, laurel_rank); null = none")
    byte_latent: ByteLatent | None = Field(
        None, description="Byte-level local encoder, local decoder and patcher around this stack, which then runs once "
        "per patch (BLT); null = none")
    draft_head: DraftHead | None = Field(
        None, description="A draft model's ends: the pre-projection of the target's token embedding and last hidden "
        "state, the post-projection back to the target's width, an optional centroid head (Gemma 4 assistants, "
        "backbone_hidden_size); its KV-shared layers read the target's K and V; null = not a draft model")
    block_attn_residual: BlockAttnResidual | None = Field(
        None, description="Each sublayer reads a learned query's attention over the block states instead of the "
        "residual stream (Inkling 2 n_layers_per_attn_res_block); null = a plain residual")
    mtp_layers: int = Field(
        0, ge=0, description="Multi-token-prediction modules the checkpoint carries but transformers does not build "
        "(DeepSeek-V3 num_nextn_predict_layers); counted apart from total_params")
    layers: Annotated[list[str], Field(min_length=1, description="Block kind of every layer, in order")]
    blocks: dict[str, Block] = Field(min_length=1, description="Each block kind named in layers")
    shared_blocks: dict[str, SharedBlock] = Field(
        {}, description="Blocks stored once and run by every layer whose block names them in shared (Zamba)")
    recurrent_stacks: RecurrentStacks | None = Field(
        None, description="The first half of layers is a low-level stack, the second a high-level one, each stored "
        "once and run in cycles (HRM L_module, H_module); null = every layer runs once")

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
        check_shared(self)
        check_relative_bias(self)
        check_byte_latent(self)
        check_stacks(self)
        check_attn_residual(self)
        return self

    @model_validator(mode="after")
    def _streams(self) -> "Arch":
        if self.hyper_connections and (self.altup or self.laurel):
            raise rule_error("hyper_connections", "block_wiring", "hyper_connections exclude altup and laurel: give "
                             "one way of keeping the residual")
        if self.reversible and (self.hyper_connections or self.altup or self.laurel or self.shared_blocks
                                or self.recurrent_stacks or self.block_attn_residual or self.ngram_embedding or any(
                b.mixer is None or b.ffn is None or b.parallel or b.parallel_mixer or b.norm_placement != "pre"
                or b.sublayer_pairs > 1 or b.shortcut or b.learned_residual or b.tanh_gated or b.mixer_scale
                or b.ffn_scale or b.residual_from_norm or b.sublayer_conv or b.gated_norm or b.shared
                for b in self.blocks.values())):
            raise rule_error("reversible", "block_wiring", "reversible needs blocks of a mixer then an ffn with pre "
                             "norms and plain residual adds, and no other way of keeping the residual")
        axial = self.embedding.axial_positions
        if axial and sum(axial.dims) != self.d_model:
            raise rule_error("embedding.axial_positions.dims", "axial_axes", f"the axial widths sum to "
                             f"{sum(axial.dims)}, not d_model ({self.d_model})")
        ngram_blocks = any(b.ngram_embedding for b in self.blocks.values())
        if ngram_blocks != bool(self.ngram_embedding) or (self.ngram_embedding and not (
                self.hyper_connections and self.hyper_connections.lowrank)):
            raise rule_error("ngram_embedding", "block_wiring", "ngram_embedding goes with low-rank hyper_connections "
                             "and with at least one block whose ngram_embedding is true (and only then)")
        if self.laurel and any(b.mixer is None or b.parallel or b.parallel_mixer for b in self.blocks.values()):
            raise rule_error("laurel", "block_wiring", "laurel goes beside the one mixer of every block (a block "
                             "without a mixer, parallel or with a parallel_mixer has none to go beside)")
        if (self.hyper_connections or self.per_layer_embedding or self.altup or self.laurel or self.shared_blocks) \
                and any(b.sublayer_pairs > 1 or b.shortcut for b in self.blocks.values()):
            raise rule_error("blocks", "block_wiring", "sublayer_pairs and shortcut do not go with hyper_connections, "
                             "per_layer_embedding, altup, laurel or shared_blocks (no model builds them together)")
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
    config: str = Field(pattern=r"^[\w./\-]+$", description="Vendored config.json, relative to the spec file")
    model_type: str = Field(description="config.json model_type")
    transformers_class: str = Field(pattern=r"^[A-Za-z_]\w*$",
                                    description="The transformers class that builds the counted model")
    text_config: bool = Field(False, description="Counted from text_config of a multimodal wrapper")


class Note(Strict):
    """One thing that is distinctive, and where the reference code shows it."""

    text: str = Field(min_length=1)
    ref: str = Field(
        min_length=1,
        description="File and class/function in transformers, e.g. "
        "'models/llama/modeling_llama.py: LlamaDecoderLayer'",
    )


class PublishedFigure(Strict):
    """One headline size as its publisher writes it, and what the publisher counts differently from the
    exact count (see ``gallery.published``)."""

    stated: str = Field(pattern=r"^\d+(\.\d+)?[MBT]$",
                        description="As written: 8B, 235B, 3.6B, 1T, 124M (the digits give the rounding)")
    leaves_out: list[Literal["embeddings", "head"]] = Field(
        [], description="Components of the exact count the figure leaves out (gpt-oss active: embeddings; "
        "GLM active: embeddings and head)")
    adds: list[Literal["vision", "mtp", "tied_head"]] = Field(
        [], description="What the figure counts beyond the language model transformers builds: the vision tower "
        "(published.vision_params), the multi-token-prediction modules (arch.mtp_layers), a tied output head "
        "counted a second time")


class Published(Strict):
    """The sizes the publisher states (model card, report, or the official name), with their source."""

    total: PublishedFigure | None = None
    active: PublishedFigure | None = None
    vision_params: PositiveInt | None = Field(
        None, description="Parameters of the vision tower and projector of a multimodal checkpoint, as "
        "transformers builds them (the full model less the language model); needed by adds: [vision]")
    source: str = Field(min_length=1, description="Where the figures are stated: the model card or report (URL "
                        "and words), or the official repo id when only the name states the size")

    @model_validator(mode="after")
    def _vision(self) -> "Published":
        if self.vision_params is None and any("vision" in f.adds for f in (self.total, self.active) if f):
            raise rule_error("vision_params", "published_parts",
                             "a figure adds the vision tower: give vision_params (full model less language model)")
        return self


class Spec(Strict):
    """One model of the gallery."""

    model_config = ConfigDict(title="LLM Architecture Gallery spec", extra="forbid", strict=True, frozen=True)

    slug: str = Field(pattern=SLUG_RE, description="Stable id; equals the file name without .yaml")
    name: str = Field(min_length=1, description="Display name")
    family: str = Field(min_length=1)
    organisation: str = Field(min_length=1)
    release_date: dt.date | None = None
    licence: str | None = None
    unconfirmed: dict[Literal["release_date", "licence", "config"], str] = Field(
        {}, description="Curated facts no vendored source (config, PROVENANCE, model card copy) confirms, each with "
        "what is known instead; the app marks them unconfirmed. config: the vendored config.json is not the Hub file "
        "verbatim (rebuilt from a public source); say from what")
    published: Published | None = Field(
        None, description="Headline sizes as the publisher states them; the app shows each next to the exact count")
    source: Source
    arch: Arch
    notes: list[Note] = []

    @field_validator("release_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        # YAML loads an unquoted 2024-07-23 as a date; a quoted one arrives as a string.
        return dt.date.fromisoformat(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _kv_producers(self) -> "Spec":
        """A KV-shared layer reads the K/V of an earlier layer that keeps its own of the same shape and span (a model's
        rule, not a layer's: the toy runs one KV-shared layer alone, on stand-in K/V). A draft model whose every layer
        reuses K/V reads the target model's (``gallery.draft_head``)."""
        if reads_target(self.arch):
            return self
        kept: set[tuple] = set()
        for i, kind in enumerate(self.arch.layers):
            m = self.arch.blocks[kind].mixer
            if not isinstance(m, SoftmaxAttention):
                continue
            shape = (m.n_kv_heads, m.head_dim, m.value_dim, m.window, m.chunk)
            if not m.kv_shared:
                kept.add(shape)
            elif shape not in kept:
                raise rule_error("arch.layers", "kv_shared_producer", f"layer {i} ({kind}) reuses K/V but no earlier "
                                 f"layer keeps its own of that shape ({m.n_kv_heads} KV heads of {m.head_dim}, window "
                                 f"{m.window or 'none'}): put such a layer before it, or set kv_shared: false")
        return self

    @model_validator(mode="after")
    def _mtp(self) -> "Spec":
        figures = (self.published.total, self.published.active) if self.published else ()
        if not self.arch.mtp_layers and any("mtp" in f.adds for f in figures if f):
            raise rule_error("published", "published_parts",
                             "a published figure adds MTP modules but arch.mtp_layers is 0")
        return self


def json_schema() -> dict:
    """The JSON Schema of a spec file, for editors (yaml-language-server) and other tools."""
    schema = Spec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
