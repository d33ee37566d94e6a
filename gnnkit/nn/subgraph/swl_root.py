r"""vL: message passing between the roots of the bag, :class:`SWLRootBlock`.

.. math::

    \mathrm{vL}(h)(u, v) = \sum_{w \in N(u)} \mathrm{ReLU}\big(h(w, v) + e_{wu}\big),
    \qquad h'(u, v) = \mathrm{MLP}\big((1 + \epsilon)\, h(u, v) + \mathrm{vL}(h)(u, v)\big)

— the :math:`(A \otimes I)` aggregation of Zhang et al. (2023, §3): the pair ``(u, v)``
hears node ``v`` in the subgraphs of ``u``'s neighbours. Together with uL it makes SSWL,
the strongest subgraph WL among those with local aggregations only (Theorem 4.4 of the
paper). :math:`e_{wu}` embeds the bond ``w → u`` between the roots (the official code's
``attrs_vL``); without an edge encoder the message is :math:`\mathrm{ReLU}(h(w, v))`.
Needs an all-pairs bag (:meth:`gnnkit.data.SubgraphBatch.all_pairs`).

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML. Official code: subgraph23/SWL (``index_vL``).
"""

from __future__ import annotations

from torch import Tensor

from gnnkit.data import SubgraphBatch

from .swl_block import edge_messages
from .swl_local import SWLLocalBlock

__all__ = ["SWLRootBlock"]


class SWLRootBlock(SWLLocalBlock):
    """vL block: GIN(E) across the roots, node by node (see the module docstring).

    Arguments and shapes as :class:`~gnnkit.nn.subgraph.swl_local.SWLLocalBlock`; the bag
    must hold every ``(root, node)`` pair (``bag.vl`` is not ``None``).
    """

    aggregation = "vL"

    def aggregate(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        if bag.vl is None:
            raise ValueError(f"the vL block needs every (root, node) pair: build the bag with "
                             f"SubgraphBatch.all_pairs (this one is {bag.policy!r})")
        return edge_messages(bag.vl, h, self.edge_embedding(bag), bag.vl_edge)
