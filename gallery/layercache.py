"""What one layer keeps while generating: a per-token cache, a fixed state, or both (the record kinds return).

Each mixer kind module (``gallery/kinds/``) builds one :class:`LayerCache` per block kind with its formulas and
caveat; :mod:`gallery.memory` adds them up over layers, contexts and batches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerCache:
    """What one layer of a block kind keeps while generating, with its formulas."""

    kind: str
    n_layers: int
    elements_per_token: int  # per cached entry, growing with the context
    formula: str
    window: int | None  # tokens kept at most; None = every token
    state_elements: int = 0  # fixed per sequence, whatever the context (recurrent, SSM, conv state)
    state_formula: str = ""
    ratio: int = 1  # one cached entry per `ratio` tokens (a compressing layer)
    caveat: str = ""  # where this figure is not the whole truth, said plainly

    def elements(self, context: int) -> int:
        """Elements one layer keeps for one sequence of ``context`` tokens."""
        tokens = min(context, self.window) if self.window else context
        entries = -(-tokens // self.ratio)  # ceil: a partly filled block is kept too
        return entries * self.elements_per_token + self.state_elements


def no_mixer(kind: str, n: int) -> LayerCache:
    """A block without a token mixer keeps nothing."""
    return LayerCache(kind, n, 0, "no token mixer: nothing cached", None)


def side_by_side(a: LayerCache, b: LayerCache) -> LayerCache:
    """What a layer with two mixers side by side keeps (Falcon-H1: attention's KV cache and the state-space state): the
    per-token entries of the one that has them (``Block`` lets at most one be attention), both states."""
    grows = a if a.elements_per_token else b
    states = [c.state_formula for c in (a, b) if c.state_elements]
    return LayerCache(a.kind, a.n_layers, grows.elements_per_token, grows.formula, grows.window,
                      a.state_elements + b.state_elements, " + ".join(states), grows.ratio,
                      "; ".join(c.caveat for c in (a, b) if c.caveat))


def repeated(c: LayerCache, pairs: int) -> LayerCache:
    """What a layer keeps that runs its mixer ``pairs`` times, each with a cache of its own (LongCat-Flash's two
    attention sublayers per layer: transformers gives each its own cache index)."""
    if pairs == 1:
        return c
    def both(formula: str, elements: int) -> str:
        return f"{pairs} sublayers × ({formula}) = {pairs * elements:,}" if elements else formula

    return LayerCache(c.kind, c.n_layers, pairs * c.elements_per_token, both(c.formula, c.elements_per_token), c.window,
                      pairs * c.state_elements, both(c.state_formula, c.state_elements), c.ratio, c.caveat)


def state_only(kind: str, n: int, state: int, formula: str, caveat: str) -> LayerCache:
    """A layer with no KV cache, only ``state`` elements per sequence (state-space and convolution layers)."""
    return LayerCache(kind, n, 0, "no KV cache: a fixed state only", None, state, formula, caveat=caveat)


def f32_state(what: str, taps: int) -> str:
    """The caveat of a recurrent state that transformers keeps in float32, beside a conv window."""
    return f"bytes assume bf16; transformers keeps the {what} in float32, twice that; " + conv_window(taps)


def conv_window(taps: int) -> str:
    """transformers' conv_states hold ``taps`` inputs per channel; decoding reads only the last taps − 1."""
    return f"the conv window holds {taps} inputs per channel where {taps - 1} would do"
