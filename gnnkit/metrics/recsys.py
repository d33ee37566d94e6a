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

from gnnkit.sparse.index import pair_keys, ptr_from_counts

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
    # a NaN makes the sum NaN: one reduction, and the element-wise scan only when it is
    # (inf - inf also gives NaN)
    if bool(torch.isnan(matrix.sum())) and bool(torch.isnan(matrix).any()):
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


def _item_pairs(
    items: ArrayLike,
    name: str,
    shape: tuple[int, int],
    device: torch.device,
    users: tuple[Tensor, Tensor] | None,
) -> tuple[Tensor, Tensor]:
    """``(row, item)`` entries of the ``(U, I)`` block, from a boolean mask or from
    ``(2, nnz)`` pairs (duplicates possible; pairs of users outside ``users`` dropped).

    Pairs, not a dense mask: the metrics only ever look up the ``k`` ranked items of a row
    and count a row's items, and a dense ``U × I`` mask costs more to build and scan than the
    ranking itself."""
    num_users, num_items = shape
    given = as_tensor(items, name)
    if given.dtype == torch.bool:
        if tuple(given.shape) != shape:
            raise ValueError(
                f"{name} as a boolean mask must have the shape of scores {shape}, got "
                f"{tuple(given.shape)}"
            )
        row, item = torch.nonzero(given.to(device), as_tuple=True)
        return row, item
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
        return user, item
    sorted_ids, rows_of_sorted = users
    if num_users == 0:
        return user[:0], item[:0]
    position = torch.searchsorted(sorted_ids, user).clamp(max=num_users - 1)
    in_batch = sorted_ids[position] == user
    return rows_of_sorted[position[in_batch]], item[in_batch]


def _row_mask(pairs: tuple[Tensor, Tensor], rows: Tensor, num_items: int) -> Tensor:
    """Boolean ``(len(rows), I)`` membership of the block rows ``rows`` (sorted)."""
    row, item = pairs
    position = torch.searchsorted(rows, row).clamp(max=max(rows.numel() - 1, 0))
    keep = rows[position] == row if rows.numel() else row[:0].bool()
    mask = torch.zeros(rows.numel(), num_items, dtype=torch.bool, device=rows.device)
    mask[position[keep], item[keep]] = True
    return mask


# --------------------------------------------------------------------------- ranking


def _top_k_exact(masked: Tensor, k: int, admissible: Tensor | None) -> Tensor:
    """The tie-exact selection of :func:`_top_k` for rows whose k-th value is tied beyond the
    first k (or is ``-inf`` next to excluded items).

    ``topk`` finds the k-th value; the items strictly above it plus the lowest-indexed
    admissible ties fill the k slots, and only those k columns are sorted. It scans the whole
    row block several times (a cumulative sum over every item), so :func:`_top_k` sends only
    the rows that need it here.
    """
    num_users = masked.shape[0]
    device = masked.device
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
    key = torch.full((num_users, k), float("-inf"), dtype=masked.dtype, device=device)
    key[rows, slot] = masked[rows, cols]
    # Stable: equal scores keep ascending item order; empty slots (-inf) stay last.
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return items.gather(1, order)


#: excluded items per row the one-``topk`` path of :func:`_top_k` makes room for; rows with
#: more (heavy users: 1% of Gowalla's have over 180 training items) take the exact path
CANDIDATE_SLACK = 128


