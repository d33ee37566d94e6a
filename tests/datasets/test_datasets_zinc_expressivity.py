"""ZINC-subset (gnnkit/datasets/zinc.py) and graph6 / EXP readers (expressivity.py).

Statistics from ../shared/datasets/{zinc-subset,sr-graphs,graph8c,exp}/SOURCE.txt.
Independent references: PyG's processed ZINC val/test files, networkx's graph6 decoder, and
the strongly-regular identity A^2 = k I + lambda A + mu (J - I - A).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, GraphDataset
from gnnkit.datasets.expressivity import parse_graph6, read_exp, read_graph6
from gnnkit.datasets.zinc import read_zinc

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _need(name: str) -> Path:
    folder = DATA / name
    if not folder.exists():
        pytest.skip(f"shared dataset {folder} not present")
    return folder


# ---------------------------------------------------------------------------- ZINC
@pytest.fixture(scope="module")
def zinc() -> GraphDataset:
    return read_zinc(_need("zinc-subset"))


def test_zinc_statistics_match_source_txt(zinc: GraphDataset) -> None:
    # 12000 graphs, 277864 nodes, 298985 undirected bonds = 597970 directed, 9..37 nodes;
    # train 10000 graphs / 231664 nodes / 249279 bonds, val 1000 / 23083 / 24846,
    # test 1000 / 23117 / 24860; 21 of the 28 atom types occur; bond types 1..3.
    assert len(zinc) == 12000
    assert int(zinc.num_nodes.sum()) == 277864
    assert zinc.edge_index.shape[1] == 597970
    assert (int(zinc.num_nodes.min()), int(zinc.num_nodes.max())) == (9, 37)
    for name, (graphs, nodes, bonds) in {
        "train": (10000, 231664, 249279),
        "val": (1000, 23083, 24846),
        "test": (1000, 23117, 24860),
    }.items():
        part = zinc.split(name)
        assert len(part) == graphs
        assert int(part.num_nodes.sum()) == nodes
        assert int(part.num_edges.sum()) == 2 * bonds
    assert zinc.x.unique().numel() == 21 and int(zinc.x.max()) < 28
    assert set(zinc.edge_attr.unique().tolist()) == {1, 2, 3}
    assert abs(float(zinc.split("train").y.double().mean()) - 0.0153) < 5e-5
    assert abs(float(zinc.split("val").y.double().mean()) - 0.0315) < 5e-5


@pytest.mark.filterwarnings("ignore:Weights only load failed")  # PyG's own fallback, trusted
@pytest.mark.parametrize("split", ["val", "test"])
def test_zinc_equals_pyg_processed_files(zinc: GraphDataset, split: str) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.io import fs

    data, slices = fs.torch_load(_need("zinc-subset") / "pyg-processed" / f"{split}.pt")[:2]
    ours = zinc.split(split)
    assert torch.equal(ours.x, data.x)
    assert torch.equal(ours.edge_index, data.edge_index)  # local ids in both
    assert torch.equal(ours.edge_attr, data.edge_attr)
    assert torch.equal(ours.y, data.y)
    assert torch.equal(ours.node_ptr, slices["x"])
    assert torch.equal(ours.edge_ptr, slices["edge_index"])


def _write_zinc(folder: Path, nodes: str, edges: str, labels: str, splits: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("Nodes", nodes), ("Edges", edges), ("Labels", labels)):
        (folder / f"ZINC_{name}.txt").write_text(text)
    (folder / "ZINC_splits.json").write_text(splits)


_SPLITS = '[{"test": [1], "model_selection": [{"train": [0], "validation": [1]}]}]'


def test_zinc_small_files(tmp_path: Path) -> None:
    _write_zinc(tmp_path, "0 1 5\n0 0 4\n1 0 2\n", "0 0 1 2\n", "0 0.5\n1 -1.25\n", _SPLITS)
    dataset = read_zinc(tmp_path)
    assert dataset.x.view(-1).tolist() == [4, 5, 2]  # placed by node id
    assert dataset[0].edge_index.tolist() == [[0, 1], [1, 0]]
    assert dataset.edge_attr.tolist() == [2, 2]
    assert dataset.y.tolist() == [0.5, -1.25]


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("Nodes", "0 0 4\n0 0 5\n1 0 2\n", "occurs twice"),
        ("Nodes", "0 0 4\n0 7 5\n1 0 2\n", "line 2: node id outside"),
        ("Nodes", "0 0 4\n2 0 5\n", "graph ids must run"),
        ("Edges", "0 0 5 2\n", "line 1: atom id outside its molecule"),
        ("Edges", "0 0 1\n", "expected 4 column"),
        ("Labels", "0 0.5\n", "one label per graph"),
        ("splits", '[{"test": [9], "model_selection": [{"train": [0], "validation": [1]}]}]',
         "out of range: found 9"),
        ("splits", '{"test": []}', "unexpected split layout"),
    ],
)
def test_zinc_malformed_files(tmp_path: Path, file: str, text: str, message: str) -> None:
    files = {"Nodes": "0 0 4\n0 1 5\n1 0 2\n", "Edges": "0 0 1 2\n",
             "Labels": "0 0.5\n1 -1.25\n", "splits": _SPLITS}
    files[file] = text
    _write_zinc(tmp_path, files["Nodes"], files["Edges"], files["Labels"], files["splits"])
    with pytest.raises(DatasetFileError, match=message) as info:
        read_zinc(tmp_path)
    expected = "ZINC_splits.json" if file == "splits" else f"ZINC_{file}.txt"
    assert info.value.path.name == expected


# ---------------------------------------------------------------------------- graph6
SR_FAMILIES = {
    # file: number of graphs (SOURCE.txt, = McKay's family sizes)
    "sr16622": 2, "sr251256": 15, "sr261034": 10, "sr281264": 4, "sr291467": 41,
    "sr351668": 3854, "sr351899": 227, "sr361446": 180, "sr401224": 28,
}


@pytest.mark.parametrize("name", sorted(SR_FAMILIES))
def test_sr_families_are_strongly_regular(name: str) -> None:
    dataset = read_graph6(_need("sr-graphs") / f"{name}.g6")
    n, k, lam, mu = dataset.metadata["srg_parameters"]
    assert len(dataset) == SR_FAMILIES[name]
    assert bool((dataset.num_nodes == n).all())
    assert bool((dataset.num_edges == n * k).all())
    identity = torch.eye(n)
    for index in range(min(len(dataset), 30)):  # the identity on every graph of small families
        graph = dataset[index]
        adj = torch.zeros(n, n)
        adj[graph.edge_index[1], graph.edge_index[0]] = 1.0
        assert torch.equal(adj, adj.t())
        expected = k * identity + lam * adj + mu * (torch.ones(n, n) - identity - adj)
        assert torch.equal(adj @ adj, expected)


def test_graph8c_statistics_and_networkx_parity() -> None:
    nx = pytest.importorskip("networkx")
    path = _need("graph8c") / "graph8c.g6"
    dataset = read_graph6(path)
    # SOURCE.txt: 11117 graphs, all with 8 nodes, all connected
    assert len(dataset) == 11117
    assert bool((dataset.num_nodes == 8).all())
    lines = path.read_bytes().split()
    for index in (0, 1, 5000, 11116):
        reference = nx.from_graph6_bytes(lines[index])
        ours = {tuple(sorted(e)) for e in dataset[index].edge_index.t().tolist()}
        assert ours == {tuple(sorted(e)) for e in reference.edges()}
    # connectivity of every graph: 7 rounds of neighbour expansion from node 0 reach all
    for index in range(0, 11117, 97):
        graph = dataset[index]
        reached = torch.zeros(8, dtype=torch.bool)
        reached[0] = True
        for _ in range(7):
            reached[graph.edge_index[1][reached[graph.edge_index[0]]]] = True
        assert bool(reached.all())


def test_graph6_large_n_and_errors(tmp_path: Path) -> None:
    nx = pytest.importorskip("networkx")
    graph = nx.gnm_random_graph(70, 200, seed=1)  # n >= 63 uses the 4-byte size field
    line = nx.to_graph6_bytes(graph, header=False).strip()
    n, edges = parse_graph6(line)
    assert n == 70
    assert {tuple(e) for e in edges.T.tolist()} == {tuple(sorted(e)) for e in graph.edges()}
    (tmp_path / "bad.g6").write_bytes(b"G???F{\nG??\n")
    with pytest.raises(DatasetFileError, match="line 2"):
        read_graph6(tmp_path / "bad.g6")


# ---------------------------------------------------------------------------- EXP / CEXP
@pytest.mark.parametrize(
    ("name", "nodes_range", "edges"), [("EXP", (33, 73), 72530), ("CEXP", (40, 81), 83736)]
)
def test_exp_statistics_match_source_txt(name: str, nodes_range: tuple, edges: int) -> None:
    dataset = read_exp(_need("exp") / name / "GRAPHSAT.txt")
    assert len(dataset) == 1200
    assert torch.bincount(dataset.y).tolist() == [600, 600]
    assert (int(dataset.num_nodes.min()), int(dataset.num_nodes.max())) == nodes_range
    assert dataset.edge_index.shape[1] == 2 * edges
    if name == "EXP":
        # 40..89 edges per graph, binary node labels 0: 24230, 1: 34212;
        # every pair (2i, 2i+1) has different y
        undirected = dataset.num_edges // 2
        assert (int(undirected.min()), int(undirected.max())) == (40, 89)
        assert torch.bincount(dataset.x.view(-1)).tolist() == [24230, 34212]
        assert bool((dataset.y[0::2] != dataset.y[1::2]).all())


def test_exp_malformed(tmp_path: Path) -> None:
    path = tmp_path / "GRAPHSAT.txt"
    path.write_text("1\n2 0\n0 1 1\n0 0\n")
    with pytest.raises(DatasetFileError, match="not symmetric"):
        read_exp(path)
    path.write_text("1\n2 0\n0 1 5\n0 1 0\n")
    with pytest.raises(DatasetFileError, match="line 3: neighbour id outside"):
        read_exp(path)
    path.write_text("2\n2 0\n0 1 1\n0 1 0\n")
    with pytest.raises(DatasetFileError, match="truncated"):
        read_exp(path)
    path.write_text("1\n2 1\n0 1 1\n1 1 0\n")
    dataset = read_exp(path)
    assert dataset.edge_index.tolist() == [[0, 1], [1, 0]]
    assert np.array_equal(dataset.x.view(-1).numpy(), [0, 1])
