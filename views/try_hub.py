"""The Try page's Hub input: a repo id or Hub URL → its config.json at a commit, through ``gallery.hub``.

Shows the commit with a link to the file on the Hub and the session's recently opened repos; the
repo and revision are bound to the URL (``/try?repo=ORG/NAME&revision=REV``), so a view can be shared.
"""

from __future__ import annotations

import streamlit as st

from gallery.hub import HubError, open_repo, parse_ref

RECENT = 8  # repos kept in the session's "recently opened" list


def _split() -> None:
    """A URL or ``ORG/NAME@REV`` typed into the repo box becomes the two bound fields (its revision wins)."""
    try:
        ref = parse_ref(st.session_state.repo)
    except HubError:
        return  # said below, on the run this triggers
    st.session_state.repo = ref.repo
    if ref.revision:
        st.session_state.revision = ref.revision


def _reopen(repo: str, revision: str) -> None:
    st.session_state.repo, st.session_state.revision = repo, revision


def hub_config() -> tuple[dict | None, list[str], dict]:
    """``(config, errors, source)``: the config of the repo asked for, the one-line errors, and the
    spec ``source`` fields (``hf_repo``, ``revision``) to derive it with."""
    left, right = st.columns([3, 1])
    left.text_input("Hub repo id or URL", key="repo", bind="query-params", max_chars=300, on_change=_split,
                    placeholder="Qwen/Qwen3-8B or https://huggingface.co/Qwen/Qwen3-8B")
    right.text_input("Revision", key="revision", bind="query-params", max_chars=128, placeholder="main",
                     help="A branch, tag or commit sha (default: the repo's main branch)")
    shelf = st.container(horizontal=True, vertical_alignment="center")
    result: tuple[dict | None, list[str], dict] = (None, [], {})
    if not st.session_state.repo:
        st.caption("Only `config.json` is fetched, pinned to the commit the revision points at. Gated or "
                   "private repos, or no network: choose *paste or upload* and paste the file.")
    else:
        try:
            ref = parse_ref(st.session_state.repo, st.session_state.revision)
            with st.spinner(f"Fetching config.json of {ref} from the Hub…"):
                hub = open_repo(ref)
        except HubError as exc:
            result = (None, [str(exc)], {})
        else:
            entry = (ref.repo, ref.revision or "")
            st.session_state["hub-recent"] = [entry] + [e for e in _recent() if e != entry][:RECENT - 1]
            st.caption(f"`{ref.repo}` at revision `{ref.revision or 'main'}` = commit `{hub.sha}` · "
                       f"[config.json on the Hub]({hub.url})")
            result = (hub.config, [], {"hf_repo": ref.repo, "revision": hub.sha})
    if _recent():
        with shelf:
            st.caption("Recently opened:")
            for i, (repo, revision) in enumerate(_recent()):
                st.button(repo + (f"@{revision}" if revision else ""), key=f"recent-{i}", type="tertiary",
                          on_click=_reopen, args=(repo, revision), icon=":material/history:")
    return result


def _recent() -> list[tuple[str, str]]:
    return st.session_state.setdefault("hub-recent", [])
