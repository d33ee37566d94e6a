"""Input encoders: node and edge features mapped to the model width before message passing.

* :mod:`.categorical` — :class:`CategoricalEncoder`, the sum of one embedding per categorical
  column, with an input check that names an out-of-vocabulary column and value.
* :mod:`.ogb` — :class:`AtomEncoder` / :class:`BondEncoder`, OGB's encoders for the
  ``ogbg-mol*`` datasets (9 atom and 3 bond columns, Glorot-uniform tables), with the
  vocabularies as constants.
* :mod:`.zinc` — :class:`ZincAtomEncoder` / :class:`ZincBondEncoder`, the atom-type (28) and
  bond-type (4) embeddings of benchmarking-gnns' ZINC.
* :mod:`.linear` — :class:`LinearEncoder`, a checked linear projection of dense features.
* :mod:`.factory` — the same by name (:data:`NODE_ENCODERS`, :data:`EDGE_ENCODERS`), as the
  graph-level models of :mod:`gnnkit.models` select them.
"""

from __future__ import annotations

from .categorical import EMBEDDING_INITS, CategoricalEncoder
from .factory import EDGE_ENCODERS, NODE_ENCODERS, make_edge_encoder, make_node_encoder
from .linear import LinearEncoder
from .ogb import (
    OGB_ATOM_COLUMNS,
    OGB_ATOM_VOCAB_SIZES,
    OGB_BOND_COLUMNS,
    OGB_BOND_VOCAB_SIZES,
    AtomEncoder,
    BondEncoder,
)
from .zinc import ZINC_NUM_ATOM_TYPES, ZINC_NUM_BOND_TYPES, ZincAtomEncoder, ZincBondEncoder

__all__ = [
    "EDGE_ENCODERS",
    "EMBEDDING_INITS",
    "NODE_ENCODERS",
    "OGB_ATOM_COLUMNS",
    "OGB_ATOM_VOCAB_SIZES",
    "OGB_BOND_COLUMNS",
    "OGB_BOND_VOCAB_SIZES",
    "ZINC_NUM_ATOM_TYPES",
    "ZINC_NUM_BOND_TYPES",
    "AtomEncoder",
    "BondEncoder",
    "CategoricalEncoder",
    "LinearEncoder",
    "ZincAtomEncoder",
    "ZincBondEncoder",
    "make_edge_encoder",
    "make_node_encoder",
]
