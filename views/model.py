"""Model page: one model's diagram, fact sheet, parameter breakdown, KV cache, notes, config → spec."""

import altair as alt
import pandas as pd
import streamlit as st

from gallery.compare import compact
from gallery.counts import breakdown, mtp_params, param_terms, total_params, unrouted
from gallery.derive import DerivationError, field_sources
from gallery.diagram import to_dot
from gallery.flops import flops_per_token
from gallery.memory import cache_curve, context_grid, kv_bytes, layer_caches, state_bytes
from gallery.pattern import summary
from gallery.published import CONVENTIONS, reconcile
from views import diagrams, facts, markup
from views.common import controls, lazy_tabs, literal, rejected, say_rejected, slugs_or_stop, spec_index, whole
from views.lineage import where_it_comes_from

index = spec_index()
slugs = slugs_or_stop(index)

CHOOSE = "Choose another model"  # the button that opens the chooser
lost = rejected(model=index.specs.__contains__)
with controls(CHOOSE, ":material/swap_horiz:"):
    slug = st.selectbox("Model", slugs, key="model", bind="query-params",
                        help="The spec's slug; share the URL to share this view.")
spec = index.specs[slug]
say_rejected(lost, f"showing {literal(spec.name)}; **{CHOOSE}** picks one")
arch = spec.arch

st.title(literal(spec.name))
st.caption(" · ".join(literal(x) for x in [spec.organisation, spec.family, spec.release_date, spec.licence] if x)
           + f" · [{literal(spec.source.hf_repo)}](https://huggingface.co/{spec.source.hf_repo})")
for fact, known in spec.unconfirmed.items():
    st.caption(f":material/help: {fact.replace('_', ' ').capitalize()} unconfirmed: {literal(known)}")

total = total_params(arch)
facts.show(arch, (facts.trace_link(slug),))
for r in reconcile(spec):  # the publisher's figure beside the exact one, and what differs
    st.caption(f"Published {r.which}: **{r.stated}** ({r.difference}) · exact {r.formula}",
               help=f"{CONVENTIONS['published']} Source: {literal(spec.published.source)}")
if arch.mtp_layers:
    mtp = mtp_params(arch)
    st.info(f"The checkpoint also stores {arch.mtp_layers} multi-token-prediction module(s) that transformers "
            f"does not build: {mtp:,} more parameters ({compact(total + mtp)} as stored). The total above is what "
            "transformers builds and runs.", icon=":material/info:")

dot = diagrams.themed("theme", slug, lambda theme: to_dot(spec, theme))
diagrams.show(dot, f"Block diagram of {spec.name}")


def parameters() -> None:
    """Where the parameters are: a bar per component, and every count with its formula."""
    terms = param_terms(arch)
    parts = pd.DataFrame(
        [{"component": c, "params": n,
          "formula": " + ".join(t.formula for t in terms if t.component == c)}
         for c, n in breakdown(arch).items() if n])
    parts["share"] = parts["params"] / total
    chart = alt.Chart(parts).mark_bar().encode(
        x=alt.X("params:Q", title="parameters"), y=alt.Y("component:N", sort="-x", title=None),
        color=alt.Color("component:N", legend=None),
        tooltip=["component", alt.Tooltip("params:Q", format=","), alt.Tooltip("share:Q", format=".1%"), "formula"])
    st.altair_chart(chart, width="stretch")
    with st.expander("Every count with its formula"):
        markup.table(pd.DataFrame([{"component": t.component, "tensor": t.name, "in": t.where,
                                    "formula": t.formula, "parameters": t.total} for t in terms]), index=False,
                     one_line=["in"])


MAX_CONTEXT, MAX_BATCH = 10_000_000, 4096  # what the cache section's inputs take


