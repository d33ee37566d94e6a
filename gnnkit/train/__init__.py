"""Training loops per task, usable without the benchmark suite.

* :mod:`gnnkit.train.node_classification` — full-graph node classification:
  :func:`~gnnkit.train.node_classification.fit` with the early-stopping rules of the GCN and
  GAT papers (:class:`~gnnkit.train.node_classification.EarlyStopping`), and
  :func:`~gnnkit.train.node_classification.fit_sampled` on sampled mini-batches;
* :mod:`gnnkit.train.inference` — layer-wise full-graph inference for models trained on
  sampled blocks: :func:`~gnnkit.train.inference.layerwise_inference` (``model(x, A)`` one
  layer at a time over batches of nodes);
* :mod:`gnnkit.train.distributed` — the sampled mini-batch loop data-parallel over processes
  (``torch.distributed``, DDP): :func:`~gnnkit.train.distributed.fit_distributed` launches
  the ranks on one machine, :func:`~gnnkit.train.distributed.fit_rank` is one rank's loop
  (for ``torchrun``);
* :mod:`gnnkit.train.link_prediction` — the NCN/NCNC protocol:
  :func:`~gnnkit.train.link_prediction.fit`, ``train_epoch``, ``evaluate``, ``predict``, and
  :func:`~gnnkit.train.link_prediction.fit_sampled` (``train_epoch_sampled``,
  ``sampled_link_loss``) with every step on sampled neighbourhoods;
* :mod:`gnnkit.train.graph_level` — mini-batches of many graphs (classification and
  regression): :func:`~gnnkit.train.graph_level.fit` with learning-rate schedules
  (:class:`~gnnkit.train.graph_level.LRSchedule`), ``GraphBatches``, ``predict``;
* :mod:`gnnkit.train.recommendation` — BPR training of user/item embeddings with full-ranking
  evaluation: :func:`~gnnkit.train.recommendation.fit`, ``evaluate``, ``holdout_split``.

Each ``fit`` takes the model and the data, trains, selects an epoch on validation, and returns
a result with the whole per-epoch curve; each accepts a ``time_budget`` and a ``log``
callback. Models come from :mod:`gnnkit.models` (or are the user's own). The benchmark engine
(:mod:`gnnkit.bench`) runs these loops; nothing here imports it. See ``docs/training.md``.
"""

from __future__ import annotations

from . import graph_level, inference, link_prediction, node_classification, recommendation
from .graph_level import GraphFitResult, LRSchedule
from .link_prediction import LinkFitResult
from .node_classification import EarlyStopping, NodeFitResult

__all__ = [
    "EarlyStopping",
    "GraphFitResult",
    "LRSchedule",
    "LinkFitResult",
    "NodeFitResult",
    "graph_level",
    "inference",
    "link_prediction",
    "node_classification",
    "recommendation",
]
