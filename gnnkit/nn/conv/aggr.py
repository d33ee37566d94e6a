"""Neighbourhood aggregations: sum, mean, max, min, softmax and a learnable commutative monoid.

An :class:`Aggregation` reduces, for every target ``i`` (a row of the ``(M, N)`` matrix
``A``), the multiset of messages of its incoming edges into one vector:

* ``aggregation(A, x)`` — messages are the source features ``x_j`` (``(N, F)``) scaled by
  ``A``'s values when present; sum/mean/max/min run as one fused ``spmm`` (no ``(E, F)``
  messages in memory);
* ``aggregation.reduce(A, messages)`` — messages are already per edge, ``(E, F)`` in ``A``'s
  CSR entry order.

Rows without entries give zeros for every aggregation. All are deterministic (CSR segment
reductions, no atomics).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.sparse import SparseMatrix, edge_softmax, segment, spmm

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "LCMAggregation",
    "MaxAggregation",
    "MeanAggregation",
    "MinAggregation",
    "SoftmaxAggregation",
    "SumAggregation",
    "resolve_aggregation",
]


def _gather_weighted(A: SparseMatrix, x: Tensor) -> Tensor:
    """Per-edge messages ``A[i, j] · x_j`` in CSR order, ``(E, *F)``."""
    messages = x.index_select(0, A.col)
    if A.values is not None:
        if A.values.dim() != 1:
            raise ValueError("aggregations take scalar (nnz,) edge weights, got values of "
                             f"shape {tuple(A.values.shape)}")
        messages = A.values.view(-1, *([1] * (messages.dim() - 1))) * messages
    return messages


class Aggregation(torch.nn.Module):
    """Base class. Subclasses implement :meth:`reduce`; reductions that commute with a
    source-side gather also override :meth:`forward` with a fused ``spmm``."""

    #: ``aggr(W x) = W aggr(x)`` for a linear map ``W`` (lets layers project before
    #: aggregating when that is cheaper).
    linear: ClassVar[bool] = False

    def forward(self, A: SparseMatrix, x: Tensor) -> Tensor:
        """Aggregate source features ``x`` ``(N, *F)`` along the rows of ``A`` → ``(M, *F)``."""
        return self.reduce(A, _gather_weighted(A, x))

    def reduce(self, A: SparseMatrix, messages: Tensor) -> Tensor:
        """Reduce per-edge ``messages`` ``(E, *F)`` (CSR order of ``A``) into ``(M, *F)``."""
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Re-initialise learnable parameters (none by default)."""


class _SpmmAggregation(Aggregation):
    reduction: ClassVar[str] = "sum"

    def forward(self, A: SparseMatrix, x: Tensor) -> Tensor:
        return spmm(A, x, self.reduction)

    def reduce(self, A: SparseMatrix, messages: Tensor) -> Tensor:
        return segment(messages, A.rowptr, self.reduction)

    def extra_repr(self) -> str:
        return ""


class SumAggregation(_SpmmAggregation):
    """``x'_i = Σ_{j ∈ N(i)} m_ji``."""

    reduction = "sum"
    linear = True


class MeanAggregation(_SpmmAggregation):
    """``x'_i = (1 / |N(i)|) Σ_{j ∈ N(i)} m_ji`` (``|N(i)|`` counts stored entries)."""

    reduction = "mean"
    linear = True


class MaxAggregation(_SpmmAggregation):
    """``x'_i = max_{j ∈ N(i)} m_ji`` per channel; the gradient goes to one winner per channel
    (the first in CSR order among exact ties)."""

    reduction = "max"


class MinAggregation(_SpmmAggregation):
    """``x'_i = min_{j ∈ N(i)} m_ji`` per channel (tie rule as :class:`MaxAggregation`)."""

    reduction = "min"


