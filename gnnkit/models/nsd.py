"""Discrete Neural Sheaf Diffusion: Diag-NSD, O(d)-NSD (bundle) and Gen-NSD."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.nn import GraphLike
from gnnkit.nn.conv.message_passing import project
from gnnkit.nn.sheaf import (
    BundleLaplacianBuilder,
    DiagLaplacianBuilder,
    EdgeWeightLearner,
    GeneralLaplacianBuilder,
    LocalConcatSheafLearner,
    SheafDiffusionLayer,
    SheafGraph,
    SheafLaplacian,
    StalkSumSheafLearner,
)
from gnnkit.sparse import SparseMatrix

from ._dropout import feature_dropout

__all__ = ["NSD", "NSD_SHEAVES"]

#: restriction-map families: diagonal, orthogonal (O(d) bundle), general d × d
NSD_SHEAVES = ("diag", "bundle", "general")


class NSD(torch.nn.Module):
    r"""Discrete Neural Sheaf Diffusion (Bodnar et al., "Neural Sheaf Diffusion: A Topological
    Perspective on Heterophily and Oversmoothing in GNNs", NeurIPS 2022, §5):

    .. math::
        \mathbf{X}_0 &= \operatorname{reshape}_{N \times D \times C}\big(
            \operatorname{dropout}(\sigma(W_0\,\operatorname{dropout}(\mathbf{x}))) \big) \\
        \mathbf{X}_{t+1} &= (1 + \tanh\boldsymbol{\varepsilon}_t) \odot \mathbf{X}_t
            - \sigma\big(\Delta_{\mathcal{F}(t)} (I \otimes W_1^t)\,
              \operatorname{dropout}(\mathbf{X}_t) W_2^t\big) \\
        \mathbf{y} &= W_{\text{out}}\, \operatorname{vec}(\mathbf{X}_T)

    with stalk dimension ``D = d + k`` (``k`` fixed Laplacian channels), ``C =
    hidden_channels``, :math:`\sigma` = ELU, and the sheaf :math:`\mathcal{F}(t)` learnt from
    :math:`\mathbf{X}_t` (dropout before it from the second layer on) by a sheaf learner, or
    learnt once from :math:`\mathbf{X}_0` with ``reuse_laplacian``. One model, three sheaves:

    * ``diag`` — diagonal maps (:class:`~gnnkit.nn.sheaf.DiagLaplacianBuilder`), Diag-NSD;
    * ``bundle`` — orthogonal maps with learnt edge weights
      (:class:`~gnnkit.nn.sheaf.BundleLaplacianBuilder`), O(d)-NSD;
    * ``general`` — general ``d × d`` maps (:class:`~gnnkit.nn.sheaf.GeneralLaplacianBuilder`),
      Gen-NSD.

    Args (the reference code's flags in brackets):
        in_channels, hidden_channels, out_channels: feature width, channels ``C`` per stalk
            dimension (``--hidden_channels``; the hidden width is ``D · C``), classes.
        sheaf: ``diag``, ``bundle`` or ``general`` (``--model``).
        d: learnt stalk dimension (``--d``; ≥ 2 for bundle and general).
        num_layers: diffusion layers (``--layers``).
        dropout: dropout in the layers and after the encoder (``--dropout``).
        input_dropout: dropout on the input features (``--input_dropout``).
        left_weights, right_weights: per-layer stalk / channel mixing (``--left_weights``,
            ``--right_weights``).
        activation: ELU after the encoder and the diffusion (``--use_act``).
        second_linear: a second ``D·C → D·C`` linear layer after the encoder
            (``--second_linear``).
        sheaf_activation: ``tanh``, ``id`` or ``elu`` on the learnt maps (``--sheaf_act``).
        stalk_sum_learner: use :class:`~gnnkit.nn.sheaf.StalkSumSheafLearner`
            (``--sparse_learner``), with ``official_layout`` as there.
        reuse_laplacian: learn the sheaf at the first layer only and reuse it
            (``--linear``).
        orthogonal: bundle parametrisation (``--orth``).
        edge_weights: learnt edge weights of the bundle (``--edge_weights``).
        graph_laplacian_channel: a fixed stalk channel with the graph Laplacian
            :math:`D - A` (the reference code's ``--add_hp``, whose help text says "low pass").
        signless_laplacian_channel: a fixed channel with the signless Laplacian :math:`D + A`
            (``--add_lp``, help text "high pass").
        normalise: the augmented normalisation (``--normalised``).

    Shapes: ``x`` ``(N, F)`` dense or a sparse ``SparseMatrix``; ``graph`` undirected ``N × N``
    (any :data:`~gnnkit.nn.GraphLike`; self loops are ignored) → logits ``(N, out_channels)``.
    The prepared :class:`~gnnkit.nn.sheaf.SheafGraph` is cached for the last graph object seen.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *,
                 sheaf: str = "diag", d: int = 2, num_layers: int = 2, dropout: float = 0.0,
                 input_dropout: float = 0.0, left_weights: bool = True,
                 right_weights: bool = True, activation: bool = True,
                 second_linear: bool = False, sheaf_activation: str = "tanh",
                 stalk_sum_learner: bool = False, official_layout: bool = True,
                 reuse_laplacian: bool = False, orthogonal: str = "householder",
                 edge_weights: bool = True, graph_laplacian_channel: bool = False,
                 signless_laplacian_channel: bool = False, normalise: bool = True) -> None:
        super().__init__()
        if sheaf not in NSD_SHEAVES:
            raise ValueError(f"sheaf must be one of {list(NSD_SHEAVES)}, got {sheaf!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        if sheaf != "diag" and d < 2:
            raise ValueError(f"sheaf={sheaf!r} needs d >= 2, got d={d}")
        if d < 1:
            raise ValueError(f"d must be positive, got {d}")
        self.sheaf = sheaf
        self.d = d
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.activation = activation
        self.reuse_laplacian = reuse_laplacian
        channels = dict(normalise=normalise, graph_laplacian_channel=graph_laplacian_channel,
                        signless_laplacian_channel=signless_laplacian_channel)
        self.builder: DiagLaplacianBuilder | BundleLaplacianBuilder | GeneralLaplacianBuilder
        if sheaf == "diag":
            self.builder = DiagLaplacianBuilder(d, **channels)
            out_shape: tuple[int, ...] = (d,)
        elif sheaf == "bundle":
            self.builder = BundleLaplacianBuilder(d, orthogonal, **channels)
            out_shape = (self.builder.num_params,)
        else:
            self.builder = GeneralLaplacianBuilder(d, **channels)
            out_shape = (d, d)
        D = self.builder.stalk_dim
        self.stalk_dim = D
        self.hidden_channels = hidden_channels
        width = D * hidden_channels
        self.lin1 = torch.nn.Linear(in_channels, width)
        self.lin12 = torch.nn.Linear(width, width) if second_linear else None
        self.lin2 = torch.nn.Linear(width, out_channels)
        num_learners = 1 if reuse_laplacian else num_layers
        self.sheaf_learners = torch.nn.ModuleList(
            StalkSumSheafLearner(D, hidden_channels, out_shape, sheaf_activation,
                                 official_layout=official_layout)
            if stalk_sum_learner else
            LocalConcatSheafLearner(width, out_shape, sheaf_activation)
            for _ in range(num_learners))
        self.weight_learners = torch.nn.ModuleList(
            EdgeWeightLearner(width) for _ in range(num_learners)
        ) if sheaf == "bundle" and edge_weights else None
        self.layers = torch.nn.ModuleList(
            SheafDiffusionLayer(D, hidden_channels, left_weights=left_weights,
                                right_weights=right_weights, dropout=dropout,
                                activation=activation)
            for _ in range(num_layers))
        self._graph_key: object = None
        self._graph: SheafGraph | None = None

    def reset_parameters(self) -> None:
        for module in (self.lin1, self.lin12, self.lin2):
            if module is not None:
                module.reset_parameters()
        for group in (self.sheaf_learners, self.weight_learners or (), self.layers):
            for module in group:
                module.reset_parameters()

    def sheaf_learner_parameters(self) -> Iterator[torch.nn.Parameter]:
        """Parameters of the sheaf learners (the reference code's ``--sheaf_decay`` group;
        the edge-weight learners are not in it)."""
        return self.sheaf_learners.parameters()

    def sheaf_graph(self, graph: GraphLike | SheafGraph, num_nodes: int) -> SheafGraph:
        """``graph`` prepared once (cached for the last graph object) as a
        :class:`~gnnkit.nn.sheaf.SheafGraph`."""
        dtype = self.lin1.weight.dtype
        if (self._graph is not None and self._graph_key is graph
                and self._graph.degree.dtype == dtype):
            return self._graph
        prepared = SheafGraph.from_graph(graph, num_nodes=num_nodes, dtype=dtype)
        if prepared.num_nodes != num_nodes:
            raise ValueError(f"graph has {prepared.num_nodes} nodes but x has {num_nodes} rows")
        self._graph_key, self._graph = graph, prepared
        return prepared

    def laplacian(self, index: int, h: Tensor, graph: SheafGraph) -> SheafLaplacian:
        """The sheaf Laplacian learnt by learner ``index`` from flattened stalks ``h``
        ``(N, D·C)``."""
        maps = self.sheaf_learners[index](h, graph)
        if isinstance(self.builder, BundleLaplacianBuilder):
            weights = (self.weight_learners[index](h, graph)
                       if self.weight_learners is not None else None)
            return self.builder(graph, maps, weights)
        return self.builder(graph, maps)

    def forward(self, x: Tensor | SparseMatrix, graph: GraphLike | SheafGraph) -> Tensor:
        N = x.num_rows if isinstance(x, SparseMatrix) else int(x.shape[0])
        sheaf_graph = self.sheaf_graph(graph, N)
        x = feature_dropout(x, self.input_dropout, self.training)
        h = project(self.lin1, x)
        if self.activation:
            h = F.elu(h)
        h = F.dropout(h, p=self.dropout, training=self.training)
        if self.lin12 is not None:
            h = self.lin12(h)
        stalks = h.view(N, self.stalk_dim, self.hidden_channels)
        laplacian: SheafLaplacian | None = None
        for k, layer in enumerate(self.layers):
            if laplacian is None or not self.reuse_laplacian:
                source = F.dropout(stalks, p=self.dropout if k > 0 else 0.0,
                                   training=self.training)
                laplacian = self.laplacian(k if not self.reuse_laplacian else 0,
                                           source.reshape(N, -1), sheaf_graph)
            stalks = layer(stalks, laplacian)
        return self.lin2(stalks.reshape(N, -1))
