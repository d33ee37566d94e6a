r"""ESAN's DS-GNN and DSS-GNN (Bevilacqua et al., "Equivariant Subgraph Aggregation Networks",
ICLR 2022) on bags of subgraphs.

Both models take a :class:`gnnkit.data.SubgraphBatch` (the bag of every graph of a batch,
built by one of ESAN's policies: node-deleted, edge-deleted, ego-nets, ego-nets+) and return
one row per graph. :meth:`batch_transform` is the hook of the graph-level training loop
(:func:`gnnkit.train.graph_level.model_batch_transform`): it turns every collated
:class:`~gnnkit.data.GraphBatch` into the model's bag, so the bench tasks train them like any
graph model. A plain :class:`~gnnkit.data.GraphBatch` passed to ``forward`` is turned into the
bag on the fly.

**Subsampling** (ESAN's stochastic variant, ``fraction < 1``): the bag holds every subgraph
and ``forward`` keeps a random ``ceil(fraction · S_g)`` of each graph's subgraphs
(:meth:`SubgraphBatch.subsample`) with the model's own seeded generator — a new draw for
every training batch, as ESAN's ``Sampler`` draws a new sample each time a graph is loaded.
In evaluation mode ``forward`` draws ``votes`` independent subsamples and averages the
outputs, as ESAN's ``eval(..., voting_times=5)`` averages the predictions of 5 samples (for
regression and OGB; on its TU sets it takes a majority vote of the binarised predictions
instead, which the average of logits approximates).

The base GNN is ESAN's ``zincgin`` (``edge_encoder`` set, ``learn_eps=True``):
:math:`\mathrm{MLP}\big((1 + \epsilon) h_v + \sum_{u} \mathrm{ReLU}(h_u + e_{uv})\big)` with
``MLP = Linear(d_in, d) → BN → ReLU → Linear(d, d)`` and a bond embedding per layer (per
branch in DSS), or ``originalgin`` (``edge_encoder="none"``, ``learn_eps=False``): PyG's
``GINConv`` with the same MLP and :math:`\epsilon = 0`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import GraphBatch, SubgraphBatch, edge_deleted, ego_nets, node_deleted
from gnnkit.nn import GINConv, GINEConv
from gnnkit.nn.encoders import EDGE_ENCODERS, NODE_ENCODERS, make_edge_encoder, make_node_encoder
from gnnkit.nn.inits import reset
from gnnkit.nn.subgraph.ds_conv import DSConv
from gnnkit.nn.subgraph.ds_readout import DeepSetsReadout
from gnnkit.nn.subgraph.dss_conv import DSS_BAG_REDUCTIONS, DSSConv

__all__ = ["DSGNN", "DSSGNN", "ESAN_JK", "ESAN_NODE_ENCODERS", "ESAN_POLICIES",
           "ESAN_SUBGRAPH_POOLINGS"]

#: bag policies of ESAN (``--policy``)
ESAN_POLICIES = ("node_deleted", "edge_deleted", "ego_nets", "ego_nets_plus")
#: input encoders: ``"none"`` feeds dense ``x`` as it is (ESAN on TU, EXP), the others embed
ESAN_NODE_ENCODERS = ("none", *NODE_ENCODERS)
#: DS-GNN node representations: the last layer or the concatenation of all (``--jk``)
ESAN_JK = ("last", "concat")
#: readouts of a subgraph's pairs
ESAN_SUBGRAPH_POOLINGS = ("sum", "mean")


def _base_conv(in_channels: int, channels: int, edge_encoder: str,
               learn_eps: bool) -> torch.nn.Module:
    """ESAN's ``zincgin`` (GINE) / ``originalgin`` (GIN) layer, width ``d`` MLP."""
    mlp = torch.nn.Sequential(torch.nn.Linear(in_channels, channels),
                              torch.nn.BatchNorm1d(channels), torch.nn.ReLU(),
                              torch.nn.Linear(channels, channels))
    if edge_encoder == "none":
        return GINConv(mlp, eps=0.0, train_eps=learn_eps)
    return GINEConv(mlp, eps=0.0, train_eps=learn_eps)


