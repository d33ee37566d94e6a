"""The MPNN that produces node representations ``h`` for link predictors.

:class:`LinkEncoder` is the node encoder of Wang et al.'s NCN/NCNC experiments, configurable
to every backbone they use:

* ``"puregcn"`` — parameter-free GCN propagation ``h' = D̂^{-1/2} (A + I) D̂^{-1/2} h`` with
  ``D̂ = 1 + rowsum(A)`` (Cora, CiteSeer, PubMed), after one input ``Linear``;
* ``"puresum"`` / ``"puremean"`` / ``"puremax"`` — ``h' = ⊕_{u ∈ N(v)} A[v, u] h_u``
  (``puresum`` on ogbl-ddi), after one input ``Linear`` (or a learnt embedding table);
* ``"gcn"`` / ``"sage"`` / ``"gin"`` — :class:`~gnnkit.nn.conv.GCNConv`,
  :class:`~gnnkit.nn.conv.SAGEConv`, :class:`~gnnkit.nn.conv.GINConv` layers with
  LayerNorm/Dropout/ReLU between them.

Options mirror the paper's: input dropout, per-layer dropout, tail dropout, edge dropout of the
propagation graph (kept entries rescaled by ``1/(1-p)``), residual connections and a weighted
jumping-knowledge sum ``h = Σ_l w_l h^{(l)}`` with learnt (unnormalised) ``w``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.nn.inits import reset
from gnnkit.sparse import SparseMatrix, ptr_from_index, spmm

from .dropout import ExactDropout

__all__ = ["ENCODER_CONVS", "LinkEncoder", "drop_entries", "reset_module"]

_PURE = ("puregcn", "puresum", "puremean", "puremax")
ENCODER_CONVS = (*_PURE, "gcn", "sage", "gin")


def drop_entries(A: SparseMatrix, p: float, *, generator: torch.Generator | None = None,
                 rescale: bool = True) -> SparseMatrix:
    """Edge dropout: keep each stored entry independently with probability ``1 - p``.

    Kept entries get value ``v / (1 - p)`` (``v = 1`` for a pattern) when ``rescale`` so the
    expected aggregation is unchanged. ``p = 0`` returns ``A`` itself.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"edge dropout p must lie in [0, 1), got {p}")
    if p == 0.0:
        return A
    keep = torch.rand(A.nnz, generator=generator, device=A.device) >= p
    values = None
    if rescale:
        base = (torch.ones(int(keep.sum()), device=A.device) if A.values is None
                else A.values[keep])
        values = base / (1.0 - p)
    elif A.values is not None:
        values = A.values[keep]
    # Kept entries stay in CSR order: rebuild rowptr from counts instead of re-sorting.
    rowptr = ptr_from_index(A.row[keep], A.num_rows, dtype=A.index_dtype, check=False)
    return SparseMatrix(rowptr, A.col[keep], values, A.shape)


def _pure_propagate(kind: str, A: SparseMatrix, h: Tensor) -> Tensor:
    if kind == "puregcn":
        if A.values is None:
            degree = A.degree("row").to(h.dtype)
        else:
            degree = A.degree("row", weighted=True).to(h.dtype)
        scale = torch.rsqrt(1.0 + degree).unsqueeze(-1)
        scaled = scale * h
        return scale * (spmm(A, scaled) + scaled)
    reduce = {"puresum": "sum", "puremean": "mean", "puremax": "max"}[kind]
    return spmm(A, h, reduce)


#: ``reset_parameters`` on a module or, for containers, on each child (the shared initialiser
#: :func:`gnnkit.nn.inits.reset`; this name is kept for the link-prediction modules).
reset_module = reset


