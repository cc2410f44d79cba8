"""Open a model on the Hugging Face Hub by its repo id or URL: its config.json, pinned to a commit.

One code path for the app's Try page, ``stats``/``export --hf-repo`` and ``new --hf-repo``:

* :func:`parse_ref` reads what a person types (``ORG/NAME``, ``ORG/NAME@REV``, or a
  ``https://huggingface.co/ORG/NAME`` URL, optionally ``/tree/REV`` or ``/blob/REV/config.json``) and
  refuses anything else before any request is made: only a repo id ever reaches the network, and
  only at the configured endpoint (``HF_ENDPOINT``, default huggingface.co).
* :func:`open_repo` resolves the revision to its commit (one ``HEAD`` through ``huggingface_hub``,
  remembered for :data:`RESOLVE_TTL_S`; a 40-hex revision is its own commit) and downloads
  ``config.json`` at that commit (one ``GET``, redirects followed only on the same host), with a
  timeout and the Try page's size cap. Downloads are kept in memory per ``(repo, commit)``, bounded
  in bytes, so a second visitor of the same commit costs no request.
* Every failure is one :class:`HubError` line saying what happened and what to do; the wording
  never asks for a visitor's token (a token is used only when the server's environment sets
  ``HF_TOKEN``).

The tests install a mock transport with ``huggingface_hub.set_client_factory``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from .trial import MAX_BYTES, TrialError, parse_config

TIMEOUT_S = 5.0  # per request; the download as a whole stops at twice this
RESOLVE_TTL_S = 300.0  # how long a branch or tag is trusted to point at the commit it resolved to
CACHE_BYTES = 32 * 1024 * 1024  # config.json bytes kept in memory (≥ 64 files at the 512 KB cap)
HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")

_SHA = re.compile(r"^[0-9a-f]{40}$")
_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO = re.compile(rf"^{_PART}/{_PART}$")
_REVISION = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_./-]{0,126}[A-Za-z0-9_])?$")
_FORMS = "ORG/NAME, ORG/NAME@REVISION or https://huggingface.co/ORG/NAME[/tree/REVISION]"


class HubError(Exception):
    """A fetch that failed, with what to do about it (one line)."""


@dataclass(frozen=True)
class RepoRef:
    """A Hub model repo and the revision asked for (``None``: the default branch)."""

    repo: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class HubConfig:
    """A repo's config.json at the commit its revision resolved to."""

    ref: RepoRef
    sha: str
    config: dict
    endpoint: str

    @property
    def url(self) -> str:
        """The config.json file on the Hub, at this commit."""
        return f"{self.endpoint}/{self.ref.repo}/blob/{self.sha}/config.json"


