"""AltUp, alternating updates (Gemma 3n): the residual kept as ``streams`` copies of d_model, one of them computed.

Follows ``Gemma3nTextAltUp``, ``Gemma3nTextDecoderLayer`` and ``Gemma3nTextModel`` (``models/gemma3n/
modeling_gemma3n.py``; Baykal et al., NeurIPS 2023). Before the first layer the embedded token is copied into
``streams`` streams, streams 1… through a d_model × d_model projection each, rescaled to the embedding's RMS. In
each layer, **predict**: a router reads the active stream (RMSNorm, × 1/d_model, d_model → streams, tanh) and gives
a streams × streams mixing matrix per token (prediction_coefs); every stream becomes itself plus that mix of all
streams. Only the active prediction runs through the layer (attention, feed-forward). **Correct**: the router reads
the layer's output, correction_coefs give one coefficient per stream (+ 1), and each stream adds its coefficient ×
the innovation (output − active prediction). The corrected active stream, × correct_output_scale, feeds the
per-layer input, which is added to streams 1… After the last layer, streams 1… go back through their own
projections (rescaled the same way) and the streams are averaged before the final norm.

Owns the schema, the weights (count terms and trace tensors, declared once), the trace steps, the toy forward and
the diagram's words; :mod:`gallery.counts`, :mod:`gallery.trace`, :mod:`gallery.toy` and :mod:`gallery.diagram`
wire them in.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew, linear
from .terms import Term, Weight, table, term, weight
from .toyops import Run

PART = "AltUp"


class AltUp(Strict):
    """Alternating updates: ``streams`` residual copies, the ``active`` one computed by each layer, the others
    predicted and corrected (Gemma 3n ``Gemma3nTextAltUp``)."""

    streams: PositiveInt = Field(description="Residual copies of d_model (altup_num_inputs)")
    active: NonNegativeInt = Field(0, description="The stream each layer computes (altup_active_idx)")
    correct_scale: bool = Field(True, description="The corrected active stream × correct_output_scale before the "
                                "per-layer input reads it (altup_correct_scale); the weight is built either way")

    @model_validator(mode="after")
    def _active(self) -> "AltUp":
        if self.active >= self.streams:
            raise rule_error("active", "block_wiring", f"active stream {self.active} is not one of the {self.streams} "
                             f"streams (0–{self.streams - 1})")
        return self


def weights(d: tuple[str, int], a: AltUp) -> list[Weight]:
    """One layer's AltUp, in build order: correct_output_scale, correction_coefs (streams → streams),
    prediction_coefs (streams → streams²), modality_router (d_model → streams), router_norm."""
    n, nn = ("altup_num_inputs", a.streams), ("altup_num_inputs²", a.streams ** 2)
    return [weight("altup", "altup.correct_output_scale", d, tensor="altup.correct_output_scale"),
            weight("altup", "altup.correction_coefs", n, n),
            weight("altup", "altup.prediction_coefs", n, nn),
            weight("altup", "altup.modality_router", d, n),
            weight("altup", "altup.router_norm", d)]


def model_terms(a: AltUp, d_model: int) -> list[Term]:
    """Gemma3nTextModel's altup_projections and altup_unembed_projections: d_model × d_model for each stream but
    the first, before the first layer and after the last."""
    d, n = ("d_model", d_model), ("altup_num_inputs − 1", a.streams - 1)
    if a.streams == 1:
        return []
    return [term("altup", "altup_projections", "model", n, d, d),
            term("altup", "altup_unembed_projections", "model", n, d, d)]


def _router(c: Ctx, W, which: str) -> list[Step]:
    """The router on one (T, d_model) input: RMSNorm × 1/d_model, d_model → streams, tanh."""
    T, n = c.T, W["altup.modality_router.weight"].shape[1]
    if which == "correct":  # the same router_norm and modality_router as predict: no parameters of its own
        return [Step("altup: router (correct)", PART, (T, c.d), (T, n), "r = tanh(norm(y) / d_model · W_router), "
                     "the same router_norm and modality_router as predict", 2 * T * c.d * n + 6 * T * c.d + 4 * T * n)]
    return [c.norm("altup: router norm", PART, "altup.router_norm", (T, c.d)),
            linear(c, "altup: router", PART, W, "r = norm(x_a) / d_model · W_router", "altup.modality_router"),
            ew("altup: tanh", PART, (T, n), "r = tanh(r)", per=4)]


def predict_steps(c: Ctx, a: AltUp) -> list[Step]:
    """From the layer's streams (T, streams, d_model) to the active prediction (T, d_model)."""
    W, T, d, n = table(weights(c.dm, a)), c.T, c.d, a.streams
    x = (T, n, d)
    return [ew("altup: active stream", PART, x, f"x_a = x[{a.active}]", per=0, out=(T, d)),
            *_router(c, W, "predict"),
            linear(c, "altup: prediction coefs", PART, W, f"C = r · W_pred, a {n} × {n} matrix per token",
                   "altup.prediction_coefs"),
            Step("altup: predict", PART, x, x, "p_i = x_i + Σ_j C[i, j] · x_j (every stream)", 2 * T * n * n * d),
            ew("altup: active prediction", PART, x, f"h = p[{a.active}]: the stream the layer computes", per=0,
               out=(T, d))]