class SoftmaxAggregation(Aggregation):
    r"""Softmax aggregation (Li et al., "DeeperGCN", 2020), per channel:

    .. math::
        \mathbf{x}'_i = \sum_{j \in \mathcal{N}(i)}
        \frac{\exp(t\, \mathbf{m}_{ji})}{\sum_{k \in \mathcal{N}(i)} \exp(t\, \mathbf{m}_{ki})}
        \odot \mathbf{m}_{ji}

    Args:
        t: inverse temperature (``t → 0``: mean, ``t → ∞``: max).
        learn: make ``t`` a parameter (one per channel with ``channels > 1``).
        channels: number of learnable temperatures (needs ``learn=True``).
    """

    def __init__(self, t: float = 1.0, learn: bool = False, channels: int = 1) -> None:
        super().__init__()
        if channels != 1 and not learn:
            raise ValueError("channels > 1 needs learn=True (one temperature per channel)")
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        self.initial_t = float(t)
        self.learn = learn
        self.channels = channels
        if learn:
            self.t = torch.nn.Parameter(torch.empty(channels))
        else:
            self.register_buffer("t", torch.tensor(float(t)), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.learn:
            with torch.no_grad():
                self.t.fill_(self.initial_t)

    def reduce(self, A: SparseMatrix, messages: Tensor) -> Tensor:
        flat = messages.reshape(messages.shape[0], -1)
        t = self.t.to(flat.dtype)
        if self.channels != 1 and flat.shape[1] != self.channels:
            raise ValueError(f"SoftmaxAggregation has {self.channels} temperatures but the "
                             f"messages have {flat.shape[1]} channels")
        weights = edge_softmax(A, flat * t)
        out = segment(weights * flat, A.rowptr, "sum")
        return out.reshape(A.num_rows, *messages.shape[1:])

    def extra_repr(self) -> str:
        return f"t={self.initial_t}, learn={self.learn}, channels={self.channels}"


class LCMAggregation(Aggregation):
    r"""Learnable commutative monoid aggregation (Ong & Veličković, "Learnable Commutative
    Monoids for Graph Neural Networks", LoG 2022).

    A learnable binary operator, commutative by construction,

    .. math::
        a \oplus b = \tfrac{1}{2}\big(\mathrm{GRU}(a, b) + \mathrm{GRU}(b, a)\big)

    (``GRU(input, hidden)`` a GRU cell), is applied as a balanced binary tree over each
    neighbourhood: at every level neighbours ``(0, 1), (2, 3), …`` of a node are combined and an
    unpaired last element moves up unchanged, so a node of degree ``d`` needs
    ``⌈log₂ d⌉`` levels and all nodes advance in parallel. With ``project=True`` messages first
    go through ``ReLU(Linear(·))``. Associativity is not built in (the tree fixes one
    bracketing); :meth:`associativity_penalty` gives ``‖(a ⊕ b) ⊕ c − a ⊕ (b ⊕ c)‖²``, a
    regulariser one may add to the loss to push the operator towards a monoid.

    Differences from PyG's ``LCMAggregation`` (on purpose): each node's tree contains only its
    own neighbours (PyG pads every neighbourhood with zero vectors up to the largest degree in
    the batch, so a node's result depends on the other nodes' degrees); nodes without
    neighbours give zeros. On graphs where every degree is the same power of two both agree.

    The number of tree levels depends on the largest degree, so this aggregation runs eagerly
    (``torch.compile`` graph-breaks on it).

    Shapes: messages ``(E, in_channels)`` → ``(M, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, project: bool = True) -> None:
        super().__init__()
        if in_channels != out_channels and not project:
            raise ValueError("in_channels != out_channels needs project=True")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.project = project
        self.lin = torch.nn.Linear(in_channels, out_channels) if project else None
        self.gru_cell = torch.nn.GRUCell(out_channels, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.lin is not None:
            self.lin.reset_parameters()
        self.gru_cell.reset_parameters()

    def combine(self, a: Tensor, b: Tensor) -> Tensor:
        """The commutative operator ``a ⊕ b`` on ``(K, out_channels)`` rows."""
        both = self.gru_cell(torch.cat([a, b]), torch.cat([b, a]))
        return 0.5 * (both[: a.shape[0]] + both[a.shape[0]:])

    def associativity_penalty(self, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
        """Mean of ``‖(a ⊕ b) ⊕ c − a ⊕ (b ⊕ c)‖²`` over rows (a regulariser)."""
        left = self.combine(self.combine(a, b), c)
        right = self.combine(a, self.combine(b, c))
        return (left - right).square().sum(-1).mean()

    def reduce(self, A: SparseMatrix, messages: Tensor) -> Tensor:
        if messages.dim() != 2:
            raise ValueError(f"LCMAggregation takes (E, F) messages, got {tuple(messages.shape)}")
        if self.lin is not None:
            messages = F.relu(self.lin(messages))
        elif messages.shape[1] != self.out_channels:
            raise ValueError(f"messages have {messages.shape[1]} channels, expected "
                             f"{self.out_channels}")
        counts = A.structure.row_counts()
        out = messages.new_zeros(A.num_rows, self.out_channels)
        if messages.shape[0] == 0:
            return out
        row = A.row.long()
        position = torch.arange(messages.shape[0], device=messages.device) - A.rowptr.long()[row]
        elements = messages
        max_degree = int(counts.max())
        for _ in range(math.ceil(math.log2(max_degree)) if max_degree > 1 else 0):
            count_of = counts[row]
            is_left = (position % 2 == 0) & (position + 1 < count_of)
            is_single = (position % 2 == 0) & (position + 1 == count_of)
            left = is_left.nonzero().view(-1)
            single = is_single.nonzero().view(-1)
            merged = self.combine(elements[left], elements[left + 1])
            # Survivors keep CSR order: the element at position p moves to position p // 2.
            keep = torch.cat([left, single])
            order = torch.sort(keep).indices
            elements = torch.cat([merged, elements[single]])[order]
            keep = keep[order]
            row = row[keep]
            position = torch.div(position[keep], 2, rounding_mode="floor")
            counts = torch.div(counts + 1, 2, rounding_mode="floor")
        return out.index_copy(0, row, elements)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, project={self.project}"


AGGREGATIONS: dict[str, type[Aggregation]] = {
    "sum": SumAggregation,
    "add": SumAggregation,
    "mean": MeanAggregation,
    "max": MaxAggregation,
    "min": MinAggregation,
    "softmax": SoftmaxAggregation,
}


def resolve_aggregation(aggr: str | Aggregation) -> Aggregation:
    """An :class:`Aggregation` from a name in :data:`AGGREGATIONS` or an instance (returned
    as is). ``"lcm"`` needs channel sizes: pass an :class:`LCMAggregation` instance."""
    if isinstance(aggr, Aggregation):
        return aggr
    if isinstance(aggr, str) and aggr in AGGREGATIONS:
        return AGGREGATIONS[aggr]()
    raise ValueError(f"aggr must be one of {sorted(AGGREGATIONS)} or an Aggregation module, "
                     f"got {aggr!r}")
