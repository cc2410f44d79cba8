"""Recurrent stacks: two stacks of layers, each stored once, run in cycles (HRM, ``models/hrm_text/modeling_hrm_text.py``).

``HrmTextModel`` builds a low-level stack ``L_module`` and a high-level stack ``H_module`` (``HrmTextStack``: its
layers, then a ``final_norm``) and a frozen start state ``z_L_init`` (d_model, zeros, counted by ``parameters()``).
From the scaled embeddings z_H and z_L = z_L_init, it runs ``H_cycles`` times: ``L_cycles`` runs of the L stack on
z_L + z_H (each writing z_L), then one run of the H stack on z_H + z_L (writing z_H); the last z_H goes to the head.
Every run of a layer is an attention invocation with a K/V cache slot of its own (``HrmTextAttention`` updates slot
``layer_idx + cycle_offset``; the config's ``num_hidden_layers`` is rewritten to the slots' number), so a layer of
the L stack caches H_cycles × L_cycles entries a token and multiplies its weights as often, one of the H stack
H_cycles.

The spec says it once: ``arch.layers`` lists the L stack's layers then the H stack's (two block kinds, so each
stack's layers are drawn, cached and counted by kind) and ``arch.recurrent_stacks`` the cycles. This module gives
what follows: the schema check, the runs of each kind, the model's own terms, the cache and FLOPs per run, the
stacks and their loop in the diagram, the cycle's trace and its toy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from pydantic import Field, PositiveInt

from .layercache import LayerCache
from .specbase import Strict, rule_error
from .steps import Ctx, Step, ew
from .terms import Param, Weight, weight
from .toyops import Run, ToyStep

LOW, HIGH = "L stack", "H stack"


class RecurrentStacks(Strict):
    """The first half of ``arch.layers`` is the L stack, the second the H stack, each run in cycles (HrmTextModel)."""

    h_cycles: PositiveInt = Field(description="High-level cycles: each runs the L stack l_cycles times, then the H "
                                  "stack once (H_cycles)")
    l_cycles: PositiveInt = Field(description="Runs of the L stack in each high-level cycle (L_cycles)")


def check(arch) -> None:
    """Two stacks of the same depth whose block kinds differ (each stack's layers are its kinds'), a stacked model
    without the residual forms that keep streams across layers."""
    rs = arch.recurrent_stacks
    if rs is None:
        return
    half = arch.n_layers // 2
    if arch.n_layers % 2 or set(arch.layers[:half]) & set(arch.layers[half:]):
        raise rule_error("recurrent_stacks", "block_wiring", "recurrent_stacks needs an even number of layers, the "
                         "L stack's then the H stack's, with block kinds of their own in each stack")
    if arch.hyper_connections or arch.altup or arch.laurel or arch.per_layer_embedding or arch.shared_blocks:
        raise rule_error("recurrent_stacks", "block_wiring", "recurrent_stacks do not go with hyper_connections, "
                         "altup, laurel, per_layer_embedding or shared_blocks (no model builds them together)")


def stacks(arch) -> tuple[list[str], list[str]]:
    """(the L stack's block kinds, the H stack's), in layer order, each once."""
    half = arch.n_layers // 2
    return list(dict.fromkeys(arch.layers[:half])), list(dict.fromkeys(arch.layers[half:]))


def runs(arch, kind: str) -> int:
    """How many times a layer of ``kind`` runs for one token: H_cycles × L_cycles in the L stack, H_cycles in the H
    stack; once without recurrent stacks."""
    rs = arch.recurrent_stacks
    if rs is None:
        return 1
    return rs.h_cycles * rs.l_cycles if kind in stacks(arch)[0] else rs.h_cycles


def stack_runs(arch) -> int:
    """Stack runs per token, H_cycles × (L_cycles + 1): the config's num_hidden_layers ÷ the layers of a stack."""
    rs = arch.recurrent_stacks
    return rs.h_cycles * (rs.l_cycles + 1)


def weights(d: tuple[str, int]) -> list[Weight]:
    """z_L_init, the L stack's start state (d_model; frozen, but a parameter)."""
    return [weight("embeddings", "z_L_init", d, tensor="z_L_init")]


