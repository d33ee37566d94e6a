"""Graph generators and independent oracles shared by the sparse-core tests.

The oracles here are deliberately naive (Python loops over edges, dense matmuls built from the
raw edge list) and never call gnnkit: they are what the kernels are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import Tensor

from gnnkit.sparse import SparseMatrix


@dataclass(frozen=True)
class EdgeList:
    """Raw COO entries ``(row[e], col[e])`` (row = target) of an ``M × N`` matrix."""

    num_rows: int
    num_cols: int
    row: Tensor
    col: Tensor

    @property
    def nnz(self) -> int:
        return self.row.numel()

    def matrix(self, values: Tensor | None = None) -> SparseMatrix:
        return SparseMatrix.from_coo(self.row, self.col, values, (self.num_rows, self.num_cols))


def make_graph(kind: str, num_rows: int, num_cols: int, nnz: int, seed: int) -> EdgeList:
    """Random and adversarial patterns.

    ``uniform``: random entries (duplicates possible); ``heavy``: half the entries in one row;
    ``duplicates``: every entry stored twice; ``loops``: includes every diagonal entry;
    ``empty``: no entries at all.
    """
    g = torch.Generator().manual_seed(seed)
    if kind == "empty" or num_rows == 0 or num_cols == 0:
        z = torch.zeros(0, dtype=torch.long)
        return EdgeList(num_rows, num_cols, z, z.clone())
    row = torch.randint(0, num_rows, (nnz,), generator=g)
    col = torch.randint(0, num_cols, (nnz,), generator=g)
    if kind == "heavy":
        row[: nnz // 2 + 1] = int(torch.randint(0, num_rows, (1,), generator=g))
    elif kind == "duplicates":
        row, col = torch.cat([row, row]), torch.cat([col, col])
    elif kind == "loops":
        diagonal = torch.arange(min(num_rows, num_cols))
        row, col = torch.cat([row, diagonal]), torch.cat([col, diagonal])
    elif kind != "uniform":
        raise ValueError(kind)
    return EdgeList(num_rows, num_cols, row, col)


KINDS = ("uniform", "heavy", "duplicates", "loops", "empty")


@st.composite
def graphs(
    draw: st.DrawFn, max_nodes: int = 12, max_nnz: int = 40, square: bool = False
) -> EdgeList:
    kind = draw(st.sampled_from(KINDS))
    num_rows = draw(st.integers(0, max_nodes))
    num_cols = num_rows if square else draw(st.integers(0, max_nodes))
    nnz = draw(st.integers(0, max_nnz))
    seed = draw(st.integers(0, 2**16))
    return make_graph(kind, num_rows, num_cols, nnz, seed)


def messages(graph: EdgeList, values: Tensor | None, x: Tensor) -> list[list[Tensor]]:
    """Per target row, the list of messages ``values[e] * x[col[e]]`` (python loop)."""
    per_row: list[list[Tensor]] = [[] for _ in range(graph.num_rows)]
    for e in range(graph.nnz):
        i, j = int(graph.row[e]), int(graph.col[e])
        if values is None:
            m = x[j]
        elif values.dim() == 1:
            m = values[e] * x[j]
        elif values.dim() == 2:
            m = values[e].unsqueeze(-1) * x[j]
        else:
            m = values[e] @ x[j]
        per_row[i].append(m)
    return per_row


def spmm_oracle(graph: EdgeList, values: Tensor | None, x: Tensor, reduce: str) -> Tensor:
    """Naive ``spmm``: loop over rows, reduce each row's messages; empty rows give zeros."""
    per_row = messages(graph, values, x)
    if values is not None and values.dim() == 3:
        item_shape = (values.shape[1], *x.shape[2:])
    else:
        item_shape = tuple(x.shape[1:])
    out = []
    for msgs in per_row:
        if not msgs:
            out.append(torch.zeros(item_shape, dtype=x.dtype))
            continue
        stacked = torch.stack(msgs)
        if reduce == "sum":
            out.append(stacked.sum(0))
        elif reduce == "mean":
            out.append(stacked.mean(0))
        elif reduce == "max":
            out.append(stacked.max(0).values)
        else:
            out.append(stacked.min(0).values)
    if not out:
        return torch.zeros((0, *item_shape), dtype=x.dtype)
    return torch.stack(out)


def dense_from_edges(
    graph: EdgeList, values: Tensor | None = None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Dense matrix with duplicates summed, built directly from the raw edge list."""
    dense = torch.zeros(graph.num_rows, graph.num_cols, dtype=dtype)
    for e in range(graph.nnz):
        v = 1.0 if values is None else float(values[e])
        dense[int(graph.row[e]), int(graph.col[e])] += v
    return dense


def csr_order(graph: EdgeList) -> Tensor:
    """Permutation from the raw edge order to gnnkit's CSR order (sorted by row, then col,
    stable) — computed independently with Python's sort."""
    keys = sorted(range(graph.nnz), key=lambda e: (int(graph.row[e]), int(graph.col[e]), e))
    return torch.tensor(keys, dtype=torch.long)


# ------------------------------------------------------------- graphs for row-pair set ops
def hub_graph(num_nodes: int = 40, seed: int = 0) -> EdgeList:
    """Undirected random graph with a hub adjacent to every node (twice: duplicates), an
    isolated node (the last) and a self loop on node 1: the adversarial rows of the row-pair
    ops (``intersect_aggregate``, ``difference_aggregate``)."""
    g = torch.Generator().manual_seed(seed)
    m = 3 * num_nodes
    src = torch.randint(0, num_nodes - 1, (m,), generator=g)
    dst = torch.randint(0, num_nodes - 1, (m,), generator=g)
    others = torch.arange(1, num_nodes - 1)
    hub = torch.zeros_like(others)
    src = torch.cat([src, hub, hub, torch.tensor([1])])
    dst = torch.cat([dst, others, others, torch.tensor([1])])
    row, col = torch.cat([dst, src]), torch.cat([src, dst])
    return EdgeList(num_nodes, num_nodes, row, col)


#: the graphs the row-pair op tests run on (hub rows, duplicates, self loops, rectangular,
#: no edges, no columns)
PAIR_GRAPHS = {
    "hub": lambda: hub_graph(),
    "uniform": lambda: make_graph("uniform", 30, 30, 150, seed=1),
    "duplicates": lambda: make_graph("duplicates", 20, 20, 70, seed=2),
    "loops": lambda: make_graph("loops", 15, 15, 40, seed=3),
    "rectangular": lambda: make_graph("heavy", 12, 25, 80, seed=4),
    "no_edges": lambda: make_graph("empty", 6, 6, 0, seed=0),
    "no_columns": lambda: EdgeList(5, 0, torch.zeros(0, dtype=torch.long),
                                   torch.zeros(0, dtype=torch.long)),
}
