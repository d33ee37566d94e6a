"""Graph-level models: GIN against a dense re-implementation of the official code and against
PyG layers, GINE against PyG's GINEConv with OGB's encoders, on real MUTAG / ogbg-molbace /
ZINC batches (outputs in evaluation and training mode, BatchNorm statistics, gradients);
empty graphs, float64, the registry entries and the named errors."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from itertools import pairwise

import pytest
import torch
from shared_data import SHARED_DATASETS, require_shared_datasets
from torch import Tensor
from torch.nn import functional as F

from gnnkit.data import GraphBatch, collate
from gnnkit.datasets import Graph, read_ogb, read_tu, read_zinc
from gnnkit.models import GIN, GINE, ModelConfigError, build_model, model_config, model_names
from gnnkit.nn.encoders import AtomEncoder, LinearEncoder, ZincAtomEncoder

# Parity runs in float64, where the only differences are summation orders: tight tolerances
# there; float32 comparisons (a graph alone vs in a batch, float32 vs float64) use TOL32.
TOL = {"atol": 1e-10, "rtol": 1e-8}
TOL32 = {"atol": 2e-5, "rtol": 1e-4}


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def mutag() -> list[Graph]:
    require_shared_datasets("tu-MUTAG")
    dataset = read_tu(SHARED_DATASETS / "tu-MUTAG", "MUTAG")
    return [dataset[i] for i in range(0, len(dataset), 6)]  # 32 graphs, both classes


@pytest.fixture(scope="module")
def molbace() -> list[Graph]:
    require_shared_datasets("ogbg-molbace")
    dataset = read_ogb(SHARED_DATASETS / "ogbg-molbace")
    return [dataset[i] for i in range(0, len(dataset), 60)]  # 26 molecules


@pytest.fixture(scope="module")
def zinc() -> list[Graph]:
    require_shared_datasets("zinc-subset")
    dataset = read_zinc(SHARED_DATASETS / "zinc-subset")
    return [dataset[i] for i in range(0, 12000, 500)]  # 24 molecules from all splits


def _float64(graphs: Sequence[Graph]) -> list[Graph]:
    """The graphs with float features in float64 (category ids stay integers)."""
    def convert(t: Tensor | None) -> Tensor | None:
        return t.double() if t is not None and t.is_floating_point() else t

    return [g.replace(x=convert(g.x), edge_attr=convert(g.edge_attr)) for g in graphs]


class Concatenated:
    """The graphs as PyG-style tensors, built here (not by ``collate``): ``edge_index`` with
    offsets in input order, ``edge_attr`` in input order, the node→graph vector."""

    def __init__(self, graphs: Sequence[Graph]) -> None:
        counts = [g.num_nodes for g in graphs]
        offsets = [sum(counts[:k]) for k in range(len(graphs))]
        self.num_nodes = sum(counts)
        self.x = torch.cat([g.x for g in graphs])
        self.edge_index = torch.cat([g.edge_index + o for g, o in zip(graphs, offsets,
                                                                       strict=True)], dim=1)
        self.edge_attr = None if graphs[0].edge_attr is None \
            else torch.cat([g.edge_attr for g in graphs])
        self.batch = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
        self.num_graphs = len(graphs)


# --------------------------------------------- GIN: the official code, re-implemented densely
class OfficialMLP(torch.nn.Module):
    """powerful-gnns models/mlp.py: linears with BN + ReLU between, linear output."""

    def __init__(self, num_layers: int, input_dim: int, hidden_dim: int, output_dim: int
                 ) -> None:
        super().__init__()
        self.num_layers = num_layers
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in pairwise(dims))
        self.batch_norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden_dim)
                                               for _ in range(num_layers - 1))

    def forward(self, x: Tensor) -> Tensor:
        for k in range(self.num_layers - 1):
            x = F.relu(self.batch_norms[k](self.linears[k](x)))
        return self.linears[-1](x)


class OfficialGIN(torch.nn.Module):
    """powerful-gnns models/graphcnn.py GraphCNN, with dense matrices instead of torch.sparse:
    the block adjacency gets self loops unless ε is learnt; 'average' divides by the degree of
    that matrix; 'max' pads every neighbour list with a dummy row (the batch-wide minimum)
    and, unless ε is learnt, appends the node itself; each layer's graph readout goes through
    its own linear layer, then dropout, and the scores are summed."""

    def __init__(self, num_layers: int, num_mlp_layers: int, input_dim: int, hidden_dim: int,
                 output_dim: int, final_dropout: float, learn_eps: bool,
                 graph_pooling_type: str, neighbor_pooling_type: str) -> None:
        super().__init__()
        self.final_dropout = final_dropout
        self.learn_eps = learn_eps
        self.graph_pooling_type = graph_pooling_type
        self.neighbor_pooling_type = neighbor_pooling_type
        self.eps = torch.nn.Parameter(torch.zeros(num_layers - 1))
        self.mlps = torch.nn.ModuleList(
            OfficialMLP(num_mlp_layers, input_dim if k == 0 else hidden_dim, hidden_dim,
                        hidden_dim) for k in range(num_layers - 1))
        self.batch_norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(hidden_dim)
                                               for _ in range(num_layers - 1))
        self.linears_prediction = torch.nn.ModuleList(
            torch.nn.Linear(input_dim if k == 0 else hidden_dim, output_dim)
            for k in range(num_layers))

    def forward(self, graphs: Sequence[Graph]) -> Tensor:
        data = Concatenated(graphs)
        n = data.num_nodes
        source, target = data.edge_index
        dtype = data.x.dtype
        adj = torch.zeros(n, n, dtype=dtype)
        adj.index_put_((target, source), torch.ones(source.numel(), dtype=dtype),
                       accumulate=True)
        if not self.learn_eps:
            adj = adj + torch.eye(n, dtype=dtype)
        neighbours = [source[target == i].tolist() for i in range(n)]
        max_deg = max(len(s) for s in neighbours)
        padded = torch.tensor([s + [-1] * (max_deg - len(s)) + ([] if self.learn_eps else [i])
                               for i, s in enumerate(neighbours)])
        pool = torch.zeros(data.num_graphs, n, dtype=dtype)
        for g in range(data.num_graphs):
            members = data.batch == g
            pool[g, members] = 1.0 / int(members.sum()) \
                if self.graph_pooling_type == "average" else 1.0
        h = data.x
        hidden = [h]
        for layer in range(len(self.mlps)):
            if self.neighbor_pooling_type == "max":
                dummy = torch.min(h, dim=0)[0]
                pooled = torch.max(torch.cat([h, dummy.reshape(1, -1)])[padded], dim=1)[0]
            else:
                pooled = adj @ h
                if self.neighbor_pooling_type == "average":
                    pooled = pooled / (adj @ torch.ones(n, 1, dtype=dtype))
            if self.learn_eps:
                pooled = pooled + (1 + self.eps[layer]) * h
            h = F.relu(self.batch_norms[layer](self.mlps[layer](pooled)))
            hidden.append(h)
        score: Tensor | float = 0.0
        for layer, h in enumerate(hidden):
            score = score + F.dropout(self.linears_prediction[layer](pool @ h),
                                      self.final_dropout, training=self.training)
        assert isinstance(score, Tensor)
        return score


def _official_from(ours: GIN, num_mlp_layers: int, hidden: int) -> OfficialGIN:
    """An OfficialGIN (in ``ours``'s dtype) holding ``ours``'s weights, ε and BatchNorm
    statistics."""
    reference = OfficialGIN(ours.num_layers, num_mlp_layers, ours.heads[0].in_features, hidden,
                            ours.heads[0].out_features, ours.final_dropout, ours.learn_eps,
                            {"sum": "sum", "mean": "average"}[ours.graph_pooling],
                            {"sum": "sum", "mean": "average", "max": "max"}[
                                ours.neighbor_pooling])
    reference.to(ours.heads[0].weight.dtype)  # before copying, so nothing is rounded
    with torch.no_grad():
        for k, conv in enumerate(ours.convs):
            mlp = reference.mlps[k]
            linears = [m for m in conv.nn if isinstance(m, torch.nn.Linear)]
            norms = [m for m in conv.nn if isinstance(m, torch.nn.BatchNorm1d)]
            for theirs, mine in [*zip(mlp.linears, linears, strict=True),
                                 *zip(mlp.batch_norms, norms, strict=True)]:
                theirs.load_state_dict(mine.state_dict())
            reference.batch_norms[k].load_state_dict(ours.batch_norms[k].state_dict())
            if ours.learn_eps:
                reference.eps[k] = conv.eps.reshape(())
        for theirs, mine in zip(reference.linears_prediction, ours.heads, strict=True):
            theirs.load_state_dict(mine.state_dict())
    return reference


def _gin_pairs(ours: GIN, reference: OfficialGIN) -> list[tuple[Tensor, Tensor]]:
    pairs = []
    for k, conv in enumerate(ours.convs):
        mine = [m for m in conv.nn if isinstance(m, torch.nn.Linear | torch.nn.BatchNorm1d)]
        mlp = reference.mlps[k]
        theirs = [m for pair in zip(mlp.linears[:-1], mlp.batch_norms, strict=True)
                  for m in pair] + [mlp.linears[-1]]
        for a, b in zip(mine, theirs, strict=True):
            pairs += [(a.weight, b.weight), (a.bias, b.bias)]
        pairs += [(ours.batch_norms[k].weight, reference.batch_norms[k].weight),
                  (ours.batch_norms[k].bias, reference.batch_norms[k].bias)]
    for a, b in zip(ours.heads, reference.linears_prediction, strict=True):
        pairs += [(a.weight, b.weight), (a.bias, b.bias)]
    return pairs


def _randomise_eps(model: torch.nn.Module, seed: int) -> None:
    """Non-zero learnt ε so that its use is tested, not only its initial value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in model.convs:
            if isinstance(conv.eps, torch.nn.Parameter):
                conv.eps.copy_(torch.rand(1, generator=gen) - 0.5)


def _check_train_and_eval(ours: torch.nn.Module, reference: torch.nn.Module,
                          run_ours: Callable[[], Tensor], run_reference: Callable[[], Tensor],
                          pairs: Callable[[], list[tuple[Tensor, Tensor]]],
                          norms: Callable[[], list[tuple[torch.nn.Module, torch.nn.Module]]]
                          ) -> None:
    """Same outputs in training mode (batch statistics), same gradients, same updated running
    statistics; then the same outputs in evaluation mode (running statistics)."""
    ours.train()
    reference.train()
    out, expected = run_ours(), run_reference()
    torch.testing.assert_close(out, expected, **TOL)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    (out * weight).sum().backward()
    (expected * weight).sum().backward()
    for mine, theirs in pairs():
        assert mine.grad is not None and theirs.grad is not None
        torch.testing.assert_close(mine.grad, theirs.grad, **TOL)
    for mine, theirs in norms():
        torch.testing.assert_close(mine.running_mean, theirs.running_mean, **TOL)
        torch.testing.assert_close(mine.running_var, theirs.running_var, **TOL)
    ours.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(run_ours(), run_reference(), **TOL)


def _all_norms(a: torch.nn.Module, b: torch.nn.Module
               ) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """Corresponding BatchNorms: both models register them in the same order (each layer's
    MLP norms, layer by layer, then the per-layer norms)."""
    mine = [m for m in a.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    theirs = [m for m in b.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    return list(zip(mine, theirs, strict=True))


@pytest.mark.parametrize("neighbor_pooling", ["sum", "mean", "max"])
@pytest.mark.parametrize("learn_eps", [False, True])
@pytest.mark.parametrize(("graph_pooling", "num_mlp_layers"), [("sum", 2), ("mean", 3)])
def test_gin_matches_the_official_code(mutag: list[Graph], neighbor_pooling: str,
                                       learn_eps: bool, graph_pooling: str,
                                       num_mlp_layers: int) -> None:
    torch.manual_seed(0)
    ours = GIN(7, 16, 2, num_layers=4, num_mlp_layers=num_mlp_layers, final_dropout=0.0,
               learn_eps=learn_eps, graph_pooling=graph_pooling,
               neighbor_pooling=neighbor_pooling)
    _randomise_eps(ours, seed=1)
    ours.double()
    reference = _official_from(ours, num_mlp_layers, 16)
    graphs = _float64(mutag)
    batch = collate(graphs)
    _check_train_and_eval(
        ours, reference, lambda: ours(batch), lambda: reference(graphs),
        lambda: _gin_pairs(ours, reference), lambda: _all_norms(ours, reference))
    if learn_eps:  # the learnt ε gets the official gradient too
        reference.zero_grad()
        ours.zero_grad()
        ours.train()
        reference.train()
        ours(batch).sum().backward()
        reference(graphs).sum().backward()
        torch.testing.assert_close(torch.cat([c.eps.grad for c in ours.convs]),
                                   reference.eps.grad, **TOL)


def test_gin_with_linear_mlps_and_one_layer(mutag: list[Graph]) -> None:
    for num_layers, num_mlp_layers in [(3, 1), (1, 2)]:
        torch.manual_seed(1)
        ours = GIN(7, 8, 3, num_layers=num_layers, num_mlp_layers=num_mlp_layers,
                   final_dropout=0.0).double()
        reference = _official_from(ours, num_mlp_layers, 8)
        assert len(ours.convs) == num_layers - 1 and len(ours.heads) == num_layers
        graphs = _float64(mutag)
        for mode in (True, False):
            ours.train(mode)
            reference.train(mode)
            with torch.no_grad():
                torch.testing.assert_close(ours(collate(graphs)), reference(graphs), **TOL)


@pytest.mark.parametrize("learn_eps", [False, True])
def test_gin_matches_pyg_layers(mutag: list[Graph], learn_eps: bool) -> None:
    """The same network from torch_geometric.nn.GINConv, BatchNorm1d, Linear and PyG's
    global_add_pool, on PyG-style edge_index / batch tensors."""
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(2)
    ours = GIN(7, 16, 2, num_layers=5, final_dropout=0.0, learn_eps=learn_eps)
    _randomise_eps(ours, seed=3)
    ours.double()
    convs = torch.nn.ModuleList()
    for conv in ours.convs:
        theirs = pyg_nn.GINConv(copy.deepcopy(conv.nn), train_eps=learn_eps).double()
        theirs.load_state_dict(conv.state_dict())
        convs.append(theirs)
    norms = copy.deepcopy(ours.batch_norms)
    heads = copy.deepcopy(ours.heads)
    reference = torch.nn.ModuleList([convs, norms, heads])
    graphs = _float64(mutag)
    data = Concatenated(graphs)

    def run_reference() -> Tensor:
        h = data.x
        hidden = [h]
        for conv, norm in zip(convs, norms, strict=True):
            h = F.relu(norm(conv(h, data.edge_index)))
            hidden.append(h)
        score = heads[0](pyg_nn.global_add_pool(hidden[0], data.batch))
        for h, head in zip(hidden[1:], heads[1:], strict=True):
            score = score + head(pyg_nn.global_add_pool(h, data.batch))
        return score

    def pairs() -> list[tuple[Tensor, Tensor]]:
        return list(zip(ours.parameters(), reference.parameters(), strict=True))

    batch = collate(graphs)
    _check_train_and_eval(ours, reference, lambda: ours(batch), run_reference, pairs,
                          lambda: _all_norms(ours, reference))


def test_gin_final_dropout_is_on_each_score(mutag: list[Graph]) -> None:
    """Dropout acts on every layer's score W r + b (after the linear layer), as in the official
    code: with p close to 1 almost every score entry is zeroed, biases included."""
    torch.manual_seed(0)
    model = GIN(7, 8, 2, num_layers=3, final_dropout=0.999).train()
    out = model(collate(mutag))
    assert (out == 0).float().mean() > 0.9


# ------------------------------------------------------------------------------ GINE
class ReferenceGINE(torch.nn.Module):
    """OGB's GNN_node(gnn_type='gin') + GNN's pooling and linear head, with conv.py's GINConv
    (message ReLU(x_j + e), learnt ε, MLP Linear-BN-ReLU-Linear) taken from PyG's GINEConv,
    the encoders given (OGB's own, or nn.Embedding / nn.Linear), PyG's readouts."""

    def __init__(self, ours: GINE, atom_encoder: torch.nn.Module,
                 bond_encoders: list[torch.nn.Module] | None, pyg_nn: object,
                 edge_dim: int | None = None) -> None:
        super().__init__()
        # the options only: ``ours`` itself must not become a submodule of the reference
        self.dropout, self.jk, self.residual = ours.dropout, ours.jk, ours.residual
        self.last_activation, self.edge_dim = ours.last_activation, edge_dim
        self.atom_encoder = atom_encoder
        self.bond_encoders = None if bond_encoders is None \
            else torch.nn.ModuleList(bond_encoders)
        dtype = ours.batch_norms[0].weight.dtype
        self.convs = torch.nn.ModuleList()
        for conv in ours.convs:
            if bond_encoders is None and edge_dim is None:
                theirs = pyg_nn.GINConv(copy.deepcopy(conv.nn), train_eps=True)  # type: ignore[attr-defined]
            else:
                theirs = pyg_nn.GINEConv(copy.deepcopy(conv.nn), train_eps=True,  # type: ignore[attr-defined]
                                         edge_dim=edge_dim)
            theirs.to(dtype)  # before loading, so nothing is rounded
            theirs.load_state_dict(conv.state_dict(), strict=edge_dim is None)
            self.convs.append(theirs)
        self.batch_norms = copy.deepcopy(ours.batch_norms)
        self.head = copy.deepcopy(ours.head)
        self.pool = {"mean": pyg_nn.global_mean_pool, "sum": pyg_nn.global_add_pool,  # type: ignore[attr-defined]
                     "max": pyg_nn.global_max_pool}[ours.graph_pooling]  # type: ignore[attr-defined]

    def forward(self, data: Concatenated) -> Tensor:
        h_list = [self.atom_encoder(data.x)]
        for layer, conv in enumerate(self.convs):
            if self.bond_encoders is not None:
                h = conv(h_list[layer], data.edge_index,
                         self.bond_encoders[layer](data.edge_attr))
            elif self.edge_dim is not None:  # PyG's own lin maps the edge features
                h = conv(h_list[layer], data.edge_index, data.edge_attr)
            else:
                h = conv(h_list[layer], data.edge_index)
            h = self.batch_norms[layer](h)
            if layer == len(self.convs) - 1 and not self.last_activation:
                h = F.dropout(h, self.dropout, training=self.training)
            else:
                h = F.dropout(F.relu(h), self.dropout, training=self.training)
            if self.residual:
                h = h + h_list[layer]
            h_list.append(h)
        if self.jk == "last":
            node = h_list[-1]
        else:
            node = h_list[0]
            for h in h_list[1:]:
                node = node + h
        return self.head(self.pool(node, data.batch))


def _state_copy(source: torch.nn.Module, target: torch.nn.Module) -> torch.nn.Module:
    """``target`` with ``source``'s parameter values and dtype (parameters in the same order)."""
    target.to(next(source.parameters()).dtype)
    with torch.no_grad():
        for a, b in zip(source.parameters(), target.parameters(), strict=True):
            b.copy_(a)
    return target


def _gine_pairs(ours: GINE, reference: ReferenceGINE) -> list[tuple[Tensor, Tensor]]:
    mine = [*ours.node_encoder.parameters()]
    theirs = [*reference.atom_encoder.parameters()]
    if ours.edge_encoders is not None and reference.bond_encoders is not None:
        mine += [*ours.edge_encoders.parameters()]
        theirs += [*reference.bond_encoders.parameters()]
    for a, b in zip(ours.convs, reference.convs, strict=True):
        mine += [a.eps, *a.nn.parameters()]
        theirs += [b.eps, *b.nn.parameters()]
    mine += [*ours.batch_norms.parameters(), *ours.head.parameters()]
    theirs += [*reference.batch_norms.parameters(), *reference.head.parameters()]
    return list(zip(mine, theirs, strict=True))


GINE_VARIANTS = [
    {"jk": "last", "graph_pooling": "mean"},  # OGB's defaults
    {"jk": "sum", "graph_pooling": "sum", "residual": True},
    {"jk": "last", "graph_pooling": "max", "last_activation": True, "head_layers": 3},
]


@pytest.mark.parametrize("options", GINE_VARIANTS)
def test_gine_matches_ogb_baseline_on_molbace(molbace: list[Graph], options: dict) -> None:
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    mol_encoder = _ogb_mol_encoder()
    torch.manual_seed(0)
    ours = GINE(9, 16, 3, num_layers=3, dropout=0.0, edge_channels=3, **options)
    _randomise_eps(ours, seed=5)
    ours.double()
    assert ours.edge_encoders is not None
    atom = _state_copy(ours.node_encoder, mol_encoder.AtomEncoder(16))
    bonds = [_state_copy(mine, mol_encoder.BondEncoder(16)) for mine in ours.edge_encoders]
    reference = ReferenceGINE(ours, atom, bonds, pyg_nn)
    batch, data = collate(molbace), Concatenated(molbace)
    _check_train_and_eval(ours, reference, lambda: ours(batch), lambda: reference(data),
                          lambda: _gine_pairs(ours, reference),
                          lambda: _all_norms(ours, reference))


def test_gine_zinc_configuration_matches_reference(zinc: list[Graph]) -> None:
    """ZINC: atom-type and bond-type embeddings (nn.Embedding(28, d), nn.Embedding(4, d) in
    the reference), residual connections, ReLU after the last layer, two-layer head."""
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    ours = GINE(1, 16, 1, num_layers=4, dropout=0.0, node_encoder="zinc-atom",
                edge_encoder="zinc-bond", edge_channels=1, residual=True,
                last_activation=True, head_layers=2)
    _randomise_eps(ours, seed=6)
    ours.double()
    assert ours.edge_encoders is not None
    atom_table = _state_copy(ours.node_encoder, torch.nn.Embedding(28, 16))

    class Squeezed(torch.nn.Module):  # ZINC x is (N, 1); nn.Embedding wants (N,)
        def __init__(self, table: torch.nn.Module) -> None:
            super().__init__()
            self.table = table

        def forward(self, x: Tensor) -> Tensor:
            return self.table(x.squeeze(-1))

    bonds = [_state_copy(mine, torch.nn.Embedding(4, 16)) for mine in ours.edge_encoders]
    reference = ReferenceGINE(ours, Squeezed(atom_table), bonds, pyg_nn)
    batch, data = collate(zinc), Concatenated(zinc)
    assert batch.edge_attr is not None and batch.edge_attr.dim() == 1
    _check_train_and_eval(ours, reference, lambda: ours(batch), lambda: reference(data),
                          lambda: _gine_pairs(ours, reference),
                          lambda: _all_norms(ours, reference))


def test_gine_linear_encoders_match_pyg_edge_dim(mutag: list[Graph]) -> None:
    """Dense features: a linear node encoder and per-layer linear edge encoders equal PyG's
    GINEConv(edge_dim=4) (whose ``lin`` maps the edge features) after a Linear input map."""
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    ours = GINE(7, 16, 2, num_layers=3, dropout=0.0, node_encoder="linear",
                edge_encoder="linear", edge_channels=4, jk="sum", graph_pooling="sum")
    _randomise_eps(ours, seed=7)
    ours.double()
    assert isinstance(ours.node_encoder, LinearEncoder) and ours.edge_encoders is not None
    atom = _state_copy(ours.node_encoder, torch.nn.Linear(7, 16))
    reference = ReferenceGINE(ours, atom, None, pyg_nn, edge_dim=4)
    with torch.no_grad():
        for conv, lin in zip(reference.convs, ours.edge_encoders, strict=True):
            conv.lin.load_state_dict(lin.state_dict())
    graphs = _float64(mutag)
    batch, data = collate(graphs), Concatenated(graphs)

    def pairs() -> list[tuple[Tensor, Tensor]]:
        assert ours.edge_encoders is not None
        found = [(a.weight, b.lin.weight) for a, b in zip(ours.edge_encoders, reference.convs,
                                                          strict=True)]
        return found + _gine_pairs(ours, reference)

    _check_train_and_eval(ours, reference, lambda: ours(batch), lambda: reference(data), pairs,
                          lambda: _all_norms(ours, reference))


def test_gine_without_edge_features_is_gin(mutag: list[Graph]) -> None:
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    ours = GINE(7, 8, 2, num_layers=2, dropout=0.0, node_encoder="linear", edge_encoder="none")
    _randomise_eps(ours, seed=8)
    ours.double()
    assert ours.edge_encoders is None
    reference = ReferenceGINE(ours, _state_copy(ours.node_encoder, torch.nn.Linear(7, 8)),
                              None, pyg_nn)
    graphs = [g.replace(edge_attr=None) for g in _float64(mutag)]
    batch, data = collate(graphs), Concatenated(graphs)
    _check_train_and_eval(ours, reference, lambda: ours(batch), lambda: reference(data),
                          lambda: _gine_pairs(ours, reference),
                          lambda: _all_norms(ours, reference))


def _ogb_mol_encoder():  # type: ignore[no-untyped-def]
    """``ogb.graphproppred.mol_encoder`` loaded from its file (see tests/nn/test_encoders.py:
    the package ``__init__`` imports far more than the encoders need)."""
    import importlib.util
    from pathlib import Path

    features = pytest.importorskip("ogb.utils.features")
    path = Path(features.__file__).resolve().parents[1] / "graphproppred" / "mol_encoder.py"
    spec = importlib.util.spec_from_file_location("ogb_mol_encoder_for_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------ empty graphs, float64, errors
def _with_empty_graphs(graphs: Sequence[Graph]) -> list[Graph]:
    """Real graphs interleaved with a graph without edges and a graph without nodes."""
    first = graphs[0]
    no_edges = first.replace(edge_index=torch.zeros(2, 0, dtype=torch.long),
                             edge_attr=None if first.edge_attr is None
                             else first.edge_attr[:0])
    no_nodes = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=0,
                     x=first.x[:0] if first.x is not None else None,
                     edge_attr=None if first.edge_attr is None else first.edge_attr[:0],
                     y=first.y)
    return [graphs[1], no_edges, no_nodes, graphs[2], no_nodes]


GIN_CONFIGS = [{"neighbor_pooling": p, "learn_eps": e, "graph_pooling": g}
               for p in ("sum", "mean", "max") for e in (False, True) for g in ("sum", "mean")]


@pytest.mark.parametrize("options", GIN_CONFIGS[::3] + GIN_CONFIGS[1::6])
def test_gin_handles_graphs_without_edges_or_nodes(mutag: list[Graph], options: dict) -> None:
    graphs = _with_empty_graphs(mutag)
    torch.manual_seed(0)
    model = GIN(7, 8, 2, num_layers=3, **options)
    out = model.train()(collate(graphs))
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    out.sum().backward()
    model.eval()
    with torch.no_grad():
        together = model(collate(graphs))
        for k, graph in enumerate(graphs):  # evaluation is per graph: batching changes nothing
            torch.testing.assert_close(together[k:k + 1], model(collate([graph])), **TOL32)
        # a graph without nodes reads out 0 everywhere and scores the sum of the biases
        torch.testing.assert_close(together[2], sum(h.bias for h in model.heads))


@pytest.mark.parametrize("options", GINE_VARIANTS)
def test_gine_handles_graphs_without_edges_or_nodes(molbace: list[Graph], options: dict
                                                    ) -> None:
    graphs = _with_empty_graphs(molbace)
    torch.manual_seed(0)
    model = GINE(9, 8, 2, num_layers=2, **options)
    out = model.train()(collate(graphs))
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    out.sum().backward()
    model.eval()
    with torch.no_grad():
        together = model(collate(graphs))
        for k, graph in enumerate(graphs):
            torch.testing.assert_close(together[k:k + 1], model(collate([graph])), **TOL32)
        torch.testing.assert_close(together[2], model.head(torch.zeros(1, 8))[0])


def test_models_run_in_float64(mutag: list[Graph], molbace: list[Graph]) -> None:
    torch.manual_seed(0)
    gin = GIN(7, 8, 2, num_layers=3, neighbor_pooling="mean").eval()
    batch = collate(mutag)
    expected = gin(batch)
    double_batch = collate([g.replace(x=g.x.double()) for g in mutag])
    out = gin.double()(double_batch)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected.double(), **TOL32)
    gine = GINE(9, 8, 1, num_layers=2).eval()
    molecules = collate(molbace)
    expected = gine(molecules)
    out = gine.double()(molecules)  # category ids stay integers
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected.double(), **TOL32)


def test_models_name_their_input_errors(mutag: list[Graph], molbace: list[Graph]) -> None:
    molecules = collate(molbace)
    with pytest.raises(TypeError, match=r"dtype torch\.int64; with node_encoder='none' x must "
                                        r"be dense float"):
        GIN(9, 8, 2)(molecules)
    with pytest.raises(TypeError, match=r"batch\.x has dtype torch\.float32 but the model's "
                                        r"parameters torch\.float64"):
        GIN(7, 8, 2).double()(collate(mutag))
    with pytest.raises(ValueError, match=r"GIN expects x of shape \(N, 5\), got \(\d+, 7\)"):
        GIN(5, 8, 2)(collate(mutag))
    with pytest.raises(ValueError, match=r"edge_encoder='ogb-bond' needs edge features but "
                                         r"batch\.edge_attr is None"):
        GINE(9, 8, 1)(collate([g.replace(edge_attr=None) for g in molbace]))
    with pytest.raises(TypeError, match="GraphBatch"):
        GINE(9, 8, 1)(molecules.x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"column 0 \(atomic_num\) holds"):
        GINE(9, 8, 1)(collate([g.replace(x=g.x + 200) for g in molbace]))
    with pytest.raises(ValueError, match=r"num_layers counts the input layer"):
        GIN(7, 8, 2, num_layers=0)
    with pytest.raises(ValueError, match=r"neighbor_pooling must be one of"):
        GIN(7, 8, 2, neighbor_pooling="average")
    with pytest.raises(ValueError, match=r"jk must be one of \['last', 'sum'\]"):
        GINE(9, 8, 1, jk="concat")
    with pytest.raises(ValueError, match=r"node encoder 'ogb-atom' reads 9"):
        GINE(7, 8, 1)


def test_gin_embeds_categorical_inputs(zinc: list[Graph]) -> None:
    """With a node encoder, the embedding is h⁽⁰⁾ and is read out like every other layer."""
    torch.manual_seed(0)
    model = GIN(1, 8, 1, num_layers=2, node_encoder="zinc-atom", final_dropout=0.0).eval()
    assert isinstance(model.encoder, ZincAtomEncoder)
    assert model.heads[0].in_features == 8
    batch = collate(zinc)
    with torch.no_grad():
        h0 = model.encoder(batch.x)
        h1 = F.relu(model.batch_norms[0](model.convs[0](h0, batch.adj)))
        sums = [torch.stack([h[batch.batch == g].sum(0) for g in range(len(zinc))])
                for h in (h0, h1)]
        expected = model.heads[0](sums[0]) + model.heads[1](sums[1])
        torch.testing.assert_close(model(batch), expected, **TOL32)
    assert isinstance(GIN(9, 8, 1, node_encoder="ogb-atom").encoder, AtomEncoder)


# ---------------------------------------------------------------------------- registry
def test_graph_models_are_registered_for_graph_tasks() -> None:
    assert {"gin", "gine"} <= set(model_names("graph_classification"))
    assert {"gin", "gine"} <= set(model_names("graph_property"))
    assert "gin" not in model_names("node_classification")


def test_registry_defaults_are_the_official_ones() -> None:
    # powerful-gnns main.py argparse defaults
    assert model_config({"name": "gin"}) == {
        "name": "gin", "hidden_channels": 64, "num_layers": 5, "num_mlp_layers": 2,
        "final_dropout": 0.5, "learn_eps": False, "graph_pooling": "sum",
        "neighbor_pooling": "sum", "node_encoder": "none"}
    # ogb examples/graphproppred/mol main_pyg.py and GNN defaults
    assert model_config({"name": "gine"}) == {
        "name": "gine", "hidden_channels": 300, "num_layers": 5, "dropout": 0.5, "jk": "last",
        "graph_pooling": "mean", "residual": False, "node_encoder": "ogb-atom",
        "edge_encoder": "ogb-bond", "last_activation": False, "head_layers": 1}


def test_registry_help_names_the_official_flags() -> None:
    from gnnkit.models import get_model

    gin = {k: o.help for k, o in get_model("gin").options.items()}
    for key, flag in [("hidden_channels", "--hidden_dim"), ("num_layers", "--num_layers"),
                      ("final_dropout", "--final_dropout"), ("learn_eps", "--learn_eps"),
                      ("graph_pooling", "--graph_pooling_type"),
                      ("neighbor_pooling", "--neighbor_pooling_type")]:
        assert flag in gin[key]
    gine = {k: o.help for k, o in get_model("gine").options.items()}
    # OGB's main_pyg.py has flags for these; JK, graph_pooling and residual are only
    # arguments of its GNN class
    for key, flag in [("hidden_channels", "--emb_dim"), ("num_layers", "--num_layer"),
                      ("dropout", "--drop_ratio"), ("jk", "GNN(JK="),
                      ("graph_pooling", "GNN(graph_pooling="), ("residual", "GNN(residual=")]:
        assert flag in gine[key]


def test_registry_validates_graph_model_configurations() -> None:
    with pytest.raises(ModelConfigError, match=r"model\.graph_pooling must be one of "
                                               r"\['sum', 'mean'\], got 'average'"):
        model_config({"name": "gin", "graph_pooling": "average"}, task="graph_classification")
    with pytest.raises(ModelConfigError, match=r"unknown model key\(s\) \['emb_dim'\]"):
        model_config({"name": "gine", "emb_dim": 300})
    with pytest.raises(ModelConfigError, match=r"model\.learn_eps must be bool, got 1"):
        model_config({"name": "gin", "learn_eps": 1})
    with pytest.raises(ModelConfigError, match=r"model\.edge_encoder must be one of"):
        model_config({"name": "gine", "edge_encoder": "bond"})
    with pytest.raises(ModelConfigError, match=r"model\.name must be one of .* for task "
                                               r"'graph_property'"):
        model_config({"name": "gcn"}, task="graph_property")


def _build(config: dict, task: str, graphs: Sequence[Graph]) -> tuple[torch.nn.Module,
                                                                       GraphBatch]:
    batch = collate(graphs)
    assert batch.x is not None
    edge_attr = batch.edge_attr
    edge_channels = 0 if edge_attr is None else (1 if edge_attr.dim() == 1
                                                 else edge_attr.shape[1])
    model = build_model(config, task=task, in_channels=batch.x.shape[1], out_channels=3,
                        edge_channels=edge_channels)
    return model, batch


def test_registry_builds_with_the_graph_contract(mutag: list[Graph], molbace: list[Graph],
                                                 zinc: list[Graph]) -> None:
    cases = [
        ({"name": "gin", "hidden_channels": 8, "learn_eps": True}, "graph_classification",
         mutag, GIN),
        ({"name": "gin", "hidden_channels": 8, "node_encoder": "zinc-atom"}, "graph_property",
         zinc, GIN),
        ({"name": "gine", "hidden_channels": 8, "num_layers": 2}, "graph_property", molbace,
         GINE),
        ({"name": "gine", "hidden_channels": 8, "node_encoder": "zinc-atom",
          "edge_encoder": "zinc-bond", "residual": True, "head_layers": 2}, "graph_property",
         zinc, GINE),
        ({"name": "gine", "hidden_channels": 8, "node_encoder": "linear",
          "edge_encoder": "linear"}, "graph_classification", mutag, GINE),
        ({"name": "gine", "hidden_channels": 8, "node_encoder": "linear",
          "edge_encoder": "none"}, "graph_classification",
         [g.replace(edge_attr=None) for g in mutag], GINE),
    ]
    for config, task, graphs, cls in cases:
        model, batch = _build(config, task, graphs)
        assert isinstance(model, cls)
        assert model.eval()(batch).shape == (batch.num_graphs, 3)
    assert build_model({"name": "gin", "num_layers": 3}, in_channels=7, out_channels=2,
                       edge_channels=0).num_layers == 3
    with pytest.raises(ValueError, match=r"node encoder 'ogb-atom' reads 9 categorical "
                                         r"column\(s\) .* but the data has 7"):
        build_model({"name": "gine"}, in_channels=7, out_channels=2, edge_channels=4)
    with pytest.raises(ValueError, match=r"edge encoder 'ogb-bond' reads 3 .* has 4"):
        build_model({"name": "gine", "node_encoder": "linear"}, in_channels=7, out_channels=2,
                    edge_channels=4)
