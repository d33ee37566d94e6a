"""Top-K recommendation metrics under the LightGCN evaluation protocol.

Protocol (He et al., *LightGCN*, SIGIR 2020, and its reference code):

1. Each user ranks **all** items by score, except the items it interacted with in training,
   which are removed from the ranking (``exclude``).
2. The top ``K`` of that ranking is compared with the user's test items ``T_u``;
   ``hit_j = 1`` if the item at position ``j`` (0-based) is a test item.
3. Per user::

       Recall@K    = Σ_j hit_j / |T_u|
       Precision@K = Σ_j hit_j / K
       NDCG@K      = DCG / IDCG,  DCG = Σ_{j<K} hit_j / log2(j + 2),
                     IDCG = Σ_{j < min(K, |T_u|)} 1 / log2(j + 2)

4. Users without test items are skipped; the reported value is the mean over the others.

**Ties** are broken deterministically: equal scores rank the smaller item index first (the
reference code leaves this to ``torch.topk``). If a user has fewer than ``K`` admissible items
the missing positions are empty (never hits; ``Precision@K`` still divides by ``K``).

Item sets (``test_items``, ``exclude``) are given either as a boolean matrix ``(U, I)``
aligned with the rows of ``scores``, or as integer pairs of shape ``(2, nnz)`` — row 0 the user,
row 1 the item. Pairs use row indices of ``scores`` unless ``users`` is given, in which case
they hold global user ids and pairs of users outside ``users`` are ignored; this lets one
evaluate batch by batch with the full train/test pair lists. Duplicate pairs count once.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from gnnkit.sparse.index import ptr_from_counts

from ._validation import ArrayLike, as_tensor, check_positive_int

__all__ = [
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics_at_k",
    "recall_at_k",
    "top_k_items",
]

Reduction = Literal["mean", "none"]


# --------------------------------------------------------------------------- inputs


def _scores_matrix(scores: ArrayLike) -> Tensor:
    matrix = as_tensor(scores, "scores")
    if matrix.dim() != 2:
        raise ValueError(
            f"scores must be 2-D (num_users, num_items), got shape {tuple(matrix.shape)}"
        )
    if not matrix.is_floating_point():
        matrix = matrix.to(torch.float64)
    elif matrix.dtype in (torch.float16, torch.bfloat16):
        matrix = matrix.to(torch.float32)
    if bool(torch.isnan(matrix).any()):
        raise ValueError("scores contains NaN; items cannot be ranked")
    return matrix


def _row_lookup(users: ArrayLike, num_rows: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Sorted user ids and, for each, its row in ``scores``."""
    ids = as_tensor(users, "users")
    if ids.dim() != 1 or ids.numel() != num_rows:
        raise ValueError(
            f"users must be 1-D with one id per row of scores ({num_rows}), got shape "
            f"{tuple(ids.shape)}"
        )
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"users must hold integer ids, got dtype {ids.dtype}")
    sorted_ids, rows = torch.sort(ids.to(device=device, dtype=torch.int64))
    if sorted_ids.numel() > 1 and bool((sorted_ids[1:] == sorted_ids[:-1]).any()):
        raise ValueError("users contains duplicate ids")
    return sorted_ids, rows


