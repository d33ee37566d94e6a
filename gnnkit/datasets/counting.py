r"""Counting substructures: seeded random graphs with exact substructure counts as targets.

The random-graph counting benchmark of Chen, Chen, Villar & Bruna ("Can Graph Neural Networks
Count Substructures?", NeurIPS 2020) in the form later works read it: Zhao, Jin, Akoglu &
Shah (GNN-AK, ICLR 2022; ``core/data.py``'s ``GraphCountDataset``: graph-level counts of the
5000 graphs of ``randomgraph.mat``, split 1500 / 1000 / 2500, targets divided by their
standard deviation, L1 loss, MAE), Frasca et al. (SUN, NeurIPS 2022) and Zhang, Feng, Du, He
& Wang (SWL, ICML 2023; ``main_substructure.py`` and ``src/dataset.py``: ``randomgraph.pt``
with node-level counts of triangles, tailed triangles, stars and 4- to 6-cycles, divided by
their standard deviation, L1 loss). Those works read fixed generated files; this module
*generates* a dataset of the same kind, deterministically for a seed, so no file is needed
(the numbers are therefore not the papers' numbers, only the same kind of experiment).

Graphs (:func:`random_counting_graphs`): a mix of Erdős–Rényi graphs :math:`G(n, p)` (``p``
drawn uniformly per graph) and random ``d``-regular graphs (uniform-ish simple pairings, the
Steger–Wormald procedure), ``n`` drawn uniformly from ``num_nodes``. Regular graphs are the
point of the mix: every ``d``-regular graph on ``n`` nodes has the same 1-WL colouring, so a
1-WL-bounded model (GIN) must give all of them the same output while their triangle and
4-cycle counts differ.

Counts (non-induced, i.e. subgraphs isomorphic to the pattern, not induced subgraphs), with
:math:`A` the symmetric 0/1 adjacency without self loops, :math:`d = A\mathbf{1}`:

* triangles at node ``i``: :math:`t_i = (A^3)_{ii} / 2`; in the graph :math:`\operatorname{tr}
  (A^3) / 6`;
* 4-cycles through node ``i``: :math:`c_i = \big((A^4)_{ii} - d_i^2 - (A d)_i + d_i\big) / 2`
  (closed 4-walks from ``i`` minus the degenerate ones ``i-j-i-k-i`` and ``i-j-k-j-i``, two
  walks per cycle); in the graph :math:`\sum_i c_i / 4 = \big(\operatorname{tr}(A^4) - 2\sum_i
  d_i^2 + \sum_i d_i\big) / 8`, GNN-AK's formula;
* tailed triangles (a triangle with one pendant edge at one of its nodes) in the graph:
  :math:`\sum_i t_i (d_i - 2)`; per node ``i`` as the triangle node carrying the tail;
* 3-stars (a centre with three leaves) in the graph: :math:`\sum_i \binom{d_i}{3}`; per node
  as the centre.

The tests check every count against a brute-force enumeration of node subsets.

How far a 1-WL-bounded model must stay from the targets: :func:`wl_classes` groups the graphs
that 1-WL colour refinement cannot tell apart, and :func:`wl_mae_floor` is the smallest MAE any
function of the 1-WL colouring (GIN's output, whatever its weights) can reach on a split —
the best constant per class, chosen knowing the targets, so a lower bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gnnkit.datasets._graph import GraphDataset
from gnnkit.sparse.index import ptr_from_counts

__all__ = [
    "COUNTING_TARGETS",
    "counting_dataset",
    "graph_substructure_counts",
    "node_substructure_counts",
    "random_counting_graphs",
    "random_regular_edges",
    "wl_classes",
    "wl_mae_floor",
]

#: substructures counted (target names, in the column order of the count functions)
COUNTING_TARGETS = ("triangle", "tailed-triangle", "3-star", "4-cycle")


# ---------------------------------------------------------------------------- counting
def _dense_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``(n, n)`` float64 symmetric 0/1 adjacency of ``edge_index`` read as undirected
    (duplicate edges collapse, self loops dropped)."""
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    a = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    if edge_index.numel():
        if int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes:
            raise ValueError(f"edge_index holds ids outside [0, {num_nodes - 1}] "
                             f"(num_nodes={num_nodes})")
        src, dst = edge_index[0].long(), edge_index[1].long()
        a[src, dst] = 1.0
        a[dst, src] = 1.0
        a.fill_diagonal_(0.0)
    return a


