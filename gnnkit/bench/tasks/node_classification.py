"""The node-classification task: Planetoid / geom-gcn graphs, GCN/GAT, accuracy.

``[training]`` is :class:`TrainingSpec`; one seed is :func:`train_node_classifier`, which
builds the model from the registry and runs :func:`gnnkit.train.node_classification.fit`
(with ``[training.sampling]``: ``fit_sampled``, or ``fit_rank`` data-parallel under
``torchrun``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gnnkit.models import build_model
from gnnkit.sparse import SparseMatrix
from gnnkit.train.distributed import env_world_size, fit_rank, init_from_env
from gnnkit.train.node_classification import (
    INFERENCE_MODES,
    STOPPING_RULES,
    WEIGHT_DECAY_SCOPES,
    fit,
    fit_sampled,
)

from ..data import EDGE_DIRECTIONS, SELF_LOOPS, NodeData, NodeDatasetSpec, load_node_data
from ..schema import (
    DatasetSpec,
    ExperimentError,
    check_keys,
    get_value,
    parse_dataset,
    sampling_table,
)
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = ["NodeClassificationTask", "TrainingSpec", "train_node_classifier"]


@dataclass(frozen=True)
class TrainingSpec:
    """Optimisation and model selection of a node-classification experiment.

    ``stopping``: ``none`` (train ``epochs``, test the last model); ``kipf`` (stop when the
    validation loss exceeds the mean of the previous ``patience`` epochs, test the last model —
    Kipf & Welling's rule); ``gat`` (patience on "validation accuracy improved or validation
    loss improved", test the model that improved both — the GAT reference code's rule);
    ``best_val_acc`` (patience on validation accuracy, test the best-validation model);
    ``best_val_loss`` (patience on validation loss, test the lowest-loss model).
    See :class:`gnnkit.train.node_classification.EarlyStopping`. ``sheaf_weight_decay``: the
    weight decay of the sheaf learners of NSD models (unset: ``weight_decay`` for all).
    """

    lr: float
    weight_decay: float = 0.0
    weight_decay_scope: str = "all"
    sheaf_weight_decay: float | None = None
    epochs: int = 200
    stopping: str = "none"
    patience: int = 0
    optimizer: str = "adam"
    #: ``[training.sampling]``: ``{"fanouts": [...], "batch_size": n, "workers": n,
    #: "inference": "full"}`` (with ``"inference": "layerwise"`` also
    #: ``"inference_batch_size": n``) trains on sampled mini-batches (:func:`parse_sampling`);
    #: ``None``: full-batch
    sampling: dict[str, Any] | None = None


def train_node_classifier(experiment: Experiment, data: NodeData, *, seed: int, split: int,
                          max_epochs: int | None = None, time_budget: float | None = None,
                          log: Any = None) -> RunResult:
    """Train ``experiment``'s model from ``seed`` on split ``split`` of ``data``.

    ``max_epochs`` caps the experiment's epochs (for smoke tests); ``time_budget`` stops after
    the epoch that passes it. Test accuracy is read at the epoch the selection rule picks;
    evaluation runs in eval mode (no dropout).
    """
    training = experiment.training
    if not isinstance(training, TrainingSpec):
        raise ExperimentError(experiment.path, f"{experiment.id} is not a node-classification "
                                               "experiment")
    torch.manual_seed(seed)
    device = data.y.device
    model = build_model(experiment.model, task=NodeClassificationTask.name,
                        in_channels=data.num_features, num_classes=data.num_classes).to(device)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)
    run = _trainer(training)  # fit, or fit_sampled with [training.sampling]
    outcome = run(model, data.x, data.adjacency, data.y, data.train[:, split],
                  data.val[:, split], data.test[:, split], lr=training.lr,
                  weight_decay=training.weight_decay,
                  weight_decay_scope=training.weight_decay_scope,
                  sheaf_weight_decay=training.sheaf_weight_decay, epochs=epochs,
                  stopping=training.stopping, patience=training.patience,
                  time_budget=time_budget, log=log)
    curve = tuple({"epoch": entry["epoch"], "loss": entry["loss"],
                   "val": 100.0 * entry["val_acc"], "test": 100.0 * entry["test_acc"],
                   "train_seconds": entry["train_seconds"]} for entry in outcome.history)
    details: dict[str, Any] = {}
    if outcome.stopped is not None and outcome.stopped.startswith("time budget"):
        details["stopped"] = outcome.stopped
    return RunResult(seed=seed, split=split, test=100.0 * outcome.test_acc,
                     val=100.0 * outcome.val_acc, epochs=outcome.epochs,
                     selected_epoch=outcome.selected_epoch,
                     train_step_ms=1000.0 * outcome.train_seconds / outcome.epochs,
                     curve=curve, details=details)


#: the keys of ``[training.sampling]``
SAMPLING_KEYS = ("fanouts", "batch_size", "workers", "inference", "inference_batch_size")


def parse_sampling(table: Any, path: Path | None) -> dict[str, Any] | None:
    """``[training.sampling]`` (absent: ``None``, full-batch training): ``fanouts`` (one int
    per layer, ``-1`` = all neighbours; e.g. ``[25, 10]``), ``batch_size`` (seeds per batch,
    default 512), ``workers`` (sampling processes, default 0) and ``inference``, how the
    validation and test logits are computed on the full graph: ``full`` (default, one forward
    ``model(x, A)``) or ``layerwise`` (:func:`gnnkit.train.inference.layerwise_inference`,
    the same logits one layer at a time over batches of ``inference_batch_size`` nodes,
    default ``batch_size``). Training then runs
    :func:`gnnkit.train.node_classification.fit_sampled`, or under ``torchrun``
    :func:`gnnkit.train.distributed.fit_rank` (``layerwise``: evaluation split across the
    ranks)."""
    if table is None:
        return None
    where = "training.sampling"
    table, fanouts = sampling_table(table, SAMPLING_KEYS, path)
    batch_size = get_value(table, "batch_size", int, where, path, 512)
    workers = get_value(table, "workers", int, where, path, 0)
    if batch_size < 1 or workers < 0:
        raise ExperimentError(path, f"{where}.batch_size must be >= 1 and {where}.workers "
                                    f">= 0, got {batch_size} and {workers}")
    inference = get_value(table, "inference", str, where, path, "full", INFERENCE_MODES)
    spec = {"fanouts": fanouts, "batch_size": batch_size, "workers": workers,
            "inference": inference}
    if inference == "layerwise":
        chunk = get_value(table, "inference_batch_size", int, where, path, batch_size)
        if chunk < 1:
            raise ExperimentError(path, f"{where}.inference_batch_size must be >= 1, got "
                                        f"{chunk}")
        spec["inference_batch_size"] = chunk
    elif "inference_batch_size" in table:
        raise ExperimentError(path, f"{where}.inference_batch_size only applies to "
                                    f"{where}.inference = 'layerwise'; remove it or set "
                                    "inference = 'layerwise'")
    return spec


def _trainer(training: TrainingSpec) -> Any:
    """:func:`fit` (full-batch), or with ``[training.sampling]``: :func:`fit_sampled` in one
    process, and under ``torchrun`` (``$WORLD_SIZE > 1``)
    :func:`gnnkit.train.distributed.fit_rank` data-parallel in the process group, which is
    joined here from the environment the first time
    (:func:`~gnnkit.train.distributed.init_from_env`, gloo on CPU). ``batch_size`` is then
    the seeds per step over all ranks (a multiple of the world size), and every rank returns
    the same metrics (broadcast from rank 0, which evaluates alone with ``inference =
    "full"``; with ``"layerwise"`` the evaluation is split across the ranks). Full-batch
    experiments run whole on every rank."""
    sampling = training.sampling
    if sampling is None:
        return fit

    def sampled(model: torch.nn.Module, x: Any, graph: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, SparseMatrix):  # mini-batches gather feature rows: densify once
            x = x.to_dense()
        options = {"fanouts": sampling["fanouts"], "batch_size": sampling["batch_size"],
                   "num_workers": sampling["workers"], "inference": sampling["inference"],
                   "inference_batch_size": sampling.get("inference_batch_size")}
        if env_world_size() > 1 and init_from_env():
            sheaf_weight_decay = kwargs.pop("sheaf_weight_decay", None)
            if sheaf_weight_decay is not None:
                raise ValueError("training.sheaf_weight_decay is not supported by the "
                                 "data-parallel trainer (torchrun, WORLD_SIZE > 1); remove it "
                                 "or run in one process")
            return fit_rank(model, x, graph, *args, **options, **kwargs)
        return fit_sampled(model, x, graph, *args, **options, **kwargs)

    return sampled


class NodeClassificationTask(Task):
    """Transductive node classification on one graph, accuracy on the test nodes."""

    name = "node_classification"
    metrics = ("accuracy",)
    sources = ("bundled", "planetoid", "geomgcn")
    #: ``public`` (the dataset's own split) or ``geom-gcn`` (ten splits; run ``k`` uses
    #: split ``k mod 10``)
    splits = ("public", "geom-gcn")
    features = ("row_normalize", "raw")

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        """``[dataset]``: the common keys (:class:`~gnnkit.bench.schema.DatasetSpec`) and the
        graph preprocessing of :class:`~gnnkit.bench.data.NodeDatasetSpec`: ``self_loops``
        (``keep``/``remove``), ``edge_direction`` (``as_listed``/``reversed``, directed graphs
        only) and ``drop_unlabelled`` (bool)."""
        extra = ("self_loops", "edge_direction", "drop_unlabelled")
        check_keys(table, (*DatasetSpec.__dataclass_fields__, *extra), "[dataset]", path)
        spec = parse_dataset({key: value for key, value in table.items() if key not in extra},
                             path, task=self.name, sources=self.sources, splits=self.splits,
                             features=self.features)
        options = NodeDatasetSpec(
            **spec.__dict__,
            self_loops=get_value(table, "self_loops", str, "dataset", path, "keep", SELF_LOOPS),
            edge_direction=get_value(table, "edge_direction", str, "dataset", path,
                                     "as_listed", EDGE_DIRECTIONS),
            drop_unlabelled=get_value(table, "drop_unlabelled", bool, "dataset", path, False),
        )
        if options.undirected and options.edge_direction != "as_listed":
            raise ExperimentError(path, "dataset.edge_direction = 'reversed' has no effect on "
                                        "an undirected graph; remove it or set "
                                        "dataset.undirected = false")
        return options

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> TrainingSpec:
        check_keys(table, TrainingSpec.__dataclass_fields__, "[training]", path)
        where = "training"
        spec = TrainingSpec(
            lr=get_value(table, "lr", float, where, path),
            weight_decay=get_value(table, "weight_decay", float, where, path, 0.0),
            weight_decay_scope=get_value(table, "weight_decay_scope", str, where, path, "all",
                                         WEIGHT_DECAY_SCOPES),
            sheaf_weight_decay=get_value(table, "sheaf_weight_decay", float, where, path, None),
            epochs=get_value(table, "epochs", int, where, path, 200),
            stopping=get_value(table, "stopping", str, where, path, "none", STOPPING_RULES),
            patience=get_value(table, "patience", int, where, path, 0),
            optimizer=get_value(table, "optimizer", str, where, path, "adam", ("adam",)),
            sampling=parse_sampling(table.get("sampling"), path),
        )
        if spec.lr <= 0 or spec.epochs < 1:
            raise ExperimentError(path, "training.lr must be > 0 and training.epochs >= 1")
        if spec.stopping != "none" and spec.patience < 1:
            raise ExperimentError(path, f"training.stopping = {spec.stopping!r} needs "
                                        "training.patience >= 1")
        return spec

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> NodeData:
        return load_node_data(experiment.dataset, roots).to(device)

    def run_seed(self, experiment: Experiment, data: NodeData, context: RunContext) -> TaskRun:
        run = train_node_classifier(experiment, data, seed=context.seed,
                                    split=context.index % data.num_splits,
                                    max_epochs=context.max_epochs,
                                    time_budget=context.time_budget, log=context.log)
        return TaskRun(run)
