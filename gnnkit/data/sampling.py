"""Neighbour sampling for mini-batch training: :func:`sample_neighbors` and
:func:`sampling_generator` (the loader over seed nodes is :mod:`gnnkit.data.loader`).

A ``K``-layer message-passing network computes a node's output from its ``K``-hop
in-neighbourhood. Neighbour sampling (Hamilton et al., "Inductive Representation Learning on
Large Graphs", NeurIPS 2017) bounds that neighbourhood: hop ``h`` keeps at most
``fanouts[h - 1]`` in-edges of every node first reached at hop ``h - 1`` (hop 0 = the seeds).

**Which index is sampled.** gnnkit stores a graph as ``A[target, source]`` (row = target), so
the in-neighbours of a node are one CSR row of ``A``: the sampler reads ``A.rowptr`` and
``A.col`` directly (this is what a column-major, CSC, layout is for PyG, whose ``edge_index``
is indexed ``[source, target]``). No transpose and no conversion is made; an edge id is the
entry's CSR position in ``A`` (so ``A.values[e_id]`` are the sampled edges' weights and an
edge-feature tensor in ``A``'s CSR order is gathered the same way).

**Output.** :class:`SampledSubgraph`: ``n_id`` (global ids of the local nodes, the seeds
first, then every hop's new nodes in order of first appearance), ``e_id`` and one rectangular
``(targets × sources)`` :class:`~gnnkit.sparse.SparseMatrix` per layer, first layer first,
whose targets are a prefix of its sources — so ``conv((h, h[:M]), A_l)`` runs on it
directly. Every node's in-edges are sampled once (when it is in the frontier), so the layer
matrices are nested: layer ``l`` is the first ``M_l`` rows of layer ``0`` (the same entries,
a prefix of ``e_id``), as in PyG's ``NeighborLoader`` with ``trim_to_layer``.

**Two paths, one sample.** On CPU, when gnnkit's C++ kernels are available (the backend
:func:`gnnkit.sparse.resolve_backend` picks), every hop runs in C++
(``gnnkit/sparse/_backends/cpu/csrc/sample.cpp``: one call counts the draws the hop needs,
one selects and relabels); elsewhere (GPU, no compiler, or
``gnnkit.sparse.use_backend("reference")`` / ``GNNKIT_BACKEND=reference``) the plain-torch
path below runs. Both draw their random numbers here, in torch, with the caller's generator
— the same count in the same order — and turn them into the same selection, so for a given
generator state the two samples are bit-identical (``n_id``, ``e_id``, every block). The
kernel selects every row's entries in parallel (each row's output slice is known from a
prefix sum of the per-row counts) and relabels through a hash map holding only the sample's
nodes, filled in output order (one sequential pass: new nodes are numbered in order of first
appearance, as below).

**The plain-torch path: vectorised, no loop over nodes or edges** (one loop over hops):

* *all* (``fanout = -1``, or a degree not above the fanout without replacement): the row's
  CSR positions, gathered with :func:`gnnkit.sparse.expand_ranges`.
* *without replacement, ``k < d < 4k``*: every candidate entry of those rows draws a
  uniform key; one sort by ``(row, key)`` (a single float64 key ``row + u/2``, which
  rounding can never move into the next row) orders each row randomly, and the first ``k``
  of each row are kept. That is a uniformly random ``k``-subset per row (the order of
  i.i.d. keys is a uniform random permutation). Cost ``O(C log C)`` for the ``C = Σ d``
  candidates of these rows, i.e. at most ``4k`` per row. The sort is stable: two keys of a
  row that round to the same float64 keep their CSR order, a fixed rule the kernel (which
  selects each row's ``k`` smallest ``(key, position)`` pairs) reproduces.
* *without replacement, ``d >= 4k``* (the hubs of a power-law graph, where one key per
  entry would make ``C`` the hubs' degrees): ``2k`` positions are drawn with replacement
  and the first ``k`` distinct ones, in draw order, are kept. The first ``k`` distinct
  values of an i.i.d. uniform sequence form a uniformly random ``k``-subset (the law is
  invariant under relabelling the entries, and so is the event "at least ``k`` distinct");
  a row where fewer than ``k`` distinct entries come up (rare: ``2k`` draws from ``d >= 4k``
  entries give about ``1.57k`` distinct ones on average) is redone with keys, drawn after
  all the other numbers of the hop (the kernel learns which rows failed only once it has
  the draws before them; fresh keys, so the law is unchanged). Cost ``O(k log k)`` per row
  whatever its degree: two sorts of ``2k`` draws per row (``O(k)`` with a small hash set in
  the kernel, which must consume these same draws, hence no Floyd's algorithm).
* *with replacement* (``replace=True``): ``k`` draws ``⌊u · d⌋`` per row with ``d > 0``,
  ``O(k)`` per row. ``fanout = -1`` then still means "every entry once".

Relabelling (plain-torch path) uses an ``(N,)`` map from global to local id, allocated per
call (``O(N)`` memset, thread- and process-safe); a hop's new nodes are found by one
``scatter_reduce`` (the first occurrence of each unseen id). The kernel's hash map instead
follows the batch (16-byte slots, 2 to 4 times as many as the local nodes plus the current
hop's sampled entries), so nothing of a CPU step grows with the graph. The rows of the
result are finally sorted by local source id (one stable sort of the sampled entries; per row
in the kernel), so every matrix is sorted within rows like one built by gnnkit's
constructors.

**Duplicate entries** (parallel edges stored twice in ``A``) are distinct candidates: a
neighbour linked by two entries is twice as likely to be drawn and may be drawn twice even
without replacement — sampling is over stored entries (edge ids), not over neighbour nodes.
Call :meth:`~gnnkit.sparse.SparseMatrix.coalesce` first for node-uniform sampling.

**Randomness.** Every draw uses the ``generator`` passed (``torch.Generator``), so the same
generator state gives the same sample. :func:`sampling_generator` derives a generator from
``(seed, epoch, rank, stream)``: the loader gives each batch its own stream, which makes a
sample independent of the number of worker processes and of the order they run in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    current_backend,
    expand_ranges,
    pair_keys,
    ptr_from_counts,
    resolve_backend,
)
from gnnkit.sparse._backends import cpu as _cpu_kernels

__all__ = [
    "SampledSubgraph",
    "check_fanouts",
    "check_seeds",
    "sample_neighbors",
    "sampling_generator",
]


def sampling_generator(seed: int, epoch: int = 0, rank: int = 0, stream: int = 0, *,
                       device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded from ``(seed, epoch, rank, stream)``.

    The four integers are hashed (BLAKE2b, 63 bits) rather than added, so neighbouring
    tuples — epoch 1 of rank 0 and epoch 0 of rank 1 — give unrelated streams. ``rank`` is
    the process rank of a multi-process run (0 alone); ``stream`` separates the draws of one
    epoch (the loader uses 0 for the shuffle and ``1 + b`` for batch ``b``).

    Examples:
        >>> g1 = sampling_generator(7, epoch=3)
        >>> g2 = sampling_generator(7, epoch=3)
        >>> bool(torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2)))
        True
    """
    parts = []
    for name, value in (("seed", seed), ("epoch", epoch), ("rank", rank), ("stream", stream)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        parts.append(str(value))
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))
    return generator


