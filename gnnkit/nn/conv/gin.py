"""Graph isomorphism network layers: GIN (Xu et al., ICLR 2019) and GINE (Hu et al., ICLR 2020)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from ..inits import reset
from .message_passing import GraphLike, MessagePassing, as_sparse_matrix, node_counts, pair

__all__ = ["GINConv", "GINEConv"]


def _input_width(nn: torch.nn.Module) -> int:
    first = nn[0] if isinstance(nn, torch.nn.Sequential) else nn
    for attribute in ("in_features", "in_channels"):
        width = getattr(first, attribute, None)
        if isinstance(width, int):
            return width
    raise ValueError("cannot infer the input width of nn (its first module has no "
                     "in_features/in_channels); GINEConv(edge_dim=...) needs it")


class _GINBase(MessagePassing):
    def __init__(self, nn: torch.nn.Module, eps: float, train_eps: bool) -> None:
        super().__init__("sum")
        if not isinstance(nn, torch.nn.Module):
            raise TypeError(f"nn must be a torch.nn.Module, got {type(nn).__name__}")
        self.nn = nn
        self.initial_eps = float(eps)
        if train_eps:
            self.eps = torch.nn.Parameter(torch.empty(1))
        else:
            self.register_buffer("eps", torch.empty(1))
        self.train_eps = train_eps

    def reset_parameters(self) -> None:
        """Reset ``nn`` (see :func:`gnnkit.nn.inits.reset`) and ``ε``."""
        super().reset_parameters()
        reset(self.nn)
        with torch.no_grad():
            self.eps.fill_(self.initial_eps)


    def update(self, aggregated: Tensor, x_target: Tensor | None) -> Tensor:
        """``h_Θ`` of the aggregate (which already holds the root term ``(1 + ε) x_i``)."""
        return self.nn(aggregated)


class GINConv(_GINBase):
    r"""Graph isomorphism operator (Xu et al., "How Powerful are Graph Neural Networks?",
    ICLR 2019):

    .. math::
        \mathbf{x}'_i = h_{\Theta}\Big((1 + \epsilon)\, \mathbf{x}_i
        + \sum_{j \in \mathcal{N}(i)} \mathbf{x}_j\Big)

    The sum is one fused :meth:`propagate` (an ``spmm`` over the graph's pattern, with
    ``1 + ε`` as its root term and ``h_Θ`` as :meth:`update`); edge weights, if any, are
    ignored (as in PyG's ``GINConv``). Duplicate edges count as many times as they are stored.

    Args:
        nn: the network ``h_Θ`` applied to ``(N, F)``.
        eps: initial ``ε``.
        train_eps: learn ``ε``.

    Shapes:
        ``x`` ``(N, F)`` or ``((N_s, F), (N_t, F))`` → ``(N_t, F_out)`` of ``nn``.
    """

    def __init__(self, nn: torch.nn.Module, eps: float = 0.0, train_eps: bool = False) -> None:
        super().__init__(nn, eps, train_eps)
        self.reset_parameters()

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None], graph: GraphLike, *,
                num_nodes: int | None = None, size: Sequence[int] | None = None) -> Tensor:
        """Node features (or a bipartite pair) → ``nn(...)``."""
        x_source, x_target = pair(x)
        A = as_sparse_matrix(graph, shape=node_counts(x_source, x_target, size),
                             num_nodes=num_nodes).matrix.with_values(None)
        return self.propagate(A, x_source, x_target,
                              self_weight=None if x_target is None else 1 + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.initial_eps}, train_eps={self.train_eps}"


class GINEConv(_GINBase):
    r"""GIN with edge features (Hu et al., "Strategies for Pre-training Graph Neural Networks",
    ICLR 2020):

    .. math::
        \mathbf{x}'_i = h_{\Theta}\Big((1 + \epsilon)\, \mathbf{x}_i
        + \sum_{j \in \mathcal{N}(i)} \mathrm{ReLU}(\mathbf{x}_j + \mathbf{e}_{ji})\Big)

    The message is not linear in ``x_j``, so messages are gathered per edge (in CSR order) and
    summed with a segment reduction. With ``edge_dim`` set, ``e_ji`` is first mapped to the
    node width by a linear layer.

    Args:
        nn: the network ``h_Θ``.
        eps: initial ``ε``.
        train_eps: learn ``ε``.
        edge_dim: width ``D`` of the edge features, if it differs from the node width ``F``
            (then ``nn``'s first layer must expose ``in_features``).

    Shapes:
        ``x`` ``(N, F)``; ``edge_attr`` ``(E, F)`` (or ``(E, D)`` with ``edge_dim``), in the
        order of ``edge_index`` — or in CSR entry order when the graph is a ``SparseMatrix`` —
        taken from ``graph.edge_attr`` for a PyG ``Data`` when not passed → ``(N, F_out)``.
    """

    message_uses_target = False

    def __init__(self, nn: torch.nn.Module, eps: float = 0.0, train_eps: bool = False,
                 edge_dim: int | None = None) -> None:
        super().__init__(nn, eps, train_eps)
        self.edge_dim = edge_dim
        self.lin = torch.nn.Linear(edge_dim, _input_width(nn)) if edge_dim is not None else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset ``nn``, ``ε`` and the edge-feature projection."""
        super().reset_parameters()
        reset(self.lin)

    def message(self, x_j: Tensor, x_i: Tensor | None, edge_attr: Tensor | None,
                edge_weight: Tensor | None) -> Tensor:
        """``ReLU(x_j + e_ji)`` per edge."""
        assert edge_attr is not None
        if self.lin is not None:
            edge_attr = self.lin(edge_attr)
        if edge_attr.shape[-1] != x_j.shape[-1]:
            raise ValueError(f"edge features have width {edge_attr.shape[-1]} but node features "
                             f"{x_j.shape[-1]}; set GINEConv(edge_dim=...)")
        return F.relu(x_j + edge_attr)

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None], graph: GraphLike,
                edge_attr: Tensor | None = None, *, num_nodes: int | None = None,
                size: Sequence[int] | None = None) -> Tensor:
        """Node features, graph and edge features → ``nn(...)``."""
        x_source, x_target = pair(x)
        graph_input = as_sparse_matrix(graph, shape=node_counts(x_source, x_target, size),
                                       num_nodes=num_nodes, edge_attr=edge_attr)
        if graph_input.edge_attr is None:
            raise ValueError("GINEConv needs edge_attr (argument or graph.edge_attr)")
        features = graph_input.edge_attr
        if features.dim() == 1:
            features = features.unsqueeze(-1)
        return self.propagate(graph_input.matrix.with_values(None), x_source, x_target,
                              edge_attr=features.to(x_source.dtype),
                              self_weight=None if x_target is None else 1 + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.initial_eps}, train_eps={self.train_eps}, edge_dim={self.edge_dim}"
