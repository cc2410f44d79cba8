"""Opening a Hub repo (gallery.hub, the CLI's --hf-repo, the Try page) against a mock HTTP transport.

The Hub is never reached: the suite runs with HF_HUB_OFFLINE=1 (see the Makefile), so an accidental
real request fails at once, and each test here switches offline mode off only while a mock client is
installed with ``huggingface_hub.set_client_factory``. The config bytes served are a bundled one.
"""

from __future__ import annotations

import json
import re

import httpx2
import huggingface_hub as hh
import pytest
from huggingface_hub import constants
from hypothesis import given, settings
from hypothesis import strategies as st

from gallery import hub
from gallery.hub import HubError, RepoRef, open_repo, parse_ref

from .conftest import SPEC_DIR, diagram_text, page_diagrams

SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER = "89abcdef0123456789abcdef0123456789abcdef"
CONFIG = (SPEC_DIR / "configs" / "qwen3-0.6b.json").read_bytes()


class FakeHub:
    """A mock Hub: ``files[(repo, revision)]`` = (commit, bytes); each entry answers HEAD and GET of
    ``/{repo}/resolve/{revision}/config.json`` (the GET also at the commit), everything else 404."""

    def __init__(self, **options):
        self.files = {("Qwen/Qwen3-0.6B", "main"): (SHA, CONFIG)}
        self.error, self.status, self.headers, self.fail = options.get("error"), 404, {}, None
        self.requests: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/api/agent-harnesses":  # huggingface_hub's own best-effort lookup
            return httpx2.Response(404)
        self.requests.append(f"{request.method} {request.url.host}{request.url.path}")
        if self.fail:
            raise self.fail(request)
        if self.error:
            return httpx2.Response(self.status, headers={"X-Error-Code": self.error} if self.error != "-" else {})
        served = {(repo, rev): item for (repo, rev), item in self.files.items()}
        served.update({(repo, sha): (sha, data) for (repo, _), (sha, data) in self.files.items()})
        parts = request.url.path.strip("/").split("/")
        item = served.get(("/".join(parts[:2]), parts[3])) if parts[2:3] == ["resolve"] else None
        if item is None or parts[4:] != ["config.json"]:
            return httpx2.Response(404, headers={"X-Error-Code": "EntryNotFound"})
        sha, data = item
        headers = {"X-Repo-Commit": sha, "ETag": '"e"', "Content-Length": str(len(data)), **self.headers}
        return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else data)

    def gets(self) -> list[str]:
        return [r for r in self.requests if r.startswith("GET")]


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """A FakeHub installed as huggingface_hub's transport, with offline mode off and an empty cache."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # no backoff waits, should anything retry
    fake = FakeHub()
    hub.clear_cache()
    hh.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(fake)))
    yield fake
    hh.set_client_factory(hh.utils._http.default_client_factory)
    hh.close_session()
    hub.clear_cache()


# --- what a person types ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "revision", "expected"), [
    ("Qwen/Qwen3-8B", None, RepoRef("Qwen/Qwen3-8B")),
    ("  Qwen/Qwen3-8B  ", "", RepoRef("Qwen/Qwen3-8B")),
    ("Qwen/Qwen3-8B@v1.0", None, RepoRef("Qwen/Qwen3-8B", "v1.0")),
    ("Qwen/Qwen3-8B", SHA, RepoRef("Qwen/Qwen3-8B", SHA)),
    ("meta-llama/Llama-3.1-8B_x.y", None, RepoRef("meta-llama/Llama-3.1-8B_x.y")),
    ("https://huggingface.co/Qwen/Qwen3-8B", None, RepoRef("Qwen/Qwen3-8B")),
    ("https://huggingface.co/Qwen/Qwen3-8B/", "dev", RepoRef("Qwen/Qwen3-8B", "dev")),
    ("huggingface.co/Qwen/Qwen3-8B", None, RepoRef("Qwen/Qwen3-8B")),
    ("https://hf.co/Qwen/Qwen3-8B", None, RepoRef("Qwen/Qwen3-8B")),
    ("https://huggingface.co/Qwen/Qwen3-8B/tree/main", None, RepoRef("Qwen/Qwen3-8B", "main")),
    ("https://huggingface.co/Qwen/Qwen3-8B/tree/refs%2Fpr%2F12", None, RepoRef("Qwen/Qwen3-8B", "refs/pr/12")),
    (f"https://huggingface.co/Qwen/Qwen3-8B/blob/{SHA}/config.json", None, RepoRef("Qwen/Qwen3-8B", SHA)),
    ("https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json", None, RepoRef("Qwen/Qwen3-8B", "main")),
])
def test_repo_ids_and_hub_urls_are_read(text, revision, expected):
    assert parse_ref(text, revision) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("", "no repo given"),
    ("gpt2", "not a Hub model repo id"),
    ("a/b/c", "not a Hub model repo id"),
    ("../etc/passwd", "not a Hub model repo id"),
    ("org/-name", "not a Hub model repo id"),
    ("org/na--me", "not a Hub model repo id"),
    ("org/name.git", "not a Hub model repo id"),
    ("org/na me", "not a Hub model repo id"),
    ("org/name@", "is not a branch, tag or commit name"),
    ("org/name@a..b", "is not a branch, tag or commit name"),
    ("org/name@main\nx", "is not a branch, tag or commit name"),
    ("https://evil.example/org/name", "never another site"),
    ("https://huggingface.co.evil.example/org/name", "never another site"),
    ("https://evil.example/?u=https://huggingface.co/org/name", "never another site"),
    ("https://huggingface.co@evil.example/org/name", "never another site"),
    ("ftp://huggingface.co/org/name", "never another site"),
    ("https://huggingface.co:8443/org/name", "never another site"),
    ("https://huggingface.co:443/org/name", "never another site"),
    ("https://huggingface.co:x/org/name", "never another site"),
    ("https://[::1/org/name", "never another site"),
    ("https://huggingface.co/org/name?download=true", "never another site"),
    ("file:///etc/passwd", "never another site"),
    ("https://huggingface.co/datasets/org/name", "is a dataset, not a model"),
    ("https://huggingface.co/spaces/org/name", "is a space, not a model"),
    ("https://huggingface.co/org/name/blob/main/model.safetensors", "not a model repo or its config.json"),
    ("https://huggingface.co/org/name/tree/main/sub", "not a model repo or its config.json"),
    ("x" * 301, "characters long"),
])
def test_anything_else_is_refused_in_one_line(text, words):
    with pytest.raises(HubError, match=words) as err:
        parse_ref(text)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120), st.from_regex(r"(https?://)?(hf\.co|huggingface\.co)/[\w@%:/?#.\[\]-]{0,60}")),
       st.one_of(st.none(), st.text(max_size=20)))
def test_any_text_is_a_valid_repo_id_or_one_line(text, revision):
    try:
        ref = parse_ref(text, revision)
    except HubError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert re.fullmatch(r"[\w.\-]+/[\w.\-]+", ref.repo, re.ASCII)  # the spec's hf_repo pattern
    assert ref.revision is None or re.fullmatch(r"[\w./\-]+", ref.revision, re.ASCII)


@pytest.mark.parametrize("text", ["org/name@v1", "https://huggingface.co/org/name/tree/v1"])
def test_two_revisions_are_refused(text):
    with pytest.raises(HubError, match="give one"):
        parse_ref(text, "v2")
    assert parse_ref(text, "v1") == RepoRef("org/name", "v1")


def test_a_refused_url_makes_no_request(fake_hub, capsys):
    from gallery.cli import main

    assert main(["stats", "--hf-repo", "https://evil.example/Qwen/Qwen3-0.6B"]) == 2
    assert main(["export", "--hf-repo", "http://127.0.0.1:8080/Qwen/Qwen3-0.6B", "-o", "/dev/null"]) == 2
    with pytest.raises(HubError):  # however a RepoRef was built, only a valid repo id goes out
        open_repo(RepoRef("../../api/whoami", None))
    assert fake_hub.requests == []
    assert capsys.readouterr().err.count("never another site") == 2


# --- fetching -----------------------------------------------------------------------------------

def test_the_config_is_pinned_to_the_commit_the_revision_resolves_to(fake_hub):
    opened = open_repo(parse_ref("https://huggingface.co/Qwen/Qwen3-0.6B"))
    assert opened.config == json.loads(CONFIG) and opened.sha == SHA
    assert opened.url == f"https://huggingface.co/Qwen/Qwen3-0.6B/blob/{SHA}/config.json"
    assert fake_hub.requests == ["HEAD huggingface.co/Qwen/Qwen3-0.6B/resolve/main/config.json",
                                 f"GET huggingface.co/Qwen/Qwen3-0.6B/resolve/{SHA}/config.json"]


def test_a_commit_revision_needs_no_resolving(fake_hub):
    assert open_repo(RepoRef("Qwen/Qwen3-0.6B", SHA)).sha == SHA
    assert fake_hub.requests == [f"GET huggingface.co/Qwen/Qwen3-0.6B/resolve/{SHA}/config.json"]


def test_the_same_commit_is_downloaded_once(fake_hub, monkeypatch):
    fake_hub.files[("Qwen/Qwen3-0.6B", "v1")] = (SHA, CONFIG)  # a tag on the same commit
    first = open_repo(RepoRef("Qwen/Qwen3-0.6B"))
    first.config["hidden_size"] = -1  # a caller changing its copy changes nobody else's
    assert open_repo(RepoRef("Qwen/Qwen3-0.6B")).config == json.loads(CONFIG)  # a second visitor
    assert len(fake_hub.requests) == 2  # its HEAD and GET; the second visitor cost nothing
    open_repo(RepoRef("Qwen/Qwen3-0.6B", "v1"))
    open_repo(RepoRef("Qwen/Qwen3-0.6B", SHA))
    assert len(fake_hub.gets()) == 1 and len(fake_hub.requests) == 3  # v1 resolved (HEAD), not downloaded
    now = hub.time.monotonic()
    monkeypatch.setattr(hub.time, "monotonic", lambda: now + hub.RESOLVE_TTL_S + 1)
    fake_hub.files[("Qwen/Qwen3-0.6B", "main")] = (OTHER, CONFIG.replace(b'"hidden_size": 1024', b'"hidden_size": 512'))
    assert open_repo(RepoRef("Qwen/Qwen3-0.6B")).config["hidden_size"] == 512  # main moved on: re-resolved
    assert len(fake_hub.gets()) == 2


def test_the_cache_is_bounded_in_bytes(fake_hub, monkeypatch):
    monkeypatch.setattr(hub._files, "budget", 2 * len(CONFIG))
    shas = [f"{i:040x}" for i in range(3)]
    for sha in shas:
        fake_hub.files[("Qwen/Qwen3-0.6B", sha)] = (sha, CONFIG)
        open_repo(RepoRef("Qwen/Qwen3-0.6B", sha))
    open_repo(RepoRef("Qwen/Qwen3-0.6B", shas[2]))  # kept
    assert len(fake_hub.gets()) == 3
    open_repo(RepoRef("Qwen/Qwen3-0.6B", shas[0]))  # the oldest was dropped
    assert len(fake_hub.gets()) == 4


@pytest.mark.parametrize(("error", "status", "words"), [
    ("GatedRepo", 401, "Qwen/Qwen3-0.6B is gated: accept its licence on the Hub, then download config.json"),
    ("RepoNotFound", 404, "Qwen/Qwen3-0.6B was not found on the Hub (or is private)"),
    ("RevisionNotFound", 404, "revision 'v9' does not exist in Qwen/Qwen3-0.6B"),
    ("EntryNotFound", 404, "Qwen/Qwen3-0.6B@v9 has no config.json"),
    ("-", 429, "the Hub is rate-limiting requests from this server"),
    ("-", 503, "the Hub answered 503 for Qwen/Qwen3-0.6B@v9"),
])
def test_each_failure_is_one_line_that_says_what_to_do(fake_hub, error, status, words):
    fake_hub.error, fake_hub.status = error, status
    with pytest.raises(HubError) as err:
        open_repo(RepoRef("Qwen/Qwen3-0.6B", "v9"))
    assert str(err.value).startswith(words) and "\n" not in str(err.value)
    assert "token" not in str(err.value).replace("HF_TOKEN", "")  # a visitor is never asked for theirs
    assert len(fake_hub.requests) == 1  # no retries


@pytest.mark.parametrize(("failure", "words"), [
    (lambda r: httpx2.ConnectError("no route to host", request=r), "cannot reach the Hub to fetch"),
    (lambda r: httpx2.ReadTimeout("timed out", request=r), rf"the Hub did not answer in time \({hub.TIMEOUT_S:g} s a request\)"),
    (lambda r: httpx2.ConnectTimeout("timed out", request=r), rf"the Hub did not answer in time \({hub.TIMEOUT_S:g} s a request\)"),
])
def test_no_network_and_timeouts_say_so(fake_hub, failure, words):
    fake_hub.fail = failure
    with pytest.raises(HubError, match=words):
        open_repo(RepoRef("Qwen/Qwen3-0.6B"))
    assert len(fake_hub.requests) == 1


def test_offline_mode_is_on_for_the_suite():
    assert constants.HF_HUB_OFFLINE, "run the tests with HF_HUB_OFFLINE=1 (make test does)"
    with pytest.raises(HubError, match="cannot reach the Hub: HF_HUB_OFFLINE is set"):
        open_repo(RepoRef("org/model"))


@pytest.mark.parametrize(("data", "words"), [
    (b"{not json", "config.json cannot be read: not valid JSON at line 1"),
    (b"[1, 2]", "config.json cannot be read: a config.json is a JSON object"),
    (b"\xff\xfe", "config.json cannot be read: the file is not UTF-8"),
])
def test_a_config_that_is_not_a_json_object_is_one_line(fake_hub, data, words):
    fake_hub.files[("Qwen/Qwen3-0.6B", "main")] = (SHA, data)
    with pytest.raises(HubError, match=words):
        open_repo(RepoRef("Qwen/Qwen3-0.6B"))


def test_a_config_over_the_paste_limit_is_refused_before_and_while_downloading(fake_hub):
    from gallery.trial import MAX_BYTES

    big = b'{"model_type": "llama", "pad": "' + b"x" * MAX_BYTES + b'"}'
    fake_hub.files[("Qwen/Qwen3-0.6B", "main")] = (SHA, big)
    with pytest.raises(HubError, match=f"config.json is {len(big):,} bytes; .* at most {MAX_BYTES:,}"):
        open_repo(RepoRef("Qwen/Qwen3-0.6B"))
    assert fake_hub.gets() == []  # the HEAD said how large it is
    with pytest.raises(HubError, match=f"at most {MAX_BYTES:,} bytes"):  # no HEAD: the download stops
        open_repo(RepoRef("Qwen/Qwen3-0.6B", SHA))


def test_a_commit_the_hub_does_not_name_is_refused(fake_hub):
    fake_hub.headers = {"X-Repo-Commit": "not-a-sha"}
    with pytest.raises(HubError, match="did not say which commit"):
        open_repo(RepoRef("Qwen/Qwen3-0.6B"))


def test_redirects_stay_on_the_hub(fake_hub):
    served = fake_hub.__call__

    def moved(request):  # a renamed repo redirects on the same host; a download elsewhere is refused
        if request.url.path.startswith("/old/name/"):
            fake_hub.requests.append(f"{request.method} {request.url.host}{request.url.path}")
            return httpx2.Response(307, headers={"Location": request.url.path.replace("/old/name/", "/Qwen/Qwen3-0.6B/")})
        if request.url.path.startswith("/Qwen/Elsewhere/") and request.method == "GET":
            fake_hub.requests.append(f"{request.method} {request.url.host}{request.url.path}")
            return httpx2.Response(302, headers={"Location": "https://cdn.evil.example/config.json"})
        return served(request)

    hh.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(moved)))
    hh.close_session()
    assert open_repo(RepoRef("old/name", SHA)).config == json.loads(CONFIG)
    with pytest.raises(HubError, match="to another host"):
        open_repo(RepoRef("Qwen/Elsewhere", SHA))
    assert not any("evil" in r for r in fake_hub.requests)


def test_a_token_is_sent_only_when_the_server_sets_hf_token(fake_hub, monkeypatch):
    seen = []
    served = fake_hub.__call__
    hh.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(
        lambda r: seen.append(r.headers.get("authorization")) or served(r))))
    hh.close_session()
    open_repo(RepoRef("Qwen/Qwen3-0.6B"))
    monkeypatch.setenv("HF_TOKEN", "hf_server_token")
    hub.clear_cache()
    open_repo(RepoRef("Qwen/Qwen3-0.6B"))
    assert [s for s in seen if s] == ["Bearer hf_server_token"] * 2 and seen.count(None) >= 2


# --- the command line ---------------------------------------------------------------------------

def test_stats_of_a_hub_repo_equal_the_bundled_spec(fake_hub, capsys):
    from gallery.cli import main

    assert main(["stats", "--json", str(SPEC_DIR / "qwen3-0.6b.yaml")]) == 0
    bundled = json.loads(capsys.readouterr().out)  # its count equals transformers' (tests/test_counts.py)
    assert main(["stats", "--json", "--hf-repo", "Qwen/Qwen3-0.6B@main"]) == 0
    out, err = capsys.readouterr()
    row = json.loads(out)
    assert {k: v for k, v in row.items() if k != "slug"} == {k: v for k, v in bundled.items() if k != "slug"}
    assert row["slug"] == "qwen3-0.6b" and f"commit {SHA}" in err


def test_export_of_a_hub_repo_writes_svg(fake_hub, tmp_path, capsys):
    import xml.etree.ElementTree as ET

    from gallery.cli import main

    out = tmp_path / "qwen.svg"
    assert main(["export", "--hf-repo", "https://huggingface.co/Qwen/Qwen3-0.6B", "--format", "svg", "-o", str(out)]) == 0
    assert ET.fromstring(out.read_bytes()).tag.endswith("svg")
    assert f"commit {SHA}" in capsys.readouterr().err
    assert main(["export", "qwen3-0.6b", "--hf-repo", "Qwen/Qwen3-0.6B"]) == 2  # one of the two, not both


def test_hub_failures_are_one_line_with_exit_code_2(fake_hub, capsys):
    from gallery.cli import main

    fake_hub.error, fake_hub.status = "GatedRepo", 401
    assert main(["stats", "--hf-repo", "meta-llama/Llama-3.1-8B"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: meta-llama/Llama-3.1-8B is gated") and err.count("\n") == 1


def test_a_model_type_without_reference_is_the_derivations_one_line(fake_hub, capsys):
    from gallery.cli import main

    remote = {"model_type": "acme_remote", "auto_map": {"AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM"},
              "hidden_size": 64, "num_hidden_layers": 2}
    fake_hub.files[("acme/remote-1b", "main")] = (SHA, json.dumps(remote).encode())
    assert main(["stats", "--hf-repo", "acme/remote-1b"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: acme/remote-1b: ") and "acme_remote" in err[-1]


def test_new_from_the_hub_records_the_sha_and_vendors_the_config(fake_hub, tmp_path, capsys):
    from gallery.cli import main
    from gallery.loader import load_spec

    out = tmp_path / "qwen3-0.6b.yaml"
    assert main(["new", "--hf-repo", "https://huggingface.co/Qwen/Qwen3-0.6B", "-o", str(out)]) == 0
    spec = load_spec(out).spec
    assert spec.source.revision == SHA and spec.source.hf_repo == "Qwen/Qwen3-0.6B"
    assert json.loads((tmp_path / "configs" / "qwen3-0.6b.json").read_text()) == json.loads(CONFIG)


def test_new_from_the_hub_writes_nothing_on_failure(fake_hub, tmp_path, capsys):
    from gallery.cli import main

    fake_hub.error, fake_hub.status = "GatedRepo", 401
    assert main(["new", "--hf-repo", "meta-llama/Llama-3.1-8B", "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "gated" in err and err.count("\n") == 1
    assert not any(tmp_path.glob("**/*.yaml")) and not any(tmp_path.glob("**/*.json"))


# --- the Try page -------------------------------------------------------------------------------

def _try_page(**query):
    from .test_app import _app

    return _app("views/try.py", **query)


def test_try_page_opens_a_repo_deep_link_with_its_commit(fake_hub):
    at = _try_page(repo="Qwen/Qwen3-0.6B")
    assert not at.exception and not at.error
    config = json.loads(CONFIG)
    assert f"{config['num_key_value_heads']} KV heads" in diagram_text(page_diagrams(at)[0])
    link = f"https://huggingface.co/Qwen/Qwen3-0.6B/blob/{SHA}/config.json"
    assert any(SHA in c.value and link in c.value for c in at.caption)
    assert [b.label for b in at.button if b.key and b.key.startswith("recent-")] == ["Qwen/Qwen3-0.6B"]
    at.run()  # a rerun (a second visitor, any widget) costs no request
    assert len(fake_hub.requests) == 2
    at.text_input(key="repo").input("Qwen/Qwen3-0.6B@v9").run()  # a revision that does not exist
    from views.common import literal  # messages are shown with Markdown characters escaped (issue 18)

    assert [e.value for e in at.error] == [literal("Qwen/Qwen3-0.6B@v9 has no config.json: is it a transformers model "
                                                   "repo?")]
    assert [b.label for b in at.button if b.key and b.key.startswith("recent-")] == ["Qwen/Qwen3-0.6B"]
    at.button(key="recent-0").click().run()  # reopens the recently opened one
    assert not at.error and at.text_input(key="revision").value == "" and page_diagrams(at)


def test_try_page_splits_a_pasted_url_into_repo_and_revision(fake_hub):
    at = _try_page(mode="a Hub repo", revision="v9")
    assert not at.exception and not at.error
    at.text_input(key="repo").input(f"https://huggingface.co/Qwen/Qwen3-0.6B/tree/{SHA}").run()  # its revision wins
    assert at.text_input(key="repo").value == "Qwen/Qwen3-0.6B" and at.text_input(key="revision").value == SHA
    assert not at.exception and not at.error and page_diagrams(at)
    at.text_input(key="repo").input("https://huggingface.co/Qwen/Qwen3-0.6B").run()  # none: the field's is kept
    assert at.text_input(key="repo").value == "Qwen/Qwen3-0.6B" and at.text_input(key="revision").value == SHA


def test_try_page_reads_a_multimodal_wrapper_through_its_text_config(fake_hub):
    fake_hub.files[("google/gemma-3-4b-it", "main")] = (SHA, (SPEC_DIR / "configs" / "gemma-3-4b-it.json").read_bytes())
    at = _try_page(repo="google/gemma-3-4b-it")
    assert not at.exception and not at.error
    assert any("text_config" in i.value for i in at.info)


def test_try_page_says_what_failed_and_pasting_still_works(fake_hub):
    fake_hub.error, fake_hub.status = "GatedRepo", 401
    at = _try_page(repo="meta-llama/Llama-3.1-8B")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith(r"meta-llama/Llama-3.1-8B is gated")
    at.segmented_control(key="mode").set_value("paste or upload").run()
    at.text_area(key="pasted").set_value(CONFIG.decode()).run()
    assert not at.exception and not at.error and page_diagrams(at)


def test_try_page_without_network_says_the_hub_cannot_be_reached():
    at = _try_page(repo="Qwen/Qwen3-0.6B")  # the suite is offline: nothing is mocked here
    assert not at.exception
    assert any(e.value.startswith("cannot reach the Hub") for e in at.error)
