"""Readouts: against Python loops and PyG's global_*_pool / AttentionalAggregation, gradcheck,
determinism, torch.compile without graph breaks, and named errors."""

from __future__ import annotations

import pytest
import torch

from gnnkit.nn.pool import (
    AttentionalReadout,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
    graph_softmax,
)
from gnnkit.sparse import index_from_ptr, ptr_from_counts

POOLS = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}


def random_batch(seed: int, counts: list[int], f: int = 5, dtype: torch.dtype = torch.float32
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ptr = ptr_from_counts(torch.tensor(counts, dtype=torch.long))
    return torch.randn(sum(counts), f, generator=gen, dtype=dtype), ptr


COUNTS = [[3, 0, 5, 1, 0], [0], [4], [0, 0, 2, 0], [7, 2, 9, 1, 3, 3]]


def loop_pool(x: torch.Tensor, ptr: torch.Tensor, reduce: str) -> torch.Tensor:
    rows = []
    for g in range(ptr.numel() - 1):
        part = x[int(ptr[g]) : int(ptr[g + 1])]
        if part.shape[0] == 0:
            rows.append(torch.zeros(x.shape[1:], dtype=x.dtype))  # documented: empty -> 0
        elif reduce == "sum":
            rows.append(part.sum(0))
        elif reduce == "mean":
            rows.append(part.mean(0))
        else:
            rows.append(part.max(0).values)
    return torch.stack(rows)


@pytest.mark.parametrize("reduce", list(POOLS))
@pytest.mark.parametrize("counts", COUNTS)
def test_pool_matches_python_loop(reduce: str, counts: list[int]) -> None:
    x, ptr = random_batch(0, counts)
    torch.testing.assert_close(POOLS[reduce](x, ptr), loop_pool(x, ptr, reduce))
    # trailing feature dims (N, H, C) are pooled the same way
    x3 = x.view(x.shape[0], 1, 5).expand(-1, 2, -1).contiguous()
    torch.testing.assert_close(POOLS[reduce](x3, ptr), loop_pool(x3, ptr, reduce))


@pytest.mark.parametrize("reduce", list(POOLS))
@pytest.mark.parametrize("counts", COUNTS)
def test_pool_matches_pyg(reduce: str, counts: list[int]) -> None:
    pyg_pool = pytest.importorskip("torch_geometric.nn.pool")
    theirs = {"sum": pyg_pool.global_add_pool, "mean": pyg_pool.global_mean_pool,
              "max": pyg_pool.global_max_pool}[reduce]
    x, ptr = random_batch(1, counts)
    batch = index_from_ptr(ptr)
    torch.testing.assert_close(POOLS[reduce](x, ptr), theirs(x, batch, size=len(counts)))


@pytest.mark.parametrize("reduce", list(POOLS))
def test_pool_gradcheck_and_determinism(reduce: str) -> None:
    x, ptr = random_batch(2, [3, 0, 4, 1], f=3, dtype=torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: POOLS[reduce](t, ptr), (x,))
    big, big_ptr = random_batch(3, [500, 0, 700, 300], f=16)
    big.requires_grad_(True)
    first = POOLS[reduce](big, big_ptr)
    (grad1,) = torch.autograd.grad(first.square().sum(), big)
    second = POOLS[reduce](big, big_ptr)
    (grad2,) = torch.autograd.grad(second.square().sum(), big)
    assert torch.equal(first, second) and torch.equal(grad1, grad2)  # bitwise


def test_max_pool_of_negative_features_and_empty_graph_is_finite() -> None:
    x = -torch.ones(3, 2) * 7
    out = global_max_pool(x, torch.tensor([0, 3, 3]))
    assert out.tolist() == [[-7.0, -7.0], [0.0, 0.0]]


# ------------------------------------------------------------------ attention readout
def loop_attention(x: torch.Tensor, ptr: torch.Tensor, gate: torch.Tensor,
                   values: torch.Tensor) -> torch.Tensor:
    rows = []
    for g in range(ptr.numel() - 1):
        lo, hi = int(ptr[g]), int(ptr[g + 1])
        if hi == lo:
            rows.append(torch.zeros(values.shape[1], dtype=values.dtype))
            continue
        alpha = torch.softmax(gate[lo:hi], dim=0)
        rows.append((alpha * values[lo:hi]).sum(0))
    return torch.stack(rows)


@pytest.mark.parametrize("counts", COUNTS)
@pytest.mark.parametrize("gate_width", [1, 6])
def test_attention_matches_loop_and_pyg(counts: list[int], gate_width: int) -> None:
    torch.manual_seed(0)
    gate_nn = torch.nn.Linear(5, gate_width)
    nn = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU())
    readout = AttentionalReadout(gate_nn, nn)
    x, ptr = random_batch(4, counts)
    out = readout(x, ptr)
    with torch.no_grad():
        expected = loop_attention(x, ptr, gate_nn(x), nn(x))
    torch.testing.assert_close(out, expected)
    aggr = pytest.importorskip("torch_geometric.nn.aggr")
    theirs = aggr.AttentionalAggregation(gate_nn, nn)
    torch.testing.assert_close(out, theirs(x, index_from_ptr(ptr), dim_size=len(counts)))


