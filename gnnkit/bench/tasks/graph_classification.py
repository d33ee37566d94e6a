"""The graph-classification task: TU datasets, 10-fold cross-validation, accuracy.

One run is one fold: run ``k`` of an experiment trains on fold ``k mod 10``'s training graphs
with seed ``seeds[k]`` (``seeds = 10`` covers the ten folds once), with
:func:`gnnkit.train.graph_level.fit` and the GIN reference code's optimisation (Adam, a step
decay of the learning rate every ``lr_step_size`` epochs, ``iters_per_epoch`` random batches
per epoch, cross-entropy). The folds are ``StratifiedKFold(10, shuffle=True,
random_state=split_seed)``'s (:func:`~gnnkit.bench.graph_data.stratified_folds`). The report's
mean ± std is over the folds. ``[training] protocol`` chooses what is reported:

``gin-paper`` — the protocol of Xu et al. (ICLR 2019), as its authors describe it (no
    validation set): every epoch, each fold's model is scored on that fold's held-out
    graphs; the curves are averaged over the folds, the *single* epoch with the best average
    is selected, and the reported number is mean ± std over folds of the held-out accuracy
    at that epoch. The held-out fold selects the epoch *and* is scored, so this is a
    cross-validation (validation) accuracy, not a test accuracy on unseen data. The epoch is
    chosen once all folds have run (:meth:`GraphClassificationTask.finalize_runs`); until
    then a fold's progress line shows its last epoch's accuracy.
``held-out`` — the protocol of Errica et al. (ICLR 2020, "A Fair Comparison of Graph
    Neural Networks for Graph Classification"): a stratified ``val_fraction`` of each
    fold's training graphs is held out, the epoch with the best accuracy on it is selected
    (first of ties), and the fold's test graphs, never used for any choice, are scored at
    that epoch. Every fold selects its own epoch. (Errica et al. also select
    hyper-parameters on the held-out part and average three runs per fold; here the
    experiment fixes the hyper-parameters.)

``--max-epochs`` caps the epochs of every fold, ``--time-budget`` applies to each fold (run)
separately; with ``gin-paper``, folds stopped at different epochs are compared on the epochs
they all reached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gnnkit.metrics import accuracy
from gnnkit.models import build_model
from gnnkit.train.graph_level import LRSchedule, fit, model_batch_transform

from ..graph_data import (
    TU_FEATURES,
    GraphData,
    fold_indices,
    load_graph_data,
    stratified_folds,
    stratified_holdout,
)
from ..schema import DatasetSpec, ExperimentError, check_keys, get_value, parse_dataset
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = [
    "FOLDS",
    "PROTOCOLS",
    "GraphClassificationTask",
    "GraphTrainingSpec",
    "select_common_epoch",
    "train_graph_classifier",
]

#: ``[training] protocol`` values (see the module docstring)
PROTOCOLS = ("gin-paper", "held-out")
#: folds of the cross-validation (``dataset.split = "10-fold"``)
FOLDS = 10

_PROTOCOL_TEXT = {
    "gin-paper": ("gin-paper: each fold's held-out graphs are scored every epoch; one epoch, "
                  "best on the accuracy averaged over the folds, is reported for all folds "
                  "(Xu et al.'s protocol: a cross-validation score, the held-out folds also "
                  "choose the epoch)"),
    "held-out": ("held-out: a stratified {fraction:g} of each fold's training graphs selects "
                 "the fold's epoch; the fold's test graphs are scored at it (Errica et al.'s "
                 "protocol, fixed hyper-parameters)"),
}


@dataclass(frozen=True)
class GraphTrainingSpec:
    """Optimisation and evaluation protocol of a graph-classification experiment.

    Attributes:
        protocol: ``gin-paper`` or ``held-out`` (module docstring).
        split_seed: ``random_state`` of the stratified 10-fold split (the GIN code's
            ``--seed``, default 0); the same folds for every run of the experiment.
        val_fraction: ``held-out`` only: the share of each fold's training graphs held out
            to select the epoch.
        lr, weight_decay: Adam's (GIN code: ``--lr 0.01``, ``--decay 0``).
        epochs: epochs per fold (GIN code: 350).
        batch_size: graphs per training batch (GIN paper: 32 or 128).
        iters_per_epoch: random batches of distinct graphs per epoch (the GIN code's
            ``--iters_per_epoch``, 50); ``0`` = one shuffled pass over the training graphs.
        eval_batch_size: graphs per evaluation batch (the GIN code evaluates by 64).
        lr_step_size, lr_gamma: multiply the learning rate by ``lr_gamma`` every
            ``lr_step_size`` epochs (GIN code: ``StepLR(50, 0.5)``).
    """

    protocol: str = "gin-paper"
    split_seed: int = 0
    val_fraction: float = 0.1
    lr: float = 0.01
    weight_decay: float = 0.0
    epochs: int = 350
    batch_size: int = 32
    iters_per_epoch: int = 50
    eval_batch_size: int = 64
    lr_step_size: int = 50
    lr_gamma: float = 0.5


def select_common_epoch(curves: Sequence[Sequence[float]]) -> tuple[int, list[float]]:
    """The GIN paper's epoch selection over folds.

    ``curves[f][e]`` is fold ``f``'s held-out accuracy after epoch ``e + 1``. The curves are
    averaged over the folds on the epochs every fold reached; returns ``(position, mean)``
    with ``position`` the 0-based epoch of the best average (the first of ties) and ``mean``
    the averaged curve.

    Raises:
        ValueError: no curve, or a fold without any epoch.
    """
    if not curves:
        raise ValueError("select_common_epoch needs at least one fold's curve")
    common = min(len(curve) for curve in curves)
    if common == 0:
        raise ValueError("a fold has an empty curve: no epoch to select")
    mean = [sum(curve[e] for curve in curves) / len(curves) for e in range(common)]
    best = max(range(common), key=lambda e: (mean[e], -e))
    return best, mean


def _stratified_split(data: GraphData, training: GraphTrainingSpec, fold: int
                      ) -> dict[str, torch.Tensor]:
    """The graph ids of one fold: ``train`` and ``test``, plus ``val`` for ``held-out``."""
    fold_of = stratified_folds(data.labels, FOLDS, training.split_seed)
    train, test = fold_indices(fold_of, fold)
    if training.protocol != "held-out":
        return {"train": train, "test": test}
    # drawn from the split seed and the fold, not the run's seed: like the folds, the
    # validation parts are fixed for the experiment (Errica et al. store their splits)
    train, val = stratified_holdout(train, data.labels, training.val_fraction,
                                    (training.split_seed, fold))
    return {"train": train, "val": val, "test": test}


def train_graph_classifier(experiment: Experiment, data: GraphData, *, seed: int, fold: int,
                           device: torch.device | str = "cpu", max_epochs: int | None = None,
                           time_budget: float | None = None, log: Any = None) -> RunResult:
    """Train ``experiment``'s model on fold ``fold`` of ``data`` from ``seed``.

    ``seed`` seeds the model's initialisation and the batch draws; the folds (and the
    validation parts of ``held-out``) depend on ``training.split_seed`` only. With
    ``held-out`` the result is the fold's test accuracy at the epoch best on validation;
    with ``gin-paper`` it is the held-out accuracy after the last epoch, until
    :meth:`GraphClassificationTask.finalize_runs` picks the epoch common to all folds.
    Accuracies are in %.
    """
    training = experiment.training
    if not isinstance(training, GraphTrainingSpec):
        raise ExperimentError(experiment.path, f"{experiment.id} is not a graph-classification "
                                               "experiment")
    split = _stratified_split(data, training, fold)
    train = split.pop("train")
    torch.manual_seed(seed)
    model = build_model(experiment.model, task=GraphClassificationTask.name,
                        in_channels=data.num_features, out_channels=data.num_classes,
                        edge_channels=data.num_edge_features).to(device)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)
    sampled = training.iters_per_epoch or None
    outcome = fit(model, data.dataset, train, split, loss="cross_entropy", metric=accuracy,
                  higher_is_better=True, lr=training.lr, epochs=epochs,
                  batch_size=training.batch_size, eval_batch_size=training.eval_batch_size,
                  weight_decay=training.weight_decay,
                  schedule=LRSchedule("step", step_size=training.lr_step_size,
                                      gamma=training.lr_gamma),
                  selection="val" if "val" in split else "test", sampled_batches=sampled,
                  generator=torch.Generator().manual_seed(seed), device=device,
                  time_budget=time_budget, log=log,
                  batch_transform=model_batch_transform(model, data.dataset))
    curve = tuple({"epoch": entry["epoch"], "loss": entry["loss"],
                   **({"val": 100.0 * entry["val"]} if "val" in entry else {}),
                   "test": 100.0 * entry["test"], "train_seconds": entry["train_seconds"]}
                  for entry in outcome.history)
    if training.protocol == "held-out":
        selected = outcome.selected_epoch
        test, val = 100.0 * outcome.metrics["test"], 100.0 * outcome.metrics["val"]
    else:  # provisional: the last epoch; finalize_runs selects across the folds
        selected = outcome.epochs
        test = val = curve[-1]["test"]
    steps = sampled or math.ceil(train.numel() / training.batch_size)
    details: dict[str, Any] = {
        "protocol": _PROTOCOL_TEXT[training.protocol].format(fraction=training.val_fraction)}
    if outcome.stopped is not None:
        details["stopped"] = outcome.stopped
    return RunResult(seed=seed, split=fold, test=test, val=val, epochs=outcome.epochs,
                     selected_epoch=selected,
                     train_step_ms=1000.0 * outcome.train_seconds / (outcome.epochs * steps),
                     curve=curve, details=details)


class GraphClassificationTask(Task):
    """Graph classification on TU datasets by stratified 10-fold cross-validation."""

    name = "graph_classification"
    metrics = ("accuracy",)
    sources = ("tu",)
    #: stratified 10-fold cross-validation; run ``k`` is fold ``k mod 10``
    splits = ("10-fold",)
    features = TU_FEATURES

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        """``[dataset]`` with ``source = "tu"`` and ``features = "node_labels"`` as defaults."""
        return parse_dataset({"source": "tu", **table}, path, task=self.name,
                             sources=self.sources, splits=self.splits, features=self.features,
                             default_features=self.features[0])

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> GraphTrainingSpec:
        check_keys(table, GraphTrainingSpec.__dataclass_fields__, "[training]", path)
        where, default = "training", GraphTrainingSpec()
        spec = GraphTrainingSpec(
            protocol=get_value(table, "protocol", str, where, path, default.protocol,
                               PROTOCOLS),
            split_seed=get_value(table, "split_seed", int, where, path, default.split_seed),
            val_fraction=get_value(table, "val_fraction", float, where, path,
                                   default.val_fraction),
            lr=get_value(table, "lr", float, where, path, default.lr),
            weight_decay=get_value(table, "weight_decay", float, where, path,
                                   default.weight_decay),
            epochs=get_value(table, "epochs", int, where, path, default.epochs),
            batch_size=get_value(table, "batch_size", int, where, path, default.batch_size),
            iters_per_epoch=get_value(table, "iters_per_epoch", int, where, path,
                                      default.iters_per_epoch),
            eval_batch_size=get_value(table, "eval_batch_size", int, where, path,
                                      default.eval_batch_size),
            lr_step_size=get_value(table, "lr_step_size", int, where, path,
                                   default.lr_step_size),
            lr_gamma=get_value(table, "lr_gamma", float, where, path, default.lr_gamma),
        )
        problems = [text for bad, text in (
            (spec.lr <= 0, f"training.lr must be > 0, got {spec.lr}"),
            (spec.weight_decay < 0, f"training.weight_decay must be >= 0, got "
                                    f"{spec.weight_decay}"),
            (spec.epochs < 1, f"training.epochs must be >= 1, got {spec.epochs}"),
            (spec.batch_size < 1, f"training.batch_size must be >= 1, got {spec.batch_size}"),
            (spec.iters_per_epoch < 0, "training.iters_per_epoch must be >= 0 (0 = one pass "
                                       f"over the training graphs), got "
                                       f"{spec.iters_per_epoch}"),
            (spec.eval_batch_size < 1, f"training.eval_batch_size must be >= 1, got "
                                       f"{spec.eval_batch_size}"),
            (spec.lr_step_size < 1, f"training.lr_step_size must be >= 1, got "
                                    f"{spec.lr_step_size}"),
            (not 0 < spec.lr_gamma <= 1, f"training.lr_gamma must be in (0, 1], got "
                                         f"{spec.lr_gamma}"),
            (not 0 < spec.val_fraction < 1, f"training.val_fraction must be in (0, 1), got "
                                            f"{spec.val_fraction}"),
        ) if bad]
        if problems:
            raise ExperimentError(path, "; ".join(problems))
        if "val_fraction" in table and spec.protocol != "held-out":
            raise ExperimentError(path, "training.val_fraction applies to protocol = "
                                        f"\"held-out\" only (this experiment has "
                                        f"{spec.protocol!r}); remove it or change the protocol")
        return spec

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> GraphData:
        # the graphs stay on the CPU: each batch is collated there and moved to ``device``
        return load_graph_data(experiment.dataset, roots)

    def run_seed(self, experiment: Experiment, data: GraphData, context: RunContext) -> TaskRun:
        run = train_graph_classifier(experiment, data, seed=context.seed,
                                     fold=context.index % FOLDS, device=context.device,
                                     max_epochs=context.max_epochs,
                                     time_budget=context.time_budget, log=context.log)
        return TaskRun(run)

    def finalize_runs(self, experiment: Experiment, runs: tuple[RunResult, ...]
                      ) -> tuple[RunResult, ...]:
        """``gin-paper``: every fold is reported at the one epoch whose held-out accuracy,
        averaged over the folds (runs), is best (:func:`select_common_epoch`); ``held-out``
        keeps each fold's own validation-selected epoch."""
        if getattr(experiment.training, "protocol", None) != "gin-paper" or not runs:
            return runs
        position, mean = select_common_epoch([[entry["test"] for entry in run.curve]
                                              for run in runs])
        epoch = int(runs[0].curve[position]["epoch"])
        note = (f"epoch {epoch} of the {len(mean)} every fold reached: the best held-out "
                f"accuracy averaged over the {len(runs)} folds (runs), {mean[position]:.2f}%; "
                "every fold is reported at it")
        return tuple(replace(run, test=run.curve[position]["test"],
                             val=run.curve[position]["test"], selected_epoch=epoch,
                             details={**run.details, "selected epoch": note})
                     for run in runs)
