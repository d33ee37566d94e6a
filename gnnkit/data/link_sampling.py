"""Link-level sampling: mini-batches over seed *pairs* for link prediction
(:func:`sample_links`); the loader over pairs is :mod:`gnnkit.data.link_loader`. The subgraph
a node set induces, with the edge ids of its entries, is
:func:`gnnkit.sparse.induced_subgraph` ``(A, nodes, return_edge_ids=True)``.

A link predictor scores a pair ``(s, t)`` from the embeddings of both endpoints, so a batch of
``B`` pairs needs the ``K``-hop in-neighbourhood of their endpoints. :func:`sample_links` makes
the endpoints the seed nodes of :func:`gnnkit.data.sampling.sample_neighbors` and returns the
pairs relabelled to the sampled subgraph's local ids.

**Pairs** follow PyG's ``edge_index`` orientation: ``pairs[0]`` are the sources,
``pairs[1]`` the targets, and pair ``(s, t)`` is stored in ``A`` as the entry ``A[t, s]``
(row = target, as everywhere in gnnkit). OGB's ``(B, 2)`` layout is ``pairs.t()``.

**Seed nodes.** The endpoints of the positives followed by the negatives,
``torch.cat([positives, negatives], 1)``, read row by row (every source, then every target),
deduplicated in order of first occurrence: the first endpoint is local node 0, and so on.
The seeds are therefore the prefix ``n_id[:num_seeds]`` of the sampled nodes, and the local
pairs index ``n_id`` directly (``n_id[pairs]`` are the global pairs).

**Negatives.** ``negatives=k`` draws ``k`` negatives per positive, uniformly over the ordered
pairs ``(s, t)`` with ``s ≠ t``, rejecting a draw that is an entry of ``A`` (``A[t, s]``
stored) or one of the batch's positive pairs (as given: the reverse of a positive that ``A``
does not store may be drawn), and redrawing the rejected ones up to 10 times (a graph denser
than about half its pairs would need more; draws still rejected after that are kept, as in
:func:`gnnkit.nn.linkpred.pairs.sample_negative_pairs`). Checking a draw reads the CSR row of
its target, so a batch costs ``O(k · B · E / N)`` on average, with no per-batch work of size
``N`` or ``E``. ``negatives=`` a ``(2, B⁻)`` tensor uses those pairs instead (fixed negatives,
e.g. an evaluation set).

**Randomness.** Negatives are drawn from ``generator`` first, then the neighbourhood is
sampled from the same generator, so one generator state gives one batch; the loader gives
batch ``b`` of epoch ``e`` on rank ``r`` the generator
:func:`~gnnkit.data.sampling.sampling_generator` ``(seed, e, r, 1 + b)``. When every positive
is an entry of ``A`` (the training links of a link-prediction split, stored in both
directions), excluding the positives rejects nothing more, and the negatives have the law of
:func:`gnnkit.nn.linkpred.pairs.sample_negative_pairs` — the same pairs, from the same
generator state (both draw ``(s, t)`` the same way and reject the same entries).

**Target-link removal.** :func:`sample_links` does not change the graph: a positive that is an
entry of ``A`` carries its own message. :func:`remove_sampled_target_links` removes every
sampled entry of the positives (both directions) from every block of a sample, in
``O(E_s + P⁺ log E_s)`` for its ``E_s`` sampled entries — the sampled counterpart of
:func:`gnnkit.nn.linkpred.target_removal.remove_target_links`, which is ``O(E)`` per batch.
Both ends of a positive are seeds, i.e. targets of every block, so a block holds its entries
whenever they were sampled; with fanout ``-1`` every block row equals the row of ``A`` minus
the positives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix, edge_entries, expand_ranges, pair_keys, ptr_from_index

from .sampling import SampledSubgraph, check_fanouts, sample_neighbors

__all__ = [
    "LinkSample",
    "check_pairs",
    "link_seeds",
    "remove_sampled_target_links",
    "sample_links",
    "sample_negatives",
]

#: rounds of redrawing rejected negatives (module docstring)
_NEGATIVE_ROUNDS = 10


def _check_graph(A: object) -> SparseMatrix:
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit SparseMatrix, got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square (a graph over one node set), got shape {A.shape}")
    return A


def check_pairs(pairs: object, num_nodes: int, name: str = "pairs", *,
                device: torch.device | None = None) -> Tensor:
    """``pairs`` as an int64 ``(2, B)`` tensor of node ids in ``[0, num_nodes)``, else
    ``TypeError``/``ValueError`` naming ``name``, what it got and how to fix it.

    int32 ids are accepted (and returned as int64); ``device``, when given, must be the
    tensor's device.
    """
    if not isinstance(pairs, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of node ids with shape (2, B), got "
                        f"{type(pairs).__name__} (e.g. torch.tensor([sources, targets]))")
    if pairs.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must have dtype int64 (or int32), got {pairs.dtype} "
                        f"(use {name}.long())")
    if pairs.dim() != 2 or pairs.shape[0] != 2:
        if pairs.dim() == 2 and pairs.shape[1] == 2:
            hint = f"OGB's (B, 2) layout: pass {name}.t()"
        elif pairs.dim() == 1:
            hint = "stack sources and targets: torch.stack([sources, targets])"
        else:
            hint = "row 0 = sources, row 1 = targets"
        raise ValueError(f"{name} must have shape (2, B), got {tuple(pairs.shape)} ({hint})")
    if device is not None and pairs.device != device:
        raise ValueError(f"{name} is on {pairs.device} but A is on {device} "
                         f"(use {name}.to(A.device))")
    if pairs.numel():
        low, high = int(pairs.min()), int(pairs.max())
        if low < 0 or high >= num_nodes:
            raise ValueError(f"{name} must hold node ids in [0, {num_nodes}) (the graph's "
                             f"nodes), found {low} … {high}")
    return pairs.long()


# ------------------------------------------------------------------ negatives
def _stored(A: SparseMatrix, sources: Tensor, targets: Tensor) -> Tensor:
    """``(B,)`` bool: whether ``A[targets[i], sources[i]]`` is stored; reads the ``B`` rows
    ``targets`` only (``O(Σ deg)``), so no ``(E,)`` key array is built per call."""
    begin = A.rowptr[targets].long()
    degree = A.rowptr[targets + 1].long() - begin
    total = int(degree.sum())
    positions = expand_ranges(begin, degree, total=total, check=False)
    owner = torch.repeat_interleave(torch.arange(targets.numel(), device=A.device), degree,
                                    output_size=total)
    found = torch.zeros(targets.numel(), dtype=torch.bool, device=A.device)
    found[owner[A.col[positions].long() == sources[owner]]] = True
    return found


def sample_negatives(A: SparseMatrix, num: int, *, exclude: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """``(2, num)`` uniform random pairs ``(s, t)``, ``s ≠ t``, that are neither entries of
    ``A`` (``A[t, s]``) nor columns of ``exclude`` (module docstring: redrawn up to 10
    times, then kept).

    Args:
        A: the square ``N × N`` graph (``N >= 2`` when ``num > 0``).
        num: how many pairs.
        exclude: ``(2, B)`` int64 pairs never to return (e.g. the batch's positives).
        generator: the random source (``None``: torch's global generator).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 2]]))  # 0→1→2
        >>> negatives = sample_negatives(A, 4, generator=torch.Generator().manual_seed(0))
        >>> negatives.shape, bool((negatives[0] != negatives[1]).all())
        (torch.Size([2, 4]), True)
    """
    A = _check_graph(A)
    if isinstance(num, bool) or not isinstance(num, int) or num < 0:
        raise ValueError(f"num must be a non-negative int, got {num!r}")
    n, device = A.num_rows, A.device
    out = torch.empty(2, num, dtype=torch.int64, device=device)
    if num == 0:
        return out
    if n < 2:
        raise ValueError(f"negative sampling needs at least two nodes, A has {n}")
    excluded = None
    if exclude is not None and exclude.numel():
        exclude = check_pairs(exclude, n, "exclude", device=device)
        excluded = torch.unique(pair_keys(exclude[1], exclude[0], n, n, check=False))
    todo = torch.arange(num, device=device)
    for _ in range(_NEGATIVE_ROUNDS):
        s = torch.randint(0, n, (todo.numel(),), generator=generator, device=device)
        t = torch.randint(0, n - 1, (todo.numel(),), generator=generator, device=device)
        t = t + (t >= s).long()  # uniform over t ≠ s
        out[0, todo], out[1, todo] = s, t
        rejected = _stored(A, s, t)
        if excluded is not None:
            key = pair_keys(t, s, n, n, check=False)
            slot = torch.searchsorted(excluded, key).clamp_(max=excluded.numel() - 1)
            rejected |= excluded[slot] == key
        todo = todo[rejected]
        if todo.numel() == 0:
            break
    return out


def _check_negative_count(negatives: object, tensor_shape: str) -> int:
    """``negatives`` (not a tensor) as a count ``>= 0`` of negatives per positive pair, else
    an error that also names the tensor form (``tensor_shape``) the caller accepts."""
    if isinstance(negatives, bool) or not isinstance(negatives, int):
        raise TypeError(f"negatives must be an int (negatives drawn per positive pair) or a "
                        f"{tensor_shape} tensor of given negative pairs, got "
                        f"{type(negatives).__name__}")
    if negatives < 0:
        raise ValueError(f"negatives = {negatives}: give a number of negatives per positive "
                         f"pair >= 0, or a {tensor_shape} tensor of negative pairs")
    return negatives


# ------------------------------------------------------------------ sample_links
def link_seeds(pairs: Tensor) -> tuple[Tensor, Tensor]:
    """The distinct endpoints of ``pairs`` ``(2, P)`` in order of first occurrence (row 0,
    then row 1) and the pairs relabelled to positions in that list.

    Returns:
        ``(seeds, local)``: ``(S,)`` int64 distinct node ids with ``seeds[local] == pairs``,
        and ``local`` ``(2, P)`` int64 in ``[0, S)``. ``O(P log P)``.

    Examples:
        >>> import torch
        >>> seeds, local = link_seeds(torch.tensor([[5, 2, 5], [2, 7, 9]]))
        >>> seeds.tolist(), local.tolist()
        ([5, 2, 7, 9], [[0, 1, 0], [1, 2, 3]])
    """
    flat = pairs.reshape(-1)
    distinct, inverse = torch.unique(flat, return_inverse=True)
    first = torch.full((distinct.numel(),), flat.numel(), dtype=torch.int64, device=flat.device)
    first.scatter_reduce_(0, inverse, torch.arange(flat.numel(), device=flat.device),
                          reduce="amin")
    order = torch.argsort(first)  # distinct ids by first occurrence
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    return distinct[order], rank[inverse].view(pairs.shape)


@dataclass(frozen=True)
class LinkSample:
    """The result of :func:`sample_links` for ``P⁺`` positive and ``P⁻`` negative pairs.

    Attributes:
        subgraph: the :class:`~gnnkit.data.sampling.SampledSubgraph` of the pairs' distinct
            endpoints; they are its seeds, ``subgraph.n_id[: subgraph.num_seeds]``.
        pairs: ``(2, P⁺ + P⁻)`` int64 local ids (indices into ``subgraph.n_id`` and into the
            rows of the last layer's output), positives first; row 0 = sources.
        labels: ``(P⁺ + P⁻,)`` float32, 1 for a positive and 0 for a negative (the target
            of ``binary_cross_entropy_with_logits``).
        pair_ids: ``(P⁺,)`` int64 position of every positive in the input pairs (the
            loader's positions in its ``pairs``, to gather per-pair data such as edge
            labels or weights).
    """

    subgraph: SampledSubgraph
    pairs: Tensor
    labels: Tensor
    pair_ids: Tensor

    @property
    def num_positives(self) -> int:
        return int(self.pair_ids.numel())

    @property
    def num_negatives(self) -> int:
        return int(self.labels.numel()) - self.num_positives

    @property
    def positive_pairs(self) -> Tensor:
        """``(2, P⁺)`` local ids of the positives."""
        return self.pairs[:, : self.num_positives]

    @property
    def negative_pairs(self) -> Tensor:
        """``(2, P⁻)`` local ids of the negatives."""
        return self.pairs[:, self.num_positives:]

    @property
    def n_id(self) -> Tensor:
        """``(N,)`` global ids of the local nodes (``subgraph.n_id``)."""
        return self.subgraph.n_id

    @property
    def matrices(self) -> tuple[SparseMatrix, ...]:
        """The per-layer blocks, first layer first (``subgraph.matrices``)."""
        return self.subgraph.matrices

    @property
    def global_pairs(self) -> Tensor:
        """``(2, P⁺ + P⁻)`` the pairs in global node ids, ``n_id[pairs]``."""
        return self.subgraph.n_id[self.pairs]

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> LinkSample:
        """Every tensor moved to ``device``."""
        return LinkSample(self.subgraph.to(device, non_blocking=non_blocking),
                          *(t.to(device, non_blocking=non_blocking)
                            for t in (self.pairs, self.labels, self.pair_ids)))

    def pin_memory(self) -> LinkSample:
        """A copy in pinned memory (called by ``DataLoader(pin_memory=True)``)."""
        return LinkSample(self.subgraph.pin_memory(),
                          *(t.pin_memory() for t in (self.pairs, self.labels, self.pair_ids)))


def sample_links(A: SparseMatrix, pairs: Tensor, fanouts: Sequence[int], *,
                 negatives: int | Tensor = 0, replace: bool = False,
                 generator: torch.Generator | None = None) -> LinkSample:
    """Sample the ``len(fanouts)``-hop in-neighbourhood of the endpoints of ``pairs`` and of
    their negatives (module docstring).

    Args:
        A: the square ``N × N`` graph, row = target, column = source.
        pairs: ``(2, B)`` int64 positive pairs, row 0 = sources, row 1 = targets (repeats
            allowed).
        fanouts: entries kept per node at each hop (hop 1 first; ``-1`` = all), as in
            :func:`~gnnkit.data.sampling.sample_neighbors`.
        negatives: an int ``k >= 0``: draw ``k · B`` uniform negatives (not entries of ``A``,
            not among ``pairs``, no self-loops); or a ``(2, B⁻)`` int64 tensor of given
            negatives.
        replace: sample neighbours with replacement.
        generator: the random source of the negatives, then of the neighbours (``None``:
            torch's global generator).

    Returns:
        a :class:`LinkSample`: ``pairs`` are the positives then the negatives in local ids,
        ``labels`` 1 then 0; a model scores ``h[pairs[0]]`` against ``h[pairs[1]]`` where
        ``h`` is its output on ``subgraph.matrices`` (one row per seed).

    Raises:
        TypeError: ``A`` not a ``SparseMatrix``; ``pairs``/``negatives`` not integer
            tensors (or ``negatives`` neither an int nor a tensor); a fanout not an int.
        ValueError: a non-square ``A``; pairs not ``(2, B)``, on another device or out of
            ``[0, N)``; a negative ``k``; fewer than 2 nodes to draw negatives from; a bad
            fanout.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> batch = sample_links(A, torch.tensor([[0], [1]]), [-1])  # the link 0→1
        >>> batch.n_id.tolist(), batch.pairs.tolist(), batch.labels.tolist()
        ([0, 1, 3], [[0], [1]], [1.0])
    """
    A = _check_graph(A)
    positives = check_pairs(pairs, A.num_rows, "pairs", device=A.device)
    fanouts = check_fanouts(fanouts)  # before any draw: a bad fanout fails first
    if isinstance(negatives, Tensor):
        negative_pairs = check_pairs(negatives, A.num_rows, "negatives", device=A.device)
    else:
        num = _check_negative_count(negatives, "(2, B)") * positives.shape[1]
        negative_pairs = sample_negatives(A, num, exclude=positives, generator=generator)
    all_pairs = torch.cat([positives, negative_pairs], dim=1)
    seeds, local = link_seeds(all_pairs)
    subgraph = sample_neighbors(A, seeds, fanouts, replace=replace, generator=generator)
    num_positives = positives.shape[1]
    labels = torch.zeros(all_pairs.shape[1], dtype=torch.float32, device=A.device)
    labels[:num_positives] = 1.0
    pair_ids = torch.arange(num_positives, device=A.device)
    return LinkSample(subgraph, local, labels, pair_ids)


# ------------------------------------------------------------------ target-link removal
def remove_sampled_target_links(sample: LinkSample, *, undirected: bool = True) -> LinkSample:
    """``sample`` without the entries of its positive links, in every block (module
    docstring): target-link removal on a sampled batch.

    The link ``(s, t)`` (local ids) is the entry ``[t, s]`` of a block; with ``undirected``
    (the default, as :class:`~gnnkit.nn.linkpred.TargetLinkRemoval`) its reverse ``[s, t]``
    goes too, and every stored copy of either. Negatives are not entries and are left alone.
    The blocks stay nested (``matrices[l]`` the first ``M_l`` rows of ``matrices[0]``) and in
    CSR order; ``e_id`` and ``num_sampled_edges`` follow the kept entries. The nodes do not
    change: a node reached only through a removed entry cannot exist, since both ends of a
    positive are seeds.

    Args:
        sample: a :class:`LinkSample` (e.g. from :func:`sample_links` or
            :class:`~gnnkit.data.link_loader.LinkNeighborLoader`).
        undirected: also remove the reverse entries (undirected graphs store both).

    Returns:
        a new :class:`LinkSample` (the same one when nothing is removed). ``O(E_s + P⁺ log
        E_s)`` for the ``E_s`` entries of ``matrices[0]`` (rows sorted by column, as the
        sampler makes them; otherwise ``O(E_s log E_s)``).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])  # the cycle 0-1-2-3-0
        >>> A = SparseMatrix.from_edge_index(torch.cat([ring, ring.flip(0)], 1))
        >>> batch = sample_links(A, torch.tensor([[0], [1]]), [-1])  # the link 0→1
        >>> batch.matrices[0].to_dense().tolist()  # rows 0, 1 (the endpoints); cols 0, 1, 3, 2
        [[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0]]
        >>> remove_sampled_target_links(batch).matrices[0].to_dense().tolist()
        [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    if not isinstance(sample, LinkSample):
        raise TypeError(f"sample must be a LinkSample (from sample_links or a "
                        f"LinkNeighborLoader), got {type(sample).__name__}")
    positives = sample.positive_pairs
    first = sample.matrices[0]  # every sampled entry: the others are its row prefixes
    if positives.numel() == 0 or first.nnz == 0:
        return sample
    rows = first.num_rows
    # both ends of a positive are seeds, i.e. rows of every block: [t, s] and [s, t] exist;
    # the sampler sorts every row by column, so the entries are found by binary search
    keep = ~edge_entries(first, positives, undirected=undirected)
    if bool(keep.all()):
        return sample
    rowptr = ptr_from_index(first.row[keep], rows, dtype=first.index_dtype, check=False)
    col = first.col[keep]
    values = None if first.values is None else first.values[keep]
    matrices = []
    for block in sample.matrices:  # nested: block l is the first M_l rows of block 0
        end = int(rowptr[block.num_rows])
        matrices.append(SparseMatrix(rowptr[: block.num_rows + 1], col[:end],
                                     None if values is None else values[:end], block.shape))
    subgraph = sample.subgraph
    # hop h sampled the rows of the nodes first reached at hop h - 1 (block 0's rows, in order)
    bounds = torch.tensor(subgraph.num_sampled_nodes[:-1]).cumsum(0).tolist()
    ends = [int(rowptr[bound]) for bound in bounds]
    edges = tuple(end - start for start, end in zip([0, *ends[:-1]], ends, strict=True))
    subgraph = SampledSubgraph(subgraph.n_id, subgraph.e_id[keep], tuple(matrices),
                               subgraph.num_sampled_nodes, edges)
    return LinkSample(subgraph, sample.pairs, sample.labels, sample.pair_ids)
