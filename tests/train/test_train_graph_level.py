"""The graph-level training loop: batching, losses with unlabelled entries, selection,
schedules and budgets — checked against plain torch computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gnnkit.data import GraphBatch
from gnnkit.datasets import Graph, GraphDataset
from gnnkit.nn.pool import global_add_pool
from gnnkit.train.graph_level import GraphBatches, LRSchedule, fit, graph_loss, predict


def _dataset(num_graphs: int = 24, seed: int = 0) -> GraphDataset:
    generator = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(num_graphs):
        n = int(torch.randint(0, 6, (1,), generator=generator))
        m = int(torch.randint(0, 2 * n + 1, (1,), generator=generator)) if n else 0
        edge_index = torch.randint(0, max(n, 1), (2, m), generator=generator)
        x = torch.randn(n, 3, generator=generator)
        label = int(x[:, 0].sum() > 0)
        graphs.append(Graph(num_nodes=n, edge_index=edge_index, x=x,
                            y=torch.tensor([label])))
    return GraphDataset.from_graphs(graphs)


class _SumModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        return global_add_pool(self.lin(batch.x), batch.ptr)


def test_batches_cover_every_graph_once_per_pass() -> None:
    dataset = _dataset()
    index = torch.arange(3, 20)
    batches = GraphBatches(dataset, index, 5, shuffle=True,
                           generator=torch.Generator().manual_seed(1))
    assert len(batches) == 4
    seen = torch.cat([batch.y for batch in batches])
    assert sorted(seen.tolist()) == sorted(dataset.y[index].tolist())
    first, second = ([b.num_nodes for b in batches] for _ in range(2))
    assert len(first) == len(second) == 4
    assert len(GraphBatches(dataset, index, 5, drop_last=True)) == 3
    assert sum(b.num_graphs for b in GraphBatches(dataset, index, 5, drop_last=True)) == 15


def test_sampled_batches_draw_distinct_graphs_per_batch() -> None:
    dataset = _dataset()
    batches = GraphBatches(dataset, torch.arange(10), 4, sampled_batches=7,
                           generator=torch.Generator().manual_seed(0))
    assert len(batches) == 7
    assert [b.num_graphs for b in batches] == [4] * 7


def test_batches_reject_bad_arguments() -> None:
    dataset = _dataset()
    with pytest.raises(IndexError, match="outside"):
        GraphBatches(dataset, [0, 99], 4)
    with pytest.raises(ValueError, match="batch_size"):
        GraphBatches(dataset, [0], 0)


def test_losses_match_torch_and_skip_unlabelled() -> None:
    output = torch.randn(5, 3)
    target = torch.tensor([0, 2, 1, 1, 0])
    assert torch.equal(graph_loss("cross_entropy", output, target),
                       F.cross_entropy(output, target))
    labels = torch.tensor([[1.0, math.nan, 0.0], [0.0, 1.0, math.nan], [1.0, 1.0, 1.0],
                           [math.nan, 0.0, 0.0], [0.0, 0.0, 1.0]])
    keep = ~torch.isnan(labels)
    assert torch.allclose(graph_loss("bce", output, labels),
                          F.binary_cross_entropy_with_logits(output[keep], labels[keep]))
    values = torch.randn(5)
    assert torch.allclose(graph_loss("l1", output[:, :1], values),
                          (output[:, 0] - values).abs().mean())
    assert torch.allclose(graph_loss("mse", output[:, :1], values),
                          ((output[:, 0] - values) ** 2).mean())
    with pytest.raises(ValueError, match="integer class"):
        graph_loss("cross_entropy", output, target.float())
    with pytest.raises(ValueError, match="differ in shape"):
        graph_loss("l1", output, values)
    with pytest.raises(ValueError, match="unknown loss"):
        graph_loss("hinge", output, values)


def _accuracy(y: torch.Tensor, out: torch.Tensor) -> float:
    return float((out.argmax(-1) == y).float().mean())


def test_fit_selects_best_validation_epoch_and_reports_its_metrics() -> None:
    dataset = _dataset(40)
    torch.manual_seed(0)
    model = _SumModel()
    result = fit(model, dataset, torch.arange(30), {"val": torch.arange(30, 35),
                                                     "test": torch.arange(35, 40)},
                 loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=0.05,
                 epochs=6, batch_size=8, generator=torch.Generator().manual_seed(0),
                 keep_best_state=True)
    assert result.epochs == 6 and len(result.history) == 6
    vals = [entry["val"] for entry in result.history]
    assert result.selected_epoch == vals.index(max(vals)) + 1
    chosen = result.history[result.selected_epoch - 1]
    assert result.metrics == {"val": chosen["val"], "test": chosen["test"]}
    # the kept state reproduces the selected epoch's test metric
    model.load_state_dict(result.best_state)
    targets, outputs = predict(model, GraphBatches(dataset, torch.arange(35, 40), 3))
    assert _accuracy(targets, outputs) == chosen["test"]


def test_fit_is_reproducible_for_a_seed() -> None:
    dataset = _dataset(30)

    def run() -> list[float]:
        torch.manual_seed(3)
        result = fit(_SumModel(), dataset, torch.arange(20), {"val": torch.arange(20, 30)},
                     loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=0.01,
                     epochs=3, batch_size=4, generator=torch.Generator().manual_seed(5))
        return [entry["loss"] for entry in result.history]

    assert run() == run()


def test_step_schedule_halves_the_rate() -> None:
    dataset = _dataset(12)
    result = fit(_SumModel(), dataset, torch.arange(8), {"val": torch.arange(8, 12)},
                 loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=0.08,
                 epochs=5, batch_size=4, schedule=LRSchedule("step", step_size=2, gamma=0.5))
    assert [entry["lr"] for entry in result.history] == [0.08, 0.08, 0.04, 0.04, 0.02]


def test_plateau_schedule_stops_below_min_lr() -> None:
    dataset = _dataset(12)
    result = fit(_SumModel(), dataset, torch.arange(8), {"val": torch.arange(8, 12)},
                 loss="cross_entropy", metric=lambda y, out: 1.0, higher_is_better=False,
                 lr=0.1, epochs=50, batch_size=4,
                 schedule=LRSchedule("plateau", factor=0.5, patience=0, min_lr=0.02))
    # constant metric: the first epoch sets the best, every later one halves the rate (the
    # entry records the rate the epoch trained with); 0.0125 < min_lr ends training
    assert [entry["lr"] for entry in result.history] == [0.1, 0.1, 0.05, 0.025]
    assert result.stopped is not None and "min_lr" in result.stopped


def test_fit_checks_its_arguments() -> None:
    dataset = _dataset(6)
    common = dict(loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=0.1,
                  epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="eval_sets is empty"):
        fit(_SumModel(), dataset, [0, 1], {}, **common)
    with pytest.raises(ValueError, match="selection"):
        fit(_SumModel(), dataset, [0, 1], {"val": [2]}, selection="test", **common)
    with pytest.raises(ValueError, match="empty"):
        fit(_SumModel(), dataset, [0, 1], {"val": []}, **common)
    with pytest.raises(ValueError, match="kind"):
        LRSchedule("cosine")


def test_singleton_batches_are_skipped_unless_asked() -> None:
    # 5 training graphs at batch size 2 leave a last batch of one graph; batch norm cannot
    # train on it, and the OGB loop skips it
    dataset = _dataset(8, seed=4)

    class _Normed(_SumModel):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.BatchNorm1d(2)

        def forward(self, batch: GraphBatch) -> torch.Tensor:
            return self.norm(super().forward(batch))

    common = dict(loss="cross_entropy", metric=_accuracy, higher_is_better=True, lr=0.1,
                  epochs=2, batch_size=2)
    result = fit(_Normed(), dataset, torch.arange(5), {"val": torch.arange(5, 8)}, **common)
    assert result.epochs == 2
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        fit(_Normed(), dataset, torch.arange(5), {"val": torch.arange(5, 8)},
            skip_singletons=False, **common)
