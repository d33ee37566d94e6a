"""The graph-classification task: TU data and features, folds, both protocols, the engine."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from shared_data import SHARED_DATASETS, require_shared_datasets
from torch import nn

from gnnkit.bench import (
    ExperimentError,
    ExperimentResult,
    RunContext,
    RunResult,
    get_task,
    load_experiment,
    run_experiment,
    to_markdown,
)
from gnnkit.bench.data import DatasetUnavailable
from gnnkit.bench.experiment import Experiment, default_experiments_dir
from gnnkit.bench.graph_data import (
    constant_features,
    degree_features,
    fold_indices,
    load_graph_data,
    node_degrees,
    stratified_folds,
    stratified_holdout,
)
from gnnkit.bench.schema import DatasetSpec
from gnnkit.bench.tasks.graph_classification import (
    GraphClassificationTask,
    GraphTrainingSpec,
    select_common_epoch,
)
from gnnkit.data import GraphBatch
from gnnkit.datasets import GraphDataset
from gnnkit.models import MODELS, ModelEntry, ModelOption, register_model
from gnnkit.nn.pool import global_add_pool

TEST_MODEL = "test-graph-mlp"


class _SumPoolMLP(nn.Module):
    """A minimal graph classifier: node MLP, sum over each graph, linear head."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.node = nn.Linear(in_channels, hidden)
        self.head = nn.Linear(hidden, out_channels)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return self.head(global_add_pool(torch.relu(self.node(batch.x)), batch.ptr))


@pytest.fixture
def test_model() -> Iterator[str]:
    """A graph-classification model under a test-only name, removed afterwards."""
    def build(config: dict, *, in_channels: int, out_channels: int,
              edge_channels: int) -> nn.Module:
        return _SumPoolMLP(in_channels, config["hidden_channels"], out_channels)

    register_model(ModelEntry(TEST_MODEL, ("graph_classification",),
                              {"hidden_channels": ModelOption(8, int, "width")}, build))
    yield TEST_MODEL
    del MODELS[TEST_MODEL]


def _experiment_toml(protocol: str, *, name: str = "MUTAG", extra: str = "") -> str:
    return f"""
id = "tiny-{protocol}"
title = "a small graph-classification run"
task = "graph_classification"
seeds = 10

[dataset]
name = "{name}"
{extra}

[model]
name = "{TEST_MODEL}"
hidden_channels = 8

[training]
protocol = "{protocol}"
epochs = 3
iters_per_epoch = 4
batch_size = 16

[paper]
value = 89.4
std = 5.6
citation = "a test"
"""


# ---------------------------------------------------------------------------- folds
def _uneven_labels() -> torch.Tensor:
    """Three classes of uneven sizes, interleaved, and numbered against their order of first
    appearance (class 2 appears first)."""
    generator = torch.Generator().manual_seed(5)
    labels = torch.tensor([2] * 23 + [0] * 11 + [1] * 7)
    return labels[torch.randperm(labels.numel(), generator=generator)]


@pytest.mark.parametrize("folds, seed", [(10, 0), (10, 7), (4, 1)])
def test_folds_are_a_stratified_partition(folds: int, seed: int) -> None:
    labels = _uneven_labels()
    fold_of = stratified_folds(labels, folds, seed)
    assert fold_of.shape == labels.shape and set(fold_of.tolist()) == set(range(folds))
    tests = [fold_indices(fold_of, k)[1] for k in range(folds)]
    everything = torch.cat(tests).sort().values
    assert torch.equal(everything, torch.arange(labels.numel()))  # each graph in one fold
    for k, test in enumerate(tests):
        train = fold_indices(fold_of, k)[0]
        assert torch.equal(torch.cat([train, test]).sort().values, everything)
    for value in labels.unique():
        per_fold = [int((labels[test] == value).sum()) for test in tests]
        assert max(per_fold) - min(per_fold) <= 1, per_fold
    sizes = [test.numel() for test in tests]
    assert max(sizes) - min(sizes) <= 1


