"""The all-pairs bag (gnnkit.data.subgraph) against dense oracles written here.

Each graph's state is a dense ``(n, n, F)`` tensor ``H[u, v]``; every operator of
``SubgraphBatch`` is compared with an ``einsum`` or a loop on it and on the dense adjacency
``A[target, source]`` (duplicate edges counted). Distances are checked against networkx's
shortest paths and an independent Floyd–Warshall, on directed graphs with self loops,
duplicate edges, isolated nodes, single-node, edgeless and empty graphs.
"""

from __future__ import annotations

import random

import networkx as nx
import pytest
import torch
from shared_data import require_shared_datasets

from gnnkit.data import GraphBatch
from gnnkit.data.subgraph import (
    PairDistances,
    SubgraphBatch,
    bfs_distances,
    pair_distances,
)
from gnnkit.datasets import Graph, GraphDataset

INF = float("inf")


# ------------------------------------------------------------------ random graphs
def random_graph(rng: random.Random, n: int, m: int, *, undirected: bool = False) -> Graph:
    """``m`` random directed edges on ``n`` nodes (self loops and repeats allowed)."""
    pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(m)] if n else []
    if undirected:
        pairs = pairs + [(b, a) for a, b in pairs]
    rng.shuffle(pairs)
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    return Graph(edge_index, num_nodes=n, edge_attr=torch.arange(len(pairs)).view(-1, 1).double())


def zoo(seed: int) -> list[Graph]:
    """Adversarial mix: random directed and undirected graphs, isolated nodes, a single node,
    an edgeless graph, a duplicated edge, a two-component graph."""
    rng = random.Random(seed)
    graphs = [random_graph(rng, rng.randint(2, 6), rng.randint(0, 9),
                           undirected=bool(rng.getrandbits(1))) for _ in range(4)]
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
                        edge_attr=torch.zeros(0, 1, dtype=torch.float64)))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=3,
                        edge_attr=torch.zeros(0, 1, dtype=torch.float64)))
    two = torch.tensor([[0, 1, 0, 2, 3], [1, 0, 1, 3, 2]])  # 0↔1 twice one way, 2↔3
    graphs.append(Graph(two, num_nodes=5, edge_attr=torch.ones(5, 1, dtype=torch.float64)))
    rng.shuffle(graphs)
    return graphs


def dense_adjacency(graph: Graph) -> torch.Tensor:
    """``A[t, s]`` = number of stored edges ``s → t``."""
    n = graph.num_nodes
    a = torch.zeros(n, n, dtype=torch.float64)
    for s, t in graph.edge_index.T.tolist():
        a[t, s] += 1
    return a


