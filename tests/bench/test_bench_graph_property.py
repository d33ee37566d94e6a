"""The graph_property bench task: metrics against ogb's Evaluator and hand-computed cases, the
experiment schema, finding the data, end-to-end runs on ZINC and ogbg-molbace through the
engine, and the shipped gine-*.toml files."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from shared_data import require_shared_datasets
from torch import nn

from gnnkit._ogb_master import OGB_DATASETS
from gnnkit.bench import ExperimentError, load_experiment, run_experiment
from gnnkit.bench.data import DatasetUnavailable
from gnnkit.bench.report import format_table, to_markdown
from gnnkit.bench.schema import DatasetSpec
from gnnkit.bench.tasks import RunContext, get_task
from gnnkit.bench.tasks.graph_property import (
    GraphMetric,
    GraphPropertyTrainingSpec,
    expected_metric,
    higher_is_better,
    load_graph_property_data,
    metric_scale,
    train_graph_property,
)
from gnnkit.data import GraphBatch, collate
from gnnkit.models import MODELS, ModelEntry, ModelOption, build_model, register_model
from gnnkit.nn.pool import global_mean_pool
from gnnkit.sparse import spmm

EXPERIMENTS = Path(__file__).resolve().parents[2] / "gnnkit" / "bench" / "experiments"
TINY = "test-graph-property-tiny"

ZINC_EXPERIMENT = """
id = "tiny-zinc"
title = "a tiny model on a slice of ZINC"
task = "graph_property"
seeds = 1

[dataset]
name = "zinc"
source = "zinc"
folders = ["zinc-slice"]

[model]
name = "test-graph-property-tiny"
hidden_channels = 8

[training]
lr = 0.01
batch_size = 16
epochs = 50

[paper]
value = 0.5
citation = "a test"
"""

BACE_EXPERIMENT = """
id = "tiny-bace"
title = "a tiny model on ogbg-molbace"
task = "graph_property"
metric = "rocauc"
seeds = 1

[dataset]
name = "ogbg-molbace"
source = "ogb"
split = "ogb"
folders = ["ogbg-molbace"]

[model]
name = "test-graph-property-tiny"
hidden_channels = 8

[training]
lr = 0.01
batch_size = 256
epochs = 100

[paper]
value = 70.0
citation = "a test"
"""


# ---------------------------------------------------------------------------- ogb's Evaluator
@pytest.fixture(scope="module")
def ogb_graph() -> ModuleType:
    """``ogb.graphproppred.evaluate``, loaded from its file: importing it as a submodule runs
    ``ogb.graphproppred``'s ``__init__``, which imports PyG (tens of seconds on a busy
    machine) for nothing the Evaluator uses (it needs pandas and scikit-learn)."""
    ogb = pytest.importorskip("ogb")
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn.metrics")
    path = Path(ogb.__file__).resolve().parent / "graphproppred" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("ogb_graph_evaluate_under_test", path)
    assert spec is not None and spec.loader is not None, f"no OGB evaluate.py at {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------- a tiny model
class _Tiny(nn.Module):
    """Embedding of every categorical column, one sum-aggregation step, mean pooling."""

    def __init__(self, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(128, hidden)
        self.out = nn.Linear(hidden, out_channels)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        assert batch.x is not None
        x = batch.x.long().reshape(batch.x.shape[0], -1).clamp(0, 127)
        h = self.embed(x).sum(1)
        h = torch.relu(h + spmm(batch.adj, h))
        return self.out(global_mean_pool(h, batch.ptr))


def _tiny(config: Mapping[str, Any], *, in_channels: int, out_channels: int,
          edge_channels: int) -> nn.Module:
    del in_channels, edge_channels  # the embedding reads any categorical columns
    return _Tiny(config["hidden_channels"], out_channels)


@pytest.fixture
def tiny_model() -> Iterator[str]:
    register_model(ModelEntry(TINY, ("graph_property",),
                              {"hidden_channels": ModelOption(8, int, "width")}, _tiny))
    yield TINY
    del MODELS[TINY]


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- a ZINC slice
@pytest.fixture(scope="module")
def zinc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 training, 12 validation and 12 test molecules of the real ZINC-12k files,
    renumbered 0…63 and written in the same text format (a full epoch of ZINC would take
    seconds)."""
    source = require_shared_datasets("zinc-subset") / "zinc-subset"
    keep = [*range(40), *range(10000, 10012), *range(11000, 11012)]
    new_id = {old: new for new, old in enumerate(keep)}
    root = tmp_path_factory.mktemp("zinc-data")
    folder = root / "zinc-slice"
    folder.mkdir()
    for name in ("ZINC_Nodes.txt", "ZINC_Edges.txt", "ZINC_Labels.txt"):
        lines = []
        for line in (source / name).read_text(encoding="utf-8").splitlines():
            graph, _, rest = line.partition(" ")
            if int(graph) in new_id:
                lines.append(f"{new_id[int(graph)]} {rest}")
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    splits = [{"test": list(range(52, 64)),
               "model_selection": [{"train": list(range(40)),
                                    "validation": list(range(40, 52))}]}]
    (folder / "ZINC_splits.json").write_text(json.dumps(splits), encoding="utf-8")
    return root


