"""Recommendation from implicit feedback: BPR (or a model's own objective, e.g. UltraGCN's with
many negatives per positive) and full-ranking evaluation, the protocol of LightGCN (He et al.,
SIGIR 2020) and its reference code. ::

    from gnnkit import datasets
    from gnnkit.nn.recsys import LightGCN
    from gnnkit.train.recommendation import fit

    data = datasets.load("gowalla")                       # an Interactions value
    torch.manual_seed(0)
    model = LightGCN(data.num_users, data.num_items, 64, num_layers=3)
    result = fit(model, data.train, data.test, num_users=data.num_users,
                 num_items=data.num_items, epochs=1000, eval_every=10,
                 generator=torch.Generator().manual_seed(0))
    result.selected_epoch, result.metrics["test_recall@20"]     # fractions, as the paper

**Training.** Every epoch draws one epoch of BPR triples (:class:`~gnnkit.nn.recsys.BPRSampler`,
scheme ``sampler``), shuffles them, and takes one Adam step (``lr``, no Adam weight decay)
per ``batch_size`` triples on ``bpr + weight_decay · l2``
(:meth:`~gnnkit.nn.recsys.BPRRecommender.bpr_objective`: the L2 term on the batch's layer-0
embeddings, as LightGCN's code). The message-passing graph is the ``U × I`` matrix of the
interactions trained on (:func:`~gnnkit.nn.recsys.interaction_matrix`).

**Many negatives** (UltraGCN, Mao et al., CIKM 2021): with ``num_negatives = N > 1`` (or
``negative_sampling = "uniform"``) an epoch is the sampler's positives only
(:meth:`~gnnkit.nn.recsys.BPRSampler.sample_positives`), and each batch of ``B`` positives
draws its ``(B, N)`` negatives when it is trained
(:meth:`~gnnkit.nn.recsys.BPRSampler.negative_block`: 1500 per positive on Gowalla would be
1.2·10⁹ ids per epoch). ``negative_sampling = "uniform"`` draws over all items, as UltraGCN's
official sampler (``sampling_sift_pos = no``); ``"exclude-positives"`` rejects the user's
training items. The step minimises ``loss + weight_decay · penalty`` of the model's
``objective`` (:meth:`~gnnkit.nn.recsys.BPRRecommender.objective`: BPR and its batch L2 for
MF/LightGCN, the constraint losses and the whole-table L2 for UltraGCN, whose ``γ`` is
``weight_decay``). ``stop_within_epoch`` lets a time budget cut an epoch short (for models
whose epoch is longer than the budget on a CPU, such as UltraGCN's 1583 steps of 768 000
negatives on Gowalla).

**Evaluation** (:func:`evaluate`), every ``eval_every`` epochs and after the last one: every
user with at least one evaluation item ranks *all* items by the dot product of the final
embeddings, batch by batch (one ``(B, I)`` score block per user batch), with the items of
``exclude`` removed from the ranking; Recall@K, Precision@K and NDCG@K
(:func:`gnnkit.metrics.ranking_metrics_at_k`, ``reduction="none"``) are averaged over those
users. Users without training items are evaluated too (nothing is excluded for them); items
never seen in training are ranked like the others (their score comes from their initial
embedding).

**Protocols** (:data:`PROTOCOLS`):

* ``official`` — the reference code's: the test set is evaluated and the epoch with the best
  test metric is reported (the TensorFlow code keeps the best test Recall@20; the PyTorch
  code only logs). This selects on the test set — results carry the label
  :attr:`RecommendationFitResult.selection` (``"test_recall@20"``) so nobody mistakes them
  for held-out numbers;
* ``held-out`` — a validation set ``val`` (e.g. :func:`holdout_split` of each user's training
  interactions, seeded) is held out of training; the epoch is selected on validation and the
  test metrics of that epoch are reported. Test ranking then excludes training *and*
  validation items.

Metrics are fractions (Recall@20 = 0.1830 as in the paper's tables).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from gnnkit.metrics import ranking_metrics_at_k
from gnnkit.nn.recsys import BPR_SCHEMES, BPRSampler, check_interactions, interaction_matrix
from gnnkit.sparse import SparseMatrix, pair_keys, ptr_from_index

__all__ = [
    "METRICS",
    "NEGATIVE_SAMPLING",
    "PROTOCOLS",
    "RecommendationFitResult",
    "Recommender",
    "evaluate",
    "fit",
    "holdout_split",
    "metric_key",
]

#: model-selection protocols of :func:`fit` (module docstring)
PROTOCOLS = ("official", "held-out")
#: metrics :func:`evaluate` computes at every K
METRICS = ("recall", "precision", "ndcg")
#: negative sampling of :func:`fit`: ``exclude-positives`` — uniform over the items the user
#: has not interacted with in training (LightGCN); ``uniform`` — uniform over all items
#: (UltraGCN's official ``sampling_sift_pos = no``)
NEGATIVE_SAMPLING = ("exclude-positives", "uniform")


class Recommender(Protocol):
    """What :func:`fit` and :func:`evaluate` need from a model (e.g. any
    :class:`~gnnkit.nn.recsys.BPRRecommender`): ``model(graph)`` → final ``(users (U, d),
    items (I, d))`` embeddings and ``objective(users, positives, negatives, graph)`` →
    ``(loss, penalty)`` (negatives ``(B,)``, or ``(B, N)`` with ``num_negatives = N``); plus
    the ``torch.nn.Module`` methods. A model with only ``bpr_objective`` (the earlier
    interface) is trained through it."""

    def __call__(self, graph: SparseMatrix | None) -> tuple[Tensor, Tensor]: ...

    def objective(self, users: Tensor, positives: Tensor, negatives: Tensor,
                  graph: SparseMatrix | None = None) -> tuple[Tensor, Tensor]: ...

    def parameters(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    def state_dict(self) -> Any: ...


def metric_key(metric: str, k: int) -> str:
    """``"recall@20"`` — the key of a metric in :func:`evaluate`'s result."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    return f"{metric}@{k}"


