"""Dropout for dense or sparse node features."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.sparse import SparseMatrix

__all__ = ["feature_dropout"]


def feature_dropout(x: Tensor | SparseMatrix, p: float, training: bool) -> Tensor | SparseMatrix:
    """``F.dropout`` on dense features; on sparse ``SparseMatrix`` features only the stored
    entries are dropped (and rescaled) — the same distribution as dense dropout, since a zero
    stays zero, at ``O(nnz)`` cost (Kipf & Welling's ``sparse_dropout``)."""
    if not isinstance(x, SparseMatrix):
        return F.dropout(x, p=p, training=training)
    if not training or p == 0.0:
        return x
    values = x.values if x.values is not None else torch.ones(x.nnz, device=x.device)
    return x.with_values(F.dropout(values, p=p, training=True))