def correct_steps(c: Ctx, a: AltUp) -> list[Step]:
    """From the layer's output y (T, d_model) and the predictions to the corrected streams and the active one the
    per-layer input reads (T, d_model)."""
    W, T, d, n = table(weights(c.dm, a)), c.T, c.d, a.streams
    scale = W["altup.correct_output_scale"]
    return [*_router(c, W, "correct"),
            linear(c, "altup: correction coefs", PART, W, "k = r · W_corr + 1, one per stream",
                   "altup.correction_coefs"),
            ew("altup: innovation", PART, (T, d), f"δ = y − p[{a.active}]"),
            Step("altup: correct", PART, (T, d), (T, n, d), "x_i = p_i + k_i · δ (every stream)", 2 * T * n * d),
            Step("altup: scaled active", PART, (T, n, d), (T, d), f"s = x[{a.active}] · correct_output_scale"
                 if a.correct_scale else f"s = x[{a.active}] (altup_correct_scale false: correct_output_scale unused)",
                 T * d if a.correct_scale else 0, (scale,))]


def add_step(c: Ctx, a: AltUp, what: str) -> Step:
    """The per-layer input added to streams 1… (not to stream 0): the layer's output."""
    return ew("residual add", "residual", (c.T, a.streams, c.d), f"x_i = x_i + {what} for streams i = 1…"
              f"{a.streams - 1}")


def predict(R: Run, a: AltUp, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The toy's predictions (T, streams, d) and the active one (T, d), from x (T, streams, d)."""
    T, n, d = x.shape
    r = _route(R, a, R.rec("altup: active stream", x[:, a.active]))
    coefs = R.linear("altup: prediction coefs", r, "altup.prediction_coefs").reshape(T, n, n)
    # Gemma3nTextAltUp.predict: coefs reshaped (…, n, n) then transposed, p = x · coefsᵀ over the stream axis
    p = R.rec("altup: predict", x + np.einsum("tjd,tij->tid", x, coefs))
    return p, R.rec("altup: active prediction", p[:, a.active])


def correct(R: Run, a: AltUp, p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The toy's corrected streams (T, streams, d) and the active one the per-layer input reads (T, d)."""
    norm = y / np.sqrt((y * y).mean(-1, keepdims=True) + R.arch.norm.eps) * R.w["altup.router_norm.weight"]
    r = R.rec("altup: router (correct)", np.tanh(norm / y.shape[-1] @ R.w["altup.modality_router.weight"]))
    k = R.rec("altup: correction coefs", r @ R.w["altup.correction_coefs.weight"] + 1)
    delta = R.rec("altup: innovation", y - p[:, a.active])
    x = R.rec("altup: correct", p + k[..., None] * delta[:, None, :])
    s = x[:, a.active] * (R.w["altup.correct_output_scale"] if a.correct_scale else 1)
    return x, R.rec("altup: scaled active", s)


def _route(R: Run, a: AltUp, x: np.ndarray) -> np.ndarray:
    h = R.norm("altup: router norm", "altup.router_norm", x)
    return R.rec("altup: tanh", np.tanh(R.linear("altup: router", h / x.shape[-1], "altup.modality_router")))


def lines(a: AltUp) -> list[str]:
    """The diagram's words for the predict and correct steps around each layer."""
    return [f"AltUp: {a.streams} residual streams, stream {a.active} computed",
            "predict: router on it → a streams × streams mix",
            "correct: router on the output → + k_i · (output − prediction)"]

