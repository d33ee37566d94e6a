"""Link-prediction ranking metrics with OGB's exact rules: Hits@K, ranks, MRR.

Two protocols exist in OGB and they treat ties differently, so they are separate functions:

* **Shared negatives** (ogbl-ddi, ogbl-collab, ogbl-ppa): every positive edge is compared with
  one common set of negative edges. :func:`hits_at_k` counts a positive as a hit iff its score
  is *strictly greater* than the K-th highest negative score.
* **Per-positive negatives** (ogbl-citation2, ogbl-wikikg2, ogbl-biokg): row ``i`` of a 2-D
  negative matrix holds the negatives of positive ``i``. :func:`link_ranks` gives each positive
  the mean of its optimistic and pessimistic rank; :func:`mrr` and :func:`ranked_hits_at_k`
  are computed from those ranks.

NaN scores are rejected with ``ValueError`` (OGB silently ranks a NaN positive first in MRR).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validation import (
    ArrayLike,
    as_tensor,
    check_finite_or_inf,
    check_positive_int,
    comparable_pair,
)

__all__ = ["hits_at_k", "link_ranks", "mrr", "ranked_hits_at_k"]


def _positive_scores(y_pred_pos: ArrayLike) -> Tensor:
    positive = as_tensor(y_pred_pos, "y_pred_pos")
    if positive.dim() != 1:
        raise ValueError(
            f"y_pred_pos must be 1-D (num_edges,), got {positive.dim()}-D shape "
            f"{tuple(positive.shape)}"
        )
    if positive.numel() == 0:
        raise ValueError("y_pred_pos is empty: a ranking metric needs at least one positive")
    check_finite_or_inf(positive, "y_pred_pos")
    return positive


def hits_at_k(y_pred_pos: ArrayLike, y_pred_neg: ArrayLike, k: int) -> float:
    """Hits@K against one shared set of negatives (OGB's rule for ogbl-ddi/-collab/-ppa).

    With ``τ_K`` the K-th highest negative score::

        Hits@K = (1/|P|) Σ_{p∈P} [s_p > τ_K]

    A positive tied with ``τ_K`` is *not* a hit. If there are fewer than ``K`` negatives the
    result is ``1.0`` (every positive is inside the top K), exactly as OGB returns.

    Args:
        y_pred_pos: scores of the positive edges, shape ``(E_pos,)``, non-empty.
        y_pred_neg: scores of the shared negative edges, shape ``(E_neg,)``.
        k: the cut-off ``K ≥ 1``.
    """
    k = check_positive_int(k, "k")
    positive = _positive_scores(y_pred_pos)
    negative = as_tensor(y_pred_neg, "y_pred_neg")
    if negative.dim() != 1:
        raise ValueError(
            f"y_pred_neg must be 1-D (num_negative_edges,) for shared-negative Hits@K, got "
            f"shape {tuple(negative.shape)}; for per-positive negatives use ranked_hits_at_k"
        )
    check_finite_or_inf(negative, "y_pred_neg")
    if negative.numel() < k:
        return 1.0
    positive, negative = comparable_pair(positive, negative)
    kth_negative = torch.topk(negative, k).values[-1]
    hits = int((positive > kth_negative).sum().item())
    return hits / positive.numel()


def link_ranks(y_pred_pos: ArrayLike, y_pred_neg: ArrayLike) -> Tensor:
    """Rank of each positive among its own negatives, ties resolved by averaging (OGB's rule).

    For positive ``i`` with score ``s_i`` and negatives ``n_{i,1..M}``::

        optimistic_i  = |{j : n_ij >  s_i}|      (positive placed first among equals)
        pessimistic_i = |{j : n_ij >= s_i}|      (positive placed last among equals)
        rank_i = (optimistic_i + pessimistic_i) / 2 + 1

    Args:
        y_pred_pos: scores of the positives, shape ``(E,)``.
        y_pred_neg: scores of each positive's negatives, shape ``(E, M)``; ``M`` may be 0.

    Returns:
        float64 tensor of shape ``(E,)`` on ``y_pred_neg``'s device, values in ``[1, M + 1]``
        (multiples of ½).
    """
    positive = _positive_scores(y_pred_pos)
    negative = as_tensor(y_pred_neg, "y_pred_neg")
    if negative.dim() != 2:
        raise ValueError(
            f"y_pred_neg must be 2-D (num_edges, num_negatives_per_edge), got "
            f"{negative.dim()}-D shape {tuple(negative.shape)}"
        )
    if negative.shape[0] != positive.shape[0]:
        raise ValueError(
            f"y_pred_neg must have one row per positive: y_pred_pos has {positive.shape[0]} "
            f"entries but y_pred_neg has {negative.shape[0]} rows"
        )
    check_finite_or_inf(negative, "y_pred_neg")
    positive, negative = comparable_pair(positive, negative)
    column = positive.unsqueeze(1)
    optimistic = (negative > column).sum(dim=1)
    pessimistic = (negative >= column).sum(dim=1)
    return (optimistic + pessimistic).to(torch.float64) / 2 + 1


def mrr(y_pred_pos: ArrayLike, y_pred_neg: ArrayLike) -> float:
    """Mean reciprocal rank with per-positive negatives (ogbl-citation2/-wikikg2/-biokg).

    ``MRR = (1/E) Σ_i 1 / rank_i`` with ``rank_i`` from :func:`link_ranks` (tie-averaged).
    Shapes: ``y_pred_pos`` ``(E,)``, ``y_pred_neg`` ``(E, M)``.
    """
    return float(link_ranks(y_pred_pos, y_pred_neg).reciprocal().mean().item())


def ranked_hits_at_k(y_pred_pos: ArrayLike, y_pred_neg: ArrayLike, k: int) -> float:
    """Hits@K with per-positive negatives: fraction of positives with ``rank_i ≤ K``.

    ``rank_i`` is the tie-averaged rank of :func:`link_ranks`; this is the ``hits@K_list``
    mean that OGB's MRR evaluators report (K = 1, 3, 10). Note the different tie rule from
    :func:`hits_at_k`, which uses shared negatives and a strict comparison.
    """
    k = check_positive_int(k, "k")
    ranks = link_ranks(y_pred_pos, y_pred_neg)
    return float((ranks <= k).to(torch.float64).mean().item())
