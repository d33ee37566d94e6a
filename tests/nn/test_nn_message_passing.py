"""The MessagePassing contract, layer state under .to()/.double()/.half(), the GraphLike type
and the shared initialisers.

References are dense computations written here (``A_dense @ X``), never gnnkit's own layers.
"""

from __future__ import annotations

import typing

import pytest
import torch
from nn_graphs import random_graph
from torch import Tensor

import gnnkit.nn.conv.aggr as aggr_module
from gnnkit.models import GAT, GCN
from gnnkit.nn import (
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    GraphLike,
    LGConv,
    MessagePassing,
    SAGEConv,
    inits,
)
from gnnkit.sparse import SparseMatrix, edge_softmax, gcn_norm, sddmm


def _graph(seed: int = 0) -> tuple[SparseMatrix, Tensor]:
    graph = random_graph(seed=seed)
    weight = torch.rand(graph.edge_index.shape[1], generator=torch.Generator().manual_seed(seed))
    A = SparseMatrix.from_edge_index(graph.edge_index, weight, shape=graph.num_nodes)
    return A, torch.randn(graph.num_nodes, 5, generator=torch.Generator().manual_seed(seed))


class _Counting:
    """Wraps the aggregation module's ``spmm``/``segment`` to count kernel calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {"spmm": 0, "segment": 0}
        for name in self.calls:
            original = getattr(aggr_module, name)
            monkeypatch.setattr(aggr_module, name, self._wrap(name, original))

    def _wrap(self, name: str, original: typing.Callable) -> typing.Callable:
        def counted(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            return original(*args, **kwargs)
        return counted


# ------------------------------------------------------------------ user-defined layers
class WeightedSum(MessagePassing):
    """A user layer with the default (linear) message: ``x'_i = Σ_j w_ji x_j + 2 x_i``."""

    def __init__(self) -> None:
        super().__init__("sum")

    def forward(self, x: Tensor, A: SparseMatrix) -> Tensor:
        return self.propagate(A, x, x, self_weight=2.0)


class ScaledEdges(MessagePassing):
    """Linear messages with computed weights: ``w_ji = A[i, j] · (1 + j)``."""

    def edge_weights(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None,
                     edge_attr: Tensor | None) -> Tensor:
        assert A.values is not None
        return A.values * (1.0 + A.col.to(A.values.dtype))

    def forward(self, x: Tensor, A: SparseMatrix) -> Tensor:
        return self.propagate(A, x)


class TanhDifference(MessagePassing):
    """A non-linear message reading both ends: ``x'_i = max_j tanh(x_i − x_j)·w_ji``."""

    message_uses_target = True

    def __init__(self) -> None:
        super().__init__("max")

    def message(self, x_j: Tensor, x_i: Tensor | None, edge_attr: Tensor | None,
                edge_weight: Tensor | None) -> Tensor:
        assert x_i is not None and edge_weight is not None
        return torch.tanh(x_i - x_j) * edge_weight.unsqueeze(-1)

    def update(self, aggregated: Tensor, x_target: Tensor | None) -> Tensor:
        return aggregated + 1.0

    def forward(self, x: Tensor, A: SparseMatrix) -> Tensor:
        return self.propagate(A, x, x)


class DotAttention(MessagePassing):
    """A user attention layer: ``α = softmax_j(x_i · x_j)``, ``x'_i = Σ_j α_ji x_j``."""

    def edge_weights(self, A: SparseMatrix, x_source: Tensor, x_target: Tensor | None,
                     edge_attr: Tensor | None) -> Tensor:
        assert x_target is not None
        return edge_softmax(A, sddmm(A, x_target, x_source, "dot"))

    def forward(self, x: Tensor, A: SparseMatrix) -> tuple[Tensor, SparseMatrix]:
        return self.propagate(A, x, x, return_weights=True)