def check_fanouts(fanouts: Sequence[int]) -> tuple[int, ...]:
    """``fanouts`` as a tuple of ints, each ``-1`` (all) or positive; else ``ValueError``."""
    if isinstance(fanouts, (int, Tensor)) or not isinstance(fanouts, Sequence):
        raise TypeError(f"fanouts must be a sequence of ints (one per hop, e.g. [25, 10]), "
                        f"got {type(fanouts).__name__}")
    out = []
    for hop, fanout in enumerate(fanouts):
        if isinstance(fanout, bool) or not isinstance(fanout, int):
            raise TypeError(f"fanouts[{hop}] must be an int, got {type(fanout).__name__}")
        if fanout == 0 or fanout < -1:
            raise ValueError(f"fanouts[{hop}] = {fanout}: a fanout is a positive number of "
                             "neighbours per node, or -1 for all of them")
        out.append(int(fanout))
    if not out:
        raise ValueError("fanouts is empty: give one fanout per hop (layer), e.g. [25, 10]")
    return tuple(out)


def check_seeds(seeds: object, num_nodes: int) -> Tensor:
    """``seeds`` if it is a 1-D int64 tensor of distinct ids in ``[0, num_nodes)``, else
    ``TypeError``/``ValueError`` naming what is wrong."""
    if not isinstance(seeds, Tensor):
        raise TypeError(f"seeds must be a torch.Tensor of node ids, got {type(seeds).__name__}")
    if seeds.dtype != torch.int64:
        raise TypeError(f"seeds must have dtype int64, got {seeds.dtype} (use seeds.long(); "
                        "for a boolean mask use mask.nonzero().flatten())")
    if seeds.dim() != 1:
        raise ValueError(f"seeds must be 1-D (num_seeds,), got shape {tuple(seeds.shape)}")
    if seeds.numel():
        low, high = int(seeds.min()), int(seeds.max())
        if low < 0 or high >= num_nodes:
            raise ValueError(f"seeds must lie in [0, {num_nodes}) (the graph's nodes), found "
                             f"{low} … {high}")
        if torch.unique(seeds).numel() != seeds.numel():
            raise ValueError("seeds contains duplicate node ids; pass each seed once "
                             "(e.g. seeds.unique())")
    return seeds


