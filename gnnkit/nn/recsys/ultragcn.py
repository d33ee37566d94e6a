r"""UltraGCN (Mao et al., CIKM 2021): embeddings trained to satisfy the limit of infinitely many
graph convolutions through weighted constraint losses, with no message passing.

* :func:`constraint_betas` — the per-user and per-item factors of the constraint weight
  ``β_ui = √(d_u+1)/d_u · 1/√(d_i+1)``;
* :func:`item_neighbours` — the item–item top-``K`` graph ``Ω`` (``I × I``, at most ``K``
  entries per row), built in row blocks from ``G = Rᵀ R`` without ever forming a dense
  ``I × I`` matrix;
* :func:`padded_neighbours` — ``Ω`` as ``(I, K)`` index/weight tables for the loss;
* :class:`UltraGCN` — the model (user/item tables, dot-product scores) and its objective
  :meth:`UltraGCN.objective`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnkit.sparse import (
    SparseMatrix,
    ptr_from_index,
    select_rows,
    spmm,
    spspmm,
)

from ..conv.message_passing import GraphCache, GraphCacheOwner
from .bpr import BPRRecommender, _check_size

__all__ = [
    "ItemNeighbours",
    "UltraGCN",
    "constraint_betas",
    "item_neighbours",
    "padded_neighbours",
]

#: rows of ``G = Rᵀ R`` formed at once by :func:`item_neighbours` (memory ``∝`` the
#: products ``Σ_{i ∈ block} Σ_{u ∋ i} d_u`` of the block, not ``I²``)
DEFAULT_BLOCK_SIZE = 2048

#: :meth:`UltraGCN.objective` scores the negatives through one ``(B, I)`` score block
#: ``E_u E_Iᵀ`` (then a gather) instead of gathering ``(B, N, d)`` negative embeddings when
#: ``I <= SCORE_BLOCK_RATIO · N``: a dense product is ~50× cheaper per multiply–add than a
#: gather + scatter (measured on one CPU thread, B 512, d 64: 0.28 s against 0.57 s per
#: forward+backward at I 40 981, N 1500). Both paths give the same loss and gradients.
SCORE_BLOCK_RATIO = 50


def _pattern(R: SparseMatrix, name: str = "R") -> SparseMatrix:
    if not isinstance(R, SparseMatrix):
        raise TypeError(f"{name} must be the U × I interaction SparseMatrix (e.g. "
                        f"gnnkit.nn.recsys.interaction_matrix(pairs, U, I)), got "
                        f"{type(R).__name__}")
    if not R.is_coalesced():
        raise ValueError(f"{name} has duplicate (user, item) entries; build it with "
                         "interaction_matrix (which merges them) or call .coalesce()")
    # interactions are binary (the official code's matrix of ones): only the pattern counts
    return R.with_values(None)


def _inverse_or_zero(values: Tensor) -> Tensor:
    return torch.where(values > 0, 1.0 / values.clamp(min=1e-300), torch.zeros_like(values))


def constraint_betas(R: SparseMatrix, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    r"""UltraGCN's constraint factors (Mao et al., CIKM 2021, in the form of the
    official code ``xue-pai/UltraGCN``):

    .. math::
        \beta_{u,i} = \underbrace{\frac{\sqrt{d_u + 1}}{d_u}}_{b_u}\;
                      \underbrace{\frac{1}{\sqrt{d_i + 1}}}_{c_i}

    with ``d_u``, ``d_i`` the training degrees (entries of the rows / columns of ``R``;
    values are ignored, interactions are binary).

    Args:
        R: the ``U × I`` interaction matrix (coalesced).
        dtype: of the result (the official code computes in float64).

    Returns:
        ``(b (U,), c (I,))``. ``b_u = 0`` for a user without training items (the official
        code would give ``inf``; such users never appear in a training batch).
    """
    R = _pattern(R)
    d_users = R.degree("row").to(dtype)
    d_items = R.degree("col").to(dtype)
    return (d_users + 1).sqrt() * _inverse_or_zero(d_users), (d_items + 1).rsqrt()


def _row_topk(rowptr: Tensor, col: Tensor, values: Tensor, k: int
              ) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` largest entries of every CSR row (ties: smaller column first), as
    ``(row, col, value)`` sorted by row then decreasing value."""
    rows = rowptr.numel() - 1
    row = torch.repeat_interleave(torch.arange(rows, device=col.device),
                                  rowptr[1:] - rowptr[:-1])
    # columns increase within each row (coalesced), so two stable sorts give, per row,
    # decreasing values with ties in increasing column order
    order = torch.sort(values, descending=True, stable=True).indices
    order = order[torch.sort(row[order], stable=True).indices]
    rank = torch.arange(order.numel(), device=col.device) - rowptr[row[order]]
    keep = order[rank < k]
    return row[keep], col[keep], values[keep]


