"""Dataset resolution and preprocessing, the stopping rules, one real training run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from gnnkit.bench.data import DatasetUnavailable, load_node_data, row_normalize
from gnnkit.bench.experiment import DatasetSpec, TrainingSpec, load_experiments
from gnnkit.bench.train import _Selector, build_model, train_node_classifier
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


def _select(rule: str, patience: int, history: list[tuple[float, float, float]]
            ) -> tuple[int, tuple[int, float, float] | None]:
    selector = _Selector(TrainingSpec(lr=0.1, stopping=rule, patience=patience))
    for epoch, (loss, val, test) in enumerate(history, start=1):
        if selector.observe(epoch, loss, val, test):
            return epoch, selector.selected
    return len(history), selector.selected


def test_kipf_rule_stops_when_loss_exceeds_the_window_mean_and_tests_the_last_model() -> None:
    # losses 10, 9, 8, 7 then 8.5 > mean(8, 7) = 7.5 with window 2; Kipf's 0-based
    # "epoch > window" means the check starts at the 4th epoch.
    history = [(10, 1, 11), (9, 2, 12), (8, 3, 13), (7, 4, 14), (8.5, 5, 15), (1, 6, 16)]
    assert _select("kipf", 2, history) == (5, (5, 5, 15))
    assert _select("none", 2, history) == (6, (6, 6, 16))


def test_gat_rule_tests_the_model_that_improved_both_and_waits_patience() -> None:
    history = [(5, 50, 1), (4, 60, 2), (4.5, 70, 3), (4.6, 65, 4), (4.7, 64, 5)]
    # epoch 2 improves both (selected); epoch 3 improves accuracy only (resets patience,
    # not selected); epochs 4, 5 improve nothing -> stop after 2 bad epochs.
    assert _select("gat", 2, history) == (5, (2, 60, 2))


def test_best_validation_accuracy_rule() -> None:
    history = [(1, 50, 1), (1, 70, 2), (1, 70, 3), (1, 60, 4), (1, 80, 5)]
    assert _select("best_val_acc", 2, history) == (4, (2, 70, 2))
    assert _select("best_val_acc", 5, history) == (5, (5, 80, 5))


def test_model_registry_validates_hyperparameters() -> None:
    with pytest.raises(ValueError, match="unknown model 'mlp'"):
        build_model({"name": "mlp"}, 4, 2)
    with pytest.raises(ValueError, match=r"unknown \[model\] key\(s\) \['hidden'\]"):
        build_model({"name": "gcn", "hidden": 3}, 4, 2)


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