def test_folds_do_not_depend_on_how_classes_are_numbered() -> None:
    labels = _uneven_labels()
    renamed = torch.tensor([40, 10, 30])[labels]  # same partition into classes
    assert torch.equal(stratified_folds(labels, 10, 3), stratified_folds(renamed, 10, 3))
    assert not torch.equal(stratified_folds(labels, 10, 3), stratified_folds(labels, 10, 4))


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_folds_are_sklearns_stratified_kfold(seed: int) -> None:
    model_selection = pytest.importorskip("sklearn.model_selection")
    for labels in (_uneven_labels(), torch.tensor([1] * 63 + [0] * 125),
                   torch.randint(0, 5, (97,), generator=torch.Generator().manual_seed(seed))):
        fold_of = stratified_folds(labels, 10, seed)
        splitter = model_selection.StratifiedKFold(n_splits=10, shuffle=True,
                                                   random_state=seed)
        for k, (train, test) in enumerate(splitter.split(np.zeros(len(labels)),
                                                         labels.numpy())):
            ours_train, ours_test = fold_indices(fold_of, k)
            assert ours_test.tolist() == test.tolist()
            assert ours_train.tolist() == train.tolist()


def test_folds_reject_impossible_requests() -> None:
    with pytest.raises(ValueError, match="folds must be an int >= 2"):
        stratified_folds(torch.tensor([0, 1, 0, 1]), 1, 0)
    with pytest.raises(ValueError, match="every class has fewer than 10 graphs"):
        stratified_folds(torch.tensor([0] * 4 + [1] * 5), 10, 0)


def test_stratified_holdout_is_a_stratified_split_of_the_given_graphs() -> None:
    labels = _uneven_labels()
    index = torch.arange(3, labels.numel())  # any subset of graph ids
    train, val = stratified_holdout(index, labels, 0.25, seed=(0, 2))
    assert val.numel() == math.ceil(0.25 * index.numel())
    assert torch.equal(torch.cat([train, val]).sort().values, index)
    assert not set(train.tolist()) & set(val.tolist())
    for value in labels[index].unique():
        count = int((labels[index] == value).sum())
        held = int((labels[val] == value).sum())
        assert abs(held - val.numel() * count / index.numel()) < 1
    again = stratified_holdout(index, labels, 0.25, seed=(0, 2))
    assert torch.equal(again[1], val)
    assert not torch.equal(stratified_holdout(index, labels, 0.25, seed=(1, 2))[1], val)
    with pytest.raises(ValueError, match="need at least one graph on each side"):
        stratified_holdout(torch.tensor([0]), labels, 0.5, seed=0)


# ---------------------------------------------------------------------------- features
def _hand_made_dataset() -> GraphDataset:
    """Graph 0: path 0–1–2 (both directions stored). Graph 1: star with centre 0 and leaves
    1, 2, 3 (the entry 0→1 stored twice, 0–3 only as 3→0), plus an isolated node 4."""
    path = [[0, 1, 1, 2], [1, 0, 2, 1]]
    star = [[0, 1, 0, 2, 0, 3], [1, 0, 2, 0, 1, 0]]
    edge_index = torch.tensor([path[0] + star[0], path[1] + star[1]])
    return GraphDataset(edge_index=edge_index, node_ptr=torch.tensor([0, 3, 8]),
                        edge_ptr=torch.tensor([0, 4, 10]), y=torch.tensor([0, 1]))


def test_degrees_count_distinct_undirected_neighbours() -> None:
    # path: 1, 2, 1; star: centre 0 has neighbours 1, 2, 3 → 3; leaves 1; isolated 0
    assert node_degrees(_hand_made_dataset()).tolist() == [1, 2, 1, 3, 1, 1, 1, 0]


