"""OGB's atom and bond encoders for the ``ogbg-mol*`` datasets (9 atom, 3 bond columns)."""

from __future__ import annotations

from .categorical import CategoricalEncoder

__all__ = [
    "OGB_ATOM_COLUMNS",
    "OGB_ATOM_VOCAB_SIZES",
    "OGB_BOND_COLUMNS",
    "OGB_BOND_VOCAB_SIZES",
    "AtomEncoder",
    "BondEncoder",
]

# Vocabulary sizes of ogb.utils.features.get_atom_feature_dims() / get_bond_feature_dims()
# (ogb 1.3.x, ogb/utils/features.py): the lengths of its `allowable_features` lists, each
# ending in a 'misc' entry except the boolean ones. Written out here so that gnnkit does not
# import ogb; a test compares them with ogb's functions when ogb is installed.

#: column names of OGB's atom features, in ``x``'s column order
OGB_ATOM_COLUMNS = (
    "atomic_num", "chirality", "degree", "formal_charge", "num_hs", "num_radical_electrons",
    "hybridization", "is_aromatic", "is_in_ring",
)
#: vocabulary size of every atom column (= ``get_atom_feature_dims()``)
OGB_ATOM_VOCAB_SIZES = (119, 5, 12, 12, 10, 6, 6, 2, 2)
#: column names of OGB's bond features, in ``edge_attr``'s column order
OGB_BOND_COLUMNS = ("bond_type", "bond_stereo", "is_conjugated")
#: vocabulary size of every bond column (= ``get_bond_feature_dims()``)
OGB_BOND_VOCAB_SIZES = (5, 6, 2)


class AtomEncoder(CategoricalEncoder):
    r"""OGB's atom encoder: the sum of one embedding per atom-feature column,

    .. math::
        \mathbf{h}_i = \sum_{c=1}^{9} \mathbf{W}^{(c)}_{x_{i,c}},

    with the vocabularies :data:`OGB_ATOM_VOCAB_SIZES` and each table Glorot-uniform
    initialised (Hu et al., "Open Graph Benchmark", NeurIPS 2020;
    ``ogb.graphproppred.mol_encoder.AtomEncoder``).

    Parity: with the same weights the output equals OGB's. OGB's encoder silently uses only the
    first ``x.shape[1]`` tables when given fewer columns (the examples' ``--feature simple``
    keeps two); this one requires all nine and names the mismatch — for a column subset build
    ``CategoricalEncoder(OGB_ATOM_VOCAB_SIZES[:2], dim)`` explicitly. Out-of-vocabulary ids raise
    a ``ValueError`` naming the column instead of an ``IndexError``.

    Args:
        embedding_dim: output width ``D`` (``emb_dim`` in OGB).

    Shapes:
        ``x`` ``(N, 9)`` integer atom features (``ogb.utils.features.atom_to_feature_vector``)
        → ``(N, D)``.
    """

    def __init__(self, embedding_dim: int) -> None:
        super().__init__(OGB_ATOM_VOCAB_SIZES, embedding_dim, init="xavier_uniform",
                         column_names=OGB_ATOM_COLUMNS)

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}"


class BondEncoder(CategoricalEncoder):
    r"""OGB's bond encoder: the sum of one embedding per bond-feature column,

    .. math::
        \mathbf{e}_{ji} = \sum_{c=1}^{3} \mathbf{W}^{(c)}_{a_{ji,c}},

    with the vocabularies :data:`OGB_BOND_VOCAB_SIZES` and each table Glorot-uniform
    initialised (Hu et al., "Open Graph Benchmark", NeurIPS 2020;
    ``ogb.graphproppred.mol_encoder.BondEncoder``). Parity notes as for :class:`AtomEncoder`.

    Args:
        embedding_dim: output width ``D``.

    Shapes:
        ``edge_attr`` ``(E, 3)`` integer bond features
        (``ogb.utils.features.bond_to_feature_vector``) → ``(E, D)``.
    """

    def __init__(self, embedding_dim: int) -> None:
        super().__init__(OGB_BOND_VOCAB_SIZES, embedding_dim, init="xavier_uniform",
                         column_names=OGB_BOND_COLUMNS)

    def extra_repr(self) -> str:
        return f"embedding_dim={self.embedding_dim}"
