"""Published headline sizes next to the exact counts, and what explains the difference.

Publishers state sizes by their own conventions: OpenAI's gpt-oss "3.6B active" leaves out the input
embedding, Z.ai's GLM "12B active" the embedding and the head, a multimodal name ("26B") counts the vision
tower, a checkpoint size can count multi-token-prediction modules, and every figure is rounded. A spec's
``published`` field (``gallery.spec.Published``) records each figure as written and what it counts
differently; :func:`reconcile` rebuilds the publisher's figure from ``gallery.counts``:

    exact − left-out components + added parts  →  written the publisher's way  ==  stated?

"Written the publisher's way" is rounding or truncation to the stated digits, where an integer's trailing
zeros are not significant ("230B" is a figure to the nearest 10B, "3.6B" to the nearest 0.1B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .counts import active_params, breakdown, mtp_params, total_params
from .spec import PublishedFigure, Spec

CONVENTIONS = {
    "total": "Every parameter transformers builds for the language model (model.parameters()): a tied embedding "
             "and head count once; a vision tower and multi-token-prediction modules the checkpoint may also "
             "store are not included.",
    "active": "Parameters one token passes through: the total less the routed experts it is not sent to. "
              "Embedding, head, attention, shared experts and router are included (publishers may leave the "
              "embedding or head out; see the published figure).",
    "published": "The size as its publisher writes it (model card, report or official name), rounded as written; "
                 "the text says which components it leaves out or adds compared with the exact count.",
}
"""What each count figure counts: the tooltips of the app's figures."""

LABELS = {"embeddings": "input embedding", "head": "output head", "vision": "vision tower",
          "mtp": "MTP modules", "tied_head": "second copy of the tied head"}
_UNITS = {"M": 10**6, "B": 10**9, "T": 10**12}


def stated_value(stated: str) -> tuple[float, float]:
    """``"3.6B"`` → (3.6e9, 1e8): the value and one unit of its last significant digit."""
    number, scale = stated[:-1], _UNITS[stated[-1]]
    if "." in number:
        step = 10.0 ** -len(number.partition(".")[2])
    else:
        step = 10.0 ** (len(number) - len(number.rstrip("0"))) if number.strip("0") else 1.0
    return float(number) * scale, step * scale


def written_as(count: int, stated: str) -> bool:
    """Whether ``count`` rounded, or truncated, to the stated figure's last significant digit gives it."""
    value, step = stated_value(stated)
    target = round(value / step)
    return round(count / step) == target or math.floor(count / step + 1e-9) == target


@dataclass(frozen=True)
class Reconciliation:
    """One published figure beside the exact count, and the parts that turn one into the other."""

    which: str  # "total" or "active"
    stated: str
    exact: int  # the gallery's figure (gallery.counts)
    parts: tuple[tuple[str, int], ...]  # (label, signed parameters): − left out, + added

    @property
    def adjusted(self) -> int:
        """The exact count under the publisher's convention."""
        return self.exact + sum(n for _, n in self.parts)

    @property
    def agrees(self) -> bool:
        return written_as(self.adjusted, self.stated)

    @property
    def difference(self) -> str:
        """What the difference is, in words: "input embedding left out, rounding", "vision tower added", "none"."""
        words = [f"{label} {'added' if n > 0 else 'left out'}" for label, n in self.parts]
        if self.adjusted != stated_value(self.stated)[0]:
            words.append("rounding")
        return ", ".join(words) or "none"

    @property
    def text(self) -> str:
        """``"3.6B (input embedding left out, rounding)"``: the figure as stated, with what differs."""
        return self.stated if self.difference == "none" else f"{self.stated} ({self.difference})"

    @property
    def formula(self) -> str:
        """``4,187,440,704 − 579,133,440 (input embedding) = 3,608,307,264 ≈ 3.6B``."""
        text = f"{self.exact:,}"
        for label, n in self.parts:
            text += f" {'+' if n > 0 else '−'} {abs(n):,} ({label})"
        if self.parts:
            text += f" = {self.adjusted:,}"
        return f"{text} ≈ {self.stated}"


def _parts(spec: Spec, figure: PublishedFigure) -> tuple[tuple[str, int], ...]:
    arch, counts = spec.arch, breakdown(spec.arch)
    added = {"vision": spec.published.vision_params or 0, "mtp": mtp_params(arch),
             "tied_head": arch.vocab_size * arch.d_model if arch.embedding.tied else 0}
    return (tuple((LABELS[c], -counts[c]) for c in figure.leaves_out)
            + tuple((LABELS[a], added[a]) for a in figure.adds))


def reconcile(spec: Spec) -> list[Reconciliation]:
    """The spec's published figures (total, then active), each with the parts that explain it."""
    if spec.published is None:
        return []
    exact = {"total": total_params(spec.arch), "active": active_params(spec.arch)}
    return [Reconciliation(which, figure.stated, exact[which], _parts(spec, figure))
            for which in ("total", "active")
            if (figure := getattr(spec.published, which)) is not None and exact[which] is not None]


def published_text(spec: Spec, which: str) -> str | None:
    """``"3.6B (input embedding left out, rounding)"``: one published figure with its difference, or None."""
    return next((r.text for r in reconcile(spec) if r.which == which), None)


def published_line(spec: Spec) -> str | None:
    """``"total 21B (rounding) · active 3.6B (input embedding left out, rounding)"``, or None."""
    return " · ".join(f"{r.which} {r.text}" for r in reconcile(spec)) or None
