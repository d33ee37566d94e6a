"""The recommendation task: MF-BPR, LightGCN and UltraGCN on the LightGCN datasets (Gowalla,
Yelp2018, Amazon-Book), full-ranking Recall/Precision/NDCG@K.

One seed is :func:`train_recommender`: the model named in ``[model]`` (a registry model serving
``recommendation``, built as ``builder(config, num_users=U, num_items=I)``) is trained by
:func:`gnnkit.train.recommendation.fit` — BPR with Adam, the L2 term of LightGCN's code,
evaluation every ``eval_every`` epochs by ranking all items for every test user (training
items excluded).

Datasets (``[dataset]``): ``source = "lightgcn"`` (the default), ``split = "lightgcn"`` — the
``train.txt``/``test.txt`` of the LightGCN release (:func:`gnnkit.datasets.read_lightgcn`),
found under the data roots (``--data-root``, ``$GNNKIT_DATA``, ``~/.cache/gnnkit``) in the
experiment's ``folders``, ``lightgcn-<name>`` or ``<name>`` — the folder names of
``gnnkit datasets download``. A folder with ``test.txt`` but no ``train.txt`` (the shared
Yelp2018 and Amazon-Book copies) makes the experiment *skipped*, with the folders searched
and the download command in the message.

``[training]`` is :class:`RecommendationTrainingSpec`. ``protocol = "official"`` selects the
epoch on the *test* metric (the reference code's; the run's ``details["protocol"]`` says
so), ``"held-out"`` holds out ``val_fraction`` of each user's training items (seeded by the
run's seed), selects on them and reports the test metric of that epoch.

**Units.** ``metric = "recall@20"`` (or ``ndcg@K``, ``precision@K``) is the metric reported
and the one that selects the epoch. Values are stored in % (×100) in the run results, as every
other task stores accuracies and Hits@K, and the report prints one decimal: the paper's
Recall@20 of 0.1830 is written ``value = 18.30`` in the experiment file. The other metrics of
the selected epoch are in ``details`` (also ×100) and in the curve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gnnkit.datasets import Interactions, MissingDatasetFileError, read_lightgcn
from gnnkit.models import build_model
from gnnkit.nn.recsys import BPR_SCHEMES
from gnnkit.train.recommendation import (
    METRICS,
    NEGATIVE_SAMPLING,
    PROTOCOLS,
    fit,
    holdout_split,
    metric_key,
)

from ..data import DatasetUnavailable, data_roots, dataset_not_found, find_folder
from ..schema import DatasetSpec, ExperimentError, check_keys, get_value, parse_dataset
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = [
    "RecommendationData",
    "RecommendationTask",
    "RecommendationTrainingSpec",
    "load_recommendation_data",
    "parse_ranking_metric",
    "train_recommender",
]

#: the file that marks a usable dataset folder
_MARKER = "train.txt"


def parse_ranking_metric(metric: str) -> tuple[str, int] | None:
    """``("recall", 20)`` for ``"recall@20"`` (``recall``, ``precision`` or ``ndcg`` at a
    positive K), else ``None``."""
    name, _, k = metric.partition("@")
    if name not in METRICS or not k.isdigit() or int(k) < 1:
        return None
    return name, int(k)


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RecommendationData:
    """A LightGCN dataset ready for training.

    Attributes:
        interactions: users, items, the ``train`` and ``test`` pairs
            (:class:`gnnkit.datasets.Interactions`).
        description: where the data came from and its sizes (for the report).
    """

    interactions: Interactions
    description: str

    @property
    def num_users(self) -> int:
        return self.interactions.num_users

    @property
    def num_items(self) -> int:
        return self.interactions.num_items


def load_recommendation_data(spec: DatasetSpec, roots: Sequence[Path] | None = None
                             ) -> RecommendationData:
    """Find and read the ``train.txt``/``test.txt`` of ``spec``.

    Raises:
        DatasetUnavailable: no folder holds ``train.txt`` (the message lists the folders and
            roots searched, and names a folder that has ``test.txt`` only), or a file is
            missing.
        gnnkit.datasets.DatasetFileError: a file exists but is malformed.
    """
    roots = data_roots() if roots is None else list(roots)
    folders = list(dict.fromkeys([*spec.folders, f"lightgcn-{spec.name}", spec.name]))
    found = find_folder(roots, folders, _MARKER)
    if found is None:
        partial = [str(root / folder) for root in roots for folder in folders
                   if (root / folder / "test.txt").is_file()]
        hint = (f"; {', '.join(partial)} has test.txt but no train.txt (an incomplete copy: "
                f"`gnnkit datasets download {spec.name}` fetches the release)" if partial else "")
        raise dataset_not_found(spec, "LightGCN files", folders, _MARKER, roots, hint)
    try:
        interactions = read_lightgcn(found, spec.name)
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error
    meta = interactions.metadata
    description = (f"{meta.get('name', spec.name)} ({found}): {interactions.num_users} users, "
                   f"{interactions.num_items} items, {interactions.train.shape[1]} train / "
                   f"{interactions.test.shape[1]} test interactions "
                   f"({meta.get('train_duplicates', 0)} duplicate train pairs, "
                   f"{meta.get('train_test_overlap', 0)} train/test overlaps)")
    return RecommendationData(interactions, description)


# ---------------------------------------------------------------------------- training
@dataclass(frozen=True)
class RecommendationTrainingSpec:
    """Optimisation, evaluation and model selection of a recommendation experiment
    (:func:`gnnkit.train.recommendation.fit`).

    Attributes:
        lr: Adam learning rate (``--lr``, 1e-3).
        batch_size: BPR triples per step (``--bpr_batch``, 2048).
        epochs: sampled epochs (``--epochs``, 1000).
        weight_decay: ``λ`` of the L2 term on the batch's layer-0 embeddings (``--decay``).
        eval_every: evaluate every this many epochs (10 in LightGCN-PyTorch, 20 in the
            TensorFlow code) and after the last one.
        ks: further cut-offs reported next to the metric's own K (``--topks``).
        sampler: BPR scheme (:data:`gnnkit.nn.recsys.BPR_SCHEMES`).
        protocol: ``official`` (select on test) or ``held-out`` (select on a validation
            split of ``val_fraction`` of each user's training items).
        val_fraction: the held-out share (``held-out`` only).
        eval_batch_size: users per ``(B, I)`` score block.
        patience: stop after this many evaluations without improvement (``None``: never).
        num_negatives: negatives per positive (1: BPR triples; UltraGCN's ``negative_num``).
        negative_sampling: :data:`gnnkit.train.recommendation.NEGATIVE_SAMPLING`
            (``uniform`` = UltraGCN's ``sampling_sift_pos = no``).
        stop_within_epoch: let ``--time-budget`` end an epoch early (models whose epoch is
            longer than a CPU budget).
    """

    lr: float = 1e-3
    batch_size: int = 2048
    epochs: int = 1000
    weight_decay: float = 1e-4
    eval_every: int = 10
    ks: tuple[int, ...] = ()
    sampler: str = "uniform-user"
    protocol: str = "official"
    val_fraction: float = 0.1
    eval_batch_size: int = 1024
    patience: int | None = None
    num_negatives: int = 1
    negative_sampling: str = "exclude-positives"
    stop_within_epoch: bool = False


def train_recommender(experiment: Experiment, data: RecommendationData, *, seed: int,
                      device: torch.device | str = "cpu", max_epochs: int | None = None,
                      time_budget: float | None = None,
                      log: Callable[[Mapping[str, float]], None] | None = None) -> RunResult:
    """Train ``experiment``'s model on ``data`` from ``seed``; the metric (×100) of the
    selected epoch is the run's ``test`` (see the module docstring for the protocols).

    ``seed`` seeds the model's initialisation (torch's global generator) and one CPU generator
    that draws the held-out split (``held-out``) and then every epoch's BPR triples.
    """
    training = experiment.training
    if not isinstance(training, RecommendationTrainingSpec):
        raise ExperimentError(experiment.path, f"{experiment.id} is not a recommendation "
                                               "experiment")
    parsed = parse_ranking_metric(experiment.metric)
    if parsed is None:
        raise ExperimentError(experiment.path, f"metric {experiment.metric!r} is not a ranking "
                                               "metric")
    name, k = parsed
    ks = tuple(dict.fromkeys((k, *training.ks)))
    interactions = data.interactions
    num_users, num_items = data.num_users, data.num_items
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    train, val = interactions.train, None
    if training.protocol == "held-out":
        train, val = holdout_split(train, num_users, num_items, training.val_fraction,
                                   generator=generator)
        if val.numel() == 0:
            raise ExperimentError(experiment.path, f"training.val_fraction = "
                                                   f"{training.val_fraction} holds out no "
                                                   "interaction (each user gives floor(fraction "
                                                   "· its items), keeping one); raise it")
    torch.manual_seed(seed)
    model = build_model(experiment.model, task=RecommendationTask.name, num_users=num_users,
                        num_items=num_items).to(device)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)
    key = metric_key(name, k)
    selected_set = "test" if training.protocol == "official" else "val"

    def curve_entry(entry: Mapping[str, float]) -> dict[str, float]:
        point = {"epoch": entry["epoch"], "loss": entry["loss"],
                 "train_seconds": entry["train_seconds"]}
        if "partial" in entry:  # an epoch cut short by the time budget
            point["steps"], point["epoch_steps"] = entry["steps"], entry["epoch_steps"]
        if "eval_seconds" in entry:
            point["eval_seconds"] = entry["eval_seconds"]
            point["test"] = 100.0 * entry[f"test_{key}"]
            if val is not None:
                point["val"] = 100.0 * entry[f"val_{key}"]
            point.update({metric: 100.0 * value for metric, value in entry.items()
                          if metric.startswith(("test_", "val_"))})
        return point

    def on_epoch(entry: Mapping[str, float]) -> None:
        if log is not None:
            log(curve_entry(entry))

    outcome = fit(model, train, interactions.test, num_users=num_users, num_items=num_items,
                  val=val, protocol=training.protocol, epochs=epochs,
                  batch_size=training.batch_size, lr=training.lr,
                  weight_decay=training.weight_decay, eval_every=training.eval_every, ks=ks,
                  selection_metric=name, sampler=training.sampler,
                  num_negatives=training.num_negatives,
                  negative_sampling=training.negative_sampling,
                  eval_batch_size=training.eval_batch_size, patience=training.patience,
                  generator=generator, device=device, time_budget=time_budget,
                  stop_within_epoch=training.stop_within_epoch, log=on_epoch)
    history = outcome.history
    steps = sum(int(entry["steps"]) for entry in history)
    evaluations = outcome.evaluations
    # a full epoch's steps, from the last epoch (partial or not), for the projected epoch time
    last = history[-1]
    epoch_steps = int(last.get("epoch_steps", last["steps"]))
    step_seconds = outcome.train_seconds / max(steps, 1)
    details: dict[str, Any] = {
        "protocol": outcome.label,
        "selection": outcome.selection,
        "stopped": outcome.stopped or f"completed {outcome.epochs} epoch(s)",
        "epoch_seconds": step_seconds * epoch_steps,
        "steps": steps,
        "epoch_steps": epoch_steps,
        "eval_seconds": outcome.eval_seconds / max(len(evaluations), 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        **{metric: 100.0 * value for metric, value in outcome.metrics.items()},
    }
    curve = tuple(curve_entry(entry) for entry in evaluations)
    return RunResult(seed=seed, split=0, test=100.0 * outcome.metrics[f"test_{key}"],
                     val=100.0 * outcome.metrics[f"{selected_set}_{key}"],
                     epochs=outcome.epochs, selected_epoch=outcome.selected_epoch,
                     train_step_ms=1000.0 * step_seconds,
                     curve=curve, details=details)


# ---------------------------------------------------------------------------- the task
class RecommendationTask(Task):
    """Top-K recommendation from implicit feedback with full-ranking evaluation (LightGCN's
    protocol); see the module docstring for datasets, protocols and units."""

    name = "recommendation"
    #: the default; any ``recall@K``, ``precision@K`` or ``ndcg@K`` is accepted
    metrics = ("recall@20", "ndcg@20", "precision@20")
    #: ``lightgcn``: the ``train.txt``/``test.txt`` format of the LightGCN release
    sources = ("lightgcn",)
    #: ``lightgcn``: the files' own train/test split
    splits = ("lightgcn",)
    #: the data have no features (the models learn an embedding per user and item)
    features = ("none",)

    def parse_metric(self, data: Mapping[str, Any], path: Path | None) -> str:
        """``metric``: ``recall@K``, ``precision@K`` or ``ndcg@K`` (default ``recall@20``)."""
        metric = get_value(data, "metric", str, "experiment", path, self.metrics[0])
        if parse_ranking_metric(metric) is None:
            raise ExperimentError(path, f"experiment.metric must be recall@K, precision@K or "
                                        f"ndcg@K with K >= 1 (e.g. 'recall@20'), got "
                                        f"{metric!r}")
        return str(metric)

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        """``[dataset]``: ``name`` (``gowalla``, ``yelp2018``, ``amazon-book``, or any folder
        in the LightGCN format), ``source``/``split``/``features`` defaulting to
        ``lightgcn``/``lightgcn``/``none``, optional ``folders``."""
        table = {"source": "lightgcn", **table}
        spec = parse_dataset(table, path, task=self.name, sources=self.sources,
                             splits=self.splits, features=self.features,
                             default_features="none")
        if spec.undirected or spec.split_folders:
            raise ExperimentError(path, "dataset.undirected and dataset.split_folders do not "
                                        "apply to recommendation datasets; remove them")
        return spec

    def parse_training(self, table: Mapping[str, Any], path: Path | None
                       ) -> RecommendationTrainingSpec:
        check_keys(table, RecommendationTrainingSpec.__dataclass_fields__, "[training]", path)
        where = "training"
        ks = table.get("ks", [])
        if not isinstance(ks, list) or any(isinstance(k, bool) or not isinstance(k, int)
                                           or k < 1 for k in ks):
            raise ExperimentError(path, f"training.ks must be a list of positive ints (e.g. "
                                        f"[10, 20]), got {ks!r}")
        spec = RecommendationTrainingSpec(
            lr=get_value(table, "lr", float, where, path, 1e-3),
            batch_size=get_value(table, "batch_size", int, where, path, 2048),
            epochs=get_value(table, "epochs", int, where, path, 1000),
            weight_decay=get_value(table, "weight_decay", float, where, path, 1e-4),
            eval_every=get_value(table, "eval_every", int, where, path, 10),
            ks=tuple(ks),
            sampler=get_value(table, "sampler", str, where, path, "uniform-user", BPR_SCHEMES),
            protocol=get_value(table, "protocol", str, where, path, "official", PROTOCOLS),
            val_fraction=get_value(table, "val_fraction", float, where, path, 0.1),
            eval_batch_size=get_value(table, "eval_batch_size", int, where, path, 1024),
            patience=get_value(table, "patience", int, where, path, None),
            num_negatives=get_value(table, "num_negatives", int, where, path, 1),
            negative_sampling=get_value(table, "negative_sampling", str, where, path,
                                        "exclude-positives", NEGATIVE_SAMPLING),
            stop_within_epoch=get_value(table, "stop_within_epoch", bool, where, path, False),
        )
        if spec.lr <= 0 or spec.weight_decay < 0:
            raise ExperimentError(path, f"training.lr must be > 0 and training.weight_decay "
                                        f">= 0, got lr {spec.lr} and weight_decay "
                                        f"{spec.weight_decay}")
        for key in ("batch_size", "epochs", "eval_every", "eval_batch_size", "num_negatives"):
            if getattr(spec, key) < 1:
                raise ExperimentError(path, f"training.{key} must be >= 1, got "
                                            f"{getattr(spec, key)}")
        if spec.patience is not None and spec.patience < 1:
            raise ExperimentError(path, f"training.patience must be >= 1, got {spec.patience}")
        if not 0.0 < spec.val_fraction < 1.0:
            raise ExperimentError(path, f"training.val_fraction must lie in (0, 1), got "
                                        f"{spec.val_fraction}")
        return spec

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> RecommendationData:
        # pairs stay on the CPU: fit moves the graph and every batch to the device
        return load_recommendation_data(experiment.dataset, roots)

    def run_seed(self, experiment: Experiment, data: RecommendationData,
                 context: RunContext) -> TaskRun:
        run = train_recommender(experiment, data, seed=context.seed, device=context.device,
                                max_epochs=context.max_epochs, time_budget=context.time_budget,
                                log=context.log)
        return TaskRun(run)
