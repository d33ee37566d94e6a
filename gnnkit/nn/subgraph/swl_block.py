r"""The GIN-style aggregation block of SWL layers: :class:`SWLBlock`.

Every aggregation of a subgraph Weisfeiler–Lehman layer (Zhang et al., 2023) is learnt by its
own block, as in the paper's official code (subgraph23/SWL, ``src/model.py``, ``Agg``):

.. math::

    \mathrm{block}_{\mathrm{agg}}(h)(u, v) = \mathrm{MLP}\Big((1 + \epsilon)\, h(u, v)
    + \mathrm{agg}(h)(u, v)\Big), \qquad
    \mathrm{MLP} = \mathrm{Linear}(F, F) \to \mathrm{BN} \to \mathrm{ReLU}
    \to \mathrm{Linear}(F, F')

with a learnt :math:`\epsilon` (initialised to 0). The root term is left out of the readout
block (``root_term=False``, the official ``gin=False``). The subclasses define ``agg``:
:class:`~gnnkit.nn.subgraph.swl_local.SWLLocalBlock` (uL),
:class:`~gnnkit.nn.subgraph.swl_root.SWLRootBlock` (vL),
:class:`~gnnkit.nn.subgraph.swl_diagonal.SWLDiagonalBlock` (vv, uu) and
:class:`~gnnkit.nn.subgraph.swl_global.SWLGlobalBlock` (uG, vG).

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import SubgraphBatch
from gnnkit.nn.inits import reset
from gnnkit.sparse import SparseMatrix, segment, spmm

__all__ = ["SWL_AGGREGATIONS", "SWLBlock", "edge_messages"]

#: the aggregations of Zhang et al. (2023, §3): local (uL, vL), point (vv, uu), global (uG, vG)
SWL_AGGREGATIONS = ("uL", "vL", "vv", "uu", "uG", "vG")


def edge_messages(matrix: SparseMatrix, h: Tensor, edge_embedding: Tensor | None,
                  edge_id: Tensor | None) -> Tensor:
    r""":math:`\mathrm{out}[i] = \sum_{j} \mathrm{ReLU}(h[j] + e_{\mathrm{edge}(i, j)})` over the
    entries ``(i, j)`` of ``matrix``: GINE's message (Hu et al., ICLR 2020) on a bag operator.

    ``edge_embedding`` ``(E, F)`` holds one row per edge of the underlying graph batch and
    ``edge_id`` ``(nnz,)`` the edge behind each entry (``SubgraphBatch.local_edge`` or
    ``vl_edge``), so the ``E`` edges are encoded once and gathered per entry. Without edge
    embeddings the message is ``ReLU(h[j])`` (the official SWL code's ``Bond`` with no
    attributes), one fused ``spmm``.

    Shapes:
        ``h`` ``(P, F)`` → ``(P, F)``.
    """
    if edge_embedding is None:
        return spmm(matrix, F.relu(h))  # fused: no (nnz, F) message tensor
    if edge_id is None:
        raise ValueError("edge_id is required with edge_embedding (the edge behind each entry)")
    col = matrix.col.long()
    message = F.relu(h.index_select(0, col) + edge_embedding.index_select(0, edge_id))
    return segment(message, matrix.rowptr.long(), "sum")


class SWLBlock(torch.nn.Module):
    r"""One aggregation of an SWL layer: ``MLP((1 + ε)·h + agg(h))`` on ``(u, v)`` pairs.

    Subclasses implement :meth:`aggregate`. See the module docstring for the equation.

    Args:
        in_channels: width ``F`` of ``h``.
        out_channels: width ``F'`` of the output.
        root_term: add ``(1 + ε)·h`` before the MLP (off: ``MLP(agg(h))``, the readout block).
        eps: initial ``ε``.
        train_eps: learn ``ε`` (the official code does).

    Shapes:
        ``forward(bag, h)``: a :class:`gnnkit.data.SubgraphBatch` with ``P`` pairs and ``h``
        ``(P, F)`` → ``(P, F')``.
    """

    #: the aggregation's name (one of :data:`SWL_AGGREGATIONS`)
    aggregation: str = ""

    def __init__(self, in_channels: int, out_channels: int, *, root_term: bool = True,
                 eps: float = 0.0, train_eps: bool = True) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.root_term = root_term
        self.initial_eps = float(eps)
        self.train_eps = train_eps
        if root_term and train_eps:
            self.eps: Tensor | None = torch.nn.Parameter(torch.empty(1))
        elif root_term:
            self.register_buffer("eps", torch.empty(1))
        else:
            self.eps = None
        # the official MLP: hidden width = input width, BN + ReLU inside, linear output
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(in_channels, in_channels), torch.nn.BatchNorm1d(in_channels),
            torch.nn.ReLU(), torch.nn.Linear(in_channels, out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset the MLP (PyTorch's default initialisation) and ``ε``."""
        reset(self.mlp)
        if self.eps is not None:
            with torch.no_grad():
                self.eps.fill_(self.initial_eps)

    def aggregate(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        """``agg(h)``: ``(P, F)`` → ``(P, F)``."""
        raise NotImplementedError

    def forward(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        """``MLP((1 + ε)·h + agg(h))``, ``(P, F)`` → ``(P, F')``."""
        if not isinstance(bag, SubgraphBatch):
            raise TypeError(f"bag must be a gnnkit.data.SubgraphBatch (e.g. "
                            f"SubgraphBatch.all_pairs(batch)), got {type(bag).__name__}")
        if not isinstance(h, Tensor) or h.dim() != 2 or h.shape != (bag.num_pairs,
                                                                     self.in_channels):
            seen = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"h must be (num_pairs, in_channels) = ({bag.num_pairs}, "
                             f"{self.in_channels}), got {seen}")
        out = self.aggregate(bag, h)
        if self.eps is not None:
            out = (1.0 + self.eps) * h + out
        return self.mlp(out)

    def extra_repr(self) -> str:
        return (f"{self.aggregation!r}, {self.in_channels}, {self.out_channels}, "
                f"root_term={self.root_term}")
