"""The counting-substructures generator: exact counts against brute-force enumeration,
random regular graphs, determinism, splits, argument errors, and one bench epoch on a tiny
generated dataset through the graph_property task."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.bench import ExperimentError, load_experiment
from gnnkit.bench.tasks import graph_property
from gnnkit.bench.tasks.graph_property import load_graph_property_data, train_graph_property
from gnnkit.datasets.counting import (
    COUNTING_TARGETS,
    counting_dataset,
    graph_substructure_counts,
    node_substructure_counts,
    random_counting_graphs,
    random_regular_edges,
    wl_classes,
    wl_mae_floor,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "gnnkit" / "bench" / "experiments"


# ---------------------------------------------------------------------------- brute force
def _neighbours(edges: np.ndarray, n: int) -> list[set[int]]:
    adjacent: list[set[int]] = [set() for _ in range(n)]
    for u, v in edges.T.tolist():
        if u != v:
            adjacent[u].add(v)
            adjacent[v].add(u)
    return adjacent


def _brute_force(edges: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-node ``(n, 4)`` and graph ``(4,)`` counts by enumerating node subsets (columns as
    COUNTING_TARGETS: triangle, tailed triangle, 3-star, 4-cycle)."""
    adj = _neighbours(edges, n)
    node = np.zeros((n, 4), dtype=np.int64)
    graph = np.zeros(4, dtype=np.int64)
    triangles = [t for t in itertools.combinations(range(n), 3)
                 if t[1] in adj[t[0]] and t[2] in adj[t[0]] and t[2] in adj[t[1]]]
    for t in triangles:
        graph[0] += 1
        node[list(t), 0] += 1
        for v in t:  # a tail at v: an edge from v to a node outside the triangle
            tails = len(adj[v] - set(t))
            node[v, 1] += tails
            graph[1] += tails
    for v in range(n):
        stars = sum(1 for _ in itertools.combinations(sorted(adj[v]), 3))
        node[v, 2] += stars
        graph[2] += stars
    for quad in itertools.combinations(range(n), 4):
        a, b, c, d = quad
        # the three distinct 4-cycles on four nodes
        for cycle in ((a, b, c, d), (a, b, d, c), (a, c, b, d)):
            if all(cycle[(k + 1) % 4] in adj[cycle[k]] for k in range(4)):
                graph[3] += 1
                node[list(quad), 3] += 1
    return node, graph


def _small_graphs() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(7)
    graphs = []
    for n, p in [(5, 0.5), (7, 0.3), (8, 0.6), (9, 0.45), (9, 0.9), (6, 1.0)]:
        i, j = np.triu_indices(n, k=1)
        keep = rng.random(i.size) < p
        graphs.append((np.stack([i[keep], j[keep]]), n))
    graphs.append((random_regular_edges(8, 3, rng), 8))
    graphs.append((random_regular_edges(10, 4, rng), 10))
    graphs.append((np.zeros((2, 0), dtype=np.int64), 4))  # no edges
    return graphs


@pytest.mark.parametrize("index", range(9))
def test_counts_match_brute_force_enumeration(index: int) -> None:
    edges, n = _small_graphs()[index]
    node, graph = _brute_force(edges, n)
    edge_index = torch.from_numpy(edges)
    assert torch.equal(node_substructure_counts(edge_index, n), torch.from_numpy(node))
    assert torch.equal(graph_substructure_counts(edge_index, n), torch.from_numpy(graph))
    # both directions, duplicates and self loops change nothing (the graph is undirected)
    messy = torch.cat([edge_index, edge_index.flip(0), edge_index,
                       torch.tensor([[0], [0]])], dim=1)
    assert torch.equal(graph_substructure_counts(messy, n), torch.from_numpy(graph))


def test_known_graphs() -> None:
    k4 = torch.tensor([[0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3]])
    # K4: 4 triangles, 3 four-cycles, 4 stars, 4·3 tailed triangles
    assert graph_substructure_counts(k4, 4).tolist() == [4, 12, 4, 3]
    square = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    assert graph_substructure_counts(square, 4).tolist() == [0, 0, 0, 1]
    assert node_substructure_counts(square, 4)[:, 3].tolist() == [1, 1, 1, 1]


def test_triangles_agree_with_networkx() -> None:
    nx = pytest.importorskip("networkx")
    edges, sizes = random_counting_graphs(20, num_nodes=(8, 14), seed=3)
    for pairs, n in zip(edges, sizes, strict=True):
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(pairs.T.tolist())
        expected = [nx.triangles(graph)[v] for v in range(n)]
        counts = node_substructure_counts(torch.from_numpy(pairs), n)
        assert counts[:, 0].tolist() == expected


