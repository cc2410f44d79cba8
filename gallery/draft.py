"""Draft a spec from a config.json: the ``python -m gallery new`` command's core.

The architecture comes entirely from the config (``gallery.derive``); the curated facts a config
lacks (display name, organisation, release date, licence, published sizes, notes) get placeholders a contributor
fills in. The config is vendored beside the spec, so the folder lints clean right after.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationError

from . import yamlio
from .derive import derive, explain
from .spec import Spec


def slug_for(hf_repo: str) -> str:
    """``meta-llama/Llama-3.1-8B-Instruct`` → ``llama-3.1-8b-instruct``."""
    name = hf_repo.split("/")[-1].lower()
    return re.sub(r"[^a-z0-9.]+", "-", name).strip("-.")


CURATED = ("name", "family", "organisation", "release_date", "licence", "unconfirmed", "published", "notes")


def draft(config: dict, *, hf_repo: str, revision: str | None = None, slug: str | None = None,
          keep: Spec | None = None) -> Spec:
    """A valid spec for ``config``, with curated fields drafted from the repo id.

    With ``keep`` (the spec already at that path), its curated fields and notes are kept and only
    ``source`` and ``arch`` are re-derived, so refreshing a spec never loses human writing. A config
    whose values break a spec rule is a :class:`~gallery.derive.DerivationError` naming its keys.
    """
    derived = derive(config)
    org, name = hf_repo.split("/", 1)
    slug = slug or slug_for(hf_repo)
    curated = {k: getattr(keep, k) for k in CURATED} if keep else {}
    data = {
        "slug": slug,
        "name": name,
        "family": derived.family.__name__,
        "organisation": org,
        **{k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in curated.items()},
        "source": {
            "hf_repo": hf_repo,
            "revision": revision,
            "config": f"configs/{slug}.json",
            "model_type": config["model_type"],
            "transformers_class": derived.family.transformers_class,
            "text_config": derived.text_config,
        },
        "arch": derived.arch,
    }
    try:
        return Spec.model_validate(data, strict=False)
    except ValidationError as exc:
        raise explain(exc, derived) from None


def to_yaml(spec: Spec) -> str:
    """The canonical text of a spec file (modeline, field order of the schema, defaults left out)."""
    data = spec.model_dump(mode="python", exclude_defaults=True)
    # say "revision unknown" rather than leave it out, in schema order
    data["source"] = {k: spec.source.revision if k == "revision" else data["source"].get(k)
                      for k in type(spec.source).model_fields if k in data["source"] or k == "revision"}
    return yamlio.dump(data)


def write(spec: Spec, config: dict, spec_path: Path) -> tuple[Path, Path]:
    """Write the spec and vendor its config beside it; nothing is left half-written on failure."""
    config_path = spec_path.parent / spec.source.config
    config_path.parent.mkdir(parents=True, exist_ok=True)
    texts = {spec_path: to_yaml(spec), config_path: json.dumps(config, indent=2, ensure_ascii=False) + "\n"}
    tmp = {path: path.with_name(path.name + ".tmp") for path in texts}
    try:
        for path, text in texts.items():
            tmp[path].write_text(text, encoding="utf-8")
        for path in texts:
            tmp[path].replace(path)
    finally:
        for t in tmp.values():
            t.unlink(missing_ok=True)
    return spec_path, config_path
