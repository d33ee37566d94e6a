"""``pair_product``: ``h_i ⊙ h_j`` whose backward does not depend on the thread count.

The reason it exists: the backward of advanced indexing (``h[pairs[0]]``) accumulates with
``index_put_``, whose CPU kernel adds a row's contributions in a varying order when several
threads run (checked below, so the test notices if torch changes that), which made NCN's
training non-reproducible at 2 threads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from thread_count import torch_threads

from gnnkit.nn.linkpred import NCNPredictor, pair_product


@pytest.fixture
def two_threads() -> Iterator[None]:
    with torch_threads(2):
        yield


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Many pairs over few nodes: every node's gradient row collects hundreds of terms."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(300, 64, generator=g)
    pairs = torch.randint(0, 300, (2, 40000), generator=g)
    grad = torch.randn(40000, 64, generator=g)
    return h, pairs, grad


def _gradient(h: torch.Tensor, pairs: torch.Tensor, grad: torch.Tensor,
              indexing: bool = False) -> torch.Tensor:
    h = h.clone().requires_grad_()
    out = h[pairs[0]] * h[pairs[1]] if indexing else pair_product(h, pairs)
    out.backward(grad)
    assert h.grad is not None
    return h.grad


def test_values_and_one_thread_gradient_equal_advanced_indexing() -> None:
    h, pairs, grad = _inputs()
    assert torch.equal(pair_product(h, pairs), h[pairs[0]] * h[pairs[1]])
    with torch_threads(1):
        assert torch.equal(_gradient(h, pairs, grad), _gradient(h, pairs, grad, indexing=True))


def test_gradient_is_the_same_at_one_and_two_threads(two_threads: None) -> None:
    h, pairs, grad = _inputs(1)
    runs = [_gradient(h, pairs, grad) for _ in range(4)]
    assert all(torch.equal(runs[0], run) for run in runs[1:])
    with torch_threads(1):
        assert torch.equal(runs[0], _gradient(h, pairs, grad))


def test_ncn_gradients_reproduce_at_two_threads(two_threads: None) -> None:
    g = torch.Generator().manual_seed(2)
    edges = torch.randint(0, 200, (2, 3000), generator=g)
    graph = torch.cat([edges, edges.flip(0)], 1)
    pairs = torch.randint(0, 200, (2, 20000), generator=g)
    torch.manual_seed(3)
    predictor = NCNPredictor(32, 32, dropout=0.0).eval()
    h0 = torch.randn(200, 32, generator=g)

    def gradient() -> torch.Tensor:
        h = h0.clone().requires_grad_()
        predictor(h, graph, pairs).sum().backward()
        assert h.grad is not None
        return h.grad

    runs = [gradient() for _ in range(3)]
    assert all(torch.equal(runs[0], run) for run in runs[1:])