def test_graph_softmax_is_stable_and_normalised() -> None:
    scores = torch.tensor([1e4, 1e4 - 1.0, -1e4, 3.0, 0.0])
    ptr = torch.tensor([0, 3, 3, 5])
    alpha = graph_softmax(scores, ptr)
    assert torch.isfinite(alpha).all()
    assert float(alpha[:3].sum()) == pytest.approx(1.0)
    assert float(alpha[3:].sum()) == pytest.approx(1.0)
    torch.testing.assert_close(alpha[:3], torch.softmax(scores[:3], 0))


def test_attention_gradcheck() -> None:
    torch.manual_seed(1)
    x, ptr = random_batch(5, [3, 0, 4, 1], f=4, dtype=torch.float64)
    x.requires_grad_(True)
    scores = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: graph_softmax(s, ptr), (scores,))
    readout = AttentionalReadout(torch.nn.Linear(4, 1), torch.nn.Linear(4, 3)).double()
    assert torch.autograd.gradcheck(lambda t: readout(t, ptr), (x,))
    out = readout(x, ptr)
    out.sum().backward()
    assert readout.gate_nn.weight.grad is not None and readout.nn.weight.grad is not None
    before = readout.gate_nn.weight.detach().clone()
    readout.reset_parameters()
    assert not torch.equal(before, readout.gate_nn.weight)


# ------------------------------------------------------------------ torch.compile
@pytest.mark.parametrize("name", [*POOLS, "attention"])
def test_no_graph_breaks(name: str) -> None:
    torch.manual_seed(2)
    fn = AttentionalReadout(torch.nn.Linear(5, 1)) if name == "attention" else POOLS[name]
    x, ptr = random_batch(6, [3, 0, 5, 1])
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(fn)(x, ptr)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x, ptr), fn(x, ptr))


# ------------------------------------------------------------------ errors
def test_errors_name_the_argument_and_fix() -> None:
    x, ptr = random_batch(7, [2, 3])
    with pytest.raises(TypeError, match=r"x must be floating point.*x.float\(\)"):
        global_add_pool(x.long(), ptr)
    with pytest.raises(TypeError, match="ptr must be an int32/int64 tensor"):
        global_mean_pool(x, ptr.float())
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        global_max_pool([[1.0]], ptr)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"looks like the node→graph batch vector"):
        global_add_pool(x, index_from_ptr(ptr))
    with pytest.raises(ValueError, match=r"ptr must run from 0 to x.shape\[0\]=5"):
        global_add_pool(x, torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match="ptr must be 1-D"):
        global_add_pool(x, ptr.view(1, -1))
    with pytest.raises(ValueError, match=r"\(N, 1\) or \(N, F_out=5\).*Linear\(\.\.\., 1\)"):
        AttentionalReadout(torch.nn.Linear(5, 3))(x, ptr)