def cache(arch, kind: str, c: LayerCache) -> LayerCache:
    """What a layer of ``kind`` keeps: its mixer's cache once per run (a cache slot per attention invocation)."""
    n = runs(arch, kind)
    if arch.recurrent_stacks is None or n == 1:
        return c
    where = f"{arch.recurrent_stacks.h_cycles} H cycles" + (
        f" × {arch.recurrent_stacks.l_cycles} L cycles" if kind in stacks(arch)[0] else "")

    def each(formula: str, elements: int) -> str:
        return f"{where} = {n} runs × ({formula}) = {n * elements:,}: a cache slot per run" if elements else formula

    return replace(c, elements_per_token=n * c.elements_per_token, formula=each(c.formula, c.elements_per_token),
                   state_elements=n * c.state_elements, state_formula=each(c.state_formula, c.state_elements))


# --- the diagram: each stack drawn once, the cycles as loops with their counts ------------------------------------


def draw(d, spec, frame, embed: str) -> tuple[str, str]:
    """The stacks between the embedding (node ``embed``, z_H's start) and the head: z_L's start state, the sum each
    stack reads, each stack's frame (``frame(kinds)`` draws one: its entry and exit) and final norm, and the loops with
    their counts; returns the (entry, exit) nodes."""
    arch, q = spec.arch, d.prefix + "rs."
    rs, norm = arch.recurrent_stacks, arch.norm.label()
    (low, high), n = stacks(arch), arch.n_layers // 2
    d.node(q + "z_l_init", d.label("z_L start state", f"z_L_init: {arch.d_model:,}, frozen (zeros)"), "embedding",
           mark="embedding")
    exits = {}
    for name, kinds, sum_text in ((LOW, low, "z_L + z_H"), (HIGH, high, "z_H + z_L")):
        key = q + name[0]
        d.node(key + "add", d.label("+"), "add", shape="circle", width="0.3", fixedsize="true")
        entry, out = frame(kinds)
        d.edge(key + "add", entry, lines=[sum_text])
        d.node(key + "norm", d.label(f"{name}'s final {norm}"), "norm", mark="norm")
        d.edge(out, key + "norm")
        exits[name] = key + "norm"
    lo, hi = q + "Ladd", q + "Hadd"
    d.edge(q + "z_l_init", lo, lines=["z_L (first cycle)"])
    d.edge(embed, lo, lines=["z_H"])
    d.edge(embed, hi, lines=["z_H (first cycle)"], style="dashed")
    d.edge(exits[LOW], lo, lines=[f"z_L: L stack × {rs.l_cycles} per H cycle"], style="bold", constraint="false",
           color=d.t.annotation, fontcolor=d.t.annotation)
    d.edge(exits[LOW], hi, lines=["z_L"])
    d.edge(exits[HIGH], lo, lines=[f"z_H: H cycle × {rs.h_cycles}"], style="bold", constraint="false",
           color=d.t.annotation, fontcolor=d.t.annotation)
    d.edge(exits[HIGH], hi, lines=["z_H (later cycles)"], style="dashed", constraint="false")
    total = stack_runs(arch)
    d.note(q + "note", [f"per token: L stack × {rs.h_cycles * rs.l_cycles}, H stack × {rs.h_cycles}",
                        f"{total} stack runs × {n} layers = {total * n} layer runs,",
                        "each with a K/V cache slot of its own; weights stored once"], exits[HIGH])
    return lo, exits[HIGH]


def words(rs: RecurrentStacks | None) -> str:
    """The cycles in words, for the compare table."""
    if rs is None:
        return "none"
    return f"{rs.h_cycles} H cycles × ({rs.l_cycles} L runs + 1 H run)"


# --- the cycle's trace and its toy --------------------------------------------------------------------------------


def cycle_steps(arch, T: int, layer_steps) -> list[Step]:
    """One token sequence through the cycles, a step per stack run: the sum it reads, the stack (``layer_steps(kind)``
    gives a layer's steps: the stack's FLOPs are its layers'; their weights are in the layers' traces), its final
    norm (HrmTextModel.forward)."""
    c, rs, half = Ctx(T, arch.d_model, arch), arch.recurrent_stacks, arch.n_layers // 2
    x = (T, arch.d_model)
    per_kind = {kind: sum(s.flops for s in layer_steps(kind)) for kind in arch.blocks}
    flops = {LOW: sum(per_kind[k] for k in arch.layers[:half]), HIGH: sum(per_kind[k] for k in arch.layers[half:])}
    steps = [ew("z_L = z_L_init", "cycles", x, "z_L_init broadcast to every token (frozen, zeros at init); z_H = the "
                "embeddings × multiplier", per=0, params=(Param("z_L_init", (arch.d_model,)),))]
    for h in range(rs.h_cycles):
        runs_ = [(LOW, f"{h + 1}.{i + 1}", "z_L + z_H", "z_L") for i in range(rs.l_cycles)]
        for name, at, read, write in runs_ + [(HIGH, f"{h + 1}", "z_H + z_L", "z_H")]:
            steps += [ew(f"{name} input ({at})", "cycles", x, read),
                      Step(f"{name} ({at})", "cycles", x, x, f"{half} layers (their weights: the layers' "
                           "traces)", flops[name]),
                      c.norm(f"{name} final norm ({at})", "cycles", f"{name[0]}_final_norm", x)]
            steps[-1] = replace(steps[-1], formula=f"{write} = " + steps[-1].formula)
    return steps


