"""NCN's fused common-neighbour pooling (:func:`gnnkit.sparse.intersect_aggregate`) against the
path it replaced (``intersect_rows`` → set matrix → ``spmm``): training is bit-identical.

``gnnkit.nn.linkpred.ncn._FUSED_COMMON_POOL = False`` forces the old path. Both runs train an
encoder and a predictor for a few steps (dropout, edge dropout and Adam included) from the same
seed on a small random graph with a hub, an isolated node and self pairs, then compare every
loss, every weight and the evaluation logits with ``torch.equal``, at one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from thread_count import torch_threads
from torch import Tensor

import gnnkit.nn.linkpred.ncn as ncn_module
from gnnkit.nn.linkpred import LinkEncoder, NCNCPredictor, NCNPredictor, link_loss
from gnnkit.sparse import SparseMatrix, use_backend

NUM_NODES = 40


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


def graph(seed: int = 0) -> SparseMatrix:
    """Undirected: random edges, a hub (node 0) next to every other node but the isolated
    last one, and duplicated entries (the hub's edges twice)."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(1, NUM_NODES - 1, (2, 90), generator=g)
    edges = edges[:, edges[0] != edges[1]]
    others = torch.arange(1, NUM_NODES - 1)
    hub = torch.stack([torch.zeros_like(others), others])
    edges = torch.cat([edges, hub, hub], dim=1)
    return SparseMatrix.from_edge_index(torch.cat([edges, edges.flip(0)], dim=1),
                                        shape=NUM_NODES)


def batch(step: int, size: int = 24) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    positive = torch.randint(0, NUM_NODES, (2, size), generator=g)
    negative = torch.randint(0, NUM_NODES, (2, size), generator=g)
    positive[:, 0] = 0  # the hub
    negative[1, 1] = NUM_NODES - 1  # the isolated node
    negative[0, 2] = negative[1, 2]  # a self pair
    return positive, negative


def train(fused: bool, monkeypatch: pytest.MonkeyPatch, *, variant: str, dtype: torch.dtype,
          steps: int = 4, **options: Any) -> dict[str, Any]:
    monkeypatch.setattr(ncn_module, "_FUSED_COMMON_POOL", fused)
    torch.manual_seed(0)
    A = graph()
    x = torch.randn(NUM_NODES, 6, dtype=dtype)
    encoder = LinkEncoder(6, 8, conv="puregcn", dropout=0.1).to(dtype)
    predictor = NCNPredictor(8, 16, variant=variant, dropout=0.2, **options).to(dtype)
    parameters = [*encoder.parameters(), *predictor.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=0.01)
    losses = []
    for step in range(steps):
        positive, negative = batch(step)
        h = encoder(x, A)
        loss = link_loss(predictor(h, A, positive), predictor(h, A, negative))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    grads = [p.grad.clone() for p in parameters]
    encoder.eval()
    predictor.eval()
    with torch.no_grad():
        pairs = torch.cartesian_prod(torch.arange(NUM_NODES), torch.arange(NUM_NODES)).t()
        logits = predictor(encoder(x, A), A, pairs)
    return {"losses": losses, "state": {**encoder.state_dict(), **predictor.state_dict()},
            "grads": grads, "logits": logits}


def assert_identical(fused: dict[str, Any], old: dict[str, Any]) -> None:
    for step, (a, b) in enumerate(zip(fused["losses"], old["losses"], strict=True)):
        assert torch.equal(a, b), f"loss of step {step}: {a.item()} != {b.item()}"
    for name, value in old["state"].items():
        assert torch.equal(fused["state"][name], value), name
    for index, (a, b) in enumerate(zip(fused["grads"], old["grads"], strict=True)):
        assert torch.equal(a, b), f"gradient of parameter {index}"
    assert torch.equal(fused["logits"], old["logits"])


@pytest.mark.parametrize("variant", ["ncn", "cn-only", "cn-count"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_training_is_bit_identical(monkeypatch: pytest.MonkeyPatch, variant: str,
                                   dtype: torch.dtype) -> None:
    fused = train(True, monkeypatch, variant=variant, dtype=dtype)
    old = train(False, monkeypatch, variant=variant, dtype=dtype)
    assert_identical(fused, old)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_identical_with_node_mlp_and_edge_dropout(monkeypatch: pytest.MonkeyPatch,
                                                  backend: str) -> None:
    options = {"node_mlp": True, "layer_norm": True, "edge_dropout": 0.3}
    with use_backend(backend):
        fused = train(True, monkeypatch, variant="ncn", dtype=torch.float32, **options)
        old = train(False, monkeypatch, variant="ncn", dtype=torch.float32, **options)
    assert_identical(fused, old)


class _Spy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = ncn_module.intersect_aggregate

        def spy(*args: Any) -> Tensor:
            self.calls += 1
            return original(*args)

        monkeypatch.setattr(ncn_module, "intersect_aggregate", spy)


@pytest.mark.parametrize(("variant", "fuses"), [("ncn", True), ("cn-only", True),
                                                ("cn-count", True), ("ncn2", False),
                                                ("ncn-diff", False)])
def test_fused_path_is_taken_only_for_the_plain_common_term(
        monkeypatch: pytest.MonkeyPatch, variant: str, fuses: bool) -> None:
    spy = _Spy(monkeypatch)
    h = torch.randn(NUM_NODES, 4)
    NCNPredictor(4, 8, variant=variant)(h, graph(), batch(0)[0])
    assert (spy.calls > 0) is fuses


def test_switch_forces_the_set_path(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _Spy(monkeypatch)
    monkeypatch.setattr(ncn_module, "_FUSED_COMMON_POOL", False)
    NCNPredictor(4, 8)(torch.randn(NUM_NODES, 4), graph(), batch(0)[0])
    assert spy.calls == 0


@pytest.mark.parametrize("variant", ["ncn", "cn-count"])
def test_ncnc_fuses_its_depth0_scorer_with_identical_results(
        variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NCNC pools with the fused op at depth 0 (its candidate scorer) and, in evaluation
    with a dense candidate cache, for the common term of every depth: logits and training
    gradients equal the set path's bit for bit, and depth 0 equals NCN."""
    torch.manual_seed(0)
    h = torch.randn(NUM_NODES, 4)
    pairs = batch(1)[0]
    negatives = batch(2)[0]

    def run(fused: bool) -> tuple[list[Tensor], list[Tensor]]:
        monkeypatch.setattr(ncn_module, "_FUSED_COMMON_POOL", fused)
        logits, grads = [], []
        for depth in (0, 1, 2):
            torch.manual_seed(depth)
            ncnc = NCNCPredictor(4, 8, depth=depth, variant=variant, node_mlp=True,
                                 dropout=0.3, edge_dropout=0.2)
            with torch.no_grad():
                logits.append(ncnc.eval()(h, graph(), pairs))
                with ncnc.cached_candidates():
                    logits.append(ncnc(h, graph(), pairs))
            ncnc.train()
            torch.manual_seed(10 + depth)
            link_loss(ncnc(h, graph(), pairs), ncnc(h, graph(), negatives)).backward()
            grads += [p.grad for p in ncnc.parameters() if p.grad is not None]
        return logits, grads

    spy = _Spy(monkeypatch)
    fused_logits, fused_grads = run(True)
    assert spy.calls > 0
    calls = spy.calls
    set_logits, set_grads = run(False)
    assert spy.calls == calls
    for fused, reference in zip(fused_logits + fused_grads, set_logits + set_grads,
                                strict=True):
        assert torch.equal(fused, reference)
    torch.manual_seed(1)
    ncnc = NCNCPredictor(4, 8, depth=0, variant=variant).eval()
    ncn = NCNPredictor(4, 8, variant=variant).eval()
    ncn.load_state_dict(ncnc.state_dict(), strict=False)
    assert torch.equal(ncn(h, graph(), pairs), ncnc(h, graph(), pairs))
