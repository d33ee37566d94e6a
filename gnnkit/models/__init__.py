"""Small reference models composed from :mod:`gnnkit.nn` layers, and the model registry.

:mod:`gnnkit.models.registry` is the one place a configuration names a model: each entry
declares its task(s), configuration keys (types, defaults) and builder; the benchmark suite
validates experiment files against it and builds every model through :func:`build_model`.
"""

from __future__ import annotations

from .gat import GAT
from .gcn import GCN
from .registry import (
    MODELS,
    ModelConfigError,
    ModelEntry,
    ModelOption,
    build_model,
    get_model,
    model_config,
    model_names,
    register_model,
)

__all__ = [
    "GAT",
    "GCN",
    "MODELS",
    "ModelConfigError",
    "ModelEntry",
    "ModelOption",
    "build_model",
    "get_model",
    "model_config",
    "model_names",
    "register_model",
]