def _shown(text: str) -> str:
    """User text inside a message: one line, bounded."""
    text = " ".join(text.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _check(repo: str, revision: str | None, text: str) -> RepoRef:
    if not _REPO.match(repo) or "--" in repo or ".." in repo or repo.endswith(".git"):
        raise HubError(f"{_shown(text)} is not a Hub model repo id: give {_FORMS}")
    if revision is not None and (not _REVISION.match(revision) or ".." in revision or "//" in revision
                                 or revision.endswith(".lock")):
        raise HubError(f"{_shown(text)}: revision {_shown(revision)} is not a branch, tag or commit name")
    return RepoRef(repo, revision or None)


def parse_ref(text: str, revision: str | None = None) -> RepoRef:
    """The repo and revision that ``text`` names, or a :class:`HubError`; pure, never a request.

    ``revision`` (a separate field: ``?revision=`` or ``--revision``) applies when the text names none.
    """
    text = (text or "").strip()
    revision = (revision or "").strip() or None
    if not text:
        raise HubError(f"no repo given: give {_FORMS}")
    if len(text) > 300:
        raise HubError(f"the repo id or URL is {len(text)} characters long: give {_FORMS}")
    repo, rev = _split_url(text) if "://" in text or text.lower().startswith(tuple(h + "/" for h in HOSTS)) \
        else _split_id(text)
    if rev is not None and revision and rev != revision:
        raise HubError(f"{_shown(text)} names revision {_shown(rev)} but revision {_shown(revision)} was also "
                       "given: give one")
    return _check(repo, revision if rev is None else rev, text)


def _split_id(text: str) -> tuple[str, str | None]:
    repo, at, rev = text.partition("@")
    return repo, rev if at else None


def _split_url(text: str) -> tuple[str, str | None]:
    try:
        url = urlsplit(text if "://" in text else "https://" + text)
        foreign = url.scheme not in ("https", "http") or url.hostname not in HOSTS or url.port is not None
    except ValueError:  # a port that is not a number, a broken IPv6 address
        foreign = True
    if foreign or url.username or url.password or url.query or url.fragment:
        raise HubError(f"{_shown(text)} is not a Hugging Face model page: only {_FORMS} is opened, "
                       "never another site")
    parts = url.path.strip("/").split("/")
    if parts[0] in ("datasets", "spaces", "buckets"):
        raise HubError(f"{_shown(text)} is a {parts[0][:-1]}, not a model: open a model repo")
    rest = parts[2:]
    if not rest:
        return "/".join(parts), None
    if len(rest) == 2 and rest[0] == "tree" or len(rest) == 3 and rest[0] in ("blob", "resolve") \
            and rest[2] == "config.json":
        return "/".join(parts[:2]), unquote(rest[1])  # refs%2Fpr%2F1 → refs/pr/1
    raise HubError(f"{_shown(text)} is not a model repo or its config.json: give {_FORMS}")


class _Bounded:
    """A thread-safe LRU map bounded by a total size; entries may expire after ``ttl`` seconds."""

    def __init__(self, budget: int, size=lambda value: 1, ttl: float | None = None):
        self.budget, self.size, self.ttl = budget, size, ttl
        self._items: OrderedDict = OrderedDict()  # key → (value, stored at)
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None or self.ttl is not None and time.monotonic() - item[1] > self.ttl:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key, value) -> None:
        with self._lock:
            if key in self._items:
                self._used -= self.size(self._items.pop(key)[0])
            self._items[key] = (value, time.monotonic())
            self._used += self.size(value)
            while self._used > self.budget and len(self._items) > 1:
                self._used -= self.size(self._items.popitem(last=False)[1][0])

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0


_commits = _Bounded(1024, ttl=RESOLVE_TTL_S)  # (repo, revision) → commit sha
_files = _Bounded(CACHE_BYTES, size=len)  # (repo, commit sha) → config.json bytes


def clear_cache() -> None:
    """Forget every resolved revision and downloaded file (tests)."""
    _commits.clear()
    _files.clear()


def open_repo(ref: RepoRef) -> HubConfig:
    """``ref``'s config.json at the commit its revision resolves to; a :class:`HubError` otherwise."""
    from huggingface_hub import constants

    ref = _check(ref.repo, ref.revision, str(ref))  # whoever built it, only a valid repo id goes out
    if constants.is_offline_mode():
        raise HubError(f"cannot reach the Hub: HF_HUB_OFFLINE is set here; download {ref}'s config.json "
                       "from the Hub yourself and use the file instead")
    try:
        sha = _resolve(ref)
        data = _files.get((ref.repo, sha))
        if data is None:
            data = _download(ref, sha)
            _files.put((ref.repo, sha), data)
    except HubError:
        raise
    except Exception as exc:  # noqa: BLE001 - every other failure becomes one line too
        raise _one_line(exc, ref) from None
    try:
        config = parse_config(data)
    except TrialError as exc:
        raise HubError(f"{ref}: config.json cannot be read: {exc}") from None
    return HubConfig(ref, sha, config, constants.ENDPOINT.rstrip("/"))


def _token() -> str | bool:
    return os.environ.get("HF_TOKEN") or False  # the server's own token, if its operator set one


