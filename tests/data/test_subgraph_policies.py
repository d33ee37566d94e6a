"""ESAN's bag policies (gnnkit.data.subgraph_policies) against brute-force constructions.

For every graph and every subgraph the test builds the expected node set and the expected
multiset of kept edges by looping over the graph's edge list (networkx for the ego-nets'
hop sets), then compares with what the vectorised policies produce; operators on the
policies' bags are checked against per-subgraph dense adjacencies.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import networkx as nx
import pytest
import torch

from gnnkit.data import GraphBatch
from gnnkit.data.subgraph import SubgraphBatch
from gnnkit.data.subgraph_policies import edge_deleted, ego_nets, node_deleted
from gnnkit.datasets import Graph


def random_graph(rng: random.Random, n: int, m: int, *, undirected: bool) -> Graph:
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(m)] if n else []
    if undirected:
        pairs = pairs + [(b, a) for a, b in pairs]
    rng.shuffle(pairs)
    return Graph(torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T, num_nodes=n)


def zoo(seed: int) -> list[Graph]:
    rng = random.Random(seed)
    graphs = [random_graph(rng, rng.randint(1, 7), rng.randint(0, 9),
                           undirected=bool(rng.getrandbits(1))) for _ in range(5)]
    graphs += [
        Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1),   # single node
        Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=3),   # no edges
        Graph(torch.tensor([[0, 1, 0, 1, 2, 3], [1, 0, 1, 0, 3, 2]]), num_nodes=5),  # dup + iso
    ]
    rng.shuffle(graphs)
    return graphs


def bag_contents(bag: SubgraphBatch) -> list[tuple[int, int, list[int], Counter]]:
    """Per subgraph: (graph, local root or -1, sorted local nodes, Counter of local edges
    (source, target)); checks on the way that each entry's batch edge matches its pairs."""
    batch = bag.graph
    ptr = batch.ptr.tolist()
    row, col = batch.adj.row.tolist(), batch.adj.col.tolist()
    out = []
    entries: dict[int, Counter] = {s: Counter() for s in range(bag.num_subgraphs)}
    for r, c, e in zip(bag.local.row.tolist(), bag.local.col.tolist(), bag.local_edge.tolist(),
                       strict=True):
        s = int(bag.pair_subgraph[r])
        assert int(bag.pair_subgraph[c]) == s
        v, w = int(bag.pair_node[r]), int(bag.pair_node[c])
        assert (row[e], col[e]) == (v, w)
        base = ptr[int(bag.subgraph_graph[s])]
        entries[s][(w - base, v - base)] += 1
    for s in range(bag.num_subgraphs):
        g = int(bag.subgraph_graph[s])
        lo, hi = int(bag.subgraph_ptr[s]), int(bag.subgraph_ptr[s + 1])
        nodes = [v - ptr[g] for v in bag.pair_node[lo:hi].tolist()]
        root = int(bag.subgraph_root[s])
        out.append((g, root - ptr[g] if root >= 0 else -1, nodes, entries[s]))
    return out


def edges_of(graph: Graph) -> list[tuple[int, int]]:
    return [tuple(e) for e in graph.edge_index.T.tolist()]


@pytest.mark.parametrize("seed", range(4))
def test_node_deleted_matches_brute_force(seed: int) -> None:
    graphs = zoo(seed)
    bag = node_deleted(GraphBatch.from_graphs(graphs))
    expected = []
    for g, graph in enumerate(graphs):
        for u in range(graph.num_nodes):
            kept = Counter(e for e in edges_of(graph) if u not in e)
            expected.append((g, u, list(range(graph.num_nodes)), kept))
    assert bag_contents(bag) == expected
    assert bag.policy == "node_deleted" and not bag.marked
    assert bag.pair_diag_root is not None  # the deleted node stays, isolated
    assert bag.is_root.tolist() == (bag.pair_node == bag.subgraph_root[bag.pair_subgraph]).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_edge_deleted_matches_brute_force(seed: int) -> None:
    graphs = zoo(seed)
    bag = edge_deleted(GraphBatch.from_graphs(graphs))
    expected = []
    for g, graph in enumerate(graphs):
        edges = edges_of(graph)
        undirected = sorted({(min(a, b), max(a, b)) for a, b in edges})
        nodes = list(range(graph.num_nodes))
        if not undirected:  # ESAN: a graph without edges is its own single subgraph
            expected.append((g, -1, nodes, Counter()))
        for a, b in undirected:
            kept = Counter(e for e in edges if {e[0], e[1]} != {a, b})
            expected.append((g, -1, nodes, kept))
    assert bag_contents(bag) == expected
    assert bool((bag.root_pair == -1).all()) and bag.pair_diag_root is None
    with pytest.raises(ValueError, match="diag_root"):
        bag.diag_root(torch.zeros(bag.num_pairs, 1))
    with pytest.raises(ValueError, match="all_pairs"):
        bag.root_neighbour_sum(torch.zeros(bag.num_pairs, 1))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("keep_all_nodes", [True, False])
