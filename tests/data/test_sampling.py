"""Neighbour sampling and the seed-node loader, against brute-force oracles written here."""

from __future__ import annotations

import gc
import itertools
import math
import pickle
import warnings

import pytest
import torch

from gnnkit.data.loader import NeighborLoader
from gnnkit.data.sampling import SampledSubgraph, sample_neighbors, sampling_generator
from gnnkit.sparse import SparseMatrix


def random_graph(num_nodes: int, num_edges: int, seed: int, *, values: bool = False
                 ) -> SparseMatrix:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    weights = torch.rand(num_edges, generator=g, dtype=torch.float64) if values else None
    return SparseMatrix.from_edge_index(edge_index, weights, shape=num_nodes)


def entries(A: SparseMatrix) -> list[tuple[int, int]]:
    """(target, source) of every stored entry, in CSR order (pure Python)."""
    rowptr, col = A.rowptr.tolist(), A.col.tolist()
    return [(i, col[k]) for i in range(A.num_rows) for k in range(rowptr[i], rowptr[i + 1])]


def check_against_oracle(A: SparseMatrix, seeds: torch.Tensor, fanouts: list[int],
                         sub: SampledSubgraph, *, replace: bool = False) -> None:
    """Every property the sampler promises, checked entry by entry in Python."""
    graph = entries(A)
    degree = [0] * A.num_rows
    for target, _ in graph:
        degree[target] += 1
    n_id = sub.n_id.tolist()
    B, K = seeds.numel(), len(fanouts)
    assert n_id[:B] == seeds.tolist()  # seeds first, in order
    assert len(set(n_id)) == len(n_id)  # relabelling is a bijection
    local = {node: i for i, node in enumerate(n_id)}
    assert len(sub.matrices) == K
    assert sub.num_sampled_nodes[0] == B and sum(sub.num_sampled_nodes) == len(n_id)
    big = sub.matrices[0]
    e_id = sub.e_id.tolist()
    assert big.nnz == len(e_id) == sum(sub.num_sampled_edges)
    # every sampled entry is an entry of A, relabelled consistently both ways
    rows = entries(big)
    for (r, c), e in zip(rows, e_id, strict=True):
        assert graph[e] == (n_id[r], n_id[c])
        assert local[graph[e][0]] == r and local[graph[e][1]] == c
    if A.values is not None:
        assert torch.equal(big.values, A.values[sub.e_id])
    # nested layers: targets a prefix of sources, each layer a row-prefix of layer 0
    hop_end = list(itertools.accumulate(sub.num_sampled_nodes))
    for layer, matrix in enumerate(sub.matrices):
        assert matrix.shape == (hop_end[K - 1 - layer], hop_end[K - layer])
        assert matrix.num_rows <= matrix.num_cols
        assert entries(matrix) == rows[: matrix.nnz]
        assert sub.edge_ids(layer).tolist() == e_id[: matrix.nnz]
    assert sub.matrices[-1].num_rows == B
    # per target: fanout respected, no entry twice without replacement, columns sorted
    per_row: dict[int, list[int]] = {}
    for (r, _), e in zip(rows, e_id, strict=True):
        per_row.setdefault(r, []).append(e)
        assert r < big.num_rows
    for r in range(big.num_rows):
        got = per_row.get(r, [])
        d = degree[n_id[r]]
        hop = next(h for h in range(K) if r < hop_end[h])
        fanout = fanouts[hop]
        if fanout == -1:
            assert sorted(got) == list(range(A.rowptr[n_id[r]], A.rowptr[n_id[r] + 1]))
        elif replace:
            assert len(got) == (fanout if d else 0)
        else:
            assert len(got) == min(d, fanout)
            assert len(set(got)) == len(got)
        cols = [c for (rr, c) in rows if rr == r]
        assert cols == sorted(cols)
    # each hop's new nodes are sources of that hop's entries and were not seen before
    seen = set(n_id[:B])
    edge_end = list(itertools.accumulate(sub.num_sampled_edges))
    for hop in range(1, K + 1):
        new = n_id[hop_end[hop - 1]: hop_end[hop]]
        sources = {n_id[c] for (_, c) in rows[(edge_end[hop - 2] if hop > 1 else 0):
                                              edge_end[hop - 1]]}
        assert set(new) == sources - seen
        seen |= set(new)


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("fanouts", [[3], [2, 3], [4, -1, 2], [-1, -1]])
def test_random_graphs_against_oracle(replace: bool, fanouts: list[int]) -> None:
    for trial in range(4):
        A = random_graph(40, 160 + 40 * trial, trial, values=trial % 2 == 1)
        seeds = torch.randperm(40, generator=torch.Generator().manual_seed(trial))[:5]
        sub = sample_neighbors(A, seeds, fanouts, replace=replace,
                               generator=sampling_generator(trial))
        check_against_oracle(A, seeds, fanouts, sub, replace=replace)


