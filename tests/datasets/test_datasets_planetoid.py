"""Planetoid reader (gnnkit/datasets/planetoid.py) on the real files and on synthetic ones.

Statistics come from ../shared/datasets/planetoid-*/SOURCE.txt; parity is checked against
PyG's independent reader ``torch_geometric.io.read_planetoid_data`` on the same raw files.
"""

from __future__ import annotations

import collections
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, MissingDatasetFileError, read_planetoid
from gnnkit.datasets.planetoid import PLANETOID_PARTS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
CORA = DATA / "planetoid-cora"
PUBMED = DATA / "planetoid-pubmed"


def _need(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"shared dataset folder {folder} not present")
    return folder


def _edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


def _pyg_read(folder: Path, prefix: str):
    pytest.importorskip("torch_geometric")
    from torch_geometric.io import read_planetoid_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's deprecated-module notice from old pickles
        return read_planetoid_data(str(folder), prefix)


@pytest.fixture(scope="module")
def cora():
    return read_planetoid(_need(CORA), "cora")


def test_cora_statistics_match_source_txt(cora) -> None:
    # SOURCE.txt: 2708 nodes (allx 1708 + tx 1000), 1433 features (nnz 49216), 7 classes
    # (351/217/418/818/426/298/180); 5278 undirected edges = 10556 directed; 0 self loops;
    # raw lists 10858 entries; y 140 train rows, test.index 1000 ids.
    assert cora.num_nodes == 2708
    assert tuple(cora.x.shape) == (2708, 1433)
    assert cora.x.dtype == torch.float32
    assert int((cora.x != 0).sum()) == 49216
    assert cora.metadata["num_classes"] == 7
    assert torch.bincount(cora.y).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert cora.num_edges == 10556
    assert len({(min(e), max(e)) for e in _edge_set(cora.edge_index)}) == 5278
    assert cora.metadata["raw_self_loops"] == 0
    assert cora.metadata["raw_adjacency_entries"] == 10858
    assert int(cora.train_mask.sum()) == 140
    assert int(cora.val_mask.sum()) == 500
    assert int(cora.test_mask.sum()) == 1000
    assert cora.metadata["padded_nodes"] == []
    assert cora.name == "Cora"


def test_cora_edges_are_undirected_coalesced_and_loop_free(cora) -> None:
    src, dst = cora.edge_index
    assert _edge_set(cora.edge_index) == _edge_set(cora.edge_index.flip(0))
    assert not bool((src == dst).any())
    keys = src * cora.num_nodes + dst
    assert bool((keys[1:] > keys[:-1]).all())  # strictly increasing: sorted and unique


def test_cora_matches_pyg_reader(cora) -> None:
    data = _pyg_read(CORA, "cora")
    assert torch.equal(cora.x, data.x)
    assert torch.equal(cora.y, data.y)
    for split in ("train", "val", "test"):
        assert torch.equal(cora.node_splits[split], data[f"{split}_mask"])
    assert _edge_set(cora.edge_index) == _edge_set(data.edge_index)
    assert cora.num_edges == data.edge_index.shape[1]


def test_public_split_semantics_from_the_raw_files(cora) -> None:
    # node test.index[i] carries tx[i] and ty[i]: check against a plain pickle read
    def raw(part: str):
        with open(CORA / f"ind.cora.{part}", "rb") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pytest.importorskip("scipy")
            return pickle.load(handle, encoding="latin1")

    test_index = np.loadtxt(CORA / "ind.cora.test.index", dtype=np.int64)
    tx, ty = raw("tx").toarray(), raw("ty")
    assert np.array_equal(cora.x.numpy()[test_index], tx)
    assert np.array_equal(cora.y.numpy()[test_index], ty.argmax(1))
    assert np.array_equal(cora.x.numpy()[:140], raw("x").toarray())


def test_pubmed_without_allx_fails_naming_the_file() -> None:
    with pytest.raises(MissingDatasetFileError, match=r"ind\.pubmed\.allx") as info:
        read_planetoid(_need(PUBMED), "pubmed")
    assert info.value.path.name == "ind.pubmed.allx"


