"""The independent source of truth: transformers models built on the meta device (dev dependency).

``reference_param_count(config)`` builds ``AutoModelForCausalLM`` from a config.json mapping (the
text config of a multimodal wrapper) without allocating weights and counts ``model.parameters()``.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings


def reference_model(config: dict):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    raw = copy.deepcopy(config)
    model_type = raw["model_type"]
    if model_type not in transformers.CONFIG_MAPPING:  # remote code (Kimi K2): the class its config names
        names = transformers.models.auto.modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        model_type = next(t for t, cls in names.items() if cls in raw.get("architectures", []))
        raw["model_type"] = model_type
    cfg = transformers.CONFIG_MAPPING[model_type].from_dict(raw)
    text = cfg.get_text_config() if getattr(cfg, "text_config", None) is not None else cfg
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(text)


@functools.lru_cache(maxsize=None)
def _count(config_json: str) -> int:
    model = reference_model(json.loads(config_json))
    return sum(p.numel() for p in model.parameters())


def reference_param_count(config: dict) -> int:
    """``sum(p.numel() for p in model.parameters())`` of the transformers model for ``config``."""
    return _count(json.dumps(config, sort_keys=True))
