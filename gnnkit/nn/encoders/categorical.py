"""Sum of per-column embeddings for categorical node or edge features."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..inits import glorot

__all__ = ["EMBEDDING_INITS", "CategoricalEncoder"]

#: initialisations :class:`CategoricalEncoder` offers, per embedding table
EMBEDDING_INITS = ("xavier_uniform", "normal")


class CategoricalEncoder(torch.nn.Module):
    r"""One learnt embedding table per categorical column, summed over the columns:

    .. math::
        \mathbf{h}_i = \sum_{c=1}^{C} \mathbf{W}^{(c)}_{x_{i,c}}, \qquad
        \mathbf{W}^{(c)} \in \mathbb{R}^{V_c \times D}

    with :math:`V_c` the vocabulary size of column :math:`c`. This is the encoder of OGB's
    molecule baselines (Hu et al., "Open Graph Benchmark: Datasets for Machine Learning on
    Graphs", NeurIPS 2020, ``ogb.graphproppred.mol_encoder``); summing instead of concatenating
    keeps the width ``D`` independent of the number of columns.

    Every index is checked against its column's vocabulary before the lookup (eagerly; under
    ``torch.compile`` the check is skipped, as for the sparse core's index checks): an
    out-of-vocabulary value raises a ``ValueError`` naming the column, the row and the value,
    where ``torch.nn.Embedding`` would raise an ``IndexError`` without them (or, on a GPU, a
    device-side assert).

    Args:
        vocab_sizes: ``V_c`` for every column (each ≥ 1); their number is ``C``.
        embedding_dim: ``D``.
        init: ``"xavier_uniform"`` (Glorot-uniform per table, OGB's choice) or ``"normal"``
            (``N(0, 1)``, ``torch.nn.Embedding``'s default, used by benchmarking-gnns and the
            PyG/ESAN ZINC models).
        column_names: optional names of the columns, quoted in error messages.

    Shapes:
        ``x`` ``(N, C)`` integer category ids (``(N,)`` is accepted when ``C = 1``) →
        ``(N, D)`` in the dtype of the tables (``float64`` after ``.double()``).
    """

    def __init__(self, vocab_sizes: Sequence[int], embedding_dim: int, *,
                 init: str = "xavier_uniform", column_names: Sequence[str] | None = None) -> None:
        super().__init__()
        sizes = list(vocab_sizes)
        if not sizes:
            raise ValueError("vocab_sizes must name at least one column, got an empty sequence")
        for c, size in enumerate(sizes):
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(f"vocab_sizes[{c}] must be a positive int, got {size!r}")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) \
                or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be a positive int, got {embedding_dim!r}")
        if init not in EMBEDDING_INITS:
            raise ValueError(f"init must be one of {list(EMBEDDING_INITS)}, got {init!r}")
        names = None if column_names is None else list(column_names)
        if names is not None and len(names) != len(sizes):
            raise ValueError(f"column_names has {len(names)} names but vocab_sizes has "
                             f"{len(sizes)} columns")
        self.vocab_sizes: tuple[int, ...] = tuple(sizes)
        self.embedding_dim = embedding_dim
        self.init = init
        self.column_names: tuple[str, ...] | None = None if names is None else tuple(names)
        self.embeddings = torch.nn.ModuleList()
        # Create and initialise one table at a time, and draw "normal" tables only once (in
        # the Embedding constructor): with a fixed seed this consumes the random stream as OGB's
        # AtomEncoder/BondEncoder (or a plain nn.Embedding) do, so both draw the same weights.
        for size in sizes:
            table = torch.nn.Embedding(size, embedding_dim)
            if init != "normal":
                self._init_table(table)
            self.embeddings.append(table)
        # The vocabulary as a tensor for the vectorised range check; not persistent, so the
        # state dict holds the tables only. Integer buffers are kept by .double()/.half().
        self.register_buffer("_vocab", torch.tensor(sizes, dtype=torch.long), persistent=False)

    @property
    def num_columns(self) -> int:
        """``C``, the number of categorical columns."""
        return len(self.vocab_sizes)

    def _init_table(self, table: torch.nn.Embedding) -> None:
        if self.init == "xavier_uniform":
            glorot(table.weight)  # = torch.nn.init.xavier_uniform_ on a (V, D) table
        else:
            table.reset_parameters()  # N(0, 1)

    def reset_parameters(self) -> None:
        """Re-draw every table with :attr:`init`."""
        for table in self.embeddings:
            self._init_table(table)

    def _column(self, c: int) -> str:
        return f"column {c}" if self.column_names is None \
            else f"column {c} ({self.column_names[c]})"

    def _check(self, x: object) -> Tensor:
        """``x`` as an ``(N, C)`` int32/int64 tensor, or an error naming what is wrong."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} expects a tensor of category ids (N, {self.num_columns}), "
                            f"got {type(x).__name__}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name} expects integer category ids, got dtype {x.dtype}: these "
                            "are indices into embedding tables, not dense features (cast ids "
                            "stored as floats with x.long(); dense features need a linear "
                            "encoder)")
        if x.dim() == 1 and self.num_columns == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 2 or x.shape[1] != self.num_columns:
            raise ValueError(f"{name} expects ids of shape (N, {self.num_columns}) (one column "
                             f"per vocabulary {list(self.vocab_sizes)}), got shape "
                             f"{tuple(x.shape)}")
        if x.dtype not in (torch.int32, torch.int64):
            x = x.long()  # Embedding takes int32/int64 only
        if not torch.compiler.is_compiling() and x.numel() > 0:
            vocab = self._vocab.to(x.device)
            bad = (x < 0) | (x >= vocab)
            if bool(bad.any()):
                row, c = (int(v) for v in bad.nonzero()[0])
                raise ValueError(
                    f"{name}: {self._column(c)} holds {int(x[row, c])} at row {row}, outside "
                    f"its vocabulary 0..{self.vocab_sizes[c] - 1} (size {self.vocab_sizes[c]}); "
                    f"{int(bad[:, c].sum())} value(s) of this column are out of range. Check "
                    "that the features were built by the featuriser this encoder is for, in "
                    "its column order"
                )
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Category ids ``(N, C)`` (or ``(N,)`` for one column) → ``(N, D)``."""
        x = self._check(x)
        out = self.embeddings[0](x[:, 0])
        for c in range(1, self.num_columns):
            out = out + self.embeddings[c](x[:, c])
        return out

    def extra_repr(self) -> str:
        return (f"vocab_sizes={list(self.vocab_sizes)}, embedding_dim={self.embedding_dim}, "
                f"init={self.init!r}")