@pytest.mark.parametrize("replace", [False, True])
def test_hubs_against_oracle(replace: bool) -> None:
    # two hubs (in-degree 60 and 25, with duplicate entries) among sparse nodes
    g = torch.Generator().manual_seed(0)
    hub_sources = torch.randint(0, 80, (85,), generator=g)
    hub_targets = torch.cat([torch.zeros(60, dtype=torch.long), torch.ones(25,
                                                                         dtype=torch.long)])
    rest = torch.randint(0, 80, (2, 100), generator=g)
    edge_index = torch.cat([torch.stack([hub_sources, hub_targets]), rest], dim=1)
    A = SparseMatrix.from_edge_index(edge_index, shape=80)
    for trial, fanouts in enumerate([[3, 2], [6], [1, 1, 1]]):
        seeds = torch.tensor([0, 1, 5, 40])
        sub = sample_neighbors(A, seeds, fanouts, replace=replace,
                               generator=sampling_generator(trial))
        check_against_oracle(A, seeds, fanouts, sub, replace=replace)


def test_full_fanout_is_the_khop_neighbourhood() -> None:
    A = random_graph(30, 70, 3)
    seeds = torch.tensor([4, 0, 17])
    sub = sample_neighbors(A, seeds, [-1, -1])
    # oracle: breadth-first in-neighbourhood
    graph = entries(A)
    hop1 = {s for (t, s) in graph if t in {4, 0, 17}}
    hop2 = {s for (t, s) in graph if t in hop1 | {4, 0, 17}}
    assert set(sub.n_id.tolist()) == {4, 0, 17} | hop1 | hop2


def test_isolated_seeds_fanout_above_degree_and_empty_graph() -> None:
    # node 3 receives nothing; node 0 receives from 1 and 2 (degree 2 < fanout 5)
    A = SparseMatrix.from_edge_index(torch.tensor([[1, 2, 0], [0, 0, 1]]), shape=4)
    sub = sample_neighbors(A, torch.tensor([3]), [5, 5])
    assert sub.n_id.tolist() == [3] and [m.shape for m in sub.matrices] == [(1, 1), (1, 1)]
    assert sub.num_edges == 0
    sub = sample_neighbors(A, torch.tensor([0]), [5])
    assert sorted(sub.n_id.tolist()) == [0, 1, 2] and sub.matrices[0].nnz == 2
    empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=6)
    for replace in (False, True):
        sub = sample_neighbors(empty, torch.tensor([5, 1]), [3, -1], replace=replace)
        check_against_oracle(empty, torch.tensor([5, 1]), [3, -1], sub, replace=replace)
        assert sub.num_edges == 0 and sub.n_id.tolist() == [5, 1]
    sub = sample_neighbors(empty, torch.zeros(0, dtype=torch.long), [2])
    assert sub.num_nodes == 0 and sub.matrices[0].shape == (0, 0)