def test_ego_nets_match_networkx(seed: int, k: int, keep_all_nodes: bool) -> None:
    graphs = zoo(seed)
    bag = ego_nets(GraphBatch.from_graphs(graphs), k, keep_all_nodes=keep_all_nodes)
    expected = []
    for g, graph in enumerate(graphs):
        nxg = nx.MultiDiGraph()
        nxg.add_nodes_from(range(graph.num_nodes))
        nxg.add_edges_from(edges_of(graph))
        for u in range(graph.num_nodes):
            # nodes whose messages reach u within k steps: paths v → … → u
            inside = set(nx.single_source_shortest_path_length(nxg.reverse(), u, cutoff=k))
            kept = Counter(e for e in edges_of(graph) if e[0] in inside and e[1] in inside)
            nodes = list(range(graph.num_nodes)) if keep_all_nodes else sorted(inside)
            expected.append((g, u, nodes, kept))
    assert bag_contents(bag) == expected
    assert bag.policy == "ego_nets" and not bag.marked
    assert bag.pair_diag_root is not None  # the root is always in its ego-net


def test_ego_nets_plus_marks_the_root() -> None:
    graphs = zoo(9)
    batch = GraphBatch.from_graphs(graphs)
    plain, plus = ego_nets(batch, 2), ego_nets(batch, 2, plus=True)
    assert plus.policy == "ego_nets_plus" and plus.marked
    assert torch.equal(plain.local.col, plus.local.col)
    assert torch.equal(plus.is_root, plus.pair_node == plus.subgraph_root[plus.pair_subgraph])
    assert int(plus.is_root.sum()) == batch.num_nodes  # one marked pair per subgraph


@pytest.mark.parametrize("policy", ["node_deleted", "edge_deleted", "ego_nets1", "ego_nets2x"])
def test_policy_operators_match_dense_subgraphs(policy: str) -> None:
    graphs = zoo(4)
    batch = GraphBatch.from_graphs(graphs)
    bag = {"node_deleted": lambda: node_deleted(batch), "edge_deleted": lambda: edge_deleted(batch),
           "ego_nets1": lambda: ego_nets(batch, 1),
           "ego_nets2x": lambda: ego_nets(batch, 2, keep_all_nodes=False)}[policy]()
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64)
    local, pooled_nodes = torch.zeros_like(h), torch.zeros(batch.num_nodes, 2, dtype=h.dtype)
    counts = torch.zeros(batch.num_nodes, dtype=h.dtype)
    ptr = batch.ptr.tolist()
    for s, (g, _, nodes, edges) in enumerate(bag_contents(bag)):
        lo = int(bag.subgraph_ptr[s])
        where = {v: lo + i for i, v in enumerate(nodes)}
        for (w, v), times in edges.items():
            local[where[v]] += times * h[where[w]]
        for v, p in where.items():
            pooled_nodes[ptr[g] + v] += h[p]
            counts[ptr[g] + v] += 1
    torch.testing.assert_close(bag.local_sum(h), local)
    torch.testing.assert_close(bag.pool_nodes(h), pooled_nodes)
    torch.testing.assert_close(bag.node_mean(h),
                               (pooled_nodes / counts.clamp(min=1).unsqueeze(1))[bag.pair_node])
    h.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: bag.pool_graphs(bag.pool_subgraphs(
        bag.local_sum(t) + bag.node_mean(t), "mean")), (h,))


