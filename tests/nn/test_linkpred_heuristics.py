"""Neighbourhood heuristics and node sets against brute-force dense set computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from gnnkit.nn.linkpred import (
    adamic_adar,
    common_neighbor_sets,
    common_neighbors,
    exclusive_neighbor_sets,
    heuristic_scores,
    jaccard,
    neighbor_degree,
    resource_allocation,
    two_hop_common_sets,
)
from gnnkit.sparse import SparseMatrix


def random_graph(n: int, m: int, seed: int, *, loops: bool, directed: bool
                 ) -> tuple[SparseMatrix, Tensor]:
    """A random graph (duplicates included) and its dense boolean adjacency D[target, source]."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (m,), generator=g)
    dst = torch.randint(0, n, (m,), generator=g)
    if not loops:
        keep = src != dst
        src, dst = src[keep], dst[keep]
    if not directed:
        src, dst = torch.cat([src, dst]), torch.cat([dst, src])
    edges = torch.stack([src, dst])
    dense = torch.zeros(n, n, dtype=torch.bool)
    for s, t in edges.t().tolist():
        dense[t, s] = True
    return SparseMatrix.from_edge_index(edges, shape=n), dense


def random_pairs(n: int, b: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.randint(0, n, (2, b), generator=g)


def brute_force(dense: Tensor, pairs: Tensor) -> dict[str, list[float]]:
    """Textbook definitions from Python sets of each row's neighbours."""
    n = dense.shape[0]
    neighbours = [set(dense[v].nonzero().flatten().tolist()) for v in range(n)]
    out: dict[str, list[float]] = {"cn": [], "aa": [], "ra": [], "jaccard": []}
    for i, j in pairs.t().tolist():
        common = neighbours[i] & neighbours[j]
        union = neighbours[i] | neighbours[j]
        out["cn"].append(float(len(common)))
        out["aa"].append(sum(1 / math.log(len(neighbours[k])) for k in common
                             if len(neighbours[k]) > 1))
        out["ra"].append(sum(1 / len(neighbours[k]) for k in common))
        out["jaccard"].append(len(common) / len(union) if union else 0.0)
    return out


CASES = [(30, 60, 0, False, False), (40, 300, 1, False, False), (25, 80, 2, True, False),
         (35, 120, 3, False, True), (1, 0, 4, False, False), (20, 0, 5, False, False)]


@pytest.mark.parametrize(("n", "m", "seed", "loops", "directed"), CASES)
def test_heuristics_match_brute_force(n: int, m: int, seed: int, loops: bool, directed: bool
                                      ) -> None:
    A, dense = random_graph(n, m, seed, loops=loops, directed=directed)
    pairs = random_pairs(n, 50, seed)
    expected = brute_force(dense, pairs)
    functions = {"cn": common_neighbors, "aa": adamic_adar, "ra": resource_allocation,
                 "jaccard": jaccard}
    for name, function in functions.items():
        got = function(A, pairs, dtype=torch.float64)
        assert got.dtype == torch.float64
        torch.testing.assert_close(got, torch.tensor(expected[name], dtype=torch.float64),
                                   msg=name)
        torch.testing.assert_close(heuristic_scores(name, A, pairs, batch_size=7,
                                                    dtype=torch.float64),
                                   got, msg=f"{name} in chunks")


def test_heuristics_ignore_values_and_duplicates() -> None:
    A, dense = random_graph(30, 100, 7, loops=False, directed=False)
    weighted = A.with_values(torch.rand(A.nnz) * 5)
    pairs = random_pairs(30, 40, 7)
    torch.testing.assert_close(adamic_adar(weighted, pairs), adamic_adar(A, pairs))
    torch.testing.assert_close(neighbor_degree(A), dense.sum(1).long())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbor_sets_match_dense(seed: int) -> None:
    n = 30
    A, dense = random_graph(n, 90, seed, loops=seed == 2, directed=seed == 1)
    pairs = random_pairs(n, 40, seed)
    common = common_neighbor_sets(A, pairs)
    only_i, only_j = exclusive_neighbor_sets(A, pairs)
    walks2 = (dense.double() @ dense.double()) > 0
    near_i, near_j = two_hop_common_sets(A, pairs)
    for k, (i, j) in enumerate(pairs.t().tolist()):
        members = {
            "common": (common, dense[i] & dense[j]),
            "only_i": (only_i, dense[i] & ~dense[j]),
            "only_j": (only_j, dense[j] & ~dense[i]),
            "one_two": (near_i, dense[i] & walks2[j]),
            "two_one": (near_j, walks2[i] & dense[j]),
        }
        for name, (sets, mask) in members.items():
            got = sets.nodes[sets.ptr[k]:sets.ptr[k + 1]].tolist()
            assert got == mask.nonzero().flatten().tolist(), (name, k)


def test_aggregate_is_weighted_segment_sum() -> None:
    A, dense = random_graph(12, 40, 3, loops=False, directed=False)
    pairs = random_pairs(12, 9, 3)
    x = torch.randn(12, 4, dtype=torch.float64)
    sets = common_neighbor_sets(A, pairs)
    expected = (dense[pairs[0]] & dense[pairs[1]]).double() @ x
    torch.testing.assert_close(sets.aggregate(x), expected)
    weight = torch.rand(sets.nodes.numel(), dtype=torch.float64)
    weighted_dense = torch.zeros(9, 12, dtype=torch.float64)
    weighted_dense[sets.pair_index(), sets.nodes] = weight
    torch.testing.assert_close(sets.with_weight(weight).aggregate(x), weighted_dense @ x)
    torch.testing.assert_close(sets.with_weight(weight).total_weight(torch.float64),
                               weighted_dense.sum(1))


def test_huge_node_count_needs_no_dense_matrix() -> None:
    """Two million nodes: an N×N (or B×N) intermediate would need terabytes."""
    n = 2_000_000
    hub = torch.tensor([0, 1, 2, 3])
    leaves = torch.tensor([n - 1, n - 2, n - 3, 5])
    edges = torch.stack([torch.cat([hub, leaves]), torch.cat([leaves, hub])])
    edges = torch.cat([edges, torch.tensor([[10, n - 1], [n - 1, 10]])], dim=1)
    A = SparseMatrix.from_edge_index(edges, shape=n)
    pairs = torch.tensor([[0, 10, 1], [10, 0, 2]])
    assert common_neighbors(A, pairs).tolist() == [1.0, 1.0, 0.0]
    assert jaccard(A, pairs).tolist() == [1.0, 1.0, 0.0]


def test_bad_inputs_raise_clear_errors() -> None:
    A, _ = random_graph(5, 10, 0, loops=False, directed=False)
    with pytest.raises(ValueError, match=r"\(2, B\)"):
        common_neighbors(A, torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        common_neighbors(A, torch.tensor([[0], [5]]))
    with pytest.raises(TypeError, match="int64"):
        jaccard(A, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="SparseMatrix"):
        adamic_adar(torch.zeros(5, 5), torch.zeros(2, 1, dtype=torch.long))
    rectangular = SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([3]), shape=(2, 4))
    with pytest.raises(ValueError, match="square"):
        resource_allocation(rectangular, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="name must be one of"):
        heuristic_scores("katz", A, torch.zeros(2, 1, dtype=torch.long))