@dataclass(frozen=True)
class SampledSubgraph:
    """The result of :func:`sample_neighbors` for ``B`` seeds and ``K`` hops.

    Attributes:
        n_id: ``(N,)`` int64 global id of every local node: the ``B`` seeds first (local id
            ``i`` is ``seeds[i]``), then each hop's new nodes.
        e_id: ``(E,)`` int64 CSR position in the input matrix of every entry of
            ``matrices[0]`` (in its CSR order); ``matrices[l]`` uses the prefix
            ``e_id[:matrices[l].nnz]``.
        matrices: ``K`` :class:`~gnnkit.sparse.SparseMatrix`, first layer first;
            ``matrices[l]`` is ``(M_l × N_l)``, row = target, column = source, local ids, its
            ``M_l`` targets are local nodes ``0 … M_l - 1`` (a prefix of its sources);
            ``matrices[-1]`` has the ``B`` seeds as targets. Values are the input's values at
            ``e_id`` (``None`` if the input has none).
        num_sampled_nodes: ``K + 1`` counts: seeds, then the new nodes of every hop.
        num_sampled_edges: ``K`` counts: the entries sampled at every hop.
    """

    n_id: Tensor
    e_id: Tensor
    matrices: tuple[SparseMatrix, ...]
    num_sampled_nodes: tuple[int, ...]
    num_sampled_edges: tuple[int, ...]

    @property
    def num_seeds(self) -> int:
        return self.num_sampled_nodes[0]

    @property
    def num_nodes(self) -> int:
        return int(self.n_id.numel())

    @property
    def num_edges(self) -> int:
        return int(self.e_id.numel())

    def edge_ids(self, layer: int) -> Tensor:
        """``(nnz,)`` input edge ids of ``matrices[layer]``'s entries."""
        return self.e_id[: self.matrices[layer].nnz]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> SampledSubgraph:
        """Every tensor moved to ``device``."""
        return SampledSubgraph(
            self.n_id.to(device, non_blocking=non_blocking),
            self.e_id.to(device, non_blocking=non_blocking),
            tuple(m.to(device, non_blocking=non_blocking) for m in self.matrices),
            self.num_sampled_nodes, self.num_sampled_edges)

    def pin_memory(self) -> SampledSubgraph:
        """A copy in pinned memory (called by ``DataLoader(pin_memory=True)``)."""
        return SampledSubgraph(self.n_id.pin_memory(), self.e_id.pin_memory(),
                               tuple(m.pin_memory() for m in self.matrices),
                               self.num_sampled_nodes, self.num_sampled_edges)


#: rows with degree >= this many times the fanout use oversampled draws (see the module
#: docstring); below it, one random key per entry
_OVERSAMPLE_FROM = 4
#: draws per row, as a multiple of the fanout, for those rows
_OVERSAMPLE_DRAWS = 2


def _keyed_subsets(rows: Tensor, begin: Tensor, degree: Tensor, fanout: int, out_ptr: Tensor,
                   positions: Tensor, generator: torch.Generator | None) -> None:
    """Write a uniform ``fanout``-subset of every row in ``rows`` (degree > fanout) into
    ``positions``: one uniform key per entry, one sort by ``(row, key)``, the first
    ``fanout`` of each row."""
    counts = degree[rows]
    n = int(counts.sum())
    device = begin.device
    candidates = expand_ranges(begin[rows], counts, total=n, check=False)
    local_row = torch.repeat_interleave(torch.arange(rows.numel(), device=device), counts,
                                        output_size=n)
    keys = _uniform(n, generator, device)
    # keys in [0, 0.5): row + key can never round up to the next row's range. Stable, so that
    # a tie (two keys of a row equal after the rounding of row + u/2) goes to the earlier CSR
    # position: a fixed rule, which the C++ kernel reproduces bit for bit.
    order = torch.sort(local_row.to(torch.float64) + 0.5 * keys, stable=True).indices
    # after the sort, row r's candidates occupy [start[r], start[r] + d_r) in random order
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n, device=device) - start[local_row]  # local_row is sorted
    keep = rank < fanout
    dest = out_ptr[rows][local_row[keep]] + rank[keep]
    positions[dest] = candidates[order[keep]]