def cache_and_compute() -> None:
    """The cache at a context and batch, its curve over context by block kind, each kind's formula."""
    left, right = st.columns([2, 3])
    with left:
        lost = rejected(ctx=whole(1, MAX_CONTEXT), batch=whole(1, MAX_BATCH))
        context = st.number_input("Context length (tokens)", 1, MAX_CONTEXT,
                                  min(arch.context_length or 32_768, 32_768), step=1024, key="ctx",
                                  bind="query-params")
        batch = st.number_input("Batch", 1, MAX_BATCH, 1, key="batch", bind="query-params")
        say_rejected(lost, f"showing a context of {int(context):,} tokens, batch {int(batch)}")
        cache, state = kv_bytes(arch, int(context), int(batch)), state_bytes(arch) * int(batch)
        st.metric("Cache at this context (bf16)", f"{cache / 2**30:,.2f} GiB",
                  help=f"{cache:,} bytes: KV per token (window-, chunk- and compression-aware) plus fixed states")
        if state:
            st.metric("of which fixed state", f"{state / 2**20:,.1f} MiB",
                      help=f"{state:,} bytes: recurrent / SSM / convolution states, the same at any context")
        flops = flops_per_token(arch, int(context))
        st.metric("Forward FLOPs per token", "undefined" if flops is None else f"{flops / 1e9:,.1f} GFLOP",
                  help=f"{unrouted(arch)}." if flops is None else (
                      "One decode step at this context: 2 × the weights a token multiplies with (active experts "
                      "only, the head included even when tied) plus 4 × n_heads × head_dim per attended token and "
                      "attention layer; norms and elementwise operations left out."))
    curve = pd.DataFrame(cache_curve(arch, context_grid(arch.context_length), int(batch)))
    curve["GiB"] = curve["bytes"] / 2**30
    right.altair_chart(alt.Chart(curve).mark_area().encode(
        x=alt.X("context:Q", scale=alt.Scale(type="log", base=2), title="context (tokens)"),
        y=alt.Y("GiB:Q", stack="zero", title="cache (GiB, bf16)"), color=alt.Color("kind:N", title="block kind"),
        tooltip=["kind", alt.Tooltip("context:Q", format=","), alt.Tooltip("GiB:Q", format=".3f")]),
        width="stretch", height=260)
    markup.table(pd.DataFrame([{
        "block kind": c.kind, "layers": c.n_layers, "per token": c.formula,
        "kept at most": f"{c.window:,} tokens" if c.window else "every token" if c.elements_per_token else "—",
        "one entry per": f"{c.ratio} tokens" if c.ratio > 1 else "token" if c.elements_per_token else "—",
        "fixed state": c.state_formula or "none", "caveat": c.caveat} for c in layer_caches(arch)]), index=False)


def notes() -> None:
    """What is distinctive, each note with its pointer into transformers: one list, one element (issue 17)."""
    if not spec.notes:
        st.caption("This spec has no notes yet (CONTRIBUTING.md says what a note points at).")
        return
    st.markdown("\n".join(f"- {literal(note.text)}  \n  ↳ transformers/{literal(note.ref)}" for note in spec.notes))


def config_to_spec() -> None:
    """The vendored config.json beside the spec fields derived from it."""
    config = index.configs.get(slug, {})
    c1, c2 = st.columns(2)
    with c1:
        st.caption(f"Vendored `{spec.source.config}` (model_type `{spec.source.model_type}`, "
                   f"built by `{spec.source.transformers_class}`)")
        st.json(config, expanded=False)
    with c2:
        try:
            rows = [{"spec field": f.removeprefix("arch."), "value": summary(v) if isinstance(v, list) else str(v),
                     "read from": s} for f, v, s in field_sources(config)]
            st.dataframe(pd.DataFrame(rows), hide_index=True, height=420)  # 40-120 rows: a grid to search and scroll
        except DerivationError as exc:
            st.error(f"This config cannot be re-derived: {literal(exc)}")


# Below the diagram, one section at a time: the page loads no chart or table until asked, nor the facts of every
# model that finding the nearest relative reads (0.6 s on a fresh server with the bundle). A shared context or
# batch opens its section.
lazy_tabs({"What is distinctive": notes, "Where it comes from": lambda: where_it_comes_from(index, spec),
           "Parameters": parameters, "Cache and compute": cache_and_compute,
           "config.json → spec": config_to_spec}, key="section",
          default="Cache and compute" if {"ctx", "batch"} & set(st.query_params) else None)
