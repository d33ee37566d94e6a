"""Damaged files are named errors, ``info`` says damaged, names accept folder aliases.

Every damaged file lives in a copy under ``tmp_path``; ../shared/datasets is only read.
"""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from gnnkit.datasets import (
    DatasetFileError,
    Graph,
    GraphDataset,
    Interactions,
    _integrity,
    get_spec,
    load,
)
from gnnkit.datasets._errors import DamagedDatasetFileError
from gnnkit.datasets.lightgcn import read_lightgcn
from gnnkit.datasets.registry import ALIASES, DATASETS, dataset_status
from gnnkit.datasets.tu import read_tu

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _copy(folder: str, home: Path) -> Path:
    source = DATA / folder
    if not source.is_dir():
        pytest.skip(f"shared dataset folder {source} not present")
    target = home / folder
    shutil.copytree(source, target)
    return target


def _cli(*argv: str) -> tuple[int, str]:
    from gnnkit.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["datasets", *argv])
    return code, out.getvalue()


def _truncate_half(path: Path) -> None:
    content = path.read_bytes()
    cut = len(content) // 2
    assert content[cut - 1: cut] != b"\n"  # mid-line
    path.write_bytes(content[:cut])


# ---------------------------------------------------------------------------- truncation
def test_truncated_gowalla_train_is_a_named_error(tmp_path: Path) -> None:
    folder = _copy("lightgcn-gowalla", tmp_path)
    _truncate_half(folder / "train.txt")
    with pytest.raises(DamagedDatasetFileError) as info:
        load("gowalla", tmp_path)
    assert info.value.path == folder / "train.txt"
    message = str(info.value)
    assert "truncated" in message and "4633414" in message
    assert f"gnnkit datasets download gowalla --force --root {tmp_path}" in message
    assert dataset_status("gowalla", tmp_path) == "damaged"


def test_cli_info_reports_a_truncated_file_as_damaged(tmp_path: Path) -> None:
    folder = _copy("lightgcn-gowalla", tmp_path)
    _truncate_half(folder / "train.txt")
    code, out = _cli("info", "gowalla", "--root", str(tmp_path))
    assert code == 0
    assert "status: damaged" in out and "status: complete" not in out
    assert "DAMAGED train.txt" in out and "present test.txt" in out
    assert f"gnnkit datasets download gowalla --force --root {tmp_path}" in out
    code, out = _cli("list", "--root", str(tmp_path))
    assert any(line.split()[:3] == ["gowalla", "lightgcn", "damaged"]
               for line in out.splitlines())


def test_reader_alone_detects_a_cut_last_line(tmp_path: Path) -> None:
    folder = _copy("lightgcn-gowalla", tmp_path)
    _truncate_half(folder / "train.txt")
    with pytest.raises(DamagedDatasetFileError, match=r"last line .* is incomplete") as info:
        read_lightgcn(folder)
    assert info.value.path == folder / "train.txt"
    assert "gnnkit datasets download gowalla --force" in str(info.value)


def test_altered_file_of_the_same_size_fails_its_checksum_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _copy("geomgcn-texas", tmp_path)
    hashed: list[Path] = []
    real = _integrity.file_digest

    def counting(path: Path, algorithm: str = "sha256") -> str:
        hashed.append(Path(path))
        return real(path, algorithm)

    monkeypatch.setattr(_integrity, "file_digest", counting)
    _integrity.clear_digest_cache()
    assert load("texas", tmp_path).num_nodes == 183
    first = len(hashed)
    assert first == len(get_spec("texas").files)  # every file hashed once ...
    assert load("texas", tmp_path).num_nodes == 183
    assert len(hashed) == first  # ... and not again while unchanged
    edges = folder / "out1_graph_edges.txt"
    content = bytearray(edges.read_bytes())
    content[-2] = ord("0") if content[-2] != ord("0") else ord("1")  # same size, other bytes
    edges.write_bytes(bytes(content))
    with pytest.raises(DamagedDatasetFileError, match="sha256") as info:
        load("texas", tmp_path)
    assert info.value.path == edges
    assert len(hashed) == first + 1  # only the rewritten file was hashed again
    assert load("texas", tmp_path, verify=False).num_nodes == 183
    assert dataset_status("texas", tmp_path) == "complete"  # list: sizes only
    assert dataset_status("texas", tmp_path, verify=True) == "damaged"


def test_empty_test_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("0 1 2\n1 2\n")
    (tmp_path / "test.txt").write_text("")
    with pytest.raises(DatasetFileError, match="empty") as info:
        read_lightgcn(tmp_path)
    assert info.value.path == tmp_path / "test.txt"
    (tmp_path / "test.txt").write_text("0\n1\n")
    with pytest.raises(DatasetFileError, match="not a single item") as info:
        read_lightgcn(tmp_path)
    assert info.value.path == tmp_path / "test.txt"