def _oversampled_subsets(rows: Tensor, begin: Tensor, degree: Tensor, fanout: int,
                         out_ptr: Tensor, positions: Tensor,
                         generator: torch.Generator | None) -> Tensor:
    """For rows of degree ``d >= 4 · fanout``: draw ``2 · fanout`` entries with replacement
    and keep the first ``fanout`` distinct ones, in draw order; returns the rows where fewer
    than ``fanout`` distinct entries came up (the caller redoes them with keys)."""
    device = begin.device
    counts = degree[rows]
    draws = _OVERSAMPLE_DRAWS * fanout
    n = rows.numel() * draws
    owner = torch.arange(rows.numel(), device=device).repeat_interleave(draws)
    u = _uniform(n, generator, device)
    offset = (u * counts[owner]).long().clamp_(max=counts[owner] - 1)
    # first occurrence of every (row, offset): stable sort on the pair key
    key = owner * (int(counts.max()) + 1) + offset
    order = torch.sort(key, stable=True).indices
    sorted_key = key[order]
    first = torch.ones(n, dtype=torch.bool, device=device)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    # first occurrences back in draw order (draw index = row · draws + j, so row-major)
    kept = torch.sort(order[first]).values
    kept_row = kept // draws
    distinct = torch.bincount(kept_row, minlength=rows.numel())
    start = torch.cumsum(distinct, 0) - distinct
    rank = torch.arange(kept.numel(), device=device) - start[kept_row]
    enough = distinct >= fanout
    keep = (rank < fanout) & enough[kept_row]
    dest = out_ptr[rows][kept_row[keep]] + rank[keep]
    positions[dest] = begin[rows][kept_row[keep]] + offset[kept[keep]]
    return rows[~enough]


def _draw_without_replacement(begin: Tensor, degree: Tensor, fanout: int, out_ptr: Tensor,
                              total: int, generator: torch.Generator | None) -> Tensor:
    """CSR positions of a uniform ``min(d, fanout)``-subset of every row (rows grouped in
    order, ``out_ptr`` their output offsets)."""
    positions = torch.empty(total, dtype=torch.int64, device=begin.device)
    small = degree <= fanout
    # rows that keep every entry: their positions go to [out_ptr[i], out_ptr[i] + d_i)
    small_rows = small.nonzero().flatten()
    if small_rows.numel():
        counts = degree[small_rows]
        n = int(counts.sum())
        source = expand_ranges(begin[small_rows], counts, total=n, check=False)
        dest = expand_ranges(out_ptr[small_rows], counts, total=n, check=False)
        positions[dest] = source
    huge = degree >= _OVERSAMPLE_FROM * fanout
    keyed_rows = (~small & ~huge).nonzero().flatten()
    huge_rows = huge.nonzero().flatten()
    failed = huge_rows[:0]
    if huge_rows.numel():
        failed = _oversampled_subsets(huge_rows, begin, degree, fanout, out_ptr, positions,
                                      generator)
    if keyed_rows.numel():
        _keyed_subsets(keyed_rows, begin, degree, fanout, out_ptr, positions, generator)
    # The failed hub rows' keys are drawn last, apart from the mid rows' keys: the C++
    # kernel learns which rows failed only after consuming the draws before them, so this
    # order lets it consume exactly the same numbers (same law: fresh independent keys).
    if failed.numel():
        _keyed_subsets(failed, begin, degree, fanout, out_ptr, positions, generator)
    return positions


