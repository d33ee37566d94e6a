"""GAE scorers: dot product and MLP on h_i ⊙ h_j."""

from __future__ import annotations

import pytest
import torch

from gnnkit.nn.linkpred import DotProductScorer, HadamardMLPScorer


def test_dot_product_by_hand() -> None:
    h = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    pairs = torch.tensor([[0, 1, 2], [1, 2, 2]])
    assert DotProductScorer()(h, None, pairs).tolist() == [1.0, 1.0, 0.5]


def test_mlp_scorer_is_an_mlp_of_the_hadamard_product() -> None:
    torch.manual_seed(0)
    scorer = HadamardMLPScorer(4, 8, num_layers=3, dropout=0.5, layer_norm=True).eval()
    h = torch.randn(6, 4)
    pairs = torch.tensor([[0, 1, 5], [3, 3, 2]])
    linears = [m for m in scorer.mlp if isinstance(m, torch.nn.Linear)]
    norms = [m for m in scorer.mlp if isinstance(m, torch.nn.LayerNorm)]
    assert len(linears) == 3 and len(norms) == 2
    z = h[pairs[0]] * h[pairs[1]]
    for linear, norm in zip(linears[:-1], norms, strict=True):
        z = torch.relu(norm(linear(z)))
    torch.testing.assert_close(scorer(h, None, pairs), linears[-1](z).squeeze(-1))
    assert HadamardMLPScorer(4, 8, num_layers=1)(h, None, pairs).shape == (3,)


def test_mlp_scorer_is_symmetric_and_trains() -> None:
    torch.manual_seed(0)
    scorer = HadamardMLPScorer(4, 8)
    h = torch.randn(6, 4, requires_grad=True)
    pairs = torch.tensor([[0, 1], [3, 4]])
    torch.testing.assert_close(scorer(h, None, pairs), scorer(h, None, pairs.flip(0)))
    scorer(h, None, pairs).sum().backward()
    assert h.grad is not None and all(p.grad is not None for p in scorer.parameters())


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        HadamardMLPScorer(4, 8, num_layers=0)
    with pytest.raises(ValueError, match="in_channels=4"):
        HadamardMLPScorer(4, 8)(torch.randn(3, 5), None, torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="required"):
        DotProductScorer()(torch.randn(3, 5))
