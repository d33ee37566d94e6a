"""Layer-wise full-graph inference: the output of a ``K``-layer model at every node, one layer
at a time over batches of target nodes, without holding ``K`` layers of activations.

A model trained on sampled blocks (:func:`~gnnkit.train.node_classification.fit_sampled`) is
evaluated either on sampled neighbourhoods (a noisy estimate) or with one full-graph forward
``model(x, A)``, whose memory grows with the graph: every layer's ``(N, hidden)`` output,
plus the intermediates of its aggregation. :func:`layerwise_inference` computes the same
full-graph output as the remedy of PyG (``model.inference``) and DGL ("layer-wise
inference") does:

* layer 1 for all ``N`` nodes, in batches of ``batch_size`` consecutive node ids, each batch
  with *every* in-neighbour of its targets (a one-hop block, fanout ``-1``); the results go
  into one ``(N, F_1)`` tensor;
* then layer 2 from that tensor, and so on; the previous layer's tensor is released once
  the next one is complete.

Every node's output depends only on the previous layer at itself and at its in-neighbours, so
the result is the full-graph forward's, up to float rounding (the block keeps every entry of
the targets' rows, duplicates included, in ``A``'s CSR order). Peak memory is one layer's
input and output for all nodes plus one batch's block and gathered features — not ``K`` layers
of activations and their aggregation intermediates. It runs under ``torch.no_grad()``: for
evaluation, not training.

**The model's side** (:class:`LayerwiseModel`): it exposes its layers as
``model.num_layers``, ``model.forward_layer(k, x, block, degree=…)`` (layer ``k`` on one block,
activation included) and ``model.block_degree(A)`` (the full-graph per-node degree that its
normalisation needs on a block, e.g. GCN's :func:`~gnnkit.sparse.structural.gcn_degree`, or
``None``). :class:`gnnkit.models.sage.SAGE` and :class:`gnnkit.models.GCN` do.

**The blocks** are rows of ``A``, no sampling (:func:`one_hop_blocks`): for targets
``s … e - 1`` the block is ``A[s:e]`` with its columns relabelled so that the targets come
first (local ids ``0 … e - s - 1``) and the other sources follow (design decision 19).
Building one costs ``O(T)`` for the ``T`` entries of its rows, through one ``(N,)`` int64
relabelling map per call.

**Across ranks** (:func:`distributed_layerwise_inference`): in a ``torch.distributed``
process group every rank computes each layer for its own contiguous shard of the nodes and
the shards are exchanged with ``all_gather`` before the next layer, so the ranks share the
work and every rank ends with the whole output (the data-parallel trainer's evaluation,
:func:`gnnkit.train.distributed.fit_rank` with ``inference="layerwise"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
import torch.distributed as dist
from torch import Tensor

from gnnkit.sparse import SparseMatrix

__all__ = [
    "LayerwiseModel",
    "check_layerwise_model",
    "distributed_layerwise_inference",
    "layerwise_inference",
    "one_hop_blocks",
]


@runtime_checkable
class LayerwiseModel(Protocol):
    """What :func:`layerwise_inference` needs from a model: its layers, one at a time.

    ``forward_layer(k, x, block, degree=d)`` is layer ``k`` (0-based, ``k < num_layers``) of
    the full-graph forward run on one block — its input dropout, convolution and activation,
    so that composing the ``num_layers`` layers is ``model(x, A)``. ``x`` ``(N_b, F_k)``
    holds the features of the block's ``N_b`` sources, its ``M_b`` targets first; ``block``
    is ``M_b × N_b``; ``degree`` ``(N_b,)`` is ``block_degree(A)`` at the sources (``None``
    when ``block_degree`` returns ``None``); the result is ``(M_b, F_{k+1})``.
    """

    @property
    def num_layers(self) -> int: ...

    def forward_layer(self, k: int, x: Tensor, block: SparseMatrix, *,
                      degree: Tensor | None = None) -> Tensor: ...

    def block_degree(self, A: SparseMatrix) -> Tensor | None: ...


def check_layerwise_model(model: object) -> LayerwiseModel:
    """``model`` if it exposes its layers (:class:`LayerwiseModel`), else ``TypeError`` naming
    what it lacks."""
    missing = [name for name in ("num_layers", "forward_layer", "block_degree")
               if not hasattr(model, name)]
    if missing:
        raise TypeError(f"layer-wise inference needs a model that exposes its layers "
                        f"(num_layers, forward_layer(k, x, block, degree=...), "
                        f"block_degree(A)), as gnnkit.models.sage.SAGE and gnnkit.models.GCN "
                        f"do; {type(model).__name__} has no {', '.join(missing)}")
    return model  # type: ignore[return-value]


def one_hop_blocks(A: SparseMatrix, batch_size: int
                   ) -> Iterator[tuple[int, Tensor, SparseMatrix]]:
    """The rows of the square ``A`` in batches of ``batch_size`` consecutive targets, each as a
    block whose targets come first (nothing sampled: every entry of the rows).

    Args:
        A: the square ``N × N`` graph, row = target, column = source.
        batch_size: targets per block (``>= 1``); the last block may be smaller. An empty
            graph gives no block.

    Yields:
        ``(start, n_id, block)`` for targets ``start … start + M - 1``: ``n_id`` ``(N_b,)``
        int64 global ids of the block's sources — the ``M`` targets in order, then every
        other in-neighbour once, in order of first appearance in the rows — and ``block``
        the ``M × N_b`` matrix of every entry of those rows (duplicates kept, in ``A``'s CSR
        order, ``A``'s values, a view) with local column ids. A block costs ``O(T)`` for its
        rows' ``T`` entries; the relabelling map is one ``(N,)`` int64 tensor for the whole
        iteration (only the entries a block touched are reset after it).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[1, 3, 0, 2], [0, 0, 1, 2]]))
        >>> for start, n_id, block in one_hop_blocks(A, 2):
        ...     print(start, n_id.tolist(), block.shape, block.col.tolist())
        0 [0, 1, 3] (2, 3) [1, 2, 0]
        2 [2, 3] (2, 2) [0]
    """
    _check_batch_size(batch_size)
    return _row_blocks(A, batch_size, 0, A.num_rows)


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return batch_size


def _row_blocks(A: SparseMatrix, batch_size: int, first: int, last: int
                ) -> Iterator[tuple[int, Tensor, SparseMatrix]]:
    """:func:`one_hop_blocks` restricted to the targets ``first … last - 1`` (a rank's shard);
    arguments unchecked."""
    device = A.device
    local_id = torch.full((A.num_rows,), -1, dtype=torch.int64, device=device)
    for start in range(first, last, batch_size):
        stop = min(start + batch_size, last)
        M = stop - start
        rowptr = A.rowptr[start: stop + 1].long()
        low, high = int(rowptr[0]), int(rowptr[-1])
        col = A.col[low:high].long()
        targets = torch.arange(start, stop, device=device)
        local_id[targets] = torch.arange(M, device=device)
        # the other sources, numbered in order of first appearance: every occurrence offers
        # -2 - position, the largest offer (the first occurrence) wins
        others = col[local_id.index_select(0, col) < 0]
        order = torch.arange(others.numel(), device=device)
        local_id.scatter_reduce_(0, others, -2 - order, reduce="amax", include_self=False)
        new = others[local_id.index_select(0, others) == -2 - order]
        local_id[new] = torch.arange(M, M + new.numel(), device=device)
        n_id = torch.cat([targets, new])
        local = local_id.index_select(0, col)
        local_id[n_id] = -1
        values = None if A.values is None else A.values[low:high]
        yield start, n_id, SparseMatrix(rowptr - low, local, values, (M, n_id.numel()),
                                        validate=False)


def _rows(x: Tensor | SparseMatrix, index: Tensor) -> Tensor:
    """``x[index]`` as a dense tensor (sparse features: the selected rows, densified)."""
    if isinstance(x, SparseMatrix):
        return x.select_rows(index).to_dense()
    return x.index_select(0, index)  # several times faster than x[index] on CPU


@torch.no_grad()
def layerwise_inference(model: torch.nn.Module, x: Tensor | SparseMatrix, A: SparseMatrix, *,
                        batch_size: int) -> Tensor:
    """``model(x, A)`` computed one layer at a time over batches of target nodes (module
    docstring).

    Args:
        model: a :class:`LayerwiseModel` (e.g. :class:`gnnkit.models.sage.SAGE`,
            :class:`gnnkit.models.GCN`). Call it in evaluation mode (``model.eval()``): in
            training mode a node's dropout mask differs between the batches it appears in.
        x: ``(N, F)`` node features, dense or a sparse ``SparseMatrix`` (only a batch's
            rows are densified).
        A: the square ``N × N`` ``SparseMatrix`` the model's full-graph forward takes.
        batch_size: targets per block (any ``>= 1``; more than ``N`` is one block of all
            nodes). Larger means fewer blocks (less per-block overhead) and more memory per
            block; a few thousand is a good start.

    Returns:
        ``(N, C)``: the last layer's output at every node, equal to ``model(x, A)`` up to
        float rounding. Computed without autograd.

    Raises:
        TypeError: the model does not expose its layers; ``A`` is not a ``SparseMatrix``;
            ``batch_size`` is not an int.
        ValueError: ``A`` is not square, ``x`` has not ``N`` rows, ``batch_size < 1``.

    Examples:
        >>> import torch
        >>> from gnnkit.models.sage import SAGE
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> x = torch.randn(4, 3)
        >>> model = SAGE(3, 8, 2).eval()
        >>> out = layerwise_inference(model, x, A, batch_size=2)
        >>> out.shape, torch.allclose(out, model(x, A), atol=1e-6)
        (torch.Size([4, 2]), True)
    """
    layered = _check_arguments(model, x, A, batch_size)
    degree = layered.block_degree(A)
    h: Tensor | SparseMatrix = x
    for k in range(layered.num_layers):
        # the previous layer's output is released when h is rebound
        h = _layer_rows(layered, k, h, A, degree, batch_size, 0, A.num_rows)
    assert isinstance(h, Tensor)
    return h


def _check_arguments(model: torch.nn.Module, x: Tensor | SparseMatrix, A: SparseMatrix,
                     batch_size: object) -> LayerwiseModel:
    """The checks of :func:`layerwise_inference` (shared with the sharded variant)."""
    layered = check_layerwise_model(model)
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit SparseMatrix (N × N), got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square (the full graph), got shape {A.shape}")
    _check_batch_size(batch_size)
    rows = x.num_rows if isinstance(x, SparseMatrix) else x.shape[0]
    if rows != A.num_rows:
        raise ValueError(f"x has {rows} rows but A has {A.num_rows} nodes")
    return layered


def _layer_rows(layered: LayerwiseModel, k: int, h: Tensor | SparseMatrix, A: SparseMatrix,
                degree: Tensor | None, batch_size: int, first: int, last: int) -> Tensor:
    """Layer ``k``'s output ``(last - first, F_{k+1})`` at the targets ``first … last - 1``,
    from the previous layer ``h`` at all ``N`` nodes, in blocks of ``batch_size`` targets."""
    out: Tensor | None = None
    for start, n_id, block in _row_blocks(A, batch_size, first, last):
        result = layered.forward_layer(k, _rows(h, n_id), block,
                                       degree=None if degree is None
                                       else degree.index_select(0, n_id))
        if out is None:
            out = result.new_empty((last - first, *result.shape[1:]))
        out[start - first: start - first + block.num_rows] = result
    if out is None:  # no targets (an empty graph or shard): an empty block gives the width
        empty = A.rowptr.new_zeros(1).long()
        block = SparseMatrix(empty, empty[:0], None, (0, 0), validate=False)
        out = layered.forward_layer(k, _rows(h, empty[:0]), block,
                                    degree=None if degree is None else degree[:0])
    return out


def _in_process_group() -> bool:
    return dist.is_available() and dist.is_initialized()


@torch.no_grad()
def _check_same_on_every_rank(value: int, what: str, fix: str, device: torch.device) -> None:
    """Raise ``ValueError`` on every rank unless all ranks of the process group passed the
    same ``value``: one ``all_reduce`` of ``(value, −value)`` with ``MAX``, so every rank
    learns the range. ``what`` names the mismatch ("… different numbers of nodes"), ``fix``
    the remedy; ``device`` is where NCCL needs the tensor."""
    counts = torch.tensor([value, -value], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        counts = counts.to(device)
    dist.all_reduce(counts, op=dist.ReduceOp.MAX)
    if int(counts[0]) != -int(counts[1]):
        raise ValueError(f"the ranks passed {what} (rank {dist.get_rank()}: {value}, range "
                         f"{-int(counts[1])}…{int(counts[0])}): {fix}")


def distributed_layerwise_inference(model: torch.nn.Module, x: Tensor | SparseMatrix,
                                    A: SparseMatrix, *, batch_size: int) -> Tensor:
    """:func:`layerwise_inference` with the work split across the ranks of the default
    ``torch.distributed`` process group; every rank gets the whole ``(N, C)`` output.

    Call it on every rank of the group, with the same model weights, ``x``, ``A`` and
    ``batch_size`` (it runs collectives: a rank that does not call it leaves the others
    waiting until the group's timeout). With ``W`` ranks, rank ``r`` owns the contiguous
    nodes ``r·S … (r + 1)·S - 1`` (``S = ⌈N / W⌉``; the last ranks may own fewer or none).
    At every layer each rank computes its nodes' outputs in blocks of ``batch_size`` targets
    (as :func:`layerwise_inference` does for all nodes), then the ranks exchange their shards
    with one ``all_gather`` and go on to the next layer from the assembled ``(N, F)`` tensor.
    The shards are split by nodes, not edges: a rank whose nodes have more in-edges takes
    longer and the others wait for it in the ``all_gather``.

    **Communicated:** one ``all_reduce`` of two int64 numbers (the ranks compare ``N``), then
    per layer one ``all_gather`` of ``W`` shards of ``S`` rows of that layer's output width
    (shards shorter than ``S`` are padded with zeros, as ``all_gather`` needs equal shapes;
    the padding is dropped). Tensors go through the group's backend on their own device (CPU
    for gloo, the rank's GPU for NCCL).

    **Memory per rank:** the previous layer for all ``N`` nodes (a rank's targets may have
    in-neighbours anywhere), the assembled output for all nodes (``W·S`` rows, at most
    ``W - 1`` of them padding), the rank's own shard (``S`` rows) and one block — about
    :func:`layerwise_inference`'s peak plus one shard; the backend may stage the gathered
    rows in a buffer of the same size during the exchange. The compute per rank is ``1/W``
    of the single-process inference's.

    Args:
        model: a :class:`LayerwiseModel` in evaluation mode (as for
            :func:`layerwise_inference`), the same weights on every rank — under DDP the
            wrapped module (``ddp.module``), not the wrapper.
        x: ``(N, F)`` node features, dense or a sparse ``SparseMatrix``.
        A: the square ``N × N`` ``SparseMatrix``; the whole graph on every rank.
        batch_size: targets per block within a rank's shard (``>= 1``; a shard smaller than
            it is one block).

    Returns:
        ``(N, C)`` on every rank, identical across ranks and equal to ``model(x, A)`` up to
        float rounding. Without an initialised process group: :func:`layerwise_inference`
        (the same numbers).

    Raises:
        TypeError, ValueError: as :func:`layerwise_inference` (the model, ``A``, ``x``,
            ``batch_size``), raised before any collective.
        ValueError: the ranks passed graphs with different numbers of nodes.

    Examples:
        >>> import torch
        >>> from gnnkit.models.sage import SAGE
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> x = torch.randn(4, 3)
        >>> model = SAGE(3, 8, 2).eval()
        >>> out = distributed_layerwise_inference(model, x, A, batch_size=2)  # no group: alone
        >>> torch.equal(out, layerwise_inference(model, x, A, batch_size=2))
        True
    """
    layered = _check_arguments(model, x, A, batch_size)
    if not _in_process_group():
        return layerwise_inference(model, x, A, batch_size=batch_size)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    n = A.num_rows
    # different N would make all_gather fail on shapes, or hang: compare first
    _check_same_on_every_rank(n, "graphs A with different numbers of nodes",
                             "pass the same graph on every rank", A.device)
    if n == 0:  # nothing to share (every rank sees the same N)
        return layerwise_inference(model, x, A, batch_size=batch_size)
    shard = -(-n // world_size)  # ⌈N / W⌉ rows per rank: the shards line up in the output
    first, last = min(rank * shard, n), min((rank + 1) * shard, n)
    degree = layered.block_degree(A)
    h: Tensor | SparseMatrix = x
    for k in range(layered.num_layers):
        mine = _layer_rows(layered, k, h, A, degree, batch_size, first, last)
        if mine.shape[0] < shard:  # all_gather needs equal shapes: pad the short shards
            padding = mine.new_zeros((shard - mine.shape[0], *mine.shape[1:]))
            mine = torch.cat([mine, padding])
        gathered = mine.new_empty((world_size * shard, *mine.shape[1:]))
        # rank j's shard lands in rows j·S … (j + 1)·S - 1: the nodes in order, padding last
        dist.all_gather(list(gathered.split(shard)), mine)
        del mine
        h = gathered[:n]  # the previous layer's output is released here
    assert isinstance(h, Tensor)
    return h
