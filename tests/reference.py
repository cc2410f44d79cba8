"""The independent source of truth: transformers models built on the meta device (dev dependency).

``reference_param_count(config)`` builds ``AutoModelForCausalLM`` from a config.json mapping (the
text config of a multimodal wrapper) without allocating weights and counts ``model.parameters()``.
A text config with no causal-LM class (Qwen3-VL's, Step 3.5's) is built as its text model (``AutoModel``, or the
``...TextModel`` beside its config class where AutoModel maps none) plus the
output head its wrapper adds (``Qwen3VLForConditionalGeneration.lm_head``), tied as the wrapper's
``tie_word_embeddings`` says (the wrapper's own flag: ``PreTrainedModel.get_expanded_tied_weights_keys``
reads the wrapper model's config); a text config whose own causal-LM class the mapping lists under its wrapper and which
ties nothing (``MllamaForCausalLM``) is built with that class.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import sys
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
    wrapped = getattr(cfg, "text_config", None) is not None
    text = cfg.get_text_config() if wrapped else cfg
    causal = transformers.models.auto.modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    with torch.device("meta"), _no_torch_init():
        if text.model_type in causal:
            return AutoModelForCausalLM.from_config(text)
        own = _untied_causal_class(text)
        if own is not None:
            return own(text)
        tied = cfg.tie_word_embeddings if wrapped else raw.get("tie_word_embeddings", False)
        return _text_model_with_head()(_text_model(text), tied)


@contextlib.contextmanager
def _no_torch_init():
    """torch's weight initialisers (``kaiming_uniform_``, ``normal_``, … in every module transformers patches) as
    no-ops while a model is built: on the meta device they fill nothing, yet they were a third of a build's CPU
    (the 87 bundled configs: 18.8 → 12.2 s, every count the same). transformers' own ``no_init_weights`` also skips
    ``init_weights``, which ties the weights, and so would change what ``parameters()`` counts."""
    from transformers.initialization import TORCH_INIT_FUNCTIONS, TORCH_MODULES_TO_PATCH

    saved = [(module, name, getattr(module, name)) for module in filter(None, map(sys.modules.get, TORCH_MODULES_TO_PATCH))
             for name in TORCH_INIT_FUNCTIONS if hasattr(module, name)]
    for module, name, _ in saved:
        setattr(module, name, lambda tensor=None, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def _text_model(text):
    """``AutoModel`` of a text config; where AutoModel maps none (Step 3.5's ``step3p5``, read by
    ``Step3p7TextConfig``), the ``...TextModel`` class beside the config class in its ``modeling_*`` module."""
    import importlib

    import transformers

    if text.model_type in transformers.models.auto.modeling_auto.MODEL_MAPPING_NAMES:
        return transformers.AutoModel.from_config(text)
    cls = type(text)
    module = importlib.import_module(cls.__module__.replace(".configuration_", ".modeling_"))
    return getattr(module, cls.__name__.removesuffix("Config") + "Model")(text)


def _untied_causal_class(text):
    """The ``...ForCausalLM`` beside a text config that the mapping lists only under its wrapper's type and that ties
    nothing (``MllamaForCausalLM``: no ``_tied_weights_keys``, its embed_tokens 8 rows longer than lm_head), or None."""
    import importlib

    cls = type(text)
    module = importlib.import_module(cls.__module__.replace(".configuration_", ".modeling_"))
    own = getattr(module, cls.__name__.removesuffix("TextConfig") + "ForCausalLM", None)
    return own if own is not None and own.config_class is cls and not own._tied_weights_keys else None


@functools.lru_cache(maxsize=1)
def _text_model_with_head():
    import torch

    class TextModelWithHead(torch.nn.Module):
        """A wrapper's language model: the text model and ``lm_head = nn.Linear(hidden, vocab, bias=False)``."""

        def __init__(self, model, tied: bool):
            super().__init__()
            self.model = model
            self.config = model.config
            self.lm_head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=False)
            if tied:
                self.lm_head.weight = model.get_input_embeddings().weight

        def forward(self, **kwargs):
            return self.model(**kwargs)

        def get_input_embeddings(self):
            return self.model.get_input_embeddings()

        def get_output_embeddings(self):
            return self.lm_head

    return TextModelWithHead



@functools.lru_cache(maxsize=None)
def _count(config_json: str) -> int:
    model = reference_model(json.loads(config_json))
    return sum(p.numel() for p in model.parameters())


def reference_param_count(config: dict) -> int:
    """``sum(p.numel() for p in model.parameters())`` of the transformers model for ``config``."""
    return _count(json.dumps(config, sort_keys=True))
