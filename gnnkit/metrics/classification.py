"""Classification metrics: accuracy, ROC-AUC and average precision, with OGB's task rules.

Every function takes torch tensors or numpy arrays and returns a Python ``float``.

**Multi-task inputs** have shape ``(N, T)``: one column per task (OGB's molecular datasets).
A NaN in ``y_true`` marks an unlabelled entry and is ignored. The score of each task is
computed on its labelled rows and the result is the plain mean over tasks. For ROC-AUC and
average precision a task is *skipped* unless its labelled rows contain at least one positive
(``1``) and at least one negative (``0``) — the rule of OGB's ``Evaluator``; if every task is
skipped the metric is undefined and a ``ValueError`` is raised. A 1-D input is a single task.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._validation import ArrayLike, as_tensor, comparable_pair

__all__ = ["accuracy", "average_precision", "link_roc_auc", "roc_auc"]


# --------------------------------------------------------------------------- helpers


def _as_tasks(y_true: ArrayLike, y_other: ArrayLike, other_name: str) -> tuple[Tensor, Tensor]:
    """Convert to tensors on one device and view 1-D inputs as ``(N, 1)``."""
    true = as_tensor(y_true, "y_true")
    other = as_tensor(y_other, other_name)
    if true.shape != other.shape:
        raise ValueError(
            f"y_true and {other_name} must have the same shape, got {tuple(true.shape)} and "
            f"{tuple(other.shape)}"
        )
    if true.dim() not in (1, 2):
        raise ValueError(
            f"y_true and {other_name} must be 1-D (N,) or 2-D (N, num_tasks), got "
            f"{true.dim()}-D shape {tuple(true.shape)}"
        )
    if true.dim() == 1:
        true, other = true.unsqueeze(1), other.unsqueeze(1)
    return true, other.to(true.device)


def _labelled(column: Tensor) -> Tensor:
    """Boolean mask of the entries of ``column`` that carry a label (are not NaN)."""
    if column.is_floating_point():
        return ~torch.isnan(column)
    return torch.ones_like(column, dtype=torch.bool)


def _check_binary_labels(true: Tensor) -> None:
    ok = (true == 0) | (true == 1)
    if true.is_floating_point():
        ok |= torch.isnan(true)
    if not bool(ok.all()):
        bad = true[~ok][0].item()
        raise ValueError(
            f"y_true must hold binary labels 0/1 (NaN for unlabelled entries), found {bad}"
        )


def _mean_over_binary_tasks(
    y_true: ArrayLike,
    y_score: ArrayLike,
    pairwise_metric: Callable[[Tensor, Tensor], float],
    metric_name: str,
) -> float:
    """Apply ``pairwise_metric(positive_scores, negative_scores)`` per task; mean of results.

    Tasks without both a positive and a negative label are skipped (OGB's rule). NaN scores
    are rejected only where they would be used, as ``sklearn`` would reject them there.
    """
    true, score = _as_tasks(y_true, y_score, "y_score")
    _check_binary_labels(true)
    per_task: list[float] = []
    for task in range(true.shape[1]):
        is_positive = true[:, task] == 1
        is_negative = true[:, task] == 0
        if not (bool(is_positive.any()) and bool(is_negative.any())):
            continue
        positive, negative = score[is_positive, task], score[is_negative, task]
        if bool(torch.isnan(positive).any()) or bool(torch.isnan(negative).any()):
            raise ValueError(f"y_score contains NaN at labelled entries of task {task}")
        per_task.append(pairwise_metric(positive, negative))
    if not per_task:
        raise ValueError(
            f"{metric_name} is undefined: no task has both a positive (1) and a negative (0) "
            "label in y_true"
        )
    # Summed in task order, like OGB, so the last bits agree too.
    return sum(per_task) / len(per_task)


def _check_score_vector(scores: Tensor, name: str) -> None:
    if scores.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(scores.shape)}")
    if scores.numel() == 0:
        raise ValueError(f"{name} is empty")
    if scores.is_floating_point() and bool(torch.isnan(scores).any()):
        raise ValueError(f"{name} contains NaN scores")


# --------------------------------------------------------------------------- pairwise cores


def _auc_from_pos_neg(positive: Tensor, negative: Tensor) -> float:
    """Exact ROC-AUC of ``positive`` vs ``negative`` scores, ties counted one half.

    ``AUC = (Σ_p #{n : s_n < s_p} + ½ #{n : s_n = s_p}) / (|P|·|N|)`` (Mann–Whitney U), which
    equals the trapezoidal area under the ROC curve that ``sklearn.metrics.roc_auc_score``
    integrates. Counting is done in int64 and divided once, so the value is correctly rounded.
    """
    positive, negative = comparable_pair(positive, negative)
    negative_sorted = torch.sort(negative).values
    below = torch.searchsorted(negative_sorted, positive, side="left")
    below_or_tied = torch.searchsorted(negative_sorted, positive, side="right")
    twice_u = int((below + below_or_tied).sum().item())
    return twice_u / (2 * positive.numel() * negative.numel())


def _ap_from_pos_neg(positive: Tensor, negative: Tensor) -> float:
    """Average precision of ``positive`` vs ``negative`` scores (``sklearn``'s definition).

    Thresholds are the distinct scores, from high to low; at threshold ``t`` every item with
    score ``≥ t`` is predicted positive (tied items enter together). With ``TP_t`` and
    ``FP_t`` the counts at ``t`` and ``P = |positive|``::

        AP = Σ_t (TP_t − TP_{t−1}) / P · TP_t / (TP_t + FP_t)

    i.e. ``Σ (R_t − R_{t−1}) · Prec_t`` without interpolation.
    """
    positive, negative = comparable_pair(positive, negative)
    scores = torch.cat([positive, negative])
    is_positive = torch.cat(
        [
            torch.ones(positive.numel(), dtype=torch.int64, device=scores.device),
            torch.zeros(negative.numel(), dtype=torch.int64, device=scores.device),
        ]
    )
    sorted_scores, order = torch.sort(scores, descending=True, stable=True)
    true_positives = torch.cumsum(is_positive[order], dim=0)
    # The last item of each run of equal scores closes a threshold.
    closes_threshold = torch.ones_like(sorted_scores, dtype=torch.bool)
    closes_threshold[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    ends = torch.nonzero(closes_threshold).squeeze(1)
    tp = true_positives[ends].to(torch.float64)
    predicted = (ends + 1).to(torch.float64)
    tp_gained = torch.diff(tp, prepend=tp.new_zeros(1))
    return float((tp_gained * (tp / predicted)).sum().item()) / positive.numel()


# --------------------------------------------------------------------------- public metrics


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of correctly predicted labels, averaged over tasks (OGB's ``acc``).

    ``acc = (1/T) Σ_t |{i labelled in t : y_pred[i, t] = y_true[i, t]}| / |{i labelled in t}|``

    Args:
        y_true: integer class labels, shape ``(N,)`` or ``(N, T)``; NaN (float input) marks an
            unlabelled entry.
        y_pred: predicted labels with the same shape, or scores/logits with one extra trailing
            class dimension ``(..., C)``, in which case the arg-max class is the prediction.

    Raises:
        ValueError: on mismatched shapes or a task without labelled entries.
    """
    pred = as_tensor(y_pred, "y_pred")
    true_tensor = as_tensor(y_true, "y_true")
    if pred.dim() == true_tensor.dim() + 1 and pred.is_floating_point():
        pred = pred.argmax(dim=-1)
    true, pred = _as_tasks(true_tensor, pred, "y_pred")
    per_task: list[float] = []
    for task in range(true.shape[1]):
        labelled = _labelled(true[:, task])
        num_labelled = int(labelled.sum().item())
        if num_labelled == 0:
            raise ValueError(f"accuracy is undefined: task {task} of y_true has no labelled entry")
        correct = int((true[labelled, task] == pred[labelled, task]).sum().item())
        per_task.append(correct / num_labelled)
    return sum(per_task) / len(per_task)


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve, exact and tie-aware, averaged over tasks (OGB's ``rocauc``).

    Per task, with ``P``/``N`` the scores of the labelled positives/negatives::

        AUC = (Σ_{p∈P} Σ_{n∈N} [s_p > s_n] + ½ [s_p = s_n]) / (|P|·|N|)

    which is exactly ``sklearn.metrics.roc_auc_score`` (trapezoidal ROC area; ties between a
    positive and a negative count one half). Cost ``O(n log n)`` per task.

    Args:
        y_true: binary labels ``0``/``1``, shape ``(N,)`` or ``(N, T)``; NaN = unlabelled.
        y_score: real-valued scores (higher = more positive), same shape as ``y_true``.

    Tasks lacking a positive or a negative are skipped; ``ValueError`` if all are.
    """
    return _mean_over_binary_tasks(y_true, y_score, _auc_from_pos_neg, "ROC-AUC")


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision (area under the step precision-recall curve), averaged over tasks.

    Per task, thresholds ``t`` run over the distinct scores from high to low, ``R_t``/``Prec_t``
    are recall/precision when every item scoring ``≥ t`` is predicted positive::

        AP = Σ_t (R_t − R_{t−1}) · Prec_t

    identical to ``sklearn.metrics.average_precision_score`` (no interpolation; tied scores
    form one threshold) and to OGB's ``ap`` for ogbg-molpcba / ogbg-molmuv.

    Args:
        y_true: binary labels ``0``/``1``, shape ``(N,)`` or ``(N, T)``; NaN = unlabelled.
        y_score: real-valued scores, same shape.

    Tasks lacking a positive or a negative are skipped; ``ValueError`` if all are.
    """
    return _mean_over_binary_tasks(y_true, y_score, _ap_from_pos_neg, "average precision")


def link_roc_auc(y_pred_pos: ArrayLike, y_pred_neg: ArrayLike) -> float:
    """ROC-AUC of positive-edge scores against negative-edge scores (OGB's ogbl-vessel rule).

    Same formula as :func:`roc_auc` with ``P = y_pred_pos`` and ``N = y_pred_neg``.

    Args:
        y_pred_pos: scores of the positive edges, shape ``(E_pos,)``.
        y_pred_neg: scores of the negative edges, shape ``(E_neg,)``.
    """
    positive = as_tensor(y_pred_pos, "y_pred_pos")
    negative = as_tensor(y_pred_neg, "y_pred_neg")
    _check_score_vector(positive, "y_pred_pos")
    _check_score_vector(negative, "y_pred_neg")
    return _auc_from_pos_neg(positive, negative)