def item_neighbours(R: SparseMatrix, num_neighbours: int = 10, *,
                    zero_diagonal: bool = False,
                    block_size: int = DEFAULT_BLOCK_SIZE) -> SparseMatrix:
    r"""UltraGCN's item–item graph ``Ω`` (Mao et al., CIKM 2021, §3.2; the official code's
    ``get_ii_constraint_mat``): each item keeps its ``K`` most constrained co-interacted
    items,

    .. math::
        G = R^\top R,\qquad g_i = \sum_j G_{ij},\qquad
        \omega_{ij} = G_{ij}\,\frac{\sqrt{g_i + 1}}{g_i}\,\frac{1}{\sqrt{g_j + 1}},\qquad
        \Omega_{i\cdot} = \operatorname{top-}K_j\ \omega_{ij}

    ``G_ij`` counts the users who interacted with both items, ``G_ii = d_i``; the diagonal is
    kept (the official default, ``ii_diagonal_zero = False``) unless ``zero_diagonal``, which
    removes it before ``g`` is computed, as the official option does.

    ``G`` is never formed whole: ``g = Rᵀ (R 1)`` is one ``spmm`` (``g_i = Σ_u R_ui d_u``), and
    ``G`` is built ``block_size`` rows at a time (``spspmm`` of the block's rows of ``Rᵀ``
    with ``R``), each block reduced to its top ``K`` per row before the next is formed. The
    peak memory is that of one block's products, never ``I × I`` (the official code builds
    a dense ``I × I`` float64 matrix: 62.5 GiB for Amazon-Book's 91 599 items).

    Differences from the official code: ties go to the smaller item id (``torch.topk`` on a
    dense row leaves them unspecified); a row with fewer than ``K`` non-zero ``ω`` keeps
    only those (the official ``(I, K)`` table pads with zero weights, which add nothing to
    the loss — :func:`padded_neighbours` gives that table); items without training users
    have an empty row (the official code divides by zero there; they are never positives).

    Args:
        R: the ``U × I`` interaction matrix (coalesced; values ignored).
        num_neighbours: ``K`` (``ii_neighbor_num``, 10 in the official configurations).
        zero_diagonal: drop ``G_ii`` (``ii_diagonal_zero``).
        block_size: rows of ``G`` formed at once.

    Returns:
        ``Ω``, an ``I × I`` :class:`~gnnkit.sparse.SparseMatrix` with float64 values ``ω`` and
        at most ``K`` entries per row (row = item, column = neighbour, columns sorted).
    """
    R = _pattern(R)
    num_neighbours = _check_size("num_neighbours", num_neighbours)
    block_size = _check_size("block_size", block_size)
    num_items = R.num_cols
    Rt = R.transpose()  # I × U, from R's cached CSC
    d_users = R.degree("row").to(torch.float64).unsqueeze(1)
    g = spmm(Rt, d_users).flatten()  # g_i = Σ_j G_ij = Σ_u R_ui d_u
    if zero_diagonal:
        g = g - R.degree("col").to(torch.float64)
    row_factor = (g + 1).sqrt() * _inverse_or_zero(g)
    col_factor = (g + 1).rsqrt()
    rows, cols, weights = [], [], []
    for start in range(0, num_items, block_size):
        block = torch.arange(start, min(start + block_size, num_items), device=R.device)
        G = spspmm(select_rows(Rt, block), R)  # (b, I) co-occurrence counts, coalesced
        rowptr, col = G.rowptr.long(), G.col.long()
        local = torch.repeat_interleave(torch.arange(block.numel(), device=R.device),
                                        rowptr[1:] - rowptr[:-1])
        omega = G.values.to(torch.float64) * row_factor[block[local]] * col_factor[col]
        keep = omega > 0
        if zero_diagonal:
            keep &= col != block[local]
        if not bool(keep.all()):
            local, col, omega = local[keep], col[keep], omega[keep]
            rowptr = ptr_from_index(local, block.numel(), check=False)
        top_row, top_col, top_omega = _row_topk(rowptr, col, omega, num_neighbours)
        rows.append(block[top_row])
        cols.append(top_col)
        weights.append(top_omega)
    row = torch.cat(rows)
    return SparseMatrix.from_coo(row, torch.cat(cols), torch.cat(weights),
                                 (num_items, num_items))


