"""Training and evaluation loops for link predictors (the NCN/NCNC protocol).

The protocol of Wang et al. (official ``NeighborOverlap.py``), written on gnnkit's core:

* the message-passing graph is the symmetric training graph; with target-link removal each
  training batch's positive links are removed from it (both directions) before the encoder
  and the predictor run (:class:`~gnnkit.nn.linkpred.TargetLinkRemoval`);
* every positive batch is paired with as many uniformly sampled negative pairs (non-edges of
  the training graph, no self pairs, :func:`~gnnkit.nn.linkpred.sample_negative_pairs`); loss
  ``−log σ(s⁺) − log σ(−s⁻)`` averaged per side (:func:`~gnnkit.nn.linkpred.link_loss`);
* batches are a fresh permutation of the positive training links each epoch; the last
  incomplete batch is dropped (as the official ``PermIterator``) unless it is the only one;
* evaluation encodes once on the full training graph and scores validation/test positives and
  negatives in chunks; Hits@K (OGB's rule, :func:`gnnkit.metrics.hits_at_k`) on validation
  selects the epoch whose test Hits@K is reported.

Everything here takes an ``encoder`` (``encoder(x, A) → h``) and a ``predictor``
(``predictor(h, A, pairs) → logits``): :class:`~gnnkit.nn.linkpred.LinkEncoder` with
:class:`~gnnkit.nn.linkpred.NCNPredictor`, :class:`~gnnkit.nn.linkpred.NCNCPredictor` or a
GAE scorer — e.g. built by :func:`gnnkit.models.build_model` for ``"ncn"``. Example::

    from gnnkit.models import build_model
    from gnnkit.nn.linkpred import LinkSplit
    from gnnkit.train.link_prediction import fit

    split = LinkSplit.from_edge_splits(graph.edge_splits, graph.num_nodes)
    encoder, predictor = build_model({"name": "ncn", "hidden_channels": 64},
                                     task="link_prediction", in_channels=graph.num_features,
                                     num_nodes=graph.num_nodes)
    result = fit(encoder, predictor, graph.x, split, epochs=20, batch_size=1024,
                 lr_encoder=0.005, lr_predictor=0.005, k=100)
    print(result.best_epoch, result.test_at_best)
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.metrics import hits_at_k
from gnnkit.nn.linkpred import LinkSplit, TargetLinkRemoval, link_loss, sample_negative_pairs
from gnnkit.sparse import SparseMatrix

__all__ = ["FitResult", "LinkFitResult", "evaluate", "fit", "predict", "train_epoch"]


def _batches(num: int, batch_size: int, generator: torch.Generator | None,
             device: torch.device) -> list[Tensor]:
    order = torch.randperm(num, generator=generator).to(device)
    if num <= batch_size:
        return [order]
    return [order[start:start + batch_size] for start in range(0, num - batch_size + 1,
                                                                 batch_size)]


def train_epoch(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    train_graph: SparseMatrix,
    train_pos: Tensor,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    *,
    target_link_removal: bool = True,
    generator: torch.Generator | None = None,
    max_batches: int | None = None,
) -> float:
    """One epoch over the positive training links ``(2, E)``; returns the mean batch loss.

    Each batch: ``A_b = train_graph − batch`` (with removal), ``h = encoder(x, A_b)``,
    logits of the batch and of as many sampled negatives with ``predictor(h, A_b, ·)``.
    ``max_batches`` stops early (for time-budgeted runs and benchmarks).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    encoder.train()
    predictor.train()
    removal = TargetLinkRemoval(train_graph, enabled=target_link_removal)
    losses = []
    for step, index in enumerate(_batches(train_pos.shape[1], batch_size, generator,
                                          train_pos.device)):
        if max_batches is not None and step >= max_batches:
            break
        batch = train_pos[:, index]
        A = removal(batch)
        optimizer.zero_grad()
        h = encoder(x, A)
        negatives = sample_negative_pairs(train_graph, batch.shape[1], generator=generator)
        loss = link_loss(predictor(h, A, batch), predictor(h, A, negatives))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return sum(losses) / max(len(losses), 1)


@torch.no_grad()
def predict(predictor: nn.Module, h: Tensor, A: SparseMatrix, pairs: Tensor,
            batch_size: int) -> Tensor:
    """Logits ``(B,)`` of ``pairs`` ``(2, B)`` in chunks of ``batch_size`` (predictor in its
    current mode; call ``.eval()`` first for evaluation)."""
    if pairs.shape[1] == 0:
        return h.new_zeros(0)
    return torch.cat([predictor(h, A, pairs[:, start:start + batch_size])
                      for start in range(0, pairs.shape[1], batch_size)])


