"""A view of config.json that reads keys the way transformers does, and remembers what it read.

transformers fills every key a config.json leaves out with the default of that model type's
config class (``LlamaConfig.rms_norm_eps = 1e-6`` and so on). :class:`Config` does the same from the
family's ``defaults`` table, and records each key it was asked for, so every derived spec field can
say where it came from (``n_kv_heads ← num_key_value_heads``, or "transformers default").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class DerivationError(ValueError):
    """A config that cannot be read: an unsupported model type, a missing or impossible value."""


@dataclass(frozen=True)
class Read:
    """One config key read while deriving a field."""

    key: str
    value: Any
    from_config: bool  # False: the key was absent and the transformers default was used

    def __str__(self) -> str:
        return self.key if self.from_config else f"{self.key} (absent: transformers default {self.value!r})"


@dataclass
class Config:
    """config.json (``raw``) over the model type's transformers defaults, recording reads."""

    raw: dict
    defaults: dict
    model_type: str
    aliases: dict[str, str] = field(default_factory=dict)  # attribute_map: json name → attribute
    trail: list[Read] = field(default_factory=list)

    def __post_init__(self) -> None:
        # transformers' attribute_map lets config.json say hidden_size where GPT-2 means n_embd.
        self.raw = dict(self.raw)
        for alias, key in self.aliases.items():
            if alias in self.raw and key not in self.raw:
                self.raw[key] = self.raw[alias]

    def __getitem__(self, key: str) -> Any:
        if key in self.raw:  # an explicit null is a value too (Mistral v0.3: sliding_window null)
            value, present = self.raw[key], True
        elif key in self.defaults:
            value, present = self.defaults[key], False
        else:
            raise DerivationError(
                f"config.json of model_type '{self.model_type}' has no '{key}' and transformers has no "
                "default for it: add the key to the config"
            )
        self.trail.append(Read(key, value, present))
        return value

    def get(self, key: str, fallback: Any = None) -> Any:
        """The key's value, or ``fallback`` when neither the config nor the defaults have it."""
        if key in self.raw or key in self.defaults:
            return self[key]
        return fallback

    def has(self, key: str) -> bool:
        """True when config.json itself sets the key to a non-null value (nothing is recorded)."""
        return self.raw.get(key) is not None

    def take_trail(self) -> list[Read]:
        """The reads since the last call, then forget them."""
        trail, self.trail = self.trail, []
        return trail
