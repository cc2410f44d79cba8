"""Every supported model type's family, one module per lineage."""

from .llama import Cohere, Llama, Mistral, Olmo2, Phi3, Qwen2, Qwen3

ALL = (Llama, Mistral, Qwen2, Qwen3, Olmo2, Phi3, Cohere)