def _check_ks(ks: Sequence[int] | int, num_items: int) -> tuple[int, ...]:
    values = (ks,) if isinstance(ks, int) else tuple(ks)
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or not 1 <= k
                         <= num_items for k in values):
        raise ValueError(f"ks must be cut-offs 1 <= K <= num_items ({num_items}), got {ks!r}")
    return tuple(dict.fromkeys(values))


def holdout_split(train: Tensor, num_users: int, num_items: int, fraction: float = 0.1, *,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Hold out a validation set from each user's training interactions.

    Each user with ``n`` distinct training items gives ``floor(fraction · n)`` of them, chosen
    uniformly with ``generator``, to validation, but always keeps at least one for training;
    duplicates are merged first.

    Returns:
        ``(train_rest, val)``, ``(2, ·)`` int64 pairs sorted by (user, item).
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    pairs = check_interactions(train, num_users, num_items, "train").cpu()
    keys = torch.unique(pair_keys(pairs[0], pairs[1], num_users, num_items, check=False))
    users = keys // num_items
    rowptr = ptr_from_index(users, num_users, check=False)
    degree = rowptr[1:] - rowptr[:-1]
    held = torch.minimum((fraction * degree.double()).floor().long(), (degree - 1).clamp(min=0))
    # a random rank within each user: sort by (user, random) with two stable sorts
    order = torch.sort(torch.rand(keys.numel(), generator=generator), stable=True).indices
    order = order[torch.sort(users[order], stable=True).indices]
    rank = torch.empty_like(order)
    rank[order] = torch.arange(keys.numel()) - rowptr[users[order]]
    to_val = rank < held[users]
    rest, held_out = keys[~to_val], keys[to_val]
    return (torch.stack([rest // num_items, rest % num_items]),
            torch.stack([held_out // num_items, held_out % num_items]))


class _PairIndex:
    """``(2, M)`` pairs sorted by user with a per-user pointer, so a batch of sorted users
    takes one contiguous slice instead of scanning every pair."""

    def __init__(self, pairs: Tensor, num_users: int, device: torch.device) -> None:
        order = torch.sort(pairs[0], stable=True).indices
        self.pairs = pairs[:, order].to(device)
        self.ptr = ptr_from_index(pairs[0][order], num_users, check=False).tolist()

    def for_users(self, first: int, last: int) -> Tensor:
        return self.pairs[:, self.ptr[first]:self.ptr[last + 1]]


@torch.no_grad()
def _rank_and_score(user_final: Tensor, item_final: Tensor, targets: _PairIndex,
                    excluded: _PairIndex | None, users: Tensor, ks: tuple[int, ...],
                    batch_size: int) -> dict[str, float]:
    per_user: dict[str, list[Tensor]] = {metric_key(m, k): [] for k in ks for m in METRICS}
    for batch in users.split(batch_size):
        first, last = int(batch[0]), int(batch[-1])
        scores = user_final[batch.to(user_final.device)] @ item_final.t()
        batch_targets = targets.for_users(first, last)
        batch_excluded = None if excluded is None else excluded.for_users(first, last)
        for k in ks:
            values = ranking_metrics_at_k(scores, batch_targets, k, exclude=batch_excluded,
                                          users=batch.to(scores.device), reduction="none")
            for metric in METRICS:
                per_user[metric_key(metric, k)].append(values[metric])  # type: ignore[arg-type]
    return {key: float(torch.cat(parts).nanmean()) for key, parts in per_user.items()}


@torch.no_grad()
def evaluate(model: Recommender, graph: SparseMatrix | None, targets: Tensor, *,
             num_users: int, num_items: int, exclude: Tensor | Sequence[Tensor] | None = None,
             ks: Sequence[int] | int = (20,), batch_size: int = 1024) -> dict[str, float]:
    """Full-ranking Recall/Precision/NDCG@K of ``model`` on ``targets`` (LightGCN protocol).

    Propagates once (``model(graph)`` in evaluation mode), then for every user with at least
    one target item, in batches of ``batch_size`` users, scores all items (one ``(B, I)``
    block), removes the user's ``exclude`` items from the ranking and compares the top K with
    the targets (:func:`gnnkit.metrics.ranking_metrics_at_k`; ties rank the smaller item id
    first). Users without target items are not evaluated; users without excluded items are
    (nothing is removed for them).

    Args:
        model: a :class:`Recommender`.
        graph: the ``U × I`` training graph (``None`` for models that do not propagate).
        targets: ``(2, M)`` evaluation pairs (test or validation).
        num_users, num_items: ``U``, ``I``.
        exclude: ``(2, N)`` pairs removed from the rankings (the training interactions), or
            several such tensors (e.g. training and validation).
        ks: cut-offs.
        batch_size: users per score block (memory ``≈ 4 · B · I`` bytes for float32).

    Returns:
        ``{"recall@K", "precision@K", "ndcg@K"}`` for every K, as fractions averaged over the
        evaluated users.

    Raises:
        ValueError: ids out of range in ``targets``/``exclude`` (named), no user with a target
            item, bad ``ks`` or ``batch_size``.
    """
    ks = _check_ks(ks, num_items)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    targets = check_interactions(targets, num_users, num_items, "targets")
    model.eval()
    user_final, item_final = model(graph)
    device = user_final.device
    target_index = _PairIndex(targets.cpu(), num_users, device)
    excluded = _exclusion(exclude, num_users, num_items, device)
    users = torch.unique(targets[0].cpu())
    if users.numel() == 0:
        raise ValueError("targets is empty: no user has an evaluation item")
    return _rank_and_score(user_final, item_final, target_index, excluded, users, ks,
                           batch_size)


def _exclusion(exclude: Tensor | Sequence[Tensor] | None, num_users: int, num_items: int,
               device: torch.device) -> _PairIndex | None:
    if exclude is None:
        return None
    parts = [exclude] if isinstance(exclude, Tensor) else list(exclude)
    checked = [check_interactions(p, num_users, num_items, "exclude").cpu() for p in parts]
    return _PairIndex(torch.cat(checked, dim=1), num_users, device)


@dataclass
class RecommendationFitResult:
    """Outcome of :func:`fit`.

    Attributes:
        protocol: ``official`` or ``held-out``.
        selection: the metric that selected the epoch, with its evaluation set:
            ``"test_recall@20"`` under the official protocol (selected on the test set),
            ``"val_recall@20"`` under ``held-out``.
        selected_epoch: the evaluated epoch (1-based) with the best ``selection`` value (the
            first of ties).
        metrics: every evaluated metric at the selected epoch, ``"<set>_<metric>@<K>"``
            (``test_recall@20``, ``val_ndcg@20`` …), as fractions.
        epochs: epochs trained.
        history: one entry per epoch: ``epoch``, ``loss`` (mean over batches of
            ``loss + λ·penalty`` of the model's objective), ``bpr_loss`` (its first term: BPR,
            or UltraGCN's constraint losses), ``l2_loss`` (the penalty, unweighted),
            ``triples`` (positives trained), ``steps``, ``train_seconds`` (sampling
            included); evaluated epochs add the metrics and ``eval_seconds``; an epoch cut
            short by ``stop_within_epoch`` adds ``partial = 1`` and ``epoch_steps``.
        stopped: why training ended before ``epochs`` (time budget, patience), else ``None``.
        best_state: the selected epoch's ``state_dict`` when ``keep_best_state`` was set.
    """

    protocol: str
    selection: str
    selected_epoch: int
    metrics: dict[str, float]
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped: str | None = None
    best_state: dict[str, Any] | None = None

    @property
    def evaluations(self) -> list[dict[str, float]]:
        """The history entries of the evaluated epochs."""
        return [entry for entry in self.history if "eval_seconds" in entry]

    @property
    def train_seconds(self) -> float:
        """Wall time of the training passes (sampling included)."""
        return sum(entry["train_seconds"] for entry in self.history)

    @property
    def eval_seconds(self) -> float:
        """Wall time of the evaluations."""
        return sum(entry["eval_seconds"] for entry in self.evaluations)

    @property
    def label(self) -> str:
        """How the reported epoch was chosen, for reports."""
        if self.protocol == "official":
            return (f"official protocol: epoch {self.selected_epoch} selected on the TEST set "
                    f"({self.selection})")
        return (f"held-out protocol: epoch {self.selected_epoch} selected on validation "
                f"({self.selection}), test reported at that epoch")


def fit(
    model: Recommender,
    train: Tensor,
    test: Tensor,
    *,
    num_users: int,
    num_items: int,
    val: Tensor | None = None,
    protocol: str = "official",
    epochs: int = 1000,
    batch_size: int = 2048,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    eval_every: int = 10,
    ks: Sequence[int] | int = (20,),
    selection_metric: str = "recall",
    sampler: str = "uniform-user",
    num_negatives: int = 1,
    negative_sampling: str = "exclude-positives",
    eval_batch_size: int = 1024,
    patience: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    time_budget: float | None = None,
    stop_within_epoch: bool = False,
    keep_best_state: bool = False,
    log: Callable[[dict[str, float]], None] | None = None,
) -> RecommendationFitResult:
    """Train ``model`` with BPR on ``train`` and select an epoch by full-ranking evaluation
    (module docstring).

    Args:
        model: a :class:`Recommender` (``MFBPR``, ``LightGCN`` …), already on ``device``.
        train: ``(2, N)`` training pairs (the graph and the BPR positives).
        test: ``(2, M)`` test pairs.
        num_users, num_items: ``U``, ``I``; every id must lie below them.
        val: ``(2, V)`` validation pairs, disjoint from ``train`` (required by ``held-out``;
            evaluated alongside the test set under ``official`` if given).
        protocol: ``official`` (select on test) or ``held-out`` (select on ``val``).
        epochs, batch_size, lr: Adam on ``bpr + weight_decay · l2`` (paper: 1000 epochs of
            2048 triples per step, lr 1e-3).
        weight_decay: ``λ`` of the L2 term (paper: 1e-4).
        eval_every: evaluate after every ``eval_every``-th epoch (and after the last one).
        ks: cut-offs; the first selects the epoch.
        selection_metric: ``recall``, ``precision`` or ``ndcg`` at the first K.
        sampler: BPR scheme (:data:`gnnkit.nn.recsys.BPR_SCHEMES`); ``uniform-user`` is the
            reference code's.
        num_negatives: negatives per positive (1 for BPR; UltraGCN: 1500 on Gowalla).
        negative_sampling: one of :data:`NEGATIVE_SAMPLING`.
        eval_batch_size: users per score block.
        patience: stop after this many evaluations without a better selection value (the
            TensorFlow code stops after 5 evaluations, 100 epochs); ``None``: never.
        generator: CPU generator driving the sampler (seed it for a repeatable run).
        device: where the graph and the batches go (default: the model's).
        time_budget: seconds of training and evaluation; the loop evaluates and stops after
            the epoch that passes it.
        stop_within_epoch: check ``time_budget`` after every step and end the epoch at the
            step that passes it (then evaluate and stop); the history entry records the
            steps and positives actually trained (``steps``, ``triples``) and
            ``partial = 1``.
        keep_best_state: keep the selected epoch's ``state_dict``.
        log: called with every epoch's history entry.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    if protocol == "held-out" and val is None:
        raise ValueError("protocol 'held-out' needs val pairs: hold them out of the training "
                         "pairs first, e.g. train, val = holdout_split(train, U, I, 0.1)")
    if sampler not in BPR_SCHEMES:
        raise ValueError(f"sampler must be one of {list(BPR_SCHEMES)}, got {sampler!r}")
    if negative_sampling not in NEGATIVE_SAMPLING:
        raise ValueError(f"negative_sampling must be one of {list(NEGATIVE_SAMPLING)}, got "
                         f"{negative_sampling!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size),
                        ("eval_every", eval_every), ("eval_batch_size", eval_batch_size),
                        ("num_negatives", num_negatives)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0 or weight_decay < 0:
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got lr={lr!r}, "
                         f"weight_decay={weight_decay!r}")
    if patience is not None and (isinstance(patience, bool) or patience < 1):
        raise ValueError(f"patience must be a positive int or None, got {patience!r}")
    ks = _check_ks(ks, num_items)
    selection = metric_key(selection_metric, ks[0])
    train = check_interactions(train, num_users, num_items, "train").cpu()
    test = check_interactions(test, num_users, num_items, "test").cpu()
    if val is not None:
        val = check_interactions(val, num_users, num_items, "val").cpu()
    if device is None:
        device = next(iter(model.parameters())).device
    device = torch.device(device)

    graph = interaction_matrix(train, num_users, num_items).to(device)
    graph.csc()
    bpr = BPRSampler(train, num_users, num_items, scheme=sampler)
    # evaluation sets: (name, target pairs, pairs excluded from the ranking)
    sets: list[tuple[str, _PairIndex, _PairIndex, Tensor]] = []
    if val is not None:
        sets.append(("val", _PairIndex(val, num_users, device),
                     _PairIndex(train, num_users, device), torch.unique(val[0])))
    known = train if val is None else torch.cat([train, val], dim=1)
    sets.append(("test", _PairIndex(test, num_users, device), _PairIndex(known, num_users, device),
                 torch.unique(test[0])))
    for name, _, _, users in sets:
        if users.numel() == 0:
            raise ValueError(f"{name} is empty: no user has an evaluation item")
    selected_set = "test" if protocol == "official" else "val"

    objective = getattr(model, "objective", None) or model.bpr_objective  # type: ignore[attr-defined]
    # one negative excluding positives: the BPR epoch of triples (drawn at once, as before);
    # otherwise positives per epoch and a (B, N) block of negatives per step
    triples_per_epoch = num_negatives == 1 and negative_sampling == "exclude-positives"
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    best, selected = -math.inf, None
    best_state: dict[str, Any] | None = None
    stale, stopped = 0, None
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        tick = time.perf_counter()
        model.train()
        if triples_per_epoch:
            batches: list[tuple[Tensor, ...]] = list(bpr.sample(generator).batches(batch_size))
        else:
            epoch_users, epoch_positives = bpr.sample_positives(generator)
            batches = list(zip(epoch_users.split(batch_size), epoch_positives.split(batch_size),
                               strict=True))
        totals = [0.0, 0.0, 0.0]
        steps = trained = 0
        partial = False
        for batch in batches:
            users, positives = batch[0], batch[1]
            if triples_per_epoch:
                negatives = batch[2]
            else:
                negatives = bpr.negative_block(
                    users, num_negatives, generator,
                    exclude_positives=negative_sampling == "exclude-positives")
            optimizer.zero_grad(set_to_none=True)
            main_value, l2_value = objective(users.to(device), positives.to(device),
                                             negatives.to(device), graph)
            loss = main_value + weight_decay * l2_value
            loss.backward()
            optimizer.step()
            for slot, value in enumerate((loss, main_value, l2_value)):
                totals[slot] += float(value.detach())
            steps, trained = steps + 1, trained + users.numel()
            if (stop_within_epoch and time_budget is not None and steps < len(batches)
                    and time.perf_counter() - started > time_budget):
                partial = True
                break
        count = max(steps, 1)
        entry: dict[str, float] = {"epoch": epoch, "loss": totals[0] / count,
                                   "bpr_loss": totals[1] / count, "l2_loss": totals[2] / count,
                                   "triples": float(trained), "steps": float(steps),
                                   "train_seconds": time.perf_counter() - tick}
        if partial:
            entry["partial"] = 1.0
            entry["epoch_steps"] = float(len(batches))
        over_budget = time_budget is not None and time.perf_counter() - started > time_budget
        if epoch % eval_every == 0 or epoch == epochs or over_budget:
            tick = time.perf_counter()
            model.eval()
            with torch.no_grad():
                user_final, item_final = model(graph)
                for name, targets, excluded, users in sets:
                    values = _rank_and_score(user_final, item_final, targets, excluded, users,
                                             ks, eval_batch_size)
                    entry.update({f"{name}_{key}": value for key, value in values.items()})
            entry["eval_seconds"] = time.perf_counter() - tick
            value = entry[f"{selected_set}_{selection}"]
            if value > best:
                best, selected, stale = value, entry, 0
                if keep_best_state:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
        history.append(entry)
        if log is not None:
            log(entry)
        if patience is not None and stale >= patience:
            if epoch < epochs:
                stopped = (f"no better {selected_set} {selection} in {patience} evaluations "
                           f"(epoch {epoch})")
            break
        # stop only after an evaluated epoch, so the last model trained is always evaluated
        if over_budget or ("eval_seconds" in entry and time_budget is not None
                           and time.perf_counter() - started > time_budget):
            if partial:
                stopped = (f"time budget {time_budget:g} s reached after {steps} of "
                           f"{len(batches)} steps of epoch {epoch}")
            elif epoch < epochs:
                stopped = f"time budget {time_budget:g} s reached after epoch {epoch}"
            break
    if selected is None:  # every evaluation gave NaN (no evaluable user): keep the last
        selected = next(entry for entry in reversed(history) if "eval_seconds" in entry)
    metrics = {key: value for key, value in selected.items()
               if key.startswith(("test_", "val_"))}
    return RecommendationFitResult(protocol=protocol, selection=f"{selected_set}_{selection}",
                                   selected_epoch=int(selected["epoch"]), metrics=metrics,
                                   epochs=len(history), history=history, stopped=stopped,
                                   best_state=best_state)
