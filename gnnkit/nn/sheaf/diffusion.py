"""One layer of discrete neural sheaf diffusion."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from .laplacian import SheafLaplacian

__all__ = ["SheafDiffusionLayer"]


class SheafDiffusionLayer(torch.nn.Module):
    r"""A step of discrete neural sheaf diffusion (Bodnar et al., NeurIPS 2022, §5, eq. 10):

    .. math::
        \mathbf{X}_{t+1} = (1 + \tanh \boldsymbol{\varepsilon}) \odot \mathbf{X}_t
        - \sigma\Big(\Delta_{\mathcal{F}(t)}\, (I_N \otimes W_1)\,
          \operatorname{dropout}(\mathbf{X}_t)\, W_2\Big),

    with stalk features :math:`\mathbf{X}_t \in \mathbb{R}^{N \times D \times C}` (``D``
    stalk dimensions, ``C`` channels), :math:`W_1 \in \mathbb{R}^{D \times D}` acting on every
    node's stalk ("left weights", initialised to the identity), :math:`W_2 \in
    \mathbb{R}^{C \times C}` on the channels ("right weights", orthogonal initialisation, no
    bias), :math:`\sigma` = ELU (or the identity) and a learnt per-stalk-dimension
    :math:`\boldsymbol{\varepsilon} \in \mathbb{R}^{D}` (initialised to 0), broadcast over nodes
    and channels. :math:`\Delta_{\mathcal{F}(t)}` is a :class:`SheafLaplacian`, applied as a
    block-valued sparse operator.

    As in the reference code, the residual term uses the state *before* dropout.

    Args:
        stalk_dim: ``D``.
        channels: ``C``.
        left_weights, right_weights: learn :math:`W_1` / :math:`W_2` (else identity).
        dropout: dropout on :math:`\mathbf{X}_t` before the weights.
        activation: ELU after the diffusion (the reference code's ``--use_act``).

    Shapes: ``x`` ``(N, D, C)`` and a :class:`SheafLaplacian` of stalk dimension ``D`` →
    ``(N, D, C)``.
    """

    def __init__(self, stalk_dim: int, channels: int, *, left_weights: bool = True,
                 right_weights: bool = True, dropout: float = 0.0,
                 activation: bool = True) -> None:
        super().__init__()
        self.stalk_dim = stalk_dim
        self.channels = channels
        self.dropout = dropout
        self.activation = activation
        self.left = (torch.nn.Parameter(torch.empty(stalk_dim, stalk_dim))
                     if left_weights else None)
        self.right = (torch.nn.Parameter(torch.empty(channels, channels))
                      if right_weights else None)
        self.epsilon = torch.nn.Parameter(torch.empty(stalk_dim, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.left is not None:
            torch.nn.init.eye_(self.left)
        if self.right is not None:
            torch.nn.init.orthogonal_(self.right)
        torch.nn.init.zeros_(self.epsilon)

    def extra_repr(self) -> str:
        return (f"stalk_dim={self.stalk_dim}, channels={self.channels}, "
                f"left_weights={self.left is not None}, right_weights={self.right is not None}, "
                f"dropout={self.dropout}, activation={self.activation}")

    def forward(self, x: Tensor, laplacian: SheafLaplacian) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.stalk_dim, self.channels):
            raise ValueError(f"x must have shape (N, {self.stalk_dim}, {self.channels}) = "
                             f"(N, stalk_dim, channels), got {tuple(x.shape)}")
        h = F.dropout(x, p=self.dropout, training=self.training)
        if self.left is not None:
            h = torch.matmul(self.left, h)  # (D, D) @ (N, D, C): every node's stalk
        if self.right is not None:
            h = h @ self.right.t()
        h = laplacian @ h
        if self.activation:
            h = F.elu(h)
        return (1 + torch.tanh(self.epsilon)) * x - h
