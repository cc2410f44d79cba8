"""Fetching config.json from the Hub, against a mock HTTP transport (the Hub is never reached).

The suite runs with HF_HUB_OFFLINE=1 (see the Makefile), so an accidental real request fails
at once. Each test here switches offline mode off only while the mock client is installed.
"""

from __future__ import annotations

import json

import httpx2
import huggingface_hub as hh
import pytest
from huggingface_hub import constants

from gallery.hub import HubError, fetch_config

from .conftest import CONFIGS

SHA = "0123456789abcdef0123456789abcdef01234567"
CONFIG = (CONFIGS / "qwen3-0.6b.json").read_bytes()


def _hub(error_code: str | None = None, status: int = 404, sha: str = SHA):
    """A mock Hub: config.json of Qwen/Qwen3-0.6B at any revision, or an error for everything."""
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(f"{request.method} {request.url.path}")
        if error_code is None and request.url.path.endswith("/config.json"):
            headers = {"X-Repo-Commit": sha, "ETag": '"etag"', "Content-Length": str(len(CONFIG))}
            return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else CONFIG)
        return httpx2.Response(status, headers={"X-Error-Code": error_code or "EntryNotFound"})

    return handler, seen


@pytest.fixture
def mock_hub(monkeypatch, tmp_path):
    """Install a mock transport; returns a function that sets the handler."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))

    def install(handler):
        hh.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handler), follow_redirects=True))

    yield install
    hh.set_client_factory(hh.utils._http.default_client_factory)
    hh.close_session()


def test_fetch_pins_the_resolved_commit(mock_hub):
    handler, seen = _hub()
    mock_hub(handler)
    config, sha = fetch_config("Qwen/Qwen3-0.6B", "main")
    assert config == json.loads(CONFIG)
    assert sha == SHA
    assert any("/resolve/main/config.json" in s for s in seen)


@pytest.mark.parametrize("code,status,words", [
    ("GatedRepo", 401, "gated"),
    ("RepoNotFound", 404, "not found"),
    ("RevisionNotFound", 404, "does not exist"),
    ("EntryNotFound", 404, "no config.json"),
])
def test_each_failure_is_one_line_that_says_what_to_do(mock_hub, code, status, words):
    handler, _ = _hub(code, status)
    mock_hub(handler)
    with pytest.raises(HubError) as err:
        fetch_config("org/model", "v1")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_no_network_says_so(mock_hub, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # huggingface_hub retries with backoff

    def unreachable(request):
        raise httpx2.ConnectError("no route to host", request=request)

    mock_hub(unreachable)
    with pytest.raises(HubError, match="cannot reach the Hub"):
        fetch_config("org/model", "main")


def test_offline_mode_is_on_for_the_suite():
    assert constants.HF_HUB_OFFLINE, "run the tests with HF_HUB_OFFLINE=1 (make test does)"
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        fetch_config("org/model")


def test_bad_repo_id():
    with pytest.raises(HubError, match="ORG/NAME"):
        fetch_config("just-a-name")


def test_new_from_the_hub_records_the_sha_and_vendors_the_config(mock_hub, tmp_path, capsys):
    from gallery.cli import main
    from gallery.loader import load_spec

    handler, _ = _hub()
    mock_hub(handler)
    out = tmp_path / "qwen3-0.6b.yaml"
    assert main(["new", "--hf-repo", "Qwen/Qwen3-0.6B", "-o", str(out)]) == 0
    spec = load_spec(out).spec
    assert spec.source.revision == SHA and spec.source.hf_repo == "Qwen/Qwen3-0.6B"
    assert json.loads((tmp_path / "configs" / "qwen3-0.6b.json").read_text()) == json.loads(CONFIG)


def test_new_from_the_hub_writes_nothing_on_failure(mock_hub, tmp_path, capsys):
    from gallery.cli import main

    handler, _ = _hub("GatedRepo", 401)
    mock_hub(handler)
    assert main(["new", "--hf-repo", "meta-llama/Llama-3.1-8B", "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "gated" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "hf"] or not any(tmp_path.glob("*.yaml"))
