"""Neural-network layers built on :mod:`gnnkit.sparse` (``nn`` uses ``sparse``, never the reverse).

``gnnkit.nn.conv`` holds the message-passing layers and aggregations; they are re-exported
here: ``from gnnkit.nn import GCNConv, GATConv``. ``GraphLike`` is the type of every layer's
graph argument; :mod:`gnnkit.nn.inits` holds the weight initialisers all layers use;
:mod:`gnnkit.nn.pool` the graph-level readouts (sum, mean, max, attention);
:mod:`gnnkit.nn.encoders` the input encoders (categorical embeddings such as OGB's atom and
bond encoders, ZINC's type embeddings, linear projections); :mod:`gnnkit.nn.recsys` the
recommenders (BPR sampling and loss, MF-BPR, LightGCN; imported on demand);
:mod:`gnnkit.nn.sheaf` the neural sheaf diffusion blocks (imported on demand).
"""

from __future__ import annotations

from . import encoders, inits, pool
from .conv import *  # noqa: F403
from .conv import __all__ as _conv_all

__all__ = [*_conv_all, "encoders", "inits", "pool"]
