"""Streamlit glue shared by the pages: the cached spec index, and sections shown one at a time.

Everything computed here comes from the core package; this module only caches it per spec folder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from gallery.loader import FileProblem, config_problem, load_folder, vendored_config
from gallery.spec import Spec

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPECS = ROOT / "arch_specs"


def spec_folder() -> Path:
    """``GALLERY_SPECS`` if set (tests, benchmarks), else the bundled ``arch_specs/``."""
    return _resolved(os.environ.get("GALLERY_SPECS") or str(DEFAULT_SPECS))


@functools.lru_cache(maxsize=8)
def _resolved(path: str) -> Path:
    """``path`` made absolute, resolved once (a page asks for the folder several times a run)."""
    return Path(path).resolve()


@dataclass(frozen=True)
class Index:
    """The loaded specs of one folder; files that failed to load are kept with their problems."""

    folder: Path
    specs: dict[str, Spec]  # slug → spec, sorted by name
    configs: dict[str, dict]  # slug → vendored config.json
    problems: dict[str, list] = field(default_factory=dict)  # file name → lint problems


_listed = threading.local()  # this script thread's (folder, fingerprint), listed afresh by the frame at each run


def _fingerprint(folder: Path, fresh: bool = False) -> str:
    """A digest of the spec files' names, times and sizes: a short cache key (hashing a key of 1,000 tuples
    cost Streamlit ~80 ms a rerun; profiled with 1,000 specs).

    Listing 1,000 files costs ~6 ms, so it is done once per script run: the frame asks ``fresh`` at the start
    of every run, and the page's calls in the same run (its script thread) reuse that listing.
    """
    seen = getattr(_listed, "seen", None)
    if fresh or seen is None or seen[0] != folder:
        seen = _listed.seen = (folder, _digest(folder))
    return seen[1]


def _digest(folder: Path) -> str:
    files = sorted((e.name, *_changed(e)) for e in os.scandir(folder)
                   if e.name.endswith(".yaml") and not e.name.startswith("."))  # spec_files' files, as strings
    return hashlib.sha1(repr(files).encode()).hexdigest()


def _changed(entry: os.DirEntry) -> tuple[int, int]:
    try:
        info = entry.stat()
    except OSError:  # a dangling symlink: loading says so
        return 0, 0
    return info.st_mtime_ns, info.st_size


@st.cache_resource(show_spinner=False, max_entries=4)
def load_index(folder: str, fingerprint: str) -> Index:
    """The specs of ``folder`` at one version (see :func:`version`): the key of what a page caches per model."""
    specs, configs, problems = {}, {}, {}
    for item in load_folder(folder):
        if item.spec is None:
            problems[item.path.name] = item.problems
            continue
        try:
            config = vendored_config(item)
        except FileProblem as exc:  # outside configs/, a FIFO, a device, too large: listed like a broken spec
            problems[item.path.name] = [config_problem(item, exc)]
            continue
        specs[item.spec.slug], configs[item.spec.slug] = item.spec, config
    ordered = dict(sorted(specs.items(), key=lambda kv: kv[1].name.lower()))
    return Index(Path(folder), ordered, configs, problems)


def version(fresh: bool = False) -> tuple[str, str]:
    """The spec folder and the digest of its files: the key of everything cached per version of the folder
    (the frame lists the folder ``fresh`` at each run; the page's calls reuse that listing, see
    :func:`_fingerprint`)."""
    folder = spec_folder()
    return str(folder), _fingerprint(folder, fresh)


def spec_index(fresh: bool = False) -> Index:
    """All specs of the spec folder, reloaded when a file changes."""
    return load_index(*version(fresh))


@st.cache_resource(show_spinner=False, max_entries=4)
def _cards(folder: str, fingerprint: str) -> list:
    from gallery.catalog import cards

    return cards(list(load_index(folder, fingerprint).specs.values()))


def gallery_cards() -> list:
    """The gallery cards of every loaded spec (counted once per version of the folder)."""
    return _cards(*version())


_INLINE = re.compile(r"([\\`*_\[\]<>~${}|])")  # emphasis, code, links and images, HTML, LaTeX, tables
_LINE_START = re.compile(r"^(\s*)([-+#=>]|\d+[.)])")  # a list, heading or quote when it opens the text


def literal(text: object) -> str:
    """``text`` for a Markdown-rendering element (st.markdown, st.error, st.title, ...) shown exactly as written.

    Text from specs and pasted configs is a stranger's: ``![t](http://host/x.png)`` as a model type must
    stay those characters, not become an image the browser fetches (nor a link, LaTeX or a :material/ icon).
    Only the characters Markdown acts on are escaped, so "Mistral 7B v0.1" stays as it is.
    """
    escaped = _INLINE.sub(r"\\\1", str(text)).replace(":", "&#58;")  # Streamlit makes :material/…: an icon even
    # when its colons are escaped with a backslash; a character reference reaches it as text
    return _LINE_START.sub(lambda m: m[1] + m[2][:-1] + "\\" + m[2][-1], escaped)  # 1\. and \-


def slugs_or_stop(index: Index) -> list[str]:
    """The loaded specs' slugs; a page that needs one says so and stops when the folder has none."""
    if not index.specs:
        st.warning(f"No loadable specs in {literal(index.folder)}.")
        st.stop()
    return list(index.specs)


