"""Recommenders trained on implicit feedback: MF-BPR and LightGCN (BPR), UltraGCN (constraint
losses with many negatives), with the sampler and losses they use.

* :mod:`gnnkit.nn.recsys.bpr` — :class:`BPRSampler` (one epoch of ``(user, positive,
  negative)`` triples; the per-interaction scheme and LightGCN-PyTorch's two user-uniform
  schemes), :func:`bpr_loss`, :func:`bpr_l2_penalty` and the base class
  :class:`BPRRecommender`;
* :mod:`gnnkit.nn.recsys.mf` — :class:`MFBPR`, dot products of free embeddings;
* :mod:`gnnkit.nn.recsys.lightgcn` — :class:`LightGCN` and :func:`interaction_matrix`, the
  ``U × I`` training graph it propagates on (bipartite :class:`~gnnkit.nn.conv.LGConv`);
* :mod:`gnnkit.nn.recsys.ultragcn` — :class:`UltraGCN`, its constraint factors
  (:func:`constraint_betas`) and item–item graph (:func:`item_neighbours`, built in row
  blocks, never ``I × I``).

The training loop with full-ranking evaluation is :mod:`gnnkit.train.recommendation`; the
metrics are :func:`gnnkit.metrics.ranking_metrics_at_k`. See ``docs/recommenders.md``.
"""

from __future__ import annotations

from .bpr import (
    BPR_SCHEMES,
    BPRRecommender,
    BPRSampler,
    BPRTriples,
    bpr_l2_penalty,
    bpr_loss,
    check_interactions,
)
from .lightgcn import LightGCN, interaction_matrix
from .mf import MFBPR
from .sheaf4rec import Sheaf4Rec
from .ultragcn import (
    ItemNeighbours,
    UltraGCN,
    constraint_betas,
    item_neighbours,
    padded_neighbours,
)

__all__ = [
    "BPR_SCHEMES",
    "MFBPR",
    "BPRRecommender",
    "BPRSampler",
    "BPRTriples",
    "ItemNeighbours",
    "LightGCN",
    "Sheaf4Rec",
    "UltraGCN",
    "bpr_l2_penalty",
    "bpr_loss",
    "check_interactions",
    "constraint_betas",
    "interaction_matrix",
    "item_neighbours",
    "padded_neighbours",
]
