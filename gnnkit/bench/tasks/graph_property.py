"""The graph-property task: graph regression and OGB's binary graph classification on fixed
splits — ZINC-12k (MAE) and the OGB molecule sets (``ogbg-mol*``: RMSE, ROC-AUC or AP).

One seed is :func:`train_graph_property`: the model named in ``[model]`` (a registry model
serving ``graph_property``, e.g. ``gine``) is trained by
:func:`gnnkit.train.graph_level.fit` on the dataset's own training graphs, evaluated on its
validation and test graphs after every epoch, and the epoch with the best validation metric
is the result (its test metric is reported) — OGB's protocol (``main_pyg.py``: ``argmax`` of
the validation curve for classification, ``argmin`` for regression; the first of ties).

Datasets (``[dataset]``):

* ``source = "zinc"``, ``split = "zinc-12k"``: the ZINC subset of benchmarking-gnns in the text
  form :func:`gnnkit.datasets.read_zinc` reads (10 000 / 1 000 / 1 000 graphs); metric
  ``mae``, loss L1;
* ``source = "ogb"``, ``split = "ogb"``: an ``ogbg-*`` folder in OGB's layout
  (:func:`gnnkit.datasets.read_ogb`), OGB's scaffold split. The metric is the dataset's OGB
  evaluation metric, read from gnnkit's OGB table (:mod:`gnnkit._ogb_master`) — ``rmse`` for
  the regression sets (loss MSE, as OGB's example), ``rocauc`` or ``ap`` for the binary ones
  (loss binary cross-entropy on every labelled entry: ``nan`` targets are left out, as OGB's
  example does) — and is computed by gnnkit's OGB-identical :class:`gnnkit.metrics.Evaluator`.
  The model has one output per task (``num_tasks`` of the table).

How the metrics are stored in :class:`~gnnkit.bench.tasks.RunResult` (``val``, ``test`` and the
curve): ROC-AUC and AP in % (×100), as node classification stores accuracy and link
prediction Hits@K; MAE and RMSE in the target's own units, never multiplied. The direction
follows the metric (:func:`higher_is_better`): ROC-AUC and AP are maximised, MAE and RMSE
minimised — both for the epoch selection and for the learning-rate plateau rule.

``[training]`` is :class:`GraphPropertyTrainingSpec`: Adam with ``lr``, ``batch_size``,
``epochs``, optional weight decay and a per-epoch schedule (``none``, ``step``: multiply by
``gamma`` every ``step_size`` epochs, or ``plateau``: by ``factor`` after ``patience`` epochs
without a better validation metric, stopping below ``min_lr``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gnnkit._ogb_master import OGBDatasetInfo, ogb_dataset_info
from gnnkit.datasets import GraphDataset, MissingDatasetFileError, read_ogb, read_zinc
from gnnkit.metrics import Evaluator, mae
from gnnkit.models import build_model
from gnnkit.train.graph_level import SCHEDULES, LRSchedule, fit, model_batch_transform

from ..data import DatasetUnavailable, data_roots, dataset_not_found, find_folder
from ..schema import DatasetSpec, ExperimentError, check_keys, get_value, parse_dataset
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = [
    "GRAPH_PROPERTY_METRICS",
    "LOSS_OF_METRIC",
    "PERCENT_METRICS",
    "GraphMetric",
    "GraphPropertyData",
    "GraphPropertyRun",
    "GraphPropertyTask",
    "GraphPropertyTrainingSpec",
    "expected_metric",
    "higher_is_better",
    "load_graph_property_data",
    "metric_scale",
    "ogb_graph_info",
    "train_graph_property",
]

#: metrics of the task: ZINC's ``mae`` and OGB's graph metric ids (``rmse``, ``rocauc``,
#: ``ap``); the one an experiment uses is fixed by its dataset (:func:`expected_metric`)
GRAPH_PROPERTY_METRICS = ("mae", "rmse", "rocauc", "ap")
#: metrics stored in % (×100) in the run results; the others stay in the target's units
PERCENT_METRICS = ("rocauc", "ap")
#: the training loss of each metric (:func:`gnnkit.train.graph_level.graph_loss`): L1 for
#: ZINC's MAE (as every ZINC baseline), MSE for OGB's regression sets and binary
#: cross-entropy for its classification sets (OGB's example)
LOSS_OF_METRIC: Mapping[str, str] = {"mae": "l1", "rmse": "mse", "rocauc": "bce", "ap": "bce"}
#: OGB task types this task trains (multi-class ``ogbg-ppa`` and sub-token ``ogbg-code2`` are
#: other tasks)
_OGB_TASK_TYPES = ("binary classification", "regression")
#: what ``[training] selection`` may say: the epoch with the best validation metric
SELECTION = ("best_val",)
#: the file whose presence marks a dataset folder
_ZINC_MARKER = "ZINC_Nodes.txt"
_OGB_MARKER = "raw/graph-label.csv.gz"


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better (ROC-AUC, AP) or smaller (MAE, RMSE)."""
    if metric not in GRAPH_PROPERTY_METRICS:
        raise ValueError(f"unknown graph-property metric {metric!r}; one of "
                         f"{list(GRAPH_PROPERTY_METRICS)}")
    return metric in PERCENT_METRICS


