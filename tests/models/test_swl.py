"""The SWL models (gnnkit.models.swl): variants, readout, invariance, odd graphs, the batch
transform, the registry, and expressivity on real pairs (EXP, graph8c, strongly regular
graphs; skipped without ../shared/datasets)."""

from __future__ import annotations

import random

import pytest
import torch
from shared_data import require_shared_datasets
from torch.nn import functional as F

from gnnkit.bench.tasks.expressivity import count_undistinguished_pairs
from gnnkit.data import GraphBatch, SubgraphBatch, pair_distances
from gnnkit.datasets import Graph, GraphDataset
from gnnkit.datasets.expressivity import read_exp, read_graph6
from gnnkit.models import SWL, build_model
from gnnkit.models.swl import SWL_VARIANTS

TOLERANCE = 1e-3  # Balcilar et al.'s L1 separation threshold


def molecule_like(seed: int, count: int = 5) -> list[Graph]:
    """Small undirected graphs with categorical atoms and bonds (ZINC-like), incl. a
    disconnected one, a single node and an edgeless pair of nodes."""
    rng = random.Random(seed)
    graphs = []
    for _ in range(count):
        n = rng.randint(3, 7)
        pairs = {(i, i + 1) for i in range(n - 1)}
        pairs |= {(rng.randrange(n), rng.randrange(n)) for _ in range(2)}
        pairs = sorted((a, b) for a, b in pairs if a != b)
        bond = [rng.randint(1, 3) for _ in pairs]
        edge_index = torch.tensor(pairs + [(b, a) for a, b in pairs], dtype=torch.long).T
        graphs.append(Graph(edge_index, num_nodes=n,
                            x=torch.tensor([[rng.randrange(21)] for _ in range(n)]),
                            edge_attr=torch.tensor(bond + bond)))
    two = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # two components
    graphs.append(Graph(two, num_nodes=4, x=torch.tensor([[0], [1], [0], [1]]),
                        edge_attr=torch.tensor([1, 1, 2, 2])))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
                        x=torch.tensor([[3]]), edge_attr=torch.zeros(0, dtype=torch.long)))
    graphs.append(Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=2,
                        x=torch.tensor([[3], [4]]), edge_attr=torch.zeros(0, dtype=torch.long)))
    return graphs


def zinc_model(variant: str = "sswl+", **options: object) -> SWL:
    return SWL(1, 8, 2, num_layers=2, variant=variant, max_distance=3,
               node_encoder="zinc-atom", edge_encoder="zinc-bond", edge_channels=1,
               **options)  # type: ignore[arg-type]


def relabel(graph: Graph, perm: list[int]) -> Graph:
    """Node ``i`` becomes ``perm[i]``."""
    p = torch.tensor(perm)
    x = torch.empty_like(graph.x)
    x[p] = graph.x
    return Graph(p[graph.edge_index], num_nodes=graph.num_nodes, x=x,
                 edge_attr=graph.edge_attr)


@pytest.mark.parametrize("variant", sorted(SWL_VARIANTS))
def test_forward_shapes_and_odd_graphs(variant: str) -> None:
    torch.manual_seed(0)
    graphs = molecule_like(0)
    model = zinc_model(variant)
    out = model(GraphBatch.from_graphs(graphs))
    assert out.shape == (len(graphs), 2)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_variants_use_the_defined_aggregations() -> None:
    expected = {"sswl": ["uL", "vL"], "sswl+": ["uL", "vL", "vv"], "pswl": ["uL", "vv"],
                "gswl": ["uL", "vG"]}
    for variant, aggregations in expected.items():
        model = zinc_model(variant)
        for layer in model.layers:
            assert list(layer.blocks) == aggregations
        assert list(model.readout.blocks) == ["uG"]
        assert model.readout.blocks["uG"].eps is None  # no root term in the readout
        # each local block owns its bond embedding
        encoders = [block.edge_encoder for layer in model.layers
                    for name, block in layer.blocks.items() if name in ("uL", "vL")]
        assert len({id(e) for e in encoders}) == len(encoders)
        assert all(e is not None for e in encoders)


