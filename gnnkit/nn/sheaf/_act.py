"""Activations of the sheaf learners."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["SHEAF_ACTIVATIONS", "sheaf_activation"]

#: activations a sheaf learner applies to its output (the reference code's ``--sheaf_act``)
SHEAF_ACTIVATIONS = ("tanh", "id", "elu")


def sheaf_activation(name: str) -> Callable[[Tensor], Tensor]:
    if name == "tanh":
        return torch.tanh
    if name == "elu":
        return F.elu
    if name == "id":
        return lambda x: x
    raise ValueError(f"activation must be one of {list(SHEAF_ACTIVATIONS)}, got {name!r}")