def metric_scale(metric: str) -> float:
    """The factor from a metric's value to the stored number: 100 for ROC-AUC and AP (stored
    in %), 1 for MAE and RMSE (stored in the target's units)."""
    return 100.0 if higher_is_better(metric) else 1.0


def ogb_graph_info(name: str, path: Path | None = None) -> OGBDatasetInfo:
    """The OGB table's row of ``name``, which must be a graph-property dataset this task can
    train (binary classification or regression); :class:`ExperimentError` naming
    ``dataset.name`` otherwise."""
    try:
        info = ogb_dataset_info(name)
    except (TypeError, ValueError) as error:
        raise ExperimentError(path, f"dataset.name: {error}") from None
    if info.level != "graph" or info.task_type not in _OGB_TASK_TYPES:
        raise ExperimentError(path, f"dataset.name {name!r} is an OGB {info.level}-level "
                                    f"{info.task_type!r} dataset; the graph_property task "
                                    f"trains the ogbg-* sets whose task is one of "
                                    f"{list(_OGB_TASK_TYPES)}")
    return info


def expected_metric(source: str, name: str, path: Path | None = None) -> str:
    """The metric of a dataset: ``mae`` for ZINC, the OGB table's evaluation metric for an
    OGB dataset (never written per dataset here)."""
    if source == "zinc":
        return "mae"
    if source == "ogb":
        return ogb_graph_info(name, path).eval_metric
    raise ExperimentError(path, f"dataset.source {source!r} is not a graph_property source; "
                                "one of ['zinc', 'ogb']")


