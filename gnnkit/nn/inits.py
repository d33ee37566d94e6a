"""Weight initialisers shared by every layer of :mod:`gnnkit.nn` (written once, here).

All functions work in place under ``torch.no_grad()`` and return their argument, so they
can be used on parameters inside ``reset_parameters``. ``None`` is accepted and ignored
(optional biases, optional projections), which keeps ``reset_parameters`` free of ``if``\\ s.

* :func:`glorot` — Glorot & Bengio (AISTATS 2010) uniform over the *last two* dimensions,
  so an attention vector of shape ``(1, H, C)`` gets the bound of an ``H × C`` matrix (the
  convention of PyG's ``glorot``); for a ``torch.nn.Linear`` weight it equals
  ``torch.nn.init.xavier_uniform_``.
* :func:`zeros`, :func:`ones`, :func:`constant` — fill.
* :func:`uniform` — ``U(-1/√fan, 1/√fan)`` for a given ``fan``.
* :func:`reset` — call ``reset_parameters`` on a module or, if it has none, on its children.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch
from torch import Tensor

__all__ = ["constant", "glorot", "ones", "reset", "uniform", "zeros"]

T = TypeVar("T", Tensor, None)


def _check(name: str, tensor: object) -> None:
    if tensor is not None and not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor (or None), got {type(tensor).__name__}")


def glorot(tensor: T) -> T:
    r"""Glorot-uniform over the last two dimensions:

    .. math::
        w \sim \mathcal{U}\Big(-\sqrt{\tfrac{6}{f_{-2} + f_{-1}}},\
        \sqrt{\tfrac{6}{f_{-2} + f_{-1}}}\Big)

    with ``f_{-2}, f_{-1}`` the sizes of the last two dimensions (Glorot & Bengio,
    "Understanding the difficulty of training deep feedforward neural networks", AISTATS
    2010). A 1-D tensor is treated as ``(1, F)``.
    """
    _check("glorot", tensor)
    if tensor is None:
        return tensor
    if tensor.dim() == 0:
        raise ValueError("glorot needs a tensor with at least one dimension, got a scalar")
    fan_in = tensor.shape[-2] if tensor.dim() > 1 else 1
    bound = math.sqrt(6.0 / (fan_in + tensor.shape[-1]))
    with torch.no_grad():
        tensor.uniform_(-bound, bound)
    return tensor


def uniform(fan: int, tensor: T) -> T:
    """``U(-1/√fan, 1/√fan)`` (PyTorch's default ``Linear`` bias rule for ``fan`` inputs)."""
    _check("uniform", tensor)
    if tensor is None:
        return tensor
    if fan < 1:
        raise ValueError(f"uniform: fan must be positive, got {fan}")
    bound = 1.0 / math.sqrt(fan)
    with torch.no_grad():
        tensor.uniform_(-bound, bound)
    return tensor


def constant(tensor: T, value: float) -> T:
    """Fill with ``value``."""
    _check("constant", tensor)
    if tensor is None:
        return tensor
    with torch.no_grad():
        tensor.fill_(value)
    return tensor


def zeros(tensor: T) -> T:
    """Fill with 0 (biases)."""
    return constant(tensor, 0.0)


def ones(tensor: T) -> T:
    """Fill with 1."""
    return constant(tensor, 1.0)


def reset(module: torch.nn.Module | None) -> None:
    """Call ``module.reset_parameters()`` or, for a container without one (``Sequential``,
    ``ModuleList``), recurse into its children. A module that resets itself is not descended
    into, so nothing is re-initialised twice (PyG's ``reset`` follows the same rule)."""
    if module is None:
        return
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"reset: expected a torch.nn.Module, got {type(module).__name__}")
    reset_parameters = getattr(module, "reset_parameters", None)
    if callable(reset_parameters):
        reset_parameters()
        return
    for child in module.children():
        reset(child)
