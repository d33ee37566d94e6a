"""LightGCN's light graph convolution (He et al., SIGIR 2020)."""

from __future__ import annotations

from torch import Tensor

from gnnkit.sparse import gcn_norm

from .message_passing import GraphLike, MessagePassing, as_sparse_matrix, check_features

__all__ = ["LGConv"]


class LGConv(MessagePassing):
    r"""Light graph convolution (He et al., "LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation", SIGIR 2020), no weights, no nonlinearity:

    .. math::
        \mathbf{x}'_i = \sum_{j \in \mathcal{N}(i)}
        \frac{w_{ji}}{\sqrt{\deg(i)}\sqrt{\deg(j)}} \mathbf{x}_j

    with ``deg`` the weighted in-degree (row sum of ``A``; no self loops added), as PyG's
    ``LGConv``. ``normalize=False`` uses the weights as given. One fused :meth:`propagate`
    (one ``spmm``) per call; the normalisation (:func:`gnnkit.sparse.gcn_norm` without
    loops) only rescales values (traceable by ``torch.compile``).

    Shapes: ``x`` ``(N, F)``, graph ``N × N``, ``edge_weight`` ``(E,)`` → ``(N, F)``.
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__("sum")
        self.normalize = normalize

    def forward(self, x: Tensor, graph: GraphLike, edge_weight: Tensor | None = None, *,
                num_nodes: int | None = None) -> Tensor:
        """``x`` ``(N, F)`` → ``(N, F)``."""
        x = check_features("x", x)
        A = as_sparse_matrix(graph, shape=(x.shape[0], x.shape[0]), num_nodes=num_nodes,
                             edge_weight=edge_weight).matrix
        if A.values is not None and A.values.dtype != x.dtype:
            A = A.with_values(A.values.to(x.dtype))
        if self.normalize:
            A = gcn_norm(A, add_self_loops=False, dtype=x.dtype)
        return self.propagate(A, x)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"
