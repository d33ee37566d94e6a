"""Global sum, mean and max readouts over the graphs of a batch.

With :math:`V_g` the nodes of graph :math:`g` (rows ``ptr[g]:ptr[g+1]`` of ``x``):

.. math::

    \\mathrm{add}_g = \\sum_{i \\in V_g} x_i, \\qquad
    \\mathrm{mean}_g = \\frac{1}{|V_g|} \\sum_{i \\in V_g} x_i, \\qquad
    \\mathrm{max}_g = \\max_{i \\in V_g} x_i \\ \\text{(per feature)}.

A graph without nodes gives 0 for all three (not ``-inf`` or ``NaN``), as PyG's
``global_*_pool`` do, so an empty graph contributes a finite input to the classifier.
Sum readouts are the injective choice of Xu et al., "How Powerful are Graph Neural Networks?"
(ICLR 2019); mean and max lose multiplicity information.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.sparse import segment

__all__ = ["check_readout_inputs", "global_add_pool", "global_max_pool", "global_mean_pool"]


def check_readout_inputs(x: object, ptr: object) -> tuple[Tensor, Tensor]:
    """Validate the ``(x, ptr)`` pair of a readout; return them unchanged.

    Shapes, dtypes and devices are checked always; ``ptr``'s values (start 0, end ``N``) only
    eagerly, since reading them under ``torch.compile`` would break the graph.

    Raises:
        TypeError: ``x`` not a floating-point tensor, or ``ptr`` not an integer tensor.
        ValueError: ``ptr`` not 1-D, on another device, or not spanning ``x``'s rows.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of node features (N, F), got {type(x).__name__}")
    if x.dim() == 0:
        raise ValueError("x must have one row per node, shape (N, *F); got a 0-d tensor")
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype}: cast it, e.g. x.float()")
    if not isinstance(ptr, Tensor) or ptr.dtype not in (torch.int32, torch.int64):
        got = ptr.dtype if isinstance(ptr, Tensor) else type(ptr).__name__
        raise TypeError(
            f"ptr must be an int32/int64 tensor (the batch's graph pointer, GraphBatch.ptr), "
            f"got {got}"
        )
    if ptr.dim() != 1 or ptr.numel() == 0:
        raise ValueError(
            f"ptr must be 1-D of length G + 1 (G graphs), got shape {tuple(ptr.shape)}"
        )
    if ptr.device != x.device:
        raise ValueError(f"ptr is on {ptr.device} but x is on {x.device}: move both to one device")
    if not torch.compiler.is_compiling():
        first, last = int(ptr[0]), int(ptr[-1])
        if first != 0 or last != x.shape[0]:
            hint = ""
            if ptr.numel() == x.shape[0]:
                hint = (" — this looks like the node→graph batch vector; pass GraphBatch.ptr, "
                        "or gnnkit.sparse.ptr_from_index(batch, num_graphs)")
            raise ValueError(
                f"ptr must run from 0 to x.shape[0]={x.shape[0]} (one slice of x per graph), "
                f"got {first} … {last}{hint}"
            )
    return x, ptr


def global_add_pool(x: Tensor, ptr: Tensor) -> Tensor:
    """Sum of each graph's node rows.

    Args:
        x: ``(N, *F)`` floating-point node features, graphs stored contiguously.
        ptr: ``(G + 1,)`` graph pointer; graph ``g`` is ``x[ptr[g]:ptr[g+1]]``.

    Returns:
        ``(G, *F)``; 0 for a graph without nodes.

    Examples:
        >>> import torch
        >>> from gnnkit.nn.pool import global_add_pool
        >>> x = torch.tensor([[1.0], [2.0], [5.0]])
        >>> global_add_pool(x, torch.tensor([0, 2, 2, 3])).view(-1).tolist()  # graph 1 is empty
        [3.0, 0.0, 5.0]
    """
    x, ptr = check_readout_inputs(x, ptr)
    return segment(x, ptr, "sum")


def global_mean_pool(x: Tensor, ptr: Tensor) -> Tensor:
    """Mean of each graph's node rows.

    Args:
        x: ``(N, *F)`` floating-point node features, graphs stored contiguously.
        ptr: ``(G + 1,)`` graph pointer; graph ``g`` is ``x[ptr[g]:ptr[g+1]]``.

    Returns:
        ``(G, *F)``; 0 for a graph without nodes (no division by zero).

    Examples:
        >>> import torch
        >>> from gnnkit.nn.pool import global_mean_pool
        >>> x = torch.tensor([[1.0], [2.0], [5.0]])
        >>> global_mean_pool(x, torch.tensor([0, 2, 2, 3])).view(-1).tolist()
        [1.5, 0.0, 5.0]
    """
    x, ptr = check_readout_inputs(x, ptr)
    return segment(x, ptr, "mean")


def global_max_pool(x: Tensor, ptr: Tensor) -> Tensor:
    """Feature-wise maximum of each graph's node rows.

    The gradient goes to one winning row per output element (the first on ties, the core's
    tie rule), so it is deterministic.

    Args:
        x: ``(N, *F)`` floating-point node features, graphs stored contiguously.
        ptr: ``(G + 1,)`` graph pointer; graph ``g`` is ``x[ptr[g]:ptr[g+1]]``.

    Returns:
        ``(G, *F)``; 0 for a graph without nodes (not ``-inf``).

    Examples:
        >>> import torch
        >>> from gnnkit.nn.pool import global_max_pool
        >>> x = torch.tensor([[1.0], [-2.0], [-5.0]])
        >>> global_max_pool(x, torch.tensor([0, 2, 2, 3])).view(-1).tolist()
        [1.0, 0.0, -5.0]
    """
    x, ptr = check_readout_inputs(x, ptr)
    return segment(x, ptr, "max")
