"""Subgraph GNNs: layers on a bag of subgraphs of every graph (:class:`gnnkit.data.SubgraphBatch`).

A state ``h(s, v)`` lives on the ``(subgraph, node)`` pairs of the bag; the layers mix it with the
bag's sparse operators (message passing inside each subgraph, across the bag, diagonal gathers).
"""

from __future__ import annotations

__all__: list[str] = []