# ------------------------------------------------------------------ subsampling
@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.5, 1.0])
def test_subsample_is_seeded_and_keeps_the_fraction(fraction: float) -> None:
    graphs = zoo(2) + zoo(3)
    batch = GraphBatch.from_graphs(graphs)
    for full in (node_deleted(batch), edge_deleted(batch), SubgraphBatch.all_pairs(batch)):
        a = full.subsample(fraction, generator=torch.Generator().manual_seed(1))
        b = full.subsample(fraction, generator=torch.Generator().manual_seed(1))
        assert torch.equal(a.pair_node, b.pair_node) and torch.equal(a.local.col, b.local.col)
        want = [math.ceil(fraction * int(c)) for c in full.subgraph_counts]
        assert a.subgraph_counts.tolist() == want
        assert all(c >= 1 for c, s in zip(want, full.subgraph_counts.tolist(), strict=True) if s)
        # the kept subgraphs are the full bag's subgraphs, unchanged
        full_items, kept_items = bag_contents(full), bag_contents(a)
        remaining = list(full_items)
        for item in kept_items:
            assert item in remaining
            remaining.remove(item)
        assert a.policy == full.policy and a.vl is None and a.pair_diag_node is None
        if full.distance is not None:  # distances follow their pairs
            keep = torch.isin(full.subgraph_root, a.subgraph_root)[full.pair_subgraph]
            assert torch.equal(a.distance, full.distance[keep])
            assert a.pair_diag_root is not None
            assert torch.equal(a.pair_node[a.pair_diag_root], a.subgraph_root[a.pair_subgraph])


def test_subsample_draws_differ_between_seeds_and_cover_the_bag() -> None:
    graphs = [Graph(torch.tensor([[i, i + 1] for i in range(11)]).T, num_nodes=12)]
    bag = node_deleted(GraphBatch.from_graphs(graphs))
    draws = {tuple(bag.subsample(0.25, generator=torch.Generator().manual_seed(s))
                   .subgraph_root.tolist()) for s in range(40)}
    assert len(draws) > 10
    seen = Counter(r for d in draws for r in d)
    assert set(seen) == set(range(12))  # every subgraph can be drawn


# ------------------------------------------------------------------ validation
def test_policy_errors_name_the_argument() -> None:
    batch = GraphBatch.from_graphs(zoo(0))
    with pytest.raises(ValueError, match=r"k .*at least 1, got 0"):
        ego_nets(batch, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        ego_nets(batch, 1.5)  # type: ignore[arg-type]


def test_from_entries_validates() -> None:
    path = Graph(torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    batch = GraphBatch.from_graphs([path])
    long = torch.long
    base = dict(subgraph_graph=torch.tensor([0]), subgraph_root=torch.tensor([1]),
                pair_subgraph=torch.tensor([0, 0, 0]), pair_node=torch.tensor([0, 1, 2]),
                edge_subgraph=torch.tensor([0, 0]), edge_id=torch.tensor([0, 1]))
    bag = SubgraphBatch.from_entries(batch, **base)
    assert bag.local.nnz == 2 and bag.root_pair.tolist() == [1]
    with pytest.raises(ValueError, match="sorted by"):
        SubgraphBatch.from_entries(batch, **{**base, "pair_node": torch.tensor([1, 0, 2])})
    with pytest.raises(ValueError, match="not a pair of its subgraph"):
        SubgraphBatch.from_entries(batch, **{**base, "pair_subgraph": torch.tensor([0, 0]),
                                             "pair_node": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="edge_id"):
        SubgraphBatch.from_entries(batch, **{**base, "edge_id": torch.tensor([0, 5])})
    with pytest.raises(TypeError, match="pair_node"):
        SubgraphBatch.from_entries(batch, **{**base, "pair_node": torch.zeros(3)})
    # a root absent from its subgraph: root_pair -1, no diag_root
    bag = SubgraphBatch.from_entries(batch, **{**base, "pair_subgraph": torch.tensor([0, 0],
                                                                                     dtype=long),
                                               "pair_node": torch.tensor([0, 2]),
                                               "edge_subgraph": torch.zeros(0, dtype=long),
                                               "edge_id": torch.zeros(0, dtype=long)})
    assert bag.root_pair.tolist() == [-1] and bag.pair_diag_root is None