def sample_neighbors(A: SparseMatrix, seeds: Tensor, fanouts: Sequence[int], *,
                     replace: bool = False, generator: torch.Generator | None = None
                     ) -> SampledSubgraph:
    """Sample the ``len(fanouts)``-hop in-neighbourhood of ``seeds`` (module docstring).

    Args:
        A: the square ``N × N`` graph, row = target, column = source.
        seeds: ``(B,)`` int64 distinct node ids.
        fanouts: entries kept per node at each hop (hop 1 first; ``-1`` = all).
        replace: draw with replacement (``fanout`` draws per node with at least one entry).
        generator: the random source (``None``: torch's global generator).

    Returns:
        a :class:`SampledSubgraph`; ``matrices[l]`` feeds layer ``l`` of a ``K``-layer model
        and ``matrices[-1]``'s rows are the seeds.

    Raises:
        TypeError: ``A`` is not a ``SparseMatrix``, ``seeds`` not an int64 tensor, a fanout
            not an int.
        ValueError: a non-square ``A``; seeds not 1-D, out of ``[0, N)`` or repeated; a
            fanout that is 0 or below -1.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[1, 2, 3, 0], [0, 0, 1, 2]]))
        >>> sub = sample_neighbors(A, torch.tensor([0]), [-1, -1])
        >>> sub.n_id.tolist(), [m.shape for m in sub.matrices]
        ([0, 1, 2, 3], [(3, 4), (1, 3)])
    """
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit SparseMatrix, got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square (sampled sources become the next hop's targets), "
                         f"got shape {A.shape}")
    fanouts = check_fanouts(fanouts)
    seeds = check_seeds(seeds, A.num_rows)
    if seeds.device != A.device:
        raise ValueError(f"seeds are on {seeds.device} but A is on {A.device}")
    sample_hops = _hops_kernel if _use_kernel(A.device) else _hops_reference
    hops = sample_hops(A.rowptr, A.col, seeds, fanouts, replace, generator)
    return _assemble(A, hops, len(fanouts))