def _top_k(scores: Tensor, k: int, excluded: tuple[Tensor, Tensor] | None) -> Tensor:
    """Deterministic top-k item indices per row, ``-1`` where fewer than k items are admissible.

    Order: score descending, then item index ascending; excluded items are never ranked.

    One ``topk`` of ``k + T + 1`` candidates per row on the scores as given, with ``T`` the
    most excluded items of a row (capped at :data:`CANDIDATE_SLACK`): at least ``k + 1``
    candidates of a row are admissible. Candidates are ordered (admissible first, score
    descending, index ascending) and the first k kept. That is exact unless the k-th kept
    score equals the smallest candidate score (a tie ``topk`` may have cut at a higher
    index; this includes ``-inf`` cuts) or the row has more than ``T`` excluded items: those
    rows (none for continuous scores and light users) are ranked again on a masked copy of
    the row (:func:`_top_k_masked`). No ``U × I`` mask or copy is built: on a CPU a copy of
    a 2048 × 40981 block can cost more than the ``topk`` itself (first-touch page faults).
    """
    num_users, num_items = scores.shape
    device = scores.device
    if excluded is None:
        slack, heavy, excluded_keys = 0, None, None
    else:
        per_row = torch.bincount(excluded[0], minlength=num_users)
        slack = min(int(per_row.max()) if per_row.numel() else 0, CANDIDATE_SLACK)
        heavy = per_row > slack
        excluded_keys = torch.unique(pair_keys(*excluded, num_users, num_items, check=False))
    width = min(k + slack + 1, num_items)
    values, items = torch.topk(scores, width, dim=1)
    smallest = values[:, -1]
    # (admissible first, score descending, index ascending) by stable sorts, last key first
    by_index = torch.sort(items, dim=1)
    items, values = by_index.values, values.gather(1, by_index.indices)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    items, values = items.gather(1, order), values.gather(1, order)
    if excluded_keys is not None and excluded_keys.numel():
        row = torch.arange(num_users, device=device).repeat_interleave(width)
        keys = pair_keys(row, items.reshape(-1), num_users, num_items,
                         check=False).view_as(items)
        found = excluded_keys[torch.searchsorted(excluded_keys, keys)
                              .clamp(max=excluded_keys.numel() - 1)]
        is_excluded = found == keys
        order = torch.sort(is_excluded.view(torch.uint8), dim=1, stable=True).indices
        items, values = items.gather(1, order), values.gather(1, order)
        is_excluded = is_excluded.gather(1, order)
        # every item is a candidate only when width == I; then excluded slots are empty
        items = items.masked_fill(is_excluded, -1)
    ranked, kth = items[:, :k], values[:, k - 1]
    exact = (kth == smallest) if width < num_items else \
        torch.zeros(num_users, dtype=torch.bool, device=device)
    if heavy is not None:
        exact |= heavy
    if bool(exact.any()):
        rows = exact.nonzero().squeeze(1)
        masked = scores[rows]
        admissible = None
        if excluded is not None:
            excluded_rows = _row_mask(excluded, rows, num_items)
            masked = masked.masked_fill(excluded_rows, float("-inf"))
            admissible = ~excluded_rows
        ranked = ranked.clone()
        ranked[rows] = _top_k_masked(masked, k, admissible)
    return ranked


def _top_k_masked(masked: Tensor, k: int, admissible: Tensor | None) -> Tensor:
    """:func:`_top_k` of rows whose excluded items are already ``-inf``: one ``topk`` of
    ``k + 1``, ordered by (score descending, index ascending); rows tied across the cut (the
    (k+1)-th score equals the k-th) or cut at ``-inf`` next to excluded items go on to
    :func:`_top_k_exact`."""
    num_items = masked.shape[1]
    width = min(k + 1, num_items)
    values, items = torch.topk(masked, width, dim=1)
    exact = (values[:, k] == values[:, k - 1]) if width > k else \
        torch.zeros(masked.shape[0], dtype=torch.bool, device=masked.device)
    if admissible is not None:
        exact |= torch.isneginf(values[:, k - 1])
    by_index = torch.sort(items[:, :k], dim=1)
    values = values[:, :k].gather(1, by_index.indices)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices
    ranked = by_index.values.gather(1, order)
    if bool(exact.any()):
        rows = exact.nonzero().squeeze(1)
        ranked[rows] = _top_k_exact(masked[rows], k,
                                    None if admissible is None else admissible[rows])
    return ranked


def _prepare(
    scores: ArrayLike,
    k: int,
    exclude: ArrayLike | None,
    users: ArrayLike | None,
) -> tuple[Tensor, int, tuple[Tensor, Tensor] | None, tuple[Tensor, Tensor] | None]:
    matrix = _scores_matrix(scores)
    k = check_positive_int(k, "k")
    if k > matrix.shape[1]:
        raise ValueError(f"k={k} exceeds the number of items ({matrix.shape[1]})")
    lookup = None if users is None else _row_lookup(users, matrix.shape[0], matrix.device)
    shape = (int(matrix.shape[0]), int(matrix.shape[1]))
    excluded = (
        None if exclude is None else _item_pairs(exclude, "exclude", shape, matrix.device, lookup)
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
    test_row, test_item = _item_pairs(test_items, "test_items", shape, matrix.device, lookup)
    relevant = torch.unique(pair_keys(test_row, test_item, *shape, check=False))  # sorted
    num_relevant = torch.bincount(relevant // shape[1], minlength=shape[0])
    ranked = _top_k(matrix, k, excluded)
    query_row = torch.arange(shape[0], device=matrix.device).repeat_interleave(k)
    query = pair_keys(query_row, ranked.clamp(min=0).reshape(-1), *shape,
                      check=False).view_as(ranked)
    if relevant.numel():
        found = relevant[torch.searchsorted(relevant, query).clamp(max=relevant.numel() - 1)]
        hit = (ranked >= 0) & (found == query)
    else:
        hit = torch.zeros_like(ranked, dtype=torch.bool)
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
