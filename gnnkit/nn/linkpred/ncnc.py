"""NCNC: Neural Common Neighbor with Completion (Wang, Yang & Zhang, ICLR 2024, §5).

Observed graphs are incomplete: a node ``u`` adjacent to ``i`` may be a true common neighbour
of ``(i, j)`` whose link to ``j`` is simply missing. NCNC *completes* the common
neighbourhood with NCN's own predictions. For a target ``(i, j)``:

.. math::
    \\tilde{x}_{ij} = \\sum_{k \\in N(i) \\cap N(j)} x_k
      + \\sum_{u \\in N(i) \\setminus N(j)} \\hat{A}_{ju}\\, x_u
      + \\sum_{u \\in N(j) \\setminus N(i)} \\hat{A}_{iu}\\, x_u,
    \\qquad \\hat{A}_{ju} = \\mathrm{calibrate}\\big(\\mathrm{NCNC}_{d-1}(j, u)\\big)

and ``NCNC_d(i, j) = MLP_head(β · MLP_cn(x̃_ij) + MLP_pair(h_i ⊙ h_j))``; ``NCNC_0`` is NCN.
The candidate probabilities are computed without gradient (as in the paper); the gradient
reaches ``h`` through the pooled ``x_u`` and, with a learnt threshold, the threshold MLP.

By default (``official_recursion=True``) two details follow the official code
(``IncompleteCN1Predictor`` in GraphPKU/NeuralCommonNeighbor ``model.py``), which produced the
paper's numbers and whose tuned ``scale``/``offset`` assume them:

* the candidate scorer ``NCNC_{d-1}`` is fed the *pooled* features ``x = h + MLP_node(h)``
  of the level above in place of ``h`` — its pair term is ``MLP_pair(x_j ⊙ x_u)`` and it pools
  ``x + MLP_node(x)`` (with ``node_mlp=False``, ``x = h`` and nothing changes; the count
  variant ``"cn-count"`` pools no features and passes ``h``);
* in training, every candidate-scoring call draws its own edge dropout on the graph the
  level above already dropped (the official scorer re-applies its ``DropAdj`` on entry), so
  candidates are scored on a graph keeping ``(1 − p)²`` of the entries at depth 1.

``official_recursion=False`` scores candidates with exactly ``NCNC_{d-1}(j, u)`` on ``h`` and
the same graph, as the paper's equation reads. With ``node_mlp=False`` and no edge dropout the
two coincide.

Calibration of a candidate logit ``s`` (the official code's ``probscale``/``proboffset``/
``pt``/``alpha`` hyper-parameters)::

    p₀ = sigmoid(scale · (s − offset))
    Â = alpha · pt · p₀ / (pt · p₀ + 1 − p₀)

``pt`` ∈ (0, 1) is a fixed threshold or, with ``learnable_pt=True``, ``pt = MLP_pt(h_i ⊙ h_j)``
per target pair. ``depth`` is the completion depth (the paper's NCNC uses 1; "NCNC2" 2).
For scalability the candidate sets can be subsampled to at most ``max_candidates`` members
per pair (sampled uniformly with replacement, each draw weighted ``|set| / max_candidates`` so
the pooled sum stays unbiased), separately for training and evaluation.

Leakage: the candidates of ``(i, j)`` are ``N(i) Δ N(j)``; if the link ``(i, j)`` itself were
in the graph, ``j ∈ N(i) \\ N(j)`` and NCNC would ask for ``(j, j)``, and the pooled sums would
see the target. Train with target-link removal (:mod:`gnnkit.nn.linkpred.target_removal`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.sparse import (
    SparseMatrix,
    difference_aggregate,
    difference_rows,
    index_from_ptr,
    pair_keys,
    ptr_from_index,
    split_keys,
)

from . import ncn as ncn_module
from .encoder import drop_entries, reset_module
from .heuristics import (
    NeighborSets,
    _row_members,
    check_pairs,
    common_neighbor_sets,
    exclusive_neighbor_sets,
)
from .ncn import NCNPredictor
from .pairs import pair_product

__all__ = ["NCNCPredictor", "calibrate_probability", "subsample_sets"]


def calibrate_probability(logit: Tensor, pt: Tensor | float, *, scale: float, offset: float,
                          alpha: float) -> Tensor:
    """``alpha · pt · p₀ / (pt · p₀ + 1 − p₀)`` with ``p₀ = sigmoid(scale · (logit − offset))``.

    ``pt`` is a scalar or broadcastable to ``logit``. Returns probabilities in
    ``[0, alpha]``.
    """
    p0 = torch.sigmoid(scale * (logit - offset))
    return alpha * pt * p0 / (pt * p0 + 1.0 - p0)


def subsample_sets(sets: NeighborSets, max_size: int, num_nodes: int,
                   generator: torch.Generator | None = None) -> NeighborSets:
    """Sets larger than ``max_size`` replaced by ``max_size`` uniform draws with replacement,
    each weighted ``|set| / max_size`` (repeated draws merged, weights added); smaller sets
    keep their members with weight 1 (or their existing weight)."""
    if max_size < 1:
        raise ValueError(f"max_size must be positive, got {max_size}")
    sizes = sets.sizes()
    large = sizes > max_size
    if not bool(large.any()):
        return sets
    device = sets.ptr.device
    weight = (sets.weight if sets.weight is not None
              else torch.ones(sets.nodes.numel(), device=device))
    pair = sets.pair_index()
    keep = ~large[pair]
    large_pairs = large.nonzero().flatten()
    draws = torch.rand(large_pairs.numel(), max_size, generator=generator, device=device)
    offsets = (draws * sizes[large_pairs].unsqueeze(-1)).long()
    offsets = torch.minimum(offsets, (sizes[large_pairs] - 1).unsqueeze(-1))
    positions = (sets.ptr[large_pairs].unsqueeze(-1) + offsets).flatten()
    draw_weight = (sizes[large_pairs].to(weight.dtype) / max_size).repeat_interleave(max_size)
    all_pairs = torch.cat([pair[keep], large_pairs.repeat_interleave(max_size)])
    all_nodes = torch.cat([sets.nodes[keep], sets.nodes[positions]])
    all_weight = torch.cat([weight[keep], weight[positions] * draw_weight])
    key = pair_keys(all_pairs, all_nodes, sets.num_pairs, num_nodes, check=False)
    unique_key, inverse = torch.unique(key, sorted=True, return_inverse=True)
    merged = torch.zeros(unique_key.numel(), dtype=weight.dtype, device=device)
    merged.index_add_(0, inverse, all_weight)
    unique_pair, unique_node = split_keys(unique_key, num_nodes, check=False)
    ptr = ptr_from_index(unique_pair, sets.num_pairs, check=False)
    return NeighborSets(ptr, unique_node, merged)


#: candidate links scored per chunk, and target pairs per chunk, in evaluation on a CPU at
#: most (see ``_score_links`` and ``forward``)
CPU_CHUNK_SIZE = 8192

#: evaluation caches of at most this many ``N²`` entries are dense tables (lookups are one
#: gather, no sort of the listed candidates); larger graphs keep sorted keys
DENSE_CACHE_MAX_ENTRIES = 1 << 26


class _LogitCache:
    """Logits of distinct link keys (``pair_keys`` of ``(min, max)``) for one evaluation.

    Graphs with ``N² ≤ DENSE_CACHE_MAX_ENTRIES`` (ogbl-ddi: 18 M) use a dense ``N²`` table
    with a ``known`` mask: 405 M listed candidates of a full ddi evaluation are then looked up
    by gathering, not sorted. Larger graphs keep the known keys sorted with their logits and
    look up by binary search.
    """

    def __init__(self, num_nodes: int, dtype: torch.dtype, device: torch.device) -> None:
        self.num_nodes = num_nodes
        self.dense = num_nodes * num_nodes <= DENSE_CACHE_MAX_ENTRIES
        self._weights: Tensor | None = None
        self._weight_params: tuple[float, ...] | None = None
        if self.dense:
            self.table = torch.zeros(num_nodes * num_nodes, dtype=dtype, device=device)
            self.known = torch.zeros(num_nodes * num_nodes, dtype=torch.bool, device=device)
        else:
            self.keys = torch.empty(0, dtype=torch.long, device=device)
            self.logits = torch.empty(0, dtype=dtype, device=device)
        self._edges: Tensor | None = None

    def edge_mask(self, A: SparseMatrix) -> Tensor:
        """``(N²,)`` bool, ``True`` at ``row · N + col`` of every stored entry of ``A`` (dense
        caches only; built once)."""
        if self._edges is None:
            n = A.num_rows
            rows = index_from_ptr(A.rowptr.long(), total=A.nnz, check=False)
            self._edges = torch.zeros(n * n, dtype=torch.bool, device=A.col.device)
            self._edges[rows * n + A.col.long()] = True
        return self._edges

    def lookup(self, keys: Tensor) -> Tensor:
        """``(M,)`` bool: which keys have a logit."""
        if self.dense:
            return self.known[keys]
        if self.keys.numel() == 0:
            return torch.zeros(keys.numel(), dtype=torch.bool, device=keys.device)
        position = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return self.keys[position] == keys

    def store(self, keys: Tensor, logits: Tensor) -> None:
        """Add the logits of new, distinct ``keys``."""
        if self.dense:
            self.table[keys] = logits
            self.known[keys] = True
            return
        merged = torch.cat([self.keys, keys])
        order = torch.argsort(merged)
        self.keys, self.logits = merged[order], torch.cat([self.logits, logits])[order]

    def get(self, keys: Tensor) -> Tensor:
        """Logits of keys that are all known."""
        if self.dense:
            return self.table[keys]
        return self.logits[torch.searchsorted(self.keys, keys)]

    def completion_weights(self, params: tuple[float, ...]) -> Tensor:
        """``(N, N)`` calibrated probabilities of the scored links, stored at both ``[a, b]``
        and ``[b, a]`` so that a pair's lookups ``[j, u]`` over ascending ``u`` read one row;
        NaN where not yet calibrated (dense caches only). ``params`` are the calibration
        constants; other constants than the table's start a fresh table."""
        if self._weights is None or self._weight_params != params:
            n = self.num_nodes
            self._weights = torch.full((n, n), float("nan"), dtype=self.table.dtype,
                                       device=self.table.device)
            self._weight_params = params
        return self._weights

    def set_weights(self, keys: Tensor, probabilities: Tensor) -> None:
        """Store the calibrated probabilities of the links ``keys`` (both orientations)."""
        assert self._weights is not None
        n = self.num_nodes
        low, high = split_keys(keys, n, check=False)
        flat = self._weights.view(-1)
        flat[low * n + high] = probabilities
        flat[high * n + low] = probabilities


