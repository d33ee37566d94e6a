"""Evaluation metrics on torch tensors (numpy accepted) and an OGB-compatible ``Evaluator``.

* Classification: :func:`accuracy`, :func:`roc_auc`, :func:`average_precision`,
  :func:`link_roc_auc` — OGB's per-task rules for multi-task labels with NaNs.
* Regression: :func:`mae`, :func:`rmse`.
* Link prediction: :func:`hits_at_k` (shared negatives), :func:`link_ranks`, :func:`mrr`,
  :func:`ranked_hits_at_k` (per-positive negatives) — OGB's exact tie rules.
* Recommendation (LightGCN protocol): :func:`top_k_items`, :func:`recall_at_k`,
  :func:`precision_at_k`, :func:`ndcg_at_k`, :func:`ranking_metrics_at_k`.
* Sequences: :func:`subtoken_f1` (ogbg-code2).
* :class:`Evaluator` — same inputs and outputs as ``ogb``'s evaluators, for every official
  OGB node/link/graph dataset in :data:`OGB_DATASETS`, without depending on ``ogb``.

See ``docs/metrics.md`` for formulas, protocols and the OGB compatibility statement.
"""

from __future__ import annotations

from gnnkit._ogb_master import OGB_DATASETS, OGBDatasetInfo, ogb_dataset_info

from .classification import accuracy, average_precision, link_roc_auc, roc_auc
from .evaluator import Evaluator, EvaluatorInputError
from .ranking import hits_at_k, link_ranks, mrr, ranked_hits_at_k
from .recsys import ndcg_at_k, precision_at_k, ranking_metrics_at_k, recall_at_k, top_k_items
from .regression import mae, rmse
from .sequence import subtoken_f1

__all__ = [
    "OGB_DATASETS",
    "Evaluator",
    "EvaluatorInputError",
    "OGBDatasetInfo",
    "accuracy",
    "average_precision",
    "hits_at_k",
    "link_ranks",
    "link_roc_auc",
    "mae",
    "mrr",
    "ndcg_at_k",
    "ogb_dataset_info",
    "precision_at_k",
    "ranked_hits_at_k",
    "ranking_metrics_at_k",
    "recall_at_k",
    "rmse",
    "roc_auc",
    "subtoken_f1",
    "top_k_items",
]
