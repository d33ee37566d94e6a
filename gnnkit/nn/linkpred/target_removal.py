"""Target-link removal: the links being scored never carry messages nor count as neighbours.

When a model is trained to score the positive training link ``(i, j)`` while that very link is
in the graph it propagates over, ``j`` sits in ``N(i)``: the model can read the answer from
the input (``(i, j)`` is one hop away, ``i`` and ``j`` appear in each other's neighbourhood
pooling, and every common-neighbour feature is computed on a graph that differs from the one
seen at test time, where test links are absent). Wang et al. (NCNC, ICLR 2024, §5) remove the
batch's target links from the message-passing graph during training; this module is that
operation as a reusable utility:

* :func:`remove_target_links` — ``A`` without the scored pairs (both directions by default).
* :func:`contains_links` — which pairs are stored in ``A`` (for leak checks and tests).
* :class:`TargetLinkRemoval` — remembers the training graph and yields, per batch of pairs,
  the graph to use for that batch.

All functions take :class:`~gnnkit.sparse.SparseMatrix` graphs (row = target, column = source)
and pairs ``(2, B)`` with ``pairs[0]`` = source ``i``, ``pairs[1]`` = target ``j``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix, pair_keys, remove_edges

from .heuristics import check_pairs

__all__ = ["TargetLinkRemoval", "contains_links", "remove_target_links", "sorted_keys"]


def _check_matrix(A: object) -> SparseMatrix:
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit.sparse.SparseMatrix, got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square, got shape {A.shape}")
    return A


def remove_target_links(A: SparseMatrix, pairs: Tensor, *, undirected: bool = True
                        ) -> SparseMatrix:
    """``A`` with every stored copy of the links ``pairs`` removed.

    Args:
        A: ``N × N`` graph; link ``(i, j)`` is the entry ``A[j, i]`` (``i`` sends to ``j``).
        pairs: ``(2, B)`` links being scored. Pairs that are not stored (negatives) are
            ignored, so a whole mixed batch may be passed.
        undirected: also remove the reverse entry ``A[i, j]``. Use ``True`` (the default) for
            undirected graphs stored with both directions — leaving one direction in place
            would still leak the link through the other.

    Returns:
        A new matrix (values carried over for the kept entries; sorted order preserved).
        Cost ``O(nnz + B log B)``.
    """
    A = _check_matrix(A)
    pairs = check_pairs(pairs, A.num_rows)
    if pairs.shape[1] == 0:
        return A
    # gnnkit.sparse.remove_edges finds the entries by binary search on sorted rows, and the
    # batch's graph inherits A's cached CSC (no sort for the backward of every batch)
    return remove_edges(A, pairs, undirected=undirected)


def sorted_keys(A: SparseMatrix) -> Tensor:
    """``row · N + col`` of every stored entry of a square ``A``, sorted (no sort needed when
    ``A`` is coalesced: CSR order is key order)."""
    keys = pair_keys(A.row, A.col, A.num_rows, A.num_cols, check=False)
    return keys if A.is_coalesced() else torch.sort(keys).values


def _link_keys(pairs: Tensor, n: int, undirected: bool) -> Tensor:
    """Keys of the entries ``A[j, i]`` (and ``A[i, j]``) of the links ``(i, j)``."""
    keys = [pair_keys(pairs[1], pairs[0], n, n, check=False)]
    if undirected:
        keys.append(pair_keys(pairs[0], pairs[1], n, n, check=False))
    return torch.cat(keys)


def contains_links(A: SparseMatrix, pairs: Tensor, *, undirected: bool = False) -> Tensor:
    """``(B,)`` bool: whether link ``(i, j)`` is stored (``A[j, i]``; with ``undirected=True``
    also counts the reverse entry ``A[i, j]``)."""
    A = _check_matrix(A)
    pairs = check_pairs(pairs, A.num_rows)
    stored = sorted_keys(A)
    found = torch.zeros(pairs.shape[1], dtype=torch.bool, device=pairs.device)
    if stored.numel() == 0:
        return found
    keys = _link_keys(pairs, max(A.num_rows, 1), undirected)
    position = torch.searchsorted(stored, keys).clamp(max=stored.numel() - 1)
    hits = (stored[position] == keys).view(-1, pairs.shape[1])
    return found | hits.any(0)


class TargetLinkRemoval:
    """The message-passing graph for each training batch, without that batch's target links.

    Example::

        removal = TargetLinkRemoval(train_adj)               # symmetric training graph
        for batch in batches:                                # (2, B) positive links
            A = removal(batch)                               # train_adj minus batch (both ways)
            h = encoder(x, A)
            logits = predictor(h, A, batch)

    Args:
        graph: the ``N × N`` training graph (coalesced is best: removal keeps the order).
        undirected: remove both directions of each target link (see
            :func:`remove_target_links`).
        enabled: ``False`` returns ``graph`` unchanged (the paper's "NoTLR" ablation), so a
            training loop can switch the technique with one flag.
    """

    def __init__(self, graph: SparseMatrix, *, undirected: bool = True,
                 enabled: bool = True) -> None:
        self.graph = _check_matrix(graph)
        self.undirected = undirected
        self.enabled = enabled

    def __call__(self, pairs: Tensor) -> SparseMatrix:
        """The training graph without ``pairs`` (``(2, B)``); unchanged when disabled."""
        if not self.enabled:
            check_pairs(pairs, self.graph.num_rows)
            return self.graph
        if torch.is_grad_enabled():
            # A training step's backward needs the CSC of its graph. Sorting the whole graph's
            # columns once here lets every batch's graph inherit it (SparseMatrix.keep_entries)
            # instead of sorting its own (ogbl-ddi: 2.1M entries, ~0.1 s per batch).
            self.graph.structure.csc()
        return remove_target_links(self.graph, pairs, undirected=self.undirected)

    def __repr__(self) -> str:
        return (f"TargetLinkRemoval({self.graph!r}, undirected={self.undirected}, "
                f"enabled={self.enabled})")