class _ESAN(torch.nn.Module):
    """What DS-GNN and DSS-GNN share: the bag policy, the input encoding, subsampling."""

    def __init__(self, in_channels: int, hidden_channels: int, *, policy: str, num_hops: int,
                 fraction: float, votes: int, node_encoder: str, edge_encoder: str,
                 edge_channels: int | None) -> None:
        super().__init__()
        if policy not in ESAN_POLICIES:
            raise ValueError(f"policy must be one of {list(ESAN_POLICIES)}, got {policy!r}")
        if isinstance(num_hops, bool) or not isinstance(num_hops, int) or num_hops < 1:
            raise ValueError(f"num_hops must be a positive int, got {num_hops!r}")
        if isinstance(fraction, bool) or not 0.0 < float(fraction) <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
        if isinstance(votes, bool) or not isinstance(votes, int) or votes < 1:
            raise ValueError(f"votes must be a positive int, got {votes!r}")
        if node_encoder not in ESAN_NODE_ENCODERS:
            raise ValueError(f"node_encoder must be one of {list(ESAN_NODE_ENCODERS)}, got "
                             f"{node_encoder!r}")
        if edge_encoder not in EDGE_ENCODERS:
            raise ValueError(f"edge_encoder must be one of {list(EDGE_ENCODERS)}, got "
                             f"{edge_encoder!r}")
        if hidden_channels < 1:
            raise ValueError(f"hidden_channels must be positive, got {hidden_channels}")
        self.policy = policy
        self.num_hops = num_hops
        self.fraction = float(fraction)
        self.votes = votes
        self.marked = policy == "ego_nets_plus"
        self.edge_encoder_name = edge_encoder
        self.edge_channels = edge_channels if edge_encoder != "none" else None
        if node_encoder == "none":
            self.node_encoder: torch.nn.Module | None = None
            width = in_channels
        else:
            self.node_encoder = make_node_encoder(node_encoder, in_channels, hidden_channels)
            width = hidden_channels
        # ego-nets+ prepends the root marking [1, 0] / [0, 1] to the encoded features
        self.input_channels = width + (2 if self.marked else 0)
        self.generator: torch.Generator | None = None

    def _edge_encoder(self, width: int) -> torch.nn.Module | None:
        return make_edge_encoder(self.edge_encoder_name, self.edge_channels, width)

    def _seed_generator(self, seed: int | None) -> None:
        # drawn after the parameters, so a fraction < 1 leaves the initialisation unchanged
        if self.fraction < 1.0:
            if seed is None:
                seed = int(torch.randint(0, 2**62, (1,)))
            self.generator = torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ bags
    def make_bag(self, batch: GraphBatch) -> SubgraphBatch:
        """The model's bag of ``batch`` (every subgraph; subsampling happens in ``forward``)."""
        if not isinstance(batch, GraphBatch):
            raise TypeError(f"make_bag takes a gnnkit.data.GraphBatch, got "
                            f"{type(batch).__name__}")
        if self.policy == "node_deleted":
            return node_deleted(batch)
        if self.policy == "edge_deleted":
            return edge_deleted(batch)
        return ego_nets(batch, self.num_hops, plus=self.marked)

    def batch_transform(self, dataset: object) -> Callable[[GraphBatch, Tensor], SubgraphBatch]:
        """The graph-level loops' hook: every collated batch → its bag (the policies need no
        per-dataset pre-computation, so ``dataset`` and the graph ids are not used)."""
        del dataset

        def transform(batch: GraphBatch, ids: Tensor) -> SubgraphBatch:
            del ids
            return self.make_bag(batch)

        return transform

    # ------------------------------------------------------------------ inputs
    def _pair_input(self, bag: SubgraphBatch) -> Tensor:
        x = bag.graph.x
        if x is None:
            raise ValueError(f"{type(self).__name__} needs node features: bag.graph.x is None")
        if self.node_encoder is None:
            if not x.is_floating_point():
                x = x.to(torch.get_default_dtype())
            if x.dim() == 1:
                x = x.unsqueeze(-1)
            h = x
        else:
            h = self.node_encoder(x)
        h = bag.broadcast_nodes(h)
        if self.marked:
            mark = F.one_hot((~bag.is_root).long(), 2).to(h.dtype)  # root [1, 0], else [0, 1]
            h = torch.cat([mark, h], dim=-1)
        return h

    def _edge_features(self, bag: SubgraphBatch) -> Tensor | None:
        if self.edge_encoder_name == "none":
            return None
        if bag.graph.edge_attr is None:
            raise ValueError(f"edge_encoder={self.edge_encoder_name!r} needs edge features but "
                             "bag.graph.edge_attr is None; use edge_encoder='none' for graphs "
                             "without them")
        return bag.graph.edge_attr

    # ------------------------------------------------------------------ forward
    def forward_bag(self, bag: SubgraphBatch) -> Tensor:
        """The model on the bag as given (no subsampling) → ``(G, out_channels)``."""
        raise NotImplementedError

    def forward(self, bag: SubgraphBatch | GraphBatch) -> Tensor:
        """A bag (or a batch, turned into the bag) → ``(G, out_channels)``; subsamples the bag
        when ``fraction < 1`` (one draw in training, the mean of ``votes`` draws in
        evaluation)."""
        if isinstance(bag, GraphBatch):
            bag = self.make_bag(bag)
        if not isinstance(bag, SubgraphBatch):
            raise TypeError(f"{type(self).__name__} takes a gnnkit.data.SubgraphBatch (see "
                            f"batch_transform) or a GraphBatch, got {type(bag).__name__}")
        if self.fraction >= 1.0:
            return self.forward_bag(bag)
        assert self.generator is not None
        if self.training:
            return self.forward_bag(bag.subsample(self.fraction, generator=self.generator))
        outputs = [self.forward_bag(bag.subsample(self.fraction, generator=self.generator))
                   for _ in range(self.votes)]
        return torch.stack(outputs).mean(0)


