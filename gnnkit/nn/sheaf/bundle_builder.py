"""Sheaf Laplacian with orthogonal restriction maps (an O(d) bundle), with edge weights."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import segment

from ._builder import LaplacianBuilderBase
from .graph import SheafGraph
from .laplacian import SheafLaplacian
from .orthogonal import OrthogonalMaps

__all__ = ["BundleLaplacianBuilder"]


class BundleLaplacianBuilder(LaplacianBuilderBase):
    r"""Normalised connection Laplacian of an O(d) bundle (Bodnar et al., NeurIPS 2022, §5,
    O(d)-NSD). The parameters become orthogonal maps :math:`Q_{ie}` (:class:`OrthogonalMaps`),
    scaled by symmetric edge weights :math:`w_e` (:class:`EdgeWeightLearner`; 1 without):

    .. math::
        L_{ij} = -w_e^2\, Q_{ie}^\top Q_{je}, \qquad
        L_{ii} = \Big(\sum_{e \ni i} w_e^2\Big) I_d = \delta_i I_d,

    and with ``normalise`` :math:`\Delta_{ij} = L_{ij} / \sqrt{(\delta_i + 1)(\delta_j + 1)}`,
    :math:`\Delta_{ii} = \delta_i / (\delta_i + 1)\, I_d` (the diagonal is a multiple of the
    identity, so the normalisation is scalar; without edge weights :math:`\delta_i` is the
    degree).

    Args:
        d: stalk dimension (≥ 2).
        orthogonal: ``householder`` (default, the reference code's), ``cayley``,
            ``matrix_exp`` or ``euler``.
        normalise, graph_laplacian_channel, signless_laplacian_channel: as for
            :class:`DiagLaplacianBuilder`.

    Shapes: ``params`` ``(E, d(d-1)/2)``, ``edge_weights`` ``(E,)`` or ``None`` → a
    :class:`SheafLaplacian` with ``d × d`` blocks.
    """

    def __init__(self, d: int, orthogonal: str = "householder", *, normalise: bool = True,
                 graph_laplacian_channel: bool = False,
                 signless_laplacian_channel: bool = False) -> None:
        super().__init__(d, normalise=normalise,
                         graph_laplacian_channel=graph_laplacian_channel,
                         signless_laplacian_channel=signless_laplacian_channel)
        self.orthogonal = OrthogonalMaps(d, orthogonal)

    @property
    def num_params(self) -> int:
        """Parameters per map the sheaf learner must output."""
        return self.orthogonal.num_params

    def forward(self, graph: SheafGraph, params: Tensor,
                edge_weights: Tensor | None = None) -> SheafLaplacian:
        self._check_maps("params", params, graph, (self.num_params,))
        maps = self.orthogonal(params)
        return self.from_maps(graph, maps, edge_weights)

    def from_maps(self, graph: SheafGraph, maps: Tensor,
                  edge_weights: Tensor | None = None) -> SheafLaplacian:
        """The Laplacian of given orthogonal ``maps`` ``(E, d, d)`` (their orthogonality is
        assumed: the diagonal blocks use :math:`Q^\\top Q = I`)."""
        self._check_maps("maps", maps, graph, (self.d, self.d))
        off = -maps.transpose(-1, -2) @ maps.index_select(0, graph.reverse)
        if edge_weights is None:
            delta = graph.degree.to(maps.dtype)
        else:
            self._check_maps("edge_weights", edge_weights, graph, ())
            squared = edge_weights * edge_weights
            off = off * squared.view(-1, 1, 1)
            delta = segment(squared, graph.adjacency.rowptr)
        if self.normalise:
            scale = (delta + 1).rsqrt()
            pair = scale.index_select(0, graph.row) * scale.index_select(
                0, graph.adjacency.col.long())
            off = off * pair.view(-1, 1, 1)
            delta = delta * scale * scale
        eye = torch.eye(self.d, dtype=maps.dtype, device=maps.device)
        diag = delta.view(-1, 1, 1) * eye
        fixed_off, fixed_diag = self._fixed(graph, maps.dtype)
        return SheafLaplacian(graph, off, diag, fixed_off, fixed_diag)
