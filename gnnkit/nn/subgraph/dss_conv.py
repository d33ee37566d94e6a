r"""The DSS-GNN layer: message passing inside every subgraph plus information sharing across
the bag."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data.subgraph import SubgraphBatch
from gnnkit.nn.inits import reset

from .ds_conv import _check_bag, _edge_rows

__all__ = ["DSS_BAG_REDUCTIONS", "DSSConv"]

#: aggregations over the bag of :class:`DSSConv` (ESAN uses the mean)
DSS_BAG_REDUCTIONS = ("mean", "sum")


class DSSConv(torch.nn.Module):
    r"""A DSS-GNN layer (Bevilacqua et al., "Equivariant Subgraph Aggregation Networks",
    ICLR 2022, §3; reference code ``beabevi/ESAN``, ``models.py``, ``DSSnetwork``): a Siamese
    part that runs a GNN on every subgraph and an information-sharing part that runs a second
    GNN on the original graph over the bag's aggregate of every node,

    .. math::
        h'(s, v) = \mathrm{ReLU}\Big(
        \mathrm{BN}_1\big(\mathrm{GNN}_1(h(s, \cdot), A_s, e)(v)\big)
        + \mathrm{BN}_2\big(\mathrm{GNN}_2(\bar h, A, e)(v)\big)\Big),
        \qquad
        \bar h(v) = \underset{s \ni v}{\mathrm{mean}}\; h(s, v)

    with :math:`A_s` the edges kept in subgraph :math:`s`, :math:`A` the original graph's
    edges, :math:`e` edge features (the same edges' features on both sides) and the mean over
    the subgraphs of the bag that contain :math:`v`. This is the reference code's form; the
    paper's definition writes :math:`L^2(\sum_j A_j, \sum_j X_j)`, a sum of the states and of
    the subgraphs' adjacencies, where the code runs :math:`\mathrm{GNN}_2` on the original
    adjacency and averages the states (``bag_reduce="sum"`` sums them).
    :math:`\mathrm{BN}_1` normalises over the ``(subgraph, node)`` pairs,
    :math:`\mathrm{BN}_2` over the nodes, as in the reference code; the second branch is
    computed once per node and broadcast to the node's pairs
    (:meth:`SubgraphBatch.broadcast_nodes`). There is no dropout in the reference layer.

    Args:
        local_conv: :math:`\mathrm{GNN}_1`, called ``local_conv(h, local)`` or
            ``local_conv(h, local, edge_attr)`` on the bag's block-diagonal
            :attr:`SubgraphBatch.local`.
        graph_conv: :math:`\mathrm{GNN}_2`, called ``graph_conv(x, adj)`` or
            ``graph_conv(x, adj, edge_attr)`` on ``bag.graph.adj``.
        channels: output width of both (and of the batch norms).
        bag_reduce: ``"mean"`` (ESAN) or ``"sum"`` over the subgraphs containing a node.
        activation: apply the ReLU (ESAN: after every layer, the last one included).

    Shapes:
        ``h`` ``(P, F_in)`` one row per pair; ``local_edge_attr`` / ``graph_edge_attr``
        ``(E, D)`` one row per edge of ``bag.graph.adj`` (CSR order) for ``local_conv`` /
        ``graph_conv``, or ``None`` → ``(P, channels)``. A node in no subgraph of the bag
        (possible only with custom bags) enters :math:`\mathrm{GNN}_2` with a zero state.
    """

    def __init__(self, local_conv: torch.nn.Module, graph_conv: torch.nn.Module,
                 channels: int, *, bag_reduce: str = "mean", activation: bool = True) -> None:
        super().__init__()
        for name, conv in (("local_conv", local_conv), ("graph_conv", graph_conv)):
            if not isinstance(conv, torch.nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(conv).__name__}")
        if bag_reduce not in DSS_BAG_REDUCTIONS:
            raise ValueError(f"bag_reduce must be one of {list(DSS_BAG_REDUCTIONS)}, got "
                             f"{bag_reduce!r}")
        self.local_conv = local_conv
        self.graph_conv = graph_conv
        self.channels = channels
        self.bag_reduce = bag_reduce
        self.activation = activation
        self.local_norm = torch.nn.BatchNorm1d(channels)
        self.graph_norm = torch.nn.BatchNorm1d(channels)

    def reset_parameters(self) -> None:
        """Reset both base layers and both batch norms."""
        for module in (self.local_conv, self.graph_conv, self.local_norm, self.graph_norm):
            reset(module)

    def forward(self, h: Tensor, bag: SubgraphBatch, local_edge_attr: Tensor | None = None,
                graph_edge_attr: Tensor | None = None) -> Tensor:
        """Pair states ``(P, F_in)`` → ``(P, channels)``."""
        bag = _check_bag(bag, "DSSConv")
        h = bag._pairs(h)
        local_edge_attr = _edge_rows(local_edge_attr, bag, "local_edge_attr")
        graph_edge_attr = _edge_rows(graph_edge_attr, bag, "graph_edge_attr")
        # Siamese part: every subgraph with its own edges
        if local_edge_attr is None:
            siamese = self.local_conv(h, bag.local)
        else:
            siamese = self.local_conv(h, bag.local,
                                      local_edge_attr.index_select(0, bag.local_edge))
        # information sharing: the bag's aggregate of each node, on the original graph
        pooled = bag.pool_nodes(h, self.bag_reduce)
        if graph_edge_attr is None:
            shared = self.graph_conv(pooled, bag.graph.adj)
        else:
            shared = self.graph_conv(pooled, bag.graph.adj, graph_edge_attr)
        out = self.local_norm(siamese) + bag.broadcast_nodes(self.graph_norm(shared))
        return F.relu(out) if self.activation else out

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, bag_reduce={self.bag_reduce!r}, "
                f"activation={self.activation}")
