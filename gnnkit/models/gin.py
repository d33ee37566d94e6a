"""Xu et al.'s GIN for graph classification, as in the paper's official code."""

from __future__ import annotations

from itertools import pairwise

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import GraphBatch
from gnnkit.nn import GINConv
from gnnkit.nn.encoders import make_node_encoder
from gnnkit.nn.inits import reset
from gnnkit.nn.pool import global_add_pool, global_mean_pool
from gnnkit.sparse import SparseMatrix, add_self_loops, spmm

__all__ = ["GIN", "GIN_GRAPH_POOLINGS", "GIN_NEIGHBOR_POOLINGS", "GIN_NODE_ENCODERS", "gin_mlp"]

#: graph readouts of :class:`GIN` (the official ``--graph_pooling_type`` sum / average)
GIN_GRAPH_POOLINGS = ("sum", "mean")
#: neighbour aggregations of :class:`GIN` (``--neighbor_pooling_type`` sum / average / max)
GIN_NEIGHBOR_POOLINGS = ("sum", "mean", "max")
#: input encoders of :class:`GIN`: ``"none"`` feeds dense ``x`` as it is (the official code)
GIN_NODE_ENCODERS = ("none", "ogb-atom", "zinc-atom")


def gin_mlp(num_layers: int, in_channels: int, hidden_channels: int,
            out_channels: int) -> torch.nn.Sequential:
    """The MLP of a GIN layer in the official code (``models/mlp.py``): ``num_layers`` linear
    layers with BatchNorm and ReLU between them and a linear output; ``num_layers = 1`` is one
    ``Linear``. Layers have PyTorch's default initialisation, as there."""
    if num_layers < 1:
        raise ValueError(f"num_mlp_layers must be at least 1, got {num_layers}")
    widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
    modules: list[torch.nn.Module] = []
    for k, (a, b) in enumerate(pairwise(widths)):
        modules.append(torch.nn.Linear(a, b))
        if k < num_layers - 1:
            modules += [torch.nn.BatchNorm1d(b), torch.nn.ReLU()]
    return torch.nn.Sequential(*modules)


class _ReducingGINConv(torch.nn.Module):
    """A GIN layer with mean or max neighbour pooling, defined as the official code does.

    With a learnt ``ε``: ``nn(⊕_{j∈N(i)} x_j + (1 + ε) x_i)``. Without (GIN-0), the official code
    adds self loops to the adjacency and pools over ``N(i) ∪ {i}``: ``nn(⊕_{j∈N(i)∪{i}} x_j)``;
    for the mean that is ``(x_i + Σ_j x_j) / (deg_i + 1)``, not ``mean_j x_j + x_i``.
    """

    def __init__(self, nn: torch.nn.Module, reduce: str, train_eps: bool) -> None:
        super().__init__()
        self.nn = nn
        self.reduce = reduce
        self.train_eps = train_eps
        self.eps = torch.nn.Parameter(torch.zeros(1)) if train_eps else None

    def reset_parameters(self) -> None:
        reset(self.nn)
        if self.eps is not None:
            with torch.no_grad():
                self.eps.zero_()

    def forward(self, x: Tensor, adj: SparseMatrix, adj_with_loops: SparseMatrix | None
                ) -> Tensor:
        if self.eps is not None:
            # empty neighbourhoods pool to 0 (the core's rule), so an isolated node keeps
            # (1 + ε) x_i; see the parity notes of GIN
            pooled = spmm(adj, x, self.reduce) + (1 + self.eps) * x
        else:
            assert adj_with_loops is not None
            pooled = spmm(adj_with_loops, x, self.reduce)
        return self.nn(pooled)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}, train_eps={self.train_eps}"