class _PureConv(nn.Module):
    """A parameter-free propagation step (see the module docstring)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, h: Tensor, A: SparseMatrix) -> Tensor:
        if A.values is not None and A.values.dtype != h.dtype:
            A = A.with_values(A.values.to(h.dtype))
        return _pure_propagate(self.kind, A, h)

    def extra_repr(self) -> str:
        return self.kind


def _make_conv(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    from gnnkit.nn import conv  # lazy: the linkpred predictors do not need the conv family

    if kind == "gcn":
        return conv.GCNConv(in_channels, out_channels)
    if kind == "sage":
        return conv.SAGEConv(in_channels, out_channels)
    mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.ReLU(),
                        nn.Linear(out_channels, out_channels))
    return conv.GINConv(mlp)


class LinkEncoder(nn.Module):
    r"""MPNN node encoder ``h = MPNN(x, A)`` for link prediction.

    Pure backbones (``"pure*"``)::

        h⁰ = Dropout_p_in(x) W_in  (or Embedding(x) when num_embeddings is set), Dropout_p
        h^{l+1} = [Dropout_p_tail if last] propagate(h^l, A)     (+ h^l with residual)
        h = Σ_l w_l h^l  (jumping knowledge)  or  h^L

    Parametrised backbones (``"gcn"``, ``"sage"``, ``"gin"``)::

        h⁰ = Dropout_p_in(x)
        h^{l+1} = ReLU(Dropout_p(LayerNorm(conv_l(h^l, A))))   (no activation after the last
                                                               of several layers)

    Args:
        in_channels: input feature width ``F`` (ignored with ``num_embeddings``).
        hidden_channels: width of ``h``.
        num_layers: propagation steps ``L ≥ 1``.
        conv: one of ``ENCODER_CONVS``.
        dropout: ``p`` (after the input projection / between layers).
        input_dropout: ``p_in`` on the raw features.
        tail_dropout: ``p_tail`` after the last pure propagation.
        edge_dropout: drop entries of ``A`` during training (rescaling the kept ones).
        layer_norm: LayerNorm between parametrised layers.
        residual: ``h^{l+1} += h^l`` when widths match.
        jumping_knowledge: learnt weighted sum over the layer outputs.
        num_embeddings: when set, the input is a ``(N,)`` tensor of node ids and ``h⁰`` comes
            from a learnt, orthogonally initialised ``Embedding(num_embeddings, hidden)``
            (featureless graphs such as ogbl-ddi).

    Shapes:
        ``x`` ``(N, F)`` (or ``(N,)`` ids), ``A`` ``N × N`` :class:`SparseMatrix` or any form
        :func:`~gnnkit.nn.conv.as_sparse_matrix` accepts → ``(N, hidden_channels)``.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        num_layers: int = 1,
        *,
        conv: str = "puregcn",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        tail_dropout: float = 0.0,
        edge_dropout: float = 0.0,
        layer_norm: bool = False,
        residual: bool = False,
        jumping_knowledge: bool = False,
        num_embeddings: int | None = None,
    ) -> None:
        super().__init__()
        if conv not in ENCODER_CONVS:
            raise ValueError(f"conv must be one of {', '.join(ENCODER_CONVS)}; got {conv!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if hidden_channels < 1:
            raise ValueError(f"hidden_channels must be positive, got {hidden_channels}")
        if num_embeddings is None and in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {in_channels}")
        if not 0.0 <= edge_dropout < 1.0:
            raise ValueError(f"edge_dropout must lie in [0, 1), got {edge_dropout}")
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.conv_kind = conv
        self.edge_dropout = edge_dropout
        self.residual = residual
        self.jumping_knowledge = jumping_knowledge
        self.num_embeddings = num_embeddings
        pure = conv in _PURE

        self.embedding: nn.Embedding | None = None
        input_layers: list[nn.Module] = []
        if num_embeddings is not None:
            self.embedding = nn.Embedding(num_embeddings, hidden_channels)
            input_layers.append(ExactDropout(dropout))
            width = hidden_channels
        else:
            input_layers.append(ExactDropout(input_dropout))
            width = in_channels
            if pure:
                input_layers += [nn.Linear(in_channels, hidden_channels), ExactDropout(dropout)]
                width = hidden_channels
        self.input = nn.Sequential(*input_layers)

        self.convs = nn.ModuleList()
        self.post = nn.ModuleList()
        for layer in range(num_layers):
            last = layer == num_layers - 1
            if pure:
                self.convs.append(_PureConv(conv))
                self.post.append(ExactDropout(tail_dropout) if last else nn.Identity())
            else:
                self.convs.append(_make_conv(conv, width, hidden_channels))
                activate = not last or num_layers == 1
                self.post.append(nn.Sequential(
                    nn.LayerNorm(hidden_channels) if layer_norm else nn.Identity(),
                    ExactDropout(dropout), nn.ReLU()) if activate else nn.Identity())
            width = hidden_channels
        self.jk_weight = nn.Parameter(torch.empty(num_layers)) if jumping_knowledge else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every parameter (orthogonal embedding, N(0, 1) JK weights)."""
        if self.embedding is not None:
            nn.init.orthogonal_(self.embedding.weight)
        for container in (self.input, self.convs, self.post):
            reset_module(container)
        if self.jk_weight is not None:
            nn.init.normal_(self.jk_weight)

    def _graph(self, graph: Any, num_nodes: int) -> SparseMatrix:
        from gnnkit.nn.conv.message_passing import as_sparse_matrix

        A = as_sparse_matrix(graph, num_nodes=num_nodes).matrix
        if self.training and self.edge_dropout > 0:
            A = drop_entries(A, self.edge_dropout)
        return A

    def forward(self, x: Tensor, graph: Any) -> Tensor:
        """``x`` ``(N, F)`` features (or ``(N,)`` node ids) and the graph → ``h`` ``(N, H)``."""
        if self.embedding is not None:
            if x.dtype not in (torch.int32, torch.int64) or x.dim() != 1:
                raise TypeError("with num_embeddings the input must be a (N,) int64 tensor of "
                                f"node ids, got {x.dtype} {tuple(x.shape)}")
            h = self.input(self.embedding(x))
        else:
            if not x.is_floating_point() or x.dim() != 2 or x.shape[1] != self.in_channels:
                raise ValueError(f"x must be a floating (N, {self.in_channels}) tensor, got "
                                 f"{x.dtype} {tuple(x.shape)}")
            h = self.input(x)
        A = self._graph(graph, x.shape[0])
        outputs = []
        for conv, post in zip(self.convs, self.post, strict=True):
            out = post(conv(h, A))
            h = out + h if self.residual and out.shape == h.shape else out
            outputs.append(h)
        if self.jk_weight is not None:
            h = (torch.stack(outputs) * self.jk_weight.view(-1, 1, 1)).sum(0)
        return h

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.hidden_channels}, num_layers={self.num_layers}, "
                f"conv={self.conv_kind!r}, residual={self.residual}, "
                f"jumping_knowledge={self.jumping_knowledge}")
