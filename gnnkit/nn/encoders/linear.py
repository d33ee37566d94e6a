"""Linear projection of dense node or edge features, with input checks."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LinearEncoder"]


class LinearEncoder(torch.nn.Linear):
    r"""Dense features projected to the model width, :math:`\mathbf{h}_i = \mathbf{W}
    \mathbf{x}_i + \mathbf{b}` (a ``torch.nn.Linear`` with PyTorch's default initialisation).

    The counterpart of the categorical encoders for float features: the same role as the
    ``lin`` of PyG's ``GINEConv(edge_dim=...)`` for edges, or an input projection for nodes.
    It adds what a bare ``Linear`` lacks for data coming from a batch: a ``(E,)`` vector is
    read as one column, and integer ids or a dtype that differs from the weights raise an
    error saying so (instead of a matrix-multiplication error).

    Args:
        in_channels: input width ``F``.
        out_channels: output width ``D``.
        bias: learn ``b``.

    Shapes:
        ``x`` ``(N, F)`` floating point (``(N,)`` when ``F = 1``) → ``(N, D)``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r} (a "
                             "linear encoder needs dense features with at least one column)")
        super().__init__(in_channels, out_channels, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Dense features ``(N, F)`` → ``(N, D)``."""
        if not isinstance(x, Tensor):
            raise TypeError(f"LinearEncoder expects a tensor (N, {self.in_features}), got "
                            f"{type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"LinearEncoder expects floating-point features, got dtype "
                            f"{x.dtype}: integer columns are category ids, which need a "
                            "categorical encoder (or convert real-valued data with x.float())")
        if x.dim() == 1 and self.in_features == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"LinearEncoder expects features of shape (N, {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"features have dtype {x.dtype} but the encoder's weights "
                            f"{self.weight.dtype}: convert one of them (model.to({x.dtype}) or "
                            f"x.to({self.weight.dtype}))")
        return super().forward(x)