def _item_mask(
    items: ArrayLike,
    name: str,
    shape: tuple[int, int],
    device: torch.device,
    users: tuple[Tensor, Tensor] | None,
) -> Tensor:
    """Boolean ``(U, I)`` membership matrix from a mask or from ``(2, nnz)`` pairs."""
    num_users, num_items = shape
    given = as_tensor(items, name)
    if given.dtype == torch.bool:
        if tuple(given.shape) != shape:
            raise ValueError(
                f"{name} as a boolean mask must have the shape of scores {shape}, got "
                f"{tuple(given.shape)}"
            )
        return given.to(device)
    if given.is_floating_point():
        raise TypeError(
            f"{name} must be a boolean (U, I) mask or integer (2, nnz) user/item pairs, got "
            f"dtype {given.dtype}"
        )
    if given.dim() != 2 or given.shape[0] != 2:
        raise ValueError(
            f"{name} as pairs must have shape (2, nnz) (user row, item), got {tuple(given.shape)}"
        )
    pairs = given.to(device=device, dtype=torch.int64)
    user, item = pairs[0], pairs[1]
    if item.numel() and (int(item.min()) < 0 or int(item.max()) >= num_items):
        raise ValueError(
            f"{name} has item indices outside [0, {num_items}): min {int(item.min())}, "
            f"max {int(item.max())}"
        )
    if users is None:
        if user.numel() and (int(user.min()) < 0 or int(user.max()) >= num_users):
            raise ValueError(
                f"{name} has user rows outside [0, {num_users}) (the rows of scores): min "
                f"{int(user.min())}, max {int(user.max())}; pass users= to use global ids"
            )
        row = user
    else:
        sorted_ids, rows_of_sorted = users
        if num_users == 0:
            return torch.zeros(shape, dtype=torch.bool, device=device)
        position = torch.searchsorted(sorted_ids, user).clamp(max=num_users - 1)
        in_batch = sorted_ids[position] == user
        row, item = rows_of_sorted[position[in_batch]], item[in_batch]
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    mask[row, item] = True
    return mask


# --------------------------------------------------------------------------- ranking


def _top_k(scores: Tensor, k: int, excluded: Tensor | None) -> Tensor:
    """Deterministic top-k item indices per row, ``-1`` where fewer than k items are admissible.

    Order: score descending, then item index ascending. ``topk`` finds the k-th value; the
    items strictly above it plus the lowest-indexed ties fill the k slots, and only those
    k columns are sorted — ``O(U·I)`` work instead of a full sort.
    """
    num_users = scores.shape[0]
    device = scores.device
    if excluded is None:
        masked, admissible = scores, None
    else:
        masked = scores.masked_fill(excluded, float("-inf"))
        admissible = ~excluded
    kth = torch.topk(masked, k, dim=1).values[:, -1:]
    above = masked > kth
    tied = masked == kth
    if admissible is not None:
        tied &= admissible  # an excluded item is never ranked, even among -inf scores
    still_needed = k - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (torch.cumsum(tied, dim=1) <= still_needed))
    per_row = chosen.sum(dim=1)
    rows, cols = torch.nonzero(chosen, as_tuple=True)  # row-major: cols ascending per row
    first_of_row = ptr_from_counts(per_row, check=False)[:-1]
    slot = torch.arange(rows.numel(), device=device) - first_of_row[rows]
    items = torch.full((num_users, k), -1, dtype=torch.int64, device=device)
    items[rows, slot] = cols
    key = torch.full((num_users, k), float("-inf"), dtype=scores.dtype, device=device)
    key[rows, slot] = masked[rows, cols]
    # Stable: equal scores keep ascending item order; empty slots (-inf) stay last.
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return items.gather(1, order)


def _prepare(
    scores: ArrayLike,
    k: int,
    exclude: ArrayLike | None,
    users: ArrayLike | None,
) -> tuple[Tensor, int, Tensor | None, tuple[Tensor, Tensor] | None]:
    matrix = _scores_matrix(scores)
    k = check_positive_int(k, "k")
    if k > matrix.shape[1]:
        raise ValueError(f"k={k} exceeds the number of items ({matrix.shape[1]})")
    lookup = None if users is None else _row_lookup(users, matrix.shape[0], matrix.device)
    shape = (int(matrix.shape[0]), int(matrix.shape[1]))
    excluded = (
        None if exclude is None else _item_mask(exclude, "exclude", shape, matrix.device, lookup)
    )
    return matrix, k, excluded, lookup


def top_k_items(
    scores: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    users: ArrayLike | None = None,
) -> Tensor:
    """The ``k`` highest-scoring admissible items of every user, best first.

    Args:
        scores: ``(U, I)`` user–item scores (higher = more relevant); NaN is refused.
        k: list length, ``1 ≤ k ≤ I``.
        exclude: items removed from each user's ranking (typically training interactions):
            boolean ``(U, I)`` mask or ``(2, nnz)`` user/item pairs (see module docstring).
        users: optional ``(U,)`` global ids of the rows of ``scores``; then pairs in
            ``exclude`` use global user ids.

    Returns:
        int64 ``(U, k)``; ties rank the smaller item index first; ``-1`` fills positions
        beyond a user's number of admissible items.
    """
    matrix, k, excluded, _ = _prepare(scores, k, exclude, users)
    return _top_k(matrix, k, excluded)


