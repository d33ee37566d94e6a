"""Link prediction: common-neighbour heuristics, NCN/NCNC, target-link removal, GAE scorers.

* :mod:`.heuristics` — CN, Adamic–Adar, Resource Allocation, Jaccard for a batch of pairs,
  exact, ``O(Σ deg)`` (no dense ``N × N``), and the neighbour sets NCN pools over.
* :mod:`.target_removal` — remove the links being scored from the message-passing graph.
* :mod:`.encoder` — :class:`LinkEncoder`, the MPNN producing node representations ``h``.
* :mod:`.ncn` — :class:`NCNPredictor` (Neural Common Neighbor and its variants).
* :mod:`.ncnc` — :class:`NCNCPredictor` (NCN with common-neighbour completion).
* :mod:`.gae` — :class:`DotProductScorer`, :class:`HadamardMLPScorer`.
* :mod:`.pairs` — :class:`LinkSplit`, :func:`sample_negative_pairs`, :func:`link_loss`,
  :func:`pair_product`: the building blocks of a training loop. The loops themselves (the
  NCN protocol: ``fit``, ``evaluate``, ``train_epoch``) are in
  :mod:`gnnkit.train.link_prediction`, and the model
  factory (``ncn``, ``ncnc``, ``gae``, ``gae-dot`` from a flat configuration) is
  :func:`gnnkit.models.build_model`.

Pairs are ``(2, B)`` integer tensors, pair ``k`` = ``(pairs[0, k], pairs[1, k])``; graphs are
:class:`gnnkit.sparse.SparseMatrix` (row = target, column = source) or anything
:func:`gnnkit.nn.conv.as_sparse_matrix` accepts. See ``docs/linkpred.md``.
"""

from __future__ import annotations

from .encoder import ENCODER_CONVS, LinkEncoder, drop_entries
from .gae import DotProductScorer, HadamardMLPScorer
from .heuristics import (
    HEURISTICS,
    NeighborSets,
    adamic_adar,
    common_neighbor_sets,
    common_neighbors,
    exclusive_neighbor_sets,
    heuristic_scores,
    jaccard,
    neighbor_degree,
    resource_allocation,
    two_hop_common_sets,
)
from .ncn import NCN_VARIANTS, NCNPredictor
from .ncnc import NCNCPredictor, calibrate_probability, subsample_sets
from .pairs import LinkSplit, link_loss, pair_product, sample_negative_pairs, undirected_graph
from .target_removal import TargetLinkRemoval, contains_links, remove_target_links

__all__ = [
    "ENCODER_CONVS",
    "HEURISTICS",
    "NCN_VARIANTS",
    "DotProductScorer",
    "HadamardMLPScorer",
    "LinkEncoder",
    "LinkSplit",
    "NCNCPredictor",
    "NCNPredictor",
    "NeighborSets",
    "TargetLinkRemoval",
    "adamic_adar",
    "calibrate_probability",
    "common_neighbor_sets",
    "common_neighbors",
    "contains_links",
    "drop_entries",
    "exclusive_neighbor_sets",
    "heuristic_scores",
    "jaccard",
    "link_loss",
    "neighbor_degree",
    "pair_product",
    "remove_target_links",
    "resource_allocation",
    "sample_negative_pairs",
    "subsample_sets",
    "two_hop_common_sets",
    "undirected_graph",
]
