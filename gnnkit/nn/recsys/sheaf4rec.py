r"""Sheaf4Rec (Purificato, Cassarà, Siciliano, Liò & Silvestri, "Sheaf4Rec: Sheaf Neural
Networks for Graph-based Recommender Systems", ACM TORS 2025, arXiv:2304.09097): learnt-sheaf
diffusion on the user–item graph, layer mean, BPR — with ``D``-dimensional stalks.

* :func:`bipartite_sheaf_graph` — the ``(U+I) × (U+I)`` :class:`~gnnkit.nn.sheaf.SheafGraph`
  of a ``U × I`` interaction matrix (users first, then items);
* :class:`Sheaf4Rec` — the model, a :class:`~gnnkit.nn.recsys.BPRRecommender`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gnnkit.sparse import SparseMatrix

from ..sheaf import (
    DiagLaplacianBuilder,
    GeneralLaplacianBuilder,
    LocalConcatSheafLearner,
    SheafGraph,
)
from .bpr import BPRRecommender

__all__ = ["SHEAF4REC_MAPS", "Sheaf4Rec", "bipartite_sheaf_graph"]

#: restriction-map families of :class:`Sheaf4Rec`: ``diag`` — ``D × D`` diagonal maps (``D``
#: numbers per incidence, :class:`~gnnkit.nn.sheaf.DiagLaplacianBuilder`); ``general`` —
#: unconstrained ``D × D`` maps (:class:`~gnnkit.nn.sheaf.GeneralLaplacianBuilder`). With
#: ``stalk_dim = 1`` both are the official code's scalar maps.
SHEAF4REC_MAPS = ("diag", "general")


def bipartite_sheaf_graph(interactions: SparseMatrix, dtype: torch.dtype = torch.float32
                          ) -> SheafGraph:
    """The undirected user–item graph of a ``U × I`` interaction matrix as a
    :class:`~gnnkit.nn.sheaf.SheafGraph` on ``N = U + I`` nodes: user ``u`` is node ``u``,
    item ``i`` is node ``U + i``, and every stored ``(u, i)`` gives the entries
    ``(u, U + i)`` and ``(U + i, u)``. Values are ignored (the sheaf learns the weights);
    duplicates merge. Users/items without interactions are isolated nodes.

    Raises:
        TypeError: ``interactions`` is not a :class:`~gnnkit.sparse.SparseMatrix`.
    """
    if not isinstance(interactions, SparseMatrix):
        raise TypeError("interactions must be the U × I gnnkit.sparse.SparseMatrix of training "
                        f"pairs, got {type(interactions).__name__}; build it with "
                        "gnnkit.nn.recsys.interaction_matrix(pairs, num_users, num_items)")
    num_users, num_items = interactions.shape
    users, items = interactions.row.long(), interactions.col.long() + num_users
    nodes = num_users + num_items
    adjacency = SparseMatrix.from_coo(torch.cat([users, items]), torch.cat([items, users]),
                                      None, (nodes, nodes))
    return SheafGraph.from_graph(adjacency, dtype=dtype)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


class Sheaf4Rec(BPRRecommender):
    r"""Sheaf4Rec: layer-0 user/item embeddings diffused by ``K`` learnt-sheaf convolutions on
    the user–item graph, averaged over layers, scored by dot products and trained with BPR.

    With ``N = U + I`` nodes, embeddings :math:`\mathbf{X}^{(0)} = [E_U; E_I] \in
    \mathbb{R}^{N \times d}` and each node's ``d`` numbers read as a ``D × C`` stalk signal
    (``D`` = ``stalk_dim``, ``C = d / D`` channels; stalk dimension ``s`` holds the entries
    ``s·C … (s+1)·C − 1``), layer ``t`` computes

    .. math::
        \mathcal{F}^{(t)}_{i \trianglelefteq e} = \tanh\big(W^{(t)}_{\mathcal{F}}
            [\mathbf{x}^{(t)}_i \,\|\, \mathbf{x}^{(t)}_j]\big), \quad e = (i, j),
        \qquad
        \mathbf{X}^{(t+1)} = \mathbf{X}^{(t)} - \alpha\,\Delta_{\mathcal{F}^{(t)}}\,
            \big(\mathbf{X}^{(t)} W^{(t)} + \mathbf{b}^{(t)}\big),

    with the augmented-normalised sheaf Laplacian
    :math:`\Delta_{ij} = -(D_i + I)^{-1/2}\mathcal{F}_{i \trianglelefteq e}^\top
    \mathcal{F}_{j \trianglelefteq e}(D_j + I)^{-1/2}`,
    :math:`\Delta_{ii} = (D_i + I)^{-1/2} D_i (D_i + I)^{-1/2}`,
    :math:`D_i = \sum_{e \ni i}\mathcal{F}_{i \trianglelefteq e}^\top
    \mathcal{F}_{i \trianglelefteq e}`; then

    .. math::
        \mathbf{X} = \frac{1}{K+1}\sum_{t=0}^{K}\mathbf{X}^{(t)}, \qquad
        \hat{y}_{ui} = \mathbf{x}_u^\top \mathbf{x}_{U+i}.

    :math:`W^{(t)} \in \mathbb{R}^{d \times d}` with bias :math:`\mathbf{b}^{(t)}` acts on the
    flattened stalk signal (``nn.Linear(d, d)``), :math:`W^{(t)}_{\mathcal{F}}` (no bias) maps
    the ``2d`` concatenated features to the ``D`` (diagonal) or ``D²`` (general) entries of
    each map (:class:`~gnnkit.nn.sheaf.LocalConcatSheafLearner`, one map per stored
    direction, so the two ends of an edge get different maps), :math:`\alpha` =
    ``step_size``. The Laplacian is a block-valued :class:`~gnnkit.nn.sheaf.SheafLaplacian`
    over the ``2·nnz(R)`` entries of the bipartite graph (:func:`bipartite_sheaf_graph`,
    built once per graph object and cached), never a dense ``ND × ND`` matrix. Parameters:
    the tables, and per layer ``d² + d + 2d·D`` (diag) or ``d² + d + 2d·D²`` (general).
    Cost: on Gowalla (1.62 M entries, ``K = 5``, ``D = 1``) a BPR step of 2048 triples takes
    ~2 s on one CPU thread, ~6× LightGCN's ``K = 3`` step (``docs/recommenders.md``).

    Shapes: ``model(R)`` with ``R`` the ``U × I`` training matrix
    (:func:`~gnnkit.nn.recsys.interaction_matrix`) or its :func:`bipartite_sheaf_graph` →
    ``(E_U (U, d), E_I (I, d))``. The loss is
    :meth:`~gnnkit.nn.recsys.BPRRecommender.bpr_objective` (BPR + the batch L2 of layer-0
    rows).

    **Parity with the official code** (github.com/antoniopurificato/Sheaf4Rec, ``models.py``
    ``SheafConvLayer`` / ``RecSysGNN``, ``train.py``, ``evaluation.py``, checked at commit
    2cd476f "Final version."): the official layer predicts scalar maps ``tanh(Linear(2·64, 1,
    bias=False)([x_src ‖ x_dst]))`` per directed edge, builds ``−F_ie F_je`` off the diagonal
    and ``Σ F_ie²`` on it, normalises by ``(diag + 1)^{-1/2}`` on both sides, and updates ``x −
    1.0 · L @ Linear(64, 64)(x)``; the output is the mean of the ``K + 1`` layer outputs,
    initialisation ``N(0, 0.1²)``, BPR with softplus and the ``½(‖e_u‖² + ‖e_i‖² + ‖e_j‖²)/B``
    term on layer-0 rows. With ``stalk_dim = 1`` this class computes the same function (tests
    check it against a dense transcription). Differences: (1) ``D``-dimensional stalks (the
    issue's extension; the official maps are 1-D and its sizes hard-coded: 64 channels, 9640 or
    2489 nodes); (2) gnnkit's sparse block Laplacian instead of a ``torch.sparse_coo_tensor``
    rebuilt with a Python loop over edges (isolated users/items keep their layer-0 embedding in
    both); (3) the official ``train.py`` declares ``DECAY = 1e-4`` but adds the L2 term with
    weight 1 (``final_loss = bpr_loss + reg_loss``); gnnkit's loop multiplies it by
    ``weight_decay``, so the experiments state which they use; (4) the official sampler draws
    ``B`` distinct users per batch (positives and negatives uniform per user); gnnkit uses
    :class:`~gnnkit.nn.recsys.BPRSampler`. The paper's datasets are MovieLens 1M/100K, Facebook
    Books and Yahoo! Movies (5 layers, ``d = 64``, batch 1024, Adam lr 0.001 in
    ``run_exps.sh``/``train.py`` defaults); no Gowalla, Yelp2018 or Amazon-Book number exists.

    Args:
        num_users, num_items: ``U``, ``I``.
        embedding_dim: ``d`` (64 in the paper); must be a multiple of ``stalk_dim``.
        num_layers: ``K`` (the paper's runs use 5); 0 gives MF.
        stalk_dim: ``D`` (1 = the official scalar maps).
        maps: one of :data:`SHEAF4REC_MAPS`.
        step_size: :math:`\alpha` (1.0 in the official code).
        init_std: standard deviation of the normal initialisation (0.1).

    Raises:
        ValueError: a bad size, ``embedding_dim`` not divisible by ``stalk_dim``, an unknown
            ``maps``, a non-positive ``step_size``; in :meth:`forward`, a missing graph or one
            of the wrong shape. TypeError: a graph that is not a ``SparseMatrix``/``SheafGraph``.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 5, *, stalk_dim: int = 1, maps: str = "diag",
                 step_size: float = 1.0, init_std: float = 0.1) -> None:
        num_layers = _check_int("num_layers", num_layers, 0)
        stalk_dim = _check_int("stalk_dim", stalk_dim, 1)
        embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
        if embedding_dim % stalk_dim:
            raise ValueError(f"embedding_dim ({embedding_dim}) must be a multiple of stalk_dim "
                             f"({stalk_dim}): each embedding is a stalk_dim × "
                             "(embedding_dim / stalk_dim) stalk signal; pick a divisor, e.g. "
                             f"stalk_dim in {[k for k in (1, 2, 4, 8) if embedding_dim % k == 0]}")
        if maps not in SHEAF4REC_MAPS:
            raise ValueError(f"maps must be one of {list(SHEAF4REC_MAPS)}, got {maps!r}")
        if (isinstance(step_size, bool) or not isinstance(step_size, (int, float))
                or not step_size > 0):
            raise ValueError(f"step_size must be a positive float, got {step_size!r}")
        super().__init__(num_users, num_items, embedding_dim, init_std=init_std)
        self.num_layers, self.stalk_dim, self.maps = num_layers, stalk_dim, maps
        self.step_size = float(step_size)
        self.channels = embedding_dim // stalk_dim
        shape = (stalk_dim,) if maps == "diag" else (stalk_dim, stalk_dim)
        self.sheaf_learners = nn.ModuleList(
            LocalConcatSheafLearner(embedding_dim, shape, "tanh") for _ in range(num_layers))
        self.linears = nn.ModuleList(
            nn.Linear(embedding_dim, embedding_dim) for _ in range(num_layers))
        builder = DiagLaplacianBuilder if maps == "diag" else GeneralLaplacianBuilder
        self.builder = builder(stalk_dim, normalise=True)
        self._graph_key: object = None
        self._sheaf_graph: SheafGraph | None = None

    def reset_parameters(self) -> None:
        """``N(0, init_std²)`` tables, PyTorch's default ``nn.Linear`` initialisation for the
        layer weights and sheaf learners (as the official code); drops the cached graph."""
        super().reset_parameters()
        for module in (*getattr(self, "sheaf_learners", ()), *getattr(self, "linears", ())):
            module.reset_parameters()
        self._graph_key, self._sheaf_graph = None, None

    def sheaf_graph(self, graph: SparseMatrix | SheafGraph, dtype: torch.dtype) -> SheafGraph:
        """The bipartite :class:`~gnnkit.nn.sheaf.SheafGraph` of ``graph`` (a ``U × I``
        matrix, converted once per object and cached, or an ``(U+I)``-node ``SheafGraph``)."""
        N = self.num_users + self.num_items
        if isinstance(graph, SheafGraph):
            if graph.num_nodes != N:
                raise ValueError(f"graph is a SheafGraph on {graph.num_nodes} nodes; Sheaf4Rec "
                                 f"needs U + I = {self.num_users} + {self.num_items} = {N} "
                                 "(users first): build it with bipartite_sheaf_graph(R)")
            return SheafGraph.from_graph(graph, dtype=dtype)
        if not isinstance(graph, SparseMatrix):
            raise TypeError("graph must be the U × I training matrix (gnnkit.sparse.SparseMatrix,"
                            " from gnnkit.nn.recsys.interaction_matrix) or its "
                            f"bipartite_sheaf_graph, got {type(graph).__name__}")
        if tuple(graph.shape) != (self.num_users, self.num_items):
            raise ValueError(f"graph has shape {tuple(graph.shape)}; Sheaf4Rec needs the U × I "
                             f"= {self.num_users} × {self.num_items} interaction matrix "
                             "(rows users, columns items; transpose an I × U one)")
        cached = self._sheaf_graph
        if (self._graph_key is not graph or cached is None
                or cached.row.device != graph.row.device):
            cached = bipartite_sheaf_graph(graph, dtype)
            self._graph_key, self._sheaf_graph = graph, cached
        return SheafGraph.from_graph(cached, dtype=dtype)

    def propagate(self, x: Tensor, graph: SheafGraph) -> list[Tensor]:
        """The layer outputs ``[X⁽⁰⁾, …, X⁽ᴷ⁾]``, each ``(N, d)``, from ``x`` ``(N, d)``."""
        N, d = x.shape
        layers = [x]
        for learner, linear in zip(self.sheaf_learners, self.linears, strict=True):
            laplacian = self.builder(graph, learner(x, graph))
            h = linear(x).view(N, self.stalk_dim, self.channels)
            x = x - self.step_size * (laplacian @ h).reshape(N, d)
            layers.append(x)
        return layers

    def forward(self, graph: SparseMatrix | SheafGraph | None = None) -> tuple[Tensor, Tensor]:
        """Final ``(E_U (U, d), E_I (I, d))``: the mean of the ``K + 1`` layer outputs."""
        users, items = self.user_embedding.weight, self.item_embedding.weight
        if self.num_layers == 0:
            return users, items
        if graph is None:
            raise ValueError(f"Sheaf4Rec with {self.num_layers} layers needs the graph: pass the "
                             f"U × I training matrix ({self.num_users} × {self.num_items}), "
                             "e.g. interaction_matrix(train_pairs, num_users, num_items)")
        sheaf_graph = self.sheaf_graph(graph, users.dtype)
        layers = self.propagate(torch.cat([users, items]), sheaf_graph)
        final = torch.stack(layers).mean(dim=0)
        return final[:self.num_users], final[self.num_users:]

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_layers={self.num_layers}, "
                f"stalk_dim={self.stalk_dim}, maps={self.maps!r}, step_size={self.step_size:g}")
