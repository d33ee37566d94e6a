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

**Sampled neighbourhoods** (:func:`fit_sampled`, :func:`train_epoch_sampled`,
:func:`sampled_link_loss`): the same protocol with every training step on the sampled
neighbourhood of the batch's endpoints instead of the whole graph; evaluation stays
full-graph (:func:`evaluate`). A :class:`~gnnkit.data.link_loader.LinkNeighborLoader` gives
each batch of ``B`` positive training links with ``B`` negatives and the ``K = L + 1`` hops
around their endpoints, for an encoder of ``L`` layers (``fanouts`` hop 1 first):

* *hop 1* (``matrices[-1]``, endpoints × hop-1 sources) is the predictor's graph: the rows of
  the endpoints, whose intersections are the common neighbours (all of them with fanout
  ``-1``, else the sampled ones);
* *hops 2 … K* feed the encoder, layer ``l`` on ``matrices[l]``, the outermost hop first
  (:meth:`~gnnkit.nn.linkpred.LinkEncoder.forward_blocks`), which gives ``h`` for the hop-1
  sources;
* *target-link removal* drops every sampled entry of the batch's positives, both directions,
  from every block (:func:`gnnkit.data.link_sampling.remove_sampled_target_links`); encoders
  normalised by degree (``puregcn``, ``gcn``) get the degrees of the graph the full-batch step
  would use, ``A`` minus the batch's positives (``block_degree`` of the training graph at the
  sampled nodes, the endpoints' read from their whole rows after the removal);
* *negatives*: ``B`` per batch, uniform over the ordered pairs ``i ≠ j`` that are not training
  links — the law of :func:`~gnnkit.nn.linkpred.sample_negative_pairs` in :func:`train_epoch`,
  drawn by the loader (:func:`gnnkit.data.link_sampling.sample_negatives`; excluding the
  batch's positives changes nothing, they are training links);
* the loss is the same :func:`~gnnkit.nn.linkpred.link_loss`.

**Exactness.** With every fanout ``-1`` and no dropout, a sampled step's loss and gradients
equal :func:`train_epoch`'s on the same positives and negatives up to float rounding (tested
in float64 to 1e-10 for NCN with features and with learnt node embeddings): the blocks hold
every entry of ``A − batch`` in their targets' rows, so ``h`` at the hop-1 sources and every
common-neighbour set are those of the full graph. Batches are those of :func:`train_epoch`
(a fresh permutation per epoch, the last incomplete batch dropped unless it is the only one),
drawn from the loader's seed. Completion (NCNC) needs the rows of the endpoints' neighbours,
which a block does not hold: it trains full-batch only.

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
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from gnnkit.data.link_loader import LinkNeighborLoader
from gnnkit.data.link_sampling import LinkSample, remove_sampled_target_links
from gnnkit.data.sampling import check_fanouts, sample_neighbors
from gnnkit.metrics import hits_at_k
from gnnkit.nn.linkpred import LinkSplit, TargetLinkRemoval, link_loss, sample_negative_pairs
from gnnkit.sparse import SparseMatrix, remove_edges

__all__ = ["FitResult", "LinkFitResult", "evaluate", "fit", "fit_sampled", "predict",
           "sampled_link_loss", "train_epoch", "train_epoch_sampled"]


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
    deadline: float | None = None,
) -> float:
    """One epoch over the positive training links ``(2, E)``; returns the mean batch loss.

    Each batch: ``A_b = train_graph − batch`` (with removal), ``h = encoder(x, A_b)``,
    logits of the batch and of as many sampled negatives with ``predictor(h, A_b, ·)``.
    ``max_batches`` stops early (for benchmarks); ``deadline`` (a ``time.perf_counter()``
    value) stops before the first step that would start after it (the first step always
    runs), for time-budgeted runs.
    """
    return _train_epoch(encoder, predictor, x, train_graph, train_pos, optimizer, batch_size,
                        target_link_removal=target_link_removal, generator=generator,
                        max_batches=max_batches, deadline=deadline).loss


