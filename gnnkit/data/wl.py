"""The 1-WL test (colour refinement) on many graphs at once: an oracle independent of any model.

Colour refinement (Weisfeiler & Leman, 1968; the "1-WL test" of Xu et al., "How Powerful are
Graph Neural Networks?", ICLR 2019, and Morris et al., "Weisfeiler and Leman Go Neural",
AAAI 2019) gives every node an initial colour and then, round after round, replaces it with
an injective id of

.. math::
    \\big(c_t(v),\\ \\{\\!\\{ c_t(u) : u \\in \\mathcal{N}(v) \\}\\!\\}\\big),

its own colour and the multiset of its neighbours' colours, until the partition of the nodes
into colour classes stops getting finer (at most ``N - 1`` rounds refine it).

**Joint refinement.** All graphs of a dataset or batch are refined *together*, as one
disjoint union: colour ids are global, so a colour means the same thing in every graph. Two
graphs are 1-WL-indistinguishable if and only if their colour histograms (the multiset of
their nodes' colours) at the stable round of the joint refinement are equal — the classical
test runs colour refinement on ``G ⊔ H`` and compares the two histograms. Histograms that
differ at some round still differ at every later round, and the new colour includes the old
one, so comparing the histograms of the stable round is the same as comparing them at every
round. No message-passing network (MPNN) can separate graphs that 1-WL cannot (Xu et al.,
Lemma 2; Morris et al., Theorem 1), which makes this module the upper bound that the
expressivity benchmark (:mod:`gnnkit.bench.tasks.expressivity`) checks models against.

**Vectorised and exact.** No per-node Python loop and no hashing: each round sorts the
``(target, neighbour colour)`` pairs and names every node's sorted neighbour-colour sequence by
prefix doubling (blocks of 1, 2, 4, … colours get dense ids from ``torch.unique`` on the pair
of their halves' ids), then ``torch.unique`` of ``(old colour, sequence id)`` gives the new
colours. A round costs ``O(E log E)``; equal multisets always get equal ids and different ones
different ids (no collisions), whatever the degrees.

**Edges are used as given.** A node's neighbours are the sources of its incoming edges
(gnnkit's orientation: messages flow source → target, as in every layer of
:mod:`gnnkit.nn`), so undirected graphs must list both directions — every reader of
:mod:`gnnkit.datasets` does. A directed edge list is refined as a directed graph (each node
sees its in-neighbours only); duplicate edges count as many times as they are stored, and a
self-loop makes a node its own neighbour (as sum aggregation does). Graphs with no nodes,
no edges or isolated nodes are fine: a node without in-neighbours has the empty multiset.

**Initial colours.** ``initial="labels"`` (default) colours nodes by their feature rows ``x``
(rows compared exactly; ``(N,)`` labels or ``(N, F)`` rows, e.g. one-hot atom types), or
uniformly when the graphs have no ``x``; ``"uniform"`` ignores ``x``; a tensor gives the
initial colours (or rows) directly.

Example — two triangles and a hexagon are both 2-regular with six nodes, so 1-WL cannot tell
them apart, while a 4-cycle and a 4-path differ in their degrees::

    >>> import torch
    >>> from gnnkit.datasets import Graph
    >>> from gnnkit.data.wl import wl_classes
    >>> def undirected(pairs, n):
    ...     e = torch.tensor(pairs).T
    ...     return Graph(torch.cat([e, e.flip(0)], dim=1), num_nodes=n)
    >>> triangles = undirected([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)], 6)
    >>> hexagon = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)], 6)
    >>> cycle = undirected([(0, 1), (1, 2), (2, 3), (3, 0)], 4)
    >>> path = undirected([(0, 1), (1, 2), (2, 3)], 4)
    >>> wl_classes([triangles, hexagon, cycle, path]).tolist()
    [0, 0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor

from gnnkit.datasets import Graph, GraphDataset
from gnnkit.sparse import index_from_counts, index_from_ptr, ptr_from_counts

from .batch import GraphBatch

__all__ = [
    "WLColoring",
    "count_equivalent_pairs",
    "wl_classes",
    "wl_colors",
    "wl_equivalent_pairs",
    "wl_histograms",
    "wl_separates",
]

#: What the functions of this module refine: a dataset, a batch, one graph, a list of graphs,
#: or an already computed :class:`WLColoring` (reused as is).
WLInput = Union[GraphDataset, GraphBatch, Graph, Sequence[Graph], "WLColoring"]

INITIAL = ("labels", "uniform")


@dataclass(frozen=True)
class WLColoring:
    """The colours of a joint 1-WL refinement of ``G`` graphs (see :func:`wl_colors`).

    Attributes:
        colors: ``(N,)`` int64 colour of every node, dense ids ``0 … num_colors − 1``, global
            across the graphs (equal ids mean equal colours in any two graphs). The ids are
            canonical for the input *set*: they do not depend on node order within a graph.
        ptr: ``(G + 1,)`` int64 node pointer: graph ``g`` owns nodes ``ptr[g]:ptr[g+1]``.
        rounds: refinement rounds that made the partition finer.
        stable: ``True`` when a further round was run and left the partition unchanged (the
            colours are the stable colouring); ``False`` when ``max_iterations`` stopped the
            refinement first (the colours are those of round ``max_iterations``: what
            ``max_iterations`` message-passing layers can separate at most).
    """

    colors: Tensor
    ptr: Tensor
    rounds: int
    stable: bool

    @property
    def num_graphs(self) -> int:
        """``G``."""
        return int(self.ptr.numel()) - 1

    @property
    def num_colors(self) -> int:
        """Number of distinct colours over all graphs."""
        return int(self.colors.max()) + 1 if self.colors.numel() else 0

    def classes(self) -> Tensor:
        """``(G,)`` int64: graphs with equal colour histograms get equal ids (numbered in
        order of first appearance, so graph 0 is in class 0); see :func:`wl_classes`."""
        graph = index_from_ptr(self.ptr, total=self.colors.numel())
        return _first_appearance_ids(_multiset_ids(graph, self.colors, self.num_graphs))

    def histograms(self) -> list[tuple[tuple[int, int], ...]]:
        """Every graph's colour histogram as a canonical key: the ``(colour, count)`` pairs
        in increasing colour order (an empty tuple for a graph with no nodes). Two graphs are
        1-WL-equivalent iff their keys are equal."""
        num_colors = max(self.num_colors, 1)
        graph = index_from_ptr(self.ptr, total=self.colors.numel())
        keys, counts = torch.unique(graph * num_colors + self.colors, return_counts=True)
        per_graph = torch.bincount(keys // num_colors, minlength=self.num_graphs).tolist()
        pairs = list(zip((keys % num_colors).tolist(), counts.tolist(), strict=True))
        histograms, start = [], 0
        for size in per_graph:
            histograms.append(tuple(pairs[start:start + size]))
            start += size
        return histograms


# ---------------------------------------------------------------------------- the refinement
def _multiset_ids(owner: Tensor, values: Tensor, num_owners: int) -> Tensor:
    """``(num_owners,)`` int64 ids of the multisets ``{values[i] : owner[i] = o}``.

    Equal multisets get equal ids and different multisets different ids (ids ``>= 0``; an
    empty multiset gets ``-1``). ``values`` are dense non-negative ids. Exact, without padding
    to the largest multiset: the entries of each owner are sorted, which makes a multiset a
    sequence; sequences are then named by prefix doubling — at level ``j`` every block of
    ``2^j`` consecutive entries gets the dense id of the pair (left half's id, right half's
    id or ``-1`` past the end), computed jointly for all owners with ``torch.unique``. After
    ``ceil(log2(longest))`` levels each owner has one block, and two owners' blocks have the
    same id iff their sequences (padded with ``-1``, which no value equals) are equal.
    """
    ids = torch.full((num_owners,), -1, dtype=torch.long, device=values.device)
    if values.numel() == 0:
        return ids
    num_values = int(values.max()) + 1
    order = torch.argsort(owner * num_values + values)
    block_owner, rank = owner[order], values[order]
    counts = torch.bincount(block_owner, minlength=num_owners)
    start = ptr_from_counts(counts, check=False)[:-1]
    block = torch.arange(block_owner.numel(), device=values.device) - start[block_owner]
    longest = int(counts.max())
    levels = max(longest - 1, 0).bit_length()  # ceil(log2(longest)); 0 for singletons
    for _ in range(levels):
        left = torch.nonzero(block % 2 == 0).view(-1)
        right = left + 1
        inside = right < block_owner.numel()
        right = right.clamp(max=block_owner.numel() - 1)
        # blocks are sorted by (owner, block) and numbered 0, 1, … per owner: the entry
        # after an even block is its right sibling exactly when it has the same owner
        has_right = inside & (block_owner[right] == block_owner[left])
        right_rank = torch.where(has_right, rank[right], torch.full_like(right, -1))
        width = int(rank.max()) + 2
        rank = torch.unique(rank[left] * width + (right_rank + 1), return_inverse=True)[1]
        block_owner, block = block_owner[left], block[left] // 2
    ids[block_owner] = rank
    return ids


def _dense(values: Tensor) -> Tensor:
    """Dense ids ``0 … k − 1`` of ``values`` (``(N,)`` integers or ``(N, F)`` rows, compared
    exactly), in sorted order of the values: canonical, independent of position."""
    if values.dim() == 1:
        return torch.unique(values, return_inverse=True)[1]
    return torch.unique(values, dim=0, return_inverse=True)[1]


def _first_appearance_ids(ids: Tensor) -> Tensor:
    """Renumber ``ids`` ``0, 1, …`` in order of first appearance."""
    if ids.numel() == 0:
        return ids.long()
    dense = _dense(ids)
    count = int(dense.max()) + 1
    first = torch.full((count,), ids.numel(), dtype=torch.long, device=ids.device)
    first = first.scatter_reduce(0, dense, torch.arange(ids.numel(), device=ids.device),
                                 reduce="amin")
    rename = torch.empty_like(first)
    rename[torch.argsort(first)] = torch.arange(count, device=ids.device)
    return rename[dense]


def _structure(source: GraphDataset | GraphBatch | Graph | Sequence[Graph], labels: bool
               ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """``(source, target, ptr, x)`` with global node ids for everything :func:`wl_colors`
    accepts (``x`` only when ``labels`` asks for it: other initial colourings ignore it)."""
    if isinstance(source, GraphBatch):
        return source.adj.col.long(), source.adj.row.long(), source.ptr.long(), source.x
    if isinstance(source, GraphDataset):
        edge_graph = index_from_ptr(source.edge_ptr, total=source.edge_index.shape[1])
        offset = source.node_ptr[edge_graph]
        return (source.edge_index[0] + offset, source.edge_index[1] + offset,
                source.node_ptr, source.x)
    if isinstance(source, Graph):
        source = [source]
    if isinstance(source, (str, bytes)) or not isinstance(source, Sequence):
        raise TypeError(f"graphs must be a GraphDataset, a GraphBatch, a Graph or a sequence "
                        f"of Graph, got {type(source).__name__}")
    graphs = list(source)
    if not graphs:
        raise ValueError("graphs is empty: 1-WL needs at least one graph")
    for k, graph in enumerate(graphs):
        if not isinstance(graph, Graph):
            raise TypeError(f"graphs[{k}] must be a gnnkit.datasets.Graph, got "
                            f"{type(graph).__name__}")
    having = [g.x is not None for g in graphs]
    if labels and any(having) and not all(having):
        raise ValueError(f"graphs[{having.index(False)}].x is None but "
                         f"graphs[{having.index(True)}].x is set: give every graph node "
                         "labels or none (or pass initial='uniform')")
    device = graphs[0].edge_index.device
    node_counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long, device=device)
    edge_counts = torch.tensor([g.num_edges for g in graphs], dtype=torch.long, device=device)
    ptr = ptr_from_counts(node_counts, check=False)
    offset = torch.repeat_interleave(ptr[:-1], edge_counts)
    local = torch.cat([g.edge_index.to(device) for g in graphs], dim=1)
    x = None
    if labels and all(having):
        x = torch.cat([g.x.reshape(g.num_nodes, -1).to(device) for g in graphs])  # type: ignore[union-attr]
    return local[0] + offset, local[1] + offset, ptr, x


def _initial_colors(initial: str | Tensor, x: Tensor | None, num_nodes: int,
                    device: torch.device) -> Tensor:
    if isinstance(initial, Tensor):
        if initial.dim() == 0 or initial.shape[0] != num_nodes:
            raise ValueError(f"initial colours must have one entry (or row) per node, "
                             f"({num_nodes}, ...), got shape {tuple(initial.shape)}")
        x = initial.to(device)
    elif initial not in INITIAL:
        raise ValueError(f"initial must be one of {list(INITIAL)} or a tensor of initial "
                         f"colours, got {initial!r}")
    elif initial == "uniform":
        x = None
    if x is None or num_nodes == 0:
        return torch.zeros(num_nodes, dtype=torch.long, device=device)
    if x.shape[0] != num_nodes:
        raise ValueError(f"x has {x.shape[0]} rows for {num_nodes} nodes")
    rows = x.reshape(num_nodes, -1)
    return _dense(rows[:, 0] if rows.shape[1] == 1 else rows)


def wl_colors(graphs: WLInput, *, initial: str | Tensor = "labels",
              max_iterations: int | None = None) -> WLColoring:
    """Refine the colours of all ``graphs`` jointly until the partition is stable.

    Args:
        graphs: a :class:`~gnnkit.datasets.GraphDataset`, a :class:`~gnnkit.data.GraphBatch`,
            one :class:`~gnnkit.datasets.Graph` or a sequence of them (a :class:`WLColoring`
            is returned unchanged). Edges are used as given (see the module docstring:
            undirected graphs list both directions).
        initial: ``"labels"`` (node rows ``x`` compared exactly; uniform without ``x``),
            ``"uniform"``, or a tensor ``(N,)``/``(N, F)`` of initial colours or rows.
        max_iterations: cap on refinement rounds (``None``: until stable, which takes at
            most ``N − 1`` rounds). With ``L`` the colours separate exactly what ``L`` rounds
            of 1-WL separate: an upper bound for ``L`` message-passing layers.

    Returns:
        the :class:`WLColoring` (colours ``(N,)``, graph pointer, rounds, stability).

    Raises:
        TypeError, ValueError: an input that is not graphs, graphs of which only some have
            ``x``, an unknown ``initial``, a negative ``max_iterations``.
    """
    if isinstance(graphs, WLColoring):
        return graphs
    if max_iterations is not None and (isinstance(max_iterations, bool)
                                       or not isinstance(max_iterations, int)
                                       or max_iterations < 0):
        raise ValueError(f"max_iterations must be a non-negative int or None, got "
                         f"{max_iterations!r}")
    source, target, ptr, x = _structure(graphs, isinstance(initial, str) and initial == "labels")
    num_nodes = int(ptr[-1])
    colors = _initial_colors(initial, x, num_nodes, ptr.device)
    # a partition of N nodes can get finer at most N - 1 times; one more round confirms it
    cap = num_nodes if max_iterations is None else max_iterations
    rounds, stable = 0, False
    count = int(colors.max()) + 1 if num_nodes else 0
    for _ in range(cap):
        neighbours = _multiset_ids(target, colors[source], num_nodes)
        width = int(neighbours.max()) + 2
        refined = torch.unique(colors * width + (neighbours + 1), return_inverse=True)[1]
        refined_count = int(refined.max()) + 1
        if refined_count == count:  # the new partition refines the old one: same size = same
            stable = True
            break
        colors, count, rounds = refined, refined_count, rounds + 1
    if num_nodes == 0:
        stable = True
    return WLColoring(colors=colors, ptr=ptr.long(), rounds=rounds, stable=stable)


def wl_histograms(graphs: WLInput, *, initial: str | Tensor = "labels",
                  max_iterations: int | None = None) -> list[tuple[tuple[int, int], ...]]:
    """Every graph's stable colour histogram as a canonical, hashable key: ``(colour,
    count)`` pairs in increasing colour order, colours of the joint refinement
    (:func:`wl_colors`; arguments as there). Equal keys ⟺ 1-WL-indistinguishable graphs."""
    return wl_colors(graphs, initial=initial, max_iterations=max_iterations).histograms()


def wl_classes(graphs: WLInput, *, initial: str | Tensor = "labels",
               max_iterations: int | None = None) -> Tensor:
    """``(G,)`` int64 1-WL class of every graph: two graphs get the same id iff 1-WL cannot
    tell them apart (equal stable colour histograms of the joint refinement). Ids are
    numbered in order of first appearance. Arguments as :func:`wl_colors`."""
    return wl_colors(graphs, initial=initial, max_iterations=max_iterations).classes()


def count_equivalent_pairs(classes: Tensor) -> int:
    """Number of unordered pairs ``{i, j}``, ``i ≠ j``, with ``classes[i] == classes[j]``:
    ``Σ_c n_c (n_c − 1) / 2`` over the class sizes ``n_c``."""
    if classes.numel() == 0:
        return 0
    sizes = torch.bincount(_dense(classes.view(-1)))
    return int((sizes * (sizes - 1) // 2).sum())


def wl_equivalent_pairs(graphs: WLInput | Tensor, *, initial: str | Tensor = "labels",
                        max_iterations: int | None = None) -> Tensor:
    """All unordered pairs of 1-WL-equivalent graphs as ``(2, P)`` int64 graph indices,
    ``i < j`` in each column, columns sorted; ``P`` is :func:`count_equivalent_pairs`.

    ``graphs`` may also be a ``(G,)`` tensor of classes (from :func:`wl_classes`). The
    result has ``Σ_c n_c (n_c − 1) / 2`` columns: a large class makes it large (a family of
    ``n`` strongly regular graphs gives all ``n (n − 1) / 2`` pairs)."""
    classes = graphs if isinstance(graphs, Tensor) else wl_classes(
        graphs, initial=initial, max_iterations=max_iterations)
    device = classes.device
    if classes.numel() < 2:
        return torch.zeros(2, 0, dtype=torch.long, device=device)
    order = torch.argsort(_dense(classes.view(-1)) * classes.numel()
                          + torch.arange(classes.numel(), device=device))
    sizes = torch.bincount(_dense(classes.view(-1)))
    group_start = ptr_from_counts(sizes, check=False)[:-1]
    member_group = index_from_counts(sizes, total=classes.numel())
    within = torch.arange(classes.numel(), device=device) - group_start[member_group]
    partners = sizes[member_group] - 1 - within  # later members of the same class
    first = torch.repeat_interleave(torch.arange(classes.numel(), device=device), partners)
    step = torch.arange(first.numel(), device=device) - torch.repeat_interleave(
        ptr_from_counts(partners, check=False)[:-1], partners)
    second = first + 1 + step
    # members are sorted by graph index within a class, so order[first] < order[second]
    low, high = order[first], order[second]
    columns = torch.argsort(low * classes.numel() + high)
    return torch.stack([low[columns], high[columns]])


def wl_separates(graphs: WLInput | Tensor, pairs: Tensor, *, initial: str | Tensor = "labels",
                 max_iterations: int | None = None) -> Tensor:
    """``(P,)`` bool: whether 1-WL tells graph ``pairs[0, p]`` from graph ``pairs[1, p]``.

    ``graphs`` may also be a ``(G,)`` tensor of classes (from :func:`wl_classes`);
    ``pairs`` is ``(2, P)`` graph indices (e.g. EXP's ``(2i, 2i + 1)``)."""
    classes = graphs if isinstance(graphs, Tensor) else wl_classes(
        graphs, initial=initial, max_iterations=max_iterations)
    if pairs.dim() != 2 or pairs.shape[0] != 2:
        raise ValueError(f"pairs must be (2, P) graph indices, got shape {tuple(pairs.shape)}")
    pairs = pairs.to(classes.device).long()
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= classes.numel()):
        raise IndexError(f"pairs reference graphs outside [0, {classes.numel() - 1}]")
    return classes[pairs[0]] != classes[pairs[1]]