def ranking_metrics_at_k(
    scores: ArrayLike,
    test_items: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    users: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> dict[str, float | Tensor]:
    """Recall@K, Precision@K and NDCG@K from one ranking (LightGCN protocol, module docstring).

    Args:
        scores: ``(U, I)`` user–item scores.
        test_items: each user's held-out items, boolean ``(U, I)`` or ``(2, nnz)`` pairs.
        k: cut-off ``1 ≤ k ≤ I``.
        exclude: items removed from the ranking (training interactions), same formats.
        users: optional ``(U,)`` global user ids of the rows of ``scores`` (pairs then use
            global ids; pairs of other users are ignored).
        reduction: ``"mean"`` → Python floats averaged over users with at least one test
            item (``ValueError`` if there is none); ``"none"`` → float64 ``(U,)`` tensors
            with NaN for users without test items (concatenate batches, then ``nanmean``).

    Returns:
        ``{"recall": ..., "precision": ..., "ndcg": ...}``.
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    matrix, k, excluded, lookup = _prepare(scores, k, exclude, users)
    shape = (int(matrix.shape[0]), int(matrix.shape[1]))
    relevant = _item_mask(test_items, "test_items", shape, matrix.device, lookup)
    ranked = _top_k(matrix, k, excluded)
    hit = (ranked >= 0) & relevant.gather(1, ranked.clamp(min=0))
    num_relevant = relevant.sum(dim=1)
    num_hits = hit.sum(dim=1).to(torch.float64)

    discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=matrix.device, dtype=torch.float64))
    dcg = (hit.to(torch.float64) * discount).sum(dim=1)
    ideal_length = num_relevant.clamp(max=k)
    ideal_dcg = torch.cat([discount.new_zeros(1), torch.cumsum(discount, 0)])[ideal_length]

    evaluated = num_relevant > 0
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=matrix.device)
    per_user = {
        "recall": torch.where(evaluated, num_hits / num_relevant.clamp(min=1), nan),
        "precision": torch.where(evaluated, num_hits / k, nan),
        "ndcg": torch.where(evaluated, dcg / ideal_dcg.clamp(min=1.0), nan),
    }
    if reduction == "none":
        return dict(per_user)
    if not bool(evaluated.any()):
        raise ValueError("no user has a test item: recall/precision/NDCG are undefined")
    return {name: float(values[evaluated].mean().item()) for name, values in per_user.items()}


def recall_at_k(
    scores: ArrayLike,
    test_items: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    users: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> float | Tensor:
    """Recall@K = ``|top-K ∩ T_u| / |T_u|`` per user (LightGCN protocol); see
    :func:`ranking_metrics_at_k` for the arguments."""
    return ranking_metrics_at_k(
        scores, test_items, k, exclude=exclude, users=users, reduction=reduction
    )["recall"]


def precision_at_k(
    scores: ArrayLike,
    test_items: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    users: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> float | Tensor:
    """Precision@K = ``|top-K ∩ T_u| / K`` per user (LightGCN protocol); see
    :func:`ranking_metrics_at_k` for the arguments."""
    return ranking_metrics_at_k(
        scores, test_items, k, exclude=exclude, users=users, reduction=reduction
    )["precision"]


def ndcg_at_k(
    scores: ArrayLike,
    test_items: ArrayLike,
    k: int,
    *,
    exclude: ArrayLike | None = None,
    users: ArrayLike | None = None,
    reduction: Reduction = "mean",
) -> float | Tensor:
    """NDCG@K with binary relevance, ``IDCG`` over ``min(K, |T_u|)`` positions (LightGCN
    protocol); see :func:`ranking_metrics_at_k` for the arguments."""
    return ranking_metrics_at_k(
        scores, test_items, k, exclude=exclude, users=users, reduction=reduction
    )["ndcg"]
