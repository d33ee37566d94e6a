"""One training run of a link-prediction experiment (NCN, NCNC, GAE scorers).

The protocol is :func:`gnnkit.nn.linkpred.fit` (the official NCN code's): Adam with separate
learning rates for encoder and predictor, a fresh permutation of the positive training links
per epoch with as many uniformly sampled negatives, target-link removal, and the epoch with the
best validation Hits@K is the one whose test Hits@K is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from gnnkit.metrics import hits_at_k
from gnnkit.nn.linkpred import build_link_model, fit, heuristic_scores

from .data import LinkData
from .experiment import Experiment, ExperimentError, LinkTrainingSpec
from .train import RunResult

__all__ = ["LinkRun", "cn_heuristic_hits", "train_link_predictor"]

#: pairs per chunk of the CN heuristic baseline reported next to every run
_HEURISTIC_BATCH = 65536


@dataclass(frozen=True)
class LinkRun:
    """A finished link-prediction run: its :class:`RunResult` and, when asked for, the state
    of the selected epoch (``{"encoder": …, "predictor": …}``) for an ``init_from`` run."""

    result: RunResult
    state: Mapping[str, Any] | None = None


def cn_heuristic_hits(data: LinkData, k: int) -> float:
    """Test Hits@``k`` (%) of the common-neighbour count on the training graph: the floor any
    learnt model should clear."""
    graph = data.split.train_graph()
    positive = heuristic_scores("cn", graph, data.split.test_pos, batch_size=_HEURISTIC_BATCH)
    negative = heuristic_scores("cn", graph, data.split.test_neg, batch_size=_HEURISTIC_BATCH)
    return 100.0 * hits_at_k(positive, negative, k)


def train_link_predictor(
    experiment: Experiment,
    data: LinkData,
    *,
    seed: int,
    split: int = 0,
    max_epochs: int | None = None,
    time_budget: float | None = None,
    initial_state: Mapping[str, Any] | None = None,
    keep_state: bool = False,
) -> LinkRun:
    """Train the experiment's link model on ``data`` with ``seed``.

    ``initial_state`` (the selected state of an ``init_from`` run) is loaded before training;
    predictor parameters it lacks keep their initialisation (NCN → NCNC). ``time_budget``
    (seconds of training and evaluation) stops after the epoch that passes it.
    """
    training = experiment.training
    k = experiment.hits_k
    if not isinstance(training, LinkTrainingSpec) or k is None:
        raise ExperimentError(experiment.path, f"{experiment.id} is not a link-prediction "
                                               "experiment")
    torch.manual_seed(seed)
    device = data.x.device
    encoder, predictor = build_link_model(dict(experiment.model), data.num_features,
                                          data.split.num_nodes)
    encoder, predictor = encoder.to(device), predictor.to(device)
    if initial_state is not None:
        encoder.load_state_dict(initial_state["encoder"])
        predictor.load_state_dict(initial_state["predictor"], strict=False)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)
    # a CPU generator drives the batch order and negative sampling; on CUDA the seeded
    # global generator of the device does
    generator = torch.Generator().manual_seed(seed) if device.type == "cpu" else None
    outcome = fit(encoder, predictor, data.x, data.split, epochs=epochs,
                  batch_size=training.batch_size, lr_encoder=training.lr_encoder,
                  lr_predictor=training.lr_predictor, k=k,
                  eval_batch_size=training.eval_batch_size,
                  target_link_removal=training.target_link_removal, generator=generator,
                  time_budget=time_budget, keep_best_state=keep_state)
    epochs_run = len(outcome.history)
    steps_per_epoch = max(1, data.split.train_pos.shape[1] // training.batch_size)
    metric = outcome.metric
    curve = tuple(
        {"epoch": entry["epoch"], "loss": entry["loss"],
         "val": 100.0 * entry[f"val_{metric}"], "test": 100.0 * entry[f"test_{metric}"],
         "train_seconds": entry["train_seconds"]}
        for entry in outcome.history if f"val_{metric}" in entry
    )
    details: dict[str, Any] = {"cn_heuristic_test": cn_heuristic_hits(data, k)}
    if epochs_run < epochs:
        details["stopped"] = f"time budget {time_budget:g} s reached after epoch {epochs_run}"
    result = RunResult(seed=seed, split=split, test=100.0 * outcome.test_at_best,
                       val=100.0 * outcome.best_val, epochs=epochs_run,
                       selected_epoch=outcome.best_epoch,
                       train_step_ms=1000.0 * outcome.train_seconds
                       / (steps_per_epoch * epochs_run),
                       curve=curve, details=details)
    return LinkRun(result, outcome.best_state)
