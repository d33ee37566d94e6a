"""Graph-level training: mini-batches of many graphs, one prediction per graph.

The loop every graph classification / regression paper runs: shuffle the training graphs,
collate them into batches (:func:`gnnkit.data.collate`), one optimiser step per batch, then
predict every evaluation graph in evaluation mode and compute the task's metric; an optional
learning-rate schedule (:class:`LRSchedule`: the GIN paper's step decay, or the plateau rule
of ZINC benchmarks) runs once per epoch. ::

    from gnnkit.models import build_model
    from gnnkit.train.graph_level import fit, LRSchedule

    model = build_model({"name": "gin"}, task="graph_classification", in_channels=7,
                        out_channels=2, edge_channels=0)
    result = fit(model, dataset, train_index, {"val": val_index}, loss="cross_entropy",
                 metric=lambda y, out: accuracy(y, out.argmax(-1)), lr=0.01, epochs=350,
                 batch_size=32, schedule=LRSchedule("step", step_size=50, gamma=0.5))

``model(batch)`` must return ``(G, out_channels)`` for a :class:`~gnnkit.data.GraphBatch`.
The random state is the caller's: pass a seeded ``generator`` (shuffling) and seed torch
before building the model.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import GraphBatch, collate
from gnnkit.datasets import GraphDataset

__all__ = [
    "LOSSES",
    "SCHEDULES",
    "GraphBatches",
    "GraphFitResult",
    "LRSchedule",
    "fit",
    "graph_loss",
    "is_singleton",
    "model_batch_transform",
    "predict",
    "train_epoch",
]

#: loss names :func:`graph_loss` knows
LOSSES = ("cross_entropy", "bce", "l1", "mse")
#: learning-rate schedules :class:`LRSchedule` knows
SCHEDULES = ("none", "step", "plateau")


class GraphBatches:
    """Batches of the graphs ``index`` of ``dataset``, re-shuffled on every iteration.

    A light single-process loader (no worker processes, no pickling): on every ``iter()`` it
    permutes ``index`` with ``generator`` (when ``shuffle``), cuts it into chunks of
    ``batch_size`` and collates each. ``sampled_batches = k`` instead draws ``k`` independent
    batches of ``batch_size`` distinct graphs per iteration — the GIN reference code's "epoch"
    of ``iters_per_epoch`` random batches (graphs may repeat across batches, and some are not
    seen in an epoch). For worker processes use ``torch.utils.data.DataLoader`` with
    ``collate_fn=gnnkit.data.collate``.

    Args:
        dataset: any sequence of :class:`~gnnkit.datasets.Graph` (e.g. a ``GraphDataset``).
        index: ``(M,)`` int64 graph indices into ``dataset``.
        batch_size: graphs per batch (the last batch may be smaller unless ``drop_last``).
        device: where the batches go.
        transform: ``transform(batch, ids) → model input``, applied to every collated batch
            (on the CPU, before the move to ``device``) with the dataset ids ``(G,)`` of its
            graphs, e.g. a subgraph model's bag builder that gathers per-dataset
            pre-computations (:meth:`~gnnkit.data.subgraph.PairDistances.gather`). What it
            returns must offer ``y``, ``num_graphs``, ``num_nodes`` and ``to(device)`` as a
            :class:`~gnnkit.data.GraphBatch` does.
    """

    def __init__(self, dataset: Sequence[Any], index: Tensor | Sequence[int], batch_size: int,
                 *, shuffle: bool = False, generator: torch.Generator | None = None,
                 drop_last: bool = False, sampled_batches: int | None = None,
                 device: torch.device | str | None = None,
                 transform: Callable[[GraphBatch, Tensor], Any] | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= len(dataset)):
            raise IndexError(f"index holds graph ids outside [0, {len(dataset) - 1}] "
                             f"(min {int(index.min())}, max {int(index.max())})")
        if sampled_batches is not None and sampled_batches < 1:
            raise ValueError(f"sampled_batches must be positive or None, got {sampled_batches}")
        self.dataset = dataset
        self.index = index
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        self.sampled_batches = sampled_batches
        self.device = None if device is None else torch.device(device)
        self.transform = transform

    def __len__(self) -> int:
        if self.sampled_batches is not None:
            return self.sampled_batches
        full, rest = divmod(self.index.numel(), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _chunks(self) -> Iterator[Tensor]:
        count = self.index.numel()
        if self.sampled_batches is not None:
            size = min(self.batch_size, count)
            for _ in range(self.sampled_batches):
                yield self.index[torch.randperm(count, generator=self.generator)[:size]]
            return
        order = (self.index[torch.randperm(count, generator=self.generator)] if self.shuffle
                 else self.index)
        for start in range(0, count, self.batch_size):
            chunk = order[start:start + self.batch_size]
            if self.drop_last and chunk.numel() < self.batch_size:
                return
            yield chunk

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._chunks():
            batch: Any
            if isinstance(self.dataset, GraphDataset):  # one vectorised gather, no items
                batch = GraphBatch.from_dataset(self.dataset, chunk)
            else:
                batch = collate([self.dataset[int(i)] for i in chunk])
            if self.transform is not None:
                batch = self.transform(batch, chunk)
            yield batch if self.device is None else batch.to(self.device)


def graph_loss(name: str, output: Tensor, target: Tensor) -> Tensor:
    """The loss ``name`` of per-graph outputs ``(G, C)`` against targets.

    * ``cross_entropy``: ``target`` ``(G,)`` int64 classes, ``output`` logits ``(G, C)``;
    * ``bce``: binary tasks, ``target`` ``(G, T)`` (or ``(G,)``) in {0, 1} with ``nan`` for
      unlabelled entries (OGB's molecule sets), which are left out — as OGB's example does;
    * ``l1`` / ``mse``: regression, ``target`` ``(G,)`` or ``(G, T)``; ``nan`` entries are
      left out. A ``(G, 1)`` output is matched to a ``(G,)`` target.
    """
    if name == "cross_entropy":
        if target.dtype.is_floating_point or target.dim() != 1:
            raise ValueError(f"cross_entropy needs (G,) integer class targets, got "
                             f"{tuple(target.shape)} {target.dtype}")
        return F.cross_entropy(output, target)
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; one of {list(LOSSES)}")
    if target.dim() == 1 and output.dim() == 2 and output.shape[1] == 1:
        output = output[:, 0]
    if output.shape != target.shape:
        raise ValueError(f"{name} loss: output {tuple(output.shape)} and target "
                         f"{tuple(target.shape)} differ in shape")
    target = target.to(output.dtype)
    labelled = ~torch.isnan(target)
    output, target = output[labelled], target[labelled]
    if name == "bce":
        return F.binary_cross_entropy_with_logits(output, target)
    if name == "l1":
        return F.l1_loss(output, target)
    return F.mse_loss(output, target)


def model_batch_transform(model: torch.nn.Module, dataset: Sequence[Any]
                          ) -> Callable[[GraphBatch, Tensor], Any] | None:
    """The batch transform ``model`` asks for on ``dataset``, or ``None``.

    Models whose input is not a plain :class:`~gnnkit.data.GraphBatch` (subgraph GNNs take a
    bag of subgraphs built from it, with per-dataset pre-computations such as root distances)
    define ``batch_transform(dataset) → transform(batch, ids)``; the training loops and bench
    tasks call it once per dataset, so the pre-computation is not repeated per epoch."""
    factory = getattr(model, "batch_transform", None)
    return None if factory is None else factory(dataset)


def is_singleton(batch: GraphBatch) -> bool:
    """A batch of one graph or one node: batch normalisation cannot train on it (one value
    per channel has no variance), so OGB's example loop skips such batches."""
    return batch.num_graphs <= 1 or batch.num_nodes <= 1


def train_epoch(model: torch.nn.Module, batches: Iterator[GraphBatch] | GraphBatches,
                optimizer: torch.optim.Optimizer, loss: str, *,
                skip_singletons: bool = True) -> float:
    """One pass over ``batches`` with one optimiser step each; returns the loss averaged over
    graphs (each batch weighted by its graph count).

    ``skip_singletons`` leaves out batches of one graph or one node (:func:`is_singleton`),
    as OGB's example loop does: a shuffled last batch of one small molecule would otherwise
    stop training with a batch-norm error (ogbg-molfreesolv's 513 training graphs leave one
    at batch size 32)."""
    model.train()
    total, graphs = 0.0, 0
    for batch in batches:
        if batch.y is None:
            raise ValueError("training batches need graph targets y")
        if skip_singletons and is_singleton(batch):
            continue
        optimizer.zero_grad(set_to_none=True)
        value = graph_loss(loss, model(batch), batch.y)
        value.backward()
        optimizer.step()
        total += float(value.detach()) * batch.num_graphs
        graphs += batch.num_graphs
    return total / max(graphs, 1)


@torch.no_grad()
def predict(model: torch.nn.Module, batches: Iterator[GraphBatch] | GraphBatches
            ) -> tuple[Tensor, Tensor]:
    """``(targets, outputs)`` of every graph of ``batches``, concatenated, in evaluation mode
    (on the CPU, for the metrics)."""
    model.eval()
    outputs, targets = [], []
    for batch in batches:
        if batch.y is None:
            raise ValueError("evaluation batches need graph targets y")
        outputs.append(model(batch).float().cpu())
        targets.append(batch.y.cpu())
    if not outputs:
        raise ValueError("nothing to evaluate: the evaluation set is empty")
    return torch.cat(targets), torch.cat(outputs)


@dataclass(frozen=True)
class LRSchedule:
    """A per-epoch learning-rate schedule.

    * ``none``;
    * ``step``: multiply by ``gamma`` every ``step_size`` epochs (the GIN reference code:
      ``StepLR(step_size=50, gamma=0.5)``);
    * ``plateau``: multiply by ``factor`` when the validation metric has not improved for
      ``patience`` epochs (``ReduceLROnPlateau``, mode from the metric's direction); with
      ``min_lr`` > 0 training stops once the rate falls below it (the rule of the ZINC
      benchmarks).
    """

    kind: str = "none"
    step_size: int = 50
    gamma: float = 0.5
    factor: float = 0.5
    patience: int = 10
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"LRSchedule kind must be one of {list(SCHEDULES)}, got "
                             f"{self.kind!r}")
        if self.step_size < 1 or not 0 < self.gamma <= 1 or not 0 < self.factor < 1 or (
                self.patience < 0 or self.min_lr < 0):
            raise ValueError(f"invalid LRSchedule {self}: need step_size >= 1, 0 < gamma <= 1, "
                             "0 < factor < 1, patience >= 0, min_lr >= 0")

    def build(self, optimizer: torch.optim.Optimizer, higher_is_better: bool) -> Any:
        if self.kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, self.step_size, self.gamma)
        if self.kind == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max" if higher_is_better else "min", factor=self.factor,
                patience=self.patience)
        return None


