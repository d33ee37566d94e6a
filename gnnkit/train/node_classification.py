"""Full-graph node classification: a documented ``fit`` loop usable on any model and graph.

The loop is the one of Kipf & Welling's and Veličković et al.'s reference code: every epoch is
one full-batch Adam step on the cross-entropy of the training nodes, then one evaluation pass
(evaluation mode, no dropout) giving validation loss and accuracy; an early-stopping rule
(:class:`EarlyStopping`) decides when to stop and which epoch's model is the result. ::

    from gnnkit.models import GCN
    from gnnkit.train.node_classification import fit

    model = GCN(data.num_features, 16, num_classes)
    result = fit(model, x, adjacency, y, train_mask, val_mask, test_mask, lr=0.01,
                 weight_decay=5e-4, epochs=200, stopping="kipf", patience=10)
    print(result.selected_epoch, result.test_acc)

``model(x, graph)`` must return logits ``(N, C)``; ``x`` and ``graph`` are passed through
untouched (a dense ``(N, F)`` tensor or a sparse :class:`~gnnkit.sparse.SparseMatrix`, any
graph form the model's layers accept). Accuracies are fractions in ``[0, 1]``.

:func:`fit_sampled` trains the same way on sampled mini-batches of the training nodes
(:class:`gnnkit.data.loader.NeighborLoader`) and evaluates on the full graph: with one forward
``model(x, graph)``, or with ``inference="layerwise"`` one layer at a time over batches of nodes
(:func:`gnnkit.train.inference.layerwise_inference`, the same logits in less memory).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data.loader import NeighborLoader
from gnnkit.data.sampling import SampledSubgraph
from gnnkit.metrics import accuracy
from gnnkit.sparse import SparseMatrix

from .inference import check_layerwise_model, layerwise_inference

__all__ = [
    "INFERENCE_MODES",
    "STOPPING_RULES",
    "WEIGHT_DECAY_SCOPES",
    "EarlyStopping",
    "NodeFitResult",
    "evaluate",
    "fit",
    "fit_sampled",
    "make_optimizer",
]

#: ``none``: train every epoch, the last model is the result. ``kipf``: stop when the
#: validation loss exceeds the mean of the previous ``patience`` epochs, the last model is the
#: result (Kipf & Welling). ``gat``: patience on "validation accuracy or loss improved", the
#: result is the last model that improved both (the GAT reference code). ``best_val_acc``:
#: patience on validation accuracy, the result is the best-validation model. ``best_val_loss``:
#: patience on validation loss (strict improvement), the result is the lowest-loss model (the
#: Neural Sheaf Diffusion code's default ``--stop_strategy loss``).
STOPPING_RULES = ("none", "kipf", "gat", "best_val_acc", "best_val_loss")
#: ``all`` parameters, or only the ``first_layer`` (``model.first_layer_parameters()``) —
#: Kipf & Welling decay the first layer only
WEIGHT_DECAY_SCOPES = ("all", "first_layer")
#: how :func:`fit_sampled` evaluates: ``full`` — one full-graph forward ``model(x, graph)``;
#: ``layerwise`` — :func:`gnnkit.train.inference.layerwise_inference`, the same logits one
#: layer at a time over batches of nodes (memory: one layer's output for all nodes)
INFERENCE_MODES = ("full", "layerwise")


class EarlyStopping:
    """An early-stopping and model-selection rule (one of :data:`STOPPING_RULES`).

    Call :meth:`step` once per epoch with that epoch's validation loss and accuracy; it returns
    ``True`` when training should stop. :attr:`selected_epoch` is the epoch whose model the
    rule picks as the result (it only ever moves to the epoch just observed).
    """

    def __init__(self, rule: str = "none", patience: int = 0) -> None:
        if rule not in STOPPING_RULES:
            raise ValueError(f"stopping rule must be one of {list(STOPPING_RULES)}, "
                             f"got {rule!r}")
        if rule != "none" and patience < 1:
            raise ValueError(f"stopping rule {rule!r} needs patience >= 1, got {patience}")
        self.rule = rule
        self.patience = patience
        self.val_losses: list[float] = []
        self.best_acc = -1.0
        self.best_loss = float("inf")
        self.bad_epochs = 0
        self.selected_epoch: int | None = None

    def step(self, epoch: int, val_loss: float, val_acc: float) -> bool:
        """Record epoch ``epoch`` (1-based); return ``True`` to stop training."""
        self.val_losses.append(val_loss)
        if self.rule in ("none", "kipf"):
            self.selected_epoch = epoch  # the last model is tested
            window = self.val_losses[-(self.patience + 1):-1]
            # Kipf's rule, with his 0-based epoch counter: epoch - 1 > patience
            return (self.rule == "kipf" and epoch - 1 > self.patience
                    and val_loss > sum(window) / len(window))
        if self.rule == "gat":
            if val_acc >= self.best_acc or val_loss <= self.best_loss:
                if val_acc >= self.best_acc and val_loss <= self.best_loss:
                    self.selected_epoch = epoch
                self.best_acc = max(val_acc, self.best_acc)
                self.best_loss = min(val_loss, self.best_loss)
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if self.selected_epoch is None:
                self.selected_epoch = epoch
            return self.bad_epochs >= self.patience
        if self.rule == "best_val_loss":
            if val_loss < self.best_loss:
                self.best_loss = val_loss
                self.selected_epoch = epoch
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if self.selected_epoch is None:
                self.selected_epoch = epoch
            return self.bad_epochs >= self.patience
        # best_val_acc
        if val_acc > self.best_acc:
            self.best_acc = val_acc
            self.selected_epoch = epoch
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def make_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float = 0.0,
                   weight_decay_scope: str = "all",
                   sheaf_weight_decay: float | None = None) -> torch.optim.Optimizer:
    """Adam with weight decay on all parameters or on the first layer only (the model must
    then have ``first_layer_parameters()``, as :class:`~gnnkit.models.GCN` and
    :class:`~gnnkit.models.GAT` do).

    ``sheaf_weight_decay`` (with scope ``all``) gives the parameters of
    ``model.sheaf_learner_parameters()`` (:class:`~gnnkit.models.NSD`) their own decay, the
    others keeping ``weight_decay`` (the Neural Sheaf Diffusion code's ``--sheaf_decay``).
    """
    if weight_decay_scope not in WEIGHT_DECAY_SCOPES:
        raise ValueError(f"weight_decay_scope must be one of {list(WEIGHT_DECAY_SCOPES)}, "
                         f"got {weight_decay_scope!r}")
    if sheaf_weight_decay is not None:
        sheaf = getattr(model, "sheaf_learner_parameters", None)
        if sheaf is None or weight_decay_scope != "all":
            raise TypeError(f"sheaf_weight_decay needs weight_decay_scope='all' and a model "
                            f"with sheaf_learner_parameters(); got scope "
                            f"{weight_decay_scope!r} and {type(model).__name__}")
        ids = {id(p) for p in sheaf()}
        return torch.optim.Adam([
            {"params": [p for p in model.parameters() if id(p) in ids],
             "weight_decay": sheaf_weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in ids],
             "weight_decay": weight_decay},
        ], lr=lr)
    if weight_decay_scope == "first_layer":
        first_layer = getattr(model, "first_layer_parameters", None)
        if first_layer is None:
            raise TypeError(f"weight_decay_scope='first_layer' needs a model with "
                            f"first_layer_parameters(); {type(model).__name__} has none "
                            "(use weight_decay_scope='all')")
        first = {id(p) for p in first_layer()}
        groups = [
            {"params": [p for p in model.parameters() if id(p) in first],
             "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if id(p) not in first],
             "weight_decay": 0.0},
        ]
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def _accuracy(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    return accuracy(y[mask], logits[mask].argmax(-1))


#: ``forward(model, x, graph) → (N, C)`` logits: how an evaluation computes the model's output
EvalForward = Callable[[torch.nn.Module, Any, Any], Tensor]


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: Any, graph: Any, y: Tensor,
             masks: Mapping[str, Tensor], *, forward: EvalForward | None = None
             ) -> dict[str, float]:
    """Loss and accuracy of each named node set, in evaluation mode.

    Args:
        model: ``model(x, graph) → (N, C)`` logits.
        y: ``(N,)`` int64 labels.
        masks: ``{"val": (N,) bool, …}``.
        forward: computes the logits as ``forward(model, x, graph)`` instead of
            ``model(x, graph)`` (e.g. layer-wise inference, :func:`fit_sampled`).

    Returns:
        ``{"<name>_loss": cross-entropy, "<name>_acc": accuracy in [0, 1], …}``.
    """
    model.eval()
    logits = model(x, graph) if forward is None else forward(model, x, graph)
    results: dict[str, float] = {}
    for name, mask in masks.items():
        results[f"{name}_loss"] = float(F.cross_entropy(logits[mask], y[mask]))
        results[f"{name}_acc"] = _accuracy(logits, y, mask)
    return results


@dataclass
class NodeFitResult:
    """Outcome of :func:`fit`.

    Attributes:
        selected_epoch: the epoch (1-based) the stopping rule picked.
        val_acc, test_acc: accuracy (fraction) of the selected epoch's model (``test_acc``
            is ``nan`` without a test mask).
        epochs: epochs trained.
        history: one entry per epoch: ``epoch``, ``loss`` (training cross-entropy of the
            step), ``val_loss``, ``val_acc``, ``test_loss``/``test_acc`` (with a test mask),
            ``train_seconds`` (the optimisation step) and ``eval_seconds``.
        stopped: why training ended early (``"early stopping (…)"`` or the time budget), else
            ``None``.
        best_state: the selected epoch's ``state_dict`` when ``keep_best_state`` was set.
    """

    selected_epoch: int
    val_acc: float
    test_acc: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None
    best_state: dict[str, Any] | None = None

    @property
    def train_seconds(self) -> float:
        """Wall time of the optimisation steps (forward, loss, backward, update)."""
        return sum(entry["train_seconds"] for entry in self.history)


class _RunRecord:
    """The epoch bookkeeping of a node-classification loop, shared by :func:`fit` (and so
    :func:`fit_sampled`) and :func:`gnnkit.train.distributed.fit_rank`: the full-graph
    evaluation of every epoch (``model(x, graph)``, or ``eval_forward(model, x, graph)``),
    the history, the stopping rule with its selected epoch (and that epoch's
    ``state_dict``), the time budget, why training ended, and the result.

    Created where training starts (it starts the budget's clock). Per epoch: :meth:`entry`
    evaluates, :meth:`record` files the entry and says whether to stop; then :meth:`result`.
    """

    def __init__(self, model: torch.nn.Module, x: Any, graph: Any, y: Tensor,
                 val_mask: Tensor, test_mask: Tensor | None, *, stopping: str, patience: int,
                 time_budget: float | None, keep_best_state: bool,
                 log: Callable[[dict[str, float]], None] | None,
                 eval_forward: EvalForward | None = None) -> None:
        self.model, self.x, self.graph, self.y = model, x, graph, y
        self.eval_forward = eval_forward
        self.masks = ({"val": val_mask} if test_mask is None
                      else {"val": val_mask, "test": test_mask})
        self.stopper = EarlyStopping(stopping, patience)
        self.stopping, self.patience, self.time_budget = stopping, patience, time_budget
        self.keep_best_state, self.log = keep_best_state, log
        self.history: list[dict[str, float]] = []
        self.selected: dict[str, float] = {}
        self.best_state: dict[str, Any] | None = None
        self.stopped: str | None = None
        self.started = time.perf_counter()

    def entry(self, epoch: int, train_seconds: float, loss: Tensor | float) -> dict[str, float]:
        """Epoch ``epoch``'s history entry: its training time and loss and the full-batch
        evaluation of every mask (``eval_seconds`` times the evaluation)."""
        tick = time.perf_counter()
        entry: dict[str, float] = {"epoch": epoch, "train_seconds": train_seconds}
        entry.update(evaluate(self.model, self.x, self.graph, self.y, self.masks,
                              forward=self.eval_forward))
        entry["loss"] = float(loss.detach()) if isinstance(loss, Tensor) else float(loss)
        entry["eval_seconds"] = time.perf_counter() - tick
        return entry

    def over_budget(self) -> bool:
        """Whether the time budget (if any) is spent."""
        return (self.time_budget is not None
                and time.perf_counter() - self.started > self.time_budget)

    def record(self, epoch: int, entry: dict[str, float], *, epochs: int,
               over_budget: bool | None = None, log: bool = True) -> bool:
        """File epoch ``epoch``'s ``entry``; ``True`` when training stops after it.

        ``over_budget``: the budget's verdict when the caller decided it (``fit_rank``: rank
        0's clock, broadcast); ``None`` reads the clock here, after the entry is logged.
        ``log``: call the ``log`` callback (``fit_rank`` logs on rank 0 only).
        """
        self.history.append(entry)
        stop = self.stopper.step(epoch, entry["val_loss"], entry["val_acc"])
        if self.stopper.selected_epoch == epoch:
            self.selected = entry
            if self.keep_best_state:
                self.best_state = copy.deepcopy(self.model.state_dict())
        if self.log is not None and log:
            self.log(entry)
        if stop:
            self.stopped = (f"early stopping ({self.stopping}, patience {self.patience}) "
                            f"after epoch {epoch}")
            return True
        if over_budget is None:
            over_budget = self.over_budget()
        if over_budget:
            if epoch < epochs:
                self.stopped = f"time budget {self.time_budget:g} s reached after epoch {epoch}"
            return True
        return False

    def result(self) -> NodeFitResult:
        """The selected epoch's numbers and the whole history."""
        selected = self.selected
        return NodeFitResult(selected_epoch=int(selected["epoch"]), val_acc=selected["val_acc"],
                             test_acc=selected.get("test_acc", math.nan),
                             epochs=len(self.history), history=self.history,
                             stopped=self.stopped, best_state=self.best_state)


def _train_sampled_epoch(net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                         loader: Iterable[SampledSubgraph], x: Tensor, y: Tensor
                         ) -> tuple[float, int]:
    """One pass over ``loader``'s batches, one optimizer step per batch on the mean
    cross-entropy of its seeds (``net(x[n_id], matrices) → (B, C)``); shared by
    :func:`fit_sampled` and :func:`gnnkit.train.distributed.fit_rank` (where ``net`` is the
    DDP wrapper, which averages the gradients over the ranks in ``backward``).

    Returns:
        ``(Σ batch loss · batch seeds, Σ batch seeds)``, summed in float64 in batch order.
    """
    total, count = 0.0, 0
    for batch in loader:
        optimizer.zero_grad(set_to_none=True)
        logits = net(x[batch.n_id], list(batch.matrices))
        loss = F.cross_entropy(logits, y[batch.n_id[: batch.num_seeds]])
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * batch.num_seeds
        count += batch.num_seeds
    return total, count


def fit(
    model: torch.nn.Module,
    x: Any,
    graph: Any,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    test_mask: Tensor | None = None,
    *,
    lr: float,
    weight_decay: float = 0.0,
    weight_decay_scope: str = "all",
    sheaf_weight_decay: float | None = None,
    epochs: int = 200,
    stopping: str = "none",
    patience: int = 0,
    time_budget: float | None = None,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
    train_epoch: Callable[[torch.nn.Module, torch.optim.Optimizer], Tensor] | None = None,
    eval_forward: EvalForward | None = None,
) -> NodeFitResult:
    """Train ``model`` full-batch on the nodes of ``train_mask`` and select an epoch.

    Args:
        model: ``model(x, graph) → (N, C)`` logits (parameters on the data's device).
        x: node features ``(N, F)`` (dense, or a sparse ``SparseMatrix``).
        graph: the graph as the model takes it (e.g. a ``SparseMatrix`` ``N × N``).
        y: ``(N,)`` int64 labels.
        train_mask, val_mask, test_mask: ``(N,)`` bool node sets.
        lr, weight_decay, weight_decay_scope, sheaf_weight_decay: Adam
            (:func:`make_optimizer`).
        epochs: the maximum number of epochs (one optimisation step each).
        stopping, patience: the rule of :class:`EarlyStopping`.
        time_budget: seconds of training + evaluation; training stops after the epoch that
            exceeds it and :attr:`NodeFitResult.stopped` says so.
        keep_best_state: keep a copy of the selected epoch's ``state_dict`` (costs a copy
            every time the selection moves — every epoch for ``none``/``kipf``).
        log: called with every epoch's history entry (progress display).
        train_epoch: replaces the full-batch step: ``train_epoch(model, optimizer)`` trains
            one epoch and returns its training loss (mini-batch training: :func:`fit_sampled`).
        eval_forward: replaces ``model(x, graph)`` in the evaluation:
            ``eval_forward(model, x, graph) → (N, C)`` logits, called in evaluation mode
            without autograd (layer-wise inference: :func:`fit_sampled`'s ``inference``).

    The random state is the caller's: seed (``torch.manual_seed``) before building the model
    for a reproducible run.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    optimizer = make_optimizer(model, lr=lr, weight_decay=weight_decay,
                               weight_decay_scope=weight_decay_scope,
                               sheaf_weight_decay=sheaf_weight_decay)
    run = _RunRecord(model, x, graph, y, val_mask, test_mask, stopping=stopping,
                     patience=patience, time_budget=time_budget,
                     keep_best_state=keep_best_state, log=log, eval_forward=eval_forward)
    for epoch in range(1, epochs + 1):
        model.train()
        tick = time.perf_counter()
        if train_epoch is None:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x, graph)[train_mask], y[train_mask])
            loss.backward()
            optimizer.step()
        else:
            loss = train_epoch(model, optimizer)
        entry = run.entry(epoch, time.perf_counter() - tick, loss)
        if run.record(epoch, entry, epochs=epochs):
            break
    return run.result()


def _layerwise_batch_size(model: torch.nn.Module, inference: str,
                          inference_batch_size: int | None, batch_size: int) -> int | None:
    """Check the ``inference``/``inference_batch_size`` options of :func:`fit_sampled` (shared
    with :func:`gnnkit.train.distributed.fit_rank`, which must reject them before any
    collective): ``None`` for ``"full"``, else the layer-wise batch size (default
    ``batch_size``)."""
    if inference not in INFERENCE_MODES:
        raise ValueError(f"inference must be one of {list(INFERENCE_MODES)}, got {inference!r}")
    if inference == "full":
        if inference_batch_size is not None:
            raise ValueError("inference_batch_size is for inference='layerwise'")
        return None
    check_layerwise_model(model)
    chunk = batch_size if inference_batch_size is None else inference_batch_size
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"inference_batch_size must be an int >= 1, got {chunk!r}")
    return chunk


def fit_sampled(
    model: torch.nn.Module,
    x: Tensor,
    graph: SparseMatrix,
    y: Tensor,
    train_mask: Tensor,
    val_mask: Tensor,
    test_mask: Tensor | None = None,
    *,
    fanouts: Sequence[int],
    batch_size: int,
    num_workers: int = 0,
    seed: int | None = None,
    inference: str = "full",
    inference_batch_size: int | None = None,
    **options: Any,
) -> NodeFitResult:
    """:func:`fit` with sampled mini-batches: every epoch is one pass over the training nodes
    in shuffled batches of ``batch_size`` seeds, each with its ``len(fanouts)``-hop
    neighbourhood sampled by :class:`gnnkit.data.loader.NeighborLoader` (one Adam step per
    batch); evaluation is on the full graph, with one forward ``model(x, graph)`` as in
    :func:`fit` or layer by layer (``inference``).

    Args:
        model: takes both forms: ``model(x, graph) → (N, C)`` and
            ``model(x[n_id], matrices) → (B, C)`` for the per-layer blocks of a
            :class:`gnnkit.data.sampling.SampledSubgraph` (e.g.
            :class:`gnnkit.models.sage.SAGE`).
        x: dense node features ``(N, F)``; graph: the square ``N × N`` ``SparseMatrix``.
        fanouts: neighbours per node at every hop, the first hop first (``-1`` = all).
        batch_size: seeds per batch.
        num_workers: sampling worker processes (``torch.utils.data.DataLoader``).
        seed: the loader's seed; ``None`` draws it from torch's global generator (seeded by
            the caller), so a seeded run is reproducible.
        inference: how validation and test logits are computed (:data:`INFERENCE_MODES`):
            ``"full"`` (default) — ``model(x, graph)``; ``"layerwise"`` —
            :func:`gnnkit.train.inference.layerwise_inference`, the same logits up to float
            rounding, one layer at a time over batches of ``inference_batch_size`` nodes with
            all their neighbours: memory one layer's output for all nodes plus one batch,
            instead of every layer's activations. The model must then expose its layers
            (:class:`gnnkit.train.inference.LayerwiseModel`, as ``SAGE`` does).
        inference_batch_size: target nodes per batch of the layer-wise inference (default
            ``batch_size``).
        options: the keyword arguments of :func:`fit` (``lr``, ``epochs``, ``stopping``, …).

    The reported ``loss`` of an epoch is the seed-weighted mean of its batches' losses.
    """
    if inference == "layerwise" and options.get("eval_forward") is not None:
        raise ValueError("pass inference='layerwise' or eval_forward, not both")
    chunk = _layerwise_batch_size(model, inference, inference_batch_size, batch_size)
    if chunk is not None:

        def layerwise(model: torch.nn.Module, x: Any, graph: Any) -> Tensor:
            return layerwise_inference(model, x, graph, batch_size=chunk)

        options["eval_forward"] = layerwise
    seeds = train_mask.nonzero().flatten().to(graph.device)
    loader = NeighborLoader(graph, seeds, fanouts, batch_size=batch_size, shuffle=True,
                            seed=seed, num_workers=num_workers)

    def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Tensor:
        total, count = _train_sampled_epoch(model, optimizer, loader, x, y)
        return torch.tensor(total / max(count, 1))

    return fit(model, x, graph, y, train_mask, val_mask, test_mask, train_epoch=train_epoch,
               **options)
