"""Building blocks every link-prediction loop shares: the split, negative pairs, the loss.

* :class:`LinkSplit` — positive and negative pairs of a split and its message-passing graph;
* :func:`undirected_graph` — the symmetric pattern of a set of links;
* :func:`sample_negative_pairs` — uniform non-edges of a graph;
* :func:`link_loss` — the binary cross-entropy of positive and negative logits;
* :func:`pair_product` — ``h_i ⊙ h_j`` of every pair, with a deterministic backward.

These are not training loops (those are in :mod:`gnnkit.train.link_prediction`): they are the
pieces a user's own loop needs next to the predictors, so they live with them. They stay in
:mod:`gnnkit.nn.linkpred` rather than :mod:`gnnkit.datasets` because they work on
:class:`~gnnkit.sparse.SparseMatrix` graphs and share the pair validation and entry keys of
:mod:`.heuristics` and :mod:`.target_removal`; :mod:`gnnkit.datasets.linksplit` draws splits
from files and hands them over as plain ``edge_splits`` tensors
(:meth:`LinkSplit.from_edge_splits`).

Pairs are ``(2, B)`` int64 tensors, pair ``k`` = ``(pairs[0, k], pairs[1, k])``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnkit.sparse import SparseMatrix, pair_keys, to_undirected

from .heuristics import check_pairs
from .target_removal import sorted_keys

__all__ = ["LinkSplit", "link_loss", "pair_product", "sample_negative_pairs", "undirected_graph"]

_PARTS = ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")


def pair_product(h: Tensor, pairs: Tensor) -> Tensor:
    """``h_i ⊙ h_j`` ``(B, F)`` of every pair ``(i, j)`` of ``pairs`` ``(2, B)`` (validated
    int64 node ids), for ``h`` ``(N, F)``.

    The rows are gathered with ``index_select``, not ``h[pairs[0]]``, for the backward. Advanced
    indexing's backward accumulates with ``index_put_``, which on a CPU with several threads
    adds a node's gradient rows in a varying order. Same seed, different weights from run to
    run: measured on NCN for ogbl-ddi at 2 threads. The backward of ``index_select`` is
    ``index_add_``, which adds them in pair order at any thread count. At one thread both
    give the same bits.

    Examples:
        >>> import torch
        >>> h = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> pair_product(h, torch.tensor([[0, 2], [1, 1]]))
        tensor([[ 3.,  8.],
                [15., 24.]])
    """
    return h.index_select(0, pairs[0]) * h.index_select(0, pairs[1])


def undirected_graph(pairs: Tensor, num_nodes: int) -> SparseMatrix:
    """The coalesced symmetric pattern with both directions of every pair ``(2, E)``; self
    loops and duplicates are dropped (duplicates merge).

    Returns an ``N × N`` :class:`~gnnkit.sparse.SparseMatrix` without values.
    """
    pairs = check_pairs(pairs, num_nodes)
    pairs = pairs[:, pairs[0] != pairs[1]]
    return to_undirected(SparseMatrix.from_coo(pairs[0], pairs[1], None, (num_nodes, num_nodes)))


@dataclass(frozen=True)
class LinkSplit:
    """Positive and negative pairs of a link-prediction split, each ``(2, K)`` int64.

    ``train_pos`` holds each training link once (either direction); the message-passing graph
    is :meth:`train_graph`, its symmetric closure.
    """

    num_nodes: int
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor

    def __post_init__(self) -> None:
        for name in _PARTS:
            object.__setattr__(self, name, check_pairs(getattr(self, name), self.num_nodes,
                                                       name))

    @classmethod
    def from_edge_splits(cls, splits: Mapping[str, Tensor], num_nodes: int) -> LinkSplit:
        """From gnnkit's edge-split names ``train_pos``, ``val_pos``, ``val_neg``,
        ``test_pos``, ``test_neg`` (``(2, K)`` each; the ``(K, 2)`` OGB layout is transposed —
        a ``2 × 2`` tensor is read as ``(2, K)``).
        Training links stored in both directions are kept once (``i < j``)."""
        missing = [name for name in _PARTS if name not in splits]
        if missing:
            raise KeyError(f"edge splits lack {missing}; have {sorted(splits)}")

        def layout(name: str) -> Tensor:
            pairs = splits[name]
            if pairs.dim() == 2 and pairs.shape[0] != 2 and pairs.shape[1] == 2:
                pairs = pairs.t()
            return pairs

        train = check_pairs(layout("train_pos"), num_nodes, "train_pos")
        train = torch.unique(torch.sort(train, dim=0).values, dim=1)  # one copy, i <= j
        return cls(num_nodes, train, layout("val_pos"), layout("val_neg"),
                   layout("test_pos"), layout("test_neg"))

    def train_graph(self) -> SparseMatrix:
        """Symmetric coalesced ``N × N`` pattern of the training links (the message-passing
        graph)."""
        return undirected_graph(self.train_pos, self.num_nodes)

    def to(self, device: torch.device | str) -> LinkSplit:
        """The same split with every pair tensor on ``device``."""
        return LinkSplit(self.num_nodes, *(getattr(self, name).to(device) for name in _PARTS))


def sample_negative_pairs(A: SparseMatrix, num: int, *, generator: torch.Generator | None = None,
                          max_rounds: int = 10) -> Tensor:
    """``(2, num)`` uniform random pairs ``(i, j)``, ``i ≠ j``, that are not stored in ``A``.

    ``A`` is ``N × N``; pair ``(i, j)`` is stored when ``A[j, i]`` is (row = target). Rejected
    draws are redrawn up to ``max_rounds`` times (graphs denser than ~50 % would need more);
    any left after that are kept (a warning-free approximation, as PyG's sampler).
    """
    n = A.num_rows
    if n < 2:
        raise ValueError("negative sampling needs at least two nodes")
    stored = sorted_keys(A)
    pairs = torch.empty(2, num, dtype=torch.long, device=A.device)
    todo = torch.arange(num, device=A.device)
    for _ in range(max_rounds):
        if todo.numel() == 0:
            break
        i = torch.randint(0, n, (todo.numel(),), generator=generator, device=A.device)
        j = torch.randint(0, n - 1, (todo.numel(),), generator=generator, device=A.device)
        j = j + (j >= i).long()  # uniform over j ≠ i
        pairs[0, todo], pairs[1, todo] = i, j
        if stored.numel() == 0:
            break
        # the entry A[j, i], keyed as sorted_keys keys A; i, j < n by construction
        key = pair_keys(j, i, n, n, check=False)
        position = torch.searchsorted(stored, key).clamp(max=stored.numel() - 1)
        todo = todo[stored[position] == key]
    return pairs


def link_loss(positive_logits: Tensor, negative_logits: Tensor) -> Tensor:
    """``mean(−log σ(s⁺)) + mean(−log σ(−s⁻))`` of logits ``(B⁺,)`` and ``(B⁻,)``; a scalar."""
    return -F.logsigmoid(positive_logits).mean() - F.logsigmoid(-negative_logits).mean()
