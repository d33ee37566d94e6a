"""The batch-transform hook of the graph-level loop: a model's ``batch_transform(dataset)``
turns every collated batch (with its dataset ids) into the model's input."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gnnkit.data import GraphBatch, SubgraphBatch
from gnnkit.datasets import Graph, GraphDataset
from gnnkit.train.graph_level import GraphBatches, fit, model_batch_transform


def _dataset(count: int = 12) -> GraphDataset:
    generator = torch.Generator().manual_seed(0)
    graphs = []
    for g in range(count):
        n = 2 + g % 4
        src = torch.arange(n - 1)
        edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], 1)
        graphs.append(Graph(edge_index=edge_index, num_nodes=n,
                            x=torch.randn(n, 3, generator=generator),
                            y=torch.tensor([float(n)])))
    return GraphDataset.from_graphs(graphs)


class _BagModel(nn.Module):
    """Sums the pair features of an all-pairs bag per graph; records the ids it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.seen: list[Tensor] = []

    def batch_transform(self, dataset: GraphDataset
                        ) -> Callable[[GraphBatch, Tensor], SubgraphBatch]:
        def transform(batch: GraphBatch, ids: Tensor) -> SubgraphBatch:
            self.seen.append(ids.clone())
            return SubgraphBatch.all_pairs(batch, max_distance=3)
        return transform

    def forward(self, bag: SubgraphBatch) -> Tensor:
        assert isinstance(bag, SubgraphBatch)
        per_subgraph = bag.pool_subgraphs(bag.graph.x[bag.pair_node], reduce="sum")
        return self.scale * bag.pool_graphs(per_subgraph, reduce="sum").sum(1, keepdim=True)


def test_graph_batches_pass_ids_to_the_transform() -> None:
    dataset = _dataset()
    ids_seen: list[Tensor] = []

    def transform(batch: GraphBatch, ids: Tensor) -> GraphBatch:
        ids_seen.append(ids)
        expected = GraphBatch.from_dataset(dataset, ids)
        assert torch.equal(batch.ptr, expected.ptr)
        return batch

    index = torch.tensor([5, 1, 7, 3, 0])
    batches = list(GraphBatches(dataset, index, 2, transform=transform))
    assert len(batches) == 3
    assert torch.equal(torch.cat(ids_seen), index)


def test_fit_trains_on_the_model_transform_output() -> None:
    dataset = _dataset()
    model = _BagModel()
    transform = model_batch_transform(model, dataset)
    assert transform is not None
    result = fit(model, dataset, torch.arange(8), {"val": torch.arange(8, 12)}, loss="mse",
                 metric=lambda t, o: float((t - o).abs().mean()), higher_is_better=False,
                 lr=0.01, epochs=2, batch_size=4, batch_transform=transform,
                 generator=torch.Generator().manual_seed(0))
    assert result.epochs == 2
    # every training and evaluation batch went through the transform with its own ids
    seen = torch.cat(model.seen)
    assert sorted(seen.tolist()) == sorted(list(range(8)) * 2 + list(range(8, 12)) * 2)


def test_models_without_the_hook_get_none() -> None:
    assert model_batch_transform(nn.Linear(2, 2), _dataset()) is None
