"""Subgraph GNNs: layers on a bag of subgraphs of every graph (:class:`gnnkit.data.SubgraphBatch`).

A state ``h(s, v)`` lives on the ``(subgraph, node)`` pairs of the bag; the layers mix it with the
bag's sparse operators (message passing inside each subgraph, across the bag, diagonal gathers).
"""

from __future__ import annotations

from .ds_conv import DSConv
from .ds_readout import DeepSetsReadout
from .dss_conv import DSS_BAG_REDUCTIONS, DSSConv
from .swl_block import SWL_AGGREGATIONS, SWLBlock
from .swl_diagonal import SWLDiagonalBlock
from .swl_global import SWLGlobalBlock
from .swl_layer import SWLLayer
from .swl_local import SWLLocalBlock
from .swl_root import SWLRootBlock

__all__: list[str] = [
    "DSS_BAG_REDUCTIONS",
    "SWL_AGGREGATIONS",
    "DSConv",
    "DSSConv",
    "DeepSetsReadout",
    "SWLBlock",
    "SWLDiagonalBlock",
    "SWLGlobalBlock",
    "SWLLayer",
    "SWLLocalBlock",
    "SWLRootBlock",
]