# ---------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("name", ["ogbg-molesol", "ogbg-moltox21", "ogbg-molpcba"])
def test_metric_equals_ogb_evaluator(name: str, ogb_graph: ModuleType) -> None:
    """Regression (RMSE) and multi-task classification with unlabelled entries (ROC-AUC, AP):
    the task's metric is OGB's on the same predictions."""
    reference = ogb_graph.Evaluator(name)
    metric = reference.eval_metric
    assert expected_metric("ogb", name) == metric  # the task reads the right table entry
    generator = torch.Generator().manual_seed(7)
    tasks = reference.num_tasks
    outputs = torch.randn(200, tasks, generator=generator)
    if metric == "rmse":
        targets = torch.randn(200, tasks, generator=generator)
    else:
        targets = (torch.rand(200, tasks, generator=generator) < 0.3).float()
        targets[:, 0] = torch.tensor([0.0, 1.0]).repeat(100)  # every task needs both classes
        targets[:, 1:][torch.rand(200, tasks - 1, generator=generator) < 0.2] = float("nan")
        for task in range(1, tasks):  # keep one positive and one negative per task
            targets[:2, task] = torch.tensor([0.0, 1.0])
    ours = GraphMetric(metric, name)(targets, outputs)
    theirs = reference.eval({"y_true": targets.numpy(), "y_pred": outputs.numpy()})[metric]
    assert ours == pytest.approx(float(theirs), rel=1e-6)  # OGB computes in float32


def test_hand_computed_metrics_units_and_direction() -> None:
    # ZINC: (G,) targets against (G, 1) outputs; |1.5-1| + |2-2| + |2-3| = 1.5 over 3 graphs
    zinc = GraphMetric("mae")
    assert zinc(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[1.5], [2.0], [2.0]])) == \
        pytest.approx(0.5)
    # ROC-AUC: of the 4 (positive, negative) pairs, (0.35, 0.4) is the one ranked wrong
    bace = GraphMetric("rocauc", "ogbg-molbace")
    labels = torch.tensor([[0], [0], [1], [1]])
    assert bace(labels, torch.tensor([[0.1], [0.4], [0.35], [0.8]])) == pytest.approx(0.75)
    assert (metric_scale("rocauc"), metric_scale("ap")) == (100.0, 100.0)
    assert (metric_scale("mae"), metric_scale("rmse")) == (1.0, 1.0)
    assert higher_is_better("rocauc") and higher_is_better("ap")
    assert not higher_is_better("mae") and not higher_is_better("rmse")
    with pytest.raises(ValueError, match="name the OGB dataset"):
        GraphMetric("rocauc")
    with pytest.raises(ValueError, match="evaluated with 'rmse'"):
        GraphMetric("rocauc", "ogbg-molesol")


