"""OGB layout readers (gnnkit/datasets/ogb_format.py, _safe_pickle.py).

Real folders: ../shared/datasets/ogbl-ddi and ogbg-mol{bace,esol,freesolv} (statistics from
their SOURCE.txt). Independent references: the ``ogb`` package's
``read_csv_graph_raw``, and ``torch.load(weights_only=False)`` for the trusted legacy files.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, MissingDatasetFileError
from gnnkit.datasets._safe_pickle import load_torch_file
from gnnkit.datasets.ogb_format import (
    read_ogb,
    read_ogb_graph_property,
    read_ogb_link_property,
    read_ogb_node_property,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _need(name: str) -> Path:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"shared dataset folder {folder} not present")
    return folder


# ---------------------------------------------------------------------------- names
def test_unknown_and_unsupported_names() -> None:
    with pytest.raises(ValueError, match="unknown OGB dataset name 'ogbn-nope'"):
        read_ogb(Path("/nonexistent"), "ogbn-nope")
    with pytest.raises(ValueError, match=r"folder '/data/my-copy'.*pass name="):
        read_ogb_graph_property(Path("/data/my-copy"))
    with pytest.raises(ValueError, match="heterogeneous"):
        read_ogb_node_property(Path("/nonexistent"), "ogbn-mag")
    with pytest.raises(ValueError, match="graph-property dataset, not node"):
        read_ogb_node_property(Path("/nonexistent"), "ogbg-molhiv")


# ---------------------------------------------------------------------------- ogbg-mol*
MOL_STATS = {
    # SOURCE.txt: graphs, nodes, edges (stored once), split train/valid/test
    "ogbg-molbace": (1513, 51577, 55768, (1210, 151, 152)),
    "ogbg-molesol": (1128, 14991, 15428, (902, 113, 113)),
    "ogbg-molfreesolv": (642, 5600, 5385, (513, 64, 65)),
}


@pytest.mark.parametrize("name", sorted(MOL_STATS))
def test_mol_statistics_match_source_txt(name: str) -> None:
    dataset = read_ogb_graph_property(_need(name))
    graphs, nodes, edges, (train, valid, test) = MOL_STATS[name]
    assert len(dataset) == graphs
    assert int(dataset.num_nodes.sum()) == nodes
    assert int(dataset.num_edges.sum()) == 2 * edges  # inverse edges added, as OGB does
    assert tuple(dataset.x.shape) == (nodes, 9)
    assert tuple(dataset.edge_attr.shape) == (2 * edges, 3)
    assert tuple(dataset.y.shape) == (graphs, 1)
    sizes = tuple(dataset.splits[s].numel() for s in ("train", "val", "test"))
    assert sizes == (train, valid, test)
    everything = torch.cat([dataset.splits[s] for s in ("train", "val", "test")])
    assert torch.equal(everything.sort().values, torch.arange(graphs))  # a partition
    expected_y = torch.int64 if name == "ogbg-molbace" else torch.float32
    assert dataset.y.dtype == expected_y
    # metadata comes from the one OGB table: regression has no classes (OGB's -1 is None)
    assert dataset.metadata["num_classes"] == (2 if name == "ogbg-molbace" else None)
    assert dataset.metadata["eval_metric"] == ("rocauc" if name == "ogbg-molbace" else "rmse")


def test_mol_matches_ogb_read_csv_graph_raw() -> None:
    pytest.importorskip("ogb")
    from ogb.io.read_graph_raw import read_csv_graph_raw

    root = _need("ogbg-molfreesolv")
    dataset = read_ogb_graph_property(root)
    reference = read_csv_graph_raw(str(root / "raw"), add_inverse_edge=True)
    assert len(reference) == len(dataset)
    for index in (0, 1, 100, len(dataset) - 1):
        ours, theirs = dataset[index], reference[index]
        assert ours.num_nodes == theirs["num_nodes"]
        assert np.array_equal(ours.edge_index.numpy(), theirs["edge_index"])
        assert np.array_equal(ours.x.numpy(), theirs["node_feat"])
        assert np.array_equal(ours.edge_attr.numpy(), theirs["edge_feat"])
        assert ours.x.dtype == torch.int64 and theirs["node_feat"].dtype == np.int64
    labels = np.loadtxt(root / "raw" / "graph-label.csv.gz", delimiter=",", dtype=np.float32)
    assert np.array_equal(dataset.y.view(-1).numpy(), labels)


def test_mol_split_matches_the_csv_files() -> None:
    root = _need("ogbg-molbace")
    dataset = read_ogb(root, "ogbg-molbace")
    for ogb_name, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        with gzip.open(root / "split" / "scaffold" / f"{ogb_name}.csv.gz", "rt") as handle:
            ids = [int(line) for line in handle.read().split()]
        assert dataset.splits[name].tolist() == ids


# ---------------------------------------------------------------------------- ogbl-ddi
@pytest.fixture(scope="module")
def ddi():
    return read_ogb_link_property(_need("ogbl-ddi"))


def test_ddi_statistics_match_source_txt(ddi) -> None:
    # SOURCE.txt: 4267 nodes; raw 1067911 edges (ids 0..4266, no self loops, no duplicates);
    # valid {'edge': 133489x2, 'edge_neg': 101882x2}, test {'edge': 133489x2, 'edge_neg':
    # 95599x2}; 1067911 + 133489 + 133489 = 1334889 edges.
    assert ddi.num_nodes == 4267
    assert ddi.num_edges == 2 * 1067911
    sizes = {name: pairs.shape[1] for name, pairs in ddi.edge_splits.items()}
    assert sizes == {"train_pos": 1067911, "val_pos": 133489, "val_neg": 101882,
                     "test_pos": 133489, "test_neg": 95599}
    assert sum(sizes[k] for k in ("train_pos", "val_pos", "test_pos")) == 1334889
    src, dst = ddi.edge_index
    assert not bool((src == dst).any())
    # inverse edges interleaved after each stored edge (OGB's add_inverse_edge)
    assert torch.equal(ddi.edge_index[:, 1::2], ddi.edge_index[:, 0::2].flip(0))
    # SOURCE.txt: train.pt rebuilt = raw/edge.csv.gz, same order
    assert torch.equal(ddi.edge_splits["train_pos"], ddi.edge_index[:, 0::2])


def test_ddi_positive_splits_are_disjoint_from_training_edges(ddi) -> None:
    n = ddi.num_nodes

    def keys(pairs: torch.Tensor) -> torch.Tensor:
        low, high = pairs.min(0).values, pairs.max(0).values
        return low * n + high

    train = keys(ddi.edge_splits["train_pos"])
    for name in ("val_pos", "test_pos"):
        assert not bool(torch.isin(keys(ddi.edge_splits[name]), train).any())


def test_ddi_split_files_match_a_plain_torch_load(ddi) -> None:
    root = _need("ogbl-ddi")
    # trusted local file: torch's full unpickler is the independent reference here
    reference = torch.load(root / "split" / "target" / "valid.pt", weights_only=False)
    assert np.array_equal(ddi.edge_splits["val_pos"].t().numpy(), reference["edge"])
    assert np.array_equal(ddi.edge_splits["val_neg"].t().numpy(), reference["edge_neg"])
    split = ddi.ogb_split_edge()
    assert np.array_equal(split["valid"]["edge_neg"].numpy(), reference["edge_neg"])


def test_ddi_raw_matches_ogb_read_csv_graph_raw(ddi) -> None:
    pytest.importorskip("ogb")
    from ogb.io.read_graph_raw import read_csv_graph_raw

    (reference,) = read_csv_graph_raw(str(_need("ogbl-ddi") / "raw"), add_inverse_edge=True)
    assert reference["num_nodes"] == ddi.num_nodes
    assert np.array_equal(reference["edge_index"], ddi.edge_index.numpy())


# ---------------------------------------------------------------------------- safe .pt loading
def test_legacy_and_zip_torch_files_with_numpy_load_safely(tmp_path: Path) -> None:
    content = {"edge": np.arange(6, dtype=np.int64).reshape(3, 2),
               "weight": np.array([0.5, 1.5], dtype=np.float32)}
    legacy, modern = tmp_path / "legacy.pt", tmp_path / "zip.pt"
    torch.save(content, legacy, _use_new_zipfile_serialization=False)
    torch.save(content, modern)
    for path in (legacy, modern):
        loaded = load_torch_file(path)
        assert set(loaded) == {"edge", "weight"}
        assert np.array_equal(loaded["edge"], content["edge"])
        assert np.array_equal(loaded["weight"], content["weight"])


class _Exploit:
    def __reduce__(self) -> tuple:
        return (shutil.rmtree, ("/nonexistent-gnnkit-test",))


def test_malicious_torch_files_are_refused(tmp_path: Path) -> None:
    legacy, modern = tmp_path / "legacy.pt", tmp_path / "zip.pt"
    torch.save({"edge": _Exploit()}, legacy, _use_new_zipfile_serialization=False)
    torch.save({"edge": _Exploit()}, modern)
    with pytest.raises(DatasetFileError, match=r"refusing to unpickle global shutil\.rmtree"):
        load_torch_file(legacy)
    with pytest.raises(DatasetFileError, match=r"zip\.pt"):
        load_torch_file(modern)
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(DatasetFileError, match="bad magic number"):
        load_torch_file(plain)
    tensors = tmp_path / "tensors.pt"
    torch.save({"edge": torch.zeros(2)}, tensors, _use_new_zipfile_serialization=False)
    with pytest.raises(DatasetFileError, match=r"_rebuild_tensor_v2"):
        load_torch_file(tensors)


# ---------------------------------------------------------------------------- synthetic layouts
def _write_csv(path: Path, rows: list[list[object]] | np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    with gzip.open(path, "wt") as handle:
        handle.write(text)


def _write_node_dataset(root: Path) -> dict[str, np.ndarray]:
    """A 6-node graph in the ogbn-arxiv layout (directed, float features, node_year)."""
    rng = np.random.default_rng(0)
    edges = np.array([[0, 1], [1, 2], [2, 0], [3, 4], [5, 3], [4, 4]])
    feats = rng.standard_normal((6, 3)).round(3).astype(np.float32)
    labels = np.array([[0], [3], [1], [39], [2], [0]])
    years = np.array([[2010], [2011], [2012], [2013], [2019], [2020]])
    _write_csv(root / "raw" / "edge.csv.gz", edges)
    _write_csv(root / "raw" / "num-node-list.csv.gz", [[6]])
    _write_csv(root / "raw" / "num-edge-list.csv.gz", [[len(edges)]])
    _write_csv(root / "raw" / "node-feat.csv.gz", feats)
    _write_csv(root / "raw" / "node-label.csv.gz", labels)
    _write_csv(root / "raw" / "node_year.csv.gz", years)
    for name, ids in (("train", [0, 1, 2]), ("valid", [3]), ("test", [4, 5])):
        _write_csv(root / "split" / "time" / f"{name}.csv.gz", [[i] for i in ids])
    return {"edges": edges, "feats": feats, "labels": labels, "years": years}


def test_node_property_reader_on_a_written_ogbn_folder(tmp_path: Path) -> None:
    root = tmp_path / "ogbn-arxiv"
    written = _write_node_dataset(root)
    graph = read_ogb_node_property(root)
    assert graph.num_nodes == 6
    assert np.array_equal(graph.edge_index.numpy(), written["edges"].T)  # arxiv: directed
    assert np.array_equal(graph.x.numpy(), written["feats"])
    assert graph.x.dtype == torch.float32
    assert np.array_equal(graph.y.numpy(), written["labels"])
    assert graph.split_index("train").tolist() == [0, 1, 2]
    assert graph.split_index("val").tolist() == [3]
    assert graph.split_index("test").tolist() == [4, 5]
    assert np.array_equal(graph.metadata["node_extra"]["node_year"].numpy(), written["years"])
    assert graph.metadata["eval_metric"] == "acc"
    pytest.importorskip("ogb")
    from ogb.io.read_graph_raw import read_csv_graph_raw

    (reference,) = read_csv_graph_raw(str(root / "raw"), add_inverse_edge=False,
                                      additional_node_files=["node_year"])
    assert np.array_equal(reference["edge_index"], graph.edge_index.numpy())
    assert np.array_equal(reference["node_feat"], graph.x.numpy())
    assert np.array_equal(reference["node_year"], written["years"])


def test_node_property_with_inverse_edges_and_edge_features(tmp_path: Path) -> None:
    # ogbn-proteins layout: undirected (inverse edges added), edge features, node_species
    root = tmp_path / "ogbn-proteins"
    edges = np.array([[0, 1], [1, 2]])
    edge_feat = np.array([[0.5] * 8, [0.25] * 8], dtype=np.float32)
    _write_csv(root / "raw" / "edge.csv.gz", edges)
    _write_csv(root / "raw" / "edge-feat.csv.gz", edge_feat)
    _write_csv(root / "raw" / "num-node-list.csv.gz", [[3]])
    _write_csv(root / "raw" / "num-edge-list.csv.gz", [[2]])
    _write_csv(root / "raw" / "node-label.csv.gz", np.zeros((3, 112), dtype=np.int64))
    _write_csv(root / "raw" / "node_species.csv.gz", [[7], [7], [9]])
    for name in ("train", "valid", "test"):
        _write_csv(root / "split" / "species" / f"{name}.csv.gz", [[0]])
    graph = read_ogb_node_property(root)
    assert graph.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert torch.equal(graph.edge_attr, torch.from_numpy(np.repeat(edge_feat, 2, axis=0)))
    assert tuple(graph.y.shape) == (3, 112)


def test_graph_labels_with_missing_values_become_nan(tmp_path: Path) -> None:
    root = tmp_path / "ogbg-molclintox"
    _write_csv(root / "raw" / "edge.csv.gz", [[0, 1]])
    _write_csv(root / "raw" / "num-node-list.csv.gz", [[2], [1]])
    _write_csv(root / "raw" / "num-edge-list.csv.gz", [[1], [0]])
    (root / "raw").mkdir(exist_ok=True)
    with gzip.open(root / "raw" / "graph-label.csv.gz", "wt") as handle:
        handle.write("1,\n,0\n")
    for name in ("train", "valid", "test"):
        _write_csv(root / "split" / "scaffold" / f"{name}.csv.gz", [[0]])
    dataset = read_ogb_graph_property(root)
    assert dataset.y.dtype == torch.float32
    assert torch.equal(torch.isnan(dataset.y), torch.tensor([[False, True], [True, False]]))
    assert dataset[1].num_nodes == 1 and dataset[1].num_edges == 0


@pytest.mark.parametrize(
    ("file", "content", "message", "blamed"),
    [
        ("raw/edge.csv.gz", "0,1\n1\n", "malformed table", "raw/edge.csv.gz"),
        ("raw/edge.csv.gz", "0,1,2\n1,2,0\n", "expected 2 column", "raw/edge.csv.gz"),
        ("raw/edge.csv.gz", "0,1\n1,2\n2,0\n3,4\n5,3\n4,9\n", r"row 6: node id \[4, 9\] out",
         "raw/edge.csv.gz"),
        ("raw/edge.csv.gz", "0,1\n1,2\n2,0\n3,4\n5,3\n", "counts sum to 6",
         "raw/num-edge-list.csv.gz"),
        ("raw/node-feat.csv.gz", "1,2,3\n", "has 1 rows, expected 6", "raw/node-feat.csv.gz"),
        ("raw/num-node-list.csv.gz", "6\n1\n", "num-node-list.csv.gz has 2",
         "raw/num-edge-list.csv.gz"),
        ("split/time/valid.csv.gz", "3\n60\n", "node id out of range: found 60",
         "split/time/valid.csv.gz"),
        ("raw/node-label.csv.gz", "1\n2\n", "2 labels for 6 nodes", "raw/node-label.csv.gz"),
    ],
)
def test_malformed_ogb_files_name_the_file(
    tmp_path: Path, file: str, content: str, message: str, blamed: str
) -> None:
    root = tmp_path / "ogbn-arxiv"
    _write_node_dataset(root)
    with gzip.open(root / file, "wt") as handle:
        handle.write(content)
    with pytest.raises(DatasetFileError, match=message) as info:
        read_ogb_node_property(root)
    assert info.value.path == root / blamed


def test_truncated_gzip_and_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "ogbn-arxiv"
    _write_node_dataset(root)
    path = root / "raw" / "node-feat.csv.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DatasetFileError, match="cannot read file") as info:
        read_ogb_node_property(root)
    assert info.value.path == path
    (root / "raw" / "num-edge-list.csv.gz").unlink()
    with pytest.raises(MissingDatasetFileError, match=r"num-edge-list\.csv\.gz"):
        read_ogb_node_property(root)


def test_link_split_referencing_unknown_nodes_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "ogbl-ddi"
    _write_csv(root / "raw" / "edge.csv.gz", [[0, 1], [1, 2]])
    _write_csv(root / "raw" / "num-node-list.csv.gz", [[3]])
    _write_csv(root / "raw" / "num-edge-list.csv.gz", [[2]])
    split = root / "split" / "target"
    split.mkdir(parents=True)
    pairs = np.array([[0, 1], [1, 2]])
    torch.save({"edge": pairs}, split / "train.pt", _use_new_zipfile_serialization=False)
    torch.save({"edge": pairs, "edge_neg": np.array([[0, 2]])}, split / "valid.pt",
               _use_new_zipfile_serialization=False)
    torch.save({"edge": pairs, "edge_neg": np.array([[0, 7]])}, split / "test.pt",
               _use_new_zipfile_serialization=False)
    with pytest.raises(DatasetFileError, match="node id in 'edge_neg' out of range: found 7"):
        read_ogb_link_property(root)
    torch.save({"edge": pairs, "edge_neg": np.array([[0, 2]])}, split / "test.pt")  # zip format
    graph = read_ogb_link_property(root)
    assert graph.edge_splits["test_neg"].tolist() == [[0], [2]]


def test_citation2_style_split_is_flattened(tmp_path: Path) -> None:
    root = tmp_path / "ogbl-citation2"
    _write_csv(root / "raw" / "edge.csv.gz", [[0, 1], [1, 2], [2, 3]])
    _write_csv(root / "raw" / "num-node-list.csv.gz", [[4]])
    _write_csv(root / "raw" / "num-edge-list.csv.gz", [[3]])
    _write_csv(root / "raw" / "node-feat.csv.gz", np.ones((4, 2)) * 0.5)
    _write_csv(root / "raw" / "node_year.csv.gz", [[1], [2], [3], [4]])
    split = root / "split" / "time"
    split.mkdir(parents=True)
    for name in ("train", "valid", "test"):
        torch.save({"source_node": np.array([0, 1]), "target_node": np.array([1, 2]),
                    "target_node_neg": np.array([[2, 3], [3, 0]])}, split / f"{name}.pt",
                   _use_new_zipfile_serialization=False)
    graph = read_ogb_link_property(root)
    assert graph.edge_splits["val_pos"].tolist() == [[0, 1], [1, 2]]
    assert graph.edge_splits["val_neg"].tolist() == [[0, 0, 1, 1], [2, 3, 3, 0]]