def _node_counts(a: Tensor) -> Tensor:
    """``(..., n, 4)`` float64 per-node counts of a (batch of) dense adjacency ``(..., n, n)``
    in the order of :data:`COUNTING_TARGETS` (zero-padded nodes count nothing)."""
    d = a.sum(-1)
    a2 = a @ a
    a3 = a2 @ a
    # (A⁴)_ii = Σ_j (A²)_ij² because A² is symmetric
    walks4 = (a2 * a2).sum(-1)
    triangles = torch.diagonal(a3, dim1=-2, dim2=-1) / 2
    neighbour_degrees = (a @ d.unsqueeze(-1)).squeeze(-1)
    cycles4 = (walks4 - d * d - neighbour_degrees + d) / 2
    tailed = triangles * (d - 2).clamp(min=0)
    stars = d * (d - 1) * (d - 2) / 6
    return torch.stack([triangles, tailed, stars, cycles4], dim=-1)


def node_substructure_counts(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Per-node substructure counts of one undirected graph.

    Args:
        edge_index: ``(2, E)`` integer edges; read as undirected (either or both directions
            may be listed), self loops ignored.
        num_nodes: ``n``.

    Returns:
        ``(n, 4)`` int64 counts in the order of :data:`COUNTING_TARGETS`: triangles containing
        the node, tailed triangles whose tail is attached at the node, 3-stars centred at the
        node, 4-cycles containing the node (the module docstring has the formulas).
    """
    counts = _node_counts(_dense_adjacency(edge_index, num_nodes))
    return counts.round().long()


def graph_substructure_counts(edge_index: Tensor, num_nodes: int) -> Tensor:
    """``(4,)`` int64 counts of the whole graph in the order of :data:`COUNTING_TARGETS`
    (triangles, tailed triangles, 3-stars, 4-cycles; non-induced). ``edge_index`` as in
    :func:`node_substructure_counts`."""
    per_node = _node_counts(_dense_adjacency(edge_index, num_nodes)).sum(0)
    # each triangle is seen from 3 nodes and each 4-cycle from 4; tails and stars once
    divisor = torch.tensor([3.0, 1.0, 1.0, 4.0], dtype=torch.float64)
    return (per_node / divisor).round().long()


def _batched_graph_counts(edges: Sequence[np.ndarray], sizes: Sequence[int]) -> Tensor:
    """``(G, 4)`` float64 graph counts of many graphs, by padded batched matrix products."""
    largest = max(sizes) if sizes else 0
    a = torch.zeros(len(sizes), largest, largest, dtype=torch.float64)
    for g, pairs in enumerate(edges):
        if pairs.size:
            index = torch.from_numpy(pairs)
            a[g, index[0], index[1]] = 1.0
            a[g, index[1], index[0]] = 1.0
    per_graph = _node_counts(a).sum(1)
    divisor = torch.tensor([3.0, 1.0, 1.0, 4.0], dtype=torch.float64)
    return (per_graph / divisor).round()


# ---------------------------------------------------------------------------- generating
def random_regular_edges(num_nodes: int, degree: int, rng: np.random.Generator,
                         max_tries: int = 100) -> np.ndarray:
    """A random simple ``degree``-regular graph on ``num_nodes`` nodes, ``(2, m)`` edges with
    ``i < j``.

    Steger & Wormald's procedure (the one networkx's ``random_regular_graph`` uses): pair up
    the ``n·d`` half-edges at random, accepting only pairs of distinct, not yet adjacent
    nodes, and start over when no such pair is left.

    Raises:
        ValueError: ``num_nodes · degree`` odd, ``degree >= num_nodes`` or negative.
        RuntimeError: no graph after ``max_tries`` restarts (does not happen for the sizes of
            this module).
    """
    n, d = num_nodes, degree
    if d < 0 or (d >= n and n > 0) or (n * d) % 2:
        raise ValueError(f"no simple {d}-regular graph on {n} nodes: need 0 <= degree < "
                         "num_nodes and num_nodes * degree even")
    for _ in range(max_tries):
        edges: set[tuple[int, int]] = set()
        points = np.repeat(np.arange(n), d)
        ok = True
        while points.size:
            rng.shuffle(points)
            pending: dict[int, int] = {}
            for first, second in zip(points[0::2].tolist(), points[1::2].tolist(),
                                     strict=True):
                pair = (min(first, second), max(first, second))
                if first != second and pair not in edges:
                    edges.add(pair)
                else:
                    pending[first] = pending.get(first, 0) + 1
                    pending[second] = pending.get(second, 0) + 1
            if not pending:
                break
            # restart if no suitable pair is left among the pending nodes
            nodes = list(pending)
            if not any((min(u, v), max(u, v)) not in edges
                       for i, u in enumerate(nodes) for v in nodes[i + 1:]):
                ok = False
                break
            points = np.repeat(np.array(nodes, dtype=np.int64),
                               np.array([pending[u] for u in nodes], dtype=np.int64))
        if ok:
            pairs = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)
            return pairs.T.copy()
    raise RuntimeError(f"no simple {d}-regular graph on {n} nodes after {max_tries} tries")


def _er_edges(num_nodes: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """``G(n, p)``: each pair ``i < j`` an edge with probability ``p``; ``(2, m)``."""
    i, j = np.triu_indices(num_nodes, k=1)
    keep = rng.random(i.size) < p
    return np.stack([i[keep], j[keep]]).astype(np.int64)


def _check_range(name: str, value: Sequence[float], low: float, high: float,
                 kind: type = float) -> tuple[float, float]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, kind)) and not isinstance(v, bool) for v in value)
            or not low <= value[0] <= value[1] <= high):
        raise ValueError(f"{name} must be a pair ({kind.__name__} lo, {kind.__name__} hi) with "
                         f"{low} <= lo <= hi <= {high}, got {value!r}")
    return value[0], value[1]


def random_counting_graphs(num_graphs: int, *, num_nodes: tuple[int, int] = (10, 18),
                           edge_probability: tuple[float, float] = (0.15, 0.4),
                           degrees: Sequence[int] = (3, 4, 5, 6),
                           regular_fraction: float = 0.5, seed: int = 0
                           ) -> tuple[list[np.ndarray], list[int]]:
    """``num_graphs`` random undirected graphs, as ``(edges, sizes)``: ``edges[g]`` is a
    ``(2, m_g)`` int64 array with ``i < j`` and ``sizes[g]`` the node count.

    Each graph is random ``d``-regular with probability ``regular_fraction`` (``d`` drawn
    from ``degrees`` among those that fit ``n``), else Erdős–Rényi with ``p`` uniform in
    ``edge_probability``; ``n`` is uniform in ``num_nodes`` (inclusive). The same arguments
    always give the same graphs (one ``numpy.random.default_rng(seed)``).

    Raises:
        ValueError: an argument out of range (the message names it).
    """
    if isinstance(num_graphs, bool) or not isinstance(num_graphs, int) or num_graphs < 1:
        raise ValueError(f"num_graphs must be an int >= 1, got {num_graphs!r}")
    low, high = _check_range("num_nodes", num_nodes, 4, 200, int)
    _check_range("edge_probability", edge_probability, 0.0, 1.0)
    if not 0.0 <= regular_fraction <= 1.0:
        raise ValueError(f"regular_fraction must be in [0, 1], got {regular_fraction!r}")
    if regular_fraction > 0 and (
            not degrees or any(isinstance(d, bool) or not isinstance(d, int) or d < 1
                               for d in degrees) or min(degrees) >= low):
        raise ValueError(f"degrees must be ints >= 1 with the smallest below "
                         f"num_nodes[0]={low}, got {list(degrees)!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(seed)
    edges, sizes = [], []
    for _ in range(num_graphs):
        n = int(rng.integers(int(low), int(high) + 1))
        if rng.random() < regular_fraction:
            fitting = [d for d in degrees if d < n and (n * d) % 2 == 0]
            if not fitting:  # n odd and every degree odd: take n + 1 nodes
                n += 1
                fitting = [d for d in degrees if d < n]
            d = int(fitting[int(rng.integers(len(fitting)))])
            pairs = random_regular_edges(n, d, rng)
        else:
            p = float(rng.uniform(edge_probability[0], edge_probability[1]))
            pairs = _er_edges(n, p, rng)
        edges.append(pairs)
        sizes.append(n)
    return edges, sizes


def counting_dataset(target: str = "triangle", *, num_train: int = 1000,
                     num_val: int = 250, num_test: int = 500,
                     num_nodes: tuple[int, int] = (10, 18),
                     edge_probability: tuple[float, float] = (0.15, 0.4),
                     degrees: Sequence[int] = (3, 4, 5, 6), regular_fraction: float = 0.5,
                     standardize: bool = True, seed: int = 0) -> GraphDataset:
    """A graph-regression dataset: random graphs (:func:`random_counting_graphs`) whose target
    is the exact count of ``target`` in each graph.

    Args:
        target: one of :data:`COUNTING_TARGETS`.
        num_train, num_val, num_test: graphs of each split (graphs ``0 … num_train-1`` train,
            then validation, then test; the graphs are i.i.d., so the order is the shuffle).
        num_nodes, edge_probability, degrees, regular_fraction: the graph distribution.
        standardize: divide the counts by their standard deviation over the whole dataset
            (GNN-AK's ``y / y.std(0)`` and SWL's ``normalize``), so MAEs are comparable
            across targets; the divisor is ``metadata["target_std"]``.
        seed: the generator's seed; the same arguments give the same dataset.

    Returns:
        A :class:`GraphDataset` of ``G = num_train + num_val + num_test`` graphs: both
        directions of every edge (sorted by source, then target, per graph), ``x`` ``(N, 1)``
        float32 ones (the graphs have no features: structure is all there is), ``y`` ``(G,)``
        float32, splits ``train``/``val``/``test``, and metadata ``name``
        (``counting-<target>``), ``target``, ``target_std``, ``counts`` (``(G, 4)`` int64
        raw counts of every target, columns as :data:`COUNTING_TARGETS`), ``seed``.

    Raises:
        ValueError: an unknown ``target`` or an argument out of range (named in the message).
    """
    if target not in COUNTING_TARGETS:
        raise ValueError(f"target must be one of {list(COUNTING_TARGETS)}, got {target!r}")
    for name, value in (("num_train", num_train), ("num_val", num_val),
                        ("num_test", num_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    total = num_train + num_val + num_test
    edges, sizes = random_counting_graphs(total, num_nodes=num_nodes,
                                          edge_probability=edge_probability, degrees=degrees,
                                          regular_fraction=regular_fraction, seed=seed)
    counts = _batched_graph_counts(edges, sizes)
    column = counts[:, COUNTING_TARGETS.index(target)]
    std = float(column.std()) if standardize else 1.0
    if standardize and not std > 0:
        raise ValueError(f"every graph has the same {target} count ({float(column[0]):g}): "
                         "nothing to learn; widen num_nodes or edge_probability")
    both = [np.concatenate([pairs, pairs[::-1]], axis=1) for pairs in edges]
    ordered = [pairs[:, np.lexsort((pairs[1], pairs[0]))] for pairs in both]
    edge_index = torch.from_numpy(np.concatenate(ordered, axis=1)
                                  if ordered else np.zeros((2, 0), np.int64))
    node_ptr = torch.as_tensor(ptr_from_counts(np.asarray(sizes, dtype=np.int64)))
    edge_ptr = torch.as_tensor(ptr_from_counts(
        np.asarray([pairs.shape[1] for pairs in ordered], dtype=np.int64)))
    splits = {"train": torch.arange(num_train),
              "val": torch.arange(num_train, num_train + num_val),
              "test": torch.arange(num_train + num_val, total)}
    return GraphDataset(
        edge_index=edge_index, node_ptr=node_ptr.long(), edge_ptr=edge_ptr.long(),
        x=torch.ones(int(node_ptr[-1]), 1), y=(column / std).float(), splits=splits,
        metadata={"name": f"counting-{target}", "target": target, "target_std": std,
                  "counts": counts.long(), "seed": seed,
                  "source": "generated by gnnkit.datasets.counting"})



# ---------------------------------------------------------------------------- the 1-WL bound
def wl_classes(dataset: GraphDataset) -> Tensor:
    """``(G,)`` int64 class of every graph: graphs share a class iff 1-WL colour refinement
    (run jointly on all graphs, from one colour, until the colouring is stable) gives them the
    same colour histogram, i.e. iff no 1-WL-bounded model (GIN, GCN, …) on constant node
    features can tell them apart. Edges are read as stored (both directions expected)."""
    num_graphs = len(dataset)
    sizes = (dataset.node_ptr[1:] - dataset.node_ptr[:-1]).tolist()
    neighbours: list[list[list[int]]] = []
    for g in range(num_graphs):
        edges = dataset[g].edge_index.tolist()
        adjacent: list[list[int]] = [[] for _ in range(sizes[g])]
        for source, target in zip(edges[0], edges[1], strict=True):
            adjacent[target].append(source)
        neighbours.append(adjacent)
    colours = [[0] * n for n in sizes]
    count = 1
    for _ in range(max(sizes, default=0) + 1):
        table: dict[tuple[int, tuple[int, ...]], int] = {}
        colours = [[table.setdefault((c[v], tuple(sorted(c[w] for w in adjacent[v]))),
                                     len(table)) for v in range(len(adjacent))]
                   for c, adjacent in zip(colours, neighbours, strict=True)]
        if len(table) == count:  # no colour class split: stable
            break
        count = len(table)
    histograms: dict[tuple[tuple[int, int], ...], int] = {}
    ids = [histograms.setdefault(tuple(sorted(Counter(c).items())), len(histograms))
           for c in colours]
    return torch.tensor(ids, dtype=torch.long)


def wl_mae_floor(dataset: GraphDataset, split: str = "test") -> float:
    """The smallest MAE on ``dataset.splits[split]`` of any prediction that is a function of
    the 1-WL colouring (:func:`wl_classes`): within each class of the split's graphs the best
    constant is the median target. A 1-WL-bounded model cannot score below it on that split.

    Raises:
        ValueError: ``dataset`` has no ``y`` or no such split.
    """
    if dataset.y is None:
        raise ValueError("dataset has no targets (y is None)")
    if split not in dataset.splits:
        raise ValueError(f"split {split!r} not in the dataset's splits {sorted(dataset.splits)}")
    index = dataset.splits[split]
    classes = wl_classes(dataset)[index]
    y = dataset.y.reshape(len(dataset), -1)[index].double()
    total = 0.0
    for value in classes.unique().tolist():
        members = y[classes == value]
        # median of an even count: any point between the middle two is optimal for L1
        total += float((members - members.median(dim=0).values).abs().sum())
    return total / max(1, int(index.numel()) * y.shape[1])
