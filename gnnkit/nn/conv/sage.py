"""GraphSAGE convolution of Hamilton, Ying & Leskovec (NeurIPS 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from ..inits import reset
from .aggr import Aggregation
from .message_passing import (
    GraphLike,
    MessagePassing,
    as_sparse_matrix,
    check_features,
    node_counts,
    pair,
)

__all__ = ["SAGEConv"]


class SAGEConv(MessagePassing):
    r"""GraphSAGE (Hamilton et al., "Inductive Representation Learning on Large Graphs",
    NeurIPS 2017):

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i
        + \mathbf{W}_2 \cdot \mathrm{aggr}_{j \in \mathcal{N}(i)} \mathbf{x}_j + \mathbf{b}

    optionally followed by ``x'_i / ‖x'_i‖₂`` (``normalize=True``). With ``project=True`` the
    sources are first mapped by ``ReLU(W_p x_j + b_p)``. Edge weights are ignored (as in PyG);
    empty neighbourhoods aggregate to 0.

    For a linear aggregation (sum, mean) ``W₂`` is applied *before* aggregating when that
    shrinks the features (``F_out < F_in``): same result, less work.

    Args:
        in_channels: ``F_in`` or ``(F_source, F_target)`` for bipartite graphs.
        out_channels: ``F_out``.
        aggr: ``"mean"``, ``"max"``, ``"sum"``, ``"min"``, ``"softmax"`` or an
            :class:`~gnnkit.nn.conv.aggr.Aggregation` whose output width equals its input's.
        normalize: L2-normalise the output rows.
        root_weight: add ``W₁ x_i``.
        project: project the sources first.
        bias: learn ``b`` (part of ``W₂``'s linear layer, as in PyG's ``lin_l``).

    Shapes:
        ``x`` ``(N, F_in)`` or ``((N_s, F_s), (N_t, F_t))``; graph ``N_t × N_s`` →
        ``(N_t, F_out)``.
    """

    def __init__(self, in_channels: int | tuple[int, int], out_channels: int, *,
                 aggr: str | Aggregation = "mean", normalize: bool = False,
                 root_weight: bool = True, project: bool = False, bias: bool = True) -> None:
        super().__init__(aggr)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight
        self.project = project
        source_channels, target_channels = (
            (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        )
        self.source_channels, self.target_channels = source_channels, target_channels
        self.lin = torch.nn.Linear(source_channels, source_channels) if project else None
        self.lin_l = torch.nn.Linear(source_channels, out_channels, bias=bias)
        self.lin_r = (torch.nn.Linear(target_channels, out_channels, bias=False)
                      if root_weight else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default ``Linear`` initialisation for every weight."""
        super().reset_parameters()
        for lin in (self.lin, self.lin_l, self.lin_r):
            reset(lin)

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None], graph: GraphLike, *,
                num_nodes: int | None = None, size: Sequence[int] | None = None) -> Tensor:
        """Node features (or a bipartite pair) → ``(N_t, F_out)``."""
        x_source, x_target = pair(x)
        x_source = check_features("x (source)", x_source, self.source_channels)
        if x_target is not None:
            x_target = check_features("x (target)", x_target, self.target_channels)
        A = as_sparse_matrix(graph, shape=node_counts(x_source, x_target, size),
                             num_nodes=num_nodes).matrix.with_values(None)
        if self.lin is not None:
            x_source = F.relu(self.lin(x_source))
        if self.aggr_module.linear and self.out_channels < self.source_channels:
            out = self.propagate(A, F.linear(x_source, self.lin_l.weight))
            if self.lin_l.bias is not None:
                out = out + self.lin_l.bias
        else:
            out = self.lin_l(self.propagate(A, x_source))
        if self.lin_r is not None and x_target is not None:
            out = out + self.lin_r(x_target)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, "
                f"aggr={type(self.aggr_module).__name__}, normalize={self.normalize}")
