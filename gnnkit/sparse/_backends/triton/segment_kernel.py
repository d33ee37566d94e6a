"""Triton ``segment``: reductions over consecutive slices, on the ``spmm`` machinery.

``segment(src, ptr, reduce)`` is ``spmm`` with the identity as column index and no values, so it
reuses :func:`.spmm_kernel.gather_reduce` (``index=None``), including the split schedule for
skewed segment lengths (a single huge segment, e.g. global pooling of one big graph, is split into
pieces reduced in parallel and then combined deterministically).
"""

from __future__ import annotations

import math

from torch import Tensor

from .spmm_kernel import gather_reduce

__all__ = ["segment"]


def segment(src: Tensor, ptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """Triton implementation of :func:`gnnkit.sparse._backends.reference.segment`.

    ``out[k] = ⊕_{p in [ptr[k], ptr[k+1])} src[p]`` over dim 0 of ``src`` (any trailing shape),
    with ``arg`` holding positions in ``src`` (``len(src)`` for empty segments) for max/min.
    """
    num_segments = ptr.numel() - 1
    src3 = src.reshape(src.shape[0], 1, math.prod(src.shape[1:]))
    out, arg = gather_reduce(ptr, None, None, src3, reduce)
    out_shape = (num_segments, *src.shape[1:])
    return out.view(out_shape), arg.view(out_shape) if reduce in ("max", "min") else arg