def split_pairs(bag: SubgraphBatch, h: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """The all-pairs state as one dense ``(n, n, F)`` tensor per graph (u-major layout)."""
    out, start = [], 0
    for n in sizes:
        out.append(h[start:start + n * n].reshape(n, n, h.shape[-1]))
        start += n * n
    assert start == bag.num_pairs
    return out


def flatten(blocks: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([b.reshape(-1, b.shape[-1]) for b in blocks])


# ------------------------------------------------------------------ layout
@pytest.mark.parametrize("seed", range(4))
def test_all_pairs_layout_indices_and_edge_ids(seed: int) -> None:
    graphs = zoo(seed)
    batch = GraphBatch.from_graphs(graphs)
    bag = SubgraphBatch.all_pairs(batch, max_distance=3)
    sizes = [g.num_nodes for g in graphs]
    assert bag.num_pairs == sum(n * n for n in sizes)
    assert bag.num_subgraphs == batch.num_nodes
    # pair (u, v) of graph g, in u-major order
    expected = []
    for g, n in enumerate(sizes):
        base = int(batch.ptr[g])
        expected += [(g, base + u, base + v) for u in range(n) for v in range(n)]
    got = list(zip(bag.pair_graph.tolist(), bag.subgraph_root[bag.pair_subgraph].tolist(),
                   bag.pair_node.tolist(), strict=True))
    assert got == expected
    assert bag.subgraph_graph.tolist() == batch.batch.tolist()
    assert bag.is_root.tolist() == [u == v for _, u, v in expected]
    assert bag.graph_subgraph_ptr.tolist() == batch.ptr.tolist()
    # diagonals point at (v, v) and (u, u)
    index = {(u, v): p for p, (_, u, v) in enumerate(expected)}
    assert bag.pair_diag_node.tolist() == [index[(v, v)] for _, _, v in expected]
    assert bag.pair_diag_root.tolist() == [index[(u, u)] for _, u, _ in expected]
    assert bag.root_pair.tolist() == [index[(u, u)] for u in range(batch.num_nodes)]
    # every local / vl entry comes with the batch edge behind it
    row, col = batch.adj.row.tolist(), batch.adj.col.tolist()
    for r, c, e in zip(bag.local.row.tolist(), bag.local.col.tolist(), bag.local_edge.tolist(),
                       strict=True):
        (_, u, v), (_, u2, w) = expected[r], expected[c]
        assert u == u2 and (row[e], col[e]) == (v, w)
    for r, c, e in zip(bag.vl.row.tolist(), bag.vl.col.tolist(), bag.vl_edge.tolist(),
                       strict=True):
        (_, u, v), (_, w, v2) = expected[r], expected[c]
        assert v == v2 and (row[e], col[e]) == (u, w)
    # node grouping
    for v in range(batch.num_nodes):
        members = bag.node_order[bag.node_pair_ptr[v]:bag.node_pair_ptr[v + 1]]
        assert sorted(members.tolist()) == [p for p, (_, _, x) in enumerate(expected) if x == v]


def test_local_entries_carry_their_bond_features() -> None:
    graphs = zoo(7)
    batch = GraphBatch.from_graphs(graphs)
    bag = SubgraphBatch.all_pairs(batch)
    feats = bag.local_edge_features()
    assert feats is not None and feats.shape == (bag.local.nnz, 1)
    assert torch.equal(feats, batch.edge_attr[bag.local_edge])
    assert torch.equal(bag.local.nnz * torch.ones(()),
                       torch.tensor(float(sum(g.num_nodes * g.num_edges for g in graphs))))


# ------------------------------------------------------------------ operators vs dense oracles
def dense_ops(a: torch.Tensor, h: torch.Tensor) -> dict[str, torch.Tensor]:
    n = a.shape[0]
    mean_div = max(n, 1)
    return {
        "local_sum": torch.einsum("vw,uwf->uvf", a, h),
        "root_neighbour_sum": torch.einsum("uw,wvf->uvf", a, h),
        "subgraph_sum": h.sum(1, keepdim=True).expand_as(h),
        "subgraph_mean": (h.sum(1, keepdim=True) / mean_div).expand_as(h),
        "node_sum": h.sum(0, keepdim=True).expand_as(h),
        "node_mean": (h.sum(0, keepdim=True) / mean_div).expand_as(h),
        "diag_node": torch.diagonal(h, dim1=0, dim2=1).T.unsqueeze(0).expand_as(h),
        "diag_root": torch.diagonal(h, dim1=0, dim2=1).T.unsqueeze(1).expand_as(h),
    }


@pytest.mark.parametrize("seed", range(5))
def test_operators_match_dense_einsum(seed: int) -> None:
    graphs = zoo(seed)
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=0))  # an empty graph
    batch = GraphBatch.from_graphs([g.replace(edge_attr=None) for g in graphs])
    bag = SubgraphBatch.all_pairs(batch)
    sizes = [g.num_nodes for g in graphs]
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(bag.num_pairs, 3, generator=gen, dtype=torch.float64)
    blocks = split_pairs(bag, h, sizes)
    oracle = [dense_ops(dense_adjacency(g), b) for g, b in zip(graphs, blocks, strict=True)]
    for name in oracle[0]:
        expected = flatten([o[name] for o in oracle])
        got = getattr(bag, name)(h)
        torch.testing.assert_close(got, expected, msg=name)
    # pooled forms
    torch.testing.assert_close(bag.pool_subgraphs(h), flatten([b.sum(1) for b in blocks]))
    torch.testing.assert_close(bag.pool_nodes(h, "mean"),
                               flatten([b.sum(0) / max(b.shape[0], 1) for b in blocks]))
    per_root = bag.pool_subgraphs(h, "mean")
    expected_graph = torch.stack([
        b.mean(1).mean(0) if b.shape[0] else torch.zeros(3, dtype=torch.float64)
        for b in blocks])
    torch.testing.assert_close(bag.pool_graphs(per_root), expected_graph)
    torch.testing.assert_close(bag.pool_graphs(per_root, "sum"),
                               torch.stack([b.mean(1).sum(0) for b in blocks]))
    # max over a local neighbourhood (spmm's reductions pass through); empty rows give 0
    got_max = bag.local_sum(h, "max")
    for g, b, start in zip(graphs, blocks, torch.tensor([0, *sizes]).square().cumsum(0).tolist(),
                           strict=False):
        a = dense_adjacency(g)
        n = g.num_nodes
        for u in range(n):
            for v in range(n):
                nbrs = a[v].nonzero().flatten()
                want = b[u, nbrs].max(0).values if nbrs.numel() else torch.zeros(3,
                                                                                  dtype=h.dtype)
                torch.testing.assert_close(got_max[start + u * n + v], want)


