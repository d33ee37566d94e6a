"""The message-passing base class and the one helper that turns any graph input into a matrix.

Every layer of :mod:`gnnkit.nn.conv` accepts its graph in one of three forms and hands it to
:func:`as_sparse_matrix`, which returns a :class:`GraphInput`:

* a :class:`gnnkit.sparse.SparseMatrix` ``A`` of shape ``(num_targets, num_sources)`` (row =
  target, column = source; its values, if any, are edge weights). Per-edge features must then
  be given in ``A``'s CSR entry order;
* an ``edge_index`` ``(2, E)`` integer tensor in PyG's convention (row 0 = source, row 1 =
  target), optionally with ``edge_weight`` ``(E,)`` and/or ``edge_attr`` ``(E, D)``; the number
  of nodes comes from the node features (or ``num_nodes``);
* a PyG object: a ``Data`` (or gnnkit ``Graph``, or anything with ``edge_index`` and
  ``num_nodes``; its ``edge_weight``/``edge_attr`` attributes are used when the call does not
  pass them), an ``EdgeIndex``, a ``torch_sparse.SparseTensor`` ``adj_t`` or a torch sparse
  tensor (``adj_t`` orientation: row = target).

Edges given as ``edge_index`` are ordered by (target, source) with a stable sort, so duplicates
keep their relative order and per-edge tensors are permuted the same way.

The type of such a graph argument is :data:`GraphLike`.

Under ``torch.compile(fullgraph=True)`` pass a ready :class:`SparseMatrix` built (and with
``A.csc()`` called) outside the compiled region: building a matrix reads index values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeAlias, TypeVar, overload

import torch
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    from_pyg,
    from_torch_sparse,
    pair_keys,
    ptr_from_index,
    spmm,
)

from .aggr import Aggregation, SumAggregation, resolve_aggregation

__all__ = [
    "GraphCache",
    "GraphCacheOwner",
    "GraphInput",
    "GraphLike",
    "HasEdgeIndex",
    "MessagePassing",
    "SelfLoopCache",
    "SparseTensorLike",
    "as_sparse_matrix",
    "check_features",
    "check_node_features",
    "node_counts",
    "num_nodes_of",
    "pair",
    "project",
    "with_self_loops",
]

Shape = tuple[int, int]


class HasEdgeIndex(Protocol):
    """A graph object carrying an ``edge_index`` ``(2, E)``: PyG's ``Data``/``Batch``, gnnkit's
    ``Graph``. Its ``edge_weight``/``edge_attr``/``num_nodes`` (or ``adj_t``) are used too."""

    @property
    def edge_index(self) -> Tensor: ...


class SparseTensorLike(Protocol):
    """``torch_sparse.SparseTensor`` (an ``adj_t``: row = target), read through ``csr()``."""

    def csr(self) -> tuple[Tensor, Tensor, Tensor | None]: ...


#: What every layer's ``graph`` argument accepts: a :class:`~gnnkit.sparse.SparseMatrix`
#: ``(num_targets, num_sources)``; an ``edge_index`` ``(2, E)`` tensor (also PyG's
#: ``EdgeIndex``) or a torch sparse ``adj_t`` tensor; a PyG ``Data``-like object
#: (:class:`HasEdgeIndex`); or a ``torch_sparse.SparseTensor`` (:class:`SparseTensorLike`).
GraphLike: TypeAlias = SparseMatrix | Tensor | HasEdgeIndex | SparseTensorLike


@dataclass(frozen=True)
class GraphInput:
    """A graph ready for a layer.

    Attributes:
        matrix: ``(num_targets, num_sources)`` :class:`SparseMatrix`; values = edge weights or
            ``None``.
        edge_attr: per-entry edge features ``(nnz, ...)`` in ``matrix``'s CSR order, or ``None``.
    """

    matrix: SparseMatrix
    edge_attr: Tensor | None = None


def pair(x: Tensor | tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
    """``(x_source, x_target)`` from one feature tensor (same nodes) or a bipartite pair."""
    if isinstance(x, Tensor):
        return x, x
    if isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[0], Tensor):
        if x[1] is not None and not isinstance(x[1], Tensor):
            raise TypeError(f"x[1] must be a Tensor or None, got {type(x[1]).__name__}")
        return x[0], x[1]
    raise TypeError("x must be a Tensor or a pair (x_source, x_target) of Tensors, "
                    f"got {type(x).__name__}")


def _check_per_edge(name: str, tensor: Any, count: int, device: torch.device) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() == 0 or tensor.shape[0] != count:
        raise ValueError(f"{name} must have one row per edge ({count}), got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device} but the graph is on {device}")
    return tensor


def _resolve_shape(shape: Shape | None, num_nodes: int | None) -> Shape | None:
    if num_nodes is not None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 0:
            raise ValueError(f"num_nodes must be a non-negative int, got {num_nodes!r}")
        return (num_nodes, num_nodes)
    return shape


def _from_edge_index(edge_index: Tensor, shape: Shape | None, edge_weight: Tensor | None,
                     edge_attr: Tensor | None) -> GraphInput:
    if edge_index.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"edge_index must be an int64 or int32 tensor, got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    num_edges = edge_index.shape[1]
    source, target = edge_index[0], edge_index[1]
    if shape is None:
        n = int(edge_index.max()) + 1 if num_edges else 0
        shape = (n, n)
    num_targets, num_sources = shape
    for name, index, bound, role in (("edge_index[0]", source, num_sources, "sources"),
                                     ("edge_index[1]", target, num_targets, "targets")):
        if num_edges and (int(index.min()) < 0 or int(index.max()) >= bound):
            raise ValueError(f"{name} ({role}) must lie in [0, {bound}), found "
                             f"{int(index.min())} … {int(index.max())}")
    if edge_weight is not None:
        edge_weight = _check_per_edge("edge_weight", edge_weight, num_edges, edge_index.device)
        if edge_weight.dim() != 1 or not edge_weight.is_floating_point():
            raise ValueError("edge_weight must be a 1-D floating tensor of shape (E,), got "
                             f"{edge_weight.dtype} {tuple(edge_weight.shape)}")
    if edge_attr is not None:
        edge_attr = _check_per_edge("edge_attr", edge_attr, num_edges, edge_index.device)
    # Stable (target, source) order = the CSR order of the matrix; per-edge data follows it.
    # Ranges were checked above, so the index helpers need not read the indices again.
    key = pair_keys(target, source, num_targets, num_sources, check=False)
    order = torch.sort(key, stable=True).indices
    rowptr = ptr_from_index(target[order], num_targets, check=False)
    matrix = SparseMatrix(rowptr, source[order].contiguous(),
                          None if edge_weight is None else edge_weight[order],
                          (num_targets, num_sources))
    return GraphInput(matrix, None if edge_attr is None else edge_attr[order])


def as_sparse_matrix(
    graph: GraphLike,
    *,
    shape: Shape | None = None,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    edge_attr: Tensor | None = None,
) -> GraphInput:
    """Normalise any supported graph input (see the module docstring) into a :class:`GraphInput`.

    Args:
        graph: ``SparseMatrix``, ``edge_index`` ``(2, E)``, or a PyG object.
        shape: expected ``(num_targets, num_sources)`` (layers pass the sizes of their node
            features); a matrix of another shape is an error.
        num_nodes: square shape ``(num_nodes, num_nodes)``; overrides ``shape``.
        edge_weight: ``(E,)`` weights for an ``edge_index`` (the matrix's values).
        edge_attr: ``(E, D)`` edge features, in the order of ``edge_index`` — or in CSR order
            when ``graph`` is a ``SparseMatrix``.

    Raises:
        TypeError: for unsupported input types, naming the argument.
        ValueError: for wrong shapes, out-of-range indices or mismatched devices.
    """
    shape = _resolve_shape(shape, num_nodes)
    if isinstance(graph, SparseMatrix):
        if edge_weight is not None:
            raise ValueError("edge_weight cannot be combined with a SparseMatrix: put the "
                             "weights in the matrix (A.with_values(weights))")
        if shape is not None and tuple(graph.shape) != tuple(shape):
            raise ValueError(f"the SparseMatrix has shape {graph.shape} but the node features "
                             f"need (num_targets, num_sources) = {tuple(shape)}")
        if edge_attr is not None:
            edge_attr = _check_per_edge("edge_attr", edge_attr, graph.nnz, graph.device)
        return GraphInput(graph, edge_attr)
    if isinstance(graph, Tensor):
        if graph.layout != torch.strided:
            return as_sparse_matrix(from_torch_sparse(graph), shape=shape,
                                    edge_weight=edge_weight, edge_attr=edge_attr)
        if type(graph).__name__ == "EdgeIndex":  # PyG's EdgeIndex subclasses Tensor
            graph = graph.as_tensor()  # type: ignore[attr-defined]
        return _from_edge_index(graph, shape, edge_weight, edge_attr)
    kind = type(graph).__name__
    if kind == "SparseTensor":
        return as_sparse_matrix(from_pyg(graph), shape=shape, edge_weight=edge_weight,
                                edge_attr=edge_attr)
    if getattr(graph, "adj_t", None) is not None:
        return as_sparse_matrix(from_pyg(graph.adj_t), shape=shape, edge_weight=edge_weight,
                                edge_attr=edge_attr)
    edge_index = getattr(graph, "edge_index", None)
    if isinstance(edge_index, Tensor):
        if edge_weight is None:
            edge_weight = getattr(graph, "edge_weight", None)
        if edge_attr is None:
            edge_attr = getattr(graph, "edge_attr", None)
        n = getattr(graph, "num_nodes", None)
        if shape is None and n is not None:
            shape = (int(n), int(n))
        if type(edge_index).__name__ == "EdgeIndex":
            edge_index = edge_index.as_tensor()
        return _from_edge_index(edge_index, shape, edge_weight, edge_attr)
    raise TypeError(
        f"graph must be a gnnkit SparseMatrix, an edge_index tensor (2, E), a PyG Data / "
        f"EdgeIndex / SparseTensor or a torch sparse tensor; got {kind}"
    )


def with_self_loops(A: SparseMatrix) -> SparseMatrix:
    """``A`` without its diagonal entries, plus exactly one loop per node (value ``None``).

    This is PyG's ``remove_self_loops`` + ``add_self_loops`` (used by GAT/GATv2): for a
    rectangular ``M × N`` matrix the first ``min(M, N)`` nodes get a loop. Values are dropped
    (the result is a pattern). Not traceable by ``torch.compile``: build it outside.
    """
    return A.with_values(None).remove_self_loops().add_self_loops()


V = TypeVar("V")


def _map_state(value: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    """``value`` (a tensor, a :class:`SparseMatrix`, ``None`` or a tuple of them) with ``fn``
    — the function ``Module._apply`` maps over parameters — applied to every tensor.

    Index tensors keep their dtype (``fn`` only casts floating tensors, except for
    ``Module.type``, which is ignored for them) but follow a device move.
    """
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_map_state(item, fn) for item in value)
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, SparseMatrix):
        device = fn(value.rowptr[:1]).device  # where fn sends tensors (probe: one element)
        moved = value if device == value.device else value.to(device)
        return moved.with_values(None if value.values is None else fn(value.values))
    raise TypeError(f"cannot move cached layer state of type {type(value).__name__}")


class GraphCache(Generic[V]):
    """Graph-derived state a layer keeps between calls (a normalised matrix, a pattern with
    self loops), which must follow the module through ``.to()``, ``.double()``, ``.half()``,
    ``.cuda()``: a :class:`GraphCacheOwner` (e.g. :class:`MessagePassing`) calls :meth:`apply`
    from ``Module._apply`` on every :class:`GraphCache` attribute.

    ``key`` identifies the input the value was derived from (compared by identity, held by a
    strong reference so it cannot be recycled); ``None`` means "any input" (PyG's
    ``cached=True``: the first graph is used for all later calls). After a device move a keyed
    entry is dropped (inputs on the new device are new objects anyway); an unkeyed one moves.
    """

    __slots__ = ("_key", "_value")

    def __init__(self) -> None:
        self._key: object = None
        self._value: V | None = None

    def get(self, key: object = None) -> V | None:
        """The cached value if it was stored under ``key`` (identity), else ``None``."""
        if self._value is not None and self._key is key:
            return self._value
        return None

    def put(self, value: V, key: object = None) -> V:
        """Store ``value`` under ``key`` and return it."""
        self._key, self._value = key, value
        return value

    def clear(self) -> None:
        self._key = self._value = None

    def apply(self, fn: Callable[[Tensor], Tensor]) -> None:
        """Map ``fn`` over the cached tensors (called by ``Module._apply``)."""
        if self._value is None:
            return
        with torch.no_grad():  # a cast/move of cached state is not part of any model graph
            moved = _map_state(self._value, fn)
        first = moved[0] if isinstance(moved, tuple) else moved
        old = self._value[0] if isinstance(self._value, tuple) else self._value
        if self._key is not None and first.device != old.device:
            self.clear()
        else:
            self._value = moved


class SelfLoopCache(GraphCache[SparseMatrix]):
    """:func:`with_self_loops` of the last matrix seen, reused while the same structure comes
    back (full-graph training calls a layer with one matrix every epoch).

    The key is the matrix's immutable index structure (and shape), so a hit is always the
    same graph; the values are dropped anyway. The rebuilt pattern's CSC (needed by backward
    passes) is computed once, here.
    """

    __slots__ = ()

    def __call__(self, A: SparseMatrix) -> SparseMatrix:
        value = self.get(A.structure)
        if value is not None and value.shape == A.shape:
            return value
        value = with_self_loops(A)
        value.csc()
        return self.put(value, A.structure)


_Owner = TypeVar("_Owner", bound="GraphCacheOwner")


class GraphCacheOwner(torch.nn.Module):
    """Base for modules that keep graph-derived state in :class:`GraphCache` attributes.

    ``Module._apply`` (behind ``.to()``, ``.double()``, ``.half()``, ``.cuda()``) maps only
    parameters and buffers; a cache is neither, so without this a cached float32 matrix
    would meet float64 weights, or stay on the old device. Every :class:`GraphCache` found
    among the module's attributes is mapped with the same function. Used by
    :class:`MessagePassing` and by the link predictors (:mod:`gnnkit.nn.linkpred`).
    """

    def graph_caches(self) -> Iterator[GraphCache[Any]]:
        """The module's own :class:`GraphCache` attributes (children are not included: their
        ``_apply`` runs through ``Module._apply``'s recursion)."""
        return (value for value in vars(self).values() if isinstance(value, GraphCache))

    def clear_graph_caches(self) -> None:
        """Drop every cached value of this module."""
        for cache in self.graph_caches():
            cache.clear()

    def _apply(self: _Owner, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> _Owner:
        super()._apply(fn, recurse)
        for cache in self.graph_caches():
            cache.apply(fn)
        return self


class MessagePassing(GraphCacheOwner):
    r"""Base class of every layer in :mod:`gnnkit.nn.conv`:

    .. math::
        \mathbf{x}'_i = \gamma\Big(\bigoplus_{j \in \mathcal{N}(i)}
        \phi(\mathbf{x}_i, \mathbf{x}_j, \mathbf{e}_{ji}, w_{ji})
        \;+\; s_i\,\mathbf{x}_i,\ \mathbf{x}_i\Big)

    with ``φ`` = :meth:`message`, ``⊕`` = the aggregation module ``aggr`` (:meth:`aggregate`),
    ``γ`` = :meth:`update`, ``w_ji`` = :meth:`edge_weights` (default: the matrix's values)
    and ``s_i`` an optional root term (``self_weight`` of :meth:`propagate`; sum only).

    **Contract — what a subclass overrides and what** :meth:`propagate` **runs:**

    * *Linear messages* ``φ = w_ji · x_j`` (:meth:`message` not overridden): one fused
      ``spmm`` of ``A.with_values(w)`` with the source features — no ``(E, F)`` message
      tensor. ``w`` comes from :meth:`edge_weights`; ``(E,)`` scalars or ``(E, H)`` per head
      with ``(N, H, C)`` features (a multi-head ``spmm``). GCN, SAGE, GIN, LGConv.
    * *Attention* is the linear case with computed weights: :meth:`edge_weights` scores the
      edges with ``sddmm`` and normalises them with ``edge_softmax``; the aggregation is then
      one ``spmm`` (GAT, GATv2). The weights used can be returned (``return_weights=True``).
    * *General messages* (:meth:`message` overridden): ``x_j`` (and ``x_i`` if
      :attr:`message_uses_target`) are gathered per edge in CSR order, ``message`` builds
      ``(E, ...)`` messages and the aggregation's ``reduce`` combines them (GINE).
    * :meth:`update` maps the aggregate per node (identity by default).

    Args:
        aggr: aggregation name (``"sum"``/``"add"``, ``"mean"``, ``"max"``, ``"min"``,
            ``"softmax"``) or an :class:`~gnnkit.nn.conv.aggr.Aggregation` module. An
            aggregation with a fused ``forward`` (sum/mean/max/min) keeps linear messages
            fused; others gather.

    Graph-derived state kept across calls must be a :class:`GraphCache` attribute so that it
    follows the module's device and dtype (``.to()``, ``.double()``, ``.half()``; see
    :class:`GraphCacheOwner`).
    """

    #: whether :meth:`message` reads ``x_i`` (the target's feature); saves a gather if not.
    message_uses_target: ClassVar[bool] = False

    def __init__(self, aggr: str | Aggregation = "sum") -> None:
        super().__init__()
        self.aggr_module = resolve_aggregation(aggr)

    def reset_parameters(self) -> None:
        """Re-initialise learnable parameters (the aggregation's included) and drop caches."""
        self.aggr_module.reset_parameters()
        self.clear_graph_caches()

    # ------------------------------------------------------------------ the hooks
    def edge_weights(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None,
                     edge_attr: Tensor | None) -> Tensor | None:
        """Per-edge weights ``w`` ``(E,)`` or ``(E, H)`` in ``A``'s CSR order (``None`` = all
        ones). Default: ``A``'s values. Attention layers compute them here."""
        return A.values

    def message(self, x_j: Tensor, x_i: Tensor | None, edge_attr: Tensor | None,
                edge_weight: Tensor | None) -> Tensor:
        """Per-edge messages ``(E, ...)``: ``w_ji · x_j`` (``x_j`` alone without weights).

        Overriding this switches :meth:`propagate` to the gathered path."""
        if edge_weight is None:
            return x_j
        return edge_weight.reshape(*edge_weight.shape, *([1] * (x_j.dim() - edge_weight.dim()))
                                   ) * x_j

    def aggregate(self, A: SparseMatrix, messages: Tensor) -> Tensor:
        """Reduce per-edge ``messages`` ``(E, ...)`` into ``(M, ...)`` with ``aggr``."""
        return self.aggr_module.reduce(A, messages)

    def update(self, aggregated: Tensor, x_target: Tensor | None) -> Tensor:
        """Node update after aggregation; identity by default."""
        return aggregated

    @property
    def fused(self) -> bool:
        """Whether :meth:`propagate` runs the fused ``spmm`` path (linear messages)."""
        return type(self).message is MessagePassing.message

    # ------------------------------------------------------------------ propagate
    @overload
    def propagate(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None = ...,
                  edge_attr: Tensor | None = ..., *, self_weight: Tensor | float | None = ...,
                  return_weights: Literal[False] = ...) -> Tensor: ...

    @overload
    def propagate(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None = ...,
                  edge_attr: Tensor | None = ..., *, self_weight: Tensor | float | None = ...,
                  return_weights: Literal[True]) -> tuple[Tensor, SparseMatrix]: ...

    def propagate(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None = None,
                  edge_attr: Tensor | None = None, *, self_weight: Tensor | float | None = None,
                  return_weights: bool = False) -> Tensor | tuple[Tensor, SparseMatrix]:
        """Aggregate along the rows of ``A`` ``(M, N)``: ``(N, ...)`` → ``update((M, ...))``.

        Args:
            A: the graph, row = target; its values are the default edge weights.
            x_source: ``(N, F)`` (or ``(N, H, C)`` for per-head weights) source features.
            x_target: ``(M, F)`` target features (for ``x_i``, ``self_weight`` and
                :meth:`update`), or ``None``.
            edge_attr: per-entry edge features ``(E, ...)`` in ``A``'s CSR order.
            self_weight: root term ``s`` — a scalar, ``(1,)`` or ``(M,)`` — adding
                ``s_i · x_target[i]`` to the sum (GCN's normalised self loop, GIN's ``1 + ε``)
                without storing loops in ``A``. Needs sum aggregation and ``x_target``.
            return_weights: also return ``A`` carrying the edge weights used (attention).
        """
        weights = self.edge_weights(A, x_source, x_target, edge_attr)
        weighted = A if weights is A.values else A.with_values(weights)
        if self.fused:
            out = self.aggr_module(weighted, x_source)
        else:
            x_j = x_source.index_select(0, A.col)
            x_i = None
            if self.message_uses_target:
                if x_target is None:
                    raise ValueError(f"{type(self).__name__}.message reads x_i (message_uses"
                                     "_target=True): pass target features x_target")
                x_i = x_target.index_select(0, A.row)
            out = self.aggregate(A, self.message(x_j, x_i, edge_attr, weights))
        if self_weight is not None:
            out = out + self._root_term(self_weight, x_target, out.dim())
        out = self.update(out, x_target)
        return (out, weighted) if return_weights else out

    def _root_term(self, weight: Tensor | float, x_target: Tensor | None, dim: int) -> Tensor:
        if not isinstance(self.aggr_module, SumAggregation):
            raise ValueError("self_weight (a root term s_i·x_i) is defined for sum aggregation "
                             f"only, this layer aggregates with "
                             f"{type(self.aggr_module).__name__}")
        if x_target is None:
            raise ValueError("self_weight needs target features: pass x_target")
        if isinstance(weight, Tensor):
            weight = weight.reshape(-1, *([1] * (dim - 1)))
        return weight * x_target


def check_features(name: str, x: Tensor, width: int | None = None) -> Tensor:
    """``x`` must be a floating ``(N, F)`` tensor (with ``F == width`` when given)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (num_nodes, channels), got {tuple(x.shape)}")
    if width is not None and x.shape[1] != width:
        raise ValueError(f"{name} has {x.shape[1]} channels but the layer expects {width}")
    return x


def check_node_features(name: str, x: Tensor | SparseMatrix, width: int | None = None
                        ) -> Tensor | SparseMatrix:
    """Like :func:`check_features`, but also accepts sparse node features: an ``(N, F)``
    :class:`SparseMatrix` (row = node, column = feature), e.g. bag-of-words inputs."""
    if isinstance(x, SparseMatrix):
        if width is not None and x.num_cols != width:
            raise ValueError(f"{name} has {x.num_cols} feature columns but the layer expects "
                             f"{width}")
        if x.values is not None and (x.values.dim() != 1 or not x.values.is_floating_point()):
            raise TypeError(f"{name}: sparse features need floating scalar (nnz,) values")
        return x
    return check_features(name, x, width)


def num_nodes_of(x: Tensor | SparseMatrix) -> int:
    """Number of nodes (rows) of dense or sparse node features."""
    return x.num_rows if isinstance(x, SparseMatrix) else int(x.shape[0])


def project(lin: torch.nn.Linear, x: Tensor | SparseMatrix) -> Tensor:
    """``lin(x)`` for dense features, or ``X W^T (+ b)`` as one ``spmm`` for sparse features
    (``O(nnz(X) · F_out)`` instead of ``O(N · F_in · F_out)``; gradients reach ``W``, ``b``
    and ``X``'s values)."""
    if not isinstance(x, SparseMatrix):
        return lin(x)
    values = x.values
    if values is not None and values.dtype != lin.weight.dtype:
        raise TypeError(f"sparse features are {values.dtype} but the weights "
                        f"{lin.weight.dtype}")
    out = spmm(x, lin.weight.t())
    return out if lin.bias is None else out + lin.bias


def node_counts(x_source: Tensor, x_target: Tensor | None,
                size: Sequence[int] | None = None) -> Shape:
    """``(num_targets, num_sources)`` from the features (or an explicit PyG-style ``size``
    ``(num_sources, num_targets)``)."""
    if size is not None:
        return (int(size[1]), int(size[0]))
    return (x_source.shape[0] if x_target is None else x_target.shape[0], x_source.shape[0])