def _use_kernel(device: torch.device) -> bool:
    """Whether the C++ kernel samples: on CPU when the ``cpu`` backend is what
    :func:`gnnkit.sparse.resolve_backend` picks (so ``use_backend("reference")`` and
    ``GNNKIT_BACKEND=reference`` force plain torch, and a failed build falls back to it)."""
    if device.type != "cpu":
        return False
    forced = current_backend()
    if forced is not None and forced != "cpu":
        return False  # the reference (or a GPU backend, which has no sampler): plain torch
    return resolve_backend(device) == "cpu"


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``n`` float64 uniforms in ``[0, 1)``: every draw of the sampler, on both paths, goes
    through here, so that both consume the generator identically."""
    if n == 0:
        return torch.empty(0, dtype=torch.float64, device=device)
    return torch.rand(n, generator=generator, dtype=torch.float64, device=device)


@dataclass(frozen=True)
class _Hops:
    """What a sampling path returns: local nodes, sampled entries (rows in order, sorted by
    local source within a row) and per-hop counts."""

    n_id: Tensor
    e_id: Tensor
    local_col: Tensor
    counts: Tensor  # entries per target, every node of hops 0 … K-1
    nodes_per_hop: list[int]
    edges_per_hop: list[int]


def _hops_kernel(rowptr: Tensor, col: Tensor, seeds: Tensor, fanouts: tuple[int, ...],
                 replace: bool, generator: torch.Generator | None) -> _Hops:
    """The C++ path: per hop, the draws of :func:`_hops_reference` (same counts, same
    order), then one kernel call that selects and relabels; the relabelling map is a hash
    map sized by the batch."""
    device = seeds.device
    table = _cpu_kernels.sample_table(seeds)
    node_parts, e_parts, col_parts, count_parts = [seeds], [], [], []
    nodes_per_hop, edges_per_hop = [seeds.numel()], []
    num_local, frontier = seeds.numel(), seeds
    for fanout in fanouts:
        info, n_first, n_keys = _cpu_kernels.sample_hop_plan(rowptr, frontier, fanout, replace)
        u_first = _uniform(n_first, generator, device)
        u_keys = _uniform(n_keys, generator, device)
        fallback, take, e_id, local_col, new_nodes, table = _cpu_kernels.sample_hop(
            col, info, fanout, replace, u_first, u_keys, None, table, num_local)
        if fallback:  # a hub row drew < fanout distinct entries: its keys come last
            u_fallback = _uniform(fallback, generator, device)
            fallback, take, e_id, local_col, new_nodes, table = _cpu_kernels.sample_hop(
                col, info, fanout, replace, u_first, u_keys, u_fallback, table, num_local)
        node_parts.append(new_nodes)
        e_parts.append(e_id)
        col_parts.append(local_col)
        count_parts.append(take)
        nodes_per_hop.append(new_nodes.numel())
        edges_per_hop.append(e_id.numel())
        num_local += new_nodes.numel()
        frontier = new_nodes
    return _Hops(torch.cat(node_parts), torch.cat(e_parts), torch.cat(col_parts),
                 torch.cat(count_parts), nodes_per_hop, edges_per_hop)


def _hops_reference(rowptr: Tensor, col: Tensor, seeds: Tensor, fanouts: tuple[int, ...],
                    replace: bool, generator: torch.Generator | None) -> _Hops:
    """The plain-torch path (any device): vectorised per hop, an ``(N,)`` relabelling map."""
    device = seeds.device
    num_nodes = rowptr.numel() - 1
    local_id = torch.full((num_nodes,), -1, dtype=torch.int64, device=device)
    local_id[seeds] = torch.arange(seeds.numel(), device=device)
    node_parts, position_parts, count_parts = [seeds], [], []
    nodes_per_hop, edges_per_hop = [seeds.numel()], []
    num_local, frontier = seeds.numel(), seeds
    for fanout in fanouts:
        begin = rowptr[frontier].long()
        degree = rowptr[frontier + 1].long() - begin
        if fanout == -1:
            take = degree
        elif replace:
            take = torch.where(degree > 0, fanout, 0)
        else:
            take = degree.clamp(max=fanout)
        out_ptr = torch.cumsum(take, 0) - take
        total = int(take.sum())
        if fanout == -1:
            positions = expand_ranges(begin, degree, total=total, check=False)
        elif replace:
            row = torch.repeat_interleave(torch.arange(frontier.numel(), device=device), take,
                                          output_size=total)
            u = _uniform(total, generator, device)
            offset = (u * degree[row]).long().clamp_(max=(degree[row] - 1).clamp(min=0))
            positions = begin[row] + offset
        else:
            positions = _draw_without_replacement(begin, degree, fanout, out_ptr, total,
                                                  generator)
        sources = col[positions].long()
        # relabel: the first occurrence of every not-yet-seen source becomes a new local node
        unseen = sources[local_id[sources] < 0]
        if unseen.numel():
            order = torch.arange(unseen.numel(), device=device)
            local_id.scatter_reduce_(0, unseen, -2 - order, reduce="amax", include_self=False)
            new_nodes = unseen[local_id[unseen] == -2 - order]
            local_id[new_nodes] = torch.arange(num_local, num_local + new_nodes.numel(),
                                               device=device)
        else:
            new_nodes = unseen
        node_parts.append(new_nodes)
        position_parts.append(positions)
        count_parts.append(take)
        nodes_per_hop.append(new_nodes.numel())
        edges_per_hop.append(total)
        num_local += new_nodes.numel()
        frontier = new_nodes

    positions = torch.cat(position_parts)
    counts = torch.cat(count_parts)
    num_targets = counts.numel()  # every node of hops 0 … K-1 is a target of layer 0
    local_col = local_id[col[positions].long()]
    local_row = torch.repeat_interleave(torch.arange(num_targets, device=device), counts,
                                        output_size=positions.numel())
    # rows are already grouped; sort within rows by local source (stable: duplicates keep order)
    order = torch.sort(pair_keys(local_row, local_col, max(num_targets, 1), max(num_local, 1),
                                 check=False), stable=True).indices
    return _Hops(torch.cat(node_parts), positions[order], local_col[order], counts,
                 nodes_per_hop, edges_per_hop)


def _assemble(A: SparseMatrix, hops: _Hops, K: int) -> SampledSubgraph:
    """The nested per-layer matrices over the sampled entries of ``hops``."""
    rowptr_all = ptr_from_counts(hops.counts, check=False)
    values = None if A.values is None else A.values[hops.e_id]
    nodes_per_hop, edges_per_hop = hops.nodes_per_hop, hops.edges_per_hop
    matrices = []
    for layer in range(K):
        rows = sum(nodes_per_hop[: K - layer])
        sources = rows + nodes_per_hop[K - layer]
        nnz = sum(edges_per_hop[: K - layer])
        matrices.append(SparseMatrix(rowptr_all[: rows + 1], hops.local_col[:nnz],
                                     None if values is None else values[:nnz],
                                     (rows, sources)))
    return SampledSubgraph(hops.n_id, hops.e_id, tuple(matrices), tuple(nodes_per_hop),
                           tuple(edges_per_hop))