def test_duplicate_entries_are_distinct_candidates() -> None:
    # 0 receives from 1 three times (three stored entries) and from 2 once
    A = SparseMatrix.from_edge_index(torch.tensor([[1, 1, 1, 2], [0, 0, 0, 0]]), shape=3)
    assert A.nnz == 4
    sub = sample_neighbors(A, torch.tensor([0]), [-1])
    assert sub.matrices[0].nnz == 4 and sorted(sub.e_id.tolist()) == [0, 1, 2, 3]
    counts = torch.zeros(3)
    for trial in range(400):
        sub = sample_neighbors(A, torch.tensor([0]), [2], generator=sampling_generator(trial))
        assert len(set(sub.e_id.tolist())) == 2  # entries are drawn without replacement
        counts.index_add_(0, sub.n_id[sub.matrices[0].col], torch.ones(2))
    # source 1 holds 3 of 4 entries: it is drawn 3x as often as source 2 (1.5 vs 0.5 per draw)
    assert abs(counts[1] / 400 - 1.5) < 0.1 and abs(counts[2] / 400 - 0.5) < 0.1


def chi_square(observed: torch.Tensor, expected: float) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def test_without_replacement_subsets_are_uniform() -> None:
    # 600 targets, each with the same 5 sources: every 2-subset should have prob. 1/10
    targets, degree, fanout = 600, 5, 2
    sources = torch.arange(degree).repeat(targets) + targets
    rows = torch.arange(targets).repeat_interleave(degree)
    A = SparseMatrix.from_coo(rows, sources, shape=targets + degree)
    subsets = {s: k for k, s in enumerate(itertools.combinations(range(degree), fanout))}
    counts = torch.zeros(len(subsets))
    generator = torch.Generator().manual_seed(1234)
    for _ in range(5):
        sub = sample_neighbors(A, torch.arange(targets), [fanout], generator=generator)
        picked = (sub.n_id[sub.matrices[0].col] - targets).view(targets, fanout)
        for pair in picked.tolist():
            counts[subsets[tuple(sorted(pair))]] += 1
    # 9 degrees of freedom: P(chi2 > 40) ≈ 7e-6; a biased sampler lands far above
    assert chi_square(counts, counts.sum().item() / len(subsets)) < 40.0


@pytest.mark.parametrize(("degree", "fanout"), [(9, 2), (4, 1), (40, 3)])
def test_hub_rows_subsets_are_uniform(degree: int, fanout: int) -> None:
    """Rows with degree >= 4 · fanout take the oversampled path (draws with replacement,
    first distinct ones): every fanout-subset must still be equally likely."""
    targets = 400
    sources = torch.arange(degree).repeat(targets) + targets
    rows = torch.arange(targets).repeat_interleave(degree)
    A = SparseMatrix.from_coo(rows, sources, shape=targets + degree)
    subsets = {s: k for k, s in enumerate(itertools.combinations(range(degree), fanout))}
    if len(subsets) > 100:  # too many subsets to fill: test the single-entry marginals
        subsets = {(s,): s for s in range(degree)}
    counts = torch.zeros(len(subsets))
    generator = torch.Generator().manual_seed(7)
    draws = 0
    while counts.sum() < 40 * len(subsets):
        sub = sample_neighbors(A, torch.arange(targets), [fanout], generator=generator)
        picked = (sub.n_id[sub.matrices[0].col] - targets).view(targets, fanout)
        assert all(len(set(r)) == fanout for r in picked.tolist())  # no repeats
        for chosen in picked.tolist():
            if len(next(iter(subsets))) == 1:
                for s in chosen:
                    counts[s] += 1
            else:
                counts[subsets[tuple(sorted(chosen))]] += 1
        draws += 1
    dof = len(subsets) - 1
    # generous: mean dof, sd sqrt(2 dof); 6 sd above the mean is p < 1e-6
    assert chi_square(counts, counts.sum().item() / len(subsets)) < dof + 6 * (2 * dof) ** 0.5


def test_with_replacement_draws_are_uniform() -> None:
    targets, degree, fanout = 500, 7, 4
    sources = torch.arange(degree).repeat(targets) + targets
    rows = torch.arange(targets).repeat_interleave(degree)
    A = SparseMatrix.from_coo(rows, sources, shape=targets + degree)
    sub = sample_neighbors(A, torch.arange(targets), [fanout], replace=True,
                           generator=torch.Generator().manual_seed(99))
    picked = sub.n_id[sub.matrices[0].col] - targets
    counts = torch.bincount(picked, minlength=degree).double()
    assert chi_square(counts, targets * fanout / degree) < 35.0  # 6 d.o.f.
    # with replacement the same entry must sometimes come twice within a row
    per_row = sub.e_id.view(targets, fanout)
    assert any(len(set(r)) < fanout for r in per_row.tolist())


