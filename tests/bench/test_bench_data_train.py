"""Dataset resolution and preprocessing, one real node-classification run of the task."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from gnnkit.bench.data import DatasetUnavailable, load_node_data, row_normalize
from gnnkit.bench.experiment import DatasetSpec, load_experiments
from gnnkit.bench.tasks.node_classification import train_node_classifier
from gnnkit.sparse import SparseMatrix

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "datasets"


def test_bundled_cora_public_split_and_sparse_row_normalised_features() -> None:
    data = load_node_data(DatasetSpec(name="cora"), roots=[])
    assert data.num_splits == 1 and data.num_classes == 7
    assert (int(data.train.sum()), int(data.val.sum()), int(data.test.sum())) == (140, 500, 1000)
    assert isinstance(data.x, SparseMatrix) and data.x.shape == (2708, 1433)
    sums = data.x.to_dense().sum(1)
    torch.testing.assert_close(sums, torch.ones(2708))  # every Cora node has a word
    assert data.adjacency.shape == (2708, 2708) and data.adjacency.nnz == 10556
    raw = load_node_data(DatasetSpec(name="cora", features="raw"), roots=[])
    assert set(raw.x.values.unique().tolist()) == {1.0}


def test_row_normalize_keeps_zero_rows() -> None:
    x = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    assert row_normalize(x).tolist() == [[0.25, 0.75], [0.0, 0.0]]


@pytest.mark.skipif(not (SHARED / "geomgcn-splits-planetoid").is_dir(),
                    reason="shared datasets folder not present")
def test_geom_gcn_splits_of_cora_and_a_webkb_graph() -> None:
    spec = DatasetSpec(name="cora", split="geom-gcn", undirected=True,
                       split_folders=("geomgcn-splits-planetoid",))
    data = load_node_data(spec, roots=[SHARED])
    assert data.num_splits == 10
    assert int(data.train[:, 0].sum()) == 1192 and int(data.test[:, 0].sum()) == 497
    texas = load_node_data(DatasetSpec(name="texas", source="geomgcn", split="geom-gcn",
                                       undirected=True, folders=("geomgcn-texas",)),
                           roots=[SHARED])
    assert texas.num_splits == 10 and texas.y.shape == (183,)
    dense = texas.adjacency.to_dense()
    assert torch.equal(dense, dense.T)  # undirected as requested


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    spec = DatasetSpec(name="citeseer", source="planetoid", folders=("planetoid-citeseer",))
    with pytest.raises(DatasetUnavailable, match=r"ind\.citeseer\.graph") as info:
        load_node_data(spec, roots=[tmp_path])
    assert str(tmp_path) in str(info.value) and "planetoid-citeseer" in str(info.value)


def test_gcn_on_cora_reaches_the_papers_regime_in_one_run() -> None:
    """One full 200-epoch run with the paper's settings: Kipf & Welling report 81.5 %."""
    experiment = load_experiments()["gcn-cora"]
    data = load_node_data(experiment.dataset, roots=[])
    run = train_node_classifier(experiment, data, seed=0, split=0)
    assert 78.0 <= run.test <= 85.0
    assert 11 <= run.epochs <= 200 and run.selected_epoch == run.epochs
    short = dataclasses.replace(experiment, training=dataclasses.replace(
        experiment.training, stopping="none"))
    assert train_node_classifier(short, data, seed=0, split=0, max_epochs=3).epochs == 3
    assert len(run.curve) == run.epochs  # node classification reports its curve too
    selected = run.curve[run.selected_epoch - 1]
    assert (selected["val"], selected["test"]) == (run.val, run.test)
    budget = train_node_classifier(short, data, seed=0, split=0, time_budget=1e-9)
    assert budget.epochs == 1 and "time budget" in budget.details["stopped"]


def test_incomplete_dataset_folder_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    folder = tmp_path / "planetoid-citeseer"
    folder.mkdir()
    (folder / "ind.citeseer.graph").write_bytes(b"")
    spec = DatasetSpec(name="citeseer", source="planetoid", folders=("planetoid-citeseer",))
    with pytest.raises(DatasetUnavailable, match=r"incomplete.*ind\.citeseer"):
        load_node_data(spec, roots=[tmp_path])


def test_malformed_dataset_fails_its_experiment_only(tmp_path: Path) -> None:
    from gnnkit.bench import run_experiment

    folder = tmp_path / "citeseer"
    folder.mkdir()
    for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        (folder / f"ind.citeseer.{part}").write_bytes(b"not a pickle")
    experiment = load_experiments()["gcn-citeseer"]
    result = run_experiment(experiment, seeds=[0], data_roots=[tmp_path], progress=False)
    assert result.status == "failed" and "loading the data" in (result.message or "")
    assert result.runs == () and result.mean is None