def test_user_layer_with_linear_message_is_one_fused_spmm(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    A, x = _graph()
    layer = WeightedSum()
    assert layer.fused
    counter = _Counting(monkeypatch)
    out = layer(x, A)
    assert counter.calls == {"spmm": 1, "segment": 0}
    torch.testing.assert_close(out, A.to_dense() @ x + 2 * x)


def test_user_layer_with_computed_linear_weights_is_fused(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    A, x = _graph(1)
    counter = _Counting(monkeypatch)
    out = ScaledEdges()(x, A)
    assert counter.calls == {"spmm": 1, "segment": 0}
    dense = A.to_dense() * (1.0 + torch.arange(A.num_cols, dtype=x.dtype))
    torch.testing.assert_close(out, dense @ x)


def test_user_layer_with_general_message_gathers_and_matches_dense(
        monkeypatch: pytest.MonkeyPatch) -> None:
    A, x = _graph(2)
    A = A.coalesce()  # duplicates would be separate messages but one dense entry
    x.requires_grad_()
    layer = TanhDifference()
    assert not layer.fused
    counter = _Counting(monkeypatch)
    out = layer(x, A)
    assert counter.calls == {"spmm": 0, "segment": 1}
    dense = A.to_dense()
    pairwise = torch.tanh(x[:, None, :] - x[None, :, :]) * dense[:, :, None]
    masked = pairwise.masked_fill(dense[:, :, None] == 0, float("-inf")).amax(1)
    has_neighbours = (dense != 0).any(1, keepdim=True)
    expected = torch.where(has_neighbours, masked, torch.zeros_like(masked)) + 1.0
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_user_attention_layer_returns_its_softmax_weights() -> None:
    A, x = _graph(3)
    A = A.with_values(None).coalesce()
    out, attention = DotAttention()(x, A)
    mask = A.to_dense() != 0
    logits = (x @ x.T).masked_fill(~mask, float("-inf"))
    alpha = torch.softmax(logits, dim=1).nan_to_num(0.0)  # rows without neighbours → 0
    torch.testing.assert_close(attention.to_dense(), alpha)
    torch.testing.assert_close(out, alpha @ x)


def test_self_weight_needs_sum_aggregation_and_target_features() -> None:
    A, x = _graph()
    with pytest.raises(ValueError, match="sum aggregation"):
        MessagePassing("mean").propagate(A, x, x, self_weight=1.0)
    with pytest.raises(ValueError, match="x_target"):
        MessagePassing("sum").propagate(A, x, None, self_weight=1.0)
    with pytest.raises(ValueError, match="x_target"):
        TanhDifference().propagate(A, x, None)


@pytest.mark.parametrize("layer", [GCNConv(5, 3), SAGEConv(5, 3), GINConv(torch.nn.Linear(5, 3)),
                                   GATConv(5, 3, heads=2), GATv2Conv(5, 3), LGConv()],
                         ids=lambda layer: type(layer).__name__)
def test_every_built_in_layer_is_a_fused_message_passing_layer(layer: MessagePassing) -> None:
    assert isinstance(layer, MessagePassing)
    assert layer.fused


def test_gine_is_the_gathered_kind() -> None:
    assert isinstance(GINEConv(torch.nn.Linear(5, 5)), MessagePassing)
    assert not GINEConv(torch.nn.Linear(5, 5)).fused


# ------------------------------------------------------------------ GCN uses the core gcn_norm
@pytest.mark.parametrize("options", [{}, {"improved": True}, {"add_self_loops": False}])
def test_gcn_equals_the_core_gcn_norm_product(options: dict) -> None:
    A, x = _graph(4)
    layer = GCNConv(5, 3, **options)
    fill = 2.0 if options.get("improved") else 1.0
    normalized = gcn_norm(A, add_self_loops=options.get("add_self_loops", True),
                          fill_value=fill)
    expected = normalized.to_dense() @ layer.lin(x) + layer.bias
    torch.testing.assert_close(layer(x, A), expected)


# ------------------------------------------------------------------ state follows the module
@pytest.mark.parametrize("cast", ["double", "half", "bfloat16"])
def test_cached_gcn_follows_a_dtype_cast(cast: str) -> None:
    A, x = _graph(5)
    layer = GCNConv(5, 3, cached=True)
    layer(x, A)  # fills the cache in float32
    getattr(layer, cast)()
    dtype = layer.lin.weight.dtype
    out = layer(x.to(dtype), A)
    assert out.dtype == dtype
    fresh = GCNConv(5, 3)
    fresh.load_state_dict(layer.state_dict())
    tolerance = {} if dtype == torch.float64 else {"atol": 3e-2, "rtol": 3e-2}
    torch.testing.assert_close(out, fresh.to(dtype)(x.to(dtype), A), **tolerance)


def test_cached_gcn_follows_to_dtype_and_a_device_move() -> None:
    A, x = _graph(6)
    layer = GCNConv(5, 3, cached=True)
    layer(x, A)
    layer.to(torch.float64)
    normalized, diagonal = layer.normalized_matrix(None, torch.float64)
    assert normalized.dtype == torch.float64 and diagonal is not None
    assert diagonal.dtype == torch.float64
    layer.to("meta")  # a device move (the only other device every machine has)
    normalized, diagonal = layer.normalized_matrix(None, torch.float64)
    assert normalized.device.type == "meta" and normalized.rowptr.device.type == "meta"
    assert diagonal is not None and diagonal.device.type == "meta"


def test_gcn_reset_parameters_clears_the_cache() -> None:
    A, x = _graph(7)
    layer = GCNConv(5, 3, cached=True)
    layer(x, A)
    layer.reset_parameters()
    with pytest.raises(ValueError, match="nothing is cached"):
        layer.normalized_matrix(None, torch.float32)


@pytest.mark.parametrize("make", [lambda: GATConv(5, 2, heads=2), lambda: GATv2Conv(5, 2)],
                         ids=["gat", "gatv2"])
def test_attention_loop_cache_follows_the_module(make: typing.Callable) -> None:
    A, x = _graph(8)
    layer = make()
    layer(x, A)
    assert layer._loops.get(A.structure) is not None
    layer.double()
    assert layer(x.double(), A).dtype == torch.float64
    assert layer._loops.get(A.structure) is not None  # a cast keeps the cached pattern
    layer.to("meta")
    assert layer._loops.get(A.structure) is None  # keyed to a CPU graph: dropped on a move


def test_models_follow_a_cast_with_cached_layers() -> None:
    A, x = _graph(9)
    model = GCN(5, 8, 3, cached=True).eval()
    model(x, A)
    model.double()
    assert model(x.double(), A).dtype == torch.float64


# ------------------------------------------------------------------ the graph argument type
@pytest.mark.parametrize("cls", [GCNConv, SAGEConv, GINConv, GINEConv, GATConv, GATv2Conv,
                                 LGConv, GCN, GAT])
def test_every_forward_types_its_graph_as_graphlike(cls: type) -> None:
    hints = typing.get_type_hints(cls.forward)
    assert hints["graph"] == GraphLike


# ------------------------------------------------------------------ attention outputs
@pytest.mark.parametrize("cls", [GATConv, GATv2Conv])
def test_attention_weights_of_a_matrix_input_come_back_as_the_matrix(cls: type) -> None:
    A, x = _graph(10)
    layer = cls(5, 2, heads=3)
    out, (matrix, alpha) = layer(x, A, return_attention_weights=True)
    assert isinstance(matrix, SparseMatrix) and matrix.values is alpha
    assert alpha.shape == (matrix.nnz, 3)
    # Each target's attention sums to 1 per head (every node has its self loop).
    torch.testing.assert_close(matrix.to_dense().sum(1), torch.ones(A.num_rows, 3))
    out_gnnkit, attention = layer(x, A, return_attention=True)  # gnnkit's spelling
    torch.testing.assert_close(out_gnnkit, out)
    torch.testing.assert_close(attention.values, alpha)
    assert torch.equal(layer(x, A, return_attention_weights=False), out)
    with pytest.raises(ValueError, match="not both"):
        layer(x, A, return_attention=True, return_attention_weights=True)


# ------------------------------------------------------------------ initialisers
def test_glorot_uses_the_last_two_dimensions_and_accepts_none() -> None:
    torch.manual_seed(0)
    attention = torch.empty(1, 4, 60)
    inits.glorot(attention)
    bound = (6.0 / 64) ** 0.5
    assert attention.abs().max() <= bound and attention.abs().max() > 0.9 * bound
    assert inits.glorot(None) is None
    assert torch.equal(inits.zeros(torch.ones(3)), torch.zeros(3))
    with pytest.raises(TypeError, match="glorot"):
        inits.glorot([1.0])  # type: ignore[type-var]


def test_reset_descends_only_into_modules_without_their_own_reset() -> None:
    calls: list[str] = []

    class Leaf(torch.nn.Linear):
        def reset_parameters(self) -> None:
            calls.append("leaf")
            super().reset_parameters()

    class Owner(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Leaf(2, 2)

        def reset_parameters(self) -> None:
            calls.append("owner")

    model = torch.nn.Sequential(Leaf(2, 2), torch.nn.ReLU(), Owner())
    calls.clear()  # Linear resets itself when constructed
    inits.reset(model)
    assert calls == ["leaf", "owner"]  # the Owner's own Leaf is left to the Owner