# ---------------------------------------------------------------------------- metrics
class GraphMetric:
    """``metric(targets, outputs) → float`` of one dataset, as :func:`gnnkit.train.graph_level.fit`
    calls it on an evaluation set's concatenated targets and outputs.

    ``mae`` (ZINC) is :func:`gnnkit.metrics.mae` on the outputs flattened to the targets'
    shape; the OGB metrics are :class:`gnnkit.metrics.Evaluator` of the dataset (``y_true``
    and ``y_pred`` of shape ``(G, num_tasks)``; ``nan`` targets are unlabelled). The value is
    OGB's (a fraction for ROC-AUC and AP); :func:`metric_scale` converts it for the report.
    """

    def __init__(self, metric: str, dataset: str | None = None) -> None:
        higher_is_better(metric)  # validates the name
        if metric != "mae" and dataset is None:
            raise ValueError(f"metric {metric!r} is an OGB metric: name the OGB dataset whose "
                             "Evaluator computes it")
        self.metric = metric
        self.dataset = dataset
        self.evaluator = Evaluator(dataset) if metric != "mae" and dataset else None
        if self.evaluator is not None and self.evaluator.eval_metric != metric:
            raise ValueError(f"{dataset} is evaluated with {self.evaluator.eval_metric!r}, not "
                             f"{metric!r}")

    def __call__(self, targets: Tensor, outputs: Tensor) -> float:
        if self.evaluator is None:
            return mae(targets.reshape(targets.shape[0], -1).float(),
                       outputs.reshape(targets.shape[0], -1))
        # OGB's example reshapes y to the predictions' shape before evaluating
        y_true = targets.reshape(outputs.shape)
        return float(self.evaluator.eval({"y_true": y_true, "y_pred": outputs})[self.metric])

    def __repr__(self) -> str:
        return f"GraphMetric({self.metric!r}, dataset={self.dataset!r})"


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class GraphPropertyData:
    """A graph-property dataset ready for training (graphs stay on the CPU; batches are moved
    to the training device one at a time).

    Attributes:
        dataset: every graph of the dataset (``x`` int64 categories: atom type for ZINC, OGB's
            9 atom features; ``edge_attr`` bond type ``(E,)`` for ZINC, OGB's 3 bond features;
            ``y`` ``(G,)`` for ZINC, ``(G, T)`` for OGB with ``nan`` for unlabelled entries).
        train, val, test: ``int64`` graph ids of the fixed split.
        metric: the dataset's metric (:data:`GRAPH_PROPERTY_METRICS`).
        num_tasks: outputs of the model (1 for ZINC, OGB's ``num_tasks``).
        evaluator: the OGB dataset whose :class:`~gnnkit.metrics.Evaluator` computes the
            metric, ``None`` for ZINC.
        description: where the data came from (for the report).
    """

    dataset: GraphDataset
    train: Tensor
    val: Tensor
    test: Tensor
    metric: str
    num_tasks: int
    evaluator: str | None
    description: str

    @property
    def in_channels(self) -> int:
        """Columns of ``x`` (categorical columns)."""
        x = self.dataset.x
        return 0 if x is None else (1 if x.dim() == 1 else int(x.shape[1]))

    @property
    def edge_channels(self) -> int:
        """Columns of ``edge_attr`` (a ``(E,)`` vector counts as 1; 0 without edge features)."""
        attr = self.dataset.edge_attr
        return 0 if attr is None else (1 if attr.dim() == 1 else int(attr.shape[1]))

    def metric_function(self) -> GraphMetric:
        """The metric of this dataset as :func:`gnnkit.train.graph_level.fit` calls it."""
        return GraphMetric(self.metric, self.evaluator)


def _split_index(dataset: GraphDataset, spec: DatasetSpec) -> tuple[Tensor, Tensor, Tensor]:
    missing = [name for name in ("train", "val", "test") if name not in dataset.splits]
    if missing:
        raise DatasetUnavailable(f"dataset {spec.name!r} has no {missing} split (found "
                                 f"{sorted(dataset.splits)})")
    return dataset.splits["train"], dataset.splits["val"], dataset.splits["test"]


