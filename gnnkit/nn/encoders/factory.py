"""Node and edge encoders by name, as model configurations select them."""

from __future__ import annotations

import torch

from .categorical import CategoricalEncoder
from .linear import LinearEncoder
from .ogb import AtomEncoder, BondEncoder
from .zinc import ZincAtomEncoder, ZincBondEncoder

__all__ = ["EDGE_ENCODERS", "NODE_ENCODERS", "make_edge_encoder", "make_node_encoder"]

#: node encoders by name: OGB atoms (9 id columns), ZINC atom types (1), dense features
NODE_ENCODERS = ("ogb-atom", "zinc-atom", "linear")
#: edge encoders by name; ``"none"`` means the model ignores edge features
EDGE_ENCODERS = ("ogb-bond", "zinc-bond", "linear", "none")


def _check_columns(kind: str, name: str, encoder: CategoricalEncoder,
                   in_channels: int | None) -> None:
    # Caught here, at build time, rather than at the first forward: a configuration that pairs
    # an encoder with the wrong dataset fails before training starts.
    if in_channels is not None and in_channels != encoder.num_columns:
        raise ValueError(
            f"{kind} encoder {name!r} reads {encoder.num_columns} categorical column(s) "
            f"(vocabularies {list(encoder.vocab_sizes)}) but the data has {in_channels}: "
            f"choose the encoder of this dataset, or 'linear' for dense float features"
        )


def make_node_encoder(name: str, in_channels: int | None, out_channels: int) -> torch.nn.Module:
    """The node encoder called ``name`` (one of :data:`NODE_ENCODERS`), mapping ``x`` to
    ``(N, out_channels)``.

    Args:
        name: ``"ogb-atom"`` (:class:`~gnnkit.nn.encoders.ogb.AtomEncoder`), ``"zinc-atom"``
            (:class:`~gnnkit.nn.encoders.zinc.ZincAtomEncoder`) or ``"linear"``
            (:class:`~gnnkit.nn.encoders.linear.LinearEncoder` of dense float ``x``).
        in_channels: columns of ``x``; required for ``"linear"``, checked against the
            encoder's column count for the categorical ones (``None``: not checked).
        out_channels: output width.

    Raises:
        ValueError: an unknown name, or ``in_channels`` that does not fit the encoder.
    """
    if name == "linear":
        if in_channels is None:
            raise ValueError("the 'linear' node encoder needs in_channels (columns of x)")
        return LinearEncoder(in_channels, out_channels)
    encoders = {"ogb-atom": AtomEncoder, "zinc-atom": ZincAtomEncoder}
    if name not in encoders:
        raise ValueError(f"node encoder must be one of {list(NODE_ENCODERS)}, got {name!r}")
    encoder = encoders[name](out_channels)
    _check_columns("node", name, encoder, in_channels)
    return encoder


def make_edge_encoder(name: str, in_channels: int | None,
                      out_channels: int) -> torch.nn.Module | None:
    """The edge encoder called ``name`` (one of :data:`EDGE_ENCODERS`), mapping ``edge_attr``
    to ``(E, out_channels)``, or ``None`` for ``"none"``.

    Args:
        name: ``"ogb-bond"`` (:class:`~gnnkit.nn.encoders.ogb.BondEncoder`), ``"zinc-bond"``
            (:class:`~gnnkit.nn.encoders.zinc.ZincBondEncoder`), ``"linear"``
            (:class:`~gnnkit.nn.encoders.linear.LinearEncoder` of dense float ``edge_attr``)
            or ``"none"``.
        in_channels: columns of ``edge_attr`` (a ``(E,)`` vector counts as one); required for
            ``"linear"``, checked for the categorical ones (``None``: not checked).
        out_channels: output width.

    Raises:
        ValueError: an unknown name, or ``in_channels`` that does not fit the encoder.
    """
    if name == "none":
        return None
    if name == "linear":
        if not in_channels:
            raise ValueError("the 'linear' edge encoder needs edge_channels ≥ 1 (columns of "
                             f"edge_attr), got {in_channels!r}; without edge features use "
                             "edge_encoder='none'")
        return LinearEncoder(in_channels, out_channels)
    encoders = {"ogb-bond": BondEncoder, "zinc-bond": ZincBondEncoder}
    if name not in encoders:
        raise ValueError(f"edge encoder must be one of {list(EDGE_ENCODERS)}, got {name!r}")
    encoder = encoders[name](out_channels)
    _check_columns("edge", name, encoder, in_channels)
    return encoder