# ---------------------------------------------------------------------------- TU
def _drop_last_line(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


@pytest.mark.parametrize("name", ["MUTAG", "IMDB-BINARY"])  # with and without node labels
def test_short_graph_indicator_is_named(tmp_path: Path, name: str) -> None:
    folder = _copy(f"tu-{name}", tmp_path)
    _drop_last_line(folder / f"{name}_graph_indicator.txt")
    with pytest.raises(DatasetFileError, match="graph indicator") as info:
        read_tu(folder, name)
    assert info.value.path.name == f"{name}_graph_indicator.txt"


def test_tu_file_cut_mid_line(tmp_path: Path) -> None:
    folder = _copy("tu-MUTAG", tmp_path)
    path = folder / "MUTAG_A.txt"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DamagedDatasetFileError, match="incomplete") as info:
        load("mutag", tmp_path)
    assert info.value.path == path
    assert f"gnnkit datasets download MUTAG --force --root {tmp_path}" in str(info.value)


# ---------------------------------------------------------------------------- names
def test_shared_folder_names_are_aliases() -> None:
    for folder in ("lightgcn-gowalla", "planetoid-cora", "tu-MUTAG", "zinc-subset",
                   "geomgcn-texas", "ogbl-ddi"):
        assert get_spec(folder).folder.lower() == folder.lower()
    assert get_spec("LightGCN-Gowalla").name == "gowalla"
    assert "geomgcn-splits-planetoid" not in ALIASES  # shared by several datasets
    assert set(ALIASES.values()) <= set(DATASETS)
    if DATA.is_dir():
        folders = {p.name for p in DATA.iterdir() if p.is_dir()}
        unknown = []
        for folder in folders - {"geomgcn-splits-planetoid"}:
            try:
                get_spec(folder)
            except KeyError:
                unknown.append(folder)
        assert not unknown


def test_citeseer_geomgcn_is_registered() -> None:
    spec = get_spec("citeseer-geomgcn")
    assert spec.requires == ("citeseer",)
    assert any(f.path == "citeseer_split_0.6_0.2_9.npz" for f in spec.files)


def test_misspelt_names_get_suggestions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(KeyError, match="Did you mean: gowalla"):
        get_spec("gowala")
    with pytest.raises(KeyError, match=r"Did you mean: .*ogbg-molbace"):
        get_spec("ogbg-molbase")
    code, _ = _cli("info", "gowala")
    assert code == 2 and "Did you mean: gowalla" in capsys.readouterr().err
    code, out = _cli("info", "lightgcn-gowalla", "--root", "/nonexistent")
    assert code == 0 and "name:        gowalla" in out


# ---------------------------------------------------------------------------- containers
def test_graph_to_moves_every_tensor() -> None:
    graph = Graph(
        edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3, x=torch.ones(3, 2),
        edge_attr=torch.ones(2, 1), y=torch.tensor([0, 2, 1]),
        node_splits={"train": torch.tensor([True, False, True])},
        edge_splits={"test_pos": torch.tensor([[0], [2]])}, metadata={"name": "toy"},
    )
    moved = graph.to("cpu")
    assert moved is not graph and moved.equal(graph) and moved.name == "toy"
    assert moved.to(torch.device("cpu")).equal(graph)
    if torch.cuda.is_available():
        on_gpu = graph.to("cuda")
        tensors = [on_gpu.edge_index, on_gpu.x, on_gpu.edge_attr, on_gpu.y,
                   *on_gpu.node_splits.values(), *on_gpu.edge_splits.values()]
        assert all(t.is_cuda for t in tensors)


def test_num_classes_rule() -> None:
    edges = torch.zeros(2, 0, dtype=torch.long)
    assert Graph(edges, 3, y=torch.tensor([0, 4, -1])).num_classes == 5
    assert Graph(edges, 3, y=torch.tensor([0, 1, 1]), metadata={"num_classes": 7}).num_classes == 7
    assert Graph(edges, 2, y=torch.zeros(2, 3, dtype=torch.long)).num_classes == 3
    with pytest.raises(ValueError, match="no labels"):
        _ = Graph(edges, 3).num_classes
    with pytest.raises(ValueError, match="regression"):
        _ = Graph(edges, 3, y=torch.rand(3)).num_classes
    with pytest.raises(ValueError, match="num_classes=-1"):
        _ = Graph(edges, 3, y=torch.rand(3), metadata={"num_classes": -1}).num_classes
    dataset = GraphDataset(edge_index=edges, node_ptr=torch.tensor([0, 1, 2]),
                           edge_ptr=torch.tensor([0, 0, 0]), y=torch.tensor([0, 1]))
    assert dataset.num_classes == 2


def test_interactions_repr_shows_sizes_only() -> None:
    data = Interactions(num_users=3, num_items=1000,
                        train=torch.zeros(2, 5000, dtype=torch.long),
                        test=torch.zeros(2, 7, dtype=torch.long), metadata={"name": "Toy"})
    text = repr(data)
    assert text == ("Interactions(name='Toy', num_users=3, num_items=1000, "
                    "train=5000 pairs, test=7 pairs)")