@dataclass
class GraphFitResult:
    """Outcome of :func:`fit`.

    Attributes:
        selected_epoch: the epoch (1-based) with the best ``selection`` metric (first of ties).
        metrics: the metric of every evaluation set at the selected epoch.
        epochs: epochs trained.
        history: per epoch: ``epoch``, ``loss`` (mean training loss), ``lr``, one
            ``<name>`` metric per evaluation set, ``train_seconds``, ``eval_seconds``.
        stopped: why training ended before ``epochs`` (time budget, ``min_lr``), else ``None``.
        best_state: the selected epoch's ``state_dict`` when ``keep_best_state`` was set.
    """

    selected_epoch: int
    metrics: dict[str, float]
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None
    best_state: dict[str, Any] | None = None

    @property
    def train_seconds(self) -> float:
        """Wall time of the training passes."""
        return sum(entry["train_seconds"] for entry in self.history)


def fit(
    model: torch.nn.Module,
    dataset: Sequence[Any],
    train_index: Tensor | Sequence[int],
    eval_sets: Mapping[str, Tensor | Sequence[int]],
    *,
    loss: str,
    metric: Callable[[Tensor, Tensor], float],
    higher_is_better: bool,
    lr: float,
    epochs: int,
    batch_size: int,
    eval_batch_size: int | None = None,
    weight_decay: float = 0.0,
    schedule: LRSchedule | None = None,
    selection: str | None = None,
    sampled_batches: int | None = None,
    skip_singletons: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    time_budget: float | None = None,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
    batch_transform: Callable[[GraphBatch, Tensor], Any] | None = None,
) -> GraphFitResult:
    """Train ``model`` on the graphs ``train_index`` of ``dataset`` with Adam; evaluate every
    set of ``eval_sets`` after each epoch and select the epoch best on ``selection``.

    Args:
        model: ``model(batch) → (G, C)``.
        dataset: a sequence of graphs (``GraphDataset``) with targets ``y``.
        train_index: graph ids to train on (shuffled every epoch with ``generator``).
        eval_sets: ``{"val": ids, "test": ids, …}`` evaluated after every epoch.
        loss: one of :data:`LOSSES` (see :func:`graph_loss`).
        metric: ``metric(targets, outputs) → float`` on an evaluation set's concatenated
            targets and outputs (CPU tensors).
        higher_is_better: the metric's direction (selection and the plateau schedule).
        selection: the evaluation set that selects the epoch (default: ``"val"`` if present,
            else the first); the plateau schedule watches it too.
        sampled_batches: draw this many random batches per epoch instead of one pass (the
            GIN reference code's ``iters_per_epoch``; see :class:`GraphBatches`).
        skip_singletons: leave out training batches of one graph or one node (OGB's rule;
            see :func:`train_epoch`).
        time_budget: seconds of training + evaluation; stops after the epoch that passes it.
        batch_transform: turns each collated batch and its dataset ids into the model's input
            (see :class:`GraphBatches`); a model that needs one offers it as
            ``model.batch_transform(dataset)`` (see :func:`model_batch_transform`).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not eval_sets:
        raise ValueError("eval_sets is empty: name at least one evaluation set (e.g. 'val')")
    selection = selection or ("val" if "val" in eval_sets else next(iter(eval_sets)))
    if selection not in eval_sets:
        raise ValueError(f"selection {selection!r} is not one of the evaluation sets "
                         f"{list(eval_sets)}")
    schedule = schedule or LRSchedule()
    train_batches = GraphBatches(dataset, train_index, batch_size, shuffle=True,
                                 generator=generator, sampled_batches=sampled_batches,
                                 device=device, transform=batch_transform)
    evaluation = {name: GraphBatches(dataset, index, eval_batch_size or batch_size,
                                     device=device, transform=batch_transform)
                  for name, index in eval_sets.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = schedule.build(optimizer, higher_is_better)
    sign = 1.0 if higher_is_better else -1.0
    history: list[dict[str, float]] = []
    best, selected = -math.inf, {}
    best_state: dict[str, Any] | None = None
    stopped: str | None = None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        entry: dict[str, float] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        entry["loss"] = train_epoch(model, train_batches, optimizer, loss,
                                    skip_singletons=skip_singletons)
        entry["train_seconds"] = time.perf_counter() - tick
        tick = time.perf_counter()
        for name, batches in evaluation.items():
            entry[name] = float(metric(*predict(model, batches)))
        entry["eval_seconds"] = time.perf_counter() - tick
        history.append(entry)
        if sign * entry[selection] > best:
            best, selected = sign * entry[selection], entry
            if keep_best_state:
                best_state = copy.deepcopy(model.state_dict())
        if log is not None:
            log(entry)
        if schedule.kind == "step":
            scheduler.step()
        elif schedule.kind == "plateau":
            scheduler.step(entry[selection])
            if schedule.min_lr > 0 and optimizer.param_groups[0]["lr"] < schedule.min_lr:
                if epoch < epochs:
                    stopped = f"learning rate below min_lr {schedule.min_lr:g} after epoch {epoch}"
                break
        if time_budget is not None and time.perf_counter() - started > time_budget:
            if epoch < epochs:
                stopped = f"time budget {time_budget:g} s reached after epoch {epoch}"
            break
    if not selected:  # every metric was nan: keep the last epoch
        selected = history[-1]
    return GraphFitResult(selected_epoch=int(selected["epoch"]),
                          metrics={name: selected[name] for name in eval_sets},
                          epochs=len(history), history=history, stopped=stopped,
                          best_state=best_state)
