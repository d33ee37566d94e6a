"""What the three Laplacian builders share: the fixed-channel options and input checks."""

from __future__ import annotations

import torch
from torch import Tensor

from .fixed_channels import fixed_channels
from .graph import SheafGraph

__all__ = ["LaplacianBuilderBase"]


class LaplacianBuilderBase(torch.nn.Module):
    def __init__(self, d: int, *, normalise: bool = True, graph_laplacian_channel: bool = False,
                 signless_laplacian_channel: bool = False) -> None:
        super().__init__()
        if d < 1:
            raise ValueError(f"stalk dimension d must be positive, got {d}")
        self.d = d
        self.normalise = normalise
        self.graph_laplacian_channel = graph_laplacian_channel
        self.signless_laplacian_channel = signless_laplacian_channel

    @property
    def stalk_dim(self) -> int:
        """``D = d + k``: learnt dimensions plus fixed channels."""
        return self.d + int(self.graph_laplacian_channel) + int(self.signless_laplacian_channel)

    def extra_repr(self) -> str:
        return (f"d={self.d}, normalise={self.normalise}, "
                f"graph_laplacian_channel={self.graph_laplacian_channel}, "
                f"signless_laplacian_channel={self.signless_laplacian_channel}")

    def _fixed(self, graph: SheafGraph, dtype: torch.dtype) -> tuple[Tensor | None, Tensor | None]:
        fixed = fixed_channels(graph, signless_laplacian=self.signless_laplacian_channel,
                               graph_laplacian=self.graph_laplacian_channel,
                               normalise=self.normalise, dtype=dtype)
        return (None, None) if fixed is None else fixed

    @staticmethod
    def _check_maps(name: str, maps: Tensor, graph: SheafGraph, shape: tuple[int, ...]) -> None:
        if not isinstance(maps, Tensor) or not maps.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got "
                            f"{getattr(maps, 'dtype', type(maps).__name__)}")
        expected = (graph.num_entries, *shape)
        if tuple(maps.shape) != expected:
            raise ValueError(f"{name} must have shape (E, {', '.join(map(str, shape))}) = "
                             f"{expected} (one per stored entry of the graph), got "
                             f"{tuple(maps.shape)}")
