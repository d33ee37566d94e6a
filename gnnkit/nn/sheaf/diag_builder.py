"""Sheaf Laplacian with diagonal restriction maps."""

from __future__ import annotations

from torch import Tensor

from gnnkit.sparse import segment

from ._builder import LaplacianBuilderBase
from .graph import SheafGraph
from .laplacian import SheafLaplacian

__all__ = ["DiagLaplacianBuilder"]


class DiagLaplacianBuilder(LaplacianBuilderBase):
    r"""Normalised sheaf Laplacian of diagonal restriction maps (Bodnar et al., NeurIPS 2022,
    §5, Diag-NSD). With :math:`\mathcal{F}_{i \trianglelefteq e} =
    \operatorname{diag}(\mathbf{f}_{ie})`, :math:`\mathbf{f}_{ie} \in \mathbb{R}^d`:

    .. math::
        L_{ij} = -\operatorname{diag}(\mathbf{f}_{ie} \odot \mathbf{f}_{je}), \qquad
        L_{ii} = \operatorname{diag}\Big(\sum_{e \ni i} \mathbf{f}_{ie}^{\,2}\Big),

    and with ``normalise`` (the paper's augmented normalisation)
    :math:`\Delta = (D + I)^{-1/2} L (D + I)^{-1/2}`, :math:`D = \operatorname{blockdiag}
    (L_{ii})` — elementwise on the diagonals here, so
    :math:`\Delta_{ii} = L_{ii} / (L_{ii} + 1)`.

    Args:
        d: learnt stalk dimension.
        normalise: augmented symmetric normalisation (the reference code's ``--normalised``,
            on in every published run); off gives the plain sheaf Laplacian (identity maps →
            :math:`(D_G - A) \otimes I_d`).
        graph_laplacian_channel, signless_laplacian_channel: add a fixed stalk channel
            (:func:`fixed_channels`).

    Shapes: ``maps`` ``(E, d)`` in the graph's entry order → a :class:`SheafLaplacian` with
    diagonal blocks, stalk dimension ``D = d + k``.
    """

    def forward(self, graph: SheafGraph, maps: Tensor) -> SheafLaplacian:
        self._check_maps("maps", maps, graph, (self.d,))
        off = -maps * maps.index_select(0, graph.reverse)
        diag = segment(maps * maps, graph.adjacency.rowptr)
        if self.normalise:
            scale = (diag + 1).rsqrt()
            off = scale.index_select(0, graph.row) * off * scale.index_select(
                0, graph.adjacency.col.long())
            diag = diag * scale * scale
        fixed_off, fixed_diag = self._fixed(graph, maps.dtype)
        return SheafLaplacian(graph, off, diag, fixed_off, fixed_diag)
