"""Regression metrics: MAE and RMSE, per task over labelled entries, averaged over tasks.

Inputs are ``(N,)`` (one task) or ``(N, T)``; a NaN in ``y_true`` marks an unlabelled entry
(OGB's convention for ogbg-molesol / -molfreesolv / -mollipo). Arithmetic is float64.
A NaN in ``y_pred`` at a labelled entry propagates to a NaN result, as in OGB.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validation import ArrayLike, as_tensor

__all__ = ["mae", "rmse"]


def _per_task_errors(y_true: ArrayLike, y_pred: ArrayLike) -> list[Tensor]:
    """Residuals ``y_pred - y_true`` of the labelled entries of each task, in float64."""
    true = as_tensor(y_true, "y_true")
    pred = as_tensor(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {tuple(true.shape)} and "
            f"{tuple(pred.shape)}"
        )
    if true.dim() not in (1, 2):
        raise ValueError(
            f"y_true and y_pred must be 1-D (N,) or 2-D (N, num_tasks), got shape "
            f"{tuple(true.shape)}"
        )
    if true.dim() == 1:
        true, pred = true.unsqueeze(1), pred.unsqueeze(1)
    true = true.to(torch.float64)
    pred = pred.to(device=true.device, dtype=torch.float64)
    residuals = []
    for task in range(true.shape[1]):
        labelled = ~torch.isnan(true[:, task])
        if not bool(labelled.any()):
            raise ValueError(f"task {task} of y_true has no labelled (non-NaN) entry")
        residuals.append(pred[labelled, task] - true[labelled, task])
    return residuals


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, averaged over tasks.

    ``MAE = (1/T) Σ_t (1/|L_t|) Σ_{i∈L_t} |y_pred[i,t] − y_true[i,t]|`` where ``L_t`` are the
    labelled rows of task ``t``.
    """
    per_task = [float(r.abs().mean().item()) for r in _per_task_errors(y_true, y_pred)]
    return sum(per_task) / len(per_task)


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error per task, averaged over tasks (OGB's ``rmse``).

    ``RMSE = (1/T) Σ_t sqrt((1/|L_t|) Σ_{i∈L_t} (y_pred[i,t] − y_true[i,t])²)`` where ``L_t``
    are the labelled rows of task ``t`` (the square root is taken before averaging tasks).
    """
    per_task = [float(r.square().mean().sqrt().item()) for r in _per_task_errors(y_true, y_pred)]
    return sum(per_task) / len(per_task)