def test_deterministic_per_generator() -> None:
    A = random_graph(200, 2000, 5)
    seeds = torch.arange(0, 200, 7)
    first = sample_neighbors(A, seeds, [5, 3], generator=sampling_generator(3, 1, 0))
    again = sample_neighbors(A, seeds, [5, 3], generator=sampling_generator(3, 1, 0))
    other = sample_neighbors(A, seeds, [5, 3], generator=sampling_generator(3, 2, 0))
    assert torch.equal(first.n_id, again.n_id) and torch.equal(first.e_id, again.e_id)
    assert not torch.equal(first.e_id, other.e_id)
    # the (seed, epoch, rank, stream) tuple is hashed: permuted tuples give other streams
    draws = {tuple(torch.rand(3, generator=sampling_generator(*t)).tolist())
             for t in [(0, 1, 0), (0, 0, 1), (1, 0, 0), (0, 0, 0, 1)]}
    assert len(draws) == 4


def test_bad_inputs_raise_clear_errors() -> None:
    A = random_graph(10, 30, 0)
    with pytest.raises(ValueError, match=r"fanouts\[1\] = 0"):
        sample_neighbors(A, torch.tensor([0]), [2, 0])
    with pytest.raises(ValueError, match=r"fanouts\[0\] = -2"):
        sample_neighbors(A, torch.tensor([0]), [-2])
    with pytest.raises(ValueError, match="empty"):
        sample_neighbors(A, torch.tensor([0]), [])
    with pytest.raises(TypeError, match="sequence"):
        sample_neighbors(A, torch.tensor([0]), 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 10\).*10"):
        sample_neighbors(A, torch.tensor([0, 10]), [2])
    with pytest.raises(ValueError, match=r"found -1"):
        sample_neighbors(A, torch.tensor([-1]), [2])
    with pytest.raises(TypeError, match=r"int64.*int32"):
        sample_neighbors(A, torch.tensor([0], dtype=torch.int32), [2])
    with pytest.raises(TypeError, match="int64"):
        sample_neighbors(A, torch.tensor([0.0]), [2])
    with pytest.raises(ValueError, match="duplicate"):
        sample_neighbors(A, torch.tensor([1, 1]), [2])
    with pytest.raises(ValueError, match="square"):
        sample_neighbors(SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1]),
                                               shape=(1, 2)), torch.tensor([0]), [1])
    with pytest.raises(TypeError, match="int"):
        sampling_generator(1.5)  # type: ignore[arg-type]


def test_int32_graph_and_non_contiguous_seeds() -> None:
    A = random_graph(50, 300, 8)
    A32 = A.index_type(torch.int32)
    seeds = torch.arange(0, 50, dtype=torch.long)[::5]  # strided view
    assert not seeds.is_contiguous()
    one = sample_neighbors(A, seeds, [3, 2], generator=sampling_generator(0))
    two = sample_neighbors(A32, seeds, [3, 2], generator=sampling_generator(0))
    assert torch.equal(one.e_id, two.e_id) and torch.equal(one.n_id, two.n_id)
    check_against_oracle(A32, seeds.contiguous(), [3, 2], two)


def test_subgraph_pickles_and_moves() -> None:
    A = random_graph(20, 60, 1, values=True)
    sub = sample_neighbors(A, torch.tensor([1, 2]), [2, 2], generator=sampling_generator(0))
    back = pickle.loads(pickle.dumps(sub))
    assert torch.equal(back.e_id, sub.e_id)
    assert [m.shape for m in back.matrices] == [m.shape for m in sub.matrices]
    assert torch.equal(back.matrices[0].values, sub.matrices[0].values)
    assert sub.to("cpu").num_nodes == sub.num_nodes


