"""GraphSAGE for node classification, full-graph or on sampled mini-batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.nn import GraphLike, SAGEConv
from gnnkit.sparse import SparseMatrix

__all__ = ["SAGE"]


class SAGE(torch.nn.Module):
    r"""Stack of :class:`~gnnkit.nn.SAGEConv` layers (Hamilton et al., "Inductive
    Representation Learning on Large Graphs", NeurIPS 2017, Algorithm 1 and 2):

    .. math::
        \mathbf{h}^{(k)}_i = \sigma\Big(\mathbf{W}^{(k)}_1 \mathbf{h}^{(k-1)}_i
        + \mathbf{W}^{(k)}_2\, \mathrm{mean}_{j \in \mathcal{N}(i)} \mathbf{h}^{(k-1)}_j\Big)

    (the paper's concatenation ``W [h_i ‖ mean_j h_j]`` written as two weight blocks), with
    dropout on every layer's input, ReLU between layers, optional L2 normalisation of the
    hidden representations (the paper's line 7) and logits out.

    **Two call forms.** ``model(x, A)`` with the full ``N × N`` graph gives ``(N, C)``;
    ``model(x_sub, matrices)`` with the ``K`` per-layer blocks of a
    :class:`gnnkit.data.sampling.SampledSubgraph` (``matrices[l]`` is ``M_l × N_l``, its
    targets a prefix of its sources; ``x_sub = x[n_id]``) gives ``(B, C)`` for the ``B``
    seeds: layer ``l`` runs on ``(h, h[:M_l])`` and block ``l``. With fanout ``-1`` on every
    hop both forms agree at the seeds exactly.

    **Layer by layer.** :attr:`num_layers`, :meth:`forward_layer` (one layer on one block) and
    :meth:`block_degree` let :func:`gnnkit.train.inference.layerwise_inference` compute the
    full-graph output one layer at a time over batches of nodes, without ``K`` layers of
    activations in memory.

    Args:
        in_channels: feature width ``F``.
        hidden_channels: hidden width (256 in the paper).
        out_channels: number of classes.
        num_layers: ``K`` (2 in the paper), one block per layer in the sampled form.
        dropout: dropout probability on every layer's input.
        aggr: neighbourhood aggregation of :class:`~gnnkit.nn.SAGEConv` (``mean`` in the
            paper's "GraphSAGE-mean").
        normalize: L2-normalise the hidden representations.

    Shapes: ``x`` ``(N, F)`` (a sparse ``SparseMatrix`` is made dense first), graph
    ``N × N`` → ``(N, C)``; ``x_sub`` ``(N_0, F)``, ``K`` blocks → ``(M_{K-1}, C)``.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 num_layers: int = 2, dropout: float = 0.5, aggr: str = "mean",
                 normalize: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = torch.nn.ModuleList(SAGEConv(a, b, aggr=aggr) for a, b in pairwise(widths))
        self.dropout = dropout
        self.normalize = normalize

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def first_layer_parameters(self) -> Iterator[torch.nn.Parameter]:
        """Parameters of the first layer (for a first-layer-only weight decay)."""
        return self.convs[0].parameters()

    @property
    def num_layers(self) -> int:
        """``K``, the number of :class:`~gnnkit.nn.SAGEConv` layers."""
        return len(self.convs)

    def _finish(self, k: int, h: Tensor) -> Tensor:
        if k < len(self.convs) - 1:
            h = F.relu(h)
            if self.normalize:
                h = F.normalize(h, p=2.0, dim=-1)
        return h

    def forward(self, x: Tensor | SparseMatrix, graph: GraphLike | Sequence[SparseMatrix]
                ) -> Tensor:
        if isinstance(x, SparseMatrix):  # SAGEConv takes dense features (e.g. bag of words)
            x = x.to_dense()
        if isinstance(graph, (list, tuple)):
            return self.forward_blocks(x, graph)
        for k, conv in enumerate(self.convs):
            x = F.dropout(x, self.dropout, self.training)
            x = self._finish(k, conv(x, graph))
        return x

    def forward_blocks(self, x: Tensor, matrices: Sequence[SparseMatrix]) -> Tensor:
        """The sampled form: ``x`` ``(N_0, F)`` of the sampled nodes (``x[n_id]``) and one
        block per layer, first layer first → ``(B, C)`` for the seeds."""
        if len(matrices) != len(self.convs):
            raise ValueError(f"the model has {len(self.convs)} layers but {len(matrices)} "
                             "blocks were given (sample one hop per layer)")
        for k, block in enumerate(matrices):
            x = self.forward_layer(k, x, block)
        return x

    def forward_layer(self, k: int, x: Tensor, block: SparseMatrix, *,
                      degree: Tensor | None = None) -> Tensor:
        """Layer ``k`` (0-based) on one block: dropout on ``x``, the convolution on
        ``(x, x[:M])``, then ReLU (and the L2 normalisation) unless ``k`` is the last layer.

        Args:
            k: the layer, ``0 <= k < num_layers``.
            x: ``(N_b, F_k)`` features of the block's sources, its ``M`` targets first.
            block: ``M × N_b``, row = target, column = source.
            degree: must be ``None`` (SAGE's mean needs no source degrees; see
                :meth:`block_degree`).

        Returns:
            ``(M, F_{k+1})``; the output width is the hidden width, or ``C`` for the last
            layer.
        """
        if degree is not None:
            raise ValueError("SAGE takes no source degree (block_degree(A) is None)")
        if x.shape[0] != block.num_cols:
            raise ValueError(f"block {k} has {block.num_cols} sources but the features "
                             f"have {x.shape[0]} rows")
        x = F.dropout(x, self.dropout, self.training)
        return self._finish(k, self.convs[k]((x, x[: block.num_rows]), block))

    def block_degree(self, A: SparseMatrix) -> Tensor | None:
        """``None``: a SAGE layer on a block holding every in-edge of its targets needs
        nothing of the full graph ``A`` beyond the block."""
        return None
