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

**Sampled blocks.** ``encoder(x[n_id], blocks)`` runs the same layers on the per-hop blocks of
a :class:`~gnnkit.data.sampling.SampledSubgraph` (design decision 19), with the convention of
:class:`gnnkit.models.sage.SAGE`: ``blocks[l]`` feeds layer ``l``, first layer first, so
``blocks[0]`` is the outermost hop (for ``L`` layers, block ``l`` holds hop ``L - l``, hop 1
being the one next to the seeds). ``blocks[l]`` is ``M_l × N_l`` (row = target), its ``M_l``
targets are its first ``M_l`` sources and the sources of block ``l + 1``; layer ``l`` maps
``h`` ``(N_l, ·)`` to ``(M_l, H)``, the residual adds ``h[:M_l]`` and jumping knowledge sums
every layer's output at the last block's targets. The normalisation of ``"puregcn"`` and
``"gcn"`` needs the degrees of *sources*, which a block does not hold: pass
``degree=encoder.block_degree(A)[n_id]`` (the full graph's, :meth:`LinkEncoder.block_degree`);
with fanout ``-1`` on every hop the block forward then equals the full-graph forward at the
targets, up to float rounding. A link predictor samples one hop more than the encoder has
layers (:func:`gnnkit.train.link_prediction.train_epoch_sampled`): the encoder runs on
``matrices[:-1]`` and gives ``h`` for the sources of the hop-1 block ``matrices[-1]``, the
graph the predictor intersects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.nn.inits import reset
from gnnkit.sparse import SparseMatrix, spmm
from gnnkit.sparse.structural import gcn_degree

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
    # Kept entries stay in CSR order, and A's cached CSC carries over without a sort.
    return A.keep_entries(keep).with_values(values)


def _puregcn_degree(A: SparseMatrix, dtype: torch.dtype) -> Tensor:
    """``D̂ = 1 + rowsum(A)`` of every row (weighted when ``A`` has values), in ``dtype``."""
    if A.values is None:
        return 1.0 + A.degree("row").to(dtype)
    return 1.0 + A.degree("row", weighted=True).to(dtype)


def _pure_propagate(kind: str, A: SparseMatrix, h: Tensor, degree: Tensor | None = None
                    ) -> Tensor:
    """One parameter-free propagation step on ``A``, ``N × N`` or an ``M × N`` block whose
    ``M`` targets are its first ``M`` sources: ``h`` ``(N, F)`` → ``(M, F)``.

    ``"puregcn"`` needs the degree ``D̂ = 1 + rowsum`` of every source: ``degree`` ``(N,)``
    (the full graph's, for a block), or ``None`` to read it from ``A``'s rows — on a block,
    the targets' sampled degrees and 1 for a source that is not a target, as
    :class:`~gnnkit.nn.conv.GCNConv` does on a block without ``degree``. Sum, mean and max
    read only the targets' rows."""
    if kind != "puregcn":
        reduce = {"puresum": "sum", "puremean": "mean", "puremax": "max"}[kind]
        return spmm(A, h, reduce)
    M, N = A.shape
    if degree is None:
        target = _puregcn_degree(A, h.dtype)
        degree = target if M == N else torch.cat([target, target.new_ones(N - M)])
    scale = torch.rsqrt(degree.to(h.dtype)).unsqueeze(-1)
    scaled = scale * h
    return scale[:M] * (spmm(A, scaled) + scaled[:M])


def _as_square(A: SparseMatrix) -> SparseMatrix:
    """An ``M × N`` block (``M <= N``, targets first) as the ``N × N`` matrix whose last
    ``N - M`` rows are empty: the same entries in the same CSR order."""
    M, N = A.shape
    if M == N:
        return A
    rowptr = torch.cat([A.rowptr, A.rowptr[-1:].expand(N - M)])
    return SparseMatrix(rowptr, A.col, A.values, (N, N))


#: ``reset_parameters`` on a module or, for containers, on each child (the shared initialiser
#: :func:`gnnkit.nn.inits.reset`; this name is kept for the link-prediction modules).
reset_module = reset


class _PureConv(nn.Module):
    """A parameter-free propagation step (see the module docstring)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, h: Tensor, A: SparseMatrix, degree: Tensor | None = None) -> Tensor:
        """``h`` ``(N, F)`` of ``A``'s sources → ``(M, F)``, ``A`` square or a block
        (:func:`_pure_propagate`)."""
        if A.values is not None and A.values.dtype != h.dtype:
            A = A.with_values(A.values.to(h.dtype))
        return _pure_propagate(self.kind, A, h, degree)

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
        Sampled form (:meth:`forward_blocks`, module docstring): ``x`` ``(N_0, F)``
        (``x[n_id]``) and ``L`` blocks, ``blocks[l]`` ``M_l × N_l`` with ``N_0 = x.shape[0]``
        and ``N_{l+1} = M_l`` → ``(M_{L-1}, hidden_channels)``, one row per target of the last
        block.
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

    def _input(self, x: Tensor) -> Tensor:
        """``h⁰`` from features or node ids (the class docstring)."""
        if self.embedding is not None:
            if x.dtype not in (torch.int32, torch.int64) or x.dim() != 1:
                raise TypeError("with num_embeddings the input must be a (N,) int64 tensor of "
                                f"node ids, got {x.dtype} {tuple(x.shape)}")
            return self.input(self.embedding(x))
        if not x.is_floating_point() or x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be a floating (N, {self.in_channels}) tensor, got "
                             f"{x.dtype} {tuple(x.shape)}")
        return self.input(x)

    def forward(self, x: Tensor, graph: Any, *, degree: Tensor | None = None) -> Tensor:
        """``x`` ``(N, F)`` features (or ``(N,)`` node ids) and the graph → ``h`` ``(N, H)``;
        a list or tuple of sampled blocks as ``graph`` runs :meth:`forward_blocks` (whose
        argument ``degree`` is)."""
        if isinstance(graph, (list, tuple)):
            return self.forward_blocks(x, graph, degree=degree)
        if degree is not None:
            raise ValueError("degree is for sampled blocks (graph given as a list of "
                             "matrices); on the full graph the encoder reads its own degrees")
        h = self._input(x)
        A = self._graph(graph, x.shape[0])
        outputs = []
        for conv, post in zip(self.convs, self.post, strict=True):
            out = post(conv(h, A))
            h = out + h if self.residual and out.shape == h.shape else out
            outputs.append(h)
        if self.jk_weight is not None:
            h = (torch.stack(outputs) * self.jk_weight.view(-1, 1, 1)).sum(0)
        return h

    def forward_blocks(self, x: Tensor, blocks: Sequence[SparseMatrix], *,
                       degree: Tensor | None = None) -> Tensor:
        """The sampled form (module docstring): layer ``l`` on ``blocks[l]``, the first
        layer (outermost hop) first.

        Args:
            x: ``(N_0, F)`` features (or ``(N_0,)`` node ids) of ``blocks[0]``'s sources —
                ``x[n_id]`` for a :class:`~gnnkit.data.sampling.SampledSubgraph`.
            blocks: :attr:`num_layers` matrices; ``blocks[l]`` is ``M_l × N_l`` (row =
                target), its targets the first ``M_l`` of its sources, with
                ``N_0 = x.shape[0]`` and ``N_{l+1} = M_l`` (the sampler's nested
                ``matrices``; for a link predictor ``matrices[:-1]``).
            degree: ``(N_0,)`` :meth:`block_degree` of the full graph gathered at the sources
                (``encoder.block_degree(A)[n_id]``); block ``l`` reads its first ``N_l``
                entries. Used by ``"puregcn"`` and ``"gcn"`` only (there ``None`` reads each
                block as a square graph whose non-target sources have no in-edges, as
                :class:`~gnnkit.nn.conv.GCNConv` does); the other convs take ``None``.

        Returns:
            ``(M_{L-1}, H)``, ``h`` of the last block's targets. With fanout ``-1`` on every
            hop and the full graph's ``degree`` it equals ``encoder(x_full, A)`` at those
            nodes up to float rounding. In training, edge dropout draws each block's entries
            independently (``degree`` is not redrawn).

        Raises:
            TypeError: a block that is not a ``SparseMatrix``.
            ValueError: not one block per layer; blocks that do not chain (``x`` rows ≠
                ``blocks[0]``'s sources, sources of block ``l + 1`` ≠ targets of block ``l``,
                more targets than sources); a ``degree`` of the wrong shape or for a conv
                that uses none.
        """
        blocks = self._check_blocks(x, blocks)
        if degree is not None:
            if self.conv_kind not in ("puregcn", "gcn"):
                raise ValueError(f"degree is used by conv='puregcn' or 'gcn' only; this encoder "
                                 f"has conv={self.conv_kind!r} (its block_degree is None): "
                                 "pass degree=None")
            if not isinstance(degree, Tensor) or tuple(degree.shape) != (x.shape[0],):
                raise ValueError(f"degree must be a tensor of shape (num_sources,) = "
                                 f"({x.shape[0]},), one entry per row of x, got "
                                 f"{tuple(getattr(degree, 'shape', ())) or type(degree).__name__}"
                                 " (pass encoder.block_degree(A)[n_id])")
        h = self._input(x)
        outputs = []
        for conv, post, block in zip(self.convs, self.post, blocks, strict=True):
            if self.training and self.edge_dropout > 0:
                block = drop_entries(block, self.edge_dropout)
            M, N = block.shape
            source_degree = None if degree is None else degree[:N]
            if isinstance(conv, _PureConv):
                out = conv(h, block, source_degree)
            elif self.conv_kind == "gcn":
                out = conv((h, h[:M]), block, degree=source_degree)
            else:
                out = conv((h, h[:M]), block)
            out = post(out)
            target = h[:M]  # the block's targets are its first M sources
            h = out + target if self.residual and out.shape == target.shape else out
            outputs.append(h)
        if self.jk_weight is not None:
            # every layer's output at the last block's targets: a prefix of each
            final = blocks[-1].num_rows
            h = (torch.stack([out[:final] for out in outputs])
                 * self.jk_weight.view(-1, 1, 1)).sum(0)
        return h

    def _check_blocks(self, x: Tensor, blocks: Sequence[SparseMatrix]) -> list[SparseMatrix]:
        """``blocks`` as a list, else the errors of :meth:`forward_blocks`."""
        blocks = list(blocks)
        if len(blocks) != self.num_layers:
            raise ValueError(f"the encoder has {self.num_layers} layer(s) but {len(blocks)} "
                             "block(s) were given: one block per layer, the outermost hop "
                             "first (a link predictor samples num_layers + 1 hops and gives "
                             "the encoder matrices[:-1])")
        sources = int(x.shape[0])
        for layer, block in enumerate(blocks):
            if not isinstance(block, SparseMatrix):
                raise TypeError(f"blocks[{layer}] must be a gnnkit SparseMatrix, got "
                                f"{type(block).__name__}")
            if block.num_rows > block.num_cols:
                raise ValueError(f"blocks[{layer}] has shape {block.shape}: a block's M "
                                 "targets are the first M of its N sources (M <= N)")
            if block.num_cols != sources:
                given = ("x has", "rows (pass x[n_id])") if layer == 0 else (
                    f"blocks[{layer - 1}] has", "targets")
                raise ValueError(f"blocks[{layer}] has {block.num_cols} sources but "
                                 f"{given[0]} {sources} {given[1]}: blocks go first layer "
                                 "(outermost hop) first, each block's targets being the next "
                                 "block's sources")
            sources = block.num_rows
        return blocks

    def block_degree(self, A: SparseMatrix) -> Tensor | None:
        """The per-node degree this encoder's normalisation needs on a block (gathered at
        the sources, :meth:`forward_blocks`'s ``degree``); ``None`` for convs that need none.

        ``"puregcn"``: ``D̂ = 1 + rowsum(A)`` (weighted when ``A`` has values); ``"gcn"``:
        :func:`~gnnkit.sparse.structural.gcn_degree` (the in-degree plus the self loop
        :class:`~gnnkit.nn.conv.GCNConv` adds). Both in the parameters' dtype.

        Args:
            A: the ``N × N`` graph → ``(N,)``; or an ``M × N`` block whose ``M`` targets are
                its first ``M`` sources → ``(M,)``, the targets' degrees read from their rows
                (the full graph's when the block holds every entry of those rows).
        """
        if not isinstance(A, SparseMatrix):
            raise TypeError(f"A must be a gnnkit SparseMatrix, got {type(A).__name__}")
        if A.num_rows > A.num_cols:
            raise ValueError(f"A has shape {A.shape}: give the square graph or a block whose "
                             "M targets are its first M sources (M <= N)")
        if self.conv_kind not in ("puregcn", "gcn"):
            return None
        dtype = next(self.parameters()).dtype
        if A.values is not None and A.values.dtype != dtype:  # as the layers cast them
            A = A.with_values(A.values.to(dtype))
        if self.conv_kind == "puregcn":
            return _puregcn_degree(A, dtype)
        return gcn_degree(_as_square(A), dtype=dtype)[: A.num_rows]

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.hidden_channels}, num_layers={self.num_layers}, "
                f"conv={self.conv_kind!r}, residual={self.residual}, "
                f"jumping_knowledge={self.jumping_knowledge}")