class _EpochRun(NamedTuple):
    """What an epoch did: mean batch loss, steps taken, whether a deadline cut it short."""

    loss: float
    steps: int
    cut: bool


def _past(deadline: float | None, step: int) -> bool:
    return deadline is not None and step > 0 and time.perf_counter() > deadline


def _train_epoch(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    train_graph: SparseMatrix,
    train_pos: Tensor,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    *,
    target_link_removal: bool,
    generator: torch.Generator | None,
    max_batches: int | None,
    deadline: float | None,
) -> _EpochRun:
    """:func:`train_epoch`, also saying how many steps ran and whether ``deadline`` cut it."""
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
        if _past(deadline, step):
            return _EpochRun(sum(losses) / len(losses), len(losses), True)
        batch = train_pos[:, index]
        A = removal(batch)
        optimizer.zero_grad()
        h = encoder(x, A)
        negatives = sample_negative_pairs(train_graph, batch.shape[1], generator=generator)
        loss = link_loss(predictor(h, A, batch), predictor(h, A, negatives))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return _EpochRun(sum(losses) / max(len(losses), 1), len(losses), False)


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
            epochs, ``val_hits@K``/``test_hits@K`` for every ``K`` and ``eval_seconds``; an
            epoch cut by the time budget (``stop_within_epoch``) also has ``steps`` and
            ``partial = 1``.
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
    stop_within_epoch: bool = False,
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
        stop_within_epoch: let ``time_budget`` end an epoch at the first step that would
            start past it (at least one step runs); the cut epoch is evaluated and its history
            entry has ``steps`` (taken) and ``partial = 1``. For models whose steps take
            minutes (NCNC on ogbl-ddi), whose first epoch alone exceeds any budget.
        max_batches_per_epoch: cap the steps per epoch (benchmarks).
        keep_best_state: keep a copy of both state dicts at the selected epoch.
        log: called with every epoch's history entry (progress display).
    """
    train_graph = split.train_graph()

    def run_epoch(optimizer: torch.optim.Optimizer, deadline: float | None) -> _EpochRun:
        return _train_epoch(encoder, predictor, x, train_graph, split.train_pos, optimizer,
                            batch_size, target_link_removal=target_link_removal,
                            generator=generator, max_batches=max_batches_per_epoch,
                            deadline=deadline)

    return _fit_epochs(encoder, predictor, x, split, train_graph, run_epoch, epochs=epochs,
                       lr_encoder=lr_encoder, lr_predictor=lr_predictor, k=k, eval_ks=eval_ks,
                       eval_batch_size=eval_batch_size, eval_every=eval_every,
                       time_budget=time_budget, stop_within_epoch=stop_within_epoch,
                       keep_best_state=keep_best_state, log=log)


def _fit_epochs(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    split: LinkSplit,
    train_graph: SparseMatrix,
    run_epoch: Callable[[torch.optim.Optimizer, float | None], _EpochRun],
    *,
    epochs: int,
    lr_encoder: float,
    lr_predictor: float,
    k: int,
    eval_ks: Sequence[int],
    eval_batch_size: int,
    eval_every: int,
    time_budget: float | None,
    stop_within_epoch: bool,
    keep_best_state: bool,
    log: Callable[[dict[str, float]], None] | None,
) -> LinkFitResult:
    """The epochs of :func:`fit` and :func:`fit_sampled`: Adam, ``run_epoch(optimizer,
    deadline)`` (one epoch, cut at the budget's deadline), full-graph evaluation, selection on
    validation Hits@``k``."""
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if k not in eval_ks:
        eval_ks = (*eval_ks, k)
    optimizer = torch.optim.Adam([
        {"params": list(encoder.parameters()), "lr": lr_encoder},
        {"params": list(predictor.parameters()), "lr": lr_predictor},
    ])
    metric = f"hits@{k}"
    result = LinkFitResult(metric, 0, -math.inf, math.nan)
    started = time.perf_counter()
    deadline = started + time_budget if stop_within_epoch and time_budget is not None else None
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        run = run_epoch(optimizer, deadline)
        entry: dict[str, float] = {"epoch": epoch, "loss": run.loss,
                                   "train_seconds": time.perf_counter() - tick}
        if run.cut:
            entry.update(steps=run.steps, partial=1)
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
            if run.cut:
                result.stopped = (f"time budget {time_budget:g} s reached after {run.steps} "
                                  f"steps of epoch {epoch}")
            elif epoch < epochs:
                result.stopped = f"time budget {time_budget:g} s reached after epoch {epoch}"
            break
    return result


# ------------------------------------------------------------------ sampled neighbourhoods
def sampled_link_loss(encoder: nn.Module, predictor: nn.Module, x: Tensor, batch: LinkSample,
                      *, degree: Tensor | None = None) -> Tensor:
    """:func:`~gnnkit.nn.linkpred.link_loss` of one sampled batch (module docstring):
    ``h = encoder(x[n_id], matrices[:-1])`` for the hop-1 sources, then
    ``predictor(h, matrices[-1], ·)`` on the positive and on the negative pairs.

    Args:
        encoder: takes ``encoder(x_sub, blocks)`` (and ``degree=`` when given), e.g.
            :class:`~gnnkit.nn.linkpred.LinkEncoder`.
        predictor: scores local pairs on the hop-1 block, e.g.
            :class:`~gnnkit.nn.linkpred.NCNPredictor` or a GAE scorer.
        x: ``(N, F)`` features or ``(N,)`` node ids of the whole graph (gathered at
            ``batch.n_id`` here).
        batch: a :class:`~gnnkit.data.link_sampling.LinkSample` of ``encoder layers + 1``
            hops with positives and negatives — already without its target links when the
            protocol removes them (:func:`~gnnkit.data.link_sampling.remove_sampled_target_links`).
        degree: ``(N_0,)`` the encoder's per-node degree at ``batch.n_id`` (its
            ``block_degree``), for encoders normalised by degree; ``None`` otherwise.

    Returns:
        the scalar loss ``mean(−log σ(s⁺)) + mean(−log σ(−s⁻))``.
    """
    if not isinstance(batch, LinkSample):
        raise TypeError(f"batch must be a LinkSample, got {type(batch).__name__}")
    blocks = batch.matrices
    if len(blocks) < 2:
        raise ValueError(f"the batch has {len(blocks)} hop(s): sample encoder layers + 1 hops "
                         "(the outer ones feed the encoder, hop 1 is the predictor's graph)")
    if batch.num_positives == 0 or batch.num_negatives == 0:
        raise ValueError(f"the loss needs positives and negatives; the batch has "
                         f"{batch.num_positives} and {batch.num_negatives} (draw negatives "
                         "with the batch: LinkNeighborLoader(..., negatives=1))")
    inputs = x[batch.n_id]
    encoder_blocks = list(blocks[:-1])
    if degree is None:
        h = encoder(inputs, encoder_blocks)
    else:
        h = encoder(inputs, encoder_blocks, degree=degree)
    graph = blocks[-1]
    return link_loss(predictor(h, graph, batch.positive_pairs),
                     predictor(h, graph, batch.negative_pairs))


def _block_degree(encoder: nn.Module, graph: SparseMatrix) -> Tensor | None:
    """``encoder.block_degree(graph)`` when the encoder defines it, else ``None``."""
    block_degree = getattr(encoder, "block_degree", None)
    return block_degree(graph) if callable(block_degree) else None


def _batch_degree(encoder: nn.Module, graph: SparseMatrix, full: Tensor, batch: LinkSample,
                  target_link_removal: bool) -> Tensor:
    """``(N_0,)`` the encoder's degree of ``graph`` (minus the batch's positives, both
    directions, with removal) at ``batch.n_id``, given ``full`` = its degree of ``graph``.

    Only the endpoints' rows lose entries to the removal; their degrees are read from their
    whole rows (one fanout ``-1`` hop, ``O(Σ deg)`` of the endpoints), since a sampled hop 1
    may miss the removed entries."""
    degree = full[batch.n_id]
    if not target_link_removal or batch.num_positives == 0:
        return degree
    num_seeds = batch.subgraph.num_seeds
    # the endpoints' whole rows, relabelled with the same seeds first: the positives' local
    # ids hold; fanout -1 draws no random number
    rows = sample_neighbors(graph, batch.n_id[:num_seeds], [-1]).matrices[0]
    rows = remove_edges(rows, batch.positive_pairs, undirected=True)
    endpoints = _block_degree(encoder, rows)
    if endpoints is None:
        raise ValueError("the encoder's block_degree gave a degree for the graph but none for "
                         "a block of its rows")
    return torch.cat([endpoints.to(degree.dtype), degree[num_seeds:]])


def _check_sampled_model(encoder: nn.Module, predictor: nn.Module, num_hops: int) -> None:
    """Errors for a model the sampled loop cannot train with ``num_hops`` hops."""
    layers = getattr(encoder, "num_layers", None)
    if isinstance(layers, int) and num_hops != layers + 1:
        raise ValueError(f"fanouts has {num_hops} hop(s) but the encoder has {layers} "
                         f"layer(s): give {layers + 1} fanouts, hop 1 first (hop 1 = the "
                         f"predictor's common neighbours, e.g. -1, then one per layer)")
    if getattr(predictor, "depth", 0) > 0:
        raise ValueError(f"{type(predictor).__name__} completes common neighbours (depth "
                         f"{predictor.depth}), which reads the rows of the endpoints' "
                         "neighbours that a sampled block does not hold; train it full-batch "
                         "(fit)")


def train_epoch_sampled(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    loader: LinkNeighborLoader,
    optimizer: torch.optim.Optimizer,
    *,
    target_link_removal: bool = True,
    max_batches: int | None = None,
    deadline: float | None = None,
) -> float:
    """One epoch of sampled steps (module docstring); returns the mean batch loss.

    Each batch of ``loader``: target-link removal on its blocks (with
    ``target_link_removal``), the encoder's degrees when it needs them, then
    :func:`sampled_link_loss` and one optimizer step.

    Args:
        encoder, predictor: as for :func:`train_epoch`; the encoder also takes sampled blocks
            (``encoder(x_sub, blocks)``), the predictor scores on the hop-1 block.
        x: ``(N, F)`` features or ``(N,)`` node ids of the whole graph.
        loader: a :class:`~gnnkit.data.link_loader.LinkNeighborLoader` over the positive
            training links of the message-passing graph ``loader.A``, with ``encoder layers
            + 1`` fanouts and negatives (``negatives=1``: as many as positives, as
            :func:`train_epoch`). Iterating it runs its next epoch.
        optimizer: stepped once per batch.
        target_link_removal: remove each batch's positives from its blocks (both
            directions).
        max_batches: stop after this many steps (benchmarks).
        deadline: a ``time.perf_counter()`` value; stop before the first step that would
            start after it (the first step always runs).
    """
    return _train_epoch_sampled(encoder, predictor, x, loader, optimizer,
                                target_link_removal=target_link_removal,
                                max_batches=max_batches, deadline=deadline).loss


def _train_epoch_sampled(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    loader: LinkNeighborLoader,
    optimizer: torch.optim.Optimizer,
    *,
    target_link_removal: bool,
    max_batches: int | None,
    deadline: float | None,
) -> _EpochRun:
    """:func:`train_epoch_sampled`, also saying how many steps ran and whether ``deadline``
    cut it."""
    if not isinstance(loader, LinkNeighborLoader):
        raise TypeError(f"loader must be a gnnkit.data.LinkNeighborLoader, got "
                        f"{type(loader).__name__}")
    _check_sampled_model(encoder, predictor, len(loader.fanouts))
    if isinstance(loader.negatives, int) and loader.negatives < 1:
        raise ValueError("the loader draws no negatives (negatives=0); the loss needs them: "
                         "LinkNeighborLoader(..., negatives=1) draws as many as positives")
    encoder.train()
    predictor.train()
    full_degree = _block_degree(encoder, loader.A)  # once per epoch: O(E)
    losses = []
    for step, batch in enumerate(loader):
        if max_batches is not None and step >= max_batches:
            break
        if _past(deadline, step):
            return _EpochRun(sum(losses) / len(losses), len(losses), True)
        if target_link_removal:
            batch = remove_sampled_target_links(batch)
        degree = (None if full_degree is None else
                  _batch_degree(encoder, loader.A, full_degree, batch, target_link_removal))
        optimizer.zero_grad()
        loss = sampled_link_loss(encoder, predictor, x, batch, degree=degree)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return _EpochRun(sum(losses) / max(len(losses), 1), len(losses), False)


def fit_sampled(
    encoder: nn.Module,
    predictor: nn.Module,
    x: Tensor,
    split: LinkSplit,
    *,
    fanouts: Sequence[int],
    epochs: int,
    batch_size: int,
    lr_encoder: float,
    lr_predictor: float,
    k: int = 100,
    eval_ks: Sequence[int] = (20, 50, 100),
    eval_batch_size: int = 8192,
    target_link_removal: bool = True,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    num_workers: int = 0,
    eval_every: int = 1,
    time_budget: float | None = None,
    max_batches_per_epoch: int | None = None,
    stop_within_epoch: bool = False,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
) -> LinkFitResult:
    """:func:`fit` with every training step on sampled neighbourhoods (module docstring);
    evaluation, model selection and the result are :func:`fit`'s, and so are the arguments
    not listed here. The encoder must also take sampled blocks and the predictor score on
    the hop-1 block (:func:`sampled_link_loss`), as :class:`~gnnkit.nn.linkpred.LinkEncoder`
    and :class:`~gnnkit.nn.linkpred.NCNPredictor` do.

    Args:
        fanouts: entries kept per node at each of the ``encoder layers + 1`` hops, hop 1
            first (``-1`` = all); hop 1 gives the endpoints' neighbourhoods the predictor
            intersects (``-1`` keeps every common neighbour), e.g. ``[-1, 10]`` for one
            layer.
        generator: draws the loader's ``seed`` when it is ``None`` (``None``: torch's global
            generator), so a seeded run is reproducible.
        seed: the :class:`~gnnkit.data.link_loader.LinkNeighborLoader`'s seed: batch ``b`` of
            epoch ``e`` (its positives' order, negatives and neighbours) comes from
            ``sampling_generator(seed, e, 0, 1 + b)`` whatever ``num_workers``.
        num_workers: sampling worker processes.

    Raises:
        ValueError: ``len(fanouts)`` is not the encoder's layers + 1; a predictor that
            completes common neighbours (NCNC); the errors of :func:`fit` and of the loader.
    """
    fanouts = check_fanouts(fanouts)  # before the model checks: a bad fanout fails first
    _check_sampled_model(encoder, predictor, len(fanouts))
    train_graph = split.train_graph()
    # fit's batches: the last incomplete one is dropped unless it is the only one
    loader = LinkNeighborLoader(train_graph, split.train_pos, fanouts, negatives=1,
                                batch_size=batch_size, shuffle=True,
                                drop_last=split.train_pos.shape[1] > batch_size, seed=seed,
                                generator=generator, num_workers=num_workers)

    def run_epoch(optimizer: torch.optim.Optimizer, deadline: float | None) -> _EpochRun:
        return _train_epoch_sampled(encoder, predictor, x, loader, optimizer,
                                    target_link_removal=target_link_removal,
                                    max_batches=max_batches_per_epoch, deadline=deadline)

    return _fit_epochs(encoder, predictor, x, split, train_graph, run_epoch, epochs=epochs,
                       lr_encoder=lr_encoder, lr_predictor=lr_predictor, k=k, eval_ks=eval_ks,
                       eval_batch_size=eval_batch_size, eval_every=eval_every,
                       time_budget=time_budget, stop_within_epoch=stop_within_epoch,
                       keep_best_state=keep_best_state, log=log)
