"""Small reference models composed from :mod:`gnnkit.nn` layers (used by the benchmarks)."""

from __future__ import annotations

from .gat import GAT
from .gcn import GCN

__all__ = ["GAT", "GCN"]
