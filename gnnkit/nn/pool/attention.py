"""Attention readout: a learned, per-graph softmax weighting of the nodes.

Li, Tarlow, Brockschmidt and Zemel, "Gated Graph Sequence Neural Networks" (ICLR 2016),
eq. (7), read out a graph as a gated sum of its nodes. :class:`AttentionalReadout` uses the
softmax-normalised form of that gate (as PyG's ``AttentionalAggregation``):

.. math::

    \\alpha_i = \\frac{\\exp(\\mathrm{gate}(x_i))}
                      {\\sum_{j \\in V_{g(i)}} \\exp(\\mathrm{gate}(x_j))},
    \\qquad r_g = \\sum_{i \\in V_g} \\alpha_i \\, \\mathrm{nn}(x_i).

The softmax runs within each graph (:func:`graph_softmax`) on the core's ``segment`` op, so it
is deterministic and compiles without graph breaks.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import index_from_ptr, segment

from .global_pool import check_readout_inputs

__all__ = ["AttentionalReadout", "graph_softmax"]


def graph_softmax(scores: Tensor, ptr: Tensor) -> Tensor:
    """Softmax of node scores within each graph: ``out[i] = exp(s_i) / Σ_{j in graph(i)} exp(s_j)``.

    Every column (head) is normalised on its own. Each graph's maximum is subtracted first
    (softmax is shift-invariant, so the result and its gradient are unchanged) so that large
    scores do not overflow ``exp``. Rows of a graph sum to 1; a graph without nodes has no rows.

    Args:
        scores: ``(N,)`` or ``(N, H)`` floating-point scores, graphs stored contiguously.
        ptr: ``(G + 1,)`` graph pointer; graph ``g`` is ``scores[ptr[g]:ptr[g+1]]``.

    Returns:
        Weights of the shape of ``scores``.

    Examples:
        >>> import torch
        >>> from gnnkit.nn.pool import graph_softmax
        >>> graph_softmax(torch.tensor([0.0, 0.0, 3.0]), torch.tensor([0, 2, 3])).tolist()
        [0.5, 0.5, 1.0]
    """
    scores, ptr = check_readout_inputs(scores, ptr)
    if scores.dim() > 2:
        raise ValueError(f"scores must be (N,) or (N, H), got shape {tuple(scores.shape)}")
    # node -> graph; total= gives repeat_interleave a static length under torch.compile
    graph_of = index_from_ptr(ptr, total=scores.shape[0], dtype=torch.long, check=False)
    # detach: the shift cancels in the softmax, so tracking its gradient is wasted work
    shift = segment(scores.detach(), ptr, "max").index_select(0, graph_of)
    exp = torch.exp(scores - shift)
    # Each non-empty graph's denominator is >= 1 (its maximum contributes exp(0)): no 0/0.
    return exp / segment(exp, ptr, "sum").index_select(0, graph_of)


class AttentionalReadout(torch.nn.Module):
    """Soft-attention readout (Li et al., 2016): ``r_g = Σ_{i∈g} softmax_g(gate(x))_i · nn(x_i)``.

    Args:
        gate_nn: maps ``x`` ``(N, F)`` to scores ``(N, 1)`` (one weight per node) or
            ``(N, F_out)`` (one weight per node and output feature).
        nn: optional map ``(N, F) -> (N, F_out)`` applied to the features before weighting;
            identity (``F_out = F``) if ``None``.

    Shapes:
        ``forward(x, ptr)``: ``x`` ``(N, F)``, ``ptr`` ``(G + 1,)`` → ``(G, F_out)``; a graph
        without nodes reads out as 0.

    Examples:
        >>> import torch
        >>> from gnnkit.nn.pool import AttentionalReadout
        >>> readout = AttentionalReadout(torch.nn.Linear(4, 1))
        >>> readout(torch.randn(5, 4), torch.tensor([0, 2, 5])).shape
        torch.Size([2, 4])
    """

    def __init__(self, gate_nn: torch.nn.Module, nn: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.gate_nn = gate_nn
        self.nn = nn

    def reset_parameters(self) -> None:
        """Re-initialise ``gate_nn`` and ``nn`` (every submodule with ``reset_parameters``)."""
        for module in (self.gate_nn, self.nn):
            if module is None:
                continue
            # every submodule that knows how to re-initialise itself (Linear, norms, ...)
            for child in module.modules():
                reset = getattr(child, "reset_parameters", None)
                if callable(reset):
                    reset()

    def forward(self, x: Tensor, ptr: Tensor) -> Tensor:
        """Read out ``(G, F_out)`` from node features ``x`` ``(N, F)`` and graph pointer ``ptr``."""
        x, ptr = check_readout_inputs(x, ptr)
        if x.dim() != 2:
            raise ValueError(f"x must be (N, F), got shape {tuple(x.shape)}")
        gate = self.gate_nn(x)
        values = x if self.nn is None else self.nn(x)
        if gate.dim() == 1:
            gate = gate.unsqueeze(-1)
        if gate.shape[0] != x.shape[0] or gate.dim() != 2 or gate.shape[1] not in (
            1,
            values.shape[-1],
        ):
            raise ValueError(
                f"gate_nn must map x {tuple(x.shape)} to (N, 1) or (N, F_out={values.shape[-1]}) "
                f"scores, got {tuple(gate.shape)}: end gate_nn with a Linear(..., 1)"
            )
        return segment(graph_softmax(gate, ptr) * values, ptr, "sum")

