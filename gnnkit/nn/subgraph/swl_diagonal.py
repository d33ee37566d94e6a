r"""Point aggregations vv and uu of SWL layers, :class:`SWLDiagonalBlock`.

.. math::

    \mathrm{vv}(h)(u, v) = h(v, v), \qquad \mathrm{uu}(h)(u, v) = h(u, u),
    \qquad h'(u, v) = \mathrm{MLP}\big((1 + \epsilon)\, h(u, v) + \mathrm{agg}(h)(u, v)\big)

vv is the point aggregation of Zhang et al. (2023, §3) that PSWL (uL + vv) and SSWL+
(uL + vL + vv) add: every subgraph reads node ``v``'s state in the subgraph rooted at ``v``.
uu (the root's own state broadcast over its subgraph) is the paper's other point
aggregation, offered for ablations. Both are gathers, one ``index_select`` each.

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML. Official code: subgraph23/SWL (``index_vv``,
    ``index_uu``).
"""

from __future__ import annotations

from torch import Tensor

from gnnkit.data import SubgraphBatch

from .swl_block import SWLBlock

__all__ = ["SWLDiagonalBlock"]


class SWLDiagonalBlock(SWLBlock):
    """vv or uu block (see the module docstring).

    Args:
        in_channels: width ``F`` of ``h``.
        out_channels: output width ``F'``.
        aggregation: ``"vv"`` (``h(v, v)``) or ``"uu"`` (``h(u, u)``).
        root_term, eps, train_eps: see :class:`~gnnkit.nn.subgraph.swl_block.SWLBlock`.

    Shapes:
        ``forward(bag, h)``: ``h`` ``(P, F)`` → ``(P, F')``; vv needs an all-pairs bag.
    """

    def __init__(self, in_channels: int, out_channels: int, aggregation: str = "vv", *,
                 root_term: bool = True, eps: float = 0.0, train_eps: bool = True) -> None:
        if aggregation not in ("vv", "uu"):
            raise ValueError(f"aggregation must be 'vv' or 'uu', got {aggregation!r}")
        self.aggregation = aggregation
        super().__init__(in_channels, out_channels, root_term=root_term, eps=eps,
                         train_eps=train_eps)

    def aggregate(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        return bag.diag_node(h) if self.aggregation == "vv" else bag.diag_root(h)
