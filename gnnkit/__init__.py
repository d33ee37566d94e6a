"""gnnkit: graph-neural-network layers on one sparse-tensor core with its own kernels."""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
