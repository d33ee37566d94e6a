"""LinkEncoder backbones and edge dropout against dense computations."""

from __future__ import annotations

import pytest
import torch

from gnnkit.nn.linkpred import LinkEncoder, drop_entries
from gnnkit.sparse import SparseMatrix


def random_graph(n: int, m: int, seed: int) -> tuple[SparseMatrix, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=g)
    edges = edges[:, edges[0] != edges[1]]
    edges = torch.unique(torch.cat([edges, edges.flip(0)], 1), dim=1)
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[edges[1], edges[0]] = 1.0
    return SparseMatrix.from_edge_index(edges, shape=n), dense


def projected(encoder: LinkEncoder, x: torch.Tensor) -> torch.Tensor:
    linear = encoder.input[1]
    return x @ linear.weight.t() + linear.bias


@pytest.mark.parametrize("conv", ["puregcn", "puresum", "puremean", "puremax"])
def test_pure_propagation_matches_dense(conv: str) -> None:
    torch.manual_seed(0)
    A, dense = random_graph(20, 50, 0)
    encoder = LinkEncoder(6, 4, num_layers=2, conv=conv).double().eval()
    x = torch.randn(20, 6, dtype=torch.float64)
    h = projected(encoder, x)
    degree = dense.sum(1, keepdim=True)
    for _ in range(2):
        if conv == "puregcn":
            norm = (1 + degree).rsqrt()
            h = norm * ((dense + torch.eye(20, dtype=torch.float64)) @ (norm * h))
        elif conv == "puresum":
            h = dense @ h
        elif conv == "puremean":
            h = (dense @ h) / degree.clamp(min=1)
        else:
            masked = torch.where(dense.unsqueeze(-1) > 0, h.unsqueeze(0), -torch.inf)
            h = masked.max(1).values.nan_to_num(neginf=0.0)
    torch.testing.assert_close(encoder(x, A), h)


def test_residual_and_jumping_knowledge() -> None:
    torch.manual_seed(0)
    A, dense = random_graph(15, 40, 1)
    encoder = LinkEncoder(5, 3, num_layers=2, conv="puresum", residual=True,
                          jumping_knowledge=True).double().eval()
    x = torch.randn(15, 5, dtype=torch.float64)
    h0 = projected(encoder, x)
    h1 = dense @ h0 + h0
    h2 = dense @ h1 + h1
    w = encoder.jk_weight
    torch.testing.assert_close(encoder(x, A), w[0] * h1 + w[1] * h2)


def test_embedding_input_for_featureless_graphs() -> None:
    A, dense = random_graph(10, 30, 2)
    encoder = LinkEncoder(0, 4, conv="puresum", num_embeddings=10).double().eval()
    ids = torch.arange(10)
    torch.testing.assert_close(encoder(ids, A), dense @ encoder.embedding.weight)
    weight = encoder.embedding.weight.detach()
    torch.testing.assert_close(weight.t() @ weight, torch.eye(4, dtype=torch.float64),
                               atol=1e-6, rtol=0)  # orthogonal columns (initialised in fp32)
    with pytest.raises(TypeError, match="node ids"):
        encoder(torch.randn(10, 4), A)


@pytest.mark.parametrize("conv", ["gcn", "sage", "gin"])
def test_parametrised_backbones_run_and_learn(conv: str) -> None:
    torch.manual_seed(0)
    A, _ = random_graph(12, 30, 3)
    encoder = LinkEncoder(5, 8, num_layers=2, conv=conv, layer_norm=True)
    out = encoder(torch.randn(12, 5), A)
    assert out.shape == (12, 8)
    out.square().sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())


def test_drop_entries_rescales_and_is_identity_at_zero() -> None:
    A, _ = random_graph(30, 200, 4)
    assert drop_entries(A, 0.0) is A
    dropped = drop_entries(A, 0.5, generator=torch.Generator().manual_seed(0))
    assert 0 < dropped.nnz < A.nnz
    assert torch.all(dropped.values == 2.0)
    kept_pattern, pattern = dropped.to_dense() != 0, A.to_dense() != 0
    assert torch.equal(kept_pattern & pattern, kept_pattern) and dropped.is_coalesced()
    kept = drop_entries(A, 0.5, rescale=False, generator=torch.Generator().manual_seed(0))
    assert kept.values is None and kept.nnz == dropped.nnz
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        drop_entries(A, 1.0)


def test_edge_dropout_active_only_in_training() -> None:
    torch.manual_seed(0)
    A, _ = random_graph(20, 80, 5)
    encoder = LinkEncoder(4, 4, conv="puresum", edge_dropout=0.5)
    x = torch.randn(20, 4)
    encoder.eval()
    assert torch.equal(encoder(x, A), encoder(x, A))
    encoder.train()
    assert not torch.equal(encoder(x, A), encoder(x, A))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="conv"):
        LinkEncoder(3, 4, conv="gat")
    with pytest.raises(ValueError, match="num_layers"):
        LinkEncoder(3, 4, num_layers=0)
    encoder = LinkEncoder(3, 4)
    A, _ = random_graph(5, 10, 6)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        encoder(torch.randn(5, 2), A)
