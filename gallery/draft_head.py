"""The ends of a draft model (Gemma 4 assistants): what it reads from its target model and what it gives back.

Follows ``Gemma4AssistantForCausalLM`` and ``Gemma4AssistantMaskedEmbedder`` (``models/gemma4_assistant/
modeling_gemma4_assistant.py``; ``Gemma4UnifiedAssistantForCausalLM`` is the same class) and
``SinglePositionMultiTokenCandidateGenerator`` (``generation/candidate_generator.py``), which runs it. The draft
never embeds a token itself: its input is the target model's embedding of the last token beside the target's last
hidden state, ``2 × backbone_d_model`` wide, brought to its own ``d_model`` by ``pre_projection``. Its layers (a
Gemma 4 text stack) reuse the target's keys and values: every layer is KV-shared and reads the K and V the target's
last layer of its type stored (``shared_kv_states``), so the draft caches nothing of its own. After the final norm,
``post_projection`` takes the hidden state back to ``backbone_d_model`` (the next draft step's hidden state) and the
head (tied to the draft's token table) gives the logits; with ``use_ordered_embeddings`` a centroid layer
(``d_model → centroids``) picks the ``centroid_top_k`` best clusters of ``vocab_size / centroids`` tokens and only
those tokens' logits are computed.

Owns the schema, the weights (count terms, declared once), the head's multiplies for the FLOPs, the cache caption
and the diagram's and compare table's words; :mod:`gallery.counts`, :mod:`gallery.flops`, :mod:`gallery.memory`,
:mod:`gallery.diagram` and :mod:`gallery.compare` wire them in.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from .layercache import LayerCache
from .specbase import Strict, rule_error
from .terms import Term, Weight, weight

COMPONENT = "draft_head"


class DraftHead(Strict):
    """A draft model's input and output projections and its optional centroid head (Gemma 4 assistants)."""

    backbone_d_model: PositiveInt = Field(
        description="The target model's hidden size (backbone_hidden_size): the draft reads the target's token "
        "embedding and last hidden state, 2 × this, and gives back a hidden state of this width")
    centroids: PositiveInt | None = Field(
        None, description="Clusters of the ordered-embedding head (num_centroids, when use_ordered_embeddings); "
        "null = the full output head")
    centroid_top_k: PositiveInt | None = Field(
        None, description="Clusters whose tokens get logits (centroid_intermediate_top_k); with centroids only")

    @model_validator(mode="after")
    def _pair(self) -> "DraftHead":
        if (self.centroids is None) != (self.centroid_top_k is None):
            raise rule_error("centroid_top_k", "block_wiring", "centroids and centroid_top_k go together: give both "
                             "(an ordered-embedding head) or neither")
        return self


def weights(d: tuple[str, int], h: DraftHead) -> list[Weight]:
    """In build order: pre_projection (2 × backbone_d_model → d_model), post_projection (d_model →
    backbone_d_model), the centroid layer (d_model → centroids) of the masked embedder."""
    b = ("backbone_d_model", h.backbone_d_model)
    out = [weight(COMPONENT, "pre_projection", ("2", 2), b, d, shape=(2 * b[1], d[1])),
           weight(COMPONENT, "post_projection", d, b)]
    if h.centroids:
        out.append(weight(COMPONENT, "masked_embedding.centroids", d, ("centroids", h.centroids)))
    return out


def model_terms(arch) -> list[Term]:
    """The draft head's count terms (none for a model that is not a draft)."""
    h = arch.draft_head
    return [w.term("model") for w in weights(("d_model", arch.d_model), h)] if h else []


def reads_target(arch) -> bool:
    """True for a draft whose every attention layer reuses K/V: no layer keeps its own, so each reads what the target
    model's last layer of its type stored (a draft with layers of its own K/V reads theirs, as any KV-shared layer)."""
    mixers = [arch.blocks[k].mixer for k in arch.layers]
    return arch.draft_head is not None and all(getattr(m, "kv_shared", False) for m in mixers)


TARGET_KV = "the target model's last layer of this type (shared_kv_states), after its norms and RoPE"
"""Where a KV-shared layer of a draft that reads the target finds its K and V (the trace's words)."""


def head_rows(arch) -> int:
    """Vocabulary rows one token's logits multiply: all of them, or with centroids the top-k clusters' tokens
    (``vocab_size // centroids`` each)."""
    h = arch.draft_head
    if h is None or not h.centroids:
        return arch.vocab_size
    return min(h.centroid_top_k, h.centroids) * (arch.vocab_size // h.centroids)  # topk needs k ≤ centroids to run


def cache(arch, c: LayerCache) -> LayerCache:
    """A KV-shared layer of a draft that reads the target model: nothing of its own, and whose K and V it reads."""
    if not (reads_target(arch) and c.elements_per_token == 0 and not c.state_elements):
        return c
    return LayerCache(c.kind, c.n_layers, 0, "0: reads the K and V the target model's last layer of its type "
                      "stored (shared_kv_states); the draft caches nothing of its own", None,
                      caveat="the target model's cache holds these K and V; the draft adds no cache")


def input_text(arch) -> list[str]:
    """The diagram's input row: what the target model hands the draft."""
    return ["From the target model: the last token's embedding", f"‖ its last hidden state (2 × "
            f"{arch.draft_head.backbone_d_model:,})"]


def entry_lines(arch) -> list[str]:
    """The diagram's embedding row of a draft: the pre-projection (its token table serves only the tied head)."""
    b = arch.draft_head.backbone_d_model
    return ["Pre-projection", f"2 × {b:,} → {arch.d_model:,}",
            f"(its {arch.vocab_size:,} × {arch.d_model:,} token table only serves the head)"]


def target_kv_lines(arch) -> list[str]:
    """The diagram's note on where the layers' keys and values come from."""
    if reads_target(arch):
        return ["Target model's K and V", "(its last sliding and last full layer's,", "shared_kv_states): every "
                "layer reads them"]
    return ["Layers with K/V of their own", "store them for the later KV-shared layers"]


def head_lines(arch) -> list[str]:
    """The head's extra lines: the centroid selection, and the post-projection beside it."""
    h = arch.draft_head
    out = [f"post-projection {arch.d_model:,} → {h.backbone_d_model:,}: the next draft step's hidden state"]
    if h.centroids:
        out.insert(0, f"centroids {arch.d_model:,} → {h.centroids:,}: logits for the top {h.centroid_top_k} "
                      f"clusters' {head_rows(arch):,} tokens only")
    return out


def fact(arch) -> str:
    """The compare table's row."""
    h = arch.draft_head
    if h is None:
        return "none"
    return f"2 × {h.backbone_d_model:,} → d_model → {h.backbone_d_model:,}" + (
        f", {h.centroids:,} centroids, top {h.centroid_top_k}" if h.centroids else "")
