"""Input conversion and checks shared by every metric: numpy or torch in, torch out."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ArrayLike",
    "as_tensor",
    "check_finite_or_inf",
    "check_positive_int",
    "comparable_pair",
    "score_dtype",
]

ArrayLike: TypeAlias = Tensor | np.ndarray
"""A ``torch.Tensor`` or a ``numpy.ndarray`` with a boolean, integer or floating dtype."""


def as_tensor(value: Any, name: str) -> Tensor:
    """Return ``value`` as a detached tensor (numpy arrays are wrapped without a copy).

    Raises ``TypeError`` naming ``name`` for anything that is not a tensor or an array of
    booleans, integers or floats (lists are refused on purpose: a ragged list of scores is
    almost always a bug upstream).
    """
    if isinstance(value, Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must be real-valued, got dtype {value.dtype}")
        return value.detach()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} must have a boolean, integer or floating dtype, got numpy dtype "
                f"{value.dtype}"
            )
        if value.dtype.kind == "u" and value.dtype.itemsize > 1:
            # torch's support for uint16/32/64 is partial; int64 holds every label we meet.
            value = value.astype(np.int64)
        if not value.flags.writeable or not value.flags.c_contiguous:
            value = np.ascontiguousarray(value).copy()
        return torch.from_numpy(value)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(value).__name__}")


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def check_finite_or_inf(tensor: Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``tensor`` holds a NaN (infinities are valid scores)."""
    if tensor.is_floating_point() and bool(torch.isnan(tensor).any()):
        raise ValueError(f"{name} contains NaN scores; ranking metrics need comparable scores")


def score_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype in which scores from ``tensors`` are compared without losing any order.

    Booleans become int64; half-precision floats become float32 (exact, and supported by
    every sort/search kernel); otherwise torch's type promotion.
    """
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    if dtype == torch.bool:
        return torch.int64
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return dtype


def comparable_pair(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
    """Cast two score tensors to one dtype and to ``second``'s device (as OGB does)."""
    dtype = score_dtype(first, second)
    return first.to(device=second.device, dtype=dtype), second.to(dtype=dtype)
