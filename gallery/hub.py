"""Fetch a config.json from the Hugging Face Hub, pinned to the commit it resolved to.

Used only by ``python -m gallery new --hf-repo ORG/NAME`` at curation time; the app and the tests
never need the network (tests install a mock transport with ``huggingface_hub.set_client_factory``).
Every failure becomes one :class:`HubError` line that says what to do, and nothing is written.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}$")


class HubError(Exception):
    """A fetch that failed, with what to do about it (one line)."""


def fetch_config(hf_repo: str, revision: str | None = None) -> tuple[dict, str]:
    """``(config, commit_sha)`` of ``hf_repo``'s config.json at ``revision`` (default: main).

    The file is downloaded into a throw-away cache so nothing is left behind; the commit sha comes
    from the snapshot folder the Hub resolved the revision to (its ``X-Repo-Commit`` header).
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub import errors as e

    if hf_repo.count("/") != 1:
        raise HubError(f"'{hf_repo}' is not a Hub repo id: write it as ORG/NAME, e.g. meta-llama/Llama-3.1-8B")
    where = f"{hf_repo}" + (f"@{revision}" if revision else "")
    if constants.is_offline_mode():
        raise HubError("HF_HUB_OFFLINE is set: unset it to fetch, or download config.json yourself "
                       "and run python -m gallery new CONFIG.json --hf-repo ORG/NAME")
    with tempfile.TemporaryDirectory(prefix="gallery-hub-") as cache:
        try:
            path = Path(hf_hub_download(hf_repo, "config.json", revision=revision, cache_dir=cache))
            text = path.read_text(encoding="utf-8")
        except e.GatedRepoError:
            raise HubError(f"{hf_repo} is gated: accept its licence on the Hub, then log in "
                           "(hf auth login) or set HF_TOKEN") from None
        except e.RepositoryNotFoundError:
            raise HubError(f"{hf_repo} was not found (or is private): check the name, or log in "
                           "with a token that can read it (hf auth login / HF_TOKEN)") from None
        except e.RevisionNotFoundError:
            raise HubError(f"revision '{revision}' does not exist in {hf_repo}: give a branch, tag "
                           "or commit sha that exists") from None
        except e.LocalEntryNotFoundError:
            raise HubError(f"cannot reach the Hub to fetch {where}: check the network, or download "
                           "config.json yourself and pass its path") from None
        except e.EntryNotFoundError:
            raise HubError(f"{where} has no config.json: is it a transformers model repo?") from None
        except e.HfHubHTTPError as exc:
            raise HubError(f"the Hub refused {where}: {str(exc).splitlines()[0]}") from None
        except OSError as exc:
            raise HubError(f"cannot fetch {where}: {exc}") from None
    sha = path.parent.name
    if not _SHA.match(sha):
        raise HubError(f"the Hub did not say which commit {where} is; pass --revision with a commit sha")
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise HubError(f"{where}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise HubError(f"{where}: config.json is not a JSON object")
    return config, sha