class ItemNeighbours(NamedTuple):
    """``Ω`` as dense ``(I, K)`` tables: ``index[i, k]`` is the ``k``-th neighbour of item
    ``i`` and ``weight[i, k]`` its ``ω`` (padding: the item itself with weight 0)."""

    index: Tensor
    weight: Tensor


def padded_neighbours(omega: SparseMatrix, num_neighbours: int) -> ItemNeighbours:
    """``(I, K)`` tables of an ``Ω`` from :func:`item_neighbours` (each row in decreasing
    ``ω``, ties by item id), padded with weight-0 self entries where a row has fewer than
    ``K`` neighbours — the layout of the official code's ``ii_neighbor_mat`` /
    ``ii_constraint_mat``, whose zero-weight padding contributes nothing to the loss.

    Raises:
        ValueError: a row of ``omega`` has more than ``num_neighbours`` entries.
    """
    num_neighbours = _check_size("num_neighbours", num_neighbours)
    if omega.values is None or omega.num_rows != omega.num_cols:
        raise ValueError(f"omega must be the square item_neighbours matrix with values, got "
                         f"shape {omega.shape} and values {omega.values is not None}")
    counts = omega.degree("row")
    if counts.numel() and int(counts.max()) > num_neighbours:
        raise ValueError(f"omega has rows with {int(counts.max())} entries, more than "
                         f"num_neighbours={num_neighbours}; pass the K it was built with")
    rowptr, col, values = omega.rowptr.long(), omega.col.long(), omega.values
    top_row, top_col, top_value = _row_topk(rowptr, col, values, num_neighbours)
    slot = torch.arange(top_row.numel(), device=col.device) - rowptr[top_row]
    size = omega.num_rows
    index = torch.arange(size, device=col.device).unsqueeze(1).repeat(1, num_neighbours)
    weight = values.new_zeros(size, num_neighbours)
    index[top_row, slot] = top_col
    weight[top_row, slot] = top_value
    return ItemNeighbours(index, weight)


