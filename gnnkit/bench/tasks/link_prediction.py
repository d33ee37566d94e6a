"""The link-prediction task: NCN, NCNC and GAE scorers, Hits@K.

The protocol is :func:`gnnkit.train.link_prediction.fit` (the official NCN code's): Adam with
separate learning rates for encoder and predictor, a fresh permutation of the positive
training links per epoch with as many uniformly sampled negatives, target-link removal, and the
epoch with the best validation Hits@K is the one whose test Hits@K is reported. The graph is
read once per experiment; a random split is drawn per seed (OGB's split is fixed).

``training.init_from`` names another link experiment on the same data whose selected model
(trained first, same seed and split) initialises this one (NCNC on ogbl-ddi starts from NCN,
as in the official code); :meth:`LinkPredictionTask.check_references` validates it.

``[training.sampling]`` (:func:`parse_sampling`) trains on sampled neighbourhoods instead,
with :func:`gnnkit.train.link_prediction.fit_sampled` (evaluation stays full-graph);
:meth:`LinkPredictionTask.check_references` checks it against the model (one fanout per
encoder layer plus the predictor's hop; not NCNC, whose completion needs whole
neighbourhoods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gnnkit.datasets import Graph
from gnnkit.metrics import hits_at_k
from gnnkit.models import build_model, model_config
from gnnkit.nn.linkpred import heuristic_scores
from gnnkit.train.link_prediction import fit, fit_sampled

from ..data import LinkData, link_data, load_link_graph
from ..schema import ExperimentError, check_keys, get_value, sampling_table
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = ["LinkPredictionTask", "LinkRun", "LinkTrainingSpec", "cn_heuristic_hits", "hits_k",
           "train_link_predictor"]

#: pairs per chunk of the CN heuristic baseline reported next to every run
_HEURISTIC_BATCH = 65536
SELECTION = ("best_val",)


def hits_k(metric: str) -> int | None:
    """``K`` of a ``hits@K`` metric (``K`` a positive integer), else ``None``."""
    name, _, k = metric.partition("@")
    if name != "hits" or not k.isdigit() or int(k) < 1:
        return None
    return int(k)


@dataclass(frozen=True)
class LinkTrainingSpec:
    """Optimisation and model selection of a link-prediction experiment (the NCN protocol,
    :func:`gnnkit.train.link_prediction.fit`).

    Attributes:
        lr_encoder, lr_predictor: Adam learning rates of the MPNN and of the predictor
            (``lr_encoder = 0`` freezes the encoder).
        epochs: passes over the positive training links.
        batch_size: positive links per step (each with as many sampled negatives).
        eval_batch_size: pairs scored per chunk at evaluation.
        target_link_removal: remove each batch's links from the message-passing graph.
        selection: ``best_val`` — test the epoch with the best validation metric.
        init_from: id of an experiment on the same dataset whose trained model (same seed)
            initialises this one (NCNC on ogbl-ddi starts from NCN, as in the official code).
        sampling: ``[training.sampling]`` as ``{"fanouts": [...], "workers": n}``: every step
            on the sampled neighbourhood of its batch (:func:`parse_sampling`,
            :func:`gnnkit.train.link_prediction.fit_sampled`); ``None``: full-batch steps.
        stop_within_epoch: let ``--time-budget`` end an epoch at a step boundary (and
            evaluate): for models whose one epoch exceeds any budget (NCNC on ogbl-ddi).
    """

    lr_encoder: float
    lr_predictor: float
    batch_size: int
    epochs: int = 100
    eval_batch_size: int = 8192
    target_link_removal: bool = True
    selection: str = "best_val"
    init_from: str | None = None
    sampling: dict[str, Any] | None = None
    stop_within_epoch: bool = False


#: the keys of a link experiment's ``[training.sampling]`` (the batch size is
#: ``training.batch_size``, and evaluation is always full-graph)
SAMPLING_KEYS = ("fanouts", "workers")
#: keys of node classification's ``[training.sampling]`` that link prediction takes elsewhere
_NOT_SAMPLING_KEYS = {
    "batch_size": "the positive links per step are training.batch_size; remove it here",
    "inference": "evaluation is full-graph (one forward, as without sampling); remove it",
    "inference_batch_size": "evaluation is full-graph (one forward, as without sampling); "
                            "remove it",
}


def parse_sampling(table: Any, path: Path | None) -> dict[str, Any] | None:
    """``[training.sampling]`` of a link experiment (absent: ``None``, full-batch steps):
    ``fanouts`` (one int per hop, hop 1 first, ``-1`` = all neighbours; the encoder's
    ``num_layers + 1`` of them, checked against the model by
    :meth:`LinkPredictionTask.check_references`; e.g. ``[-1, 10]``) and ``workers``
    (sampling processes, default 0). The batch size stays ``training.batch_size`` and
    evaluation is full-graph; training runs :func:`gnnkit.train.link_prediction.fit_sampled`.
    The key names are those of node classification's table."""
    if table is None:
        return None
    where = "training.sampling"
    if isinstance(table, Mapping):
        for key, why in _NOT_SAMPLING_KEYS.items():
            if key in table:
                raise ExperimentError(path, f"{where}.{key} is not a link-prediction option: "
                                            f"{why}")
    table, fanouts = sampling_table(table, SAMPLING_KEYS, path)
    workers = get_value(table, "workers", int, where, path, 0)
    if workers < 0:
        raise ExperimentError(path, f"{where}.workers must be >= 0, got {workers}")
    return {"fanouts": fanouts, "workers": workers}


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
    log: Any = None,
) -> LinkRun:
    """Train the experiment's link model on ``data`` with ``seed``.

    ``initial_state`` (the selected state of an ``init_from`` run) is loaded before training;
    predictor parameters it lacks keep their initialisation (NCN → NCNC). ``time_budget``
    (seconds of training and evaluation) stops after the epoch that passes it, or inside it
    with ``training.stop_within_epoch``.
    """
    training = experiment.training
    k = hits_k(experiment.metric)
    if not isinstance(training, LinkTrainingSpec) or k is None:
        raise ExperimentError(experiment.path, f"{experiment.id} is not a link-prediction "
                                               "experiment")
    torch.manual_seed(seed)
    device = data.x.device
    encoder, predictor = build_model(experiment.model, task=LinkPredictionTask.name,
                                     in_channels=data.num_features,
                                     num_nodes=data.split.num_nodes)
    encoder, predictor = encoder.to(device), predictor.to(device)
    if initial_state is not None:
        encoder.load_state_dict(initial_state["encoder"])
        predictor.load_state_dict(initial_state["predictor"], strict=False)
    epochs = training.epochs if max_epochs is None else min(max_epochs, training.epochs)
    # a CPU generator drives the batch order and negative sampling; on CUDA the seeded
    # global generator of the device does
    generator = torch.Generator().manual_seed(seed) if device.type == "cpu" else None
    options: dict[str, Any] = {
        "epochs": epochs, "batch_size": training.batch_size,
        "lr_encoder": training.lr_encoder, "lr_predictor": training.lr_predictor, "k": k,
        "eval_batch_size": training.eval_batch_size,
        "target_link_removal": training.target_link_removal, "generator": generator,
        "time_budget": time_budget, "stop_within_epoch": training.stop_within_epoch,
        "keep_best_state": keep_state, "log": log,
    }
    if training.sampling is None:
        outcome = fit(encoder, predictor, data.x, data.split, **options)
    else:  # the loader's seed is drawn from the same seeded generator
        outcome = fit_sampled(encoder, predictor, data.x, data.split,
                              fanouts=training.sampling["fanouts"],
                              num_workers=training.sampling["workers"], **options)
    epochs_run = len(outcome.history)
    steps_per_epoch = max(1, data.split.train_pos.shape[1] // training.batch_size)
    # an epoch cut by the time budget (stop_within_epoch) records the steps it took
    steps_run = sum(int(entry.get("steps", steps_per_epoch)) for entry in outcome.history)
    metric = outcome.metric
    curve = tuple(
        {"epoch": entry["epoch"], "loss": entry["loss"],
         "val": 100.0 * entry[f"val_{metric}"], "test": 100.0 * entry[f"test_{metric}"],
         "train_seconds": entry["train_seconds"],
         **({"steps": entry["steps"]} if "steps" in entry else {})}
        for entry in outcome.history if f"val_{metric}" in entry
    )
    details: dict[str, Any] = {"cn_heuristic_test": cn_heuristic_hits(data, k)}
    if outcome.stopped is not None:
        details["stopped"] = outcome.stopped
    result = RunResult(seed=seed, split=split, test=100.0 * outcome.test_at_best,
                       val=100.0 * outcome.best_val, epochs=epochs_run,
                       selected_epoch=outcome.best_epoch,
                       train_step_ms=1000.0 * outcome.train_seconds / max(1, steps_run),
                       curve=curve, details=details)
    return LinkRun(result, outcome.best_state)


class LinkPredictionTask(Task):
    """Link prediction on one graph: Hits@K of the test positives against the negatives."""

    name = "link_prediction"
    sources = ("bundled", "planetoid", "geomgcn", "ogb")
    #: a seeded random 85/5/10 split (:func:`gnnkit.datasets.linksplit.random_link_split`),
    #: the official NCN code's 70/10/20 (:func:`gnnkit.datasets.linksplit.ncn_planetoid_split`)
    #: — both re-drawn per seed — and OGB's own split files
    splits = ("random-85-5-10", "ncn-70-10-20", "ogb")
    features = ("raw", "row_normalize", "none")

    def parse_metric(self, data: Mapping[str, Any], path: Path | None) -> str:
        metric = get_value(data, "metric", str, "experiment", path)
        if hits_k(metric) is None:
            raise ExperimentError(path, f"metric of a link_prediction experiment must be "
                                        f"'hits@K' with K a positive integer, got {metric!r}")
        return str(metric)

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> LinkTrainingSpec:
        check_keys(table, LinkTrainingSpec.__dataclass_fields__, "[training]", path)
        where = "training"
        spec = LinkTrainingSpec(
            lr_encoder=get_value(table, "lr_encoder", float, where, path),
            lr_predictor=get_value(table, "lr_predictor", float, where, path),
            batch_size=get_value(table, "batch_size", int, where, path),
            epochs=get_value(table, "epochs", int, where, path, 100),
            eval_batch_size=get_value(table, "eval_batch_size", int, where, path, 8192),
            target_link_removal=get_value(table, "target_link_removal", bool, where, path,
                                          True),
            selection=get_value(table, "selection", str, where, path, "best_val", SELECTION),
            init_from=get_value(table, "init_from", str, where, path, None),
            sampling=parse_sampling(table.get("sampling"), path),
            stop_within_epoch=get_value(table, "stop_within_epoch", bool, where, path, False),
        )
        if spec.lr_encoder < 0 or spec.lr_predictor <= 0:
            raise ExperimentError(path, "training.lr_encoder must be >= 0 (0 freezes the "
                                        "encoder) and training.lr_predictor > 0")
        if spec.epochs < 1 or spec.batch_size < 1 or spec.eval_batch_size < 1:
            raise ExperimentError(path, "training.epochs, batch_size and eval_batch_size must "
                                        "be >= 1")
        return spec

    def check_references(self, experiment: Experiment,
                         experiments: Mapping[str, Experiment]) -> None:
        """``training.init_from`` names a loaded link experiment on the same dataset and split
        that has no ``init_from`` itself; ``[training.sampling]`` fits the model (checked
        here because it needs both tables: :meth:`check_sampling`)."""
        self.check_sampling(experiment)
        source = getattr(experiment.training, "init_from", None)
        if source is None:
            return
        if source not in experiments:
            raise ExperimentError(experiment.path, f"training.init_from names unknown "
                                                   f"experiment {source!r} (not among the "
                                                   f"loaded experiments)")
        base = experiments[source]
        if base.task != experiment.task or base.dataset != experiment.dataset:
            raise ExperimentError(experiment.path, f"training.init_from {source!r} must be a "
                                                   "link-prediction experiment on the same "
                                                   "dataset and split")
        if getattr(base.training, "init_from", None) is not None:
            raise ExperimentError(experiment.path, f"training.init_from {source!r} itself has "
                                                   "an init_from (chains are not supported)")

    def check_sampling(self, experiment: Experiment) -> None:
        """With ``[training.sampling]``: one fanout per encoder layer plus hop 1 (the
        predictor's), and a model whose predictor reads only the endpoints' rows (not NCNC's
        completion nor NCN's ``ncn2`` two-hop variant)."""
        sampling = getattr(experiment.training, "sampling", None)
        if sampling is None:
            return
        model = model_config(experiment.model, task=self.name)
        if model["name"] == "ncnc" or model.get("variant") == "ncn2":
            what = ("model 'ncnc' completes common neighbours" if model["name"] == "ncnc"
                    else "variant 'ncn2' pools two-hop neighbourhoods")
            raise ExperimentError(experiment.path, f"[training.sampling] cannot train this "
                                                   f"model: {what}, which needs the rows of "
                                                   "the endpoints' neighbours that sampled "
                                                   "blocks do not hold; remove "
                                                   "[training.sampling] (full-batch)")
        layers = model["num_layers"]
        fanouts = sampling["fanouts"]
        if len(fanouts) != layers + 1:
            raise ExperimentError(experiment.path, f"training.sampling.fanouts has "
                                                   f"{len(fanouts)} entries but model."
                                                   f"num_layers = {layers}: give "
                                                   f"{layers + 1}, hop 1 first (hop 1 = the "
                                                   "predictor's common neighbours, usually "
                                                   "-1, then one per encoder layer)")

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> Graph:
        return load_link_graph(experiment.dataset, roots)

    def describe(self, data: Any) -> str | None:
        return None  # the split, and so the description, is drawn per seed

    def run_seed(self, experiment: Experiment, graph: Graph, context: RunContext) -> TaskRun:
        data = link_data(graph, experiment.dataset, context.seed).to(context.device)
        training = experiment.training
        assert isinstance(training, LinkTrainingSpec)
        initial = None
        base_details: dict[str, float] = {}
        if training.init_from is not None:  # train that experiment first, same seed and split
            base = context.experiments[training.init_from]  # checked by check_references
            first = train_link_predictor(base, data, seed=context.seed,
                                         max_epochs=context.max_epochs,
                                         time_budget=context.time_budget, keep_state=True,
                                         log=context.log)
            initial = first.state
            base_details = {f"{base.id}_test": first.result.test,
                            f"{base.id}_epochs": first.result.epochs}
        run = train_link_predictor(experiment, data, seed=context.seed,
                                   max_epochs=context.max_epochs,
                                   time_budget=context.time_budget, initial_state=initial,
                                   log=context.log).result
        if base_details:
            run = replace(run, details={**run.details, **base_details})
        return TaskRun(run, data.description)
