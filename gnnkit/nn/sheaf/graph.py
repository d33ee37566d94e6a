"""The graph a sheaf lives on: a symmetric pattern without self loops, with reverse edges."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gnnkit.nn.conv.message_passing import GraphLike, as_sparse_matrix
from gnnkit.sparse import SparseMatrix

__all__ = ["SheafGraph"]


@dataclass(frozen=True)
class SheafGraph:
    r"""An undirected graph prepared for sheaf diffusion (Bodnar et al., NeurIPS 2022, §2).

    Every undirected edge :math:`e = \{i, j\}` is stored as the two entries ``(i, j)`` and
    ``(j, i)`` of one coalesced ``N × N`` pattern :attr:`adjacency` (row = target, column =
    source, no values). Entry ``k`` = ``(i, j)`` carries the restriction map
    :math:`\mathcal{F}_{i \trianglelefteq e}` of its *row* node ``i`` onto the edge; the map of
    the other end, :math:`\mathcal{F}_{j \trianglelefteq e}`, sits at entry
    :attr:`reverse` ``[k]`` = ``(j, i)``.

    Attributes:
        adjacency: ``N × N`` coalesced, symmetric pattern without self loops (``E`` entries,
            two per undirected edge).
        reverse: ``(E,)`` int64, the CSR position of the reversed entry of every entry.
        row: ``(E,)`` int64 row (target) of every entry; ``adjacency.col`` is the other end.
        degree: ``(N,)`` number of neighbours, as a float tensor of the caller's dtype.

    Build with :meth:`from_graph`. Self loops are dropped (a loop's restriction maps cancel in
    the sheaf Laplacian, :math:`\mathcal{F}^\top\mathcal{F} - \mathcal{F}^\top\mathcal{F}`,
    and the reference code removes them from its datasets); duplicate entries are merged.
    """

    adjacency: SparseMatrix
    reverse: Tensor
    row: Tensor
    degree: Tensor

    @property
    def num_nodes(self) -> int:
        return self.adjacency.num_rows

    @property
    def num_entries(self) -> int:
        """``E``: the number of stored (directed) entries, twice the number of edges."""
        return self.adjacency.nnz

    @classmethod
    def from_graph(cls, graph: GraphLike | SheafGraph, num_nodes: int | None = None,
                   dtype: torch.dtype = torch.float32) -> SheafGraph:
        """Prepare ``graph`` (a :class:`~gnnkit.sparse.SparseMatrix`, an ``edge_index`` or a
        PyG object; ``num_nodes`` for an ``edge_index``).

        Raises:
            ValueError: if the pattern is not symmetric (sheaf Laplacians are defined on
                undirected graphs): symmetrise it first, e.g. ``A.to_undirected()``.
        """
        if isinstance(graph, SheafGraph):
            return graph if graph.degree.dtype == dtype else cls(
                graph.adjacency, graph.reverse, graph.row, graph.degree.to(dtype))
        A = as_sparse_matrix(graph, num_nodes=num_nodes).matrix
        if A.num_rows != A.num_cols:
            raise ValueError(f"graph must be square (N × N), got shape {A.shape}")
        A = A.with_values(None).remove_self_loops().coalesce()
        row = A.row.long()
        col = A.col.long()
        # In a coalesced symmetric pattern the CSC order of the entries, sorted by (col, row),
        # lists the entries (i, j) in the CSR order of their reversals (j, i).
        reverse = A.csc().perm.long()
        if A.nnz and not (bool(torch.equal(col[reverse], row))
                          and bool(torch.equal(row[reverse], col))):
            raise ValueError(
                f"graph must be undirected (every edge (i, j) stored with (j, i)); this one "
                f"({A.nnz} entries after removing self loops and duplicates) is not: "
                "symmetrise it first, e.g. A.to_undirected() or torch_geometric's to_undirected")
        degree = A.degree().to(dtype)
        return cls(A, reverse, row, degree)
