"""ESAN's DS-GNN and DSS-GNN models (gnnkit.models.esan): every policy, invariance, gradients,
subsampling, the training hook, the registry, and expressivity on real pairs (EXP, graph8c).

The layers themselves are checked against explicit per-subgraph oracles in
tests/nn/test_subgraph_dss.py.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
from shared_data import require_shared_datasets
from torch import Tensor

from gnnkit.data import GraphBatch, SubgraphBatch
from gnnkit.datasets import Graph, GraphDataset
from gnnkit.datasets.expressivity import read_exp, read_graph6
from gnnkit.models import DSGNN, DSSGNN, ModelConfigError, build_model
from gnnkit.train.graph_level import fit, model_batch_transform

POLICIES = ("node_deleted", "edge_deleted", "ego_nets", "ego_nets_plus")
MODELS = {"ds": DSGNN, "dss": DSSGNN}


def graph(edges: list[tuple[int, int]], n: int, seed: int, *, features: int = 3,
          edge_features: int = 2) -> Graph:
    pairs = edges + [(b, a) for a, b in edges]
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    return Graph(edge_index, num_nodes=n, x=torch.randn(n, features, generator=generator),
                 edge_attr=torch.randn(edge_index.shape[1], edge_features, generator=generator),
                 y=torch.randn(1, generator=generator))


def zoo(seed: int = 0) -> list[Graph]:
    rng = random.Random(seed)
    graphs = []
    for k in range(4):
        n = rng.randint(3, 6)
        edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(2, 7))]
        graphs.append(graph([(a, b) for a, b in edges if a != b], n, seed * 10 + k))
    graphs.append(graph([], 1, seed + 100))                    # one node
    graphs.append(graph([], 3, seed + 101))                    # no edges
    graphs.append(graph([(0, 1), (0, 1), (1, 2)], 4, seed + 102))  # doubled edge, isolated
    return graphs


def make(name: str, policy: str, *, edges: bool = True, dtype: torch.dtype = torch.float32,
         out_channels: int = 2, **options: object) -> torch.nn.Module:
    kwargs: dict[str, object] = {"num_layers": 2, "policy": policy, "num_hops": 2}
    if edges:
        kwargs.update(edge_encoder="linear", edge_channels=2)
    kwargs.update(options)
    if name == "ds":
        kwargs.setdefault("deepsets_channels", (5, 5))
        kwargs.setdefault("invariant", False)
    return MODELS[name](3, 6, out_channels, **kwargs).to(dtype)  # type: ignore[arg-type]


def randomise_norms(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm1d):
            with torch.no_grad():
                shape = norm.weight.shape
                norm.weight.copy_(1 + 0.3 * torch.randn(shape, generator=generator))
                norm.bias.copy_(0.3 * torch.randn(shape, generator=generator))
                norm.running_mean.copy_(0.3 * torch.randn(shape, generator=generator))
                norm.running_var.copy_(0.5 + torch.rand(shape, generator=generator))


def double(graphs: list[Graph]) -> GraphBatch:
    return GraphBatch.from_graphs([
        Graph(g.edge_index, num_nodes=g.num_nodes, x=g.x.double(), edge_attr=g.edge_attr.double(),
              y=g.y) for g in graphs])


# ------------------------------------------------------------------ registry
def test_registry_builds_both_models_for_both_tasks() -> None:
    for task in ("graph_property", "graph_classification"):
        ds = build_model({"name": "ds", "hidden_channels": 8, "num_layers": 2,
                          "deepsets_channels": 7, "deepsets_layers": 1, "jk": "concat"},
                         task=task, in_channels=3, out_channels=2, edge_channels=0)
        assert isinstance(ds, DSGNN) and ds.readout.channels == (7,)
        assert ds.readout.in_channels == 3 + 2 * 8  # concatenation of h0 and both layers
        dss = build_model({"name": "dss", "policy": "ego_nets_plus", "num_hops": 3,
                           "node_encoder": "zinc-atom", "edge_encoder": "zinc-bond"},
                          task=task, in_channels=1, out_channels=1, edge_channels=1)
        assert isinstance(dss, DSSGNN) and dss.input_channels == 300 + 2
        assert len(dss.local_edge_encoders) == len(dss.graph_edge_encoders) == 5
    with pytest.raises(ModelConfigError, match="policy"):
        build_model({"name": "dss", "policy": "ego"}, task="graph_property", in_channels=1,
                    out_channels=1, edge_channels=0)
    with pytest.raises(ValueError, match="fraction"):
        DSSGNN(3, 4, 1, fraction=0.0)


# ------------------------------------------------------------------ forward, gradients
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_trains_and_reaches_every_parameter(name: str, policy: str) -> None:
    torch.manual_seed(0)
    batch = GraphBatch.from_graphs(zoo(1))
    model = make(name, policy, dropout=0.0) if name == "ds" else make(name, policy)
    bag = model.make_bag(batch)
    assert bag.policy == policy and bag.marked == (policy == "ego_nets_plus")
    out = model(bag)
    assert out.shape == (batch.num_graphs, 2) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), key
    # a GraphBatch is turned into the bag on the fly
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(batch), model(bag))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("policy", POLICIES)
def test_single_node_and_edgeless_graphs(name: str, policy: str) -> None:
    torch.manual_seed(1)
    graphs = [graph([], 1, 0), graph([], 3, 1), graph([], 1, 2)]
    model = make(name, policy)
    out = model(GraphBatch.from_graphs(graphs))
    assert out.shape == (3, 2) and torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        alone = model(GraphBatch.from_graphs(graphs[:1]))
    assert alone.shape == (1, 2) and torch.isfinite(alone).all()


def permuted(g: Graph, rng: random.Random) -> Graph:
    """``g`` with its nodes relabelled and its edges listed in another order."""
    perm = list(range(g.num_nodes))
    rng.shuffle(perm)
    new_of = torch.tensor(perm, dtype=torch.long)  # node v becomes perm[v]
    order = list(range(g.edge_index.shape[1]))
    rng.shuffle(order)
    order_t = torch.tensor(order, dtype=torch.long)
    x = torch.empty_like(g.x)
    x[new_of] = g.x
    return Graph(new_of[g.edge_index[:, order_t]], num_nodes=g.num_nodes, x=x,
                 edge_attr=g.edge_attr[order_t], y=g.y)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("training", [False, True])
def test_graph_outputs_are_permutation_invariant(name: str, policy: str,
                                                 training: bool) -> None:
    torch.manual_seed(2)
    graphs = zoo(3)
    rng = random.Random(4)
    model = make(name, policy, dtype=torch.float64)
    randomise_norms(model, 5)
    model.train(training)
    out = model(double(graphs))
    # relabel nodes and edges inside every graph, and reorder the graphs
    order = list(range(len(graphs)))
    rng.shuffle(order)
    shuffled = model(double([permuted(graphs[i], rng) for i in order]))
    torch.testing.assert_close(shuffled, out[torch.tensor(order)], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradcheck_through_the_model(name: str) -> None:
    torch.manual_seed(6)
    graphs = zoo(7)[:3]
    batch = double(graphs)
    model = make(name, "ego_nets_plus", dtype=torch.float64)
    model.eval()
    bag = model.make_bag(batch)

    def run(x: Tensor, edge_attr: Tensor) -> Tensor:
        g = dataclasses.replace(bag.graph, x=x, edge_attr=edge_attr)
        return model(dataclasses.replace(bag, graph=g))

    x = batch.x.clone().requires_grad_()
    e = batch.edge_attr.clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (x, e))


def test_ego_nets_plus_marks_the_root() -> None:
    torch.manual_seed(8)
    batch = GraphBatch.from_graphs(zoo(9))
    model = make("dss", "ego_nets_plus", edges=False)
    bag = model.make_bag(batch)
    h = model._pair_input(bag)
    assert h.shape == (bag.num_pairs, 2 + 3)
    expected_mark = torch.stack([bag.pair_node == bag.subgraph_root[bag.pair_subgraph],
                                 bag.pair_node != bag.subgraph_root[bag.pair_subgraph]], 1)
    assert torch.equal(h[:, :2], expected_mark.float())
    assert torch.equal(h[:, 2:], batch.x[bag.pair_node])
    plain = make("dss", "ego_nets", edges=False)
    assert plain._pair_input(plain.make_bag(batch)).shape == (bag.num_pairs, 3)


# ------------------------------------------------------------------ subsampling
def big_graphs() -> list[Graph]:
    rng = random.Random(11)
    out = []
    for k in range(5):
        n = 8
        edges = [(i, (i + 1) % n) for i in range(n)] + [(rng.randrange(n), rng.randrange(n))
                                                      for _ in range(4)]
        out.append(graph([(a, b) for a, b in edges if a != b], n, k))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_subsampling_is_seeded_and_drawn_per_batch(name: str) -> None:
    batch = GraphBatch.from_graphs(big_graphs())
    torch.manual_seed(12)
    first = make(name, "node_deleted", fraction=0.25, seed=3)
    torch.manual_seed(12)
    second = make(name, "node_deleted", fraction=0.25, seed=3)
    bag = first.make_bag(batch)
    a1, a2 = first(bag), first(bag)
    b1, b2 = second(bag), second(bag)
    # same seed, same draws; a new draw for every batch
    torch.testing.assert_close(a1, b1)
    torch.testing.assert_close(a2, b2)
    assert not torch.allclose(a1, a2)
    # the draws are ceil(fraction · S_g) subgraphs per graph, from the model's generator
    replica = torch.Generator().manual_seed(3)
    first.eval()
    second.eval()
    with torch.no_grad():
        voted = second(bag)
        for _ in range(2):  # the two training draws above
            bag.subsample(0.25, generator=replica)
        draws = [second.forward_bag(bag.subsample(0.25, generator=replica))
                 for _ in range(second.votes)]
    torch.testing.assert_close(voted, torch.stack(draws).mean(0))
    assert bag.subsample(0.25, generator=replica).subgraph_counts.tolist() == [2] * 5


def test_subsampling_seed_comes_from_the_global_generator() -> None:
    batch = GraphBatch.from_graphs(big_graphs())
    outputs = []
    for _ in range(2):
        torch.manual_seed(13)
        model = make("dss", "edge_deleted", fraction=0.5)
        outputs.append(model(batch))
    torch.testing.assert_close(outputs[0], outputs[1])
    assert make("dss", "edge_deleted").generator is None  # full bags draw nothing


# ------------------------------------------------------------------ the training hook
@pytest.mark.parametrize("name", sorted(MODELS))
def test_fit_trains_through_the_batch_transform(name: str) -> None:
    torch.manual_seed(14)
    dataset = GraphDataset.from_graphs(zoo(15) + zoo(16))
    model = make(name, "ego_nets_plus", fraction=0.5, out_channels=1)
    transform = model_batch_transform(model, dataset)
    assert transform is not None
    ids = torch.arange(4)
    bag = transform(GraphBatch.from_dataset(dataset, ids), ids)
    assert isinstance(bag, SubgraphBatch) and bag.num_graphs == 4
    result = fit(model, dataset, torch.arange(10), {"val": torch.arange(10, 14)}, loss="l1",
                 metric=lambda t, o: float((t.view(-1) - o[:, 0]).abs().mean()),
                 higher_is_better=False, lr=0.01, epochs=2, batch_size=4,
                 batch_transform=transform, generator=torch.Generator().manual_seed(0))
    assert result.epochs == 2


# ------------------------------------------------------------------ expressivity
def _one_hot_labels(raw: GraphDataset) -> GraphDataset:
    n = int(raw.node_ptr[-1])
    if raw.x is None:
        x = torch.ones(n, 1, dtype=torch.float64)
    else:
        ids = torch.unique(raw.x.reshape(n, -1), dim=0, return_inverse=True)[1]
        x = torch.nn.functional.one_hot(ids).double()
    return GraphDataset(edge_index=raw.edge_index, node_ptr=raw.node_ptr,
                        edge_ptr=raw.edge_ptr, x=x, y=raw.y, metadata=raw.metadata)


def _outputs(config: dict[str, object], batch: GraphBatch, seed: int) -> Tensor:
    torch.manual_seed(seed)
    model = build_model(config, task="graph_classification", in_channels=batch.x.shape[1],
                        out_channels=8, edge_channels=0).double().eval()
    with torch.no_grad():
        return model(batch)


def _separated(out: Tensor, first: Tensor, second: Tensor) -> Tensor:
    """Pairs whose float64 outputs differ beyond round-off (1e-9 of the output scale; a
    1-WL-bounded model leaves 1-WL-equivalent pairs ~1e-14 apart)."""
    scale = out.abs().max().clamp(min=1.0)
    return (out[first] - out[second]).abs().sum(1) > 1e-9 * scale


ESAN_CONFIGS = {
    f"{name}-{policy}": {"name": name, "policy": policy, "hidden_channels": 16,
                         "num_layers": 4, "learn_eps": False,
                         **({"dropout": 0.0} if name == "ds" else {})}
    for name in ("ds", "dss") for policy in POLICIES
}
GIN_CONFIG = {"name": "gin", "hidden_channels": 16, "num_layers": 5, "num_mlp_layers": 1,
              "final_dropout": 0.0}


@pytest.mark.parametrize("key", sorted(ESAN_CONFIGS))
def test_random_ds_and_dss_separate_exp_pairs(key: str) -> None:
    root = require_shared_datasets("exp/EXP")
    dataset = _one_hot_labels(read_exp(root / "exp" / "EXP" / "GRAPHSAT.txt"))
    pairs = 12  # the first pairs (graphs 2i, 2i + 1), all 1-WL-equivalent
    batch = GraphBatch.from_dataset(dataset, torch.arange(2 * pairs))
    first, second = torch.arange(0, 2 * pairs, 2), torch.arange(1, 2 * pairs, 2)
    assert not _separated(_outputs(GIN_CONFIG, batch, 0), first, second).any()
    assert _separated(_outputs(ESAN_CONFIGS[key], batch, 0), first, second).all()


@pytest.mark.parametrize("key", sorted(ESAN_CONFIGS))
def test_ds_and_dss_separate_what_gin_separates(key: str) -> None:
    root = require_shared_datasets("graph8c")
    dataset = _one_hot_labels(read_graph6(root / "graph8c" / "graph8c.g6"))
    count = 40  # 780 pairs of connected 8-node graphs
    batch = GraphBatch.from_dataset(dataset, torch.arange(count))
    first, second = torch.triu_indices(count, count, 1)
    gin = _separated(_outputs(GIN_CONFIG, batch, 1), first, second)
    esan = _separated(_outputs(ESAN_CONFIGS[key], batch, 1), first, second)
    assert gin.any()
    assert bool((esan | ~gin).all()), f"{int((gin & ~esan).sum())} pairs GIN separates"
    assert int(esan.sum()) >= int(gin.sum())
