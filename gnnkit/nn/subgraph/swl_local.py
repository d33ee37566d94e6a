r"""uL: message passing inside every subgraph, :class:`SWLLocalBlock`.

.. math::

    \mathrm{uL}(h)(u, v) = \sum_{w \in N(v)} \mathrm{ReLU}\big(h(u, w) + e_{wv}\big),
    \qquad h'(u, v) = \mathrm{MLP}\big((1 + \epsilon)\, h(u, v) + \mathrm{uL}(h)(u, v)\big)

— the :math:`(I \otimes A)` aggregation of Zhang et al. (2023, §3): subgraph ``u`` runs a
GIN(E) layer on its own copy of the graph. :math:`e_{wv}` is a learnt embedding of the
bond ``w → v`` (the block's own edge encoder, as the official code's ``Bond`` per local
aggregation); without one the message is :math:`\mathrm{ReLU}(h(u, w))`.

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML. Official code: subgraph23/SWL (``index_uL``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.data import SubgraphBatch
from gnnkit.nn.inits import reset

from .swl_block import SWLBlock, edge_messages

__all__ = ["SWLLocalBlock"]


class SWLLocalBlock(SWLBlock):
    """uL block: GIN(E) inside every subgraph (see the module docstring).

    Args:
        in_channels: width ``F`` of ``h``.
        out_channels: output width ``F'``.
        edge_encoder: maps the batch's ``edge_attr`` ``(E, *)`` to ``(E, F)`` (e.g.
            :class:`gnnkit.nn.encoders.ZincBondEncoder`), or ``None`` for no edge features.
        root_term, eps, train_eps: see :class:`~gnnkit.nn.subgraph.swl_block.SWLBlock`.

    Shapes:
        ``forward(bag, h)``: ``h`` ``(P, F)`` → ``(P, F')``; ``bag.graph.edge_attr`` is read
        (in ``bag.graph.adj``'s CSR order) when the block has an edge encoder.
    """

    aggregation = "uL"

    def __init__(self, in_channels: int, out_channels: int, *,
                 edge_encoder: torch.nn.Module | None = None, root_term: bool = True,
                 eps: float = 0.0, train_eps: bool = True) -> None:
        super().__init__(in_channels, out_channels, root_term=root_term, eps=eps,
                         train_eps=train_eps)
        self.edge_encoder = edge_encoder

    def reset_parameters(self) -> None:
        super().reset_parameters()
        reset(getattr(self, "edge_encoder", None))

    def edge_embedding(self, bag: SubgraphBatch) -> Tensor | None:
        """``(E, F)`` embedding of the batch's edges, or ``None`` without an encoder."""
        if self.edge_encoder is None:
            return None
        if bag.graph.edge_attr is None:
            raise ValueError(f"the {self.aggregation} block has an edge encoder but "
                             "bag.graph.edge_attr is None; build the block without one for "
                             "graphs without edge features")
        return self.edge_encoder(bag.graph.edge_attr)

    def aggregate(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        return edge_messages(bag.local, h, self.edge_embedding(bag), bag.local_edge)