def test_broadcasts_invert_pools_on_constant_rows() -> None:
    batch = GraphBatch.from_graphs(zoo(3))
    bag = SubgraphBatch.all_pairs(batch)
    x = torch.randn(bag.num_subgraphs, 2)
    assert torch.equal(bag.broadcast_subgraphs(x), x[bag.pair_subgraph])
    y = torch.randn(bag.num_nodes, 2)
    assert torch.equal(bag.broadcast_nodes(y), y[bag.pair_node])
    assert torch.equal(bag.pair_features(), batch.x[bag.pair_node]) if batch.x is not None \
        else bag.pair_features() is None


@pytest.mark.parametrize("seed", range(2))
def test_gradients_match_the_dense_oracle(seed: int) -> None:
    graphs = zoo(seed + 10)
    batch = GraphBatch.from_graphs(graphs)
    bag = SubgraphBatch.all_pairs(batch)
    sizes = [g.num_nodes for g in graphs]
    gen = torch.Generator().manual_seed(seed)
    h0 = torch.randn(bag.num_pairs, 2, generator=gen, dtype=torch.float64)
    weight = torch.randn(bag.num_pairs, 2, generator=gen, dtype=torch.float64)
    for name in ("local_sum", "root_neighbour_sum", "subgraph_mean", "node_mean", "diag_node",
                 "diag_root", "subgraph_sum", "node_sum"):
        h = h0.clone().requires_grad_(True)
        (getattr(bag, name)(h) * weight).sum().backward()
        dense = [b.clone().requires_grad_(True) for b in split_pairs(bag, h0, sizes)]
        out = flatten([dense_ops(dense_adjacency(g), b)[name]
                       for g, b in zip(graphs, dense, strict=True)])
        (out * weight).sum().backward()
        torch.testing.assert_close(h.grad, flatten([b.grad for b in dense]), msg=name)


def test_gradcheck_float64() -> None:
    graphs = zoo(21)[:4]
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(graphs))
    h = torch.randn(bag.num_pairs, 2, dtype=torch.float64, requires_grad=True)
    for fn in (bag.local_sum, bag.root_neighbour_sum, bag.subgraph_mean, bag.node_mean,
               bag.diag_node, bag.diag_root,
               lambda t: bag.local_sum(t, "mean"),
               lambda t: bag.pool_graphs(bag.pool_subgraphs(t, "mean")),
               lambda t: bag.pool_nodes(t, "sum")):
        assert torch.autograd.gradcheck(fn, (h,))


def test_operators_accept_non_contiguous_input() -> None:
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(zoo(5)))
    wide = torch.randn(bag.num_pairs, 6, dtype=torch.float64)
    h = wide[:, ::2]
    assert not h.is_contiguous()
    for name in ("local_sum", "root_neighbour_sum", "node_mean", "diag_node"):
        torch.testing.assert_close(getattr(bag, name)(h), getattr(bag, name)(h.contiguous()))