def load_graph_property_data(spec: DatasetSpec, roots: Sequence[Path] | None = None
                             ) -> GraphPropertyData:
    """Find and read the dataset of ``spec`` (``zinc`` or ``ogb`` source).

    Data roots are searched in order (``--data-root``, ``$GNNKIT_DATA``, ``~/.cache/gnnkit``:
    :func:`gnnkit.bench.data.data_roots`); under each, the experiment's ``folders`` and the
    dataset's name (for OGB also with ``_`` for ``-``, the folder name OGB's loaders use).

    Raises:
        DatasetUnavailable: no folder holds the dataset's files (the message lists where it
            looked), a found folder lacks one of its files (an incomplete download), or the
            data lacks the split or the targets the task needs.
        gnnkit.datasets.DatasetFileError: a file exists but is malformed.
    """
    roots = data_roots() if roots is None else list(roots)
    names = [*spec.folders, spec.name]
    if spec.source == "ogb":
        names.append(spec.name.replace("-", "_"))
    folders = list(dict.fromkeys(names))
    try:
        if spec.source == "zinc":
            folder = find_folder(roots, folders, _ZINC_MARKER)
            if folder is None:
                raise dataset_not_found(spec, "ZINC text files", folders, _ZINC_MARKER, roots)
            dataset = read_zinc(folder)
            num_tasks, evaluator = 1, None
            what = f"{dataset.name} ({folder})"
        elif spec.source == "ogb":
            info = ogb_graph_info(spec.name)
            folder = find_folder(roots, folders, _OGB_MARKER)
            if folder is None:
                raise dataset_not_found(spec, "OGB files", folders, _OGB_MARKER, roots)
            loaded = read_ogb(folder, info.name)
            if not isinstance(loaded, GraphDataset):  # the table says graph-level; be sure
                raise DatasetUnavailable(f"{folder} holds no graph-level OGB dataset")
            dataset = loaded
            num_tasks, evaluator = int(info.num_tasks or 1), info.name
            what = f"{info.name} ({folder}, OGB {info.split} split, {info.task_type})"
        else:
            raise DatasetUnavailable(f"dataset.source {spec.source!r} is not a graph_property "
                                     "source (zinc, ogb)")
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error
    if dataset.y is None or dataset.x is None:
        raise DatasetUnavailable(f"dataset {spec.name!r} has no graph targets or node features")
    columns = 1 if dataset.y.dim() == 1 else int(dataset.y.shape[1])
    if columns != num_tasks:
        raise DatasetUnavailable(f"dataset {spec.name!r} has {columns} target column(s), the "
                                 f"OGB table says {num_tasks} task(s)")
    train, val, test = _split_index(dataset, spec)
    metric = expected_metric(spec.source, spec.name)
    labelled = int((~torch.isnan(dataset.y.float())).sum())
    description = (f"{what}: {len(dataset)} graphs, {int(dataset.node_ptr[-1])} nodes; split "
                   f"{spec.split}: train {train.numel()} / val {val.numel()} / test "
                   f"{test.numel()}; {num_tasks} task(s), {labelled} labelled targets; metric "
                   f"{metric}")
    return GraphPropertyData(dataset, train, val, test, metric, num_tasks, evaluator,
                             description)


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class GraphPropertyTrainingSpec:
    """Optimisation and model selection of a graph-property experiment
    (:func:`gnnkit.train.graph_level.fit`).

    Attributes:
        lr: Adam learning rate.
        batch_size: training graphs per step (a fresh shuffle every epoch).
        epochs: passes over the training graphs.
        eval_batch_size: graphs per evaluation batch (``None``: ``batch_size``).
        weight_decay: Adam's L2 penalty.
        schedule: ``none``, ``step`` (× ``gamma`` every ``step_size`` epochs) or ``plateau``
            (× ``factor`` after ``patience`` epochs without a better validation metric; with
            ``min_lr`` > 0 training stops once the rate falls below it).
        step_size, gamma, factor, patience, min_lr: the schedule's parameters.
        selection: ``best_val`` — the epoch with the best validation metric is the result.
    """

    lr: float
    batch_size: int
    epochs: int = 100
    eval_batch_size: int | None = None
    weight_decay: float = 0.0
    schedule: str = "none"
    step_size: int = 50
    gamma: float = 0.5
    factor: float = 0.5
    patience: int = 10
    min_lr: float = 0.0
    selection: str = "best_val"

    def lr_schedule(self) -> LRSchedule:
        """The schedule as :class:`gnnkit.train.graph_level.LRSchedule`."""
        return LRSchedule(self.schedule, step_size=self.step_size, gamma=self.gamma,
                          factor=self.factor, patience=self.patience, min_lr=self.min_lr)


@dataclass(frozen=True)
class GraphPropertyRun:
    """A finished run: its :class:`RunResult` and, when asked for, the selected epoch's model
    parameters (``state``)."""

    result: RunResult
    state: Mapping[str, Any] | None = None


