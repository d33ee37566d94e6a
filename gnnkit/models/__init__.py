"""Small reference models composed from :mod:`gnnkit.nn` layers, and the model registry.

Node level: :class:`GCN`, :class:`GAT`, :class:`SAGE` (GraphSAGE, full-graph or on sampled
mini-batches). Graph level (a :class:`gnnkit.data.GraphBatch` in, one row per graph out):
:class:`GIN` (Xu et al.'s graph classifier) and :class:`GINE` (OGB's molecule baseline with
edge features). :class:`NSD`: Neural Sheaf Diffusion (Diag-, O(d)- and Gen-NSD).

:mod:`gnnkit.models.registry` is the one place a configuration names a model: each entry
declares its task(s), configuration keys (types, defaults) and builder; the benchmark suite
validates experiment files against it and builds every model through :func:`build_model`.
"""

from __future__ import annotations

from .esan import DSGNN, DSSGNN
from .gat import GAT
from .gcn import GCN
from .gin import GIN
from .gine import GINE
from .nsd import NSD
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
from .sage import SAGE
from .swl import SWL

__all__ = [
    "DSGNN",
    "DSSGNN",
    "GAT",
    "GCN",
    "GIN",
    "GINE",
    "MODELS",
    "NSD",
    "SAGE",
    "SWL",
    "ModelConfigError",
    "ModelEntry",
    "ModelOption",
    "build_model",
    "get_model",
    "model_config",
    "model_names",
    "register_model",
]
