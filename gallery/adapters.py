"""Per-use LoRA adapters inside a shared block (Zamba2): each use of the block adds its own low-rank x · A · B.

Zamba2's shared block is run by several hybrid layers; to give each use some weights of its own, ``Zamba2Attention``
holds, per use, ``linear_{q,k,v}_adapter_list[i]`` (``use_shared_attention_adapter``: an ``nn.Sequential`` of 2·d_model
→ rank → 2·d_model, no bias, its output added to q_proj's, k_proj's and v_proj's), and ``Zamba2MLP`` holds
``gate_up_proj_adapter_list[i]`` (always: d_model → rank → 2·d_ff, added to the fused gate|up projection before it is
split). The lists have one slot per hybrid layer; a block holds real adapters in the slots of the uses that take it
(``i % num_mem_blocks == block_id``) and ``nn.Identity`` elsewhere. So a tied model (one copy of each block) holds each
use's adapters once, and an untied one (a copy per use) holds all its block's uses' adapters in every copy, though each
use runs only its own.

This module gives the option's schema (:class:`Adapters`, ``SharedBlock.adapters``), one use's tensors (the count
terms multiply them by the slots a copy holds), and its trace steps and toy: each adapter's down and up projection
and its add, right after the projection it adapts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import Field, PositiveInt

from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew, linear
from .terms import Weight, weight


class Adapters(Strict):
    """Each use's own low-rank adapters in a shared block (Zamba2Attention's linear_q/k/v_adapter_list,
    Zamba2MLP's gate_up_proj_adapter_list)."""

    rank: PositiveInt = Field(description="The adapters' inner width (adapter_rank)")
    attention: bool = Field(description="Adapters on q, k and v: the mixer's input width → rank → that width, "
                            "added to each projection (use_shared_attention_adapter)")
    ffn: bool = Field(True, description="An adapter on the fused gate|up projection: d_model → rank → 2 × d_ff")


QKV = ("q", "k", "v")


def check(name: str, ad: Adapters, mixer, ffn, d_in: int) -> None:
    """Adapters on q, k, v are as wide as the block's input, so are its q, k and v (Zamba2Attention adds them); the
    gate|up adapter needs a gated MLP."""
    if ad.attention and not (getattr(mixer, "n_heads", 0) * getattr(mixer, "head_dim", 0) == d_in
                             and getattr(mixer, "n_kv_heads", None) == mixer.n_heads):
        raise rule_error("shared_blocks", "block_wiring", f"shared block {name}: adapters on q, k and v are d_in = "
                         f"{d_in} wide; its attention's q, k and v must be too (as many KV heads as heads, "
                         "n_heads × head_dim = d_in)")
    if ad.ffn and not (getattr(ffn, "kind", None) == "mlp" and ffn.gated):
        raise rule_error("shared_blocks", "block_wiring", f"shared block {name}: the gate|up adapter needs a gated "
                         "MLP (kind mlp, gated: true)")


def use_weights(ad: Adapters, d_in: int, d_model: int, d_ff: int) -> list[Weight]:
    """One use's adapters: down (in → rank) and up (rank → out) of each, in build order (q, k, v, then gate|up)."""
    r, x, out = ("rank", ad.rank), ("d_in", d_in), []
    for p in QKV if ad.attention else ():
        out += [weight("attention", f"{p}_adapter.down", x, r, tensor=f"linear_{p}_adapter.0.weight"),
                weight("attention", f"{p}_adapter.up", r, x, tensor=f"linear_{p}_adapter.1.weight")]
    if ad.ffn:
        out += [weight("mlp", "gate_up_adapter.down", ("d_model", d_model), r, tensor="gate_up_proj_adapter.0.weight"),
                weight("mlp", "gate_up_adapter.up", r, ("2 × d_ff", 2 * d_ff), tensor="gate_up_proj_adapter.1.weight")]
    return out


PART = "adapter"


