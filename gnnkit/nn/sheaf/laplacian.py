"""The sheaf Laplacian as a block-valued sparse operator (never an expanded ``Nd × Nd`` matrix)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gnnkit.sparse import spmm

from .graph import SheafGraph

__all__ = ["SheafLaplacian"]


@dataclass(frozen=True)
class SheafLaplacian:
    r"""A (normalised) sheaf Laplacian :math:`\Delta_\mathcal{F}` on the stalks
    :math:`\mathbb{R}^{N \times D}` of a graph, stored as blocks (Bodnar et al., NeurIPS 2022,
    §2 and §5):

    .. math::
        (\Delta_\mathcal{F} \mathbf{X})_i = \Delta_{ii} \mathbf{X}_i
        + \sum_{j \in \mathcal{N}(i)} \Delta_{ij} \mathbf{X}_j,
        \qquad \mathbf{X}_i \in \mathbb{R}^{D \times C},

    applied as one block-valued :func:`gnnkit.sparse.spmm` over the graph's ``E`` entries
    plus a batched product with the ``N`` diagonal blocks. Stalks are ``D = d + k``
    dimensional: ``d`` learnt dimensions (blocks ``d × d``, or diagonal blocks stored as
    their diagonals ``d``) and ``k`` ∈ {0, 1, 2} fixed channels whose blocks are scalars
    (the graph Laplacian and/or the signless Laplacian, see :func:`fixed_channels`).

    Attributes:
        graph: the :class:`SheafGraph` (entry ``k`` of ``off_diagonal`` is block
            ``(row[k], col[k])``).
        off_diagonal: ``(E, d)`` (diagonal blocks) or ``(E, d, d)``.
        diagonal: ``(N, d)`` or ``(N, d, d)``.
        fixed_off_diagonal, fixed_diagonal: ``(E, k)`` and ``(N, k)`` or ``None``.

    Apply with ``L @ X`` (:meth:`matmul`); :meth:`to_dense` expands it (tests, small graphs)
    with stalk ``s`` of node ``i`` at index ``i·D + s``.
    """

    graph: SheafGraph
    off_diagonal: Tensor
    diagonal: Tensor
    fixed_off_diagonal: Tensor | None = None
    fixed_diagonal: Tensor | None = None

    @property
    def diagonal_blocks(self) -> bool:
        """Whether the learnt blocks are diagonal (stored as ``(E, d)``)."""
        return self.off_diagonal.dim() == 2

    @property
    def learnt_dim(self) -> int:
        return self.off_diagonal.shape[1]

    @property
    def fixed_dim(self) -> int:
        return 0 if self.fixed_off_diagonal is None else self.fixed_off_diagonal.shape[1]

    @property
    def stalk_dim(self) -> int:
        """``D = d + k``."""
        return self.learnt_dim + self.fixed_dim

    def matmul(self, x: Tensor) -> Tensor:
        """``Δ X`` for stalk features ``x`` ``(N, D, C)`` → ``(N, D, C)``."""
        N, D = self.graph.num_nodes, self.stalk_dim
        if x.dim() != 3 or x.shape[0] != N or x.shape[1] != D:
            raise ValueError(f"x must have shape (N, D, C) = ({N}, {D}, C), got "
                             f"{tuple(x.shape)}")
        A = self.graph.adjacency
        d = self.learnt_dim
        if self.diagonal_blocks:
            off, diag = self.off_diagonal, self.diagonal
            if self.fixed_dim:
                off = torch.cat([off, self.fixed_off_diagonal], dim=1)
                diag = torch.cat([diag, self.fixed_diagonal], dim=1)
            # Diagonal blocks are one scalar per (entry, stalk): multi-head spmm.
            return spmm(A.with_values(off), x) + diag.unsqueeze(-1) * x
        learnt = x if not self.fixed_dim else x[:, :d].contiguous()
        out = spmm(A.with_values(self.off_diagonal), learnt) + torch.bmm(self.diagonal, learnt)
        if not self.fixed_dim:
            return out
        fixed = x[:, d:].contiguous()
        fixed_out = (spmm(A.with_values(self.fixed_off_diagonal), fixed)
                     + self.fixed_diagonal.unsqueeze(-1) * fixed)
        return torch.cat([out, fixed_out], dim=1)

    def __matmul__(self, x: Tensor) -> Tensor:
        return self.matmul(x)

    def to_dense(self) -> Tensor:
        """The ``(N·D, N·D)`` matrix (for tests and small graphs)."""
        N, D, d = self.graph.num_nodes, self.stalk_dim, self.learnt_dim
        ref = self.off_diagonal
        blocks = torch.zeros(N, N, D, D, dtype=ref.dtype, device=ref.device)
        row, col = self.graph.row, self.graph.adjacency.col.long()
        nodes = torch.arange(N, device=ref.device)
        if self.diagonal_blocks:
            s = torch.arange(d, device=ref.device)
            blocks[row[:, None], col[:, None], s, s] = self.off_diagonal
            blocks[nodes[:, None], nodes[:, None], s, s] = self.diagonal
        else:
            blocks[row, col, :d, :d] = self.off_diagonal
            blocks[nodes, nodes, :d, :d] = self.diagonal
        if self.fixed_dim:
            s = torch.arange(d, D, device=ref.device)
            blocks[row[:, None], col[:, None], s, s] = self.fixed_off_diagonal
            blocks[nodes[:, None], nodes[:, None], s, s] = self.fixed_diagonal
        return blocks.permute(0, 2, 1, 3).reshape(N * D, N * D)