def test_forward_equals_an_explicit_composition() -> None:
    """The model is: h0 = atom(x_v) + dist(d(u, v)); layers; readout; mean over pairs; head."""
    torch.manual_seed(1)
    graphs = molecule_like(1)
    model = zinc_model("sswl+").double().eval()
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(graphs), max_distance=3)
    h = model.node_encoder(bag.graph.x)[bag.pair_node] + model.distance_embedding(
        bag.distance.long())
    for layer in model.layers:
        h = layer(bag, h)
    h = model.readout(bag, h)
    rows, start = [], 0
    for graph in graphs:
        rows.append(h[start:start + graph.num_nodes ** 2].mean(0))
        start += graph.num_nodes ** 2
    expected = model.head(torch.stack(rows))
    torch.testing.assert_close(model(bag), expected)
    # the readout is MLP(Σ_w h(u, w)) then BN and ReLU
    h6 = torch.randn(bag.num_pairs, 8, dtype=torch.float64)
    block = model.readout.blocks["uG"]
    dense = block.mlp(bag.subgraph_sum(h6))
    torch.testing.assert_close(model.readout(bag, h6), F.relu(model.readout.norm(dense)))


def test_variants_differ() -> None:
    """Same weights where shared: variants give different outputs on the same graphs."""
    graphs = molecule_like(2)
    batch = GraphBatch.from_graphs(graphs)
    outputs = {}
    for variant in SWL_VARIANTS:
        torch.manual_seed(2)
        outputs[variant] = zinc_model(variant).eval()(batch)
    names = sorted(outputs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not torch.allclose(outputs[a], outputs[b]), (a, b)


@pytest.mark.parametrize("variant", sorted(SWL_VARIANTS))
@pytest.mark.parametrize("pooling", ["uG", "vG"])
def test_permutation_invariance(variant: str, pooling: str) -> None:
    torch.manual_seed(3)
    graphs = molecule_like(3)
    rng = random.Random(3)
    shuffled = []
    for graph in graphs:
        perm = list(range(graph.num_nodes))
        rng.shuffle(perm)
        shuffled.append(relabel(graph, perm))
    model = zinc_model(variant, pooling=pooling).double().eval()
    torch.testing.assert_close(model(GraphBatch.from_graphs(graphs)),
                               model(GraphBatch.from_graphs(shuffled)))


def test_disconnected_bucket_reaches_the_output() -> None:
    torch.manual_seed(4)
    two = molecule_like(4)[-3]  # the two-component graph
    model = zinc_model().double().eval()
    before = model(GraphBatch.from_graphs([two]))
    with torch.no_grad():
        model.distance_embedding.weight[model.max_distance + 1] += 1.0
    assert not torch.allclose(before, model(GraphBatch.from_graphs([two])))


def test_batch_transform_gathers_cached_distances() -> None:
    torch.manual_seed(5)
    graphs = molecule_like(5, count=8)
    dataset = GraphDataset.from_graphs(graphs)
    model = zinc_model().double().eval()
    transform = model.batch_transform(dataset)
    ids = torch.tensor([6, 0, 3, 9])
    bag = transform(GraphBatch.from_dataset(dataset, ids), ids)
    assert isinstance(bag, SubgraphBatch) and bag.max_distance == 3
    assert pair_distances(dataset, 3).values.numel() == sum(g.num_nodes ** 2 for g in graphs)
    direct = model(GraphBatch.from_graphs([graphs[i] for i in ids.tolist()]))
    torch.testing.assert_close(model(bag), direct)


def test_registry_builds_for_both_tasks() -> None:
    for task in ("graph_property", "graph_classification"):
        model = build_model({"name": "swl", "variant": "pswl", "hidden_channels": 8,
                             "num_layers": 1, "node_encoder": "zinc-atom",
                             "edge_encoder": "zinc-bond"}, task=task, in_channels=1,
                            out_channels=3, edge_channels=1)
        assert isinstance(model, SWL) and model.variant == "pswl"
        assert model(GraphBatch.from_graphs(molecule_like(6))).shape == (8, 3)
    dense = build_model({"name": "swl"}, task="graph_classification", in_channels=2,
                        out_channels=4, edge_channels=0)
    g = Graph(torch.tensor([[0, 1], [1, 0]]), num_nodes=2, x=torch.eye(2))
    assert dense.eval()(GraphBatch.from_graphs([g])).shape == (1, 4)


def test_bad_configuration_errors() -> None:
    with pytest.raises(ValueError, match="variant"):
        SWL(1, 4, 1, variant="swl++")
    with pytest.raises(ValueError, match="pooling"):
        SWL(1, 4, 1, pooling="mean")
    model = zinc_model()
    bag = SubgraphBatch.all_pairs(GraphBatch.from_graphs(molecule_like(7)), max_distance=5)
    with pytest.raises(ValueError, match="max_distance=3"):
        model(bag)


# ------------------------------------------------------------------ expressivity
def one_hot_labels(dataset: GraphDataset, dtype: torch.dtype = torch.float32) -> GraphDataset:
    """The expressivity task's inputs: one-hot node labels, or a constant 1."""
    num_nodes = int(dataset.node_ptr[-1])
    if dataset.x is None:
        x = torch.ones(num_nodes, 1, dtype=dtype)
    else:
        ids = torch.unique(dataset.x.reshape(num_nodes, -1), dim=0, return_inverse=True)[1]
        x = F.one_hot(ids, int(ids.max()) + 1).to(dtype)
    return GraphDataset(edge_index=dataset.edge_index, node_ptr=dataset.node_ptr,
                        edge_ptr=dataset.edge_ptr, x=x)


def random_outputs(config: dict, dataset: GraphDataset, seeds: int,
                   batch_size: int = 64) -> list[torch.Tensor]:
    """Outputs of ``seeds`` randomly initialised models (evaluation mode), as the untrained
    expressivity protocol draws them."""
    outputs = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = build_model(config, task="graph_classification",
                            in_channels=int(dataset.x.shape[1]), out_channels=10,
                            edge_channels=0).to(dataset.x.dtype).eval()
        factory = getattr(model, "batch_transform", None)
        transform = None if factory is None else factory(dataset)
        rows = []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                ids = torch.arange(start, min(start + batch_size, len(dataset)))
                batch = GraphBatch.from_dataset(dataset, ids)
                rows.append(model(batch if transform is None else transform(batch, ids)))
        outputs.append(torch.cat(rows))
    return outputs


SSWL = {"name": "swl", "variant": "sswl", "hidden_channels": 16, "num_layers": 3}
GIN = {"name": "gin", "hidden_channels": 16, "num_layers": 4, "num_mlp_layers": 1,
       "final_dropout": 0.0}


def separated(outputs: list[torch.Tensor], pairs: torch.Tensor) -> torch.Tensor:
    """``(P,)`` bool: some model's outputs are more than the tolerance apart (L1)."""
    hit = torch.zeros(pairs.shape[1], dtype=torch.bool)
    for out in outputs:
        hit |= (out[pairs[0]] - out[pairs[1]]).abs().sum(1) > TOLERANCE
    return hit


def test_sswl_separates_exp_pairs() -> None:
    root = require_shared_datasets("exp/EXP")
    exp = read_exp(root / "exp" / "EXP" / "GRAPHSAT.txt")
    index = torch.arange(60)  # the first 30 given pairs (2i, 2i + 1), all 1-WL-equivalent
    subset = one_hot_labels(GraphDataset.from_graphs([exp[int(i)] for i in index]))
    pairs = torch.arange(len(subset)).view(-1, 2).T
    gin = separated(random_outputs(GIN, subset, 2), pairs)
    assert not gin.any()  # the pairs are 1-WL-equivalent: GIN separates none
    counts = count_undistinguished_pairs(random_outputs(SSWL, subset, 1), TOLERANCE, pairs)
    assert counts.undistinguished[-1] == 0  # one random SSWL separates every pair


def test_sswl_separates_what_gin_separates_on_graph8c() -> None:
    root = require_shared_datasets("graph8c")
    graphs = read_graph6(root / "graph8c" / "graph8c.g6")
    subset = one_hot_labels(GraphDataset.from_graphs([graphs[i] for i in range(0, 11117, 37)]))
    n = len(subset)
    first, second = torch.triu_indices(n, n, offset=1)
    pairs = torch.stack([first, second])
    gin = separated(random_outputs(GIN, subset, 3, batch_size=128), pairs)
    sswl = separated(random_outputs(SSWL, subset, 1, batch_size=128), pairs)
    assert gin.sum() > 0
    assert not (gin & ~sswl).any()  # whatever GIN separates, SSWL separates too
    assert sswl.sum() >= gin.sum()


@pytest.mark.parametrize("name", ["sr16622", "sr251256"])
def test_strongly_regular_graphs_stay_undistinguished(name: str) -> None:
    """SSWL+ is bounded by 2-FWL (Zhang et al., 2023), which cannot separate strongly regular
    graphs with equal parameters: random models leave every pair within the tolerance."""
    root = require_shared_datasets("sr-graphs")
    family = one_hot_labels(read_graph6(root / "sr-graphs" / f"{name}.g6"), torch.float64)
    n = len(family)
    first, second = torch.triu_indices(n, n, offset=1)
    config = {**SSWL, "variant": "sswl+"}
    outputs = random_outputs(config, family, 2)
    assert not separated(outputs, torch.stack([first, second])).any()
    assert outputs[0].abs().sum() > 0  # not a trivially zero model
