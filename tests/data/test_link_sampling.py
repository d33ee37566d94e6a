"""Link-level sampling (sample_links, the negatives) and LinkNeighborLoader,
against brute-force oracles written here in plain Python."""

from __future__ import annotations

import pickle

import pytest
import torch

from gnnkit.data import LinkNeighborLoader, LinkSample, sample_links
from gnnkit.data.link_sampling import link_seeds, sample_negatives
from gnnkit.data.sampling import sampling_generator
from gnnkit.sparse import SparseMatrix


def random_graph(num_nodes: int, num_edges: int, seed: int, *, values: bool = False
                 ) -> SparseMatrix:
    """A random directed multigraph (duplicate edges and self-loops happen)."""
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    weights = torch.rand(num_edges, generator=g, dtype=torch.float64) if values else None
    return SparseMatrix.from_edge_index(edge_index, weights, shape=num_nodes)


def entries(A: SparseMatrix) -> list[tuple[int, int]]:
    """(target, source) of every stored entry, in CSR order: entry ``e`` is edge id ``e``."""
    rowptr, col = A.rowptr.tolist(), A.col.tolist()
    return [(i, col[k]) for i in range(A.num_rows) for k in range(rowptr[i], rowptr[i + 1])]


def first_occurrence(ids: list[int]) -> list[int]:
    return list(dict.fromkeys(ids))


def in_hops(A: SparseMatrix, seeds: list[int], hops: int) -> list[set[int]]:
    """Breadth-first in-neighbourhood: the nodes first reached at hop 0, 1, …, hops."""
    graph = entries(A)
    levels, seen = [set(seeds)], set(seeds)
    for _ in range(hops):
        new = {s for (t, s) in graph if t in levels[-1]} - seen
        levels.append(new)
        seen |= new
    return levels


def check_sample(A: SparseMatrix, positives: torch.Tensor, sample: LinkSample,
                 negatives: torch.Tensor | None = None) -> None:
    """What sample_links promises, checked pair by pair and entry by entry."""
    graph = entries(A)
    n_id = sample.n_id.tolist()
    B = positives.shape[1]
    assert sample.num_positives == B and sample.pair_ids.tolist() == list(range(B))
    assert sample.labels.dtype == torch.float32
    assert sample.labels.tolist() == [1.0] * B + [0.0] * sample.num_negatives
    assert sample.pairs.shape == (2, B + sample.num_negatives)
    # the local pairs map back to the seed pairs, positives first
    assert torch.equal(sample.global_pairs[:, :B], positives)
    assert torch.equal(sample.n_id[sample.positive_pairs], positives)
    if negatives is not None:
        assert torch.equal(sample.n_id[sample.negative_pairs], negatives)
    # the endpoints, deduplicated in first-occurrence order (row 0, then row 1), are the seeds
    endpoints = first_occurrence(sample.global_pairs.reshape(-1).tolist())
    assert sample.subgraph.num_seeds == len(endpoints)
    assert n_id[: len(endpoints)] == endpoints
    assert len(set(n_id)) == len(n_id)
    assert sample.matrices[-1].num_rows == len(endpoints)
    # every sampled entry is an entry of A, relabelled consistently
    big = sample.matrices[0]
    for (r, c), e in zip(entries(big), sample.subgraph.e_id.tolist(), strict=True):
        assert graph[e] == (n_id[r], n_id[c])
    if A.values is not None:
        assert torch.equal(big.values, A.values[sample.subgraph.e_id])


def check_negatives(A: SparseMatrix, positives: torch.Tensor, negatives: torch.Tensor) -> None:
    """In range, no self-loop, not an entry of A (A[t, s]), not a positive pair."""
    stored = set(entries(A))
    positive = set(zip(positives[0].tolist(), positives[1].tolist(), strict=True))
    for s, t in zip(negatives[0].tolist(), negatives[1].tolist(), strict=True):
        assert 0 <= s < A.num_rows and 0 <= t < A.num_rows and s != t
        assert (t, s) not in stored and (s, t) not in positive


