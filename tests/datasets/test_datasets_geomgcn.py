"""geom-gcn reader (gnnkit/datasets/geomgcn.py) on the real files and malformed copies.

Statistics from ../shared/datasets/geomgcn-*/SOURCE.txt; parity against PyG's ``WebKB``
processing of the same raw files and against the Yandex chameleon npz beside them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, MissingDatasetFileError, read_geomgcn
from gnnkit.datasets.geomgcn import read_geomgcn_splits

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _need(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"shared dataset folder {folder} not present")
    return folder


STATS = {
    # nodes, features, class counts, edge lines (= directed unique), self loops,
    # split sizes (train, val, test)
    "texas": (183, 1703, [33, 1, 18, 101, 30], 325, 16, (87, 59, 37)),
    "wisconsin": (251, 1703, [10, 70, 118, 32, 21], 515, 16, (120, 80, 51)),
    "cornell": (183, 1703, None, 298, 3, (87, 59, 37)),
    "chameleon": (2277, 2325, [456, 460, 453, 521, 387], 36101, 50, (1092, 729, 456)),
}


@pytest.mark.parametrize("name", sorted(STATS))
def test_statistics_match_source_txt(name: str) -> None:
    graph = read_geomgcn(_need(f"geomgcn-{name}"), name)
    nodes, features, classes, lines, loops, (train, val, test) = STATS[name]
    assert graph.num_nodes == nodes
    assert tuple(graph.x.shape) == (nodes, features)
    assert graph.metadata["num_classes"] == 5
    if classes is not None:
        assert torch.bincount(graph.y).tolist() == classes
    assert graph.num_edges == lines == graph.metadata["raw_edge_lines"]
    assert graph.metadata["self_loops"] == loops
    for split, size in (("train", train), ("val", val), ("test", test)):
        mask = graph.node_splits[split]
        assert mask.shape == (nodes, 10)
        assert mask.sum(0).tolist() == [size] * 10
    overlap = (graph.train_mask.int() + graph.val_mask.int() + graph.test_mask.int()).max()
    assert int(overlap) == 1  # disjoint in every split
    if name != "chameleon":
        assert set(torch.unique(graph.x).tolist()) == {0.0, 1.0}


def test_texas_and_cornell_share_features_and_labels() -> None:
    texas = read_geomgcn(_need("geomgcn-texas"), "texas", splits=False)
    cornell = read_geomgcn(_need("geomgcn-cornell"), "cornell", splits=False)
    assert torch.equal(texas.x, cornell.x) and torch.equal(texas.y, cornell.y)  # upstream quirk
    assert torch.bincount(cornell.y).tolist() == [33, 1, 18, 101, 30]


def test_undirected_option_counts() -> None:
    chameleon = read_geomgcn(_need("geomgcn-chameleon"), "chameleon", undirected=True,
                             splits=False)
    src, dst = chameleon.edge_index
    assert int((src != dst).sum()) == 2 * 31371  # SOURCE.txt: 31371 undirected non-loop edges


def test_chameleon_matches_the_yandex_npz() -> None:
    folder = _need("geomgcn-chameleon")
    graph = read_geomgcn(folder, "chameleon", undirected=True)
    with np.load(folder / "yandex-npz" / "chameleon.npz") as npz:
        assert np.array_equal(graph.x.numpy(), npz["node_features"])
        assert np.array_equal(graph.y.numpy(), npz["node_labels"])
        ours = graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]]
        theirs = np.sort(npz["edges"], axis=1)
        assert {tuple(e) for e in ours.t().tolist()} == {tuple(e) for e in theirs.tolist()}
        for split, key in (("train", "train_masks"), ("val", "val_masks"),
                           ("test", "test_masks")):
            assert np.array_equal(graph.node_splits[split].numpy(), npz[key].T)


@pytest.mark.parametrize("name", ["texas", "wisconsin", "cornell"])
def test_matches_pyg_webkb(tmp_path: Path, name: str) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.datasets import WebKB

    raw = tmp_path / name / "raw"
    raw.mkdir(parents=True)
    for path in _need(f"geomgcn-{name}").iterdir():
        if path.is_file():
            (raw / path.name).symlink_to(path)
    data = WebKB(str(tmp_path), name.capitalize())[0]  # raw files present: no download
    graph = read_geomgcn(DATA / f"geomgcn-{name}", name)
    assert torch.equal(graph.x, data.x)
    assert torch.equal(graph.y, data.y)
    assert torch.equal(graph.edge_index, data.edge_index)
    for split in ("train", "val", "test"):
        assert torch.equal(graph.node_splits[split], data[f"{split}_mask"])


def test_planetoid_geomgcn_splits() -> None:
    folder = _need("geomgcn-splits-planetoid")
    # SOURCE.txt: cora N=2708, 1192/796/497; pubmed N=19717, 9463/6310/3944; disjoint
    for name, nodes, sizes in (("cora", 2708, (1192, 796, 497)),
                               ("pubmed", 19717, (9463, 6310, 3944))):
        masks = read_geomgcn_splits(folder, name, nodes)
        for split, size in zip(("train", "val", "test"), sizes, strict=True):
            assert masks[split].shape == (nodes, 10)
            assert masks[split].sum(0).tolist() == [size] * 10
        total = masks["train"].int() + masks["val"].int() + masks["test"].int()
        assert int(total.max()) == 1
    with pytest.raises(DatasetFileError, match=r"cora_split_0\.6_0\.2_0\.npz.*\(2000,\)"):
        read_geomgcn_splits(folder, "cora", 2000)


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "texas"
    shutil.copytree(_need("geomgcn-texas"), folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("out1_graph_edges.txt", "node_id\tnode_id\n0\t1\n5\t999\n", "node id out of range"),
        ("out1_graph_edges.txt", "0\t1\n", "missing header"),
        ("out1_graph_edges.txt", "node_id\tnode_id\n0\t1\t2\n", "expected 2 column"),
        ("out1_node_feature_label.txt", "node_id\tfeature\tlabel\n0\t1,0\t1\n1\t0,1\n",
         "line 3: expected 3 tab-separated columns"),
        ("out1_node_feature_label.txt", "node_id\tfeature\tlabel\n0\t1,0\t1\n2\t0,1\t0\n",
         "not a permutation"),
        ("out1_node_feature_label.txt", "node_id\tfeature\tlabel\n0\t1,0\t1\n1\t0\t0\n",
         "different feature counts"),
        ("out1_node_feature_label.txt", "node_id\tfeature\tlabel\n0\t1,x\t1\n1\t0,1\t0\n",
         "non-numeric"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, file: str, text: str,
                                       message: str) -> None:
    folder = _copy(tmp_path)
    (folder / file).write_text(text)
    with pytest.raises(DatasetFileError, match=message) as info:
        read_geomgcn(folder, "texas")
    assert info.value.path.name == file


def test_missing_and_bad_split_files(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    np.savez(folder / "texas_split_0.6_0.2_3.npz", train_mask=np.ones(10, bool),
             val_mask=np.ones(10, bool), test_mask=np.ones(10, bool))
    with pytest.raises(DatasetFileError, match=r"texas_split_0\.6_0\.2_3\.npz: train_mask"):
        read_geomgcn(folder, "texas")
    (folder / "texas_split_0.6_0.2_3.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetFileError, match="not a readable npz"):
        read_geomgcn(folder, "texas")
    (folder / "texas_split_0.6_0.2_3.npz").unlink()
    with pytest.raises(MissingDatasetFileError, match=r"texas_split_0\.6_0\.2_3\.npz"):
        read_geomgcn(folder, "texas")


def test_film_index_features(tmp_path: Path) -> None:
    (tmp_path / "out1_node_feature_label.txt").write_text(
        "node_id\tfeature\tlabel\n1\t3,931\t2\n0\t0\t1\n"
    )
    (tmp_path / "out1_graph_edges.txt").write_text("node_id\tnode_id\n0\t1\n")
    graph = read_geomgcn(tmp_path, "film", splits=False)
    assert graph.x.shape == (2, 932)
    assert graph.x[1].nonzero().view(-1).tolist() == [3, 931]
    assert graph.x[0].nonzero().view(-1).tolist() == [0]
    assert graph.y.tolist() == [1, 2]


# ------------------------------------------------------------ Film's index format, Squirrel
def _write_files(folder: Path, name: str, header: str, rows: list[str],
                 edges: list[tuple[int, int]], num_nodes: int, seed: int = 0) -> None:
    """geom-gcn's three kinds of file, in the release's layout (one trailing newline)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out1_node_feature_label.txt").write_text("\n".join([header, *rows]) + "\n")
    (folder / "out1_graph_edges.txt").write_text(
        "\n".join(["node_id\tnode_id", *(f"{u}\t{v}" for u, v in edges)]) + "\n")
    rng = np.random.default_rng(seed)
    for k in range(10):
        part = rng.permutation(num_nodes) % 5  # 0, 1: train; 2, 3: val; 4: test
        np.savez(folder / f"{name}_split_0.6_0.2_{k}.npz", train_mask=(part < 2).astype(np.uint8),
                 val_mask=(part // 2 == 1), test_mask=(part == 4))


def _film_like(num_nodes: int = 12, amount: int = 40, seed: int = 0
               ) -> tuple[list[str], np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Rows in Film's format (shuffled ids, a repeated index, the largest index used), the
    dense oracle they encode, the labels and an edge list with duplicates and loops."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((num_nodes, amount + 1), dtype=np.float32)
    labels = rng.integers(0, 5, num_nodes)
    rows = []
    for node in rng.permutation(num_nodes):
        active = rng.choice(amount + 1, size=rng.integers(1, 6), replace=False).tolist()
        if node == 0:
            active = [amount, 0]  # the largest index K of feature(feature_amount:K)
        if node == 1:
            active = [*active, active[0]]  # listed twice, as in ten of Film's rows
        dense[node, active] = 1.0
        rows.append(f"{node}\t{','.join(map(str, active))}\t{labels[node]}")
    pairs = rng.integers(0, num_nodes, (30, 2)).tolist()
    edges = [(u, v) for u, v in pairs] + [(u, v) for u, v in pairs[:7]] + [(3, 3), (5, 5)]
    edges = [(int(u), int(v)) for u, v in edges]
    return rows, dense, labels, edges


def test_film_index_format_with_feature_amount_header(tmp_path: Path) -> None:
    rows, dense, labels, edges = _film_like()
    _write_files(tmp_path, "film", "node_id\tfeature(feature_amount:40)\tlabel", rows, edges, 12)
    graph = read_geomgcn(tmp_path, "film")
    assert graph.x.dtype == torch.float32
    assert np.array_equal(graph.x.numpy(), dense)  # 41 wide: indices 0..40
    assert np.array_equal(graph.y.numpy(), labels)
    unique = sorted(set(edges))
    assert [tuple(e) for e in graph.edge_index.t().tolist()] == unique
    assert graph.metadata["raw_edge_lines"] == len(edges)
    assert graph.metadata["duplicate_edge_lines"] == len(edges) - len(unique)
    assert graph.metadata["self_loops"] == sum(u == v for u, v in unique)
    assert graph.node_splits["train"].shape == (12, 10)
    # the name does not matter: the header decides the format
    (tmp_path / "film_split_0.6_0.2_0.npz").rename(tmp_path / "other_split_0.6_0.2_0.npz")
    other = read_geomgcn(tmp_path, "other", splits=False)
    assert torch.equal(other.x, graph.x)


def test_film_format_matches_pyg_actor(tmp_path: Path) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.datasets import Actor

    rows, _, _, edges = _film_like(num_nodes=30, amount=60, seed=3)
    raw = tmp_path / "raw"
    _write_files(raw, "film", "node_id\tfeature(feature_amount:60)\tlabel", rows, edges, 30)
    data = Actor(str(tmp_path))[0]  # raw files present: no download
    graph = read_geomgcn(raw, "film")
    assert torch.equal(graph.x, data.x)
    assert torch.equal(graph.y, data.y)
    assert torch.equal(graph.edge_index, data.edge_index)
    for split in ("train", "val", "test"):
        assert torch.equal(graph.node_splits[split], data[f"{split}_mask"])


def test_squirrel_is_read_like_chameleon_and_matches_pyg(tmp_path: Path) -> None:
    """Squirrel ships Chameleon's dense format (PyG's ``WikipediaNetwork`` reads both the same
    way; its rows are in node-id order, which PyG relies on)."""
    pytest.importorskip("torch_geometric")
    from torch_geometric.datasets import WikipediaNetwork

    rng = np.random.default_rng(5)
    dense = (rng.random((25, 9)) < 0.3).astype(np.float32)
    labels = rng.integers(0, 5, 25)
    rows = [f"{i}\t{','.join(str(int(v)) for v in dense[i])}\t{labels[i]}" for i in range(25)]
    edges = [tuple(e) for e in rng.integers(0, 25, (60, 2)).tolist()] + [(4, 4)]
    raw = tmp_path / "squirrel" / "geom_gcn" / "raw"
    _write_files(raw, "squirrel", "node_id\tfeature\tlabel", rows, edges, 25)
    data = WikipediaNetwork(str(tmp_path), "squirrel", geom_gcn_preprocess=True)[0]
    graph = read_geomgcn(raw, "squirrel")
    assert np.array_equal(graph.x.numpy(), dense)
    assert torch.equal(graph.x, data.x) and torch.equal(graph.y, data.y)
    assert torch.equal(graph.edge_index, data.edge_index)
    for split in ("train", "val", "test"):
        assert torch.equal(graph.node_splits[split], data[f"{split}_mask"])


def test_undirected_without_self_loops_is_the_nsd_graph(tmp_path: Path) -> None:
    rows, _, _, edges = _film_like()
    _write_files(tmp_path, "film", "node_id\tfeature(feature_amount:40)\tlabel", rows, edges, 12)
    graph = read_geomgcn(tmp_path, "film", undirected=True, remove_self_loops=True, splits=False)
    expected = sorted({(u, v) for u, v in edges if u != v} | {(v, u) for u, v in edges if u != v})
    assert [tuple(e) for e in graph.edge_index.t().tolist()] == expected
    assert graph.metadata["self_loops"] == 0


FILM_HEADER = "node_id\tfeature(feature_amount:40)\tlabel"


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("node_id\tfeature(feature_amount:x)\tlabel", ["0\t1\t0"],
         r"line 1: unrecognised header .*feature\(feature_amount:K\)"),
        ("node_id\tfeatures\tlabel", ["0\t1\t0"], "line 1: unrecognised header"),
        ("id\tfeature(feature_amount:40)\tlabel", ["0\t1\t0"], "line 1: unrecognised header"),
        (FILM_HEADER, ["0\t1,2\t0", "1\t3,41\t1"],
         r"line 3: feature index 41 is outside 0\.\.40 .*raise feature_amount"),
        (FILM_HEADER, ["0\t1,-2\t0", "1\t3\t1"], r"line 2: feature index -2 is outside"),
        (FILM_HEADER, ["0\t1,2\t0", "1\t3,a\t1"],
         "line 3: feature indices '3,a' are not comma-separated integers"),
        (FILM_HEADER, ["0\t1\t0", "1.5\t3\t1"],
         r"line 3: node id '1\.5' is not an integer.*integer node ids"),
        (FILM_HEADER, ["0\t1\t0", "", "x\t3\t1"], "line 4: node id 'x' is not an integer"),
        (FILM_HEADER, ["0\t1\t0", "1\t3\tB"], "line 3: label 'B' is not an integer"),
        (FILM_HEADER, ["0\t1\t0", "1\t3"], "line 3: expected 3 tab-separated columns"),
        ("node_id\tfeature\tlabel", ["0\t1\t0", "one\t0\t1"], "line 3: node id 'one'"),
    ],
)
def test_malformed_index_format_names_file_line_and_fix(tmp_path: Path, header: str,
                                                        rows: list[str], message: str) -> None:
    _write_files(tmp_path, "film", header, rows, [(0, 1)], len(rows))
    with pytest.raises(DatasetFileError, match=message) as info:
        read_geomgcn(tmp_path, "film", splits=False)
    assert info.value.path.name == "out1_node_feature_label.txt"
    assert str(info.value).startswith(str(tmp_path / "out1_node_feature_label.txt"))


def test_malformed_edge_file_names_the_line(tmp_path: Path) -> None:
    _write_files(tmp_path, "film", FILM_HEADER, ["0\t1\t0", "1\t2\t1"], [(0, 1)], 2)
    (tmp_path / "out1_graph_edges.txt").write_text("source\ttarget\n0\t1\n")
    with pytest.raises(DatasetFileError, match="line 1: missing header") as info:
        read_geomgcn(tmp_path, "film", splits=False)
    assert info.value.path.name == "out1_graph_edges.txt"
    (tmp_path / "out1_graph_edges.txt").write_text("node_id\tnode_id\n0\t1\n1\tq\n")
    with pytest.raises(DatasetFileError) as info:
        read_geomgcn(tmp_path, "film", splits=False)
    assert info.value.path.name == "out1_graph_edges.txt"
