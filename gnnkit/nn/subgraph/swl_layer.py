r"""One SWL layer: aggregation blocks summed, then batch norm and ReLU, :class:`SWLLayer`.

For a set :math:`\mathcal{A}` of aggregations (Zhang et al., 2023, §3 and its official code,
``Agg``):

.. math::

    h'(u, v) = \mathrm{ReLU}\Big(\mathrm{BN}\Big(\sum_{a \in \mathcal{A}}
    \mathrm{MLP}_a\big((1 + \epsilon_a)\, h(u, v) + a(h)(u, v)\big)\Big)\Big)

with one block per aggregation (:mod:`~gnnkit.nn.subgraph.swl_local` uL,
:mod:`~gnnkit.nn.subgraph.swl_root` vL, :mod:`~gnnkit.nn.subgraph.swl_diagonal` vv/uu,
:mod:`~gnnkit.nn.subgraph.swl_global` uG/vG). The SWL family of the paper:
SSWL = {uL, vL}, SSWL+ = {uL, vL, vv}, PSWL = {uL, vv}, GSWL = {uL, vG}, SWL = {uL}.

Reference:
    Zhang, Feng, Du, He (2023). *A Complete Expressiveness Hierarchy for Subgraph GNNs via
    Subgraph Weisfeiler-Lehman Tests.* ICML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import SubgraphBatch
from gnnkit.nn.inits import reset

from .swl_block import SWL_AGGREGATIONS, SWLBlock
from .swl_diagonal import SWLDiagonalBlock
from .swl_global import SWLGlobalBlock
from .swl_local import SWLLocalBlock
from .swl_root import SWLRootBlock

__all__ = ["SWLLayer"]


class SWLLayer(torch.nn.Module):
    """Blocks of the given aggregations, summed, then BN and ReLU (see the module docstring).

    Args:
        in_channels: width ``F`` of ``h``.
        out_channels: output width ``F'``.
        aggregations: names from :data:`~gnnkit.nn.subgraph.swl_block.SWL_AGGREGATIONS`,
            without repeats (e.g. ``("uL", "vL", "vv")`` for SSWL+).
        edge_encoder: a factory called once per local block (uL, vL) that returns its edge
            encoder ``edge_attr (E, *) → (E, F)``, or ``None`` for no edge features.
        root_term: the ``(1 + ε)·h`` term in every block (off for the readout layer).
        norm: batch norm before the ReLU (the official ``NormReLU``).

    Shapes:
        ``forward(bag, h)``: ``h`` ``(P, F)`` → ``(P, F')``.
    """

    def __init__(self, in_channels: int, out_channels: int, aggregations: Sequence[str], *,
                 edge_encoder: Callable[[], torch.nn.Module] | None = None,
                 root_term: bool = True, norm: bool = True) -> None:
        super().__init__()
        aggregations = tuple(aggregations)
        unknown = [a for a in aggregations if a not in SWL_AGGREGATIONS]
        if unknown or not aggregations or len(set(aggregations)) != len(aggregations):
            raise ValueError(f"aggregations must be distinct names from "
                             f"{list(SWL_AGGREGATIONS)}, at least one, got {list(aggregations)}")
        self.aggregations = aggregations
        blocks: dict[str, SWLBlock] = {}
        for name in aggregations:
            options = {"root_term": root_term}
            if name in ("uL", "vL"):
                cls = SWLLocalBlock if name == "uL" else SWLRootBlock
                blocks[name] = cls(in_channels, out_channels, **options,
                                   edge_encoder=None if edge_encoder is None else edge_encoder())
            elif name in ("vv", "uu"):
                blocks[name] = SWLDiagonalBlock(in_channels, out_channels, name, **options)
            else:
                blocks[name] = SWLGlobalBlock(in_channels, out_channels, name, **options)
        self.blocks = torch.nn.ModuleDict(blocks)
        self.norm = torch.nn.BatchNorm1d(out_channels) if norm else None

    def reset_parameters(self) -> None:
        """Reset every block and the batch norm."""
        for block in self.blocks.values():
            reset(block)
        reset(self.norm)

    def forward(self, bag: SubgraphBatch, h: Tensor) -> Tensor:
        """``ReLU(BN(Σ_a block_a(h)))``, ``(P, F)`` → ``(P, F')``."""
        out = None
        for block in self.blocks.values():
            term = block(bag, h)
            out = term if out is None else out + term
        assert out is not None
        if self.norm is not None:
            out = self.norm(out)
        return F.relu(out)

    def extra_repr(self) -> str:
        return f"aggregations={list(self.aggregations)}"