def _after(steps: list[Step], extra: dict[str, list[Step]]) -> list[Step]:
    """``steps`` with ``extra[op]`` inserted after the step ``op``."""
    return [t for s in steps for t in (s, *extra.get(s.op, ()))]


def mixer_steps(c: Ctx, ad: Adapters, W, steps: list[Step]) -> list[Step]:
    """The shared attention's steps with each use's q, k, v adapter after its projection: a = x · A · B, then
    q = q + a (Zamba2Attention.forward)."""
    if not ad.attention:
        return steps
    width = {s.op: s.out_shape for s in steps}
    return _after(steps, {f"{p}_proj": [
        linear(c, f"{p} adapter down", PART, W, f"a = x · A_{p} (this use's)", f"linear_{p}_adapter.0"),
        linear(c, f"{p} adapter up", PART, W, f"a = a · B_{p}", f"linear_{p}_adapter.1"),
        ew(f"add {p} adapter", PART, width[f"{p}_proj"], f"{p} = {p} + a")] for p in QKV})


def ffn_steps(c: Ctx, ad: Adapters, W, steps: list[Step]) -> list[Step]:
    """The shared MLP's steps with this use's gate|up adapter: a = x · A · B (2 × d_ff) after gate_proj, its first
    half added to the gate, its second to up after up_proj (Zamba2MLP adds it to the fused gate_up_proj, then
    chunks)."""
    if not ad.ffn:
        return steps
    gate = next(s.out_shape for s in steps if s.op == "gate_proj")  # (T, d_ff)
    return _after(steps, {
        "gate_proj": [linear(c, "gate|up adapter down", PART, W, "a = x · A (this use's)", "gate_up_proj_adapter.0"),
                      linear(c, "gate|up adapter up", PART, W, "a = a · B: [a_gate | a_up]", "gate_up_proj_adapter.1"),
                      ew("add gate adapter", PART, gate, "g = g + a_gate")],
        "up_proj": [ew("add up adapter", PART, gate, "u = u + a_up")]})


# --- the toy: hooks on the recorder, run after the step they adapt ------------------------------------------------


def mixer_hooks(R, ad: Adapters, x: np.ndarray) -> dict[str, Callable]:
    """After q_proj, k_proj, v_proj: add x · A · B (``x``: the attention's normed input)."""
    if not ad.attention:
        return {}

    def hook(p: str) -> Callable:
        def add(y: np.ndarray) -> np.ndarray:
            a = R.rec(f"{p} adapter down", x @ R.w[f"linear_{p}_adapter.0.weight"])
            a = R.rec(f"{p} adapter up", a @ R.w[f"linear_{p}_adapter.1.weight"])
            return R.rec(f"add {p} adapter", y + a)
        return add

    return {f"{p}_proj": hook(p) for p in QKV}


def ffn_hooks(R, ad: Adapters, x: np.ndarray) -> dict[str, Callable]:
    """After gate_proj: the gate|up adapter on ``x`` (the MLP's input), its gate half added; after up_proj its up
    half."""
    if not ad.ffn:
        return {}
    held = {}

    def gate(y: np.ndarray) -> np.ndarray:
        a = R.rec("gate|up adapter down", x @ R.w["gate_up_proj_adapter.0.weight"])
        a = R.rec("gate|up adapter up", a @ R.w["gate_up_proj_adapter.1.weight"])
        held["up"] = a[:, y.shape[-1]:]
        return R.rec("add gate adapter", y + a[:, :y.shape[-1]])

    return {"gate_proj": gate, "up_proj": lambda y: R.rec("add up adapter", y + held["up"])}


def lines(ad: Adapters | None, n_uses: int) -> list[str]:
    """The diagram's words: which projections each use adapts, at what rank."""
    if ad is None:
        return []
    where = ", ".join(["q, k, v"] * ad.attention + ["gate|up"] * ad.ffn)
    return [f"each use's own LoRA adapters (rank {ad.rank}) on {where} · {n_uses} sets held"]
