"""Fixed stalk channels carrying the ordinary or the signless graph Laplacian."""

from __future__ import annotations

import torch
from torch import Tensor

from .graph import SheafGraph

__all__ = ["fixed_channels"]


def fixed_channels(graph: SheafGraph, *, signless_laplacian: bool = False,
                   graph_laplacian: bool = False, normalise: bool = True,
                   dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor] | None:
    r"""Blocks of the extra, non-learnt stalk channels of NSD (Bodnar et al., NeurIPS 2022).

    Each channel is a scalar Laplacian on its own stalk dimension:

    * signless Laplacian :math:`L^{+} = D + A` (off-diagonal :math:`+1`) — the reference
      code's ``--add_lp``, whose help text says "high pass" while the flag's name says
      "low pass": it computes :math:`D + A`, and the diffusion
      :math:`\mathbf{x} - \hat{L}^{+}\mathbf{x} = -\hat A \mathbf{x}` is a high-pass filter;
    * graph Laplacian :math:`L = D - A` (off-diagonal :math:`-1`) — the reference code's
      ``--add_hp`` (help: "low pass"; it computes :math:`D - A`, a low-pass diffusion
      :math:`\mathbf{x} - \hat{L}\mathbf{x} = \hat A \mathbf{x}`).

    With ``normalise`` both use the augmented normalisation of the learnt part,
    :math:`\hat L_{ij} = L_{ij} / \sqrt{(d_i + 1)(d_j + 1)}`, so
    :math:`\hat L_{ii} = d_i / (d_i + 1)`. Channel order: signless first, then graph Laplacian
    (the reference code's order).

    Returns:
        ``(off_diagonal (E, k), diagonal (N, k))``, or ``None`` when no channel is asked for.
    """
    signs = [sign for sign, on in ((1.0, signless_laplacian), (-1.0, graph_laplacian)) if on]
    if not signs:
        return None
    dtype = graph.degree.dtype if dtype is None else dtype
    degree = graph.degree.to(dtype)
    sign = torch.tensor(signs, dtype=dtype, device=degree.device)
    if normalise:
        scale = (degree + 1).rsqrt()
        off = (scale.index_select(0, graph.row)
               * scale.index_select(0, graph.adjacency.col.long())).unsqueeze(-1) * sign
        diag = (degree * scale * scale).unsqueeze(-1).expand(-1, len(signs))
    else:
        off = torch.ones(graph.num_entries, 1, dtype=dtype, device=degree.device) * sign
        diag = degree.unsqueeze(-1).expand(-1, len(signs))
    return off, diag.contiguous()