def test_degree_one_hot_uses_the_vocabulary_of_the_whole_dataset() -> None:
    dataset = _hand_made_dataset()
    x, vocabulary = degree_features(dataset)
    assert vocabulary == (0, 1, 2, 3)
    expected = torch.tensor([[0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0],
                             [0, 0, 0, 1], [0, 1, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0],
                             [1, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(x, expected)
    # the path graph alone has degrees {1, 2}; inside the dataset it gets all four columns
    path_only, path_vocabulary = degree_features(dataset.subset([0]))
    assert path_vocabulary == (1, 2) and path_only.shape == (3, 2)
    assert torch.equal(constant_features(dataset), torch.ones(8, 1))


def _write_tu(folder: Path, prefix: str, *, labels: bool = True) -> None:
    """Three graphs (two triangles and an edge) with node labels {3, 5} (4 never occurs) and
    two attribute columns, in the TU text format."""
    folder.mkdir(parents=True)
    edges = [(1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 4), (7, 8)]
    lines = [f"{a}, {b}" for a, b in edges] + [f"{b}, {a}" for a, b in edges]
    files = {
        "A": lines,
        "graph_indicator": ["1"] * 3 + ["2"] * 3 + ["3"] * 2,
        "graph_labels": ["1", "-1", "1"],
        "node_attributes": [f"{0.5 * i}, {i}" for i in range(8)],
    }
    if labels:
        files["node_labels"] = ["3", "5", "5", "3", "3", "3", "5", "5"]
    for part, rows in files.items():
        (folder / f"{prefix}_{part}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_node_label_features_drop_attributes_and_absent_labels(tmp_path: Path) -> None:
    _write_tu(tmp_path / "tu-TOY", "TOY")
    spec = DatasetSpec(name="toy", source="tu", features="node_labels")  # lower case, as parsed
    data = load_graph_data(spec, [tmp_path / "absent", tmp_path])
    expected = torch.tensor([[1, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 0], [0, 1], [0, 1]],
                            dtype=torch.float32)
    assert torch.equal(data.dataset.x, expected)
    assert data.labels.tolist() == [1, 0, 1] and data.num_classes == 2
    assert data.vocabulary == (0, 2)  # positions of labels 3 and 5 in the range 3…5
    assert load_graph_data(spec, [tmp_path]) is data  # prepared once, shared by every fold
    degrees = load_graph_data(dataclasses.replace(spec, features="degree"), [tmp_path])
    assert degrees.vocabulary == (1, 2) and degrees.num_features == 2


def test_missing_or_unsuitable_data_is_reported(tmp_path: Path, test_model: str) -> None:
    spec = DatasetSpec(name="toy", source="tu", folders=("my-toy",))
    with pytest.raises(DatasetUnavailable, match=r"my-toy, tu-toy, toy") as info:
        load_graph_data(spec, [tmp_path])
    assert str(tmp_path) in str(info.value)
    _write_tu(tmp_path / "TOY", "TOY", labels=False)
    path = tmp_path / "e.toml"
    path.write_text(_experiment_toml("gin-paper", name="TOY"), encoding="utf-8")
    result = run_experiment(load_experiment(path), seeds=[0], progress=False,
                            data_roots=[tmp_path])
    assert result.status == "failed" and 'features = "degree"' in (result.message or "")


# ---------------------------------------------------------------------------- selection
def _run(fold: int, tests: list[float]) -> RunResult:
    curve = tuple({"epoch": e + 1, "loss": 1.0, "test": value, "train_seconds": 0.1}
                  for e, value in enumerate(tests))
    return RunResult(seed=fold, split=fold, test=tests[-1], val=tests[-1], epochs=len(tests),
                     selected_epoch=len(tests), train_step_ms=1.0, curve=curve)


def _experiment(tmp_path: Path, protocol: str) -> Experiment:
    path = tmp_path / f"{protocol}.toml"
    path.write_text(_experiment_toml(protocol), encoding="utf-8")
    return load_experiment(path)


def test_gin_paper_selects_one_epoch_on_the_fold_average(tmp_path: Path,
                                                         test_model: str) -> None:
    # averages over folds: epoch 1: 60, epoch 2: 70, epoch 3: 70 (fold 4 stopped after 3
    # epochs, so epoch 4 is not compared) → epoch 2, the first of the tie
    runs = (_run(0, [50, 70, 60, 99]), _run(1, [60, 60, 80, 99]), _run(2, [70, 90, 70, 99]),
            _run(3, [60, 60, 70]))
    assert select_common_epoch([[e["test"] for e in r.curve] for r in runs]) == (
        1, [60.0, 70.0, 70.0])
    experiment = _experiment(tmp_path, "gin-paper")
    final = get_task("graph_classification").finalize_runs(experiment, runs)
    assert [r.selected_epoch for r in final] == [2, 2, 2, 2]
    assert [r.test for r in final] == [70, 60, 90, 60]
    result = ExperimentResult(experiment, final)
    assert result.mean == 70.0
    assert result.std == pytest.approx(math.sqrt((0 + 100 + 400 + 100) / 3))  # over folds
    assert "epoch 2 of the 3 every fold reached" in final[0].details["selected epoch"]
    with pytest.raises(ValueError, match="at least one fold"):
        select_common_epoch([])


def test_held_out_keeps_each_folds_own_selection(tmp_path: Path, test_model: str) -> None:
    runs = (_run(0, [50, 70, 60]), _run(1, [60, 60, 80]))
    experiment = _experiment(tmp_path, "held-out")
    assert get_task("graph_classification").finalize_runs(experiment, runs) == runs


# ---------------------------------------------------------------------------- the schema
def test_training_table_is_validated(tmp_path: Path, test_model: str) -> None:
    path = tmp_path / "e.toml"
    text = _experiment_toml("gin-paper")
    path.write_text(text, encoding="utf-8")
    experiment = load_experiment(path)
    assert experiment.dataset.source == "tu" and experiment.dataset.features == "node_labels"
    assert experiment.dataset.split == "10-fold" and experiment.dataset.name == "mutag"
    assert experiment.training == GraphTrainingSpec(epochs=3, iters_per_epoch=4,
                                                    batch_size=16)
    for change, message in (
            (('"gin-paper"', '"best-test"'), r"training\.protocol must be one of"),
            (("epochs = 3", "epochs = 3\nval_fraction = 0.2"), "applies to protocol"),
            (("epochs = 3", "epochs = 0"), r"training\.epochs must be >= 1"),
            (("epochs = 3", "epochs = 3\nlr_gamma = 1.5"), r"training\.lr_gamma"),
            (("epochs = 3", "epochs = 3\nseed = 1"), r"unknown key\(s\) \['seed'\]"),
            (('name = "MUTAG"', 'name = "MUTAG"\nfeatures = "raw"'), "not a graph_classification"),
    ):
        path.write_text(text.replace(*change), encoding="utf-8")
        with pytest.raises(ExperimentError, match=message):
            load_experiment(path)


# ---------------------------------------------------------------------------- end to end
def test_two_folds_of_mutag_through_the_bench_engine(tmp_path: Path, test_model: str) -> None:
    root = require_shared_datasets("tu-MUTAG")
    for protocol in ("gin-paper", "held-out"):
        result = run_experiment(_experiment(tmp_path, protocol), seeds=[0, 1],
                                progress=False, data_roots=[root], max_epochs=2)
        assert result.status == "ok", result.message
        assert result.capped and "188 graphs" in (result.data_description or "")
        assert [run.split for run in result.runs] == [0, 1]  # run k is fold k
        curves = [[entry["test"] for entry in run.curve] for run in result.runs]
        assert all(len(curve) == 2 for curve in curves)
        # every fold scores its 18 or 19 held-out graphs: accuracies are multiples of 1/n
        for run in result.runs:
            assert any(math.isclose(run.test * n / 100, round(run.test * n / 100))
                       for n in (18, 19))
        if protocol == "gin-paper":
            mean = [(a + b) / 2 for a, b in zip(*curves, strict=True)]
            epoch = mean.index(max(mean)) + 1
            assert [run.selected_epoch for run in result.runs] == [epoch, epoch]
            assert [run.test for run in result.runs] == [c[epoch - 1] for c in curves]
            assert "selected epoch: epoch" in to_markdown([result], {})
        else:
            for run in result.runs:
                val = [entry["val"] for entry in run.curve]
                assert run.selected_epoch == val.index(max(val)) + 1
                assert run.test == run.curve[run.selected_epoch - 1]["test"]


def test_one_fold_logs_every_epoch_and_honours_the_time_budget(tmp_path: Path,
                                                                test_model: str) -> None:
    root = require_shared_datasets("tu-MUTAG")
    task = get_task("graph_classification")
    experiment = _experiment(tmp_path, "held-out")
    data = task.load(experiment, [root], torch.device("cpu"))
    seen: list[float] = []
    context = RunContext(seed=3, index=13, max_epochs=2,
                         on_epoch=lambda entry: seen.append(entry["epoch"]))
    run = task.run_seed(experiment, data, context).result
    assert seen == [1, 2] and run.split == 3 and run.seed == 3  # index 13 → fold 3
    budgeted = task.run_seed(experiment, data, RunContext(seed=3, time_budget=0.0)).result
    assert budgeted.epochs == 1 and "time budget" in budgeted.details["stopped"]


# ---------------------------------------------------------------------------- shipped files
#: GIN-0 in Table 1 of Xu et al. (ICLR 2019): dataset → (mean, std, node features)
GIN_TABLE_1 = {
    "gin-mutag": (89.4, 5.6, "node_labels"), "gin-ptc": (64.6, 7.0, "node_labels"),
    "gin-nci1": (82.7, 1.7, "node_labels"), "gin-proteins": (76.2, 2.8, "node_labels"),
    "gin-collab": (80.2, 1.9, "degree"), "gin-imdb-binary": (75.1, 5.1, "degree"),
    "gin-imdb-multi": (52.3, 2.8, "degree"), "gin-reddit-binary": (92.4, 2.5, "constant"),
    "gin-reddit-multi-5k": (57.5, 1.5, "constant"),
}


def test_shipped_gin_experiments_load_and_carry_table_1() -> None:
    if "gin" not in MODELS:
        pytest.skip("the 'gin' model is not registered in gnnkit.models")
    paths = sorted(default_experiments_dir().glob("gin-*.toml"))
    experiments = {e.id: e for e in map(load_experiment, paths)}
    assert set(GIN_TABLE_1) <= set(experiments)
    for experiment_id, (value, std, features) in GIN_TABLE_1.items():
        experiment = experiments[experiment_id]
        assert experiment.task == GraphClassificationTask.name
        assert experiment.model_name == "gin" and experiment.seeds == 10
        assert (experiment.paper.value, experiment.paper.std) == (value, std)
        assert experiment.dataset.features == features
        assert experiment.training.protocol == "gin-paper"
        assert (experiment.training.lr, experiment.training.epochs) == (0.01, 350)
        assert experiment.paper.note and "validation" in experiment.paper.note
    for experiment_id in ("gin-nci1-heldout", "gin-imdb-binary-heldout"):
        held_out = experiments[experiment_id]
        base = experiments[experiment_id.removesuffix("-heldout")]
        assert held_out.training.protocol == "held-out" and held_out.model == base.model
        assert held_out.dataset == base.dataset
        assert dataclasses.replace(held_out.training, protocol="gin-paper") == base.training


def test_shipped_mutag_experiment_finds_the_shared_copy() -> None:
    if "gin" not in MODELS:
        pytest.skip("the 'gin' model is not registered in gnnkit.models")
    root = require_shared_datasets("tu-MUTAG")
    experiment = load_experiment(default_experiments_dir() / "gin-mutag.toml")
    data = get_task(experiment.task).load(experiment, [SHARED_DATASETS], torch.device("cpu"))
    assert len(data.dataset) == 188 and data.num_features == 7 and root == SHARED_DATASETS
