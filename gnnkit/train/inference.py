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
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix

__all__ = ["LayerwiseModel", "check_layerwise_model", "layerwise_inference", "one_hop_blocks"]


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
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = A.num_rows
    device = A.device
    local_id = torch.full((n,), -1, dtype=torch.int64, device=device)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
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
    layered = check_layerwise_model(model)
    if not isinstance(A, SparseMatrix):
        raise TypeError(f"A must be a gnnkit SparseMatrix (N × N), got {type(A).__name__}")
    if A.num_rows != A.num_cols:
        raise ValueError(f"A must be square (the full graph), got shape {A.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = A.num_rows
    rows = x.num_rows if isinstance(x, SparseMatrix) else x.shape[0]
    if rows != n:
        raise ValueError(f"x has {rows} rows but A has {n} nodes")
    degree = layered.block_degree(A)
    h: Tensor | SparseMatrix = x
    for k in range(layered.num_layers):
        out: Tensor | None = None
        for start, n_id, block in one_hop_blocks(A, batch_size):
            result = layered.forward_layer(k, _rows(h, n_id), block,
                                           degree=None if degree is None
                                           else degree.index_select(0, n_id))
            if out is None:
                out = result.new_empty((n, *result.shape[1:]))
            out[start: start + block.num_rows] = result
        if out is None:  # an empty graph: one empty block gives the layer's width
            empty = A.rowptr.new_zeros(1).long()
            block = SparseMatrix(empty, empty[:0], None, (0, 0), validate=False)
            out = layered.forward_layer(k, _rows(h, empty[:0]), block,
                                        degree=None if degree is None else degree[:0])
        h = out  # the previous layer's output is released here
    assert isinstance(h, Tensor)
    return h
