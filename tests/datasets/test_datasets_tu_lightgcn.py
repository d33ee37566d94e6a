"""TU (gnnkit/datasets/tu.py) and LightGCN (gnnkit/datasets/lightgcn.py) readers.

Statistics from ../shared/datasets/{tu-*,lightgcn-*}/SOURCE.txt; TU parity against PyG's
independent ``torch_geometric.io.read_tu_data``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, MissingDatasetFileError
from gnnkit.datasets.lightgcn import Interactions, read_interaction_file, read_lightgcn
from gnnkit.datasets.tu import read_tu

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _need(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"shared dataset folder {folder} not present")
    return folder


# ---------------------------------------------------------------------------- TU
TU_STATS = {
    # SOURCE.txt: graphs, label counts (sorted label order), nodes, A lines, node-label values
    "MUTAG": (188, [63, 125], 3371, 7442, 7),
    "NCI1": (4110, [2053, 2057], 122747, 265506, 37),
    "IMDB-BINARY": (1000, [500, 500], 19773, 193062, None),
}


@pytest.mark.parametrize("name", sorted(TU_STATS))
def test_tu_statistics_match_source_txt(name: str) -> None:
    dataset = read_tu(_need(f"tu-{name}"), name)
    graphs, label_counts, nodes, lines, node_label_values = TU_STATS[name]
    assert len(dataset) == graphs
    assert torch.bincount(dataset.y).tolist() == label_counts
    assert int(dataset.num_nodes.sum()) == nodes
    # symmetric, no self loops, no duplicates: every A line survives coalescing
    assert dataset.metadata["raw_entries"] == lines
    assert dataset.metadata["raw_self_loops"] == 0
    assert dataset.edge_index.shape[1] == lines
    if node_label_values is None:
        assert dataset.x is None
    else:
        assert dataset.x.shape == (nodes, node_label_values)
        assert torch.equal(dataset.x.sum(1), torch.ones(nodes))  # one-hot rows


def test_mutag_labels_and_edge_labels() -> None:
    dataset = read_tu(_need("tu-MUTAG"), "MUTAG")
    assert dataset.metadata["label_values"] == [-1, 1]  # PyG maps them to 0/1
    assert dataset.edge_attr.shape == (7442, 4)
    graph = dataset[0]
    # undirected: each graph's edge set equals its reverse
    pairs = set(map(tuple, graph.edge_index.t().tolist()))
    assert pairs == {(b, a) for a, b in pairs}


@pytest.mark.parametrize("name", sorted(TU_STATS))
def test_tu_matches_pyg_reader(name: str) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.io import read_tu_data

    folder = _need(f"tu-{name}")
    dataset = read_tu(folder, name)
    data, slices, _ = read_tu_data(str(folder), name)
    assert torch.equal(dataset.edge_index, data.edge_index)
    assert torch.equal(dataset.edge_ptr, slices["edge_index"])
    assert torch.equal(dataset.y, data.y)
    if dataset.x is not None:
        assert torch.equal(dataset.x, data.x)
        assert torch.equal(dataset.node_ptr, slices["x"])
    if dataset.edge_attr is not None:
        assert torch.equal(dataset.edge_attr, data.edge_attr)


def _write_tu(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for part, text in files.items():
        (folder / f"T_{part}.txt").write_text(text)


_GOOD = {
    "A": "1, 2\n2, 1\n3, 4\n4, 3\n4, 4\n",
    "graph_indicator": "1\n1\n2\n2\n",
    "graph_labels": "5\n7\n",
    "node_labels": "0\n2\n1\n1\n",
    "edge_labels": "1\n1\n2\n2\n3\n",
}


def test_tu_small_file_semantics(tmp_path: Path) -> None:
    _write_tu(tmp_path, _GOOD)
    dataset = read_tu(tmp_path, "T")
    assert dataset.y.tolist() == [0, 1]
    assert dataset.metadata["raw_self_loops"] == 1
    assert dataset[1].edge_index.tolist() == [[0, 1], [1, 0]]  # local ids, self loop dropped
    assert dataset.x.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0]]
    assert dataset.edge_attr.tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]]


@pytest.mark.parametrize(
    ("part", "text", "message"),
    [
        ("A", "1, 2\n2, 9\n", "node id 9 out of range 1..4"),
        ("A", "1, 3\n", "line 1 joins nodes of different graphs"),
        ("A", "1, 2, 3\n", "expected 2 column"),
        ("A", "1, x\n", "malformed table"),
        ("graph_indicator", "1\n2\n1\n2\n", "grouped by graph"),
        ("graph_labels", "1\n", "1 labels for 2 graphs"),
        ("node_labels", "0\n1\n", "has 2 lines, expected 4"),
        ("edge_labels", "1\n", "has 1 lines, expected 5"),
    ],
)
def test_tu_malformed_files_name_the_file(
    tmp_path: Path, part: str, text: str, message: str
) -> None:
    _write_tu(tmp_path, {**_GOOD, part: text})
    with pytest.raises(DatasetFileError, match=message) as info:
        read_tu(tmp_path, "T")
    assert info.value.path.name == f"T_{part}.txt"


def test_tu_missing_adjacency(tmp_path: Path) -> None:
    _write_tu(tmp_path, {k: v for k, v in _GOOD.items() if k != "A"})
    with pytest.raises(MissingDatasetFileError, match=r"T_A\.txt"):
        read_tu(tmp_path, "T")


# ---------------------------------------------------------------------------- LightGCN
def _line_count(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


@pytest.fixture(scope="module")
def gowalla() -> Interactions:
    return read_lightgcn(_need("lightgcn-gowalla"))


def test_gowalla_statistics_match_source_txt(gowalla: Interactions) -> None:
    data = gowalla
    # SOURCE.txt: 29858 users, 40981 items; train 810128 + test 217242 = 1027370;
    # no train/test overlap, no duplicate pairs
    assert (data.num_users, data.num_items) == (29858, 40981)
    assert data.train.shape == (2, 810128)
    assert data.test.shape == (2, 217242)
    assert data.metadata["num_interactions"] == 1027370
    assert data.metadata["train_duplicates"] == 0
    assert data.metadata["train_test_overlap"] == 0
    assert data.metadata["name"] == "Gowalla"


def test_gowalla_pairs_match_a_plain_python_parse(gowalla: Interactions) -> None:
    folder, data = _need("lightgcn-gowalla"), gowalla
    lines = (folder / "test.txt").read_text().splitlines()
    for line_number in (0, 1, 12345, len(lines) - 1):
        user, *items = (int(token) for token in lines[line_number].split())
        mine = data.test[1][data.test[0] == user].tolist()
        assert mine == items


def test_gowalla_bipartite_graph(gowalla: Interactions) -> None:
    graph = gowalla.to_graph()
    assert graph.num_nodes == 29858 + 40981
    assert graph.num_edges == 2 * 810128
    users, items = graph.edge_index[:, :810128]
    assert int(users.max()) < 29858 <= int(items.min())


@pytest.mark.parametrize(
    ("name", "users", "interactions", "items"),
    [("yelp2018", 31668, 324147, 38048), ("amazon-book", 52643, 603378, 91599)],
)
def test_incomplete_lightgcn_folders(name: str, users: int, interactions: int, items: int) -> None:
    folder = _need(f"lightgcn-{name}")
    with pytest.raises(MissingDatasetFileError, match=r"train\.txt") as info:
        read_lightgcn(folder)
    assert info.value.path == folder / "train.txt"
    # SOURCE.txt statistics of the files that are present
    test_users, test_items = read_interaction_file(folder / "test.txt")
    assert _line_count(folder / "test.txt") == users
    assert test_items.size == interactions
    assert _line_count(folder / "user_list.txt") - 1 == users
    assert _line_count(folder / "item_list.txt") - 1 == items
    assert int(test_items.max()) < items and int(test_users.max()) < users


def test_lightgcn_malformed_files(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("0 1 2\n1 2 x\n")
    (tmp_path / "test.txt").write_text("0 3\n")
    with pytest.raises(DatasetFileError, match="line 2: not integers") as info:
        read_lightgcn(tmp_path)
    assert info.value.path.name == "train.txt"
    (tmp_path / "train.txt").write_text("0 1 2\n1 2\n")
    (tmp_path / "item_list.txt").write_text("org_id remap_id\n10 0\n11 1\n")
    with pytest.raises(DatasetFileError, match="lists 2 items but the interactions use id 3"):
        read_lightgcn(tmp_path)
    (tmp_path / "item_list.txt").unlink()
    data = read_lightgcn(tmp_path)
    assert (data.num_users, data.num_items) == (2, 4)
    assert data.train.tolist() == [[0, 0, 1], [1, 2, 2]]
    with pytest.raises(ValueError, match="outside"):
        Interactions(num_users=1, num_items=1, train=torch.tensor([[0], [3]]),
                     test=torch.zeros(2, 0, dtype=torch.long))
    assert np.array_equal(data.test.numpy(), [[0], [3]])