class GIN(torch.nn.Module):
    r"""Graph isomorphism network for graph classification (Xu et al., "How Powerful are Graph
    Neural Networks?", ICLR 2019), built as the official code builds it
    (``weihua916/powerful-gnns``, ``models/graphcnn.py``).

    With :math:`h^{(0)} = x` (or its encoding) and :math:`K` = ``num_layers - 1`` GIN layers,

    .. math::
        h_v^{(k)} = \mathrm{ReLU}\Big(\mathrm{BN}^{(k)}\Big(\mathrm{MLP}^{(k)}\Big(
        (1 + \epsilon^{(k)})\, h_v^{(k-1)} + \sum_{u \in \mathcal{N}(v)} h_u^{(k-1)}\Big)\Big)\Big),
        \qquad
        s_G = \sum_{k=0}^{K} \mathrm{dropout}\Big(W^{(k)} \sum_{v \in G} h_v^{(k)} + b^{(k)}\Big)

    — every layer's representation, the input included, is read out and scored by its own
    linear layer, and the scores are summed (the paper's Section 4.2 concatenates the readouts
    of all layers; one linear layer on that concatenation is the sum of per-layer linear
    layers).

    * ``num_layers`` counts the input layer, as the official ``--num_layers`` (5 → 4 GIN
      layers and 5 readouts).
    * ``MLP^{(k)}`` has ``num_mlp_layers`` linear layers with BN + ReLU between them
      (:func:`gin_mlp`); its output then goes through BN and ReLU.
    * ``learn_eps=False`` is GIN-0 (``ε = 0`` fixed), ``True`` is GIN-ε (one ``ε`` per layer,
      initialised to 0).
    * ``neighbor_pooling``: ``"sum"`` (the GIN layer, :class:`~gnnkit.nn.GINConv`), or the
      official ``average``/``max`` variants as ``"mean"``/``"max"``: GIN-0 pools over the
      neighbours *and the node itself* (the official code adds self loops), GIN-ε pools over the
      neighbours and adds ``(1 + ε) h_v``.
    * ``graph_pooling``: ``"sum"`` or ``"mean"`` (the official ``average``).
    * ``final_dropout`` applies to each layer's *score* ``W^{(k)} r^{(k)} + b^{(k)}``, after the
      linear layer, which is where the official code puts it.

    Parity notes (with the official code): the same weights give the same scores in training
    and evaluation mode, except (1) a node without neighbours under ``"mean"`` + GIN-ε, where
    the official code divides by a zero degree (NaN) and this model pools the empty set to 0;
    (2) the same node under ``"max"`` + GIN-ε, where the official code's padding makes the
    pooled value the batch-wide minimum of each feature, and this model uses 0; (3) ties in
    ``"max"`` send the gradient to the first neighbour in CSR order (the official code's order
    is the neighbour list, then the node). The official code's ``ε`` exists as a parameter
    even in GIN-0, where it is unused; here it is only created when learnt. PyG's GIN examples
    differ from the official model (dropout before a final MLP, readout of the last layer),
    which is why this model is not built from them.

    For categorical inputs (molecules) ``node_encoder`` embeds ``x`` first (``"ogb-atom"``:
    :class:`~gnnkit.nn.encoders.AtomEncoder`, ``"zinc-atom"``:
    :class:`~gnnkit.nn.encoders.ZincAtomEncoder`, both to ``hidden_channels``); the embedding is
    then the input representation ``h^{(0)}``, read out like the others, which is what
    benchmarking-gnns' GIN for ZINC does (``embedding_h``).

    Args:
        in_channels: width of ``x`` (``"none"`` encoder) or its number of categorical columns.
        hidden_channels: width of every GIN layer (``--hidden_dim``, 64).
        out_channels: number of classes or targets.
        num_layers: layers including the input one (``--num_layers``, 5), at least 1.
        num_mlp_layers: linear layers per GIN MLP (``--num_mlp_layers``, 2).
        final_dropout: dropout on every layer's score (``--final_dropout``, 0.5).
        learn_eps: learn ``ε`` (GIN-ε, ``--learn_eps``).
        graph_pooling: one of :data:`GIN_GRAPH_POOLINGS` (``--graph_pooling_type``).
        neighbor_pooling: one of :data:`GIN_NEIGHBOR_POOLINGS` (``--neighbor_pooling_type``).
        node_encoder: one of :data:`GIN_NODE_ENCODERS`.

    Shapes:
        ``forward(batch)``: a :class:`~gnnkit.data.GraphBatch` with ``x`` ``(N, F)`` float
        (``(N, C)`` integer ids with an encoder) → ``(G, out_channels)`` scores (logits).
        Graphs without edges or without nodes are allowed (an empty graph scores
        ``Σ_k b^{(k)}``).
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 5, num_mlp_layers: int = 2, final_dropout: float = 0.5,
                 learn_eps: bool = False, graph_pooling: str = "sum",
                 neighbor_pooling: str = "sum", node_encoder: str = "none") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers counts the input layer and must be at least 1, got "
                             f"{num_layers}")
        if num_mlp_layers < 1:
            raise ValueError(f"num_mlp_layers must be at least 1, got {num_mlp_layers}")
        if graph_pooling not in GIN_GRAPH_POOLINGS:
            raise ValueError(f"graph_pooling must be one of {list(GIN_GRAPH_POOLINGS)}, got "
                             f"{graph_pooling!r}")
        if neighbor_pooling not in GIN_NEIGHBOR_POOLINGS:
            raise ValueError(f"neighbor_pooling must be one of {list(GIN_NEIGHBOR_POOLINGS)}, "
                             f"got {neighbor_pooling!r}")
        if node_encoder not in GIN_NODE_ENCODERS:
            raise ValueError(f"node_encoder must be one of {list(GIN_NODE_ENCODERS)}, got "
                             f"{node_encoder!r}")
        if not 0.0 <= final_dropout < 1.0:
            raise ValueError(f"final_dropout must be in [0, 1), got {final_dropout}")
        self.in_channels = in_channels
        self.num_layers = num_layers
        self.final_dropout = final_dropout
        self.learn_eps = learn_eps
        self.graph_pooling = graph_pooling
        self.neighbor_pooling = neighbor_pooling
        self.node_encoder = node_encoder
        self.encoder: torch.nn.Module | None = None
        width = in_channels
        if node_encoder != "none":
            self.encoder = make_node_encoder(node_encoder, in_channels, hidden_channels)
            width = hidden_channels
        self.convs = torch.nn.ModuleList()
        self.batch_norms = torch.nn.ModuleList()
        for k in range(num_layers - 1):
            mlp = gin_mlp(num_mlp_layers, width if k == 0 else hidden_channels, hidden_channels,
                          hidden_channels)
            self.convs.append(GINConv(mlp, eps=0.0, train_eps=learn_eps)
                              if neighbor_pooling == "sum"
                              else _ReducingGINConv(mlp, neighbor_pooling, learn_eps))
            self.batch_norms.append(torch.nn.BatchNorm1d(hidden_channels))
        # one scoring layer per representation, the input's included (linears_prediction)
        self.heads = torch.nn.ModuleList(
            torch.nn.Linear(width if k == 0 else hidden_channels, out_channels)
            for k in range(num_layers)
        )

    def reset_parameters(self) -> None:
        """Re-initialise every layer (encoder, MLPs, BatchNorms, scoring layers)."""
        for module in (self.encoder, *self.convs, *self.batch_norms, *self.heads):
            reset(module)

    def _input(self, batch: GraphBatch) -> Tensor:
        if not isinstance(batch, GraphBatch):
            raise TypeError(f"GIN takes a gnnkit.data.GraphBatch (from collate), got "
                            f"{type(batch).__name__}")
        x = batch.x
        if x is None:
            raise ValueError("GIN needs node features: batch.x is None (give featureless "
                             "graphs constant or degree features, as the official code's "
                             "--degree_as_tag does)")
        if self.encoder is not None:
            return self.encoder(x)
        if not x.is_floating_point():
            raise TypeError(f"GIN got node features of dtype {x.dtype}; with "
                            "node_encoder='none' x must be dense float features (e.g. one-hot "
                            "node labels). For category ids choose node_encoder='ogb-atom' or "
                            "'zinc-atom'")
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"GIN expects x of shape (N, {self.in_channels}), got "
                             f"{tuple(x.shape)}")
        dtype = self.heads[0].weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"batch.x has dtype {x.dtype} but the model's parameters {dtype}: "
                            f"convert one of them (model.to({x.dtype}) or x.to({dtype}))")
        return x

    def forward(self, batch: GraphBatch) -> Tensor:
        """A batch of graphs → ``(G, out_channels)`` scores."""
        h = self._input(batch)
        adj = batch.adj
        loops = None
        if self.neighbor_pooling != "sum" and not self.learn_eps:
            loops = add_self_loops(adj)  # once per batch, shared by every layer
        hidden = [h]
        for conv, norm in zip(self.convs, self.batch_norms, strict=True):
            h = conv(h, adj) if isinstance(conv, GINConv) else conv(h, adj, loops)
            h = F.relu(norm(h))
            hidden.append(h)
        pool = global_add_pool if self.graph_pooling == "sum" else global_mean_pool
        score: Tensor | None = None
        for h, head in zip(hidden, self.heads, strict=True):
            term = F.dropout(head(pool(h, batch.ptr)), self.final_dropout, self.training)
            score = term if score is None else score + term
        assert score is not None  # num_layers ≥ 1
        return score

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, learn_eps={self.learn_eps}, "
                f"neighbor_pooling={self.neighbor_pooling!r}, "
                f"graph_pooling={self.graph_pooling!r}, final_dropout={self.final_dropout}")