# ---------------------------------------------------------------------------- sample_links
@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize(("fanouts", "k"), [([3], 0), ([2, 3], 1), ([4, -1], 3), ([-1, 2], 2)])
def test_sample_links_against_oracle(fanouts: list[int], k: int, replace: bool) -> None:
    for trial in range(3):
        A = random_graph(50, 200 + 50 * trial, trial, values=trial == 1)
        g = torch.Generator().manual_seed(100 + trial)
        positives = torch.randint(0, 50, (2, 8), generator=g)  # repeated endpoints likely
        sample = sample_links(A, positives, fanouts, negatives=k, replace=replace,
                              generator=sampling_generator(trial))
        assert sample.num_negatives == k * 8
        check_sample(A, positives, sample)
        check_negatives(A, positives, sample.n_id[sample.negative_pairs])


def test_seeds_are_the_endpoints_in_first_occurrence_order() -> None:
    A = random_graph(10, 30, 0)
    positives = torch.tensor([[4, 2, 4], [2, 7, 9]])
    negatives = torch.tensor([[9, 1], [4, 4]])
    sample = sample_links(A, positives, [1], negatives=negatives)
    # row 0 of [positives | negatives] is 4 2 4 9 1, row 1 is 2 7 9 4 4
    assert sample.n_id[: sample.subgraph.num_seeds].tolist() == [4, 2, 9, 1, 7]
    assert sample.pairs.tolist() == [[0, 1, 0, 2, 3], [1, 4, 2, 0, 0]]
    check_sample(A, positives, sample, negatives)
    seeds, local = link_seeds(torch.zeros(2, 0, dtype=torch.long))
    assert seeds.numel() == 0 and local.shape == (2, 0)


def test_full_fanout_gives_exactly_the_full_neighbourhood() -> None:
    A = random_graph(40, 90, 3)
    positives = torch.tensor([[0, 5], [17, 5]])
    for hops in (1, 2, 40):  # 40 hops: everything that reaches an endpoint
        sample = sample_links(A, positives, [-1] * hops)
        levels = in_hops(A, first_occurrence(positives.reshape(-1).tolist()), hops)
        assert set(sample.n_id.tolist()) == set().union(*levels)
        assert sample.subgraph.num_sampled_nodes == tuple(len(level) for level in levels)
        # every stored in-edge of every node of hops 0 … hops-1, each once
        targets = set().union(*levels[:-1])
        expected = [e for e, (t, _) in enumerate(entries(A)) if t in targets]
        assert sorted(sample.subgraph.e_id.tolist()) == expected


def test_no_pairs_and_isolated_endpoints() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[1, 2], [0, 0]]), shape=5)
    sample = sample_links(A, torch.zeros(2, 0, dtype=torch.long), [2], negatives=3)
    assert sample.num_positives == sample.num_negatives == 0 and sample.n_id.numel() == 0
    sample = sample_links(A, torch.tensor([[3], [4]]), [2, 2])  # neither has in-edges
    assert sample.n_id.tolist() == [3, 4] and sample.subgraph.num_edges == 0
    assert sample.pairs.tolist() == [[0], [1]]


def test_given_negatives_are_used_as_given() -> None:
    A = random_graph(30, 100, 5, values=True)
    positives = torch.tensor([[0, 1, 2], [3, 4, 5]])
    negatives = torch.tensor([[0, 6, 6, 29], [3, 7, 7, 0]])  # may repeat and meet positives
    sample = sample_links(A, positives, [2, 2], negatives=negatives,
                          generator=sampling_generator(1))
    assert sample.num_negatives == 4
    check_sample(A, positives, sample, negatives)


def test_negatives_avoid_positives_that_a_does_not_store() -> None:
    # held-out positives are not entries of A: the negatives must still avoid them
    A = random_graph(12, 10, 2)
    stored = set(entries(A))
    candidates = [(s, t) for s in range(12) for t in range(12)
                  if s != t and (t, s) not in stored]
    positives = torch.tensor(candidates[::9]).t()  # 14 of them
    sample = sample_links(A, positives, [1], negatives=20, generator=sampling_generator(0))
    negatives = sample.n_id[sample.negative_pairs]
    assert negatives.shape == (2, 20 * positives.shape[1])
    check_negatives(A, positives, negatives)


