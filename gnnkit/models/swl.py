r"""Subgraph Weisfeiler–Lehman networks (SSWL, SSWL+, PSWL, GSWL) of Zhang et al. (2023)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gnnkit.data import GraphBatch, SubgraphBatch, pair_distances
from gnnkit.datasets import GraphDataset
from gnnkit.nn.encoders import (
    EDGE_ENCODERS,
    NODE_ENCODERS,
    make_edge_encoder,
    make_node_encoder,
)
from gnnkit.nn.inits import reset
from gnnkit.nn.subgraph import SWLLayer

__all__ = ["SWL", "SWL_POOLINGS", "SWL_VARIANTS"]

#: variant → aggregations of every layer (Zhang et al., 2023, §3 and Table 1; the official
#: main_zinc.py's SSWL, SSWL_P, PSWL_*, GSWL)
SWL_VARIANTS: dict[str, tuple[str, ...]] = {
    "sswl": ("uL", "vL"),
    "sswl+": ("uL", "vL", "vv"),
    "pswl": ("uL", "vv"),
    "gswl": ("uL", "vG"),
}
#: readouts: ``uG`` = vertex-subgraph pooling (each subgraph's nodes, then the subgraphs),
#: ``vG`` = subgraph-vertex pooling (each node's subgraphs, then the nodes)
SWL_POOLINGS = ("uG", "vG")


class SWL(torch.nn.Module):
    r"""A subgraph GNN on the all-pairs bag: SSWL, SSWL+, PSWL or GSWL (Zhang, Feng, Du, He,
    "A Complete Expressiveness Hierarchy for Subgraph GNNs via Subgraph Weisfeiler-Lehman
    Tests", ICML 2023; the architecture of the official code subgraph23/SWL, ``src/model.py``).

    The state lives on the pairs ``(u, v)`` of every graph (subgraph rooted at ``u``, node
    ``v``):

    .. math::

        h^{(0)}(u, v) = \mathrm{enc}(x_v) + \mathrm{emb}\big(\min(d(u, v), D)\big), \qquad
        h^{(k)} = \mathrm{SWLLayer}_{\mathcal{A}}(h^{(k-1)}), \quad k = 1 \dots L,

        h^{(L+1)}(u, v) = \mathrm{ReLU}\Big(\mathrm{BN}\big(\mathrm{MLP}\big(
        \textstyle\sum_{w} h^{(L)}(u, w)\big)\big)\Big), \qquad
        y_G = \mathrm{MLP}_{\mathrm{out}}\Big(\frac{1}{n^2} \sum_{u, v} h^{(L+1)}(u, v)\Big)

    with the variant's aggregations :math:`\mathcal{A}` (:data:`SWL_VARIANTS`; every layer a
    :class:`gnnkit.nn.subgraph.SWLLayer`), the uG readout layer (``pooling="uG"``, the paper's
    vertex-subgraph pooling; ``"vG"`` sums :math:`h(w, v)` over ``w`` instead) and
    :math:`\mathrm{MLP}_{\mathrm{out}} = \mathrm{Linear}(d, 2d) \to \mathrm{ReLU} \to
    \mathrm{Linear}(2d, \mathrm{out})`. ``emb`` has ``D + 2`` rows: distances ``0 … D - 1``,
    ``D`` for "``D`` or farther", and ``D + 1`` for disconnected pairs.

    Parity notes (official code): the same layers, blocks, MLP widths, ε, readout and head;
    the official ``Atom`` embeds ZINC's atom type with the first table of OGB's
    ``AtomEncoder`` (119 rows, 28 used) — here ``node_encoder="zinc-atom"`` (28 rows) —
    and bonds with the first table of OGB's ``BondEncoder`` (5 rows) — here ``"zinc-bond"``
    (4 rows). The official distance table has ``D + 1`` rows and no disconnected bucket (its
    Floyd–Warshall gives ``inf``, which only connected graphs such as ZINC's avoid).
    Without edge features a local message is ``ReLU(h)``, as there.

    Args:
        in_channels: columns of ``x`` (categorical columns for the categorical encoders).
        hidden_channels: width ``d`` (96 in the paper's ZINC runs).
        out_channels: outputs per graph.
        num_layers: SWL layers ``L`` (6), not counting the readout layer.
        variant: one of :data:`SWL_VARIANTS`.
        max_distance: the distance clamp ``D`` (5).
        pooling: one of :data:`SWL_POOLINGS`.
        node_encoder: one of :data:`~gnnkit.nn.encoders.NODE_ENCODERS` (``"linear"`` for
            dense float ``x``).
        edge_encoder: one of :data:`~gnnkit.nn.encoders.EDGE_ENCODERS`; every uL/vL block of
            every layer gets its own.
        edge_channels: columns of ``edge_attr`` (checked by the encoders; required by
            ``"linear"``).

    Shapes:
        ``forward(bag)``: a :class:`gnnkit.data.SubgraphBatch` built with
        :meth:`~gnnkit.data.SubgraphBatch.all_pairs` (``max_distance`` equal to the model's),
        or a :class:`gnnkit.data.GraphBatch` (its bag is built on the fly) →
        ``(G, out_channels)``. :meth:`batch_transform` builds the bags of a dataset's batches
        from distances computed once.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 6, variant: str = "sswl+", max_distance: int = 5,
                 pooling: str = "uG", node_encoder: str = "linear",
                 edge_encoder: str = "none", edge_channels: int | None = None) -> None:
        super().__init__()
        if variant not in SWL_VARIANTS:
            raise ValueError(f"variant must be one of {list(SWL_VARIANTS)}, got {variant!r}")
        if pooling not in SWL_POOLINGS:
            raise ValueError(f"pooling must be one of {list(SWL_POOLINGS)}, got {pooling!r}")
        if node_encoder not in NODE_ENCODERS:
            raise ValueError(f"node_encoder must be one of {list(NODE_ENCODERS)}, got "
                             f"{node_encoder!r}")
        if edge_encoder not in EDGE_ENCODERS:
            raise ValueError(f"edge_encoder must be one of {list(EDGE_ENCODERS)}, got "
                             f"{edge_encoder!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if isinstance(max_distance, bool) or not isinstance(max_distance, int) or not (
                0 <= max_distance <= 254):
            raise ValueError(f"max_distance must be an int in [0, 254], got {max_distance!r}")
        d = hidden_channels
        self.variant = variant
        self.pooling = pooling
        self.max_distance = max_distance
        self.num_layers = num_layers
        self.edge_encoder_name = edge_encoder
        self.node_encoder = make_node_encoder(node_encoder, in_channels, d)
        # distances 0 … D, plus the disconnected bucket D + 1
        self.distance_embedding = torch.nn.Embedding(max_distance + 2, d)
        factory: Callable[[], torch.nn.Module] | None = None
        if edge_encoder != "none":
            def factory() -> torch.nn.Module:
                encoder = make_edge_encoder(edge_encoder, edge_channels, d)
                assert encoder is not None
                return encoder
        self.layers = torch.nn.ModuleList(
            SWLLayer(d, d, SWL_VARIANTS[variant], edge_encoder=factory)
            for _ in range(num_layers))
        self.readout = SWLLayer(d, d, (pooling,), root_term=False)
        self.head = torch.nn.Sequential(torch.nn.Linear(d, 2 * d), torch.nn.ReLU(),
                                        torch.nn.Linear(2 * d, out_channels))

    @property
    def aggregations(self) -> tuple[str, ...]:
        """The aggregations of every layer."""
        return SWL_VARIANTS[self.variant]

    def reset_parameters(self) -> None:
        """Re-initialise encoders, layers, readout and head."""
        for module in (self.node_encoder, self.distance_embedding, *self.layers, self.readout,
                       self.head):
            reset(module)

    def batch_transform(self, dataset: GraphDataset
                        ) -> Callable[[GraphBatch, Tensor], SubgraphBatch]:
        """``transform(batch, ids) → SubgraphBatch``: the all-pairs bag of a batch of
        ``dataset``'s graphs ``ids``, with distances computed once for the whole dataset
        (:func:`gnnkit.data.pair_distances`, cached) and gathered per batch."""
        distances = pair_distances(dataset, self.max_distance)
        max_distance = self.max_distance

        def transform(batch: GraphBatch, ids: Tensor) -> SubgraphBatch:
            return SubgraphBatch.all_pairs(batch, max_distance=max_distance,
                                           distances=distances.gather(ids))

        return transform

    def initial_state(self, bag: SubgraphBatch) -> Tensor:
        """``h⁽⁰⁾(u, v) = enc(x_v) + emb(d(u, v))``, ``(P, d)``."""
        if bag.graph.x is None:
            raise ValueError("SWL needs node features: bag.graph.x is None (give featureless "
                             "graphs a constant column)")
        if bag.distance is None or bag.max_distance != self.max_distance:
            raise ValueError(f"SWL needs the bag's distances clamped at max_distance="
                             f"{self.max_distance}, got max_distance={bag.max_distance}; build "
                             f"it with SubgraphBatch.all_pairs(batch, "
                             f"max_distance={self.max_distance})")
        node = self.node_encoder(bag.graph.x)
        return (bag.broadcast_nodes(node)
                + self.distance_embedding(bag.distance.long()))

    def forward(self, bag: SubgraphBatch | GraphBatch) -> Tensor:
        """A bag (or a batch, bagged here) → ``(G, out_channels)``."""
        if isinstance(bag, GraphBatch):
            bag = SubgraphBatch.all_pairs(bag, max_distance=self.max_distance)
        if not isinstance(bag, SubgraphBatch):
            raise TypeError(f"SWL takes a gnnkit.data.SubgraphBatch (SubgraphBatch.all_pairs) "
                            f"or a GraphBatch, got {type(bag).__name__}")
        if bag.vl is None and "vL" in self.aggregations:
            raise ValueError(f"variant {self.variant!r} needs an all-pairs bag "
                             f"(SubgraphBatch.all_pairs), got policy {bag.policy!r}")
        h = self.initial_state(bag)
        for layer in self.layers:
            h = layer(bag, h)
        h = self.readout(bag, h)
        # mean over the graph's n² pairs: every subgraph of a graph has its n nodes, so it is
        # the mean over subgraphs of the per-subgraph means
        graph = bag.pool_graphs(bag.pool_subgraphs(h, "mean"), "mean")
        return self.head(graph)

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, aggregations={list(self.aggregations)}, "
                f"pooling={self.pooling!r}, max_distance={self.max_distance}")