# ---------------------------------------------------------------------------- the loader
def test_loader_batches_cover_seeds_once() -> None:
    A = random_graph(100, 500, 2)
    mask = torch.zeros(100, dtype=torch.bool)
    mask[::3] = True
    loader = NeighborLoader(A, mask, [3, 2], batch_size=8, shuffle=True, seed=5)
    assert len(loader) == math.ceil(34 / 8)
    epoch0 = [b.n_id[: b.num_seeds] for b in loader]
    assert sorted(torch.cat(epoch0).tolist()) == list(range(0, 100, 3))
    epoch1 = [b.n_id[: b.num_seeds] for b in loader]
    assert not torch.equal(torch.cat(epoch0), torch.cat(epoch1))  # reshuffled
    loader.set_epoch(0)
    again = [b.n_id[: b.num_seeds] for b in loader]
    assert all(torch.equal(a, b) for a, b in zip(epoch0, again, strict=True))
    dropped = NeighborLoader(A, mask, [3], batch_size=8, drop_last=True, seed=5)
    assert len(dropped) == 4 and [b.num_seeds for b in dropped] == [8] * 4
    ordered = NeighborLoader(A, torch.arange(10), [1], batch_size=4, seed=0)
    assert [b.n_id[: b.num_seeds].tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7],
                                                                   [8, 9]]


def test_loader_is_independent_of_workers() -> None:
    A = random_graph(80, 400, 4)
    kwargs = {"batch_size": 16, "shuffle": True, "seed": 11}
    serial = list(NeighborLoader(A, torch.arange(80), [4, 2], **kwargs))
    parallel = list(NeighborLoader(A, torch.arange(80), [4, 2], num_workers=2, **kwargs))
    assert len(serial) == len(parallel) == 5
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a.n_id, b.n_id) and torch.equal(a.e_id, b.e_id)
        check_against_oracle(A, a.n_id[: a.num_seeds], [4, 2], b)


def test_loader_ranks_draw_different_streams() -> None:
    A = random_graph(60, 300, 9)
    kwargs = {"batch_size": 60, "shuffle": True, "seed": 4}
    zero = next(iter(NeighborLoader(A, torch.arange(60), [3], rank=0, **kwargs)))
    one = next(iter(NeighborLoader(A, torch.arange(60), [3], rank=1, **kwargs)))
    assert not torch.equal(zero.n_id[:60], one.n_id[:60])  # another shuffle per rank


def test_loader_pin_memory_and_generator() -> None:
    A = random_graph(30, 90, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no accelerator: DataLoader warns and does not pin
        batches = list(NeighborLoader(A, torch.arange(30), [2], batch_size=10, seed=0,
                                      pin_memory=True))
    assert len(batches) == 3
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert (NeighborLoader(A, torch.arange(30), [2], generator=g1).seed
            == NeighborLoader(A, torch.arange(30), [2], generator=g2).seed)


def test_loader_memory_does_not_grow() -> None:
    A = random_graph(200, 1000, 7)
    loader = NeighborLoader(A, torch.arange(200), [5, 5], batch_size=32, shuffle=True, seed=1)
    state = dict(vars(loader))

    def one_epoch() -> int:
        for _ in loader:
            pass
        gc.collect()
        return len(gc.get_objects())

    counts = [one_epoch() for _ in range(6)]
    assert max(counts[2:]) - min(counts[2:]) < 50  # no per-epoch accumulation
    assert set(vars(loader)) == set(state) and loader.epoch == 6


def test_loader_bad_inputs() -> None:
    A = random_graph(10, 20, 0)
    with pytest.raises(ValueError, match="batch_size"):
        NeighborLoader(A, torch.arange(10), [2], batch_size=0)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        NeighborLoader(A, torch.tensor([3, 12]), [2])
    with pytest.raises(ValueError, match="mask"):
        NeighborLoader(A, torch.ones(9, dtype=torch.bool), [2])
    with pytest.raises(TypeError, match="collate_fn"):
        NeighborLoader(A, torch.arange(10), [2], collate_fn=list)
    with pytest.raises(ValueError, match="fanouts"):
        NeighborLoader(A, torch.arange(10), [0])
