r"""The DS-GNN layer: one message-passing layer run on every subgraph of a bag independently."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data.subgraph import SubgraphBatch
from gnnkit.nn.inits import reset

__all__ = ["DSConv"]


def _check_bag(bag: object, layer: str) -> SubgraphBatch:
    if not isinstance(bag, SubgraphBatch):
        raise TypeError(f"{layer} takes a gnnkit.data.SubgraphBatch as bag (build one with "
                        f"gnnkit.data.subgraph_policies), got {type(bag).__name__}")
    return bag


def _edge_rows(edge_attr: Tensor | None, bag: SubgraphBatch, name: str) -> Tensor | None:
    """Check ``edge_attr`` has one row per edge of ``bag.graph.adj`` (CSR order)."""
    if edge_attr is None:
        return None
    if not isinstance(edge_attr, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or None, got {type(edge_attr).__name__}")
    num_edges = bag.graph.num_edges
    if edge_attr.dim() == 0 or edge_attr.shape[0] != num_edges:
        raise ValueError(f"{name} must have one row per edge of bag.graph.adj (in its CSR "
                         f"order): shape ({num_edges}, ...), got {tuple(edge_attr.shape)}; "
                         "encode bag.graph.edge_attr, not the per-subgraph copies")
    return edge_attr


class DSConv(torch.nn.Module):
    r"""One layer of DS-GNN's subgraph encoder (Bevilacqua et al., "Equivariant Subgraph
    Aggregation Networks", ICLR 2022, §3: the Siamese network that processes each subgraph
    independently with shared weights).

    For every subgraph :math:`s` of the bag, with :math:`A_s` its kept edges,

    .. math::
        h'(s, v) = \mathrm{dropout}\Big(\sigma\Big(\mathrm{BN}\big(
        \mathrm{GNN}\big(h(s, \cdot), A_s, e\big)(v)\big)\Big)\Big)

    where :math:`\mathrm{GNN}` is the base layer ``conv`` (e.g. :class:`~gnnkit.nn.GINConv`,
    or :class:`~gnnkit.nn.GINEConv` with edge features :math:`e`), applied once to the
    block-diagonal matrix :attr:`SubgraphBatch.local` of all subgraphs (so it cannot mix two
    subgraphs), BN is a batch norm over all ``(subgraph, node)`` pairs and :math:`\sigma` is
    ReLU (ESAN's ``GNN_node``: conv → BN → ReLU → dropout, the ReLU kept after the last
    layer for the ``zincgin`` / ``originalgin`` base GNNs ESAN uses on ZINC, TU and EXP).

    Args:
        conv: the base layer, called ``conv(h, local)`` or, with edge features,
            ``conv(h, local, edge_attr)`` where ``edge_attr`` has one row per entry of
            ``local`` (CSR order). Its output width must be ``channels``.
        channels: output width of ``conv`` (the batch norm's).
        batch_norm: apply the batch norm.
        activation: apply the ReLU.
        dropout: dropout probability after the activation.

    Shapes:
        ``h`` ``(P, F_in)`` one row per pair of ``bag``; ``edge_attr`` ``(E, D)`` one row
        per edge of ``bag.graph.adj`` (CSR order; the layer gathers each subgraph's copy
        through :attr:`SubgraphBatch.local_edge`) or ``None`` → ``(P, channels)``.
    """

    def __init__(self, conv: torch.nn.Module, channels: int, *, batch_norm: bool = True,
                 activation: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(conv, torch.nn.Module):
            raise TypeError(f"conv must be a torch.nn.Module, got {type(conv).__name__}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.conv = conv
        self.channels = channels
        self.norm = torch.nn.BatchNorm1d(channels) if batch_norm else None
        self.activation = activation
        self.dropout = dropout

    def reset_parameters(self) -> None:
        """Reset the base layer and the batch norm."""
        reset(self.conv)
        if self.norm is not None:
            self.norm.reset_parameters()

    def forward(self, h: Tensor, bag: SubgraphBatch, edge_attr: Tensor | None = None) -> Tensor:
        """Pair states ``(P, F_in)`` → ``(P, channels)``."""
        bag = _check_bag(bag, "DSConv")
        h = bag._pairs(h)
        edge_attr = _edge_rows(edge_attr, bag, "edge_attr")
        if edge_attr is None:
            out = self.conv(h, bag.local)
        else:
            out = self.conv(h, bag.local, edge_attr.index_select(0, bag.local_edge))
        if self.norm is not None:
            out = self.norm(out)
        if self.activation:
            out = F.relu(out)
        return F.dropout(out, self.dropout, self.training)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, activation={self.activation}, "
                f"dropout={self.dropout}")
