"""torch.compile(fullgraph=True) over the sparse ops: zero graph breaks, same numbers."""

from __future__ import annotations

import pytest
import torch
from sparse_graphs import make_graph

from gnnkit.sparse import SparseMatrix, edge_softmax, intersect_rows, sddmm, segment, spmm


class _AllOps(torch.nn.Module):
    """A small model that exercises every differentiable op, as a layer would."""

    def __init__(self, features: int = 8) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(features, features)

    def forward(self, A: SparseMatrix, x: torch.Tensor, ptr: torch.Tensor) -> torch.Tensor:
        h = spmm(A, self.lin(x))
        attention = edge_softmax(A, sddmm(A, h, h, "dot"))
        h = spmm(A.with_values(attention), h) + spmm(A, h, "max") + spmm(A, h, "mean")
        h = h + spmm(A, h, "min") + sddmm(A, h, h, "mul").sum() + sddmm(A, h, h, "add").mean()
        return segment(h, ptr, "sum")


def _inputs() -> tuple[SparseMatrix, torch.Tensor, torch.Tensor]:
    graph = make_graph("heavy", 20, 20, 80, seed=0)
    A = graph.matrix().gcn_norm()
    A.csc()  # caches filled outside the compiled region, as a training loop would
    return A, torch.randn(20, 8), torch.tensor([0, 7, 7, 20])


@pytest.mark.parametrize("backend", ["reference", None])
def test_explain_reports_zero_graph_breaks(backend: str | None) -> None:
    from gnnkit.sparse import use_backend

    model = _AllOps()
    A, x, ptr = _inputs()
    torch._dynamo.reset()
    if backend is None:
        explanation = torch._dynamo.explain(model)(A, x, ptr)
    else:
        with use_backend(backend):
            explanation = torch._dynamo.explain(model)(A, x, ptr)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compiled_forward_and_backward_match_eager() -> None:
    torch.manual_seed(0)
    model = _AllOps()
    A, x, ptr = _inputs()
    x_eager = x.clone().requires_grad_()
    x_compiled = x.clone().requires_grad_()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    expected = model(A, x_eager, ptr)
    got = compiled(A, x_compiled, ptr)
    torch.testing.assert_close(got, expected)
    expected.square().sum().backward()
    got.square().sum().backward()
    torch.testing.assert_close(x_compiled.grad, x_eager.grad)


def test_compiled_intersect_rows_needs_known_coalesced_matrix() -> None:
    A = make_graph("duplicates", 10, 10, 30, seed=1).matrix()
    left, right = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 2])

    def count(matrix: SparseMatrix) -> torch.Tensor:
        ptr, _ = intersect_rows(matrix, left, right)
        return ptr[1:] - ptr[:-1]

    torch._dynamo.reset()
    compiled = torch.compile(count, fullgraph=True, backend="aot_eager", dynamic=True)
    coalesced = A.coalesce()
    assert torch.equal(compiled(coalesced), count(A))
    with pytest.raises(Exception, match="coalesce"):
        torch._dynamo.reset()
        torch.compile(count, fullgraph=True, backend="aot_eager")(A)
