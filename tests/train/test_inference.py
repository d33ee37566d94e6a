"""Layer-wise full-graph inference (gnnkit.train.inference): equal to the full-graph forward
for every model that exposes its layers, and fit_sampled's ``inference="layerwise"``."""

from __future__ import annotations

import doctest
from collections.abc import Callable

import pytest
import torch

import gnnkit.train.inference as inference_module
from gnnkit.models import GCN
from gnnkit.models.sage import SAGE
from gnnkit.sparse import SparseMatrix
from gnnkit.train.inference import (
    LayerwiseModel,
    check_layerwise_model,
    layerwise_inference,
    one_hop_blocks,
)
from gnnkit.train.node_classification import evaluate, fit_sampled

N = 41


def _graph(weighted: bool = False, seed: int = 0) -> SparseMatrix:
    """A directed random graph on ``N`` nodes: nodes 36 … 40 isolated (no in- or
    out-edges), 25 duplicated entries, three stored self loops."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, N - 5, (2, 160), generator=g)
    edges = torch.cat([edges, edges[:, :25], torch.tensor([[2, 7, 7], [2, 7, 7]])], dim=1)
    values = torch.rand(edges.shape[1], generator=g, dtype=torch.float64) if weighted else None
    return SparseMatrix.from_coo(edges[1], edges[0], values, shape=N)


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "sage-mean-3": lambda: SAGE(6, 8, 3, num_layers=3),
    "sage-max-normalize": lambda: SAGE(6, 8, 3, aggr="max", normalize=True),
    "sage-1-layer": lambda: SAGE(6, 8, 3, num_layers=1),
    "gcn-2": lambda: GCN(6, 8, 3),
    "gcn-3-cached": lambda: GCN(6, 8, 3, num_layers=3, cached=True),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("weighted", [False, True])
def test_layerwise_equals_the_full_graph_forward(name: str, weighted: bool) -> None:
    torch.manual_seed(0)
    A = _graph(weighted)
    x = torch.randn(N, 6, dtype=torch.float64)
    model = MODELS[name]().double().eval()
    assert isinstance(model, LayerwiseModel)
    expected = model(x, A)
    for batch_size in (1, 4, N - 1, N, N + 7, 10**6):
        out = layerwise_inference(model, x, A, batch_size=batch_size)
        assert out.shape == expected.shape and not out.requires_grad
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # sparse (bag-of-words) features: a batch's rows are densified
    sparse_x = SparseMatrix.from_dense(torch.where(x > 0.3, x, 0.0))
    torch.testing.assert_close(layerwise_inference(model, sparse_x, A, batch_size=5),
                               model(sparse_x, A), rtol=1e-12, atol=1e-12)
    # int32 indices
    torch.testing.assert_close(layerwise_inference(model, x, A.index_type(torch.int32),
                                                   batch_size=6), expected,
                               rtol=1e-12, atol=1e-12)


def test_float32_weights_and_a_float64_graph_match_the_forward() -> None:
    torch.manual_seed(0)
    A = _graph(weighted=True)
    x = torch.randn(N, 6)
    model = GCN(6, 8, 3).eval()
    torch.testing.assert_close(layerwise_inference(model, x, A, batch_size=9), model(x, A))


def test_layerwise_leaves_the_mode_and_gradients_alone() -> None:
    torch.manual_seed(0)
    A, x = _graph(), torch.randn(N, 6)
    model = SAGE(6, 8, 3, dropout=0.0)
    out = layerwise_inference(model, x, A, batch_size=8)  # training mode, no dropout
    assert model.training and not out.requires_grad
    torch.testing.assert_close(out, model(x, A).detach())


@pytest.mark.parametrize("batch_size", [1, 3, 11, N, N + 4])
def test_one_hop_blocks_hold_the_targets_rows_with_targets_first(batch_size: int) -> None:
    A = _graph(weighted=True)
    dense = A.to_dense()
    starts = []
    for start, n_id, block in one_hop_blocks(A, batch_size):
        starts.append(start)
        stop = min(start + batch_size, N)
        M = stop - start
        assert block.shape == (M, n_id.numel())
        assert n_id[:M].tolist() == list(range(start, stop))
        others = n_id[M:]
        assert others.unique().numel() == others.numel()  # each once
        assert not bool(((others >= start) & (others < stop)).any())
        # in order of first appearance in the rows, which are A's rows in CSR order
        rows = A.col[A.rowptr[start]: A.rowptr[stop]].long()
        assert n_id[block.col.long()].tolist() == rows.tolist()
        first = [c for i, c in enumerate(rows.tolist())
                 if c not in rows.tolist()[:i] and not start <= c < stop]
        assert others.tolist() == first
        # every entry of the targets' rows, values kept
        rebuilt = torch.zeros(M, N, dtype=torch.float64)
        rebuilt.index_put_((block.row.long(), n_id[block.col.long()]), block.values,
                           accumulate=True)
        torch.testing.assert_close(rebuilt, dense[start:stop])
    assert starts == list(range(0, N, batch_size))
    empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=0)
    assert list(one_hop_blocks(empty, 4)) == []
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(one_hop_blocks(A, 0))


def test_an_empty_graph_gives_an_empty_output() -> None:
    A = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=0)
    for model in (SAGE(6, 8, 3), GCN(6, 8, 3)):
        out = layerwise_inference(model.eval(), torch.zeros(0, 6), A, batch_size=4)
        assert out.shape == (0, 3)


def test_errors_name_the_problem() -> None:
    A, x = _graph(), torch.randn(N, 6)
    model = SAGE(6, 8, 3).eval()
    with pytest.raises(TypeError, match=r"exposes its layers.*Linear has no num_layers"):
        layerwise_inference(torch.nn.Linear(6, 3), x, A, batch_size=4)
    with pytest.raises(TypeError, match="Linear has no"):
        check_layerwise_model(torch.nn.Linear(6, 3))
    with pytest.raises(TypeError, match="SparseMatrix"):
        layerwise_inference(model, x, A.to_dense(), batch_size=4)  # type: ignore[arg-type]
    rectangular = SparseMatrix.from_edge_index(torch.tensor([[0], [1]]), shape=(3, 4))
    with pytest.raises(ValueError, match="square"):
        layerwise_inference(model, x, rectangular, batch_size=4)
    with pytest.raises(ValueError, match=f"x has 5 rows but A has {N} nodes"):
        layerwise_inference(model, x[:5], A, batch_size=4)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        layerwise_inference(model, x, A, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        layerwise_inference(model, x, A, batch_size=True)
    _, n_id, block = next(one_hop_blocks(A, 4))
    with pytest.raises(ValueError, match="no source degree"):
        model.forward_layer(0, x[n_id], block, degree=torch.ones(n_id.numel()))


def test_module_examples_run() -> None:
    results = doctest.testmod(inference_module)
    assert results.attempted >= 3 and results.failed == 0


def _task(seed: int = 0) -> tuple[torch.Tensor, SparseMatrix, torch.Tensor, torch.Tensor,
                                  torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = 80
    y = torch.arange(n) % 2
    src = torch.randint(0, n, (400,), generator=g)
    dst = (src + 2 * torch.randint(0, n // 2, (400,), generator=g)) % n
    A = SparseMatrix.from_edge_index(torch.stack([src, dst]), shape=n).to_undirected()
    x = torch.randn(n, 4, generator=g, dtype=torch.float64) + 0.5 * y[:, None]
    train = torch.zeros(n, dtype=torch.bool)
    train[:40] = True
    val = torch.zeros(n, dtype=torch.bool)
    val[40:60] = True
    return x, A, y, train, val


def test_fit_sampled_layerwise_evaluation_matches_the_full_forward() -> None:
    x, A, y, train, val = _task()
    test = ~(train | val)
    histories = {}
    for mode, chunk in (("full", None), ("layerwise", 7), ("layerwise", None)):
        torch.manual_seed(0)
        model = SAGE(4, 16, 2, dropout=0.5).double()
        result = fit_sampled(model, x, A, y, train, val, test, fanouts=[5, 3], batch_size=16,
                             seed=1, inference=mode, inference_batch_size=chunk, lr=0.02,
                             epochs=6, stopping="best_val_loss", patience=3)
        histories[mode, chunk] = result.history
    full = histories["full", None]
    for key in (("layerwise", 7), ("layerwise", None)):
        # evaluation draws nothing random: the same batches, weights and numbers
        assert len(histories[key]) == len(full)
        for a, b in zip(histories[key], full, strict=True):
            assert a["loss"] == b["loss"]
            for name in ("val", "test"):
                assert a[f"{name}_acc"] == b[f"{name}_acc"]
                assert a[f"{name}_loss"] == pytest.approx(b[f"{name}_loss"], rel=1e-12)


def test_fit_sampled_checks_the_inference_options_before_training() -> None:
    x, A, y, train, val = _task()
    options = dict(fanouts=[2], batch_size=8, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match=r"inference must be one of \['full', 'layerwise'\]"):
        fit_sampled(SAGE(4, 8, 2), x, A, y, train, val, inference="layer", **options)
    with pytest.raises(ValueError, match="inference_batch_size is for inference='layerwise'"):
        fit_sampled(SAGE(4, 8, 2), x, A, y, train, val, inference_batch_size=4, **options)
    with pytest.raises(ValueError, match="inference_batch_size must be an int >= 1"):
        fit_sampled(SAGE(4, 8, 2), x, A, y, train, val, inference="layerwise",
                    inference_batch_size=0, **options)
    with pytest.raises(ValueError, match="not both"):
        fit_sampled(SAGE(4, 8, 2), x, A, y, train, val, inference="layerwise",
                    eval_forward=lambda m, x, g: m(x, g), **options)

    class Blocks(torch.nn.Module):  # trains on blocks, exposes no layers
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor, graph: object) -> torch.Tensor:
            rows = graph[-1].num_rows if isinstance(graph, list) else x.shape[0]
            return self.lin(x[:rows].float())

    with pytest.raises(TypeError, match="Blocks has no num_layers"):
        fit_sampled(Blocks(), x, A, y, train, val, inference="layerwise", **options)


def test_evaluate_takes_a_forward() -> None:
    x, A, y, _, val = _task()
    model = SAGE(4, 8, 2).double()
    calls = []

    def forward(m: torch.nn.Module, x: torch.Tensor, graph: SparseMatrix) -> torch.Tensor:
        calls.append(m.training)
        return layerwise_inference(m, x, graph, batch_size=10)

    numbers = evaluate(model, x, A, y, {"val": val}, forward=forward)
    assert calls == [False]  # evaluation mode
    assert numbers == pytest.approx(evaluate(model, x, A, y, {"val": val}), rel=1e-12)