def test_random_regular_graphs_are_simple_and_regular() -> None:
    rng = np.random.default_rng(0)
    for n, d in [(10, 3), (12, 5), (16, 6), (7, 4)]:
        edges = random_regular_edges(n, d, rng)
        assert edges.shape == (2, n * d // 2)
        assert bool((edges[0] < edges[1]).all())
        assert len({tuple(e) for e in edges.T.tolist()}) == edges.shape[1]
        assert np.bincount(edges.reshape(-1), minlength=n).tolist() == [d] * n
    with pytest.raises(ValueError, match="even"):
        random_regular_edges(7, 3, rng)
    with pytest.raises(ValueError, match="degree"):
        random_regular_edges(5, 5, rng)


# ---------------------------------------------------------------------------- the dataset
def test_dataset_targets_splits_and_layout() -> None:
    data = counting_dataset("4-cycle", num_train=30, num_val=10, num_test=20, seed=1)
    assert len(data) == 60
    assert {k: v.tolist() for k, v in data.splits.items()} == {
        "train": list(range(30)), "val": list(range(30, 40)), "test": list(range(40, 60))}
    counts = data.metadata["counts"]
    assert counts.shape == (60, len(COUNTING_TARGETS))
    std = data.metadata["target_std"]
    assert std == pytest.approx(float(counts[:, 3].double().std()))
    assert torch.allclose(data.y, (counts[:, 3] / std).float())
    assert data.x is not None and data.x.shape == (int(data.node_ptr[-1]), 1)
    for g in (0, 17, 59):
        graph = data[g]
        assert torch.equal(graph_substructure_counts(graph.edge_index, graph.num_nodes),
                           counts[g])
        # both directions of every edge, sorted by (source, target)
        e = graph.edge_index
        assert e.shape[1] % 2 == 0
        keys = (e[0] * graph.num_nodes + e[1]).tolist()
        assert keys == sorted(keys)
        assert set(map(tuple, e.T.tolist())) == set(map(tuple, e.flip(0).T.tolist()))
    raw = counting_dataset("triangle", num_train=5, num_val=5, num_test=5, standardize=False)
    assert raw.y.tolist() == raw.metadata["counts"][:, 0].float().tolist()
    assert raw.metadata["target_std"] == 1.0


def test_dataset_is_deterministic_for_a_seed() -> None:
    a = counting_dataset("triangle", num_train=20, num_val=5, num_test=5, seed=4)
    b = counting_dataset("triangle", num_train=20, num_val=5, num_test=5, seed=4)
    c = counting_dataset("triangle", num_train=20, num_val=5, num_test=5, seed=5)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.node_ptr, b.node_ptr)
    assert torch.equal(a.y, b.y)
    assert not (a.node_ptr.shape == c.node_ptr.shape and torch.equal(a.node_ptr, c.node_ptr)
                and torch.equal(a.edge_index, c.edge_index))


def test_graph_mix_follows_the_arguments() -> None:
    edges, sizes = random_counting_graphs(40, num_nodes=(10, 12), regular_fraction=1.0,
                                          degrees=(4,), seed=0)
    for pairs, n in zip(edges, sizes, strict=True):
        assert 10 <= n <= 12
        assert np.bincount(pairs.reshape(-1), minlength=n).tolist() == [4] * n
    edges, sizes = random_counting_graphs(30, num_nodes=(6, 6), regular_fraction=0.0,
                                          edge_probability=(1.0, 1.0), seed=0)
    assert all(p.shape[1] == math.comb(6, 2) for p in edges) and set(sizes) == {6}
    # odd n with only odd degrees: one more node makes the regular graph possible
    _, sizes = random_counting_graphs(10, num_nodes=(9, 9), regular_fraction=1.0,
                                      degrees=(3,), seed=0)
    assert set(sizes) == {10}


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"target": "pentagon"}, "target"),
    ({"num_train": 0}, "num_train"),
    ({"num_val": 1.5}, "num_val"),
    ({"num_test": True}, "num_test"),
    ({"num_nodes": (3, 8)}, "num_nodes"),
    ({"num_nodes": (9, 8)}, "num_nodes"),
    ({"edge_probability": (0.5, 0.2)}, "edge_probability"),
    ({"regular_fraction": 1.5}, "regular_fraction"),
    ({"degrees": (12,)}, "degrees"),
    ({"seed": "zero"}, "seed"),
])
def test_bad_arguments_name_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        counting_dataset(**{"num_train": 4, "num_val": 2, "num_test": 2, **kwargs})


