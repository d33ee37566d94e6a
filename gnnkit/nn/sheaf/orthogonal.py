"""Orthogonal restriction maps: parameters → matrices of O(d)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["ORTHOGONAL_MAPS", "OrthogonalMaps", "orthogonal_num_params"]

#: the parametrisations of :class:`OrthogonalMaps`
ORTHOGONAL_MAPS = ("householder", "cayley", "matrix_exp", "euler")


def orthogonal_num_params(d: int) -> int:
    """Parameters per map: ``d(d-1)/2`` for every parametrisation (the dimension of O(d))."""
    return d * (d - 1) // 2


class OrthogonalMaps(torch.nn.Module):
    r"""Turns ``d(d-1)/2`` free parameters per edge into an orthogonal ``d × d`` matrix
    (Bodnar et al., NeurIPS 2022, §5, the O(d) "bundle" restriction maps).

    * ``householder``: the parameters fill the strict lower triangle of a unit lower
      triangular :math:`A`; its columns :math:`v_k` give :math:`Q = H_1 \cdots H_d`,
      :math:`H_k = I - 2 v_k v_k^\top / \lVert v_k\rVert^2` (a product of reflections, as
      ``torch_householder_orgqr`` in the reference code; :math:`\det Q = (-1)^d`).
    * ``cayley``: :math:`Q = (I - S/2)^{-1}(I + S/2)` with :math:`S = P - P^\top` skew
      symmetric, :math:`P` strictly lower triangular holding the parameters
      (:math:`\det Q = 1`).
    * ``matrix_exp``: :math:`Q = \exp(S)`, same :math:`S` (:math:`\det Q = 1`).
    * ``euler``: rotations by Euler angles :math:`2\pi p` (``d`` ∈ {2, 3}; with the ``tanh``
      sheaf learner :math:`p \in [-1, 1]`): :math:`d = 2` one angle, :math:`d = 3` the
      product :math:`R_z(\alpha) R_y(\beta) R_x(\gamma)`.

    The reference code gives ``cayley`` and ``matrix_exp`` ``d(d+1)/2`` parameters; the
    ``d`` diagonal ones cancel in :math:`P - P^\top`, so gnnkit uses ``d(d-1)/2`` for every map.

    float32 (and half) parameters are mapped in float64 and the result rounded once, so
    :math:`\lVert Q^\top Q - I \rVert_\infty` stays below ``1e-6`` in float32.

    Shapes: ``params`` ``(E, d(d-1)/2)`` → ``(E, d, d)`` with :math:`Q^\top Q = I`.
    """

    def __init__(self, d: int, kind: str = "householder") -> None:
        super().__init__()
        if kind not in ORTHOGONAL_MAPS:
            raise ValueError(f"kind must be one of {list(ORTHOGONAL_MAPS)}, got {kind!r}")
        if d < 2:
            raise ValueError(f"orthogonal maps need stalk dimension d >= 2, got d={d}")
        if kind == "euler" and d not in (2, 3):
            raise ValueError(f"kind='euler' supports d in {{2, 3}}, got d={d}; use "
                             "'householder', 'cayley' or 'matrix_exp'")
        self.d = d
        self.kind = kind

    @property
    def num_params(self) -> int:
        return orthogonal_num_params(self.d)

    def extra_repr(self) -> str:
        return f"d={self.d}, kind={self.kind!r}"

    def _lower(self, params: Tensor) -> Tensor:
        d = self.d
        rows, cols = torch.tril_indices(d, d, offset=-1, device=params.device)
        lower = params.new_zeros(params.shape[0], d, d)
        lower[:, rows, cols] = params
        return lower

    def forward(self, params: Tensor) -> Tensor:
        if params.dim() != 2 or params.shape[1] != self.num_params:
            raise ValueError(f"params must have shape (E, {self.num_params}) for d={self.d}, "
                             f"got {tuple(params.shape)}")
        if self.kind == "euler":
            return _euler(params, self.d)
        # Lower precisions are computed in float64 and rounded once: in float32 the
        # factorisations drift to |QᵀQ - I| ≈ 1e-6 (d = 4, 5), the rounded float64 result stays
        # near 3e-7. The maps are tiny (E × d × d), so the cost is small.
        dtype = params.dtype
        work = params.double() if dtype in (torch.float32, torch.float16, torch.bfloat16) \
            else params
        eye = torch.eye(self.d, dtype=work.dtype, device=work.device)
        lower = self._lower(work)
        if self.kind == "householder":
            vectors = lower + eye
            tau = 2.0 / (vectors * vectors).sum(dim=-2)
            q = torch.linalg.householder_product(vectors, tau)
        else:
            skew = lower - lower.transpose(-1, -2)
            if self.kind == "matrix_exp":
                q = torch.linalg.matrix_exp(skew)
            else:
                q = torch.linalg.solve(eye - 0.5 * skew, eye + 0.5 * skew)
        return q.to(dtype)


def _euler(params: Tensor, d: int) -> Tensor:
    angles = 2 * math.pi * params
    if d == 2:
        c, s = torch.cos(angles[:, 0]), torch.sin(angles[:, 0])
        return torch.stack([c, -s, s, c], dim=-1).view(-1, 2, 2)
    ca, cb, cg = torch.cos(angles).unbind(-1)
    sa, sb, sg = torch.sin(angles).unbind(-1)
    return torch.stack([
        ca * cb, ca * sb * sg - sa * cg, ca * sb * cg + sa * sg,
        sa * cb, sa * sb * sg + ca * cg, sa * sb * cg - ca * sg,
        -sb, cb * sg, cb * cg,
    ], dim=-1).view(-1, 3, 3)

