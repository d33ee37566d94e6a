"""One training run of a node-classification experiment: build the model, optimise, select.

The model registry :data:`MODELS` maps an experiment's ``[model] name`` to a builder taking
``(hyper-parameters, in_channels, num_classes)``; adding a model is adding an entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.metrics import accuracy
from gnnkit.models import GAT, GCN

from .data import NodeData
from .experiment import Experiment, ExperimentError, TrainingSpec

__all__ = ["MODELS", "RunResult", "build_model", "train_node_classifier"]


def _options(hyper: Mapping[str, Any], allowed: dict[str, Any], model: str) -> dict[str, Any]:
    unknown = sorted(set(hyper) - set(allowed) - {"name"})
    if unknown:
        raise ExperimentError(None, f"unknown [model] key(s) {unknown} for model {model!r}; "
                                    f"allowed: {sorted(allowed)}")
    return {key: hyper.get(key, default) for key, default in allowed.items()}


def _gcn(hyper: Mapping[str, Any], in_channels: int, num_classes: int) -> torch.nn.Module:
    o = _options(hyper, {"hidden_channels": 16, "num_layers": 2, "dropout": 0.5,
                         "bias": True}, "gcn")
    return GCN(in_channels, o["hidden_channels"], num_classes, num_layers=o["num_layers"],
               dropout=o["dropout"], bias=o["bias"], cached=True)


def _gat(hyper: Mapping[str, Any], in_channels: int, num_classes: int) -> torch.nn.Module:
    o = _options(hyper, {"hidden_channels": 8, "heads": 8, "output_heads": 1, "dropout": 0.6,
                         "attention_dropout": 0.6}, "gat")
    return GAT(in_channels, o["hidden_channels"], num_classes, heads=o["heads"],
               output_heads=o["output_heads"], dropout=o["dropout"],
               attention_dropout=o["attention_dropout"])


MODELS: dict[str, Callable[[Mapping[str, Any], int, int], torch.nn.Module]] = {
    "gcn": _gcn,
    "gat": _gat,
}


def build_model(hyper: Mapping[str, Any], in_channels: int, num_classes: int) -> torch.nn.Module:
    """The model named by ``hyper["name"]`` with the experiment's hyper-parameters."""
    name = hyper["name"]
    if name not in MODELS:
        raise ExperimentError(None, f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](hyper, in_channels, num_classes)


@dataclass(frozen=True)
class RunResult:
    """One seed (and split) of an experiment.

    ``test`` and ``val`` are the metric (in %) of the selected model; ``train_step_ms`` is the
    mean wall time of one optimisation step (forward, loss, backward, update).
    ``curve`` holds one entry per evaluated epoch (link prediction: loss and validation/test
    metric) and ``details`` further numbers of the run (e.g. the CN heuristic's test metric on
    the same split, the stop reason of a time-budgeted run).
    """

    seed: int
    split: int
    test: float
    val: float
    epochs: int
    selected_epoch: int
    train_step_ms: float
    curve: tuple[Mapping[str, float], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        record = dict(self.__dict__)
        record["curve"] = [dict(entry) for entry in self.curve]
        record["details"] = dict(self.details)
        return record


def _optimizer(model: torch.nn.Module, training: TrainingSpec) -> torch.optim.Optimizer:
    if training.weight_decay_scope == "first_layer":
        first = {id(p) for p in model.first_layer_parameters()}  # type: ignore[operator]
        groups = [
            {"params": [p for p in model.parameters() if id(p) in first],
             "weight_decay": training.weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in first],
             "weight_decay": 0.0},
        ]
        return torch.optim.Adam(groups, lr=training.lr)
    return torch.optim.Adam(model.parameters(), lr=training.lr,
                            weight_decay=training.weight_decay)


class _Selector:
    """Early stopping and model selection rules (see :class:`TrainingSpec`)."""

    def __init__(self, training: TrainingSpec) -> None:
        self.rule = training.stopping
        self.patience = training.patience
        self.val_losses: list[float] = []
        self.best_acc = -1.0
        self.best_loss = float("inf")
        self.bad_epochs = 0
        self.selected: tuple[int, float, float] | None = None  # (epoch, val acc, test acc)

    def observe(self, epoch: int, val_loss: float, val_acc: float, test_acc: float) -> bool:
        """Record one epoch; return True to stop training."""
        self.val_losses.append(val_loss)
        if self.rule in ("none", "kipf"):
            self.selected = (epoch, val_acc, test_acc)  # the last model is tested
            window = self.val_losses[-(self.patience + 1):-1]
            # Kipf's rule, with his 0-based epoch counter: epoch - 1 > patience
            return (self.rule == "kipf" and epoch - 1 > self.patience
                    and val_loss > sum(window) / len(window))
        if self.rule == "gat":
            if val_acc >= self.best_acc or val_loss <= self.best_loss:
                if val_acc >= self.best_acc and val_loss <= self.best_loss:
                    self.selected = (epoch, val_acc, test_acc)
                self.best_acc = max(val_acc, self.best_acc)
                self.best_loss = min(val_loss, self.best_loss)
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if self.selected is None:
                self.selected = (epoch, val_acc, test_acc)
            return self.bad_epochs >= self.patience
        # best_val_acc
        if val_acc > self.best_acc:
            self.best_acc = val_acc
            self.selected = (epoch, val_acc, test_acc)
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def _masked_accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    return 100.0 * accuracy(y[mask], logits[mask].argmax(-1))


def train_node_classifier(experiment: Experiment, data: NodeData, *, seed: int, split: int,
                          max_epochs: int | None = None) -> RunResult:
    """Train ``experiment``'s model from ``seed`` on split ``split`` of ``data``.

    ``max_epochs`` caps the experiment's epochs (for smoke tests). Test accuracy is read at the
    epoch the selection rule picks; evaluation runs in eval mode (no dropout).
    """
    torch.manual_seed(seed)
    device = data.y.device
    model = build_model(experiment.model, data.num_features, data.num_classes).to(device)
    optimizer = _optimizer(model, experiment.training)
    train, val, test = data.train[:, split], data.val[:, split], data.test[:, split]
    selector = _Selector(experiment.training)
    epochs = experiment.training.epochs if max_epochs is None else min(
        max_epochs, experiment.training.epochs)
    step_time = 0.0
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(data.x, data.adjacency)[train], data.y[train])
        loss.backward()
        optimizer.step()
        step_time += time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            logits = model(data.x, data.adjacency)
            val_loss = float(F.cross_entropy(logits[val], data.y[val]))
        if selector.observe(epoch, val_loss, _masked_accuracy(logits, data.y, val),
                            _masked_accuracy(logits, data.y, test)):
            break
    assert selector.selected is not None
    selected_epoch, val_acc, test_acc = selector.selected
    return RunResult(seed=seed, split=split, test=test_acc, val=val_acc, epochs=epoch,
                     selected_epoch=selected_epoch, train_step_ms=1000.0 * step_time / epoch)