def _write_pickle(path: Path, obj: object) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def _pubmed_with_stand_in_allx(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A copy of the PubMed folder plus a random allx (18717 x 500) whose first rows are x."""
    sp = pytest.importorskip("scipy.sparse")
    folder = tmp_path / "pubmed"
    folder.mkdir()
    for part in PLANETOID_PARTS:
        if part != "allx":
            (folder / f"ind.pubmed.{part}").symlink_to(_need(PUBMED) / f"ind.pubmed.{part}")
    with open(PUBMED / "ind.pubmed.x", "rb") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's deprecated-module notice from old pickles
        x = pickle.load(handle, encoding="latin1").toarray()
    rng = np.random.default_rng(0)
    allx = (rng.random((18717, 500)) < 0.01) * rng.random((18717, 500))
    allx = allx.astype(np.float32)
    allx[: x.shape[0]] = x
    _write_pickle(folder / "ind.pubmed.allx", sp.csr_matrix(allx))
    return folder, allx


def test_pubmed_path_with_a_stand_in_allx(tmp_path: Path) -> None:
    folder, allx = _pubmed_with_stand_in_allx(tmp_path)
    graph = read_planetoid(folder, "pubmed")
    # SOURCE.txt: 19717 nodes (ally 18717 + ty 1000), 3 classes (4103/7739/7875),
    # 44324 unique undirected edges = 88648 directed, x 60x500, tx 1000x500
    assert graph.num_nodes == 19717
    assert tuple(graph.x.shape) == (19717, 500)
    assert torch.bincount(graph.y).tolist() == [4103, 7739, 7875]
    assert graph.num_edges == 88648
    assert int(graph.train_mask.sum()) == 60
    assert int(graph.val_mask.sum()) == 500
    assert int(graph.test_mask.sum()) == 1000
    assert np.array_equal(graph.x.numpy()[:18717], allx)
    assert graph.metadata["raw_self_loops"] > 0  # PubMed's lists hold self loops; removed
    data = _pyg_read(folder, "pubmed")
    assert torch.equal(graph.x, data.x)
    assert torch.equal(graph.y, data.y)
    for split in ("train", "val", "test"):
        assert torch.equal(graph.node_splits[split], data[f"{split}_mask"])
    assert _edge_set(graph.edge_index) == _edge_set(data.edge_index)


def _write_synthetic(folder: Path, prefix: str, test_ids: list[int]) -> None:
    """A tiny Planetoid-format dataset: 510 allx nodes (3 labelled), F=6, C=3."""
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(1)
    num_known, num_features, num_classes = 510, 6, 3
    allx = rng.integers(0, 2, (num_known, num_features)).astype(np.float32)
    ally = np.eye(num_classes, dtype=np.int32)[rng.integers(0, num_classes, num_known)]
    tx = rng.integers(0, 2, (len(test_ids), num_features)).astype(np.float32) + 2.0
    ty = np.eye(num_classes, dtype=np.int32)[rng.integers(0, num_classes, len(test_ids))]
    num_nodes = max(test_ids) + 1
    graph = collections.defaultdict(list)
    for node in range(num_nodes):
        graph[node]  # every node has a key, even isolated ones
    for a, b in [(0, 1), (1, 2), (2, 2), (3, test_ids[0]), (test_ids[1], 5), (0, 1)]:
        graph[a].append(b)
        graph[b].append(a)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {"x": sp.csr_matrix(allx[:3]), "y": ally[:3], "allx": sp.csr_matrix(allx),
             "ally": ally, "tx": sp.csr_matrix(tx), "ty": ty, "graph": graph}
    for part, value in parts.items():
        _write_pickle(folder / f"ind.{prefix}.{part}", value)
    (folder / f"ind.{prefix}.test.index").write_text("".join(f"{i}\n" for i in test_ids))


def test_citeseer_quirk_pads_missing_test_ids_like_pyg(tmp_path: Path) -> None:
    # test ids 510..515 without 512 and 514 (isolated nodes absent from tx), file order shuffled
    test_ids = [513, 510, 515, 511]
    _write_synthetic(tmp_path, "citeseer", test_ids)
    graph = read_planetoid(tmp_path, "citeseer")
    assert graph.num_nodes == 516
    assert graph.metadata["padded_nodes"] == [512, 514]
    assert graph.x[[512, 514]].abs().sum() == 0
    assert graph.y[[512, 514]].tolist() == [0, 0]
    assert graph.split_index("test").tolist() == [510, 511, 513, 515]
    assert not bool(graph.val_mask[[512, 514]].any() or graph.train_mask[[512, 514]].any())
    data = _pyg_read(tmp_path, "citeseer")
    assert torch.equal(graph.x, data.x)
    assert torch.equal(graph.y, data.y)
    for split in ("train", "val", "test"):
        assert torch.equal(graph.node_splits[split], data[f"{split}_mask"])
    assert _edge_set(graph.edge_index) == _edge_set(data.edge_index)
    assert graph.metadata["raw_self_loops"] == 2  # (2, 2) appended twice


@pytest.mark.parametrize(
    ("part", "content", "message"),
    [
        ("allx", b"\x80\x02garbage", "cannot unpickle"),
        ("tx", pickle.dumps(np.zeros(3), protocol=2)[:-5], "cannot unpickle"),
        ("graph", b"\x80\x02cos\nsystem\nq\x00.", "refusing to unpickle global os.system"),
        ("test.index", b"510\n511\nabc\n", "malformed table"),
        ("test.index", b"510\n511\n", "2 test ids but tx has 4 rows"),
        ("test.index", b"1\n511\n513\n515\n", "overlaps"),
    ],
)
def test_malformed_planetoid_files_name_the_file(
    tmp_path: Path, part: str, content: bytes, message: str
) -> None:
    _write_synthetic(tmp_path, "cora", [510, 511, 512, 513])
    (tmp_path / f"ind.cora.{part}").write_bytes(content)
    with pytest.raises(DatasetFileError, match=message) as info:
        read_planetoid(tmp_path, "cora")
    assert info.value.path.name == f"ind.cora.{part}"


def test_adjacency_ids_out_of_range_are_rejected(tmp_path: Path) -> None:
    _write_synthetic(tmp_path, "cora", [510, 511, 512, 513])
    graph = collections.defaultdict(list, {0: [1, 9999], 1: [0]})
    _write_pickle(tmp_path / "ind.cora.graph", graph)
    with pytest.raises(DatasetFileError, match="neighbour id 9999 out of range") as info:
        read_planetoid(tmp_path, "cora")
    assert info.value.path.name == "ind.cora.graph"


def test_planetoid_adj_matches_edge_index(cora) -> None:
    sparse = pytest.importorskip("gnnkit.sparse")
    if not hasattr(sparse, "SparseMatrix"):
        pytest.skip("gnnkit.sparse.SparseMatrix not available yet")
    adj = cora.adj
    assert tuple(adj.shape) == (2708, 2708)
    assert adj.nnz == 10556
    degree = torch.bincount(cora.edge_index[1], minlength=2708)
    assert torch.equal(adj.rowptr[1:] - adj.rowptr[:-1], degree)