def toy_cycles(arch, layer_forward, weights: dict[str, np.ndarray], x: np.ndarray, plan: list[Step]) -> list[ToyStep]:
    """The cycles of the toy model ``arch`` on ``x`` (T, d_model), z_H's start: ``layer_forward(i, x)`` runs its layer
    ``i``; one record per step of :func:`cycle_steps`."""
    R = Run(arch, weights, plan=plan)
    half, rs = arch.n_layers // 2, arch.recurrent_stacks
    z_h, z_l = x, R.rec("z_L = z_L_init", np.broadcast_to(weights["z_L_init"], x.shape))

    def run(name: str, at: str, first: int, h: np.ndarray) -> np.ndarray:
        h = R.rec(f"{name} input ({at})", h)
        for i in range(first, first + half):
            h = layer_forward(i, h)
        return R.norm(f"{name} final norm ({at})", f"{name[0]}_final_norm", R.rec(f"{name} ({at})", h))

    for c in range(rs.h_cycles):
        for i in range(rs.l_cycles):
            z_l = run(LOW, f"{c + 1}.{i + 1}", 0, z_l + z_h)
        z_h = run(HIGH, f"{c + 1}", half, z_h + z_l)
    return R.done()


TOY_LAYERS, TOY_CYCLES = 2, 3  # the toy's layers a stack and most cycles of each kind: small, and every sum bites


@dataclass(frozen=True)
class CycleToy:
    """A toy run of the cycles: the toy model (its layers at toy width, the cycles at most :data:`TOY_CYCLES`), each
    layer's one-layer toy and weights, the cycles' own weights (z_L_init, the stacks' norms), the input and the
    values of every step of :func:`cycle_steps`."""

    arch: object
    layers: list
    layer_weights: list[dict[str, np.ndarray]]
    weights: dict[str, np.ndarray]
    x: np.ndarray
    steps: list[ToyStep]


def toy(arch, seq: int = 6, seed: int = 0) -> CycleToy:
    """The cycles at toy width: the first :data:`TOY_LAYERS` layers of each stack, each drawn with a seed of its own,
    on ``seq`` random vectors standing for the scaled embeddings."""
    from .spec import Arch  # the spec's schema imports this module
    from .toy import toy_arch, toy_forward, toy_weights  # the toy imports the counts, which import this module

    half, rs = arch.n_layers // 2, arch.recurrent_stacks
    k = min(half, TOY_LAYERS)
    kinds = arch.layers[:k] + arch.layers[half:half + k]
    layers = [toy_arch(arch, kind) for kind in kinds]
    d = layers[0].d_model
    model = Arch.model_validate({
        "d_model": d, "n_layers": 2 * k, "vocab_size": 32, "context_length": 64, "norm": arch.norm.model_dump(),
        "embedding": {"tied": True}, "final_norm": False, "layers": kinds,
        "blocks": {kind: t.blocks[kind].model_dump() for kind, t in zip(kinds, layers)},
        "recurrent_stacks": {"h_cycles": min(rs.h_cycles, TOY_CYCLES), "l_cycles": min(rs.l_cycles, TOY_CYCLES)},
    }, strict=False)
    layer_weights = [toy_weights(t, seed + 10 + i) for i, t in enumerate(layers)]
    rng = np.random.default_rng(seed)
    plan = cycle_steps(model, seq, lambda kind: [])
    weights = {p.name: (1 + 0.2 * rng.standard_normal(p.shape)) if "norm" in p.name else 0.2 * rng.standard_normal(
        p.shape) for s in plan for p in s.params}
    x = np.random.default_rng(seed + 1).standard_normal((seq, d))
    steps = toy_cycles(model, lambda i, h: toy_forward(layers[i], layer_weights[i], h)[-1].value, weights, x, plan)
    return CycleToy(model, layers, layer_weights, weights, x, steps)
