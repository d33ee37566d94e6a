"""Atom-type and bond-type embeddings for ZINC (benchmarking-gnns' ZINC-12k / PyG ``ZINC``)."""

from __future__ import annotations

from .categorical import CategoricalEncoder

__all__ = ["ZINC_NUM_ATOM_TYPES", "ZINC_NUM_BOND_TYPES", "ZincAtomEncoder", "ZincBondEncoder"]

#: size of benchmarking-gnns' ZINC atom dictionary (``atom_dict.pickle``: 'C', 'O', 'N', 'F',
#: 'C H1', …, 'P H1 +'); ZINC-12k uses ids 0–20 of it, the full ZINC all 28
ZINC_NUM_ATOM_TYPES = 28
#: size of its bond dictionary (``bond_dict.pickle``: NONE, SINGLE, DOUBLE, TRIPLE); the
#: molecules are kekulised, so the data holds 1–3 and 0 (NONE) never occurs
ZINC_NUM_BOND_TYPES = 4


class ZincAtomEncoder(CategoricalEncoder):
    r"""Embedding of ZINC's atom type, :math:`\mathbf{h}_i = \mathbf{W}_{x_i}` with
    :math:`\mathbf{W} \in \mathbb{R}^{28 \times D}` (Dwivedi et al., "Benchmarking Graph Neural
    Networks", JMLR 2023: ``nn.Embedding(num_atom_type, hidden_dim)`` with
    ``num_atom_type = 28``).

    Parity: initialised ``N(0, 1)`` like ``torch.nn.Embedding`` (benchmarking-gnns, PyG's ZINC
    examples and ESAN do not re-initialise). PyG's examples and ESAN size the table 21 (the
    types that occur in ZINC-12k); pass ``num_types=21`` to match their parameter count.
    Either size embeds every ZINC-12k atom.

    Args:
        embedding_dim: output width ``D``.
        num_types: vocabulary size (default :data:`ZINC_NUM_ATOM_TYPES`).

    Shapes:
        ``x`` ``(N, 1)`` or ``(N,)`` integer atom types (``read_zinc``'s ``x``) → ``(N, D)``.
    """

    def __init__(self, embedding_dim: int, *, num_types: int = ZINC_NUM_ATOM_TYPES) -> None:
        super().__init__((num_types,), embedding_dim, init="normal", column_names=("atom_type",))

    def extra_repr(self) -> str:
        return f"num_types={self.vocab_sizes[0]}, embedding_dim={self.embedding_dim}"


class ZincBondEncoder(CategoricalEncoder):
    r"""Embedding of ZINC's bond type, :math:`\mathbf{e}_{ji} = \mathbf{W}_{a_{ji}}` with
    :math:`\mathbf{W} \in \mathbb{R}^{4 \times D}` (benchmarking-gnns ``num_bond_type = 4``;
    ``Embedding(4, D)`` in PyG's ZINC examples and ESAN's ``ZINCGINConv``).

    Parity: ``N(0, 1)`` initialisation, as ``torch.nn.Embedding``.

    Args:
        embedding_dim: output width ``D``.

    Shapes:
        ``edge_attr`` ``(E,)`` or ``(E, 1)`` integer bond types (1 single, 2 double, 3 triple)
        → ``(E, D)``.
    """

    def __init__(self, embedding_dim: int) -> None:
        super().__init__((ZINC_NUM_BOND_TYPES,), embedding_dim, init="normal",
                         column_names=("bond_type",))

    def extra_repr(self) -> str:
        return f"num_types={self.vocab_sizes[0]}, embedding_dim={self.embedding_dim}"
