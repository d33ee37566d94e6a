"""The expressivity task: which pairs of non-isomorphic graphs a graph model can tell apart,
next to what the 1-WL test (:mod:`gnnkit.data.wl`) can.

Datasets (``[dataset] source``): ``graphsat`` — EXP/CEXP's ``GRAPHSAT.txt`` (Abboud et al.,
"The Surprising Power of Graph Neural Networks with Random Node Initialization", IJCAI 2021;
graphs ``2i`` and ``2i + 1`` form a pair, binary node labels, a SAT/UNSAT target ``y``), read
with :func:`gnnkit.datasets.expressivity.read_exp`; ``graph6`` — a ``<name>.g6`` file
(:func:`gnnkit.datasets.expressivity.read_graph6`): graph8c (all 11117 connected graphs on 8
nodes) and the strongly regular families (``sr251256`` = "SR25", …). ``split`` says which
pairs count: ``given-pairs`` (graphs ``2i``, ``2i + 1``: EXP/CEXP) or ``all-pairs`` (every
unordered pair of graphs: graph8c, an SR family). ``features``: ``labels`` feeds the one-hot
encoding of the node labels (rows of ``x`` compared exactly, so the model sees what the 1-WL
oracle starts from) and a constant ``1`` to graphs without labels (graph8c, SR graphs);
``constant`` feeds ``1`` everywhere.

Every run reports, in ``RunResult.details``: ``pairs`` (pairs considered), ``wl_separable``
(pairs the 1-WL oracle separates, computed on the same inputs the model sees),
``separated`` / ``undistinguished`` (the model's), ``separated_beyond_wl`` (1-WL-equivalent
pairs the model separates: ``0`` for any message-passing network, whose power 1-WL bounds —
Xu et al., ICLR 2019, Lemma 2 — so a positive count means a more expressive model or
numerical noise above the tolerance) and ``wl_separable_missed`` (pairs 1-WL separates and the
model does not), plus ``wl_seconds`` (the oracle's run time on the whole dataset).

Two protocols (``[training] protocol``):

``untrained`` — Balcilar et al., "Breaking the Limits of Message Passing Graph Neural
Networks", ICML 2021, Table 1 and its code (balcilar/gnn-matlang ``graph8c.py``, ``sr25.py``,
``exp_iso.py``): models with random weights (no training), in evaluation mode, map every graph
to an output vector of ``output_channels`` (their scripts: 10); two graphs are *separated by a
model* iff the **L1 distance** of their outputs is **greater than** ``tolerance`` (their
scripts: ``0.001``). ``models`` random initialisations are drawn per run (seeds
``seed · models + r``, ``r = 0 … models − 1``: run ``0`` uses ``torch.manual_seed(r)`` like
their loop) and a pair counts as separated when *any* of them separates it — their scripts
accumulate over 100 seeds (graph8c, EXP) or 10 (SR25) and report the pairs never separated.
The run's ``test`` is the experiment's ``metric``: ``separated_pairs`` (the count of separated
pairs) or ``undistinguished_pairs`` (pairs − separated: the number Balcilar et al. report,
used by the experiments that compare with their table); ``val`` repeats it (nothing is
validated). ``--max-epochs`` caps ``models`` (one "epoch" is one random model; the curve gives
the cumulative value after each) and so does ``--time-budget``. For
``all-pairs`` the pairs are counted without enumerating all of them: a pair within L1
distance ``t`` has output sums within ``t``, so after one sort of the sums only pairs inside
that window are compared (:func:`count_undistinguished_pairs`); graph8c's 61.8 M pairs need a
few hundred thousand comparisons for a model that separates most graphs.

``trained`` — Abboud et al. (IJCAI 2021, Section 6; their code ralphabb/GNN-RNI
``GNNHyb.py``): train the model to predict ``y`` with ``folds``-fold cross-validation over
contiguous blocks of graphs (``given-pairs`` keeps both graphs of a pair in the same fold,
as their equal, even-sized blocks do), Adam with ``lr``, cross-entropy, ``epochs`` epochs;
run ``k`` tests fold ``k mod folds`` and validates on the next fold; ``selection = "last"``
reports the last epoch's test accuracy (as their script does), ``"best_val"`` the epoch with
the best validation accuracy. ``test`` is the accuracy in %; ``details["wl_ceiling"]`` is
the best accuracy any model that 1-WL bounds can reach on that test fold (it must give all
graphs of a 1-WL class one prediction: 50 % on EXP, 75 % on CEXP overall).

Models come from the one registry (:mod:`gnnkit.models.registry`), among the models of task
``graph_classification``: ``builder(config, *, in_channels, out_channels, edge_channels)``
returning ``module(batch) → (G, out_channels)`` for a :class:`gnnkit.data.GraphBatch`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gnnkit.data import GraphBatch
from gnnkit.data.wl import count_equivalent_pairs, wl_colors, wl_separates
from gnnkit.datasets import GraphDataset, MissingDatasetFileError
from gnnkit.datasets.expressivity import read_exp, read_graph6
from gnnkit.models import build_model
from gnnkit.sparse import ptr_from_counts
from gnnkit.train.graph_level import fit, model_batch_transform

from ..data import DatasetUnavailable, data_roots, dataset_not_found, find_folder
from ..schema import DatasetSpec, ExperimentError, check_keys, get_value, parse_dataset
from .base import RunContext, RunResult, Task, TaskRun

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "ExpressivityData",
    "ExpressivitySpec",
    "ExpressivityTask",
    "PairCounts",
    "count_undistinguished_pairs",
    "load_expressivity_data",
    "wl_ceiling_accuracy",
]

PROTOCOLS = ("untrained", "trained")
#: metrics per protocol (the first of each is the default)
METRICS = {"untrained": ("separated_pairs", "undistinguished_pairs"), "trained": ("accuracy",)}
SELECTION = ("last", "best_val")
#: pairs compared per chunk when counting all pairs (bounds the memory of one chunk)
_CHUNK_PAIRS = 1 << 20

_COMMON_KEYS = ("protocol", "batch_size", "precision")
#: floating-point precision of the inputs and the model (``[training] precision``)
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
_UNTRAINED_KEYS = ("models", "tolerance", "output_channels", "wl_rounds")
_TRAINED_KEYS = ("epochs", "lr", "weight_decay", "folds", "selection")


@dataclass(frozen=True)
class ExpressivitySpec:
    """The ``[training]`` table of an expressivity experiment (see the module docstring).

    Attributes:
        protocol: ``untrained`` (random models, pairwise output distances) or ``trained``
            (k-fold classification of ``y``).
        batch_size: graphs per forward batch (untrained) or per training batch (trained).
        precision: ``float32`` or ``float64`` — the dtype of the input features and the model.
            Under the untrained protocol the threshold is absolute (L1 > ``tolerance``), and
            float32 rounding grows with the outputs' magnitude: models whose outputs reach the
            hundreds (deep sums over n² subgraph pairs) differ by more than 0.001 on graphs
            that are mathematically indistinguishable, which counts as a separation.
            ``float64`` pushes that noise ~10⁹ times lower.
        models: untrained — random initialisations per run (a pair is separated when any of
            them separates it); ``epochs`` equals it, so ``--max-epochs`` caps it.
        tolerance: untrained — two outputs separate their graphs iff their L1 distance
            exceeds it.
        output_channels: untrained — width of the model's output vector.
        wl_rounds: untrained — the model's rounds of message passing (0: not given). A network
            with k message-passing layers sees at most k rounds of colour refinement, so its
            bound is the oracle's count after k rounds, not the stable one; with
            ``wl_rounds`` set, ``details`` also report ``wl_separable_in_rounds``.
        epochs: trained — training epochs (untrained: equal to ``models``).
        lr, weight_decay: trained — Adam's.
        folds: trained — cross-validation folds; run ``k`` tests fold ``k mod folds``.
        selection: trained — ``last`` (the last epoch's test accuracy) or ``best_val``.
    """

    protocol: str
    batch_size: int = 128
    precision: str = "float32"
    models: int = 100
    tolerance: float = 0.001
    output_channels: int = 10
    wl_rounds: int = 0
    epochs: int = 100
    lr: float = 0.001
    weight_decay: float = 0.0
    folds: int = 10
    selection: str = "last"


@dataclass(frozen=True)
class ExpressivityData:
    """An expressivity dataset ready for models and for the comparison with 1-WL.

    Attributes:
        dataset: the graphs with the model's input features as ``x`` (``(N, F)`` float32)
            and the original ``y`` (if any).
        pairs: ``(2, P)`` graph indices of the given pairs, or ``None`` for all pairs.
        wl_classes: ``(G,)`` 1-WL class of every graph (joint refinement of ``dataset``,
            started from the same features the model sees).
        wl_seconds: the oracle's wall time on the whole dataset.
        description: where the data came from and what the oracle found (for the report).
        batches: the graphs collated into batches of ``batch_size`` on the run's device, in
            order (built once for the untrained protocol; empty for the trained one).
        device: where the models run.
    """

    dataset: GraphDataset
    pairs: Tensor | None
    wl_classes: Tensor
    wl_seconds: float
    description: str
    batches: tuple[GraphBatch, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def num_graphs(self) -> int:
        return len(self.dataset)

    @property
    def num_pairs(self) -> int:
        """Pairs considered: the given ones, or all ``G (G − 1) / 2``."""
        if self.pairs is not None:
            return int(self.pairs.shape[1])
        return self.num_graphs * (self.num_graphs - 1) // 2

    @property
    def wl_equivalent(self) -> int:
        """Considered pairs that 1-WL cannot separate."""
        if self.pairs is not None:
            return int((~wl_separates(self.wl_classes, self.pairs)).sum())
        return count_equivalent_pairs(self.wl_classes)

    @property
    def num_features(self) -> int:
        return int(self.dataset.x.shape[1]) if self.dataset.x is not None else 0


# ---------------------------------------------------------------------------- data
def _find_file(spec: DatasetSpec, roots: Sequence[Path], file_name: str) -> Path:
    folders = list(dict.fromkeys([*spec.folders, spec.name]))
    folder = find_folder(roots, folders, file_name)
    if folder is None:
        raise dataset_not_found(spec, "the file", folders, file_name, roots)
    return folder / file_name


def _input_features(dataset: GraphDataset, mode: str) -> Tensor:
    """``(N, F)`` float32: one-hot node labels (``labels`` with labelled graphs; distinct
    rows of ``x`` compared exactly, one column per distinct row) or a constant ``1``."""
    num_nodes = int(dataset.node_ptr[-1])
    if mode == "labels" and dataset.x is not None and num_nodes:
        rows = dataset.x.reshape(num_nodes, -1)
        ids = torch.unique(rows, dim=0, return_inverse=True)[1]
        return torch.nn.functional.one_hot(ids, int(ids.max()) + 1).float()
    return torch.ones(num_nodes, 1)


def load_expressivity_data(spec: DatasetSpec, roots: Sequence[Path] | None = None, *,
                           batch_size: int | None = None,
                           device: torch.device | str = "cpu",
                           dtype: torch.dtype = torch.float32) -> ExpressivityData:
    """Read the dataset of ``spec``, build the model inputs (features in ``dtype``) and run
    the 1-WL oracle once.

    ``batch_size`` (untrained protocol) also collates the graphs into batches on ``device``.

    Raises:
        DatasetUnavailable: the file is not under any data root.
        gnnkit.datasets.DatasetFileError: the file is malformed.
        ExperimentError: ``given-pairs`` on an odd number of graphs.
    """
    roots = data_roots() if roots is None else list(roots)
    try:
        if spec.source == "graphsat":
            raw = read_exp(_find_file(spec, roots, "GRAPHSAT.txt"))
        else:
            raw = read_graph6(_find_file(spec, roots, f"{spec.name}.g6"))
    except MissingDatasetFileError as error:
        raise DatasetUnavailable(f"dataset {spec.name!r} is incomplete: {error}") from error
    x = _input_features(raw, spec.features).to(dtype)
    dataset = GraphDataset(edge_index=raw.edge_index, node_ptr=raw.node_ptr,
                           edge_ptr=raw.edge_ptr, x=x, y=raw.y, metadata=raw.metadata)
    pairs = None
    if spec.split == "given-pairs":
        if len(dataset) % 2:
            raise ExperimentError(None, f"dataset.split 'given-pairs' pairs graphs 2i and "
                                        f"2i + 1, but {spec.name!r} has {len(dataset)} graphs "
                                        "(odd); use split = \"all-pairs\"")
        pairs = torch.arange(len(dataset)).view(-1, 2).T.contiguous()
    started = time.perf_counter()
    coloring = wl_colors(dataset)
    classes = coloring.classes()
    wl_seconds = time.perf_counter() - started
    device = torch.device(device)
    batches: tuple[GraphBatch, ...] = ()
    if batch_size is not None:
        batches = tuple(
            GraphBatch.from_dataset(dataset, range(start, min(start + batch_size, len(dataset))))
            .to(device) for start in range(0, len(dataset), batch_size))
    data = ExpressivityData(dataset, pairs, classes, wl_seconds, "", batches, device)
    name = raw.metadata.get("name", spec.name)
    kind = ("one-hot node labels" if spec.features == "labels" and raw.x is not None
            else "constant 1")
    description = (
        f"{name} ({spec.source}): {len(dataset)} graphs, {int(dataset.node_ptr[-1])} nodes, "
        f"{dataset.edge_index.shape[1]} directed edges, {x.shape[1]} input feature(s) "
        f"({kind}); {data.num_pairs} {spec.split}; 1-WL separates "
        f"{data.num_pairs - data.wl_equivalent} ({int(classes.max()) + 1} classes, "
        f"{coloring.rounds} rounds, {wl_seconds:.2f} s)")
    return ExpressivityData(dataset, pairs, classes, wl_seconds, description, batches, device)


# ---------------------------------------------------------------------------- pair counting
@dataclass(frozen=True)
class PairCounts:
    """What :func:`count_undistinguished_pairs` found.

    Attributes:
        undistinguished: per model prefix ``r``: pairs that none of the outputs ``0 … r``
            separates (the last entry is the answer).
        wl_equivalent_undistinguished: of the finally undistinguished pairs, those whose
            graphs share a 1-WL class (when classes were given; else ``0``).
    """

    undistinguished: tuple[int, ...]
    wl_equivalent_undistinguished: int = 0


def _l1(outputs: Tensor, first: Tensor, second: Tensor) -> Tensor:
    return (outputs[first] - outputs[second]).abs().sum(dim=1)


def count_undistinguished_pairs(outputs: Sequence[Tensor], tolerance: float,
                                pairs: Tensor | None = None,
                                classes: Tensor | None = None) -> PairCounts:
    """Count the pairs of graphs that no model separates.

    A model separates graphs ``i`` and ``j`` iff ``‖outputs[r][i] − outputs[r][j]‖₁ >
    tolerance`` (Balcilar et al., ICML 2021: L1 distance, threshold 0.001).

    Args:
        outputs: one ``(G, D)`` tensor per model (compared in float64).
        tolerance: the separation threshold.
        pairs: ``(2, P)`` graph indices to check, or ``None`` for all ``G (G − 1) / 2``
            pairs — counted without enumerating them: ``|Σ a − Σ b| ≤ ‖a − b‖₁``, so after
            sorting the graphs by the sum of the first model's output only pairs within
            ``tolerance`` of each other in that order are compared, in chunks of bounded
            size (the work is the number of such candidate pairs, ``G²/2`` only when the
            first model maps almost every graph to the same sums).
        classes: ``(G,)`` 1-WL classes, to also count the undistinguished pairs that 1-WL
            cannot separate either.

    Returns:
        :class:`PairCounts`.
    """
    if not outputs:
        raise ValueError("outputs is empty: give the outputs of at least one model")
    outputs = [o.double().reshape(o.shape[0], -1) for o in outputs]
    num_graphs = int(outputs[0].shape[0])
    if any(o.shape[0] != num_graphs for o in outputs):
        raise ValueError(f"every model's outputs need {num_graphs} rows (one per graph), got "
                         f"{[int(o.shape[0]) for o in outputs]}")
    counts = [0] * len(outputs)
    same_class = 0

    def survivors(first: Tensor, second: Tensor) -> None:
        nonlocal same_class
        for r, output in enumerate(outputs):
            keep = _l1(output, first, second) <= tolerance
            first, second = first[keep], second[keep]
            counts[r] += int(first.numel())
        if classes is not None:
            same_class += int((classes[first] == classes[second]).sum())

    if pairs is not None:
        device = outputs[0].device
        survivors(pairs[0].to(device).long(), pairs[1].to(device).long())
        return PairCounts(tuple(counts), same_class)
    if classes is not None:
        classes = classes.to(outputs[0].device)
    key = outputs[0].sum(dim=1)
    order = torch.argsort(key)
    sorted_key = key[order]
    # slack for the rounding of the sums: a candidate window slightly too wide only costs
    # a few extra exact comparisons, one too narrow would lose pairs
    largest = float(sorted_key.abs().max()) if num_graphs else 0.0
    slack = tolerance + 1e-9 * (1.0 + largest)
    end = torch.searchsorted(sorted_key, sorted_key + slack, right=True)
    partners = (end - torch.arange(num_graphs, device=end.device) - 1).clamp(min=0)
    cumulative = torch.cumsum(partners, dim=0)
    start = 0
    while start < num_graphs:
        # the anchors [start, stop) whose candidate pairs fill one chunk (at least one anchor)
        limit = (int(cumulative[start - 1]) if start else 0) + _CHUNK_PAIRS
        stop = max(int(torch.searchsorted(cumulative, limit, right=True)), start + 1)
        stop = min(stop, num_graphs)
        anchor_partners = partners[start:stop]
        total = int(anchor_partners.sum())
        if total:
            anchors = torch.arange(start, stop, device=end.device)
            first = torch.repeat_interleave(anchors, anchor_partners)
            offsets = ptr_from_counts(anchor_partners, check=False)[:-1]
            step = (torch.arange(total, device=end.device)
                    - torch.repeat_interleave(offsets, anchor_partners))
            survivors(order[first], order[first + 1 + step])
        start = stop
    return PairCounts(tuple(counts), same_class)


def wl_ceiling_accuracy(classes: Tensor, y: Tensor, index: Tensor) -> float:
    """The best accuracy (in %) on the graphs ``index`` of any classifier that gives all
    graphs of a 1-WL class the same prediction (every message-passing network): for each
    class, the count of its most frequent label, summed, over ``len(index)``."""
    if index.numel() == 0:
        return math.nan
    labels = y[index].view(-1).long()
    cls = classes[index].long()
    num_labels = int(labels.max()) + 1
    joint = torch.bincount(cls * num_labels + labels,
                           minlength=(int(cls.max()) + 1) * num_labels)
    best = joint.view(-1, num_labels).max(dim=1).values.sum()
    return 100.0 * float(best) / index.numel()


# ---------------------------------------------------------------------------- the runs
def _forward(model: torch.nn.Module, batches: Sequence[GraphBatch], width: int, what: str
             ) -> Tensor:
    rows = []
    for batch in batches:
        out = model(batch)
        if out.dim() != 2 or out.shape != (batch.num_graphs, width):
            raise ValueError(f"{what} returned shape {tuple(out.shape)} for a batch of "
                             f"{batch.num_graphs} graphs; a graph model must return "
                             f"(G, out_channels) = ({batch.num_graphs}, {width})")
        rows.append(out.detach())
    return torch.cat(rows)


def _transformed_batches(data: ExpressivityData, transform: Callable[[GraphBatch, Tensor], Any]
                         ) -> tuple[Any, ...]:
    """``data.batches`` as the model's ``batch_transform`` turns them into its input (the
    batches are consecutive graph ranges, collated again on the CPU)."""
    out, start = [], 0
    for batch in data.batches:
        ids = torch.arange(start, start + batch.num_graphs)
        start += batch.num_graphs
        out.append(transform(GraphBatch.from_dataset(data.dataset, ids), ids).to(data.device))
    return tuple(out)


def _untrained_run(experiment: Experiment, data: ExpressivityData, context: RunContext
                   ) -> RunResult:
    spec: ExpressivitySpec = experiment.training
    models = context.epochs(spec.models)
    outputs, seconds = [], []
    batches: Sequence[Any] = data.batches
    transformed = False
    started = time.perf_counter()
    for r in range(models):
        tick = time.perf_counter()
        torch.manual_seed(context.seed * spec.models + r)
        model = build_model(experiment.model, task=ExpressivityTask.model_task,
                            in_channels=data.num_features, out_channels=spec.output_channels,
                            edge_channels=0).to(data.device, PRECISIONS[spec.precision])
        model.eval()
        if not transformed:  # e.g. a subgraph model's bags: built once, shared by all draws
            transform = model_batch_transform(model, data.dataset)
            if transform is not None:
                batches = _transformed_batches(data, transform)
            transformed = True
        with torch.no_grad():
            outputs.append(_forward(model, batches, spec.output_channels,
                                    f"model {experiment.model_name!r}"))
        seconds.append(time.perf_counter() - tick)
        if context.time_budget is not None and time.perf_counter() - started > context.time_budget:
            break
    counts = count_undistinguished_pairs(outputs, spec.tolerance, data.pairs,
                                         data.wl_classes.to(data.device))
    total, equivalent = data.num_pairs, data.wl_equivalent
    undistinguished = counts.undistinguished[-1]

    def value(undistinguished: int) -> float:
        separated = experiment.metric == "separated_pairs"
        return float(total - undistinguished if separated else undistinguished)

    curve = tuple({"epoch": r + 1, "val": value(u), "test": value(u),
                   "train_seconds": seconds[r]} for r, u in enumerate(counts.undistinguished))
    for entry in curve:
        context.log(entry)
    details: dict[str, Any] = {
        "pairs": total,
        "wl_separable": total - equivalent,
        "separated": total - undistinguished,
        "undistinguished": undistinguished,
        "separated_beyond_wl": equivalent - counts.wl_equivalent_undistinguished,
        "wl_separable_missed": undistinguished - counts.wl_equivalent_undistinguished,
        "models": len(outputs),
        "tolerance": spec.tolerance,
        "precision": spec.precision,
        "wl_seconds": data.wl_seconds,
    }
    if spec.wl_rounds:
        shallow = wl_colors(data.dataset, max_iterations=spec.wl_rounds).classes()
        shallow_equivalent = (count_equivalent_pairs(shallow) if data.pairs is None
                              else int((~wl_separates(shallow, data.pairs)).sum()))
        details["wl_rounds"] = spec.wl_rounds
        details["wl_separable_in_rounds"] = total - shallow_equivalent
    if len(outputs) < models:
        details["stopped"] = (f"time budget {context.time_budget:g} s reached after "
                              f"{len(outputs)} of {models} models")
    test = value(undistinguished)
    return RunResult(seed=context.seed, split=0, test=test, val=test, epochs=len(outputs),
                     selected_epoch=len(outputs),
                     train_step_ms=1000.0 * sum(seconds) / max(len(seconds), 1),
                     curve=curve, details=details)


def _folds(data: ExpressivityData, folds: int) -> Tensor:
    """``(G,)`` fold of every graph: contiguous blocks, pairs kept whole."""
    if data.pairs is not None:
        units = data.pairs.shape[1]
        fold_of_unit = torch.arange(units) * folds // max(units, 1)
        fold = torch.empty(data.num_graphs, dtype=torch.long)
        fold[data.pairs[0]] = fold_of_unit
        fold[data.pairs[1]] = fold_of_unit
        return fold
    return torch.arange(data.num_graphs) * folds // max(data.num_graphs, 1)


def _accuracy(targets: Tensor, outputs: Tensor) -> float:
    return float((outputs.argmax(dim=-1) == targets.view(-1)).float().mean())


def _trained_run(experiment: Experiment, data: ExpressivityData, context: RunContext
                 ) -> RunResult:
    spec: ExpressivitySpec = experiment.training
    y = data.dataset.y
    if y is None:
        raise ExperimentError(experiment.path, f"the trained protocol needs graph targets y; "
                                               f"{experiment.dataset.name!r} has none")
    fold = _folds(data, spec.folds)
    test_fold = context.index % spec.folds
    val_fold = (test_fold + 1) % spec.folds
    test_index = torch.nonzero(fold == test_fold).view(-1)
    val_index = torch.nonzero(fold == val_fold).view(-1)
    train_index = torch.nonzero((fold != test_fold) & (fold != val_fold)).view(-1)
    torch.manual_seed(context.seed)
    num_classes = int(y.max()) + 1
    model = build_model(experiment.model, task=ExpressivityTask.model_task,
                        in_channels=data.num_features, out_channels=num_classes,
                        edge_channels=0).to(data.device, PRECISIONS[spec.precision])
    generator = torch.Generator().manual_seed(context.seed)

    def log(entry: Mapping[str, float]) -> None:
        context.log({"epoch": entry["epoch"], "loss": entry["loss"],
                     "val": 100.0 * entry["val"], "test": 100.0 * entry["test"]})

    outcome = fit(model, data.dataset, train_index, {"val": val_index, "test": test_index},
                  loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=spec.lr,
                  epochs=context.epochs(spec.epochs), batch_size=spec.batch_size,
                  weight_decay=spec.weight_decay, selection="val", generator=generator,
                  device=data.device, time_budget=context.time_budget, log=log,
                  batch_transform=model_batch_transform(model, data.dataset))
    curve = tuple({"epoch": e["epoch"], "loss": e["loss"], "val": 100.0 * e["val"],
                   "test": 100.0 * e["test"], "train_seconds": e["train_seconds"]}
                  for e in outcome.history)
    chosen = curve[-1] if spec.selection == "last" else curve[outcome.selected_epoch - 1]
    details: dict[str, Any] = {
        "fold": test_fold,
        "test_graphs": int(test_index.numel()),
        "wl_ceiling": wl_ceiling_accuracy(data.wl_classes.cpu(), y, test_index),
        "wl_seconds": data.wl_seconds,
    }
    if outcome.stopped is not None:
        details["stopped"] = outcome.stopped
    return RunResult(seed=context.seed, split=test_fold, test=chosen["test"], val=chosen["val"],
                     epochs=outcome.epochs, selected_epoch=int(chosen["epoch"]),
                     train_step_ms=1000.0 * outcome.train_seconds
                     / max(outcome.epochs * math.ceil(train_index.numel() / spec.batch_size), 1),
                     curve=curve, details=details)


# ---------------------------------------------------------------------------- the task
class ExpressivityTask(Task):
    """Pairs of graphs a model separates, against the 1-WL oracle (see the module docstring)."""

    name = "expressivity"
    metrics = ("separated_pairs", "undistinguished_pairs", "accuracy")
    sources = ("graphsat", "graph6")
    #: ``all-pairs`` (every unordered pair) or ``given-pairs`` (graphs 2i and 2i + 1)
    splits = ("all-pairs", "given-pairs")
    #: ``labels`` (one-hot node labels; constant 1 without labels) or ``constant``
    features = ("labels", "constant")
    model_task = "graph_classification"

    def parse_metric(self, data: Mapping[str, Any], path: Path | None) -> str:
        """``metric``, checked against the protocol: ``separated_pairs`` (the default) or
        ``undistinguished_pairs`` for ``untrained``, ``accuracy`` for ``trained``."""
        training = data.get("training")
        protocol = training.get("protocol") if isinstance(training, Mapping) else None
        if protocol not in METRICS:  # parse_training reports a missing or unknown protocol
            return str(get_value(data, "metric", str, "experiment", path, self.metrics[0],
                                 self.metrics))
        allowed = METRICS[protocol]
        metric = get_value(data, "metric", str, "experiment", path, allowed[0])
        if metric not in allowed:
            raise ExperimentError(path, f"experiment.metric {metric!r} does not go with "
                                        f"training.protocol = {protocol!r}; use one of "
                                        f"{list(allowed)}")
        return str(metric)

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        return parse_dataset(table, path, task=self.name, sources=self.sources,
                             splits=self.splits, features=self.features,
                             default_features="labels")

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> ExpressivitySpec:
        where = "training"
        protocol = get_value(table, "protocol", str, where, path, choices=PROTOCOLS)
        own, other = ((_UNTRAINED_KEYS, _TRAINED_KEYS) if protocol == "untrained"
                      else (_TRAINED_KEYS, _UNTRAINED_KEYS))
        misplaced = sorted(set(table) & set(other))
        if misplaced:
            raise ExperimentError(path, f"[training] key(s) {misplaced} belong to the other "
                                        f"protocol, not to protocol = {protocol!r}; allowed "
                                        f"here: {sorted((*_COMMON_KEYS, *own))}")
        check_keys(table, (*_COMMON_KEYS, *own), "[training]", path)
        defaults = ExpressivitySpec(protocol)
        values = {key: get_value(table, key, type(getattr(defaults, key)), where, path,
                                 getattr(defaults, key)) for key in (*_COMMON_KEYS[1:], *own)}
        if protocol == "untrained":
            values["epochs"] = values["models"]  # one "epoch" is one random model
        spec = ExpressivitySpec(protocol, **values)
        if spec.precision not in PRECISIONS:
            raise ExperimentError(path, f"training.precision must be one of "
                                        f"{list(PRECISIONS)}, got {spec.precision!r}")
        if spec.selection not in SELECTION:
            raise ExperimentError(path, f"training.selection must be one of {list(SELECTION)}, "
                                        f"got {spec.selection!r}")
        positive = ("batch_size", "models", "output_channels", "epochs", "folds")
        bad = [key for key in positive if getattr(spec, key) < 1]
        if spec.wl_rounds < 0:
            bad.append("wl_rounds")
        if bad or spec.tolerance < 0 or spec.lr <= 0 or spec.weight_decay < 0:
            raise ExperimentError(path, f"training.{', training.'.join(bad) or 'value'} out of "
                                        "range: batch_size, models, output_channels, epochs "
                                        "and folds must be >= 1, tolerance and weight_decay "
                                        ">= 0, lr > 0")
        if protocol == "trained" and spec.folds < 3:
            raise ExperimentError(path, f"training.folds must be >= 3 (one test fold, one "
                                        f"validation fold, the rest to train), got "
                                        f"{spec.folds}")
        return spec

    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> ExpressivityData:
        spec: ExpressivitySpec = experiment.training
        batch_size = spec.batch_size if spec.protocol == "untrained" else None
        return load_expressivity_data(experiment.dataset, roots, batch_size=batch_size,
                                      device=device, dtype=PRECISIONS[spec.precision])

    def run_seed(self, experiment: Experiment, data: ExpressivityData,
                 context: RunContext) -> TaskRun:
        run: Callable[[Experiment, ExpressivityData, RunContext], RunResult] = (
            _untrained_run if experiment.training.protocol == "untrained" else _trained_run)
        return TaskRun(run(experiment, data, context))
