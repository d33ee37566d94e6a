"""Neural-network layers built on :mod:`gnnkit.sparse` (``nn`` uses ``sparse``, never the reverse).

``gnnkit.nn.conv`` holds the message-passing layers and aggregations; they are re-exported
here: ``from gnnkit.nn import GCNConv, GATConv``.
"""

from __future__ import annotations

from .conv import *  # noqa: F403
from .conv import __all__ as _conv_all

__all__ = list(_conv_all)
