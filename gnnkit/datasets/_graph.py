"""Immutable containers for datasets: one :class:`Graph`, or a :class:`GraphDataset` of many.

Conventions (the same as PyG's, stated once):

* ``edge_index`` is a ``(2, E)`` ``int64`` tensor; ``edge_index[0]`` is the *source* and
  ``edge_index[1]`` the *target* of each directed edge. An undirected graph stores both
  directions. :attr:`Graph.adj` turns it into a :class:`gnnkit.sparse.SparseMatrix` whose rows
  are targets and columns sources, so ``spmm(graph.adj, x)`` sums source features into targets.
* Node splits are boolean masks: ``(N,)`` for one split, ``(N, K)`` for ``K`` alternative
  splits (geom-gcn's ten 60/20/20 splits), keyed ``"train"``, ``"val"``, ``"test"``.
* Edge splits (link prediction) are ``(2, K)`` ``int64`` pair lists keyed ``"train_pos"``,
  ``"val_pos"``, ``"val_neg"``, ``"test_pos"``, ``"test_neg"`` (OGB's ``valid`` is ``val``).

The containers are frozen: "modifying" one means :meth:`Graph.replace`, which returns a new
value. Tensors are never copied or mutated by the containers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gnnkit.sparse.index import expand_ranges, ptr_from_counts

if TYPE_CHECKING:  # SparseMatrix itself is imported on first use of ``Graph.adj``
    from gnnkit.sparse import SparseMatrix

__all__ = ["EDGE_SPLIT_NAMES", "NODE_SPLIT_NAMES", "Graph", "GraphDataset"]

NODE_SPLIT_NAMES = ("train", "val", "test")
EDGE_SPLIT_NAMES = ("train_pos", "train_neg", "val_pos", "val_neg", "test_pos", "test_neg")
_OGB_SPLIT_NAMES = {"train": "train", "val": "valid", "test": "test"}


def _frozen_mapping(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _check_edge_index(name: str, edge_index: Any, num_nodes: int) -> Tensor:
    """Validate a ``(2, E)`` integer tensor with entries in ``[0, num_nodes)``; return int64."""
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dtype.is_floating_point or edge_index.dtype.is_complex or (
        edge_index.dtype == torch.bool
    ):
        raise TypeError(f"{name} must have an integer dtype, got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{name} must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() > 0:
        smallest, largest = int(edge_index.min()), int(edge_index.max())
        if smallest < 0 or largest >= num_nodes:
            bad = smallest if smallest < 0 else largest
            raise ValueError(
                f"{name} holds node id {bad}, outside [0, {num_nodes - 1}] (num_nodes={num_nodes})"
            )
    return edge_index.long()


def _check_num(name: str, value: Any) -> int:
    if isinstance(value, Tensor) and value.numel() == 1 and not value.dtype.is_floating_point:
        value = int(value)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _as_node_mask(name: str, split: Any, num_nodes: int) -> Tensor:
    """A split given as a bool mask ``(N,)``/``(N, K)`` or as an index vector -> bool mask."""
    if not isinstance(split, Tensor):
        raise TypeError(f"node split {name!r} must be a torch.Tensor, got {type(split).__name__}")
    if split.dtype == torch.bool:
        if split.dim() not in (1, 2) or split.shape[0] != num_nodes:
            raise ValueError(
                f"node split {name!r}: a mask must have shape (num_nodes,) or (num_nodes, K) "
                f"with num_nodes={num_nodes}, got {tuple(split.shape)}"
            )
        return split
    if split.dtype.is_floating_point or split.dim() != 1:
        raise TypeError(
            f"node split {name!r} must be a bool mask or a 1-D integer index tensor, "
            f"got dtype {split.dtype} and shape {tuple(split.shape)}"
        )
    if split.numel() > 0 and (int(split.min()) < 0 or int(split.max()) >= num_nodes):
        raise ValueError(
            f"node split {name!r} references nodes outside [0, {num_nodes - 1}]"
        )
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[split.long()] = True
    return mask


def _num_classes(metadata: Mapping[str, Any], y: Tensor | None, owner: str) -> int:
    """The number of classes of a labelled container; the rule of :attr:`Graph.num_classes`."""
    recorded = metadata.get("num_classes")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        if recorded >= 1:
            return recorded
        raise ValueError(
            f"{owner} is not a classification dataset (metadata num_classes={recorded}, as OGB "
            "records for regression tasks): it has targets, not classes"
        )
    if y is None:
        raise ValueError(
            f"{owner} has no labels (y is None), so it has no num_classes; load a labelled "
            "dataset or build it with y=..."
        )
    if y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"{owner} has floating-point targets y ({y.dtype}), i.e. regression: it has no "
            "num_classes; store integer class labels, or set metadata['num_classes']"
        )
    if y.dim() > 1 and y.shape[-1] > 1:
        return int(y.shape[-1])  # multi-label: one binary class per column
    labelled = y[y >= 0] if y.dtype != torch.bool else y.long()
    return int(labelled.max()) + 1 if labelled.numel() else 0


def _shape(tensor: Tensor | None) -> str:
    return "None" if tensor is None else f"[{', '.join(str(s) for s in tensor.shape)}]"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Graph:
    """One graph: structure, features, labels, splits and metadata (an immutable value).

    Attributes:
        edge_index: ``(2, E)`` ``int64``; row 0 = source, row 1 = target (PyG convention).
        num_nodes: ``N``; node ids are ``0..N-1``.
        x: node features ``(N, F)`` or ``None``.
        edge_attr: edge features ``(E, ...)`` aligned with the columns of ``edge_index``.
        y: labels. Node-level tasks: ``(N,)`` or ``(N, T)``; a graph of a graph-level
            dataset carries ``(1,)`` or ``(1, T)``.
        node_splits: name -> bool mask ``(N,)`` or ``(N, K)`` (``K`` alternative splits).
            Integer index vectors are accepted and converted to masks.
        edge_splits: name -> ``(2, K)`` ``int64`` node pairs (see :data:`EDGE_SPLIT_NAMES`).
        metadata: free-form facts: ``name``, ``source`` (where it was read from),
            ``num_classes``, format quirks, statistics of the raw files.
    """

    edge_index: Tensor
    num_nodes: int
    x: Tensor | None = None
    edge_attr: Tensor | None = None
    y: Tensor | None = None
    node_splits: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)
    edge_splits: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: normalise once, here, and never again
        num_nodes = _check_num("num_nodes", self.num_nodes)
        set_field(self, "num_nodes", num_nodes)
        edge_index = _check_edge_index("edge_index", self.edge_index, num_nodes)
        set_field(self, "edge_index", edge_index)
        if self.x is not None:
            if not isinstance(self.x, Tensor):
                raise TypeError(f"x must be a torch.Tensor or None, got {type(self.x).__name__}")
            if self.x.dim() == 0 or self.x.shape[0] != num_nodes:
                raise ValueError(
                    f"x must have num_nodes={num_nodes} rows, got shape {tuple(self.x.shape)}"
                )
        if self.edge_attr is not None:
            if not isinstance(self.edge_attr, Tensor):
                raise TypeError(
                    f"edge_attr must be a torch.Tensor or None, got {type(self.edge_attr).__name__}"
                )
            if self.edge_attr.dim() == 0 or self.edge_attr.shape[0] != edge_index.shape[1]:
                raise ValueError(
                    f"edge_attr must have E={edge_index.shape[1]} rows (one per edge), "
                    f"got shape {tuple(self.edge_attr.shape)}"
                )
        if self.y is not None and not isinstance(self.y, Tensor):
            raise TypeError(f"y must be a torch.Tensor or None, got {type(self.y).__name__}")
        node_splits = {
            name: _as_node_mask(name, split, num_nodes)
            for name, split in dict(self.node_splits).items()
        }
        set_field(self, "node_splits", _frozen_mapping(node_splits))
        edge_splits = {
            name: _check_edge_index(f"edge split {name!r}", pairs, num_nodes)
            for name, pairs in dict(self.edge_splits).items()
        }
        set_field(self, "edge_splits", _frozen_mapping(edge_splits))
        set_field(self, "metadata", _frozen_mapping(self.metadata))

    @classmethod
    def _trusted(cls, edge_index: Tensor, num_nodes: int, x: Tensor | None,
                 edge_attr: Tensor | None, y: Tensor | None,
                 metadata: Mapping[str, Any]) -> Graph:
        """A graph from fields a container has already validated (a :class:`GraphDataset`'s
        slices: int64 ids inside ``[0, num_nodes)``, rows that match), without checking them
        again: the checks cost more than the slicing (``min``/``max`` of a non-contiguous
        column slice copy it)."""
        graph = object.__new__(cls)
        set_field = object.__setattr__
        for name, value in (("edge_index", edge_index), ("num_nodes", num_nodes), ("x", x),
                            ("edge_attr", edge_attr), ("y", y)):
            set_field(graph, name, value)
        set_field(graph, "node_splits", _EMPTY)
        set_field(graph, "edge_splits", _EMPTY)
        set_field(graph, "metadata", _frozen_mapping(metadata))
        return graph

    # ------------------------------------------------------------------ basic facts
    @property
    def num_edges(self) -> int:
        """Number of stored directed edges ``E`` (an undirected edge counts twice)."""
        return int(self.edge_index.shape[1])

    @property
    def num_features(self) -> int:
        """``F``, the width of ``x`` (0 without features)."""
        if self.x is None:
            return 0
        return int(self.x.shape[1]) if self.x.dim() > 1 else 1

    @property
    def name(self) -> str | None:
        """``metadata["name"]`` if present."""
        return self.metadata.get("name")

    @property
    def num_classes(self) -> int:
        """Number of classes of a node- or graph-classification graph (as PyG's ``Data``).

        The rule, first match wins:

        1. ``metadata["num_classes"]`` when the reader recorded it (Planetoid, geom-gcn, TU,
           OGB); a recorded value below 1 (OGB's ``-1`` for regression) raises.
        2. Integer labels with one value per row (``y`` of shape ``(N,)`` or ``(N, 1)``):
           ``max(y) + 1``; negative values (an "unlabelled" marker) are ignored.
        3. Integer or bool labels of shape ``(N, T)`` with ``T > 1``: ``T`` (multi-label, one
           binary class per column).

        Raises:
            ValueError: no labels (``y`` is ``None``), floating-point targets (regression), or
                a recorded non-positive ``num_classes``.
        """
        return _num_classes(self.metadata, self.y,
                            f"graph {self.name!r}" if self.name else "this graph")

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Graph:
        """A new :class:`Graph` with every tensor on ``device`` (the original is untouched).

        Moves ``edge_index``, ``x``, ``edge_attr``, ``y`` and every node and edge split;
        ``num_nodes`` and ``metadata`` are kept. Tensors already on ``device`` are shared, not
        copied (``Tensor.to`` semantics). The cached :attr:`adj` is rebuilt on first use.
        """
        target = torch.device(device)

        def move(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor.to(target, non_blocking=non_blocking)

        return dataclasses.replace(
            self,
            edge_index=move(self.edge_index),
            x=move(self.x),
            edge_attr=move(self.edge_attr),
            y=move(self.y),
            node_splits={k: move(v) for k, v in self.node_splits.items()},
            edge_splits={k: move(v) for k, v in self.edge_splits.items()},
        )

    @property
    def train_mask(self) -> Tensor | None:
        """``node_splits["train"]`` (``(N,)`` or ``(N, K)`` bool) or ``None``."""
        return self.node_splits.get("train")

    @property
    def val_mask(self) -> Tensor | None:
        """``node_splits["val"]`` (``(N,)`` or ``(N, K)`` bool) or ``None``."""
        return self.node_splits.get("val")

    @property
    def test_mask(self) -> Tensor | None:
        """``node_splits["test"]`` (``(N,)`` or ``(N, K)`` bool) or ``None``."""
        return self.node_splits.get("test")

    def split_index(self, name: str, k: int | None = None) -> Tensor:
        """Sorted ``int64`` node ids of split ``name``; ``k`` picks one of ``K`` alternatives.

        Raises:
            KeyError: no split of that name.
            ValueError: the split has ``K`` alternatives and ``k`` is missing or out of range.
        """
        if name not in self.node_splits:
            raise KeyError(f"no node split {name!r}; available: {sorted(self.node_splits)}")
        mask = self.node_splits[name]
        if mask.dim() == 2:
            if k is None or not 0 <= k < mask.shape[1]:
                raise ValueError(
                    f"node split {name!r} holds {mask.shape[1]} alternative splits: "
                    f"pass k in [0, {mask.shape[1] - 1}], got {k}"
                )
            mask = mask[:, k]
        elif k not in (None, 0):
            raise ValueError(f"node split {name!r} holds a single split, got k={k}")
        return mask.nonzero().view(-1)

    # ------------------------------------------------------------------ derived values
    @cached_property
    def adj(self) -> SparseMatrix:
        """The adjacency as a :class:`gnnkit.sparse.SparseMatrix`, built once, on first use.

        ``SparseMatrix.from_edge_index(edge_index, values=None, shape=N)``: shape ``(N, N)``,
        row = target, column = source, implicit unit values (no memory for them).
        """
        from gnnkit.sparse import SparseMatrix

        return SparseMatrix.from_edge_index(self.edge_index, values=None, shape=self.num_nodes)

    def replace(self, **changes: Any) -> Graph:
        """A new :class:`Graph` with ``changes`` applied (the original is untouched)."""
        return dataclasses.replace(self, **changes)

    def ogb_split_edge(self) -> dict[str, dict[str, Tensor]]:
        """Edge splits as OGB's ``get_edge_split()`` dictionary of ``(K, 2)`` tensors.

        ``{"train": {"edge": ...}, "valid": {"edge": ..., "edge_neg": ...}, "test": {...}}``.
        """
        out: dict[str, dict[str, Tensor]] = {}
        for name, pairs in self.edge_splits.items():
            split, _, kind = name.rpartition("_")
            ogb_split = _OGB_SPLIT_NAMES.get(split, split)
            key = "edge" if kind == "pos" else "edge_neg"
            out.setdefault(ogb_split, {})[key] = pairs.t().contiguous()
        return out

    def equal(self, other: Graph) -> bool:
        """Exact equality of every tensor, ``num_nodes``, split names and metadata keys."""
        if not isinstance(other, Graph) or self.num_nodes != other.num_nodes:
            return False
        pairs = [
            (self.edge_index, other.edge_index),
            (self.x, other.x),
            (self.edge_attr, other.edge_attr),
            (self.y, other.y),
        ]
        for split_a, split_b in (
            (self.node_splits, other.node_splits),
            (self.edge_splits, other.edge_splits),
        ):
            if set(split_a) != set(split_b):
                return False
            pairs += [(split_a[name], split_b[name]) for name in split_a]
        return all(_tensors_equal(a, b) for a, b in pairs)

    # ------------------------------------------------------------------ interop
    def to_pyg(self) -> Any:
        """Export to a ``torch_geometric.data.Data`` (tensors shared, not copied).

        Masks become ``train_mask``/``val_mask``/``test_mask`` (other split names keep their
        name with a ``_mask`` suffix); edge splits become ``<name>_edge_index`` attributes.

        Raises:
            ImportError: torch_geometric is not installed.
        """
        try:
            from torch_geometric.data import Data
        except ImportError as error:
            raise ImportError(
                "Graph.to_pyg() needs torch_geometric; install it with "
                "`pip install torch-geometric` (or `pip install gnnkit[pyg]`)"
            ) from error
        data = Data(
            x=self.x,
            edge_index=self.edge_index,
            edge_attr=self.edge_attr,
            y=self.y,
            num_nodes=self.num_nodes,
        )
        for name, mask in self.node_splits.items():
            data[f"{name}_mask"] = mask
        for name, pairs in self.edge_splits.items():
            data[f"{name}_edge_index"] = pairs
        return data

    @classmethod
    def from_pyg(cls, data: Any, **metadata: Any) -> Graph:
        """Build a :class:`Graph` from a PyG ``Data`` (``x``, ``edge_index``, ``edge_attr``,
        ``y`` and any ``*_mask`` attribute; tensors shared, not copied)."""
        node_splits = {
            key[: -len("_mask")]: value
            for key, value in data.items()
            if key.endswith("_mask") and isinstance(value, Tensor)
        }
        return cls(
            edge_index=data.edge_index,
            num_nodes=int(data.num_nodes),
            x=data.get("x"),
            edge_attr=data.get("edge_attr"),
            y=data.get("y"),
            node_splits=node_splits,
            metadata=metadata,
        )

    def __repr__(self) -> str:
        parts = [f"num_nodes={self.num_nodes}", f"edge_index={_shape(self.edge_index)}"]
        for field_name in ("x", "edge_attr", "y"):
            value = getattr(self, field_name)
            if value is not None:
                parts.append(f"{field_name}={_shape(value)}")
        if self.node_splits:
            parts.append(f"node_splits={sorted(self.node_splits)}")
        if self.edge_splits:
            parts.append(f"edge_splits={sorted(self.edge_splits)}")
        if self.name:
            parts.insert(0, f"name={self.name!r}")
        return f"Graph({', '.join(parts)})"


def _tensors_equal(a: Tensor | None, b: Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a, b))


def _check_ptr(name: str, ptr: Any, total: int | None) -> Tensor:
    """Validate an offsets vector: 1-D integer, starts at 0, non-decreasing, ends at total."""
    if not isinstance(ptr, Tensor) or ptr.dim() != 1 or ptr.dtype.is_floating_point:
        raise TypeError(f"{name} must be a 1-D integer tensor")
    ptr = ptr.long()
    if ptr.numel() == 0 or int(ptr[0]) != 0:
        raise ValueError(f"{name} must be non-empty and start at 0")
    if total is not None and int(ptr[-1]) != total:
        raise ValueError(f"{name} must end at {total}, got {int(ptr[-1])}")
    if bool((ptr[1:] < ptr[:-1]).any()):
        raise ValueError(f"{name} must be non-decreasing")
    return ptr


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class GraphDataset(Sequence[Graph]):
    """A graph-level dataset stored collated (like PyG's ``InMemoryDataset``), immutable.

    Graph ``g`` owns nodes ``node_ptr[g]:node_ptr[g+1]`` of ``x`` and edges
    ``edge_ptr[g]:edge_ptr[g+1]`` of ``edge_index``/``edge_attr``. ``edge_index`` holds
    *local* node ids (``0..n_g-1`` within each graph), as OGB's raw files do. Indexing with an
    int returns a :class:`Graph`; :meth:`subset` and :meth:`split` return datasets.

    Attributes:
        edge_index: ``(2, E_total)`` ``int64``, local ids, row 0 = source, row 1 = target.
        node_ptr: ``(G + 1,)`` ``int64`` node offsets.
        edge_ptr: ``(G + 1,)`` ``int64`` edge offsets.
        x: ``(N_total, F)`` node features or ``None``.
        edge_attr: ``(E_total, ...)`` edge features or ``None``.
        y: ``(G,)`` or ``(G, T)`` graph targets or ``None``.
        splits: name -> ``int64`` graph indices (e.g. ``train``/``val``/``test``).
        metadata: facts about the dataset (``name``, ``source``, ``num_classes``, ...).
    """

    edge_index: Tensor
    node_ptr: Tensor
    edge_ptr: Tensor
    x: Tensor | None = None
    edge_attr: Tensor | None = None
    y: Tensor | None = None
    splits: Mapping[str, Tensor] = dataclasses.field(default_factory=dict)
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        if not isinstance(self.edge_index, Tensor) or self.edge_index.dim() != 2 or (
            self.edge_index.shape[0] != 2
        ):
            raise ValueError("edge_index must be a (2, E) tensor")
        if self.edge_index.dtype.is_floating_point:
            raise TypeError(f"edge_index must have an integer dtype, got {self.edge_index.dtype}")
        set_field(self, "edge_index", self.edge_index.long())
        num_edges = int(self.edge_index.shape[1])
        node_ptr = _check_ptr("node_ptr", self.node_ptr, None)
        edge_ptr = _check_ptr("edge_ptr", self.edge_ptr, num_edges)
        if node_ptr.numel() != edge_ptr.numel():
            raise ValueError(
                f"node_ptr and edge_ptr must both have G+1 entries, got {node_ptr.numel()} "
                f"and {edge_ptr.numel()}"
            )
        set_field(self, "node_ptr", node_ptr)
        set_field(self, "edge_ptr", edge_ptr)
        num_graphs = node_ptr.numel() - 1
        if num_edges:
            # every local id must be below the node count of the graph that owns the edge
            sizes = (node_ptr[1:] - node_ptr[:-1]).repeat_interleave(edge_ptr[1:] - edge_ptr[:-1])
            bad = (self.edge_index < 0) | (self.edge_index >= sizes)
            if bool(bad.any()):
                column = int(bad.any(0).nonzero()[0])
                graph = int(torch.searchsorted(edge_ptr, column, right=True)) - 1
                raise ValueError(
                    f"edge {column} of graph {graph} references local node "
                    f"{self.edge_index[:, column].tolist()} but that graph has "
                    f"{int(sizes[column])} nodes"
                )
        total_nodes = int(node_ptr[-1])
        if self.x is not None and self.x.shape[0] != total_nodes:
            raise ValueError(f"x must have {total_nodes} rows, got {tuple(self.x.shape)}")
        if self.edge_attr is not None and self.edge_attr.shape[0] != num_edges:
            raise ValueError(
                f"edge_attr must have {num_edges} rows, got {tuple(self.edge_attr.shape)}"
            )
        if self.y is not None and self.y.shape[0] != num_graphs:
            raise ValueError(f"y must have G={num_graphs} rows, got {tuple(self.y.shape)}")
        splits = {}
        for name, index in dict(self.splits).items():
            if not isinstance(index, Tensor) or index.dim() != 1 or index.dtype.is_floating_point:
                raise TypeError(f"split {name!r} must be a 1-D integer tensor of graph indices")
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_graphs):
                raise ValueError(
                    f"split {name!r} references graphs outside [0, {num_graphs - 1}]"
                )
            splits[name] = index.long()
        set_field(self, "splits", _frozen_mapping(splits))
        set_field(self, "metadata", _frozen_mapping(self.metadata))

    # ------------------------------------------------------------------ sequence protocol
    def __len__(self) -> int:
        return self.node_ptr.numel() - 1

    def __getitem__(self, index: int) -> Graph:  # type: ignore[override]
        if not isinstance(index, int) and hasattr(index, "__index__"):
            index = int(index)
        if not isinstance(index, int):
            raise TypeError(
                f"GraphDataset index must be an int (use .subset() for many), got "
                f"{type(index).__name__}"
            )
        num_graphs = len(self)
        if not -num_graphs <= index < num_graphs:
            raise IndexError(f"graph index {index} out of range for {num_graphs} graphs")
        index %= num_graphs
        node_offsets, edge_offsets = self._offsets()
        n0, n1 = node_offsets[index], node_offsets[index + 1]
        e0, e1 = edge_offsets[index], edge_offsets[index + 1]
        # the dataset checked every id and row count once; items are not re-validated
        return Graph._trusted(
            edge_index=self.edge_index[:, e0:e1],
            num_nodes=n1 - n0,
            x=None if self.x is None else self.x[n0:n1],
            edge_attr=None if self.edge_attr is None else self.edge_attr[e0:e1],
            y=None if self.y is None else self.y[index : index + 1],
            metadata={"graph_index": index},
        )

    def _offsets(self) -> tuple[list[int], list[int]]:
        """``node_ptr`` and ``edge_ptr`` as Python lists, made once (reading four tensor
        scalars per item costs more than the item's slices)."""
        cached = self.__dict__.get("_offset_lists")
        if cached is None:
            cached = (self.node_ptr.tolist(), self.edge_ptr.tolist())
            object.__setattr__(self, "_offset_lists", cached)
        return cached

    def __getitems__(self, indices: Sequence[int]) -> GraphDataset:
        """The graphs ``indices`` as one dataset: ``torch.utils.data.DataLoader`` fetches a
        whole batch through this when it exists, and :func:`gnnkit.data.collate` batches the
        result in one vectorised step. The result is still a sequence of :class:`Graph`, so a
        ``collate_fn`` that iterates over its items keeps working."""
        return self.subset(list(indices))

    def __iter__(self) -> Iterator[Graph]:
        for index in range(len(self)):
            yield self[index]

    # ------------------------------------------------------------------ facts
    @property
    def num_classes(self) -> int:
        """Number of graph classes; the same rule as :attr:`Graph.num_classes` applied to the
        dataset's ``metadata`` and ``y`` (``(G,)`` labels give ``max(y) + 1``)."""
        return _num_classes(self.metadata, self.y,
                            f"dataset {self.name!r}" if self.name else "this dataset")

    @property
    def num_nodes(self) -> Tensor:
        """``(G,)`` ``int64`` node count of every graph."""
        return self.node_ptr[1:] - self.node_ptr[:-1]

    @property
    def num_edges(self) -> Tensor:
        """``(G,)`` ``int64`` stored (directed) edge count of every graph."""
        return self.edge_ptr[1:] - self.edge_ptr[:-1]

    @property
    def name(self) -> str | None:
        return self.metadata.get("name")

    # ------------------------------------------------------------------ derived datasets
    def subset(self, index: Tensor | Sequence[int]) -> GraphDataset:
        """The graphs ``index`` (in that order) as a new dataset; ``splits`` are dropped."""
        index = torch.as_tensor(index, dtype=torch.long).view(-1)
        num_graphs = len(self)
        if index.numel() and (int(index.min()) < -num_graphs or int(index.max()) >= num_graphs):
            raise IndexError(f"subset index out of range for {num_graphs} graphs")
        index = index % max(num_graphs, 1)
        node_counts, edge_counts = self.num_nodes[index], self.num_edges[index]
        node_take = expand_ranges(self.node_ptr[index], node_counts)
        edge_take = expand_ranges(self.edge_ptr[index], edge_counts)
        return GraphDataset(
            edge_index=self.edge_index[:, edge_take],
            node_ptr=ptr_from_counts(node_counts),
            edge_ptr=ptr_from_counts(edge_counts),
            x=None if self.x is None else self.x[node_take],
            edge_attr=None if self.edge_attr is None else self.edge_attr[edge_take],
            y=None if self.y is None else self.y[index],
            metadata=self.metadata,
        )

    def split(self, name: str) -> GraphDataset:
        """The graphs of split ``name`` (``KeyError`` listing the splits if unknown)."""
        if name not in self.splits:
            raise KeyError(f"no split {name!r}; available: {sorted(self.splits)}")
        return self.subset(self.splits[name])

    @classmethod
    def from_graphs(
        cls,
        graphs: Sequence[Graph],
        *,
        y: Tensor | None = None,
        splits: Mapping[str, Tensor] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> GraphDataset:
        """Collate :class:`Graph` values (all with or all without ``x``/``edge_attr``).

        ``y`` defaults to the concatenation of the graphs' ``y`` when every graph has one.
        """
        if not graphs:
            raise ValueError("from_graphs needs at least one graph")
        node_counts = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
        edge_counts = torch.tensor([g.num_edges for g in graphs], dtype=torch.long)

        def cat(field_name: str) -> Tensor | None:
            values = [getattr(g, field_name) for g in graphs]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError(f"either all graphs or none must have {field_name}")
            return torch.cat(values, dim=0)

        if y is None and all(g.y is not None for g in graphs):
            y = torch.cat([g.y for g in graphs], dim=0)  # type: ignore[misc]
        return cls(
            edge_index=torch.cat([g.edge_index for g in graphs], dim=1),
            node_ptr=ptr_from_counts(node_counts),
            edge_ptr=ptr_from_counts(edge_counts),
            x=cat("x"),
            edge_attr=cat("edge_attr"),
            y=y,
            splits=splits or {},
            metadata=metadata or {},
        )

    def to_pyg_list(self) -> list[Any]:
        """Every graph as a PyG ``Data`` (``ImportError`` without torch_geometric)."""
        return [graph.to_pyg() for graph in self]

    def __repr__(self) -> str:
        parts = [
            f"num_graphs={len(self)}",
            f"num_nodes={int(self.node_ptr[-1])}",
            f"edge_index={_shape(self.edge_index)}",
        ]
        for field_name in ("x", "edge_attr", "y"):
            value = getattr(self, field_name)
            if value is not None:
                parts.append(f"{field_name}={_shape(value)}")
        if self.splits:
            parts.append("splits={" + ", ".join(
                f"{k}: {v.numel()}" for k, v in self.splits.items()) + "}")
        if self.name:
            parts.insert(0, f"name={self.name!r}")
        return f"GraphDataset({', '.join(parts)})"
