"""Batches of many graphs as one disjoint-union graph: :class:`GraphBatch` and :func:`collate`.

A mini-batch of ``G`` small graphs (molecules, TU graphs) is one graph with ``N = Σ n_g`` nodes
whose adjacency is block-diagonal: graph ``g`` owns nodes ``ptr[g]:ptr[g+1]`` and no edge
crosses two graphs. Every message-passing layer then runs on the batch unchanged
(``conv(batch.x, batch.adj)``), and a readout (:mod:`gnnkit.nn.pool`) reduces each graph's
slice of node rows to one row with the core's ``segment`` op on ``batch.ptr``.

The adjacency follows gnnkit's orientation (row = target, column = source, see
:class:`gnnkit.sparse.SparseMatrix`). Because a graph's targets all lie in its own node range,
its edges are also contiguous in CSR order: :attr:`GraphBatch.edge_ptr` delimits them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from gnnkit.datasets import Graph, GraphDataset
from gnnkit.sparse import SparseMatrix, index_from_ptr, pair_keys, ptr_from_counts, ptr_from_index

__all__ = ["GraphBatch", "collate"]


def _describe(tensor: Tensor) -> str:
    return f"shape {tuple(tensor.shape)}, dtype {tensor.dtype}, device {tensor.device}"


def _concat_field(graphs: Sequence[Graph], name: str) -> Tensor | None:
    """Concatenate ``graph.<name>`` along dim 0, or ``None`` when no graph has it.

    Mixed presence, dtypes, trailing shapes or devices raise with the index of the first graph
    that disagrees with graph 0: ``torch.cat`` would either fail with a message that names no
    graph, or (dtypes) silently promote.
    """
    values = [getattr(g, name) for g in graphs]
    present = [v is not None for v in values]
    if not any(present):
        return None
    if not all(present):
        missing = present.index(False)
        having = present.index(True)
        raise ValueError(
            f"graphs[{missing}].{name} is None but graphs[{having}].{name} is set: every graph "
            f"of a batch needs {name}, or none does (drop it with graph.replace({name}=None))"
        )
    first: Tensor = values[0]
    for k, value in enumerate(values[1:], start=1):
        if (
            value.dtype != first.dtype
            or value.shape[1:] != first.shape[1:]
            or value.device != first.device
        ):
            raise ValueError(
                f"graphs[{k}].{name} ({_describe(value)}) does not match graphs[0].{name} "
                f"({_describe(first)}): a batch needs one dtype, one device and the same "
                f"trailing shape (..., {', '.join(map(str, first.shape[1:])) or '-'}); "
                f"convert with .to(...) before batching"
            )
    return torch.cat(values, dim=0)


def _block_diagonal(local: Tensor, ptr: Tensor, edge_counts: Tensor, num_nodes: int,
                    num_edges: int) -> tuple[SparseMatrix, Tensor]:
    """The block-diagonal ``(N, N)`` CSR of graphs whose ``(2, E)`` local edge lists are
    concatenated in ``local`` (graph ``g`` owns ``edge_counts[g]`` consecutive columns and
    nodes ``ptr[g]:ptr[g+1]``), and the input edge behind each CSR entry."""
    # Shift local ids to global ones: edge e of graph g gets offset ptr[g].
    offset = torch.repeat_interleave(ptr[:-1], edge_counts, output_size=num_edges)
    source, target = local[0] + offset, local[1] + offset
    # CSR order = stable sort by (target, source); it keeps duplicate edges in input order.
    order = torch.sort(pair_keys(target, source, num_nodes, num_nodes, check=False),
                       stable=True).indices
    rowptr = ptr_from_index(target, num_nodes, check=False)
    # validate=True costs one O(E) pass and records that columns are sorted within rows
    return SparseMatrix(rowptr, source[order], None, (num_nodes, num_nodes)), order


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GraphBatch:
    """``G`` graphs as one disjoint-union graph (an immutable value).

    Build it with :meth:`from_graphs` (or :func:`collate`, the same function for
    ``torch.utils.data.DataLoader``); the constructor takes already-consistent fields and
    performs no checks.

    Attributes:
        adj: ``(N, N)`` block-diagonal :class:`gnnkit.sparse.SparseMatrix` (row = target,
            column = source, values ``None``) with ``N = Σ_g n_g`` and ``nnz = E = Σ_g e_g``.
        batch: ``(N,)`` ``int64``: ``batch[i]`` is the graph of node ``i`` (non-decreasing).
        ptr: ``(G + 1,)`` ``int64`` node pointer: graph ``g`` owns nodes ``ptr[g]:ptr[g+1]``.
        x: ``(N, *F)`` node features (the graphs' ``x`` concatenated) or ``None``.
        edge_attr: ``(E, *D)`` edge features **in the CSR entry order of** ``adj`` (the order
            layers expect per-edge tensors in) or ``None``.
        y: ``(G, *T)`` graph targets (each graph's ``(1, *T)`` ``y`` concatenated) or ``None``.
        edge_order: ``(E,)`` ``int64``: CSR entry ``e`` of ``adj`` is edge ``edge_order[e]`` of
            the graphs' concatenated ``edge_index`` lists; :meth:`unbatch` uses it to give back
            each graph's edges in their original order.
    """

    adj: SparseMatrix
    batch: Tensor
    ptr: Tensor
    x: Tensor | None = None
    edge_attr: Tensor | None = None
    y: Tensor | None = None
    edge_order: Tensor | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_graphs(cls, graphs: Sequence[Graph]) -> GraphBatch:
        """Batch ``graphs`` into one block-diagonal graph.

        One pass over the list collects tensors; all edge work is vectorised: local ids are
        shifted by each graph's node offset (``repeat_interleave`` of ``ptr[:-1]`` over the
        edge counts), then one stable sort by ``(target, source)`` gives the CSR layout.

        Args:
            graphs: a non-empty sequence of :class:`gnnkit.datasets.Graph` (e.g. items of a
                :class:`gnnkit.datasets.GraphDataset`). Graphs with 0 nodes or 0 edges are
                allowed. Each ``y``, if any, must hold one row per graph: ``(1,)`` or
                ``(1, T)``, as graph-level datasets store it.

        Raises:
            ValueError: an empty sequence; ``x``/``edge_attr``/``y`` present on some graphs
                only, or with different dtypes, trailing shapes or devices; a ``y`` that is not
                one row per graph; node or edge splits (node-level data, not batched here).
            TypeError: an item that is not a ``Graph``.
        """
        if isinstance(graphs, Graph):
            raise TypeError("graphs must be a sequence of Graph, got a single Graph: wrap it "
                            "in a list, GraphBatch.from_graphs([graph])")
        graphs = list(graphs)
        if not graphs:
            raise ValueError("GraphBatch.from_graphs needs at least one graph, got an empty list")
        for k, graph in enumerate(graphs):
            if not isinstance(graph, Graph):
                raise TypeError(
                    f"graphs[{k}] must be a gnnkit.datasets.Graph, got {type(graph).__name__}"
                    " (convert a PyG Data with Graph.from_pyg(data))"
                )
            if graph.node_splits or graph.edge_splits:
                raise ValueError(
                    f"graphs[{k}] carries node/edge splits {sorted(graph.node_splits)}"
                    f"{sorted(graph.edge_splits)}; batches hold graph-level data only: drop "
                    "them with graph.replace(node_splits={}, edge_splits={})"
                )
            if graph.y is not None and (graph.y.dim() == 0 or graph.y.shape[0] != 1):
                raise ValueError(
                    f"graphs[{k}].y has shape {tuple(graph.y.shape)}; a batch stores one target "
                    "row per graph, so y must be (1,) or (1, T) (reshape a scalar with "
                    "y.view(1); node-level targets are not batched)"
                )
        device = graphs[0].edge_index.device
        for k, graph in enumerate(graphs):
            if graph.edge_index.device != device:
                raise ValueError(
                    f"graphs[{k}].edge_index is on {graph.edge_index.device} but graphs[0]'s is "
                    f"on {device}: move the graphs to one device first (graph.to(device))"
                )

        node_counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long, device=device)
        edge_counts = torch.tensor([g.num_edges for g in graphs], dtype=torch.long, device=device)
        ptr = ptr_from_counts(node_counts, check=False)
        num_nodes = sum(g.num_nodes for g in graphs)
        num_edges = sum(g.num_edges for g in graphs)
        batch = index_from_ptr(ptr, total=num_nodes, check=False)

        local = torch.cat([g.edge_index for g in graphs], dim=1)
        adj, order = _block_diagonal(local, ptr, edge_counts, num_nodes, num_edges)
        edge_attr = _concat_field(graphs, "edge_attr")
        return cls(
            adj=adj,
            batch=batch,
            ptr=ptr,
            x=_concat_field(graphs, "x"),
            edge_attr=None if edge_attr is None else edge_attr[order],
            y=_concat_field(graphs, "y"),
            edge_order=order,
        )

    @classmethod
    def from_dataset(cls, dataset: GraphDataset,
                     index: Tensor | Sequence[int] | None = None) -> GraphBatch:
        """The batch of the graphs ``index`` (all by default) of a collated ``dataset``.

        Equal to ``from_graphs([dataset[i] for i in index])`` field by field, but gathered
        from the dataset's flat tensors in one vectorised step (:meth:`GraphDataset.subset`)
        instead of building one validated :class:`Graph` per item: on ZINC batches of 128
        about 7× the throughput of item access + :meth:`from_graphs`
        (``benchmarks/results/graph-level-cpu.md``). The dataset already checked every local
        id, so nothing is re-checked per graph.

        Raises:
            ValueError: no graph selected.
            IndexError: an index outside the dataset.
        """
        if not isinstance(dataset, GraphDataset):
            raise TypeError(f"dataset must be a GraphDataset, got {type(dataset).__name__} "
                            "(batch a list of Graph with GraphBatch.from_graphs)")
        part = dataset if index is None else dataset.subset(index)
        if len(part) == 0:
            raise ValueError("GraphBatch.from_dataset needs at least one graph, got none")
        ptr = part.node_ptr
        num_nodes, num_edges = int(ptr[-1]), int(part.edge_index.shape[1])
        adj, order = _block_diagonal(part.edge_index, ptr, part.edge_ptr[1:] - part.edge_ptr[:-1],
                                     num_nodes, num_edges)
        return cls(adj=adj, batch=index_from_ptr(ptr, total=num_nodes, check=False), ptr=ptr,
                   x=part.x, edge_attr=None if part.edge_attr is None else part.edge_attr[order],
                   y=part.y, edge_order=order)

    # ------------------------------------------------------------------ facts
    @property
    def num_graphs(self) -> int:
        """``G``, the number of graphs in the batch."""
        return int(self.ptr.numel()) - 1

    @property
    def num_nodes(self) -> int:
        """``N``, the total number of nodes."""
        return int(self.batch.numel())

    @property
    def num_edges(self) -> int:
        """``E``, the total number of stored (directed) edges."""
        return int(self.adj.nnz)

    @property
    def node_counts(self) -> Tensor:
        """``(G,)`` ``int64`` node count of every graph."""
        return self.ptr[1:] - self.ptr[:-1]

    @property
    def edge_ptr(self) -> Tensor:
        """``(G + 1,)`` edge pointer: graph ``g`` owns CSR entries ``edge_ptr[g]:edge_ptr[g+1]``
        of ``adj`` (and rows of ``edge_attr``); it is ``adj.rowptr[ptr]``."""
        return self.adj.rowptr.long()[self.ptr]

    # ------------------------------------------------------------------ back to graphs
    def unbatch(self) -> list[Graph]:
        """The ``G`` graphs again, each with local node ids.

        ``x``, ``edge_attr``, ``y`` and the edge order of every graph equal those given to
        :meth:`from_graphs` (``Graph.equal`` holds); graph metadata is not kept.
        """
        adj = self.adj
        source, target = adj.col.long(), adj.row.long()
        edge_attr = self.edge_attr
        if self.edge_order is not None:  # back to the input order (inverse permutation)
            inverse = torch.empty_like(self.edge_order)
            inverse[self.edge_order] = torch.arange(
                self.edge_order.numel(), device=self.edge_order.device
            )
            source, target = source[inverse], target[inverse]
            edge_attr = None if edge_attr is None else edge_attr[inverse]
        edge_graph = self.batch[target]
        edge_counts = torch.bincount(edge_graph, minlength=self.num_graphs)
        edge_ptr = ptr_from_counts(edge_counts).tolist()
        node_ptr = self.ptr.tolist()
        graphs = []
        for g in range(self.num_graphs):
            n0, n1 = node_ptr[g], node_ptr[g + 1]
            e0, e1 = edge_ptr[g], edge_ptr[g + 1]
            graphs.append(
                Graph(
                    edge_index=torch.stack([source[e0:e1], target[e0:e1]]) - n0,
                    num_nodes=n1 - n0,
                    x=None if self.x is None else self.x[n0:n1],
                    edge_attr=None if edge_attr is None else edge_attr[e0:e1],
                    y=None if self.y is None else self.y[g : g + 1],
                )
            )
        return graphs

    # ------------------------------------------------------------------ devices
    def _map(self, tensor_fn: Any, matrix: SparseMatrix) -> GraphBatch:
        def move(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor_fn(tensor)

        return GraphBatch(
            adj=matrix,
            batch=tensor_fn(self.batch),
            ptr=tensor_fn(self.ptr),
            x=move(self.x),
            edge_attr=move(self.edge_attr),
            y=move(self.y),
            edge_order=move(self.edge_order),
        )

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> GraphBatch:
        """A new batch with every tensor (and ``adj``) on ``device``; ``self`` is untouched."""
        target = torch.device(device)
        return self._map(
            lambda t: t.to(target, non_blocking=non_blocking),
            self.adj.to(target, non_blocking=non_blocking),
        )

    def pin_memory(self) -> GraphBatch:
        """A new batch in page-locked memory (``DataLoader(pin_memory=True)`` calls this), so
        that ``.to("cuda", non_blocking=True)`` overlaps the copy with compute."""
        return self._map(lambda t: t.pin_memory(), self.adj.pin_memory())

    def __repr__(self) -> str:
        parts = [f"num_graphs={self.num_graphs}", f"num_nodes={self.num_nodes}",
                 f"num_edges={self.num_edges}"]
        for name in ("x", "edge_attr", "y"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={list(value.shape)}")
        return f"GraphBatch({', '.join(parts)})"


def collate(graphs: Sequence[Graph] | GraphDataset) -> GraphBatch:
    """``GraphBatch.from_graphs(graphs)``: the ``collate_fn`` for a ``DataLoader`` of graphs.

    A :class:`~gnnkit.datasets.GraphDataset` (what a ``DataLoader`` hands over when it fetches
    a whole batch through ``GraphDataset.__getitems__``) takes the vectorised
    :meth:`GraphBatch.from_dataset` path instead: same batch, no per-graph objects.

    Examples:
        >>> import torch
        >>> from gnnkit.datasets import Graph, GraphDataset
        >>> from gnnkit.data import collate
        >>> path = Graph(torch.tensor([[0, 1], [1, 2]]), num_nodes=3, y=torch.tensor([1]))
        >>> b = collate([path, Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
        ...                          y=torch.tensor([0]))])
        >>> b.num_graphs, b.ptr.tolist(), b.batch.tolist(), b.y.tolist()
        (2, [0, 3, 4], [0, 0, 0, 1], [1, 0])

    With a ``torch.utils.data.DataLoader`` (any ``Dataset`` whose items are ``Graph``, such as
    a :class:`gnnkit.datasets.GraphDataset`)::

        loader = DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=collate)
    """
    if isinstance(graphs, GraphDataset):
        return GraphBatch.from_dataset(graphs)
    return GraphBatch.from_graphs(graphs)