def test_counts_reject_bad_edge_index() -> None:
    with pytest.raises(ValueError, match="edge_index"):
        node_substructure_counts(torch.zeros(3, 2, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="num_nodes"):
        graph_substructure_counts(torch.tensor([[0], [5]]), 4)


def test_constant_target_is_an_error() -> None:
    # complete graphs of one size all have the same count
    with pytest.raises(ValueError, match="nothing to learn"):
        counting_dataset("triangle", num_train=3, num_val=1, num_test=1, num_nodes=(6, 6),
                         regular_fraction=0.0, edge_probability=(1.0, 1.0))


# ---------------------------------------------------------------------------- the 1-WL bound
def test_wl_classes_merge_exactly_the_1wl_equivalent_graphs() -> None:
    from gnnkit.datasets import GraphDataset

    def undirected(pairs: list[tuple[int, int]]) -> torch.Tensor:
        e = torch.tensor(pairs).T
        return torch.cat([e, e.flip(0)], dim=1)

    two_triangles = undirected([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)])
    hexagon = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0)])
    path = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])
    graphs = [two_triangles, hexagon, path]
    data = GraphDataset(edge_index=torch.cat(graphs, dim=1),
                        node_ptr=torch.tensor([0, 6, 12, 18]),
                        edge_ptr=torch.tensor([0, 12, 24, 34]),
                        y=torch.tensor([2.0, 0.0, 0.0]),
                        splits={"test": torch.arange(3)})
    classes = wl_classes(data).tolist()
    assert classes[0] == classes[1] != classes[2]  # 1-WL cannot tell 2·C3 from C6
    # the best constant for {2, 0} is anything in [0, 2]: total error 2 over 3 graphs
    assert wl_mae_floor(data) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="split 'val'"):
        wl_mae_floor(data, "val")


def test_wl_floor_of_the_counting_data_is_positive_for_cycles() -> None:
    data = counting_dataset("triangle", num_train=10, num_val=10, num_test=60,
                            num_nodes=(10, 11), degrees=(3,), seed=0)
    classes = wl_classes(data)
    regular = [g for g in range(len(data))
               if len(set(np.bincount(data[g].edge_index[0].numpy()).tolist())) == 1]
    # regular graphs of one size and degree fall into one class
    by_shape: dict[tuple[int, int], set[int]] = {}
    for g in regular:
        graph = data[g]
        key = (graph.num_nodes, graph.edge_index.shape[1])
        by_shape.setdefault(key, set()).add(int(classes[g]))
    assert by_shape and all(len(ids) == 1 for ids in by_shape.values())
    assert wl_mae_floor(data) > 0


# ---------------------------------------------------------------------------- the bench
@pytest.mark.parametrize("experiment_id", ["counting-triangle-sswlplus", "counting-4cycle-gin"])
def test_bench_runs_one_epoch_on_a_tiny_generated_dataset(
        monkeypatch: pytest.MonkeyPatch, experiment_id: str) -> None:
    monkeypatch.setattr(graph_property, "COUNTING_SIZES", {
        "num_train": 12, "num_val": 6, "num_test": 6, "num_nodes": (6, 8), "seed": 0})
    experiment = load_experiment(EXPERIMENTS / f"{experiment_id}.toml")
    assert experiment.dataset.source == "counting" and experiment.metric == "mae"
    assert experiment.paper is None and experiment.notes
    data = load_graph_property_data(experiment.dataset, roots=[])
    assert len(data.dataset) == 24 and data.train.numel() == 12 and data.metric == "mae"
    run = train_graph_property(experiment, data, seed=0, max_epochs=1)
    assert run.result.epochs == 1 and math.isfinite(run.result.test)
    assert run.result.test >= 0


def test_bench_rejects_unknown_counting_targets_and_splits(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "counting-triangle-gin.toml").read_text()
    bad_name = tmp_path / "a.toml"
    bad_name.write_text(text.replace('name = "triangle"', 'name = "pentagon"'))
    with pytest.raises(ExperimentError, match=r"dataset\.name 'pentagon'"):
        load_experiment(bad_name)
    bad_split = tmp_path / "b.toml"
    bad_split.write_text(text.replace('split = "generated"', 'split = "zinc-12k"'))
    with pytest.raises(ExperimentError, match="generated"):
        load_experiment(bad_split)
    no_split = tmp_path / "c.toml"
    no_split.write_text(text.replace('split = "generated"\n', ""))
    assert load_experiment(no_split).dataset.split == "generated"