def _resolve(ref: RepoRef) -> str:
    if ref.revision and _SHA.match(ref.revision):
        return ref.revision
    sha = _commits.get((ref.repo, ref.revision))
    if sha is None:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        meta = get_hf_file_metadata(hf_hub_url(ref.repo, "config.json", revision=ref.revision),
                                    token=_token(), timeout=TIMEOUT_S)
        if not meta.commit_hash or not _SHA.match(meta.commit_hash):
            raise HubError(f"the Hub did not say which commit {ref} is; give a 40-hex commit sha as the revision")
        if meta.size is not None and meta.size > MAX_BYTES:
            raise _too_large(ref, meta.size)
        sha = meta.commit_hash
        _commits.put((ref.repo, ref.revision), sha)
    return sha


def _download(ref: RepoRef, sha: str) -> bytes:
    """config.json at ``sha``: at most MAX_BYTES + 1 bytes read, within 2 × TIMEOUT_S, same host only."""
    from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(ref.repo, "config.json", revision=sha)
    origin = urlsplit(url)[:2]
    deadline = time.monotonic() + 2 * TIMEOUT_S
    for _ in range(3):  # a renamed repo answers with a redirect to its new name on the same host
        with get_session().stream("GET", url, headers=build_hf_headers(token=_token()), timeout=TIMEOUT_S,
                                  follow_redirects=False) as response:
            if response.has_redirect_location:
                url = urljoin(url, response.headers["Location"])
                if urlsplit(url)[:2] != origin:
                    raise HubError(f"{ref}: the Hub sent config.json's download to another host; download "
                                   "it yourself and use the file instead")
                continue
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_BYTES:
                    raise _too_large(ref, int(response.headers.get("Content-Length") or len(data)))
                if time.monotonic() > deadline:
                    raise TimeoutError
            return bytes(data)
    raise HubError(f"{ref}: the Hub redirected config.json too many times")


def _too_large(ref: RepoRef, size: int) -> HubError:
    return HubError(f"{ref}: config.json is {size:,} bytes; a config.json is at most {MAX_BYTES:,} bytes here")


def _one_line(exc: Exception, ref: RepoRef) -> HubError:
    """The :class:`HubError` for an exception of ``huggingface_hub`` or the transport."""
    import httpx2
    from huggingface_hub import errors as e

    instead = "download config.json from the Hub yourself and use the file instead"
    if isinstance(exc, e.GatedRepoError):  # a subclass of RepositoryNotFoundError: first
        return HubError(f"{ref.repo} is gated: accept its licence on the Hub, then {instead} (whoever runs "
                        "this can set HF_TOKEN in its environment to fetch it directly)")
    if isinstance(exc, e.RepositoryNotFoundError):
        return HubError(f"{ref.repo} was not found on the Hub (or is private): check the name")
    if isinstance(exc, e.RevisionNotFoundError):
        return HubError(f"revision '{ref.revision}' does not exist in {ref.repo}: give a branch, tag or "
                        "commit sha that exists")
    if isinstance(exc, e.EntryNotFoundError):
        return HubError(f"{ref} has no config.json: is it a transformers model repo?")
    if isinstance(exc, (httpx2.TimeoutException, TimeoutError)):
        return HubError(f"the Hub did not answer in time ({TIMEOUT_S:g} s a request) for {ref}: try again later, "
                        f"or {instead}")
    if isinstance(exc, e.HfHubHTTPError) and exc.response is not None and exc.response.status_code == 429:
        return HubError(f"the Hub is rate-limiting requests from this server: try {ref} again in a minute, "
                        f"or {instead}")
    if isinstance(exc, e.HfHubHTTPError) and exc.response is not None:
        return HubError(f"the Hub answered {exc.response.status_code} for {ref}: try again later, or {instead}")
    if isinstance(exc, (httpx2.TransportError, OSError)):
        return HubError(f"cannot reach the Hub to fetch {ref}: check the network, or {instead}")
    return HubError(f"cannot fetch {ref}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
