"""Sheaf Laplacian with general (unconstrained) d × d restriction maps."""

from __future__ import annotations

from torch import Tensor

from gnnkit.sparse import segment

from ._builder import LaplacianBuilderBase
from .graph import SheafGraph
from .inv_sqrt import sym_inv_sqrt
from .laplacian import SheafLaplacian

__all__ = ["GeneralLaplacianBuilder"]


class GeneralLaplacianBuilder(LaplacianBuilderBase):
    r"""Normalised sheaf Laplacian of general ``d × d`` restriction maps (Bodnar et al.,
    NeurIPS 2022, §5, Gen-NSD):

    .. math::
        L_{ij} = -\mathcal{F}_{ie}^\top \mathcal{F}_{je}, \qquad
        L_{ii} = D_i = \sum_{e \ni i} \mathcal{F}_{ie}^\top \mathcal{F}_{ie},

    and with ``normalise``
    :math:`\Delta_{ij} = (D_i + I)^{-1/2} L_{ij} (D_j + I)^{-1/2}`,
    :math:`\Delta_{ii} = (D_i + I)^{-1/2} D_i (D_i + I)^{-1/2}`.

    **Stable gradient of** :math:`(D_i + I)^{-1/2}`. The reference code computes it by SVD
    and adds :math:`U(-10^{-3}, 10^{-3})` noise to the diagonal during training so that the
    singular values differ (otherwise the SVD gradient is not finite). gnnkit uses
    :func:`sym_inv_sqrt`, whose backward pass is the closed-form Daleckii–Krein derivative of
    :math:`\lambda^{-1/2}`: finite and exact for repeated eigenvalues, so no noise is added
    and training and evaluation see the same operator. (The reference code also clamps the
    normalised entries to :math:`[-1, 1]`; they already lie there up to round-off, since
    :math:`\lVert\Delta_{ij}\rVert_2 \le 1`, so gnnkit does not.)

    Args:
        d: stalk dimension.
        normalise, graph_laplacian_channel, signless_laplacian_channel: as for
            :class:`DiagLaplacianBuilder`.

    Shapes: ``maps`` ``(E, d, d)`` → a :class:`SheafLaplacian` with ``d × d`` blocks.
    """

    def forward(self, graph: SheafGraph, maps: Tensor) -> SheafLaplacian:
        self._check_maps("maps", maps, graph, (self.d, self.d))
        d = self.d
        maps_t = maps.transpose(-1, -2)
        off = -maps_t @ maps.index_select(0, graph.reverse)
        gram = (maps_t @ maps).reshape(-1, d * d)
        diag = segment(gram, graph.adjacency.rowptr).view(-1, d, d)
        if self.normalise:
            eye = maps.new_ones(d).diag()
            root = sym_inv_sqrt(diag + eye)
            off = root.index_select(0, graph.row) @ off @ root.index_select(
                0, graph.adjacency.col.long())
            diag = root @ diag @ root
        fixed_off, fixed_diag = self._fixed(graph, maps.dtype)
        return SheafLaplacian(graph, off, diag, fixed_off, fixed_diag)
