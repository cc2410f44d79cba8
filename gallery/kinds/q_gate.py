"""A fused query-and-gate projection, an option of latent attention (:mod:`.mla`): A.X-K2's ``AXK2Attention``.

Instead of q_b_proj, ``q_gate_proj`` (2 × q_lora_rank → n_heads × (qk_nope + qk_rope + v_head_dim), no bias) reads
the query latent twice, normed and raw, [q_a_layernorm(c_q) ‖ c_q], and gives each head its query and a gate of
v_head_dim; the merged heads are multiplied by σ(gate) before o_proj (the gating step is :mod:`.gate`'s, per
element). The indexer still reads the normed latent. Owns the weight, the steps and the toy's projection and gate.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, Weights, weight
from ..toyops import Run
from . import gate as own_gate

GATE = own_gate.OutputGate(activation="sigmoid", per="element")  # σ on every element of each head's output


def weights(rq: tuple[str, int], h: tuple[str, int], qk: int, vd: int) -> list[Weight]:
    """q_gate_proj: 2 × q_lora_rank → n_heads × (qk_head_dim + v_head_dim), no bias."""
    return [weight("attention", "q_gate_proj", ("2 × q_lora_rank", 2 * rq[1]), h,
                   ("qk_nope_head_dim + qk_rope_head_dim + v_head_dim", qk + vd), shape=(2 * rq[1], h[1] * (qk + vd)))]


def steps(c: Ctx, p: str, rq: int, h: int, qk: int, vd: int, W: Weights) -> list[Step]:
    """After q_a_layernorm: concatenate the normed and raw latents, project, split each head into query and gate."""
    T = c.T
    return [ew("concat [normed | raw] c_q", p, (T, rq), "[q_a_layernorm(c_q) | c_q]", per=0, out=(T, 2 * rq)),
            linear(c, "q_gate_proj", p, W, "[q | g] per head = [norm(c_q) | c_q] · W_qg"),
            ew("split Q | gate", p, (T, h * (qk + vd)), f"each head's first {qk} dims are its query, the last {vd} "
               "its gate", per=0, out=(T, h * qk))]


def gate_step(c: Ctx, p: str, h: int, vd: int, W: Weights) -> Step:
    """The merged heads × σ(gate) before o_proj."""
    return own_gate.apply_step(c, GATE, p, h, vd, W)


def project(R: Run, cq: np.ndarray, raw: np.ndarray, qk: int, vd: int) -> tuple[np.ndarray, np.ndarray]:
    """The toy's (queries (T, heads × qk), gates (T, heads × vd)) from the normed and the raw query latent."""
    both = R.rec("concat [normed | raw] c_q", np.concatenate([cq, raw], -1))
    qg = R.linear("q_gate_proj", both)
    per_head = qg.reshape(len(qg), -1, qk + vd)
    q = R.rec("split Q | gate", per_head[..., :qk].reshape(len(qg), -1))
    return q, per_head[..., qk:].reshape(len(qg), -1)


def apply(R: Run, o: np.ndarray, g: np.ndarray, vd: int) -> np.ndarray:
    """The toy's gate on the merged heads."""
    return own_gate.apply(R, GATE, o, g, vd)


TEXT = "query and gate from one q_gate_proj of [norm(c_q) | c_q]; heads ⊙ σ(gate) → o_proj"
