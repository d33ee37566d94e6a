"""Neural Common Neighbor (NCN): MPNN node representations pooled over common neighbours.

Wang, Yang & Zhang, "Neural Common Neighbor with Completion for Link Prediction", ICLR 2024.
Given node representations ``h = MPNN(x, A)`` (any encoder, e.g.
:class:`~gnnkit.nn.linkpred.LinkEncoder`), NCN scores the link ``(i, j)`` as

.. math::
    \\mathrm{NCN}(i, j) = \\mathrm{MLP}_{head}\\Big(
        \\beta \\cdot \\mathrm{MLP}_{cn}\\big(\\textstyle\\sum_{k \\in N(i) \\cap N(j)} x_k\\big)
        + \\mathrm{MLP}_{pair}(h_i \\odot h_j)\\Big),
    \\qquad x = h + \\mathrm{MLP}_{node}(h) \\ \\text{(or } x = h\\text{)}

with a learnt scalar ``β`` (initialised to ``beta``). The sum over common neighbours is one
fused pass, :func:`gnnkit.sparse.intersect_aggregate`, that intersects the two rows and adds
the matching rows of ``x`` without storing the sets (its backward intersects again) —
``O(Σ deg(i) + deg(j))`` per batch. Variants whose pooled term is not the plain
common-neighbour set (``"ncn2"``, ``"ncn-diff"``, and subclasses that add terms) build the sets
(:func:`~gnnkit.nn.linkpred.heuristics.common_neighbor_sets`) and pool them with ``spmm``.

Variants (the paper's ablations, as ``variant=``):

* ``"ncn"`` — the formula above (official ``cn1``).
* ``"cn-count"`` — "GAE+CN": ``MLP_cn`` sees the common-neighbour *count* ``|N(i) ∩ N(j)|``
  instead of the pooled representations (official ``scn1``).
* ``"ncn2"`` — adds ``MLP_2(Σ_{N(i) ∩ N₂(j)} x + Σ_{N₂(i) ∩ N(j)} x)`` with ``N₂`` the
  two-hop pattern of ``A·A`` (official ``cn1.5``).
* ``"ncn-diff"`` — adds ``MLP_2(Σ_{N(i) \\ N(j)} x + Σ_{N(j) \\ N(i)} x)`` (official
  ``cn1res``).
* ``"cn-only"`` — drops the ``h_i ⊙ h_j`` term: ``MLP_head(MLP_cn(Σ_{cn} x))``.

The plain GAE scorer (``MLP(h_i ⊙ h_j)``, official ``cn0``) is
:class:`~gnnkit.nn.linkpred.HadamardMLPScorer`.

The graph passed to the predictor must be the one used for message passing — during
training, with the batch's target links removed (:mod:`gnnkit.nn.linkpred.target_removal`).

**Sampled blocks.** The graph may also be the hop-1 block of a sampled batch
(:func:`gnnkit.train.link_prediction.train_epoch_sampled`): an ``M × N`` matrix whose rows are
the pairs' endpoints (local ids ``0 … M - 1``), whose ``N`` columns are the hop-1 sources
(the endpoints first) and ``h`` ``(N, F)`` the encoder's output for them. ``pairs`` then index
the rows; ``N(i) ∩ N(j)`` is the intersection of two rows, as on the square graph, so with
every entry of the endpoints' rows in the block (fanout ``-1``) the logits equal the
full-graph ones. Supported for the variants whose terms read only the endpoints' rows
(``"ncn"``, ``"cn-count"``, ``"cn-only"``, ``"ncn-diff"``); ``"ncn2"`` (two-hop sets) and
NCNC's completion (links from an endpoint to its neighbours) need rows the block does not
hold and raise ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.nn.conv.message_passing import GraphCache, GraphCacheOwner, as_sparse_matrix
from gnnkit.sparse import SparseMatrix, intersect_aggregate, spspmm

from .dropout import ExactDropout
from .encoder import _as_square, drop_entries, reset_module
from .heuristics import (
    NeighborSets,
    check_pairs,
    common_neighbor_sets,
    exclusive_neighbor_sets,
    two_hop_common_sets,
)
from .pairs import pair_product

__all__ = ["NCN_VARIANTS", "NCNPredictor", "prepare_graph"]

NCN_VARIANTS = ("ncn", "cn-count", "ncn2", "ncn-diff", "cn-only")

# Variants whose MLP_cn input is the plain, unweighted common-neighbour term alone.
_FUSED_VARIANTS = ("ncn", "cn-count", "cn-only")
# Pool the common neighbours with the fused intersect_aggregate (True) or through the
# materialised sets (False; the path of every other variant). On CPU both give bit-identical
# outputs and gradients; the switch exists for the tests that check exactly that.
_FUSED_COMMON_POOL = True


def prepare_graph(graph: Any, num_nodes: int) -> SparseMatrix:
    """Any supported graph input → the coalesced ``num_nodes × num_nodes`` pattern that
    neighbourhood intersections need (values dropped); a rectangular ``M × num_nodes``
    :class:`SparseMatrix` (a sampled block, ``M <= num_nodes``: targets = the first ``M``
    sources) → its coalesced ``M × num_nodes`` pattern."""
    if isinstance(graph, SparseMatrix) and graph.num_rows != graph.num_cols:
        if graph.num_cols != num_nodes:
            raise ValueError(f"the block has {graph.num_cols} sources (columns) but h has "
                             f"{num_nodes} rows: h must hold the representations of the "
                             "block's sources, in its column order")
        if graph.num_rows > graph.num_cols:
            raise ValueError(f"a rectangular graph must be a sampled block whose M targets "
                             f"are its first M sources (M <= N), got shape {graph.shape}")
        A = graph
    else:
        A = as_sparse_matrix(graph, num_nodes=num_nodes).matrix
    if A.values is not None:
        A = A.with_values(None)
    return A if A.is_coalesced() else A.coalesce()


def _layer_norm(width: int, enabled: bool) -> nn.Module:
    return nn.LayerNorm(width) if enabled else nn.Identity()


def _set_mlp(in_width: int, hidden: int, dropout: float, layer_norm: bool,
             tail_activation: bool) -> nn.Sequential:
    """``MLP_cn``: Linear, Dropout, ReLU, Linear, LN, Dropout, ReLU[, Linear]."""
    layers: list[nn.Module] = [
        nn.Linear(in_width, hidden), ExactDropout(dropout), nn.ReLU(),
        nn.Linear(hidden, hidden), _layer_norm(hidden, layer_norm), ExactDropout(dropout),
        nn.ReLU(),
    ]
    if not tail_activation:
        layers.append(nn.Linear(hidden, hidden))
    return nn.Sequential(*layers)


def _pair_mlp(in_width: int, hidden: int, dropout: float, layer_norm: bool,
              tail_activation: bool) -> nn.Sequential:
    """``MLP_pair``: Linear, LN, Dropout, ReLU[, Linear]."""
    layers: list[nn.Module] = [
        nn.Linear(in_width, hidden), _layer_norm(hidden, layer_norm), ExactDropout(dropout),
        nn.ReLU(),
    ]
    if not tail_activation:
        layers.append(nn.Linear(hidden, hidden))
    return nn.Sequential(*layers)


def _head(hidden: int, dropout: float, layer_norm: bool, two_layers: bool) -> nn.Sequential:
    """``MLP_head``: Linear, LN, Dropout, ReLU, [the same again,] Linear → 1."""
    layers: list[nn.Module] = [
        nn.Linear(hidden, hidden), _layer_norm(hidden, layer_norm), ExactDropout(dropout),
        nn.ReLU(),
    ]
    if two_layers:
        layers += [nn.Linear(hidden, hidden), _layer_norm(hidden, layer_norm),
                   ExactDropout(dropout), nn.ReLU()]
    layers.append(nn.Linear(hidden, 1))
    return nn.Sequential(*layers)


class NCNPredictor(GraphCacheOwner):
    """NCN link predictor (see the module docstring for the equation and the variants).

    Args:
        in_channels: width ``F`` of the node representations ``h``.
        hidden_channels: width ``H`` of every MLP.
        variant: one of ``NCN_VARIANTS``.
        dropout: dropout inside every MLP.
        edge_dropout: during training, drop each stored entry of the graph with this
            probability before intersecting neighbourhoods.
        layer_norm: LayerNorm inside the MLPs.
        node_mlp: pool ``x = h + MLP_node(h)`` instead of ``h`` (official ``use_xlin``).
        tail_activation: end ``MLP_cn``/``MLP_pair`` with ReLU instead of a Linear (official
            ``tailact``).
        two_layer_head: two hidden layers in ``MLP_head`` instead of one (``twolayerlin``).
        beta: initial value of the learnt scale ``β`` of the common-neighbour term.

    Shapes:
        ``forward(h, graph, pairs)``: ``h`` ``(N, F)``, graph ``N × N`` (a
        :class:`SparseMatrix`, ``edge_index`` or PyG object), ``pairs`` ``(2, B)`` →
        logits ``(B,)`` (apply ``sigmoid`` for probabilities). Or a sampled block (module
        docstring): graph ``M × N`` :class:`SparseMatrix`, ``h`` ``(N, F)`` for its sources,
        ``pairs`` ``(2, B)`` in ``[0, M)`` (its rows) → ``(B,)``.
    """

    depth: int = 0  # completion depth: NCN never completes (see NCNCPredictor)

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        *,
        variant: str = "ncn",
        dropout: float = 0.0,
        edge_dropout: float = 0.0,
        layer_norm: bool = False,
        node_mlp: bool = False,
        tail_activation: bool = False,
        two_layer_head: bool = False,
        beta: float = 1.0,
    ) -> None:
        super().__init__()
        if variant not in NCN_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(NCN_VARIANTS)}; got {variant!r}")
        if in_channels < 1 or hidden_channels < 1:
            raise ValueError("in_channels and hidden_channels must be positive, got "
                             f"{in_channels} and {hidden_channels}")
        if not 0.0 <= edge_dropout < 1.0:
            raise ValueError(f"edge_dropout must lie in [0, 1), got {edge_dropout}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.variant = variant
        self.edge_dropout = edge_dropout
        self.initial_beta = beta
        self.beta = nn.Parameter(torch.empty(1))
        self.node_mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), ExactDropout(dropout), nn.ReLU(),
            nn.Linear(hidden_channels, in_channels), _layer_norm(in_channels, layer_norm),
            ExactDropout(dropout), nn.ReLU(),
        ) if node_mlp else None
        cn_width = 1 if variant == "cn-count" else in_channels
        self.cn_mlp = _set_mlp(cn_width, hidden_channels, dropout, layer_norm, tail_activation)
        self.pair_mlp = (None if variant == "cn-only" else
                         _pair_mlp(in_channels, hidden_channels, dropout, layer_norm,
                                   tail_activation))
        self.extra_mlp = (_set_mlp(in_channels, hidden_channels, dropout, layer_norm,
                                   tail_activation)
                          if variant in ("ncn2", "ncn-diff") else None)
        self.head = _head(hidden_channels, dropout, layer_norm, two_layer_head)
        # A GraphCache (not a plain attribute) so that .to()/.double()/.half() of the module
        # move it too: GraphCacheOwner._apply maps it.
        self._two_hop_cache: GraphCache[SparseMatrix] = GraphCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation for every layer; ``β`` back to ``beta``."""
        for module in (self.node_mlp, self.cn_mlp, self.pair_mlp, self.extra_mlp, self.head):
            if module is not None:
                reset_module(module)
        with torch.no_grad():
            self.beta.fill_(self.initial_beta)

    # ------------------------------------------------------------------ public API
    def forward(self, h: Tensor, graph: Any, pairs: Tensor) -> Tensor:
        """Logits ``(B,)`` of the links ``pairs`` ``(2, B)`` given ``h`` ``(N, F)`` and the
        message-passing graph (see the class docstring)."""
        h = self._check_h(h)
        A = self.graph_for_scoring(graph, h.shape[0])
        if A.num_rows == A.num_cols:
            pairs = check_pairs(pairs, h.shape[0])
        else:  # a sampled block: the pairs are its rows
            pairs = check_pairs(pairs, A.num_rows, "pairs (rows of the block)")
        return self.score(h, A, pairs, self.depth)

    def graph_for_scoring(self, graph: Any, num_nodes: int) -> SparseMatrix:
        """The coalesced pattern the intersections run on (edge dropout in training); an
        ``M × num_nodes`` sampled block stays rectangular (module docstring)."""
        A = prepare_graph(graph, num_nodes)
        if A.num_rows != A.num_cols:
            self._check_block_support()
        if self.training and self.edge_dropout > 0:
            A = drop_entries(A, self.edge_dropout, rescale=False)
        return A

    def score(self, h: Tensor, A: SparseMatrix, pairs: Tensor, depth: int = 0) -> Tensor:
        """Logits for validated inputs: ``A`` a coalesced pattern, ``pairs`` int64 ``(2, B)``;
        ``depth`` is the completion depth (always 0 for NCN)."""
        x = h + self.node_mlp(h) if self.node_mlp is not None else h
        sets: list[NeighborSets] | None = None
        if self._fuses_common_pool():
            pooled = self._pool_common_neighbors(x, A, pairs)  # takes a block as it is
        else:
            if A.num_rows != A.num_cols:
                # the set builders take square graphs: the block's rows as the first rows of
                # a square graph on its sources (the others empty) give the same sets
                A = _as_square(A)
            sets = self.common_neighbor_terms(h, A, pairs, depth)
            pooled = self._pool(x, sets)
        hidden = self.cn_mlp(pooled) * self.beta
        if self.pair_mlp is not None:
            hidden = hidden + self.pair_mlp(pair_product(h, pairs))
        if self.extra_mlp is not None:
            if sets is None:  # not reached: the variants with an extra term never fuse
                sets = self.common_neighbor_terms(h, A, pairs, depth)
            hidden = hidden + self.extra_mlp(self._pool(x, self._extra_sets(A, pairs, sets[0])))
        return self.head(hidden).squeeze(-1)

    def common_neighbor_terms(self, h: Tensor, A: SparseMatrix, pairs: Tensor, depth: int = 0
                              ) -> list[NeighborSets]:
        """The (weighted) node sets pooled by ``MLP_cn``; NCN: ``[N(i) ∩ N(j)]``.

        Subclasses extend it (NCNC adds the completed neighbours); the first entry must be
        the plain common-neighbour sets.
        """
        return [common_neighbor_sets(A, pairs)]

    # ------------------------------------------------------------------ internals
    def _check_block_support(self) -> None:
        """``ValueError`` unless every term of this predictor reads only the endpoints' rows,
        the rows a sampled block holds (module docstring)."""
        if type(self).score is not NCNPredictor.score or self.depth > 0:
            raise ValueError(f"{type(self).__name__} cannot score on a sampled block (a "
                             "rectangular graph): common-neighbour completion scores links "
                             "from an endpoint to its neighbours, whose rows a block does not "
                             "hold; train it full-batch, or use NCNPredictor")
        if self.variant == "ncn2":
            raise ValueError("variant 'ncn2' pools two-hop neighbourhoods (A·A), which need "
                             "the rows of the endpoints' neighbours: a sampled block holds "
                             "only the endpoints' rows; use 'ncn', 'cn-count', 'cn-only' or "
                             "'ncn-diff', or train full-batch")

    def _check_h(self, h: Tensor) -> Tensor:
        if not isinstance(h, Tensor) or not h.is_floating_point() or h.dim() != 2:
            raise TypeError("h must be a floating (N, F) tensor of node representations")
        if h.shape[1] != self.in_channels:
            raise ValueError(f"h has width {h.shape[1]} but in_channels={self.in_channels}")
        return h

    def _fuses_common_pool(self) -> bool:
        """Whether ``MLP_cn``'s input is the plain, unweighted common-neighbour term — the
        ``"ncn"``, ``"cn-only"`` and ``"cn-count"`` variants with NCN's own
        :meth:`common_neighbor_terms` (a subclass that overrides it may add weighted terms) —
        which :meth:`_pool_common_neighbors` computes without building the sets."""
        return (
            _FUSED_COMMON_POOL
            and self.variant in _FUSED_VARIANTS
            and type(self).common_neighbor_terms is NCNPredictor.common_neighbor_terms
        )

    def _pool_common_neighbors(self, x: Tensor, A: SparseMatrix, pairs: Tensor) -> Tensor:
        """``MLP_cn``'s input from the plain common neighbourhoods, in one fused pass:
        ``Σ_{k ∈ N(i) ∩ N(j)} x_k`` ``(B, F)``, or ``|N(i) ∩ N(j)|`` ``(B, 1)`` for
        ``"cn-count"``.

        Same summation order as :meth:`_pool` of :func:`common_neighbor_sets` on the
        reference and cpu backends (increasing node id per pair; gradient rows added in
        increasing pair order), so the results are bit-identical there. The count sums ones
        in float64 — exact below ``2⁵³`` — and rounds once to ``x``'s dtype, as the set
        sizes did.
        """
        if self.variant == "cn-count":
            ones = torch.ones(A.num_cols, 1, dtype=torch.float64, device=x.device)
            return intersect_aggregate(A, pairs[0], pairs[1], ones).to(x.dtype)
        return intersect_aggregate(A, pairs[0], pairs[1], x)

    def _pool(self, x: Tensor, sets: list[NeighborSets]) -> Tensor:
        if self.variant == "cn-count":
            total = sets[0].total_weight(x.dtype)
            for extra in sets[1:]:
                total = total + extra.total_weight(x.dtype)
            return total.unsqueeze(-1)
        pooled = sets[0].aggregate(x)
        for extra in sets[1:]:
            pooled = pooled + extra.aggregate(x)
        return pooled

    def _extra_sets(self, A: SparseMatrix, pairs: Tensor, common: NeighborSets
                    ) -> list[NeighborSets]:
        if self.variant == "ncn2":
            # A·A is the expensive part; evaluation scores many batches on one graph.
            two_hop = self._two_hop_cache.get(A.structure)
            if two_hop is None:
                two_hop = self._two_hop_cache.put(spspmm(A, A).with_values(None), A.structure)
            return list(two_hop_common_sets(A, pairs, two_hop))
        return list(exclusive_neighbor_sets(A, pairs, common))

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.hidden_channels}, variant={self.variant!r}, "
                f"edge_dropout={self.edge_dropout}")
