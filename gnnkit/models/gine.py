"""The OGB molecule baseline: GIN with edge features (GINE) and a graph readout."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import GraphBatch
from gnnkit.nn import GINConv, GINEConv
from gnnkit.nn.encoders import (
    EDGE_ENCODERS,
    NODE_ENCODERS,
    make_edge_encoder,
    make_node_encoder,
)
from gnnkit.nn.inits import reset
from gnnkit.nn.pool import global_add_pool, global_max_pool, global_mean_pool

__all__ = ["GINE", "GINE_GRAPH_POOLINGS", "GINE_JK"]

#: graph readouts of :class:`GINE` (OGB's ``--graph_pooling`` without attention / set2set)
GINE_GRAPH_POOLINGS = ("mean", "sum", "max")
#: jumping-knowledge modes of :class:`GINE` (OGB's ``JK``)
GINE_JK = ("last", "sum")

_POOLS = {"mean": global_mean_pool, "sum": global_add_pool, "max": global_max_pool}


class GINE(torch.nn.Module):
    r"""GIN with edge features for graph property prediction: OGB's ``gin`` molecule baseline
    (Hu et al., "Open Graph Benchmark: Datasets for Machine Learning on Graphs", NeurIPS 2020;
    ``examples/graphproppred/mol``: ``GNN`` with ``GNN_node``, ``gnn_type='gin'``,
    ``virtual_node=False``), whose layer is the GINE of Hu et al., "Strategies for Pre-training
    Graph Neural Networks", ICLR 2020.

    With :math:`h^{(0)} = \mathrm{enc}(x)` and :math:`e^{(k)} = \mathrm{enc}^{(k)}(a)` (every
    layer has its own edge encoder, as in OGB), for :math:`k = 1 \dots L`:

    .. math::
        \tilde h_v^{(k)} = \mathrm{BN}^{(k)}\Big(\mathrm{MLP}^{(k)}\Big((1 + \epsilon^{(k)})\,
        h_v^{(k-1)} + \sum_{u \in \mathcal{N}(v)}
        \mathrm{ReLU}\big(h_u^{(k-1)} + e_{uv}^{(k)}\big)\Big)\Big),
        \qquad
        h_v^{(k)} = \mathrm{dropout}\big(\sigma_k(\tilde h_v^{(k)})\big)
        \;[+\, h_v^{(k-1)}]

    with :math:`\mathrm{MLP} = \mathrm{Linear}(d, 2d) \to \mathrm{BN} \to \mathrm{ReLU} \to
    \mathrm{Linear}(2d, d)`, a learnt :math:`\epsilon^{(k)}` (initialised to 0),
    :math:`\sigma_k = \mathrm{ReLU}` except after the last layer (identity there), and the
    residual term only with ``residual``. The node representation is :math:`h^{(L)}`
    (``jk="last"``) or :math:`\sum_{k=0}^{L} h^{(k)}` (``jk="sum"``); it is pooled per graph
    (mean, sum or max) and mapped to the outputs by a linear layer.

    Encoders are chosen by name (:mod:`gnnkit.nn.encoders`): ``node_encoder`` ``"ogb-atom"``,
    ``"zinc-atom"`` or ``"linear"`` (dense float ``x`` with ``in_channels`` columns);
    ``edge_encoder`` ``"ogb-bond"``, ``"zinc-bond"``, ``"linear"`` (dense float ``edge_attr``
    with ``edge_channels`` columns, the ``lin`` of PyG's ``GINEConv(edge_dim=...)``) or
    ``"none"`` (no edge features: the layer is GIN's, messages ``h_u`` without the ReLU).

    For the ZINC GIN baselines of the subgraph-GNN literature (ESAN's ``zincgin``,
    benchmarking-gnns) three options: ``residual`` (``h^{(k)} += h^{(k-1)}``, after dropout as
    in OGB's ``GNN_node``), ``last_activation`` (ReLU after the last layer too, as ESAN's
    ``zincgin``) and ``head_layers`` (the readout MLP: 1 is OGB's linear layer, ``m ≥ 2`` is
    ``Linear(d, 2d)`` then ``m - 2`` ``Linear(2d, 2d)``, each followed by ReLU, then
    ``Linear(2d, out)``, ESAN's two-layer head for ``m = 2``).

    Parity notes (with OGB's example, same weights): identical outputs in training and
    evaluation mode. OGB requires ``num_layer ≥ 2``; 1 is allowed here. ESAN's ``zincgin``
    additionally uses an MLP of width ``d`` (not ``2d``) and an atom table of 21 rows; this
    model keeps OGB's ``2d`` MLP and the 28-type ZINC dictionary. Edge features are read in
    ``batch.adj``'s CSR order (what :func:`gnnkit.data.collate` stores), so the per-edge sum is
    the same as PyG's over ``edge_index`` order, up to floating-point summation order.

    Args:
        in_channels: columns of ``x`` (categorical columns for the categorical encoders).
        hidden_channels: width ``d`` of every layer (OGB's ``--emb_dim``, 300).
        out_channels: number of tasks / targets.
        num_layers: message-passing layers ``L`` (``--num_layer``, 5).
        dropout: dropout after every layer (``--drop_ratio``, 0.5).
        jk: one of :data:`GINE_JK` (``JK``, ``"last"``).
        graph_pooling: one of :data:`GINE_GRAPH_POOLINGS` (``--graph_pooling``, ``"mean"``).
        residual: residual connections between layers (``GNN(residual=...)``, off).
        node_encoder: one of :data:`~gnnkit.nn.encoders.NODE_ENCODERS`.
        edge_encoder: one of :data:`~gnnkit.nn.encoders.EDGE_ENCODERS`.
        edge_channels: columns of ``edge_attr`` (a ``(E,)`` vector is one); required by the
            ``"linear"`` edge encoder, checked against the categorical ones, ``None`` to skip.
        last_activation: ReLU after the last layer as well.
        head_layers: linear layers of the output head (≥ 1).

    Shapes:
        ``forward(batch)``: a :class:`~gnnkit.data.GraphBatch` with ``x`` ``(N, C)`` and
        ``edge_attr`` ``(E, D)`` (or ``(E,)``) in ``adj``'s CSR order → ``(G, out_channels)``.
        Graphs without edges or without nodes are allowed.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 5, dropout: float = 0.5, jk: str = "last",
                 graph_pooling: str = "mean", residual: bool = False,
                 node_encoder: str = "ogb-atom", edge_encoder: str = "ogb-bond",
                 edge_channels: int | None = None, last_activation: bool = False,
                 head_layers: int = 1) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if head_layers < 1:
            raise ValueError(f"head_layers must be at least 1, got {head_layers}")
        if jk not in GINE_JK:
            raise ValueError(f"jk must be one of {list(GINE_JK)}, got {jk!r}")
        if graph_pooling not in GINE_GRAPH_POOLINGS:
            raise ValueError(f"graph_pooling must be one of {list(GINE_GRAPH_POOLINGS)}, got "
                             f"{graph_pooling!r}")
        if node_encoder not in NODE_ENCODERS:
            raise ValueError(f"node_encoder must be one of {list(NODE_ENCODERS)}, got "
                             f"{node_encoder!r}")
        if edge_encoder not in EDGE_ENCODERS:
            raise ValueError(f"edge_encoder must be one of {list(EDGE_ENCODERS)}, got "
                             f"{edge_encoder!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        d = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.jk = jk
        self.graph_pooling = graph_pooling
        self.residual = residual
        self.last_activation = last_activation
        self.edge_encoder_name = edge_encoder
        self.node_encoder = make_node_encoder(node_encoder, in_channels, d)
        self.edge_encoders: torch.nn.ModuleList | None = None
        if edge_encoder != "none":
            # one encoder per layer, as every layer of OGB's GNN_node owns a BondEncoder
            self.edge_encoders = torch.nn.ModuleList(
                make_edge_encoder(edge_encoder, edge_channels, d) for _ in range(num_layers))
        self.convs = torch.nn.ModuleList()
        self.batch_norms = torch.nn.ModuleList()
        for _ in range(num_layers):
            mlp = torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.BatchNorm1d(2 * d),
                                      torch.nn.ReLU(), torch.nn.Linear(2 * d, d))
            self.convs.append(GINEConv(mlp, eps=0.0, train_eps=True)
                              if self.edge_encoders is not None
                              else GINConv(mlp, eps=0.0, train_eps=True))
            self.batch_norms.append(torch.nn.BatchNorm1d(d))
        head: list[torch.nn.Module] = []
        width = d
        for _ in range(head_layers - 1):
            head += [torch.nn.Linear(width, 2 * d), torch.nn.ReLU()]
            width = 2 * d
        head.append(torch.nn.Linear(width, out_channels))
        self.head = torch.nn.Sequential(*head)

    def reset_parameters(self) -> None:
        """Re-initialise encoders, layers and head."""
        for module in (self.node_encoder, self.edge_encoders, *self.convs, *self.batch_norms,
                       self.head):
            reset(module)

    def forward(self, batch: GraphBatch) -> Tensor:
        """A batch of graphs → ``(G, out_channels)``."""
        if not isinstance(batch, GraphBatch):
            raise TypeError(f"GINE takes a gnnkit.data.GraphBatch (from collate), got "
                            f"{type(batch).__name__}")
        if batch.x is None:
            raise ValueError("GINE needs node features: batch.x is None")
        if self.edge_encoders is not None and batch.edge_attr is None:
            raise ValueError(f"edge_encoder={self.edge_encoder_name!r} needs edge features but "
                             "batch.edge_attr is None; use edge_encoder='none' for graphs "
                             "without them")
        adj = batch.adj
        h = self.node_encoder(batch.x)
        hidden = [h]
        for k, (conv, norm) in enumerate(zip(self.convs, self.batch_norms, strict=True)):
            if self.edge_encoders is not None:
                h = conv(hidden[-1], adj, self.edge_encoders[k](batch.edge_attr))
            else:
                h = conv(hidden[-1], adj)
            h = norm(h)
            if k < self.num_layers - 1 or self.last_activation:
                h = F.relu(h)
            h = F.dropout(h, self.dropout, self.training)
            if self.residual:
                h = h + hidden[-1]
            hidden.append(h)
        if self.jk == "last":
            node = hidden[-1]
        else:
            node = hidden[0]
            for h in hidden[1:]:
                node = node + h
        return self.head(_POOLS[self.graph_pooling](node, batch.ptr))

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, jk={self.jk!r}, "
                f"graph_pooling={self.graph_pooling!r}, residual={self.residual}, "
                f"dropout={self.dropout}")
