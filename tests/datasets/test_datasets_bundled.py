"""The bundled Cora (gnnkit/datasets/bundled.py, _bundled/cora.npz, the build script)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gnnkit.datasets import DatasetFileError, Graph, load_bundled, read_planetoid
from gnnkit.datasets.bundled import bundled_path, read_bundle, write_bundle

REPO = Path(__file__).resolve().parents[2]
CORA = REPO.parent / "shared" / "datasets" / "planetoid-cora"


def test_bundled_cora_equals_a_fresh_read_of_the_raw_files() -> None:
    if not CORA.is_dir():
        pytest.skip("shared planetoid-cora not present")
    bundled = load_bundled("cora")
    fresh = read_planetoid(CORA, "cora")
    assert bundled.equal(fresh)
    for key in ("name", "num_classes", "split", "raw_adjacency_entries", "padded_nodes"):
        assert bundled.metadata[key] == fresh.metadata[key]
    # the bundle records the raw files it was built from
    for part, digest in bundled.metadata["raw_sha256"].items():
        assert hashlib.sha256((CORA / f"ind.cora.{part}").read_bytes()).hexdigest() == digest


def test_bundled_cora_stands_alone() -> None:
    graph = load_bundled()
    # SOURCE.txt statistics, from the bundle alone
    assert graph.num_nodes == 2708 and graph.num_edges == 10556
    assert tuple(graph.x.shape) == (2708, 1433) and int((graph.x != 0).sum()) == 49216
    assert torch.bincount(graph.y).tolist() == [351, 217, 418, 818, 426, 298, 180]
    assert [int(graph.node_splits[s].sum()) for s in ("train", "val", "test")] == [140, 500, 1000]
    path = bundled_path("cora")
    assert path.stat().st_size < 200_000  # compact
    with np.load(path, allow_pickle=False) as arrays:  # loads without pickle
        assert arrays["edge_index"].dtype == np.int32
    with pytest.raises(ValueError, match="no bundled dataset"):
        bundled_path("citeseer")


def test_build_script_reproduces_the_bundle(tmp_path: Path) -> None:
    if not CORA.is_dir():
        pytest.skip("shared planetoid-cora not present")
    out = tmp_path / "cora.npz"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_bundled_cora.py"), "--raw", str(CORA),
         "--out", str(out)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert read_bundle(out).equal(load_bundled("cora"))


def test_bundle_round_trip_and_refusals(tmp_path: Path) -> None:
    graph = Graph(
        edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3,
        x=torch.tensor([[0.0, 2.5], [1.0, 0.0], [0.0, 0.0]]), y=torch.tensor([2, 0, 1]),
        node_splits={"train": torch.tensor([0, 2])}, metadata={"name": "tiny"},
    )
    path = write_bundle(graph, tmp_path / "tiny.npz")
    back = read_bundle(path)
    assert back.equal(graph) and back.metadata["name"] == "tiny"
    with pytest.raises(ValueError, match="edge_attr"):
        write_bundle(graph.replace(edge_attr=torch.ones(2)), tmp_path / "x.npz")
    with pytest.raises(ValueError, match="1-D splits"):
        write_bundle(graph.replace(node_splits={"train": torch.ones(3, 2, dtype=torch.bool)}),
                     tmp_path / "x.npz")
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(DatasetFileError, match=r"bad\.npz"):
        read_bundle(tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", format_version=np.asarray(1))
    with pytest.raises(DatasetFileError, match="lacks array"):
        read_bundle(tmp_path / "partial.npz")
