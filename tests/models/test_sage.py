"""GraphSAGE model: the sampled (block) form equals the full-graph form with fanout -1, and
fit_sampled trains it on mini-batches."""

from __future__ import annotations

import pytest
import torch

from gnnkit.data.sampling import sample_neighbors, sampling_generator
from gnnkit.models import build_model
from gnnkit.models.sage import SAGE
from gnnkit.sparse import SparseMatrix
from gnnkit.train.node_classification import fit_sampled


def _graph(n: int = 60, e: int = 240, seed: int = 0) -> SparseMatrix:
    g = torch.Generator().manual_seed(seed)
    return SparseMatrix.from_edge_index(torch.randint(0, n, (2, e), generator=g),
                                        shape=n).to_undirected()


@pytest.mark.parametrize("normalize", [False, True])
def test_blocks_with_full_fanout_equal_full_graph(normalize: bool) -> None:
    torch.manual_seed(0)
    A = _graph()
    x = torch.randn(60, 7, dtype=torch.float64)
    model = SAGE(7, 8, 3, num_layers=3, normalize=normalize).double().eval()
    seeds = torch.tensor([5, 0, 59, 31])
    sub = sample_neighbors(A, seeds, [-1, -1, -1])
    torch.testing.assert_close(model(x[sub.n_id], list(sub.matrices)), model(x, A)[seeds])
    sparse_x = SparseMatrix.from_dense(x)  # sparse features are densified
    torch.testing.assert_close(model(sparse_x, A), model(x, A))
    with pytest.raises(ValueError, match="3 layers but 2 blocks"):
        model(x[sub.n_id], list(sample_neighbors(A, seeds, [-1, -1]).matrices))


def test_registry_entry_builds_sage() -> None:
    model = build_model({"name": "sage", "hidden_channels": 4}, task="node_classification",
                        in_channels=5, num_classes=2)
    assert isinstance(model, SAGE) and len(model.convs) == 2


def test_fit_sampled_learns_a_homophilous_graph() -> None:
    torch.manual_seed(0)
    n = 200
    y = torch.arange(n) % 2
    g = torch.Generator().manual_seed(1)
    # edges mostly within a class: the neighbourhood mean carries the label
    src = torch.randint(0, n, (1200,), generator=g)
    dst = (src + 2 * torch.randint(0, n // 2, (1200,), generator=g)) % n
    A = SparseMatrix.from_edge_index(torch.stack([src, dst]), shape=n).to_undirected()
    x = torch.randn(n, 4) + 0.6 * y[:, None].float()
    train = torch.zeros(n, dtype=torch.bool)
    train[:120] = True
    val = ~train
    model = SAGE(4, 16, 2, dropout=0.0)
    result = fit_sampled(model, x, A, y, train, val, val, fanouts=[5, 5], batch_size=32,
                         seed=sampling_generator(0).initial_seed() % 1000, lr=0.02, epochs=15)
    assert result.epochs == 15 and result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.val_acc > 0.8


class _FixedLogits(torch.nn.Module):
    """Logits (0, 2) for every node whatever the input (a zero-weighted parameter for Adam)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, graph: object) -> torch.Tensor:
        rows = graph[-1].num_rows if isinstance(graph, list) else x.shape[0]  # seeds of blocks
        return torch.tensor([0.0, 2.0]).expand(rows, 2) + 0.0 * self.w


def test_fit_sampled_reports_the_seed_weighted_mean_loss() -> None:
    A = _graph(30, 60)
    y = torch.tensor([0, 1, 1] * 10)
    train = torch.zeros(30, dtype=torch.bool)
    train[:20] = True
    per_node = torch.where(y == 0, torch.log1p(torch.exp(torch.tensor(2.0))),
                           torch.log1p(torch.exp(torch.tensor(-2.0))))
    result = fit_sampled(_FixedLogits(), torch.randn(30, 2), A, y, train, ~train,
                         fanouts=[2], batch_size=7, seed=3, lr=0.1, epochs=2)  # 7 + 7 + 6
    for entry in result.history:
        assert entry["loss"] == pytest.approx(float(per_node[train].mean()), rel=1e-6)