def test_negatives_are_uniform_over_the_allowed_pairs() -> None:
    A = random_graph(10, 12, 4)
    exclude = torch.tensor([[0, 3, 5], [1, 4, 9]])
    stored = set(entries(A))
    banned = {(s, t) for s, t in zip(*exclude.tolist(), strict=True)}
    allowed = [(s, t) for s in range(10) for t in range(10)
               if s != t and (t, s) not in stored and (s, t) not in banned]
    draws = sample_negatives(A, 30 * len(allowed), exclude=exclude,
                             generator=torch.Generator().manual_seed(0))
    check_negatives(A, exclude, draws)
    index = {pair: i for i, pair in enumerate(allowed)}
    counts = torch.zeros(len(allowed))
    for pair in zip(*draws.tolist(), strict=True):
        counts[index[pair]] += 1
    dof = len(allowed) - 1
    chi2 = float(((counts - 30) ** 2 / 30).sum())
    assert chi2 < dof + 6 * (2 * dof) ** 0.5  # p < 1e-6 for a uniform sampler


def test_negatives_with_duplicate_entries_and_int32_indices() -> None:
    # 6 of the 30 ordered pairs stored, two of them twice
    edges = [(0, 1), (1, 0), (2, 3), (4, 2), (5, 0), (3, 5)]
    edge_index = torch.tensor(edges + edges[:2]).t()
    A = SparseMatrix.from_edge_index(edge_index, shape=6).index_type(torch.int32)
    exclude = torch.tensor([[1, 4], [2, 5]])
    draws = sample_negatives(A, 300, exclude=exclude, generator=torch.Generator().manual_seed(0))
    check_negatives(A, exclude, draws)
    allowed = {(s, t) for s in range(6) for t in range(6) if s != t} - set(edges) - {(1, 2), (4, 5)}
    assert set(zip(*draws.tolist(), strict=True)) == allowed  # 22 pairs, all drawn
    assert sample_negatives(A, 0).shape == (2, 0)


def test_deterministic_per_generator_and_picklable() -> None:
    A = random_graph(60, 300, 6)
    positives = torch.randint(0, 60, (2, 10), generator=torch.Generator().manual_seed(0))
    one = sample_links(A, positives, [3, 2], negatives=2, generator=sampling_generator(3, 1))
    two = sample_links(A, positives, [3, 2], negatives=2, generator=sampling_generator(3, 1))
    other = sample_links(A, positives, [3, 2], negatives=2, generator=sampling_generator(3, 2))
    assert torch.equal(one.pairs, two.pairs) and torch.equal(one.n_id, two.n_id)
    assert torch.equal(one.subgraph.e_id, two.subgraph.e_id)
    assert not torch.equal(one.global_pairs, other.global_pairs)
    back = pickle.loads(pickle.dumps(one))
    assert torch.equal(back.pairs, one.pairs) and torch.equal(back.labels, one.labels)
    moved = one.to("cpu")
    assert torch.equal(moved.global_pairs, one.global_pairs)


def test_sample_links_bad_inputs_raise_clear_errors() -> None:
    A = random_graph(10, 30, 0)
    pairs = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"pairs must have shape \(2, B\), got \(3, 2\).*pairs\.t"):
        sample_links(A, torch.tensor([[0, 1], [2, 3], [4, 5]]), [2])
    with pytest.raises(ValueError, match=r"got \(4,\).*torch\.stack"):
        sample_links(A, pairs.flatten(), [2])
    with pytest.raises(TypeError, match=r"pairs must have dtype int64.*pairs\.long\(\)"):
        sample_links(A, pairs.float(), [2])
    with pytest.raises(TypeError, match=r"pairs must be a torch\.Tensor"):
        sample_links(A, [[0, 1], [2, 3]], [2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"pairs must hold node ids in \[0, 10\).*found 0 … 10"):
        sample_links(A, torch.tensor([[0], [10]]), [2])
    with pytest.raises(ValueError, match=r"negatives must have shape \(2, B\)"):
        sample_links(A, pairs, [2], negatives=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="negatives = -1"):
        sample_links(A, pairs, [2], negatives=-1)
    with pytest.raises(TypeError, match="negatives must be an int"):
        sample_links(A, pairs, [2], negatives=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="negatives must be an int"):
        sample_links(A, pairs, [2], negatives=True)
    with pytest.raises(ValueError, match=r"fanouts\[0\] = 0"):
        sample_links(A, pairs, [0])
    with pytest.raises(ValueError, match="square"):
        sample_links(SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1]), shape=(1, 2)),
                     torch.tensor([[0], [0]]), [1])
    with pytest.raises(ValueError, match="at least two nodes"):
        sample_links(SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([0]), shape=(1, 1)),
                     torch.tensor([[0], [0]]), [1], negatives=1)
    int32 = sample_links(A, pairs.int(), [2], generator=sampling_generator(0))
    assert torch.equal(int32.global_pairs, pairs)