class UltraGCN(GraphCacheOwner, BPRRecommender):
    r"""UltraGCN (Mao, Zhu, Xiao, Lu, Wang & He, "UltraGCN: Ultra Simplification of Graph
    Convolutional Networks for Recommendation", CIKM 2021): free user/item embeddings scored
    by dot products, ``ŷ_ui = e_uᵀ e_i``, trained on (in the official code's form)

    .. math::
        \mathcal{L} = \sum_{(u,i)\in B}\Big[(w_1 + w_2\beta_{ui})\,
          \operatorname{softplus}(-\hat y_{ui})
          + \frac{\nu}{N}\sum_{j\in\mathcal{N}^-_u}(w_3 + w_4\beta_{uj})\,
          \operatorname{softplus}(\hat y_{uj})\Big]
          + \lambda\sum_{(u,i)\in B}\sum_{j\in\Omega(i)} -\omega_{ij}\ln\sigma(\hat y_{uj})
          + \gamma\,\tfrac12\big(\lVert E_U\rVert^2 + \lVert E_I\rVert^2\big)

    ``β_ui = b_u c_i`` (:func:`constraint_betas`), ``N`` sampled negatives ``𝒩⁻_u`` per
    positive with weight ``ν`` (``negative_weight``), ``Ω(i)`` the ``K`` item neighbours of
    ``i`` (:func:`item_neighbours`). ``softplus(−x) = −ln σ(x)`` is the binary cross-entropy
    of the official code (``binary_cross_entropy_with_logits`` with weights). The batch terms
    are *summed* over the batch (not averaged), and the L2 term covers the whole tables at
    every step, as in the official code; :meth:`objective` returns the first two terms and
    the unweighted L2 term, and the training loop multiplies the latter by ``γ``
    (``weight_decay`` of :func:`gnnkit.train.recommendation.fit`).

    The constraint data (``b``, ``c`` and ``Ω`` as ``(I, K)`` tables) are derived from the
    ``U × I`` training matrix passed to :meth:`objective` and cached (keyed by the matrix's
    structure), so the registry's builder contract (``num_users``, ``num_items`` only) holds;
    :meth:`prepare` builds them ahead of time.

    Shapes: ``model()`` → ``(E_U (U, d), E_I (I, d))`` (no propagation); :meth:`objective`
    takes ``users (B,)``, ``positives (B,)`` and ``negatives (B, N)`` (or ``(B,)``).

    Args:
        num_users, num_items: ``U``, ``I``.
        embedding_dim: ``d`` (64).
        init_std: standard deviation of the ``N(0, std²)`` initialisation (``initial_weight``,
            1e-4).
        w1, w2, w3, w4: the constraint weights of positives (``w1 + w2 β``) and negatives
            (``w3 + w4 β``).
        negative_weight: ``ν``.
        item_weight: ``λ`` of the item–item term (``lambda``); 0 skips it.
        num_neighbours: ``K`` (``ii_neighbor_num``).
        zero_item_diagonal: drop ``G_ii`` from the item–item graph (``ii_diagonal_zero``).
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, *,
                 init_std: float = 1e-4, w1: float = 1e-6, w2: float = 1.0, w3: float = 1e-6,
                 w4: float = 1.0, negative_weight: float = 300.0, item_weight: float = 5e-4,
                 num_neighbours: int = 10, zero_item_diagonal: bool = False) -> None:
        super().__init__(num_users, num_items, embedding_dim, init_std=init_std)
        for name, value in (("w1", w1), ("w2", w2), ("w3", w3), ("w4", w4),
                            ("negative_weight", negative_weight), ("item_weight", item_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative float, got {value!r}")
        self.w1, self.w2, self.w3, self.w4 = float(w1), float(w2), float(w3), float(w4)
        self.negative_weight = float(negative_weight)
        self.item_weight = float(item_weight)
        self.num_neighbours = _check_size("num_neighbours", num_neighbours)
        self.zero_item_diagonal = bool(zero_item_diagonal)
        # (b (U,), c (I,), neighbour index (I, K), neighbour weight (I, K)) of the last graph
        self._constraints: GraphCache[tuple[Tensor, Tensor, Tensor, Tensor]] = GraphCache()

    def reset_parameters(self) -> None:
        """``N(0, init_std²)`` tables (the constraint data depend on the graph only, and stay)."""
        super().reset_parameters()

    def prepare(self, graph: SparseMatrix) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The constraint data of the ``U × I`` training matrix ``graph``: ``(b (U,), c (I,),
        Ω index (I, K), Ω weight (I, K))`` in the embeddings' dtype, built once per graph
        structure and cached (:func:`constraint_betas`, :func:`item_neighbours`,
        :func:`padded_neighbours`)."""
        if not isinstance(graph, SparseMatrix):
            raise TypeError(f"UltraGCN needs the U × I training SparseMatrix graph "
                            f"({self.num_users} × {self.num_items}), e.g. "
                            f"interaction_matrix(train_pairs, U, I); got {type(graph).__name__}")
        if graph.shape != (self.num_users, self.num_items):
            raise ValueError(f"graph has shape {graph.shape}, expected (num_users, num_items) = "
                             f"({self.num_users}, {self.num_items})")
        key = graph.structure
        cached = self._constraints.get(key)
        weight = self.user_embedding.weight
        if cached is not None and cached[0].dtype == weight.dtype:
            return cached
        graph = graph.to(weight.device)
        b, c = constraint_betas(graph)
        neighbours = padded_neighbours(
            item_neighbours(graph, self.num_neighbours, zero_diagonal=self.zero_item_diagonal),
            self.num_neighbours)
        value = (b.to(weight.dtype), c.to(weight.dtype), neighbours.index,
                 neighbours.weight.to(weight.dtype))
        return self._constraints.put(value, key)

    def objective(self, users: Tensor, positives: Tensor, negatives: Tensor,
                  graph: object = None) -> tuple[Tensor, Tensor]:
        """``(loss, l2)`` of a batch: ``loss`` = the weighted constraint losses plus
        ``λ`` times the item–item term, summed over the batch; ``l2 = ½ Σ_θ ‖θ‖²`` over the
        whole tables. Minimise ``loss + γ · l2`` (class docstring)."""
        users = self._check_ids("users", users, self.num_users)
        positives = self._check_ids("positives", positives, self.num_items)
        negatives = self._check_ids("negatives", negatives, self.num_items)
        if negatives.dim() == 1:
            negatives = negatives.unsqueeze(1)
        if (users.dim() != 1 or positives.shape != users.shape or negatives.dim() != 2
                or negatives.shape[0] != users.shape[0]):
            raise ValueError(f"users and positives must have shape (B,) and negatives (B, N); "
                             f"got {tuple(users.shape)}, {tuple(positives.shape)}, "
                             f"{tuple(negatives.shape)}")
        b, c, neighbour_index, neighbour_weight = self.prepare(graph)  # type: ignore[arg-type]
        user_table, item_table = self.user_embedding.weight, self.item_embedding.weight
        # F.embedding, not user_table[users]: advanced indexing's backward accumulates with
        # index_put_, which adds in a varying order on a multi-threaded CPU (same bits at 1)
        e_users = F.embedding(users, user_table)
        positive_scores = (e_users * F.embedding(positives, item_table)).sum(dim=-1)
        num_negatives = negatives.shape[1]
        if self.num_items <= SCORE_BLOCK_RATIO * num_negatives:
            negative_scores = (e_users @ item_table.t()).gather(1, negatives)
        else:
            negative_scores = torch.bmm(F.embedding(negatives, item_table),
                                        e_users.unsqueeze(2)).squeeze(2)
        b_users = b[users]
        positive_weight = self.w1 + self.w2 * b_users * c[positives]
        negative_weight = self.w3 + self.w4 * b_users.unsqueeze(1) * c[negatives]
        loss = (positive_weight * F.softplus(-positive_scores)).sum() + self.negative_weight * (
            (negative_weight * F.softplus(negative_scores)).mean(dim=1).sum())
        if self.item_weight > 0:
            neighbour_scores = torch.bmm(F.embedding(neighbour_index[positives], item_table),
                                         e_users.unsqueeze(2)).squeeze(2)
            item_term = -(neighbour_weight[positives] * F.logsigmoid(neighbour_scores)).sum()
            loss = loss + self.item_weight * item_term
        l2 = 0.5 * (user_table.pow(2).sum() + item_table.pow(2).sum())
        return loss, l2

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, w=({self.w1:g}, {self.w2:g}, {self.w3:g}, "
                f"{self.w4:g}), negative_weight={self.negative_weight:g}, "
                f"item_weight={self.item_weight:g}, num_neighbours={self.num_neighbours}")
