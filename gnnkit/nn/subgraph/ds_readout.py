r"""DS-GNN's set encoder: DeepSets over the bag of subgraph representations."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data.subgraph import SubgraphBatch
from gnnkit.nn.inits import reset

from .ds_conv import _check_bag

__all__ = ["DeepSetsReadout"]


class DeepSetsReadout(torch.nn.Module):
    r"""DeepSets over each graph's bag of subgraph representations: DS-GNN's set encoder
    (Bevilacqua et al., "Equivariant Subgraph Aggregation Networks", ICLR 2022, §3;
    reference code ``beabevi/ESAN``, ``models.py``, ``DSnetwork``). Subgraphs ``s`` of graph
    ``G`` with representations :math:`x_s` (``(S, F)``, e.g. from
    :meth:`SubgraphBatch.pool_subgraphs`), widths :math:`c_1 \dots c_m` (``channels``):

    * ``invariant=True`` (the reference code on ZINC): per-subgraph layers, the mean over the
      bag, then per-graph layers,

      .. math::
          u_s = \phi(x_s),\ \phi = (\mathrm{ELU} \circ W_m) \circ \dots \circ
          (\mathrm{ELU} \circ W_1), \qquad
          y_G = \rho\Big(\underset{s \in G}{\mathrm{mean}}\; u_s\Big),\ \rho =
          (\mathrm{ELU} \circ V_m) \circ \dots \circ (\mathrm{ELU} \circ V_1)

      with :math:`V_k \colon c_m \to c_m` (the reference code's ``fc_sum_list[k]`` is
      ``Linear(c_k, c_k)``, the same map for the equal widths all its configurations use);
    * ``invariant=False`` (the reference code elsewhere: TU, EXP, OGB): equivariant DeepSets
      layers, then the mean,

      .. math::
          u_s^{(k)} = \mathrm{ELU}\Big(W_k\, u_s^{(k-1)} + V_k \underset{s' \in G}{\mathrm{mean}}
          \; u_{s'}^{(k-1)}\Big), \qquad y_G = \underset{s \in G}{\mathrm{mean}}\;
          u_s^{(m)}.

    All maps are affine (``torch.nn.Linear``). A graph whose bag is empty gets the readout of
    a zero mean.

    Args:
        in_channels: width ``F`` of the subgraph representations.
        channels: widths :math:`c_1 \dots c_m` (ESAN's ``--channels``, e.g. ``(96,)`` or
            ``(64, 64)``), at least one.
        invariant: the invariant (``True``) or equivariant (``False``) form above.

    Shapes:
        ``x`` ``(S, F)`` one row per subgraph of ``bag`` → ``(G, c_m)``.
    """

    def __init__(self, in_channels: int, channels: Sequence[int], *,
                 invariant: bool = True) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be one or more positive widths, got {channels}")
        self.in_channels = in_channels
        self.channels = channels
        self.invariant = invariant
        widths = (in_channels, *channels)
        self.element = torch.nn.ModuleList(
            torch.nn.Linear(widths[k], widths[k + 1]) for k in range(len(channels)))
        # invariant: rho's layers c_m -> c_m; equivariant: the pooled term of layer k
        self.pooled = torch.nn.ModuleList(
            torch.nn.Linear(channels[-1], channels[-1]) if invariant
            else torch.nn.Linear(widths[k], channels[k]) for k in range(len(channels)))

    @property
    def out_channels(self) -> int:
        """``c_m``."""
        return self.channels[-1]

    def reset_parameters(self) -> None:
        """Re-initialise every linear map."""
        reset(self.element)
        reset(self.pooled)

    def forward(self, x: Tensor, bag: SubgraphBatch) -> Tensor:
        """Subgraph representations ``(S, F)`` → graph representations ``(G, c_m)``."""
        bag = _check_bag(bag, "DeepSetsReadout")
        h = bag._rows(x, bag.num_subgraphs, "subgraph")
        if self.invariant:
            for layer in self.element:
                h = F.elu(layer(h))
            g = bag.pool_graphs(h, "mean")
            for layer in self.pooled:
                g = F.elu(layer(g))
            return g
        for element, pooled in zip(self.element, self.pooled, strict=True):
            mean = bag.pool_graphs(h, "mean").index_select(0, bag.subgraph_graph)
            h = F.elu(element(h) + pooled(mean))
        return bag.pool_graphs(h, "mean")

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, channels={self.channels}, "
                f"invariant={self.invariant}")