# ---------------------------------------------------------------------------- schema
def test_the_metric_defaults_to_the_datasets(tmp_path: Path, tiny_model: str) -> None:
    for name, info in OGB_DATASETS.items():
        if info.level != "graph" or info.task_type not in ("binary classification",
                                                            "regression"):
            continue
        text = BACE_EXPERIMENT.replace('metric = "rocauc"\n', "").replace(
            "ogbg-molbace", name)
        experiment = load_experiment(_write(tmp_path, "a.toml", text))
        assert experiment.metric == info.eval_metric, name
        assert experiment.dataset.split == "ogb" and experiment.dataset.features == "raw"
    zinc = load_experiment(_write(tmp_path, "z.toml", ZINC_EXPERIMENT))
    assert zinc.metric == "mae" and zinc.dataset.split == "zinc-12k"
    assert isinstance(zinc.training, GraphPropertyTrainingSpec)
    assert zinc.training.schedule == "none" and zinc.training.eval_batch_size is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('metric = "rocauc"', 'metric = "rmse"'),
         r"experiment\.metric 'rmse' does not match dataset 'ogbg-molbace' \(source 'ogb'\), "
         r"which is evaluated with 'rocauc'"),
        (('metric = "rocauc"', 'metric = "accuracy"'),
         r"experiment\.metric must be one of \['mae', 'rmse', 'rocauc', 'ap'\]"),
        (('name = "ogbg-molbace"', 'name = "ogbg-molbacee"'),
         r"dataset\.name: unknown OGB dataset name 'ogbg-molbacee'.*ogbg-molbace"),
        (('name = "ogbg-molbace"', 'name = "ogbg-ppa"'),
         r"'ogbg-ppa' is an OGB graph-level 'multiclass classification' dataset"),
        (('name = "ogbg-molbace"', 'name = "ogbl-ddi"'), r"'ogbl-ddi' is an OGB link-level"),
        (('split = "ogb"', 'split = "zinc-12k"'), "goes with dataset.source 'ogb'"),
        (('split = "ogb"', 'split = "ogb"\nfeatures = "row_normalize"'),
         r"dataset\.features 'row_normalize' is not a graph_property option"),
        (('split = "ogb"', 'split = "ogb"\nundirected = true'),
         r"dataset\.undirected and dataset\.split_folders do not apply"),
        (("batch_size = 256", "batch_size = 256\nlr_encoder = 0.1"),
         r"unknown key\(s\) \['lr_encoder'\] in \[training\]"),
        (("batch_size = 256", 'batch_size = 256\nschedule = "cosine"'),
         r"training\.schedule must be one of \['none', 'step', 'plateau'\]"),
        (("batch_size = 256", 'batch_size = 256\nschedule = "plateau"\nfactor = 1.5'),
         r"\[training\] schedule: invalid LRSchedule"),
        (("batch_size = 256", "batch_size = 0"), "batch_size and eval_batch_size must be >= 1"),
        (("lr = 0.01\n", ""), r"missing key training\.lr"),
        (("hidden_channels = 8", "hidden = 8"),
         r"unknown model key\(s\) \['hidden'\] for model 'test-graph-property-tiny'"),
        (('name = "test-graph-property-tiny"', 'name = "gcn"'),
         r"model\.name must be one of \[.*\] for task 'graph_property'"),
    ],
)
def test_malformed_files_name_the_file_and_the_key(tmp_path: Path, tiny_model: str,
                                                   change: tuple[str, str],
                                                   message: str) -> None:
    path = _write(tmp_path, "bad.toml", BACE_EXPERIMENT.replace(*change, 1))
    with pytest.raises(ExperimentError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_zinc_source_takes_the_zinc_split(tmp_path: Path, tiny_model: str) -> None:
    bad = ZINC_EXPERIMENT.replace('source = "zinc"', 'source = "zinc"\nsplit = "ogb"')
    with pytest.raises(ExperimentError, match=r"goes with dataset\.source 'ogb'"):
        load_experiment(_write(tmp_path, "bad.toml", bad))
    bad = ZINC_EXPERIMENT.replace("seeds = 1", 'seeds = 1\nmetric = "rmse"')
    with pytest.raises(ExperimentError, match="evaluated with 'mae'"):
        load_experiment(_write(tmp_path, "bad.toml", bad))


# ---------------------------------------------------------------------------- data
def test_missing_data_says_where_it_looked(tmp_path: Path) -> None:
    zinc = DatasetSpec(name="zinc", source="zinc", split="zinc-12k", features="raw",
                       folders=("zinc-subset",))
    with pytest.raises(DatasetUnavailable, match=r"ZINC_Nodes\.txt in \{zinc-subset, zinc\} "
                                                 rf"under \['{tmp_path}'\]"):
        load_graph_property_data(zinc, [tmp_path])
    bace = DatasetSpec(name="ogbg-molbace", source="ogb", split="ogb", features="raw")
    with pytest.raises(DatasetUnavailable, match=r"raw/graph-label\.csv\.gz in "
                                                 r"\{ogbg-molbace, ogbg_molbace\}"):
        load_graph_property_data(bace, [tmp_path])
    raw = tmp_path / "ogbg-molbace" / "raw"
    raw.mkdir(parents=True)
    (raw / "graph-label.csv.gz").write_bytes(b"")
    with pytest.raises(DatasetUnavailable, match="'ogbg-molbace' is incomplete"):
        load_graph_property_data(bace, [tmp_path])


# ---------------------------------------------------------------------------- runs
def _predictions(model: nn.Module, dataset: Any, index: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        batch = collate([dataset[int(i)] for i in index])
        assert batch.y is not None
        return batch.y, model(batch)


def test_zinc_run_selects_the_lowest_validation_mae(tmp_path: Path, zinc_root: Path,
                                                    tiny_model: str) -> None:
    experiment = load_experiment(_write(tmp_path, "zinc.toml", ZINC_EXPERIMENT))
    result = run_experiment(experiment, seeds=[3], data_roots=[zinc_root], max_epochs=3,
                            progress=False)
    assert result.status == "ok", result.message
    assert result.capped and "train 40 / val 12 / test 12" in (result.data_description or "")
    (run,) = result.runs
    assert run.epochs == 3 and [entry["epoch"] for entry in run.curve] == [1, 2, 3]
    # lower is better: the selected epoch has the smallest validation MAE, first of ties
    values = [entry["val"] for entry in run.curve]
    assert run.val == min(values) and run.selected_epoch == values.index(min(values)) + 1
    assert run.test == run.curve[run.selected_epoch - 1]["test"]
    assert run.details["stopped"] == "completed 3 epoch(s)"
    assert "tiny-zinc" in format_table([result]) and "stopped" in to_markdown([result], {})
    # the stored MAE is the plain mean absolute error of the selected model (not x100)
    data = load_graph_property_data(experiment.dataset, [zinc_root])
    again = train_graph_property(experiment, data, seed=3, max_epochs=3, keep_state=True)
    assert again.result.test == run.test and again.state is not None
    model = build_model(experiment.model, task="graph_property", in_channels=1,
                        out_channels=1, edge_channels=1)
    model.load_state_dict(again.state)
    targets, outputs = _predictions(model, data.dataset, data.test)
    assert run.test == pytest.approx(float((outputs[:, 0] - targets).abs().mean()), rel=1e-5)


def test_molbace_run_reports_roc_auc_in_percent(tmp_path: Path, tiny_model: str,
                                                ogb_graph: ModuleType) -> None:
    root = require_shared_datasets("ogbg-molbace")
    experiment = load_experiment(_write(tmp_path, "bace.toml", BACE_EXPERIMENT))
    result = run_experiment(experiment, seeds=[0], data_roots=[root], max_epochs=2,
                            progress=False)
    assert result.status == "ok", result.message
    (run,) = result.runs
    values = [entry["val"] for entry in run.curve]
    assert run.val == max(values) and run.selected_epoch == values.index(max(values)) + 1
    assert 0.0 <= run.test <= 100.0
    data = load_graph_property_data(experiment.dataset, [root])
    again = train_graph_property(experiment, data, seed=0, max_epochs=2, keep_state=True)
    assert again.result.test == run.test and again.state is not None
    model = build_model(experiment.model, task="graph_property", in_channels=9,
                        out_channels=1, edge_channels=3)
    model.load_state_dict(again.state)
    targets, outputs = _predictions(model, data.dataset, data.test)
    reference = ogb_graph.Evaluator("ogbg-molbace").eval(
        {"y_true": targets.numpy(), "y_pred": outputs.numpy()})["rocauc"]
    assert run.test == pytest.approx(100.0 * reference, rel=1e-6)


def test_epochs_are_logged_and_the_time_budget_stops(tmp_path: Path, zinc_root: Path,
                                                     tiny_model: str) -> None:
    experiment = load_experiment(_write(tmp_path, "zinc.toml", ZINC_EXPERIMENT))
    task = get_task("graph_property")
    data = task.load(experiment, [zinc_root], torch.device("cpu"))
    entries: list[Mapping[str, float]] = []
    logged = task.run_seed(experiment, data, RunContext(seed=0, max_epochs=4,
                                                        on_epoch=entries.append))
    assert [entry["epoch"] for entry in entries] == [1, 2, 3, 4]
    assert list(logged.result.curve) == entries  # the log sees the curve entries, units too
    budget = task.run_seed(experiment, data, RunContext(seed=0, max_epochs=4, time_budget=0.0))
    assert budget.result.epochs == 1
    assert budget.result.details["stopped"] == "time budget 0 s reached after epoch 1"


# ---------------------------------------------------------------------------- shipped files
def test_shipped_gine_experiments_load_and_validate() -> None:
    paths = sorted(EXPERIMENTS.glob("gine-*.toml"))
    assert paths, f"no gine-*.toml in {EXPERIMENTS}"
    for path in paths:
        experiment = load_experiment(path)
        assert experiment.id == path.stem and experiment.task == "graph_property"
        assert experiment.model_name == "gine"
        if experiment.paper is None:  # no published number: the notes say so
            assert experiment.notes and "No published number" in experiment.notes
        else:
            assert experiment.paper.citation and experiment.paper.url
        spec = experiment.dataset
        if spec.source == "ogb":
            assert spec.split == "ogb" and experiment.seeds == 10
            assert experiment.metric == OGB_DATASETS[spec.name].eval_metric
        else:
            assert (spec.source, spec.split, experiment.metric) == ("zinc", "zinc-12k", "mae")
    hiv = load_experiment(EXPERIMENTS / "gine-molhiv.toml")
    assert (hiv.paper.value, hiv.paper.std) == (75.58, 1.40)
    assert hiv.model["hidden_channels"] == 300 and hiv.model["num_layers"] == 5
    assert hiv.model["dropout"] == 0.5 and hiv.model["graph_pooling"] == "mean"
    assert (hiv.training.lr, hiv.training.batch_size, hiv.training.epochs) == (0.001, 32, 100)
    # every OGB molecule set of the table is defined (molchembl aside: no leaderboard, 1310
    # tasks), whether or not its files are here
    defined = {load_experiment(path).dataset.name for path in paths}
    wanted = {name for name, info in OGB_DATASETS.items()
              if name.startswith("ogbg-mol") and name != "ogbg-molchembl"}
    assert wanted <= defined, sorted(wanted - defined)
    zinc = load_experiment(EXPERIMENTS / "gine-zinc.toml")
    assert (zinc.paper.value, zinc.paper.std) == (0.163, 0.004)


def test_shipped_metrics_are_ogbs(ogb_graph: ModuleType) -> None:
    for path in sorted(EXPERIMENTS.glob("gine-mol*.toml")):
        experiment = load_experiment(path)
        assert experiment.metric == ogb_graph.Evaluator(experiment.dataset.name).eval_metric