def train_graph_property(
    experiment: Experiment,
    data: GraphPropertyData,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    max_epochs: int | None = None,
    time_budget: float | None = None,
    keep_state: bool = False,
    log: Callable[[Mapping[str, float]], None] | None = None,
) -> GraphPropertyRun:
    """Train ``experiment``'s model on ``data`` from ``seed`` and test the best-validation
    epoch.

    ``max_epochs`` caps the experiment's epochs (smoke tests); ``time_budget`` (seconds of
    training and evaluation) stops after the epoch that passes it; ``log`` receives every
    epoch's curve entry. ``seed`` seeds the model's initialisation (torch's global generator)
    and the shuffling of the training graphs (a CPU generator of its own).
    """
    training = experiment.training
    if not isinstance(training, GraphPropertyTrainingSpec):
        raise ExperimentError(experiment.path, f"{experiment.id} is not a graph_property "
                                               "experiment")
    if experiment.metric != data.metric:
        raise ExperimentError(experiment.path, f"metric {experiment.metric!r} does not match "
                                               f"the data's metric {data.metric!r}")
    device = torch.device(device)
    torch.manual_seed(seed)
    model = build_model(experiment.model, task=GraphPropertyTask.name,
                        in_channels=data.in_channels, out_channels=data.num_tasks,
                        edge_channels=data.edge_channels).to(device)
    scale = metric_scale(data.metric)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)

    def curve_entry(entry: Mapping[str, float]) -> dict[str, float]:
        return {"epoch": entry["epoch"], "loss": entry["loss"], "val": scale * entry["val"],
                "test": scale * entry["test"], "lr": entry["lr"],
                "train_seconds": entry["train_seconds"]}

    def on_epoch(entry: Mapping[str, float]) -> None:
        if log is not None:
            log(curve_entry(entry))

    outcome = fit(model, data.dataset, data.train, {"val": data.val, "test": data.test},
                  loss=LOSS_OF_METRIC[data.metric], metric=data.metric_function(),
                  higher_is_better=higher_is_better(data.metric), lr=training.lr,
                  epochs=epochs, batch_size=training.batch_size,
                  eval_batch_size=training.eval_batch_size,
                  weight_decay=training.weight_decay, schedule=training.lr_schedule(),
                  selection="val", generator=torch.Generator().manual_seed(seed),
                  device=device, time_budget=time_budget, keep_best_state=keep_state,
                  log=on_epoch, batch_transform=model_batch_transform(model, data.dataset))
    steps_per_epoch = max(1, math.ceil(data.train.numel() / training.batch_size))
    details: dict[str, Any] = {
        "stopped": outcome.stopped or f"completed {outcome.epochs} epoch(s)",
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    result = RunResult(
        seed=seed, split=0, test=scale * outcome.metrics["test"],
        val=scale * outcome.metrics["val"], epochs=outcome.epochs,
        selected_epoch=outcome.selected_epoch,
        train_step_ms=1000.0 * outcome.train_seconds / (steps_per_epoch * outcome.epochs),
        curve=tuple(curve_entry(entry) for entry in outcome.history), details=details)
    return GraphPropertyRun(result, outcome.best_state)


# ---------------------------------------------------------------------------- the task
class GraphPropertyTask(Task):
    """Graph-level prediction on a fixed split: graph regression (ZINC-12k, MAE; OGB's
    ``ogbg-molesol``/``-molfreesolv``/``-mollipo``, RMSE) and OGB's binary graph
    classification (the other ``ogbg-mol*`` sets, ROC-AUC or AP, one output per task). The
    metric is the dataset's (:func:`expected_metric`); the epoch with the best validation
    metric is tested. See the module docstring for units and losses."""

    name = "graph_property"
    metrics = GRAPH_PROPERTY_METRICS
    #: ``zinc`` (benchmarking-gnns' ZINC subset, :func:`gnnkit.datasets.read_zinc`) or
    #: ``ogb`` (an ``ogbg-*`` folder in OGB's layout)
    sources = ("zinc", "ogb")
    #: ``zinc-12k`` (ZINC's own 10 000 / 1 000 / 1 000 split) or ``ogb`` (OGB's split files,
    #: scaffold for the molecule sets); the default follows the source
    splits = ("zinc-12k", "ogb")
    #: the categorical features as stored (the model's encoder embeds them)
    features = ("raw",)

    def parse_metric(self, data: Mapping[str, Any], path: Path | None) -> str:
        """``metric``, which must be the dataset's (MAE for ZINC, the OGB table's evaluation
        metric for OGB); it defaults to it."""
        table = data.get("dataset")
        expected, dataset = None, ""
        if isinstance(table, Mapping):
            source, name = table.get("source"), table.get("name")
            # a malformed [dataset] is reported by parse_dataset, with its own message
            if isinstance(source, str) and source in self.sources and isinstance(name, str):
                expected = expected_metric(source, name.lower(), path)
                dataset = f"{name.lower()!r} (source {source!r})"
        metric = get_value(data, "metric", str, "experiment", path,
                           expected or self.metrics[0], self.metrics)
        if expected is not None and metric != expected:
            raise ExperimentError(path, f"experiment.metric {metric!r} does not match dataset "
                                        f"{dataset}, which is evaluated with {expected!r}; "
                                        f"write metric = {expected!r} or leave it out")
        return str(metric)

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        """``[dataset]``: source ``zinc`` (split ``zinc-12k``) or ``ogb`` (split ``ogb``, a
        binary-classification or regression ``ogbg-*`` name); the split defaults to the
        source's."""
        if "split" not in table and table.get("source") in self.sources:
            table = {**table, "split": "ogb" if table["source"] == "ogb" else "zinc-12k"}
        spec = parse_dataset(table, path, task=self.name, sources=self.sources,
                             splits=self.splits, features=self.features,
                             default_features="raw")
        if spec.source == "ogb":
            ogb_graph_info(spec.name, path)
        if spec.undirected or spec.split_folders:
            raise ExperimentError(path, "dataset.undirected and dataset.split_folders do not "
                                        "apply to graph_property datasets (the readers store "
                                        "both directions of every bond; the split files are in "
                                        "the dataset folder); remove them")
        return spec

    def parse_training(self, table: Mapping[str, Any], path: Path | None
                       ) -> GraphPropertyTrainingSpec:
        check_keys(table, GraphPropertyTrainingSpec.__dataclass_fields__, "[training]", path)
        where = "training"
        spec = GraphPropertyTrainingSpec(
            lr=get_value(table, "lr", float, where, path),
            batch_size=get_value(table, "batch_size", int, where, path),
            epochs=get_value(table, "epochs", int, where, path, 100),
            eval_batch_size=get_value(table, "eval_batch_size", int, where, path, None),
            weight_decay=get_value(table, "weight_decay", float, where, path, 0.0),
            schedule=get_value(table, "schedule", str, where, path, "none", SCHEDULES),
            step_size=get_value(table, "step_size", int, where, path, 50),
            gamma=get_value(table, "gamma", float, where, path, 0.5),
            factor=get_value(table, "factor", float, where, path, 0.5),
            patience=get_value(table, "patience", int, where, path, 10),
            min_lr=get_value(table, "min_lr", float, where, path, 0.0),
            selection=get_value(table, "selection", str, where, path, "best_val", SELECTION),
        )
        if spec.lr <= 0 or spec.weight_decay < 0:
            raise ExperimentError(path, f"training.lr must be > 0 and training.weight_decay "
                                        f">= 0, got lr {spec.lr} and weight_decay "
                                        f"{spec.weight_decay}")
        if spec.epochs < 1 or spec.batch_size < 1 or (spec.eval_batch_size is not None
                                                        and spec.eval_batch_size < 1):
            raise ExperimentError(path, "training.epochs, batch_size and eval_batch_size must "
                                        "be >= 1")
        try:
            spec.lr_schedule()
        except ValueError as error:
            raise ExperimentError(path, f"[training] schedule: {error}") from None
        return spec

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> GraphPropertyData:
        # the graphs stay on the CPU: fit moves one batch at a time to the device
        return load_graph_property_data(experiment.dataset, roots)

    def run_seed(self, experiment: Experiment, data: GraphPropertyData,
                 context: RunContext) -> TaskRun:
        run = train_graph_property(experiment, data, seed=context.seed, device=context.device,
                                   max_epochs=context.max_epochs,
                                   time_budget=context.time_budget, log=context.log)
        return TaskRun(run.result)
