r"""Global aggregations uG and vG of SWL layers, :class:`SWLGlobalBlock`.

.. math::

    \mathrm{uG}(h)(u, v) = \sum_{w} h(u, w), \qquad \mathrm{vG}(h)(u, v) = \sum_{w} h(w, v),

    h'(u, v) = \mathrm{MLP}\big([(1 + \epsilon)\, h(u, v) +]\ \mathrm{agg}(h)(u, v)\big)

uG pools each subgraph and broadcasts the result to its pairs; vG pools node ``v`` over all
subgraphs (Zhang et al., 2023, §3). GSWL is uL + vG. Without the root term, a global block
is the readout of the official code (``Agg([pool], gin=False)``): uG then a mean over the
graph's pairs is the paper's vertex-subgraph pooling (first over the nodes of each
subgraph, then over subgraphs), vG the subgraph-vertex pooling. A segment sum and a gather
each, ``O(P·F)``.

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML. Official code: subgraph23/SWL (``index_uG``,
    ``index_vG``).
"""

from __future__ import annotations

from torch import Tensor

from gnnkit.data import SubgraphBatch

from .swl_block import SWLBlock

__all__ = ["SWLGlobalBlock"]


class SWLGlobalBlock(SWLBlock):
    """uG or vG block (see the module docstring).

    Args:
        in_channels: width ``F`` of ``h``.
        out_channels: output width ``F'``.
        aggregation: ``"uG"`` (sum over the subgraph) or ``"vG"`` (sum over the subgraphs
            holding the node).
        root_term, eps, train_eps: see :class:`~gnnkit.nn.subgraph.swl_block.SWLBlock`.

    Shapes:
        ``forward(bag, h)``: ``h`` ``(P, F)`` → ``(P, F')``.
    """

    def __init__(self, in_channels: int, out_channels: int, aggregation: str = "uG", *,
                 root_term: bool = True, eps: float = 0.0, train_eps: bool = True) -> None:
        if aggregation not in ("uG", "vG"):
            raise ValueError(f"aggregation must be 'uG' or 'vG', got {aggregation!r}")
        self.aggregation = aggregation
        super().__init__(in_channels, out_channels, root_term=root_term, eps=eps,
                         train_eps=train_eps)

    def aggregate(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        return bag.subgraph_sum(h) if self.aggregation == "uG" else bag.node_sum(h)
