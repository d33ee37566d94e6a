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