def _head(width: int, out_channels: int) -> torch.nn.Sequential:
    """ESAN's ``final_layers``: Linear(c, 2c) → ReLU → Linear(2c, out)."""
    return torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.ReLU(),
                               torch.nn.Linear(2 * width, out_channels))


class DSSGNN(_ESAN):
    r"""DSS-GNN (Bevilacqua et al., ICLR 2022, §3; reference code ``beabevi/ESAN``,
    ``DSSnetwork``): ``num_layers`` :class:`~gnnkit.nn.subgraph.dss_conv.DSSConv` layers on
    the bag, the mean over each subgraph's pairs, the mean over each graph's subgraphs, and
    ``Linear(d, 2d) → ReLU → Linear(2d, out)``:

    .. math::
        h^{(0)}(s, v) = [\mathrm{mark}(s, v) \,\|\,] \mathrm{enc}(x_v), \quad
        h^{(k)} = \mathrm{DSS}^{(k)}(h^{(k-1)}), \quad
        y_G = \mathrm{MLP}\Big(\underset{s \in G}{\mathrm{mean}}\;
        \underset{v \in s}{\mathrm{mean}}\; h^{(L)}(s, v)\Big)

    where the root marking (``[1, 0]`` at the root, ``[0, 1]`` elsewhere) is prepended with
    the ego-nets+ policy only. Each layer's two GNNs are the base GNN of
    :mod:`gnnkit.models.esan` (each with its own bond embedding when ``edge_encoder`` is
    set).

    Args:
        in_channels: columns of ``x`` (categorical columns for the categorical encoders).
        hidden_channels: width ``d`` (``--emb_dim``).
        out_channels: outputs per graph.
        num_layers: DSS layers (``--num_layer``).
        policy: one of :data:`ESAN_POLICIES` (``--policy``).
        num_hops: ego-net depth (``--num_hops``; ESAN uses 3 on ZINC, 2 elsewhere).
        fraction: share of each bag kept per draw (``--fraction``), 1 = the full bag.
        votes: draws averaged in evaluation mode when ``fraction < 1`` (ESAN: 5).
        node_encoder: one of :data:`ESAN_NODE_ENCODERS`.
        edge_encoder: one of :data:`~gnnkit.nn.encoders.EDGE_ENCODERS`; ``"none"``: GIN
            layers without edge features.
        edge_channels: columns of ``edge_attr`` (for the ``"linear"`` edge encoder).
        learn_eps: learn GIN's :math:`\epsilon` (``zincgin``; ``originalgin`` keeps 0).
        bag_reduce: the DSS aggregation over the bag, one of
            :data:`~gnnkit.nn.subgraph.dss_conv.DSS_BAG_REDUCTIONS` (ESAN: mean).
        subgraph_pooling: readout of a subgraph's pairs (ESAN's DSS: mean).
        seed: seed of the subsampling generator; ``None`` draws it from torch's global
            generator at construction (so ``torch.manual_seed`` fixes it).

    Shapes:
        ``forward(bag)``: a :class:`~gnnkit.data.SubgraphBatch` (or a
        :class:`~gnnkit.data.GraphBatch`) → ``(G, out_channels)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 4, policy: str = "ego_nets_plus", num_hops: int = 3,
                 fraction: float = 1.0, votes: int = 5, node_encoder: str = "none",
                 edge_encoder: str = "none", edge_channels: int | None = None,
                 learn_eps: bool = True, bag_reduce: str = "mean",
                 subgraph_pooling: str = "mean", seed: int | None = None) -> None:
        super().__init__(in_channels, hidden_channels, policy=policy, num_hops=num_hops,
                         fraction=fraction, votes=votes, node_encoder=node_encoder,
                         edge_encoder=edge_encoder, edge_channels=edge_channels)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if bag_reduce not in DSS_BAG_REDUCTIONS:
            raise ValueError(f"bag_reduce must be one of {list(DSS_BAG_REDUCTIONS)}, got "
                             f"{bag_reduce!r}")
        if subgraph_pooling not in ESAN_SUBGRAPH_POOLINGS:
            raise ValueError(f"subgraph_pooling must be one of {list(ESAN_SUBGRAPH_POOLINGS)}, "
                             f"got {subgraph_pooling!r}")
        d = hidden_channels
        self.num_layers = num_layers
        self.subgraph_pooling = subgraph_pooling
        self.layers = torch.nn.ModuleList()
        self.local_edge_encoders = torch.nn.ModuleList()
        self.graph_edge_encoders = torch.nn.ModuleList()
        for k in range(num_layers):
            width = self.input_channels if k == 0 else d
            self.layers.append(DSSConv(_base_conv(width, d, edge_encoder, learn_eps),
                                       _base_conv(width, d, edge_encoder, learn_eps), d,
                                       bag_reduce=bag_reduce))
            if edge_encoder != "none":
                self.local_edge_encoders.append(self._edge_encoder(width))
                self.graph_edge_encoders.append(self._edge_encoder(width))
        self.head = _head(d, out_channels)
        self._seed_generator(seed)

    def reset_parameters(self) -> None:
        """Re-initialise encoders, layers and head."""
        for module in (self.node_encoder, *self.layers, self.local_edge_encoders,
                       self.graph_edge_encoders, self.head):
            reset(module)

    def forward_bag(self, bag: SubgraphBatch) -> Tensor:
        h = self._pair_input(bag)
        edge_attr = self._edge_features(bag)
        for k, layer in enumerate(self.layers):
            if edge_attr is None:
                h = layer(h, bag)
            else:
                h = layer(h, bag, self.local_edge_encoders[k](edge_attr),
                          self.graph_edge_encoders[k](edge_attr))
        subgraphs = bag.pool_subgraphs(h, self.subgraph_pooling)
        return self.head(bag.pool_graphs(subgraphs, "mean"))

    def extra_repr(self) -> str:
        return (f"policy={self.policy!r}, num_hops={self.num_hops}, fraction={self.fraction}, "
                f"votes={self.votes}, num_layers={self.num_layers}")


class DSGNN(_ESAN):
    r"""DS-GNN (Bevilacqua et al., ICLR 2022, §3; reference code ``beabevi/ESAN``, ``GNN`` +
    ``DSnetwork``): a GNN run on every subgraph independently with shared weights
    (``num_layers`` :class:`~gnnkit.nn.subgraph.ds_conv.DSConv` layers), a readout of each
    subgraph, DeepSets over the bag
    (:class:`~gnnkit.nn.subgraph.ds_readout.DeepSetsReadout`) and
    ``Linear(c, 2c) → ReLU → Linear(2c, out)``:

    .. math::
        h^{(k)} = \mathrm{DS}^{(k)}(h^{(k-1)}), \quad
        x_s = \bigoplus_{v \in s} \mathrm{JK}\big(h^{(0)}, \dots, h^{(L)}\big)(s, v), \quad
        y_G = \mathrm{MLP}\big(\mathrm{DeepSets}(\{x_s\}_{s \in G})\big)

    with :math:`h^{(0)}` as in :class:`DSSGNN`, JK the last layer or the concatenation of
    all (width ``d_in + L·d``, ESAN's ``jk="concat"``) and :math:`\oplus` a sum (ESAN for its
    ``zincgin`` / ``originalgin`` base GNNs) or a mean.

    Args:
        in_channels, hidden_channels, out_channels, num_layers, policy, num_hops, fraction,
        votes, node_encoder, edge_encoder, edge_channels, learn_eps, seed: as
            :class:`DSSGNN`.
        dropout: dropout after every layer (``--drop_ratio``).
        jk: one of :data:`ESAN_JK` (``--jk``).
        subgraph_pooling: one of :data:`ESAN_SUBGRAPH_POOLINGS`.
        deepsets_channels: widths of the DeepSets layers (``--channels``, e.g. ``(96,)``).
        invariant: the invariant DeepSets (ESAN on ZINC) or the equivariant one (elsewhere).

    Shapes:
        ``forward(bag)``: a :class:`~gnnkit.data.SubgraphBatch` (or a
        :class:`~gnnkit.data.GraphBatch`) → ``(G, out_channels)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 4, policy: str = "ego_nets_plus", num_hops: int = 3,
                 fraction: float = 1.0, votes: int = 5, node_encoder: str = "none",
                 edge_encoder: str = "none", edge_channels: int | None = None,
                 learn_eps: bool = True, dropout: float = 0.0, jk: str = "concat",
                 subgraph_pooling: str = "sum", deepsets_channels: Sequence[int] = (96,),
                 invariant: bool = True, seed: int | None = None) -> None:
        super().__init__(in_channels, hidden_channels, policy=policy, num_hops=num_hops,
                         fraction=fraction, votes=votes, node_encoder=node_encoder,
                         edge_encoder=edge_encoder, edge_channels=edge_channels)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if jk not in ESAN_JK:
            raise ValueError(f"jk must be one of {list(ESAN_JK)}, got {jk!r}")
        if subgraph_pooling not in ESAN_SUBGRAPH_POOLINGS:
            raise ValueError(f"subgraph_pooling must be one of {list(ESAN_SUBGRAPH_POOLINGS)}, "
                             f"got {subgraph_pooling!r}")
        d = hidden_channels
        self.num_layers = num_layers
        self.jk = jk
        self.subgraph_pooling = subgraph_pooling
        self.layers = torch.nn.ModuleList()
        self.edge_encoders = torch.nn.ModuleList()
        for k in range(num_layers):
            width = self.input_channels if k == 0 else d
            self.layers.append(DSConv(_base_conv(width, d, edge_encoder, learn_eps), d,
                                      dropout=dropout))
            if edge_encoder != "none":
                self.edge_encoders.append(self._edge_encoder(width))
        node_width = self.input_channels + num_layers * d if jk == "concat" else d
        self.readout = DeepSetsReadout(node_width, deepsets_channels, invariant=invariant)
        self.head = _head(self.readout.out_channels, out_channels)
        self._seed_generator(seed)

    def reset_parameters(self) -> None:
        """Re-initialise encoders, layers, readout and head."""
        for module in (self.node_encoder, *self.layers, self.edge_encoders, self.readout,
                       self.head):
            reset(module)

    def forward_bag(self, bag: SubgraphBatch) -> Tensor:
        h = self._pair_input(bag)
        edge_attr = self._edge_features(bag)
        hidden = [h]
        for k, layer in enumerate(self.layers):
            encoded = None if edge_attr is None else self.edge_encoders[k](edge_attr)
            hidden.append(layer(hidden[-1], bag, encoded))
        node = torch.cat(hidden, dim=-1) if self.jk == "concat" else hidden[-1]
        subgraphs = bag.pool_subgraphs(node, self.subgraph_pooling)
        return self.head(self.readout(subgraphs, bag))

    def extra_repr(self) -> str:
        return (f"policy={self.policy!r}, num_hops={self.num_hops}, fraction={self.fraction}, "
                f"votes={self.votes}, num_layers={self.num_layers}, jk={self.jk!r}")
