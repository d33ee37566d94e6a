"""The node-classification task: Planetoid / geom-gcn graphs, GCN/GAT, accuracy.

``[training]`` is :class:`TrainingSpec`; one seed is :func:`train_node_classifier`, which
builds the model from the registry and runs :func:`gnnkit.train.node_classification.fit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gnnkit.models import build_model
from gnnkit.train.node_classification import STOPPING_RULES, WEIGHT_DECAY_SCOPES, fit

from ..data import NodeData, load_node_data
from ..schema import ExperimentError, check_keys, get_value
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
    ``best_val_acc`` (patience on validation accuracy, test the best-validation model).
    See :class:`gnnkit.train.node_classification.EarlyStopping`.
    """

    lr: float
    weight_decay: float = 0.0
    weight_decay_scope: str = "all"
    epochs: int = 200
    stopping: str = "none"
    patience: int = 0
    optimizer: str = "adam"


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
    outcome = fit(model, data.x, data.adjacency, data.y, data.train[:, split],
                  data.val[:, split], data.test[:, split], lr=training.lr,
                  weight_decay=training.weight_decay,
                  weight_decay_scope=training.weight_decay_scope, epochs=epochs,
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


class NodeClassificationTask(Task):
    """Transductive node classification on one graph, accuracy on the test nodes."""

    name = "node_classification"
    metrics = ("accuracy",)
    sources = ("bundled", "planetoid", "geomgcn")
    #: ``public`` (the dataset's own split) or ``geom-gcn`` (ten splits; run ``k`` uses
    #: split ``k mod 10``)
    splits = ("public", "geom-gcn")
    features = ("row_normalize", "raw")

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> TrainingSpec:
        check_keys(table, TrainingSpec.__dataclass_fields__, "[training]", path)
        where = "training"
        spec = TrainingSpec(
            lr=get_value(table, "lr", float, where, path),
            weight_decay=get_value(table, "weight_decay", float, where, path, 0.0),
            weight_decay_scope=get_value(table, "weight_decay_scope", str, where, path, "all",
                                         WEIGHT_DECAY_SCOPES),
            epochs=get_value(table, "epochs", int, where, path, 200),
            stopping=get_value(table, "stopping", str, where, path, "none", STOPPING_RULES),
            patience=get_value(table, "patience", int, where, path, 0),
            optimizer=get_value(table, "optimizer", str, where, path, "adam", ("adam",)),
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