class NCNCPredictor(NCNPredictor):
    """NCNC link predictor: NCN on a common neighbourhood completed by its own predictions.

    Args:
        in_channels, hidden_channels, variant, dropout, edge_dropout, layer_norm, node_mlp,
        tail_activation, two_layer_head, beta: as for :class:`NCNPredictor`; ``variant`` is
            ``"ncn"``, ``"cn-count"`` or ``"cn-only"`` (completion applies to the
            common-neighbour term).
        depth: completion depth ``d ≥ 0`` (0 = plain NCN, 1 = NCNC, 2 = NCNC2).
        scale, offset: calibration of candidate logits (official ``probscale``/``proboffset``).
        pt: fixed threshold in ``(0, 1)`` (official ``pt``).
        alpha: upper bound of a completed probability (official ``alpha``).
        learnable_pt: predict ``pt`` per pair with ``MLP_pt(h_i ⊙ h_j)`` (sigmoid output).
        train_max_candidates / test_max_candidates: subsample candidate sets larger than this
            in training / evaluation (official ``trndeg``/``tstdeg``); ``None`` = exact.
        chunk_size: score candidate links in chunks of this many pairs (memory only; official
            ``splitsize``). In evaluation on a CPU chunks hold at most ``CPU_CHUNK_SIZE``
            (8192) links.
        official_recursion: feed the candidate scorer the pooled features and a freshly
            edge-dropped graph, as the official code does (see the module docstring);
            ``False``: ``NCNC_{d-1}`` on ``h`` and the same graph.

    Shapes:
        as :class:`NCNPredictor`: ``forward(h, graph, pairs)`` → logits ``(B,)``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        *,
        variant: str = "ncn",
        depth: int = 1,
        scale: float = 5.0,
        offset: float = 3.0,
        pt: float = 0.5,
        alpha: float = 1.0,
        learnable_pt: bool = False,
        train_max_candidates: int | None = None,
        test_max_candidates: int | None = None,
        chunk_size: int | None = None,
        official_recursion: bool = True,
        **ncn_options: Any,
    ) -> None:
        if variant not in ("ncn", "cn-count", "cn-only"):
            raise ValueError("NCNC completes the common-neighbour term: variant must be 'ncn', "
                             f"'cn-count' or 'cn-only', got {variant!r}")
        if depth < 0:
            raise ValueError(f"depth must be non-negative, got {depth}")
        if not 0.0 < pt < 1.0:
            raise ValueError(f"pt must lie in (0, 1), got {pt}")
        for name, value in (("train_max_candidates", train_max_candidates),
                            ("test_max_candidates", test_max_candidates),
                            ("chunk_size", chunk_size)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive or None, got {value}")
        super().__init__(in_channels, hidden_channels, variant=variant, **ncn_options)
        self.depth = depth
        self.train_max_candidates = train_max_candidates
        self.test_max_candidates = test_max_candidates
        self.chunk_size = chunk_size
        self.official_recursion = official_recursion
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.register_buffer("offset", torch.tensor(float(offset)))
        self.register_buffer("pt", torch.tensor(float(pt)))
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.pt_mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels), nn.ReLU(), nn.Linear(hidden_channels, 1),
            nn.Sigmoid(),
        ) if learnable_pt else None
        if self.pt_mlp is not None:
            reset_module(self.pt_mlp)
        # evaluation cache of candidate logits (see cached_candidates); not module state
        self._cache: dict[tuple[Any, ...], tuple[Any, Any]] | None = None
        self._cache_owner: tuple[int, int] | None = None
        self._cache_h: Tensor | None = None

    def set_alpha(self, alpha: float) -> None:
        """Change ``alpha`` (the official schedule raises it during training)."""
        self.alpha.fill_(float(alpha))

    # ------------------------------------------------------------------ completion
    def candidate_sets(self, A: SparseMatrix, pairs: Tensor, common: NeighborSets | None = None
                       ) -> tuple[NeighborSets, NeighborSets]:
        """``(N(i) \\ N(j), N(j) \\ N(i))``, subsampled per the current mode's limit."""
        only_i, only_j = exclusive_neighbor_sets(A, pairs, common)
        limit = self.train_max_candidates if self.training else self.test_max_candidates
        if limit is not None:
            only_i = subsample_sets(only_i, limit, A.num_rows)
            only_j = subsample_sets(only_j, limit, A.num_rows)
        return only_i, only_j

    def candidate_links(self, graph: Any, pairs: Tensor) -> Tensor:
        """``(2, M)`` every link whose probability one completion step asks for: ``(j, u)``
        for ``u ∈ N(i) \\ N(j)`` and ``(i, u)`` for ``u ∈ N(j) \\ N(i)`` (for inspection and
        leak checks; the graph is used as given)."""
        num_nodes = int(graph.num_rows) if isinstance(graph, SparseMatrix) else None
        if num_nodes is None:
            raise TypeError("candidate_links needs the graph as a SparseMatrix")
        A = self.graph_for_scoring(graph, num_nodes)
        pairs = check_pairs(pairs, num_nodes)
        only_i, only_j = self.candidate_sets(A, pairs)
        return torch.cat([
            torch.stack([pairs[1][only_i.pair_index()], only_i.nodes]),
            torch.stack([pairs[0][only_j.pair_index()], only_j.nodes]),
        ], dim=1)

    def forward(self, h: Tensor, graph: Any, pairs: Tensor) -> Tensor:
        """Logits ``(B,)`` of the links ``pairs`` ``(2, B)`` given ``h`` ``(N, F)`` and the
        message-passing graph (see :class:`NCNPredictor`)."""
        if self.training:
            return super().forward(h, graph, pairs)
        if (isinstance(pairs, Tensor) and pairs.dim() == 2 and pairs.shape[1] > CPU_CHUNK_SIZE
                and h.device.type == "cpu" and self.test_max_candidates is None):
            # evaluation on a CPU: a pair's logit does not depend on the other pairs of its
            # batch, and chunks keep the ~2·deg-per-pair completion temporaries in cache
            return torch.cat([self.forward(h, graph, pairs[:, start:start + CPU_CHUNK_SIZE])
                              for start in range(0, pairs.shape[1], CPU_CHUNK_SIZE)])
        if self._cache is None:
            return super().forward(h, graph, pairs)
        # inside cached_candidates: cached logits belong to this h (object and version)
        self._cache_owner = (id(h), h._version)
        self._cache_h = h  # kept alive so that its id is not reused within the block
        try:
            return super().forward(h, graph, pairs)
        finally:
            self._cache_owner = None

    def score(self, h: Tensor, A: SparseMatrix, pairs: Tensor, depth: int = 0) -> Tensor:
        """Logits for validated inputs (``A`` a coalesced pattern, ``pairs`` int64 ``(2, B)``)
        at completion depth ``depth``.

        ``x = h + MLP_node(h)`` (or ``h``) is pooled over the completed common neighbourhood;
        with ``official_recursion`` it is also what the candidate scorer receives as node
        features.
        """
        x = h + self.node_mlp(h) if self.node_mlp is not None else h
        return self._score_pooled(h, x, A, pairs, depth)

    def _score_pooled(self, h: Tensor, x: Tensor, A: SparseMatrix, pairs: Tensor, depth: int
                      ) -> Tensor:
        """:meth:`score` given ``x`` (computed once for many chunks of candidates)."""
        hidden = self.cn_mlp(self._completed_pool(h, x, A, pairs, depth)) * self.beta
        if self.pair_mlp is not None:
            hidden = hidden + self.pair_mlp(pair_product(h, pairs))
        return self.head(hidden).squeeze(-1)

    def _completed_pool(self, h: Tensor, x: Tensor, A: SparseMatrix, pairs: Tensor, depth: int
                        ) -> Tensor:
        """``MLP_cn``'s input: ``x`` pooled over the completed common neighbourhood.

        The plain common-neighbour term is one fused pass
        (:func:`gnnkit.sparse.intersect_aggregate`) wherever the sets themselves are not
        needed: at depth 0 — the candidate scorer, most of NCNC's cost — and in evaluation
        with a dense logit cache (:meth:`_dense_completion`). Both give the set path's
        results bit for bit (same summation order).
        """
        fused = ncn_module._FUSED_COMMON_POOL and self.variant in ncn_module._FUSED_VARIANTS
        if depth <= 0 and fused:
            return self._pool_common_neighbors(x, A, pairs)
        # The count variant pools no features; the official count scorer passes h down.
        official = self.official_recursion and self.variant != "cn-count"
        candidate_features = x if official else h
        if fused and depth > 0 and not self.training and self.test_max_candidates is None:
            cache = self._cache_bucket(A, candidate_features, depth - 1)
            if cache is not None and cache.dense:
                common = self._pool_common_neighbors(x, A, pairs)
                if self.pt_mlp is None:
                    return self._fused_completion(common, candidate_features, x, A, pairs,
                                                  depth, cache)
                terms = self._dense_completion(h, candidate_features, A, pairs, depth, cache)
                if self.variant == "cn-count":
                    total = common.squeeze(-1)
                    for term in terms:
                        total = total + term.total_weight(x.dtype)
                    return total.unsqueeze(-1)
                for term in terms:
                    common = common + term.aggregate(x)
                return common
        sets = self.common_neighbor_terms(h, A, pairs, depth,
                                          candidate_features=candidate_features)
        return self._pool(x, sets)

    def _candidate_logits(self, features: Tensor, A: SparseMatrix, links: Tensor, depth: int
                          ) -> Tensor:
        """Logits of NCNC at completion depth ``depth`` for the candidate links ``(2, M)``
        scored on node features ``features``, without gradient.

        In training, every candidate is scored as drawn (each call draws its own dropout
        masks and, with ``official_recursion``, a fresh edge dropout on ``A``, as the
        official scorer's ``DropAdj`` does). In evaluation the score of a link is a fixed,
        symmetric function of the link, so each *distinct unordered* link is scored once, as
        ``(min, max)`` — the same candidate recurs for every target pair that has one of its
        ends as an end and its other end next to the pair's other end — and, inside
        :meth:`cached_candidates`, once per cache for all batches.

        Symmetry: ``NCN(j, u)`` pools the set ``N(j) ∩ N(u)`` in ascending node order and
        multiplies ``h_j ⊙ h_u``, so the depth-0 scorer (the candidates of NCNC) is symmetric
        bit for bit. At depth ≥ 1 (the candidates of NCNC2) swapping the ends swaps the two
        completion terms, which are added in the other order: equal up to float rounding.
        """
        if links.shape[1] == 0:
            return features.new_zeros(0)
        if self.training:
            return self._score_links(features, A, links, depth)
        n = A.num_rows
        keys = pair_keys(torch.minimum(links[0], links[1]), torch.maximum(links[0], links[1]),
                         n, n, check=False)
        cache = self._cache_bucket(A, features, depth)
        if cache is None:
            unique, inverse = torch.unique(keys, sorted=True, return_inverse=True)
            return self._score_keys(features, A, unique, depth)[inverse]
        known = cache.lookup(keys)
        missing = keys[~known]
        if missing.numel():
            missing = torch.unique(missing, sorted=True)
            cache.store(missing, self._score_keys(features, A, missing, depth))
        return cache.get(keys)

    def _score_keys(self, features: Tensor, A: SparseMatrix, keys: Tensor, depth: int
                    ) -> Tensor:
        n = A.num_rows
        return self._score_links(features, A, torch.stack(split_keys(keys, n, check=False)),
                                 depth)

    def _score_links(self, features: Tensor, A: SparseMatrix, links: Tensor, depth: int
                     ) -> Tensor:
        step = self.chunk_size or links.shape[1]
        if features.device.type == "cpu" and not self.training:
            # on a CPU, chunks whose activations fit the caches run the MLPs' element-wise
            # ops (layer norm, ReLU, products) faster than one large chunk; in evaluation each
            # row is computed alone, so the chunking does not change a logit (in training a
            # chunk draws its own masks: the configured chunks are kept, so seeds reproduce)
            step = min(step, CPU_CHUNK_SIZE)
        with torch.no_grad():
            if self.training:
                # each chunk draws its own dropout masks and edge dropout (the official scorer)
                return torch.cat([self.score(features, self._scoring_graph(A),
                                             links[:, start:start + step], depth)
                                  for start in range(0, links.shape[1], step)])
            # evaluation: x = features + MLP_node(features) is the same for every chunk
            x = features + self.node_mlp(features) if self.node_mlp is not None else features
            return torch.cat([self._score_pooled(features, x, A, links[:, start:start + step],
                                                 depth)
                              for start in range(0, links.shape[1], step)])

    # ------------------------------------------------------------------ evaluation cache
    @contextlib.contextmanager
    def cached_candidates(self) -> Iterator[None]:
        """Within the block, remember the logit of every candidate link scored in evaluation
        mode and reuse it in later calls on the same graph and node representations.

        Use it around a whole evaluation — one ``h``, one graph, many batches of pairs —
        where a link is a candidate of many target pairs across batches (on ogbl-ddi most
        of them). The caller guarantees that the weights do not change inside the block;
        the cache is keyed by the graph's structure and the identity and version of the
        node representations passed to :meth:`forward`, and dropped on exit.
        """
        previous = self._cache
        self._cache = {}
        try:
            yield
        finally:
            self._cache = previous
            self._cache_h = None

    def _cache_bucket(self, A: SparseMatrix, features: Tensor, depth: int
                      ) -> _LogitCache | None:
        """The active cache of ``(A, features, depth)`` (created empty), or ``None`` outside
        :meth:`cached_candidates` or a :meth:`forward` call inside it."""
        if self._cache is None or self._cache_owner is None:
            return None
        key = (self._cache_owner, id(A.structure), depth)
        entry = self._cache.get(key)
        if entry is None:
            # the structure is kept alive with its entry so that its id stays unique
            entry = (A.structure, _LogitCache(A.num_rows, features.dtype, features.device))
            self._cache[key] = entry
        return entry[1]

    def graph_for_scoring(self, graph: Any, num_nodes: int) -> SparseMatrix:
        """As :meth:`NCNPredictor.graph_for_scoring`; inside :meth:`cached_candidates` the
        pattern prepared from one input graph is reused by later batches, so that their
        cached candidate logits (keyed by the pattern's structure) are found even when the
        input needs coalescing, which builds a new matrix each time."""
        if self._cache is None or self.training:
            return super().graph_for_scoring(graph, num_nodes)
        # an edge-index tensor changed in place is a new graph
        version = graph._version if isinstance(graph, Tensor) else 0
        memo = self._cache.get(("graph", id(graph), num_nodes))
        if memo is not None and memo[0] is graph and memo[2] == version:
            return memo[1]
        A = super().graph_for_scoring(graph, num_nodes)
        # the input is kept alive with its entry so that its id stays unique
        self._cache[("graph", id(graph), num_nodes)] = (graph, A, version)
        return A

    def _scoring_graph(self, A: SparseMatrix) -> SparseMatrix:
        """The candidate scorer's graph: ``A``, edge-dropped again in training with
        ``official_recursion`` (no rescaling: intersections use the pattern)."""
        if self.official_recursion and self.training and self.edge_dropout > 0:
            return drop_entries(A, self.edge_dropout, rescale=False)
        return A

    def common_neighbor_terms(self, h: Tensor, A: SparseMatrix, pairs: Tensor, depth: int = 0,
                              *, candidate_features: Tensor | None = None
                              ) -> list[NeighborSets]:
        """``[N(i) ∩ N(j), N(i) \\ N(j) weighted by Â_ju, N(j) \\ N(i) weighted by Â_iu]``
        at completion depth ``depth`` (``[N(i) ∩ N(j)]`` alone at depth 0).

        ``Â`` calibrates the depth ``depth − 1`` logits of the candidate links computed on
        ``candidate_features`` (default ``h``; :meth:`score` passes its pooled features);
        a learnt threshold sees ``h_i ⊙ h_j``.
        """
        common = common_neighbor_sets(A, pairs)
        if depth <= 0:
            return [common]
        features = h if candidate_features is None else candidate_features
        only_i, only_j = self.candidate_sets(A, pairs, common)
        pair_i, pair_j = only_i.pair_index(), only_j.pair_index()
        links_i_side = torch.stack([pairs[1][pair_i], only_i.nodes])
        links_j_side = torch.stack([pairs[0][pair_j], only_j.nodes])
        logit_i_side = self._candidate_logits(features, A, links_i_side, depth - 1)
        logit_j_side = self._candidate_logits(features, A, links_j_side, depth - 1)
        pt = self._pair_threshold(h, pairs)
        pt_i, pt_j = (pt, pt) if pt.dim() == 0 else (pt[pair_i], pt[pair_j])
        options = {"scale": self.scale, "offset": self.offset, "alpha": self.alpha}
        prob_i = calibrate_probability(logit_i_side, pt_i, **options)
        prob_j = calibrate_probability(logit_j_side, pt_j, **options)
        if only_i.weight is not None:
            prob_i = prob_i * only_i.weight
        if only_j.weight is not None:
            prob_j = prob_j * only_j.weight
        return [common, only_i.with_weight(prob_i), only_j.with_weight(prob_j)]

    def _pair_threshold(self, h: Tensor, pairs: Tensor) -> Tensor:
        """``pt`` of every pair: ``(B,)`` from ``MLP_pt(h_i ⊙ h_j)``, or the fixed scalar."""
        if self.pt_mlp is not None:
            return self.pt_mlp(pair_product(h, pairs)).squeeze(-1)
        return self.pt

    def _fused_completion(self, common: Tensor, features: Tensor, x: Tensor, A: SparseMatrix,
                          pairs: Tensor, depth: int, cache: _LogitCache) -> Tensor:
        """``MLP_cn``'s input with a fixed threshold in evaluation with a dense cache: the
        pooled common neighbours ``common`` plus the two completion terms, each one fused
        pass of :func:`gnnkit.sparse.difference_aggregate` over ``N(i) \\ N(j)`` weighted by
        the calibrated probability table ``Â[j, u]`` (and ``N(j) \\ N(i)`` by ``Â[i, u]``).

        The same sums as the set path (same members, same ascending order, same products),
        with no listing, membership gather or calibration per listed neighbour. The
        probabilities come from the table, calibrated once per link when it is scored, so a
        probability can differ from the set path's by the last bit of the sigmoid (torch
        computes the last few elements of a tensor with the scalar ``exp``).
        """
        weight = self._completion_weights(features, A, pairs, depth, cache)
        sides = ((pairs[0], pairs[1]), (pairs[1], pairs[0]))
        if self.variant == "cn-count":
            ones = x.new_ones(A.num_cols, 1)
            total = common.squeeze(-1)
            for left, right in sides:
                total = total + difference_aggregate(A, left, right, ones, weight).squeeze(-1)
            return total.unsqueeze(-1)
        for left, right in sides:
            common = common + difference_aggregate(A, left, right, x, weight)
        return common

    def _completion_weights(self, features: Tensor, A: SparseMatrix, pairs: Tensor, depth: int,
                            cache: _LogitCache) -> Tensor:
        """The cache's ``(N, N)`` calibrated probability table, complete on every candidate
        link of ``pairs``: missing links are scored once (depth ``depth − 1``) and stored.

        Which pairs have a candidate without a probability is one pass of
        :func:`gnnkit.sparse.difference_aggregate` over ones (NaN marks the missing
        entries); only those pairs list their candidates. A batch whose candidates were all
        seen before (most batches of a full evaluation) lists nothing.
        """
        n = A.num_rows
        params = tuple(float(t) for t in (self.scale, self.offset, self.pt, self.alpha))
        weight = cache.completion_weights(params)
        ones = features.new_ones(A.num_cols, 1)
        listed = []
        for left, right in ((pairs[0], pairs[1]), (pairs[1], pairs[0])):
            flagged = difference_aggregate(A, left, right, ones, weight).squeeze(-1).isnan()
            if not bool(flagged.any()):
                continue
            ptr, nodes = difference_rows(A, left[flagged], right[flagged])
            other = right[flagged][index_from_ptr(ptr.long(), total=nodes.numel(), check=False)]
            nodes = nodes.long()
            unknown = weight.view(-1)[other * n + nodes].isnan()
            other, nodes = other[unknown], nodes[unknown]
            listed.append(pair_keys(torch.minimum(other, nodes), torch.maximum(other, nodes),
                                    n, n, check=False))
        if listed:
            keys = torch.unique(torch.cat(listed), sorted=True)
            missing = keys[~cache.lookup(keys)]
            if missing.numel():
                cache.store(missing, self._score_keys(features, A, missing, depth - 1))
            probabilities = calibrate_probability(cache.get(keys), self.pt, scale=self.scale,
                                                  offset=self.offset, alpha=self.alpha)
            cache.set_weights(keys, probabilities)
        return weight

    def _dense_completion(self, h: Tensor, features: Tensor, A: SparseMatrix, pairs: Tensor,
                          depth: int, cache: _LogitCache) -> list[NeighborSets]:
        """The two completion terms from a dense logit table, without set differences.

        ``N(i) \\ N(j)`` weighted by ``Â_ju`` is pooled as all of ``N(i)`` weighted by
        ``Â_ju`` where ``u ∉ N(j)`` and by 0 where ``u ∈ N(j)``: the zero-weight terms add
        exactly nothing in the same ascending order, so the pooled sums equal the set path's
        bit for bit, and no difference or membership search over the ~``2 · deg`` members of
        each pair is needed — one gather in an ``N²`` edge mask decides membership. Missing
        candidate logits are scored once and stored in ``cache``.
        """
        n = A.num_rows
        edge = cache.edge_mask(A)
        threshold = self._pair_threshold(h, pairs)
        sides = []
        for end, partner in ((pairs[0], pairs[1]), (pairs[1], pairs[0])):
            ptr, nodes = _row_members(A, end)
            pair = index_from_ptr(ptr, total=nodes.numel(), check=False)
            other = partner[pair]
            candidate = ~edge[other * n + nodes]
            keys = pair_keys(torch.minimum(other, nodes), torch.maximum(other, nodes), n, n,
                             check=False)
            sides.append((ptr, nodes, pair, candidate, keys))
        listed = torch.cat([keys[candidate] for *_, candidate, keys in sides])
        missing = listed[~cache.lookup(listed)]
        if missing.numel():
            missing = torch.unique(missing, sorted=True)
            cache.store(missing, self._score_keys(features, A, missing, depth - 1))
        options = {"scale": self.scale, "offset": self.offset, "alpha": self.alpha}
        terms = []
        for ptr, nodes, pair, candidate, keys in sides:
            pt = threshold if threshold.dim() == 0 else threshold[pair]
            prob = calibrate_probability(cache.get(keys), pt, **options)
            terms.append(NeighborSets(ptr, nodes, torch.where(candidate, prob, 0.0)))
        return terms

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, depth={self.depth}, scale={float(self.scale)}, "
                f"offset={float(self.offset)}, pt={float(self.pt)}, alpha={float(self.alpha)}, "
                f"learnable_pt={self.pt_mlp is not None}, "
                f"official_recursion={self.official_recursion}")