@st.cache_resource(show_spinner="Reading every model's architecture…", max_entries=4)
def _relatives(folder: str, fingerprint: str):
    from gallery.lineage import Relatives

    return Relatives(list(load_index(folder, fingerprint).specs.values()))


def relatives():
    """Every loaded spec's facts and nearest relatives (``gallery.lineage.Relatives``), once per version of the
    folder: the family tree and the Model page share it."""
    return _relatives(*version())


def rejected(**accepts: Callable[[str], bool]) -> list[str]:
    """``key=value`` for each value of the URL parameter ``key`` that ``accepts[key]`` refuses: a mistyped or renamed
    slug, a layer past the last. Call it before the bound widget runs: Streamlit drops such a value from the URL and
    shows the widget's default, without a word (a page then says so with :func:`say_rejected`)."""
    return [f"{key}={value}" for key, ok in accepts.items() for value in st.query_params.get_all(key) if not ok(value)]


def whole(low: int, high: int) -> Callable[[str], bool]:
    """A test for :func:`rejected`: a whole number from ``low`` to ``high``, as a URL writes it. ASCII digits only, and
    no more than ``high`` has (``int`` refuses "²", which ``isdigit`` accepts, and strings of over 4,300 digits)."""
    return lambda value: (value.isascii() and value.isdigit() and len(value) <= len(str(high))
                          and low <= int(value) <= high)


def say_rejected(found: list[str], instead: str) -> None:
    """One line for the URL values :func:`rejected` found, and what the page shows ``instead``."""
    if found:
        st.warning(f"This link asks for {literal(', '.join(found))}, which this page does not offer (a typo, or a spec "
                   f"renamed since); {instead}.", icon=":material/link_off:")


def lazy_panel(label: str, key: str, icon: str | None = None, params: Iterable[str] = (),
               opened: bool = False, bound: bool = False):
    """An expander whose content a page draws only while it is open: the expander, or None while it is closed.

    Its controls are then no cost to a page that does not show them (issue 17: each element type a page draws
    costs a cold load its JavaScript). It starts open when ``opened``, or when the URL carries one of ``params``,
    the URL parameters of the controls inside. Closed, those parameters leave the URL (Streamlit drops a hidden
    widget's binding), so the page shows what it shows without them, and the widgets keep their values for when it
    opens again. ``bound``: the panel's own state is in the URL too (``key=true``), for a panel that is a view of
    its own; its default is closed, and one of ``params`` opens it at the session's first run by setting it open and
    writing ``key=true`` into the URL (setting the URL alone does not reach the widget; with an open default,
    Streamlit left ``key=true`` out of the URL as a default value, and the controls' parameters too where they held
    their defaults, so ``/trace?…&head=0`` became a URL that no longer opened the toy). The
    default is the one the session started with, the same at every run: a default that changed when the parameters
    left the URL made the browser drop the next click on the panel.
    """
    first = f"{key}-at-start" not in st.session_state
    opening = opened or bool(set(params) & set(st.query_params))
    start = st.session_state.setdefault(f"{key}-at-start", opening and not bound)
    if bound and first and opening and key not in st.query_params:
        st.session_state[key] = True
        st.query_params[key] = "true"
    panel = st.expander(label, expanded=start, key=key, on_change="rerun", icon=icon,
                        **({"bind": "query-params"} if bound else {}))
    return panel if panel.open else None


def controls(label: str, icon: str = ":material/tune:"):
    """A button that opens some of a page's controls (its choosers, its downloads) in a popover; the popover.

    The widgets in it run at every run as anywhere else (bound to the URL, read by tests), but the browser draws them,
    and loads their JavaScript, only when the popover opens: a selectbox alone cost a cold load of a one-line page
    0.25× the floor (21 JavaScript files fetched after the script's first message; issue 17). Unlike
    :func:`lazy_panel`, nothing leaves the URL while it is closed; the page's title or table says what is chosen.
    Not Streamlit's lazy popover (``on_change="rerun"``): closed, its widgets would not run, and their parameters
    would leave the URL as a closed panel's do.
    """
    return st.popover(label, icon=icon)


def lazy_tabs(sections: dict[str, Callable[[], None]], key: str, default: str | None = None) -> None:
    """``sections`` as tabs bound to the URL parameter ``key``; only the open one runs and is sent.

    Streamlit draws every tab's content on load unless the tabs track their state (here: bound to the
    URL); then a closed tab costs neither the server nor the browser anything (issue 17).
    """
    lost = rejected(**{key: sections.__contains__})
    tabs = st.tabs(list(sections), default=default, key=key, bind="query-params")
    say_rejected(lost, f"showing *{next(name for name, tab in zip(sections, tabs) if tab.open)}*")
    for tab, section in zip(tabs, sections.values()):
        if tab.open:
            with tab:
                section()