# ---------------------------------------------------------------------------- the loader
def with_local_pair_ids(batch: LinkSample) -> LinkSample:
    """``batch`` with ``pair_ids`` counted from 0, as sample_links returns them."""
    return LinkSample(batch.subgraph, batch.pairs, batch.labels,
                      torch.arange(batch.num_positives))


def test_loader_batches_cover_the_pairs_once() -> None:
    A = random_graph(60, 300, 2)
    pairs = torch.randint(0, 60, (2, 23), generator=torch.Generator().manual_seed(1))
    loader = LinkNeighborLoader(A, pairs, [3, 2], negatives=1, batch_size=5, shuffle=True,
                                seed=7)
    assert len(loader) == 5 and loader.num_pairs == 23
    epoch0 = list(loader)
    ids = torch.cat([batch.pair_ids for batch in epoch0])
    assert sorted(ids.tolist()) == list(range(23))
    for batch in epoch0:
        positives = pairs[:, batch.pair_ids]
        check_sample(A, positives, with_local_pair_ids(batch))
        check_negatives(A, positives, batch.n_id[batch.negative_pairs])
        assert batch.num_negatives == batch.num_positives
    epoch1 = torch.cat([batch.pair_ids for batch in loader])
    assert not torch.equal(ids, epoch1)  # reshuffled
    loader.set_epoch(0)
    again = list(loader)
    for a, b in zip(epoch0, again, strict=True):
        assert torch.equal(a.pair_ids, b.pair_ids) and torch.equal(a.pairs, b.pairs)
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.subgraph.e_id, b.subgraph.e_id)
    dropped = LinkNeighborLoader(A, pairs, [2], batch_size=5, drop_last=True, seed=7)
    assert len(dropped) == 4 and [b.num_positives for b in dropped] == [5] * 4
    ordered = LinkNeighborLoader(A, pairs[:, :7], [1], batch_size=3, seed=0)
    assert [b.pair_ids.tolist() for b in ordered] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("shuffle", [True, False])
