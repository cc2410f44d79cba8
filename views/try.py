"""Try your own config: paste, upload or edit a config.json and see its diagram, counts and a comparison."""

import json

import streamlit as st

from gallery import compare
from gallery.diagram import to_dot
from gallery.draft import to_yaml
from gallery.trial import (EDITABLE, MAX_BYTES, TrialError, edit_config, ignored_edits, parse_config,
                           spec_from_config)
from views import diagrams, facts, markup
from views.common import controls, lazy_panel, literal, rejected, say_rejected, spec_index
from views.try_hub import hub_config

index = spec_index()
st.title("Try your own config")
# config.json in plain type: as code it made a cold load fetch the monospace font (90 KB) for this line alone
st.caption(f"Paste or upload a model's config.json (up to {MAX_BYTES // 1024} KB, JSON only), open a Hub repo "
           "by its id or URL, or start from a bundled model and change a few numbers. Nothing is stored; the "
           "spec YAML can be downloaded for a PR.")

first = "a Hub repo" if st.query_params.get("repo") else "a bundled model"  # /try?repo=ORG/NAME opens it
MODES = ["paste or upload", "a bundled model", "a Hub repo"]
EDIT = "Choose the model and change its numbers"  # the button that opens the bundled model's controls
say_rejected(rejected(mode=MODES.__contains__), f"starting from {first}")
mode = st.segmented_control("Start from", MODES, default=first, key="mode", bind="query-params") or first
config, errors, source, figures = None, [], {}, None
if mode == "a Hub repo":
    config, errors, source = hub_config()
elif mode == "paste or upload":
    upload = st.file_uploader("config.json", type=["json"], max_upload_size=1)
    text = st.text_area("…or paste it here", height=220, key="pasted", placeholder='{"model_type": "llama", ...}')
    raw = upload.getvalue() if upload is not None else text
    if raw:
        try:
            config = parse_config(raw)
        except TrialError as exc:
            errors = exc.lines
else:
    lost = rejected(base=index.specs.__contains__)
    figures = st.container()  # the headline figures, above the popover that changes them (it opens downwards)
    with controls(EDIT, ":material/edit:"):
        base = st.selectbox("Bundled model", list(index.specs), key="base", bind="query-params")
        config = dict(index.configs.get(base, {}))
        changes, was = {}, {}
        for i, name in enumerate(EDITABLE):
            if i % 2 == 0:
                row = st.columns(2)
            current = next((config[k] for k in EDITABLE[name] if isinstance(config.get(k), int)), None)
            if current is not None:
                was[name] = current
                changes[name] = row[i % 2].number_input(name, min_value=1, max_value=10**7, value=current,
                                                        key=f"edit-{name}")
    config = edit_config(config, **changes)
    edits = [f"{name} {was[name]:,} → {int(value):,}" for name, value in changes.items() if value != was[name]]
    figures.caption(f"From **{literal(index.specs[base].name)}**"  # what the popover holds, said where it is seen
                    + (f", edited: {', '.join(edits)}." if edits else ", as bundled."))
    say_rejected(lost, f"starting from {literal(base)}; **{EDIT}** picks another")

spec = None
if config is not None and not errors:
    try:
        spec = spec_from_config(config, **source)
    except TrialError as exc:
        errors = exc.lines
for line in errors:
    st.error(literal(line), icon=":material/error:")  # it quotes the pasted text: shown literally
if spec is not None and mode == "a bundled model":
    for line in ignored_edits(spec, **changes):
        st.warning(literal(line), icon=":material/warning:")
if spec is None:
    if not errors:
        st.info("Waiting for a config.json.")
    st.stop()

if spec.source.text_config:
    st.info("A multimodal model: the language model is read from its `text_config`, as for bundled specs; "
            "the vision tower is not drawn or counted.", icon=":material/image:")
arch = spec.arch
with figures or st.container():
    facts.show(arch, extra=[facts.Fact("Model type", spec.source.model_type, spec.source.transformers_class or "",
                                       "The config's model_type, and the transformers class that builds it.")])
diagrams.show(to_dot(spec), "Block diagram of your config")

# below the diagram, drawn once asked for (issue 17: it and its chooser cost a cold load ~0.08× the floor); a URL that
# names the model compared with opens it
comparison = lazy_panel("Compare with a bundled model", "compare", ":material/compare_arrows:", ["with"])
if comparison:
    with comparison:
        lost = rejected(**{"with": index.specs.__contains__})
        other = st.selectbox("Compare with", list(index.specs), key="with", bind="query-params")
        say_rejected(lost, f"comparing with {literal(other)}")
        markup.table(compare.frame([spec, index.specs[other]]))  # static HTML: no Arrow code or data grid to load

with controls("Add it to the gallery: the spec and config", ":material/download:"):
    st.caption("Put the config at `arch_specs/configs/<slug>.json`, run `python -m gallery new "
               "arch_specs/configs/<slug>.json --hf-repo ORG/NAME`, fill in the curated fields and notes (see "
               "CONTRIBUTING.md), and open a pull request.")
    st.download_button("Download spec YAML", data=lambda: to_yaml(spec), file_name=f"{spec.slug}.yaml",
                       mime="application/yaml", on_click="ignore", icon=":material/download:")
    st.download_button("Download config.json", data=lambda: json.dumps(config, indent=2), file_name="config.json",
                       mime="application/json", on_click="ignore", icon=":material/download:")
