"""LightGCN (He et al., SIGIR 2020): layer-0 embeddings propagated by light graph convolutions
on the user–item graph, averaged over layers."""

from __future__ import annotations

from torch import Tensor

from gnnkit.sparse import SparseMatrix

from ..conv.lg import LGConv
from ..conv.message_passing import GraphLike
from .bpr import BPRRecommender, check_interactions

__all__ = ["LightGCN", "interaction_matrix"]


def interaction_matrix(interactions: Tensor, num_users: int, num_items: int) -> SparseMatrix:
    """The ``U × I`` interaction matrix ``R`` (row = user, column = item, no values = ones)
    of ``(2, N)`` training pairs, each distinct pair once (duplicates merged), with its CSC
    form computed (the transpose and the backward passes of LightGCN need it).

    Raises:
        TypeError, ValueError: from :func:`~gnnkit.nn.recsys.bpr.check_interactions` (ids
            out of range, wrong shape or dtype), naming ``interactions``.
    """
    pairs = check_interactions(interactions, num_users, num_items)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (num_users, num_items)).coalesce()
    R.csc()
    return R


class LightGCN(BPRRecommender):
    r"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation", SIGIR 2020, eqs. 3–5):

    .. math::
        \mathbf{E}^{(k+1)} = \tilde{\mathbf{A}}\,\mathbf{E}^{(k)},\quad
        \tilde{\mathbf{A}} = \mathbf{D}^{-1/2}
        \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}\mathbf{D}^{-1/2},\qquad
        \mathbf{E} = \frac{1}{K+1}\sum_{k=0}^{K}\mathbf{E}^{(k)},\qquad
        \hat{y}_{ui} = \mathbf{e}_u^\top\mathbf{e}_i

    Only the layer-0 tables ``E^{(0)} = (E_U, E_I)`` are parameters. Each layer is one
    bipartite :class:`~gnnkit.nn.conv.LGConv` call on the ``U × I`` matrix ``R`` (two
    ``spmm`` on ``R``, not one on the ``(U+I)²`` adjacency); the normalised operator and its
    transpose are built once per graph object and cached in the layer.

    Shapes: ``model(R)`` with ``R`` ``U × I`` (:func:`interaction_matrix`) →
    ``(E_U (U, d), E_I (I, d))``, the final embeddings.

    Parity with LightGCN-PyTorch (``model.LightGCN``, ``dropout=0``, no ``A_split``): same
    propagation, layer mean, ``N(0, 0.1²)`` initialisation, loss and L2 term
    (:meth:`~gnnkit.nn.recsys.bpr.BPRRecommender.bpr_objective`). Differences: a duplicate
    ``(u, i)`` line is one edge here (:func:`interaction_matrix`) — the official
    ``csr_matrix`` sums duplicates into a weight-2 entry (the public datasets have none);
    evaluation ranks raw dot products (the official sigmoid is monotone). Users or items
    without training interactions keep ``E^{(0)}/(K+1)`` (no neighbours), as in the
    official code. Equal to PyG's ``LightGCN`` (``alpha = 1/(K+1)``) on the block adjacency
    with the same tables.

    Args:
        num_users, num_items: ``U``, ``I``.
        embedding_dim: ``d`` (64 in the paper).
        num_layers: ``K`` (3 in the paper); 0 gives MF.
        init_std: standard deviation of the normal initialisation (0.1 as the official code).
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, *, init_std: float = 0.1) -> None:
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
            raise ValueError(f"num_layers must be a non-negative int, got {num_layers!r}")
        super().__init__(num_users, num_items, embedding_dim, init_std=init_std)
        self.num_layers = num_layers
        self.conv = LGConv()

    def reset_parameters(self) -> None:
        """``N(0, init_std²)`` layer-0 tables; drops the cached normalised graph."""
        super().reset_parameters()
        conv = getattr(self, "conv", None)  # absent while the base class constructs
        if conv is not None:
            conv.reset_parameters()

    def forward(self, graph: GraphLike | None = None) -> tuple[Tensor, Tensor]:
        """Final ``(E_U, E_I)`` on the ``U × I`` training graph (layer mean, eq. 4)."""
        users, items = self.user_embedding.weight, self.item_embedding.weight
        if self.num_layers == 0:
            return users, items
        if graph is None:
            raise ValueError(f"LightGCN with {self.num_layers} layers needs the graph: pass the "
                             f"U × I training matrix ({self.num_users} × {self.num_items}), "
                             "e.g. interaction_matrix(train_pairs, num_users, num_items)")
        user_sum, item_sum = users, items
        for _ in range(self.num_layers):
            users, items = self.conv((users, items), graph)
            user_sum, item_sum = user_sum + users, item_sum + items
        scale = 1.0 / (self.num_layers + 1)
        return user_sum * scale, item_sum * scale

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_layers={self.num_layers}"