def test_loader_shards_partition_the_pairs(shuffle: bool) -> None:
    A = random_graph(40, 160, 3)
    pairs = torch.randint(0, 40, (2, 20), generator=torch.Generator().manual_seed(2))
    world = 3
    whole = LinkNeighborLoader(A, pairs, [2], batch_size=2 * world, shuffle=shuffle, seed=5)
    shards = [LinkNeighborLoader(A, pairs, [2], batch_size=2, shuffle=shuffle, seed=5,
                                 shard=(rank, world)) for rank in range(world)]
    assert {len(shard) for shard in shards} == {3} and shards[0].num_pairs == 6
    for epoch in range(2):
        for loader in (whole, *shards):
            loader.set_epoch(epoch)
        per_rank = [[b.pair_ids.tolist() for b in shard] for shard in shards]
        reference = [b.pair_ids.tolist() for b in whole]
        taken = [i for rank in per_rank for batch in rank for i in batch]
        assert len(taken) == len(set(taken)) == world * (20 // world)  # disjoint, 2 sit out
        for step in range(3):
            union = sorted(i for rank in per_rank for i in rank[step])
            assert union == sorted(reference[step])  # step b of all ranks = step b of one


def test_loader_is_deterministic_per_seed_and_independent_of_workers() -> None:
    A = random_graph(50, 250, 4)
    pairs = torch.randint(0, 50, (2, 30), generator=torch.Generator().manual_seed(3))
    kwargs = {"negatives": 2, "batch_size": 8, "shuffle": True, "seed": 11}
    serial = list(LinkNeighborLoader(A, pairs, [3, 2], **kwargs))
    parallel = list(LinkNeighborLoader(A, pairs, [3, 2], num_workers=2, **kwargs))
    other = list(LinkNeighborLoader(A, pairs, [3, 2], **{**kwargs, "seed": 12}))
    assert len(serial) == len(parallel) == 4
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a.pair_ids, b.pair_ids) and torch.equal(a.pairs, b.pairs)
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.subgraph.e_id, b.subgraph.e_id)
    assert not all(torch.equal(a.global_pairs, b.global_pairs)
                   for a, b in zip(serial, other, strict=True))
    # another rank draws other negatives for the same batch of positives
    rank1 = list(LinkNeighborLoader(A, pairs, [3, 2], rank=1, **{**kwargs, "shuffle": False}))
    rank0 = list(LinkNeighborLoader(A, pairs, [3, 2], rank=0, **{**kwargs, "shuffle": False}))
    assert torch.equal(rank0[0].pair_ids, rank1[0].pair_ids)
    assert not torch.equal(rank0[0].global_pairs, rank1[0].global_pairs)


def test_loader_given_negatives_travel_with_their_pairs() -> None:
    A = random_graph(30, 120, 5)
    pairs = torch.randint(0, 30, (2, 9), generator=torch.Generator().manual_seed(4))
    negatives = torch.randint(0, 30, (2, 9, 3), generator=torch.Generator().manual_seed(5))
    loader = LinkNeighborLoader(A, pairs, [2], negatives=negatives, batch_size=4,
                                shuffle=True, seed=0)
    for batch in loader:
        expected = negatives[:, batch.pair_ids].reshape(2, -1)
        assert torch.equal(batch.n_id[batch.negative_pairs], expected)
        assert torch.equal(batch.n_id[batch.positive_pairs], pairs[:, batch.pair_ids])
    with pytest.raises(ValueError, match=r"\(2, 9, k\).*unsqueeze"):
        LinkNeighborLoader(A, pairs, [2], negatives=negatives[:, :, 0])
    with pytest.raises(ValueError, match=r"negatives must hold node ids in \[0, 30\)"):
        LinkNeighborLoader(A, pairs, [2], negatives=negatives + 30)


def test_loader_bad_inputs() -> None:
    A = random_graph(10, 20, 0)
    pairs = torch.tensor([[0, 1, 2], [3, 4, 5]])
    with pytest.raises(ValueError, match="batch_size"):
        LinkNeighborLoader(A, pairs, [2], batch_size=0)
    with pytest.raises(ValueError, match=r"pairs must have shape \(2, B\).*pairs\.t\(\)"):
        LinkNeighborLoader(A, pairs.t(), [2])
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        LinkNeighborLoader(A, pairs + 5, [2])
    with pytest.raises(TypeError, match="LinkNeighborLoader sets the DataLoader's collate_fn"):
        LinkNeighborLoader(A, pairs, [2], collate_fn=list)
    with pytest.raises(ValueError, match="fanouts"):
        LinkNeighborLoader(A, pairs, [0])
    with pytest.raises(ValueError, match="negatives = -2"):
        LinkNeighborLoader(A, pairs, [2], negatives=-2)
    with pytest.raises(TypeError, match="negatives must be an int"):
        LinkNeighborLoader(A, pairs, [2], negatives=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shard=\(2, 2\)"):
        LinkNeighborLoader(A, pairs, [2], shard=(2, 2))
    with pytest.raises(TypeError, match="SparseMatrix"):
        LinkNeighborLoader(A.to_dense(), pairs, [2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="square"):
        LinkNeighborLoader(SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1]),
                                                 shape=(1, 2)), torch.tensor([[0], [0]]), [1])