# ------------------------------------------------------------------ distances
def networkx_distance(graph: Graph, u: int, v: int) -> float:
    """d(u, v): shortest directed path v → … → u, networkx."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.edge_index.T.tolist())
    try:
        return float(nx.shortest_path_length(g, source=v, target=u))
    except nx.NetworkXNoPath:
        return INF


def floyd_warshall(graph: Graph) -> list[list[float]]:
    """D[u][v] = shortest directed path v → … → u, by Floyd–Warshall on tiny graphs."""
    n = graph.num_nodes
    d = [[0.0 if i == j else INF for j in range(n)] for i in range(n)]
    for s, t in graph.edge_index.T.tolist():
        if s != t:
            d[t][s] = 1.0  # one step s → t: s reaches t; D[t][s] is d(root t, node s)
    for k in range(n):
        for i in range(n):
            for j in range(n):
                d[i][j] = min(d[i][j], d[i][k] + d[k][j])
    return d


def expected_buckets(graphs: list[Graph], max_distance: int, oracle: str) -> list[int]:
    out = []
    for g in graphs:
        n = g.num_nodes
        table = floyd_warshall(g) if oracle == "floyd" else None
        for u in range(n):
            for v in range(n):
                d = table[u][v] if table is not None else networkx_distance(g, u, v)
                out.append(max_distance + 1 if d == INF else int(min(d, max_distance)))
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_distance", [0, 1, 2, 5])
def test_distances_match_floyd_warshall(seed: int, max_distance: int) -> None:
    graphs = zoo(seed)
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(graphs), max_distance=max_distance)
    assert bag.distance.dtype == torch.uint8
    assert bag.max_distance == max_distance
    assert bag.distance.tolist() == expected_buckets(graphs, max_distance, "floyd")


@pytest.mark.parametrize("seed", range(3))
def test_distances_match_networkx(seed: int) -> None:
    rng = random.Random(100 + seed)
    # paths long enough that the clamp and the disconnected bucket both matter
    graphs = [random_graph(rng, rng.randint(1, 9), rng.randint(0, 8), undirected=seed != 1)
              for _ in range(5)]
    path = torch.tensor([[i for i in range(7)], [i + 1 for i in range(7)]])
    graphs = [g.replace(edge_attr=None) for g in graphs]
    graphs.append(Graph(torch.cat([path, path.flip(0)], 1), num_nodes=9))  # 8 unreachable
    got = bfs_distances(GraphBatch.from_graphs(graphs), 3)
    assert got.tolist() == expected_buckets(graphs, 3, "networkx")


def test_distance_edge_cases() -> None:
    single = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1)
    loop = Graph(torch.tensor([[0], [0]]), num_nodes=1)
    edgeless = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=2)
    empty = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=0)
    batch = GraphBatch.from_graphs([single, empty, loop, edgeless])
    assert bfs_distances(batch, 4).tolist() == [0, 0, 0, 5, 5, 0]
    only_empty = GraphBatch.from_graphs([empty])
    bag = SubgraphBatch.all_pairs(only_empty)
    assert bag.num_pairs == 0 and bag.distance.numel() == 0
    assert bag.local_sum(torch.zeros(0, 2)).shape == (0, 2)


def test_pair_distances_precompute_and_gather() -> None:
    rng = random.Random(5)
    graphs = [random_graph(rng, rng.randint(0, 7), rng.randint(0, 10), undirected=True)
              for _ in range(23)]
    dataset = GraphDataset.from_graphs(graphs)
    table = pair_distances(dataset, 3, graphs_per_chunk=4)  # chunks must not matter
    assert isinstance(table, PairDistances) and len(table) == 23
    assert table.values.dtype == torch.uint8
    assert table.values.numel() == sum(g.num_nodes ** 2 for g in graphs)
    assert table.values.tolist() == expected_buckets(graphs, 3, "floyd")
    index = [17, 3, 3, 0, 22, -1]
    batch = GraphBatch.from_dataset(dataset, index)
    gathered = table.gather(index)
    assert torch.equal(gathered, bfs_distances(batch, 3))
    bag = SubgraphBatch.all_pairs(batch, max_distance=3, distances=gathered)
    assert torch.equal(bag.distance, gathered)
    with pytest.raises(IndexError):
        table.gather([23])
    # cached per dataset; a smaller clamp is a re-bucketing of the stored distances
    assert pair_distances(dataset, 3) is table
    smaller = pair_distances(dataset, 1)
    assert smaller.max_distance == 1
    assert smaller.values.tolist() == expected_buckets(graphs, 1, "floyd")
    assert pair_distances(dataset, 5).values.tolist() == expected_buckets(graphs, 5, "floyd")
    with pytest.raises(ValueError, match="max_distance"):
        smaller.with_max_distance(2)


# ------------------------------------------------------------------ validation
def test_errors_name_the_argument() -> None:
    batch = GraphBatch.from_graphs(zoo(1))
    bag = SubgraphBatch.all_pairs(batch, max_distance=2)
    with pytest.raises(ValueError, match="max_distance"):
        SubgraphBatch.all_pairs(batch, max_distance=-1)
    with pytest.raises(ValueError, match="max_distance"):
        SubgraphBatch.all_pairs(batch, max_distance=255)
    with pytest.raises(TypeError, match="max_distance"):
        bfs_distances(batch, 2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distances"):
        SubgraphBatch.all_pairs(batch, distances=torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="distances"):
        SubgraphBatch.all_pairs(batch, max_distance=1, distances=bag.distance.clone().fill_(9))
    with pytest.raises(ValueError, match=r"h must have one row per .*pair"):
        bag.local_sum(torch.zeros(bag.num_pairs + 1, 2))
    with pytest.raises(ValueError, match="h is on meta"):
        bag.node_mean(torch.zeros(bag.num_pairs, 2, device="meta"))
    with pytest.raises(ValueError, match="one row per subgraph"):
        bag.pool_graphs(torch.zeros(bag.num_pairs, 2))
    with pytest.raises(TypeError, match=r"batch must be a gnnkit\.data\.GraphBatch"):
        SubgraphBatch.all_pairs(zoo(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fraction"):
        bag.subsample(0.0, generator=torch.Generator())
    with pytest.raises(ValueError, match="fraction"):
        bag.subsample(1.5, generator=torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        bag.subsample(0.5, generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_distance"):
        pair_distances(GraphDataset.from_graphs(zoo(1)), 300)


def test_to_moves_every_tensor() -> None:
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(zoo(2)))
    moved = bag.to("cpu")
    assert moved is not bag and moved.num_pairs == bag.num_pairs
    assert torch.equal(moved.local.col, bag.local.col)
    assert moved.policy == "all_pairs" and moved.max_distance == bag.max_distance


# ------------------------------------------------------------------ real data
def test_zinc_all_pairs_smoke() -> None:
    root = require_shared_datasets("zinc-subset") / "zinc-subset"
    from gnnkit.datasets import read_zinc

    zinc = read_zinc(root)
    index = torch.arange(64)
    batch = GraphBatch.from_dataset(zinc, index)
    table = pair_distances(zinc.subset(torch.arange(200)), 5)
    bag = SubgraphBatch.all_pairs(batch, max_distance=5, distances=table.gather(index))
    sizes = batch.node_counts
    assert bag.num_pairs == int((sizes * sizes).sum())
    assert bag.local.nnz == int((sizes * (batch.edge_ptr[1:] - batch.edge_ptr[:-1])).sum())
    assert torch.equal(bag.distance, bfs_distances(batch, 5))
    # molecules are connected: no pair in the disconnected bucket, diagonal at 0
    assert int(bag.distance.max()) <= 5
    assert bool((bag.distance[bag.is_root] == 0).all())
    graph0 = zinc[0]
    n0 = graph0.num_nodes
    assert bag.distance[: n0 * n0].tolist() == expected_buckets([graph0], 5, "networkx")
    h = torch.randn(bag.num_pairs, 4)
    out = bag.pool_graphs(bag.pool_subgraphs(bag.local_sum(h) + bag.root_neighbour_sum(h)))
    assert out.shape == (64, 4) and torch.isfinite(out).all()