@torch.no_grad()
def evaluate(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    graph: SparseMatrix,
    split: LinkSplit,
    *,
    ks: Sequence[int] = (20, 50, 100),
    batch_size: int = 8192,
    parts: Sequence[str] = ("val", "test"),
) -> dict[str, float]:
    """Hits@K (fractions in ``[0, 1]``) of ``parts`` (``"val"``, ``"test"``) as
    ``{"val_hits@20": …, …}``, encoding once on ``graph`` in evaluation mode."""
    encoder.eval()
    predictor.eval()
    h = encoder(x, graph)
    results: dict[str, float] = {}
    # one h, one graph, fixed weights: a predictor that scores candidate links (NCNC) may
    # reuse their logits across all the batches of this evaluation
    cached = getattr(predictor, "cached_candidates", None)
    with cached() if callable(cached) else contextlib.nullcontext():
        for part in parts:
            positive = predict(predictor, h, graph, getattr(split, f"{part}_pos"), batch_size)
            negative = predict(predictor, h, graph, getattr(split, f"{part}_neg"), batch_size)
            for k in ks:
                results[f"{part}_hits@{k}"] = hits_at_k(positive, negative, k)
    return results


@dataclass
class LinkFitResult:
    """Outcome of :func:`fit`: the epoch chosen on validation and the whole curve.

    Attributes:
        metric: ``"hits@K"``, the selection metric.
        best_epoch, best_val, test_at_best: the selected epoch (1-based), its validation and
            test metric (fractions).
        history: one entry per epoch: ``epoch``, ``loss``, ``train_seconds`` and, on evaluated
            epochs, ``val_hits@K``/``test_hits@K`` for every ``K`` and ``eval_seconds``.
        best_state: ``{"encoder": state_dict, "predictor": state_dict}`` of the selected epoch
            when ``keep_best_state`` was set.
        stopped: why training ended before ``epochs`` (the time budget), else ``None``.
    """

    metric: str
    best_epoch: int
    best_val: float
    test_at_best: float
    history: list[dict[str, float]] = field(default_factory=list)
    best_state: dict[str, Any] | None = None
    stopped: str | None = None

    @property
    def train_seconds(self) -> float:
        """Wall time of the optimisation steps over all epochs (evaluation excluded)."""
        return sum(entry["train_seconds"] for entry in self.history)


#: the name this class had in :mod:`gnnkit.nn.linkpred` before the loops moved here
FitResult = LinkFitResult


def fit(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    split: LinkSplit,
    *,
    epochs: int,
    batch_size: int,
    lr_encoder: float,
    lr_predictor: float,
    k: int = 100,
    eval_ks: Sequence[int] = (20, 50, 100),
    eval_batch_size: int = 8192,
    target_link_removal: bool = True,
    generator: torch.Generator | None = None,
    eval_every: int = 1,
    time_budget: float | None = None,
    max_batches_per_epoch: int | None = None,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
) -> LinkFitResult:
    """Train with Adam (separate learning rates for encoder and predictor) and select the
    epoch with the best validation Hits@``k``.

    Args:
        encoder, predictor: the model (see the module docstring).
        x: ``(N, F)`` node features, or ``(N,)`` node ids for an encoder with learnt
            embeddings.
        split: the pairs; the message-passing graph is ``split.train_graph()``.
        epochs: passes over the positive training links.
        batch_size: positive links per step (each with as many sampled negatives).
        lr_encoder, lr_predictor: Adam learning rates (``lr_encoder = 0`` freezes the encoder).
        k: Hits@``k`` selects the epoch; ``eval_ks`` are also reported in the history.
        generator: drives batch order and negative sampling (``None``: the global RNG).
        eval_every: evaluate every this many epochs (and at the last one).
        time_budget: seconds of training + evaluation; training stops after the epoch that
            exceeds it (that epoch is evaluated), and :attr:`LinkFitResult.stopped` says so.
        max_batches_per_epoch: cap the steps per epoch (benchmarks).
        keep_best_state: keep a copy of both state dicts at the selected epoch.
        log: called with every epoch's history entry (progress display).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if k not in eval_ks:
        eval_ks = (*eval_ks, k)
    train_graph = split.train_graph()
    optimizer = torch.optim.Adam([
        {"params": list(encoder.parameters()), "lr": lr_encoder},
        {"params": list(predictor.parameters()), "lr": lr_predictor},
    ])
    metric = f"hits@{k}"
    result = LinkFitResult(metric, 0, -math.inf, math.nan)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        loss = train_epoch(encoder, predictor, x, train_graph, split.train_pos, optimizer,
                           batch_size, target_link_removal=target_link_removal,
                           generator=generator, max_batches=max_batches_per_epoch)
        entry: dict[str, float] = {"epoch": epoch, "loss": loss,
                                   "train_seconds": time.perf_counter() - tick}
        out_of_time = time_budget is not None and time.perf_counter() - started > time_budget
        if epoch % eval_every == 0 or epoch == epochs or out_of_time:
            tick = time.perf_counter()
            entry.update(evaluate(encoder, predictor, x, train_graph, split, ks=eval_ks,
                                  batch_size=eval_batch_size))
            entry["eval_seconds"] = time.perf_counter() - tick
            if entry[f"val_{metric}"] > result.best_val:
                result.best_epoch = epoch
                result.best_val = entry[f"val_{metric}"]
                result.test_at_best = entry[f"test_{metric}"]
                if keep_best_state:
                    result.best_state = {
                        "encoder": copy.deepcopy(encoder.state_dict()),
                        "predictor": copy.deepcopy(predictor.state_dict()),
                    }
        result.history.append(entry)
        if log is not None:
            log(entry)
        if out_of_time:
            if epoch < epochs:
                result.stopped = f"time budget {time_budget:g} s reached after epoch {epoch}"
            break
    return result
