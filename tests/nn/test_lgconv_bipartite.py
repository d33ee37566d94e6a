"""LGConv on the rectangular user–item matrix: equal to the same layer on the square block
adjacency [[0, R], [Rᵀ, 0]], to a dense D_U^{-1/2} R D_I^{-1/2} oracle, and to PyG's LGConv
on the square graph; caching, weights, dtype moves and errors."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from gnnkit.nn import LGConv
from gnnkit.sparse import SparseMatrix

NUM_USERS, NUM_ITEMS, CHANNELS = 7, 9, 4
TOL = {"atol": 1e-6, "rtol": 1e-5}


def _pairs(seed: int) -> Tensor:
    """Random user–item pairs: user 6 and items 7, 8 have none; one pair is duplicated."""
    g = torch.Generator().manual_seed(seed)
    users = torch.randint(0, NUM_USERS - 1, (20,), generator=g)
    items = torch.randint(0, NUM_ITEMS - 2, (20,), generator=g)
    pairs = torch.stack([users, items])
    return torch.cat([pairs, pairs[:, :1]], dim=1)


def _features(seed: int, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(100 + seed)
    return (torch.randn(NUM_USERS, CHANNELS, generator=g, dtype=dtype),
            torch.randn(NUM_ITEMS, CHANNELS, generator=g, dtype=dtype))


def _block_edge_index(pairs: Tensor) -> Tensor:
    """Both directions of every pair on U + I nodes (items shifted by U), PyG convention."""
    users, items = pairs[0], pairs[1] + NUM_USERS
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def _dense_operator(pairs: Tensor, weights: Tensor | None = None) -> Tensor:
    """D_U^{-1/2} R D_I^{-1/2} built densely from the pairs (duplicates add)."""
    R = torch.zeros(NUM_USERS, NUM_ITEMS, dtype=torch.float64)
    values = torch.ones(pairs.shape[1], dtype=torch.float64) if weights is None else weights
    R.index_put_((pairs[0], pairs[1]), values, accumulate=True)
    du, di = R.sum(1), R.sum(0)
    inv_u = torch.where(du > 0, du.pow(-0.5), torch.zeros_like(du))
    inv_i = torch.where(di > 0, di.pow(-0.5), torch.zeros_like(di))
    return inv_u[:, None] * R * inv_i[None, :]


@pytest.mark.parametrize("seed", [0, 1])
def test_bipartite_equals_dense_oracle_and_square_block(seed: int) -> None:
    pairs = _pairs(seed)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    x_users, x_items = _features(seed)
    out_users, out_items = LGConv()((x_users, x_items), R)
    operator = _dense_operator(pairs)
    torch.testing.assert_close(out_users, operator @ x_items, **TOL)
    torch.testing.assert_close(out_items, operator.t() @ x_users, **TOL)
    square = LGConv()(torch.cat([x_users, x_items]), _block_edge_index(pairs),
                      num_nodes=NUM_USERS + NUM_ITEMS)
    torch.testing.assert_close(torch.cat([out_users, out_items]), square, **TOL)
    # user 6 and items 7, 8 have no neighbour: zeros, no NaN
    assert torch.all(out_users[6] == 0) and torch.all(out_items[7:] == 0)


def test_gradients_match_the_square_block_computation() -> None:
    pairs = _pairs(2)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    x_users, x_items = (t.requires_grad_() for t in _features(2))
    stacked = torch.cat([x_users, x_items]).detach().requires_grad_()
    upstream = torch.randn(NUM_USERS + NUM_ITEMS, CHANNELS, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(5))
    out_users, out_items = LGConv()((x_users, x_items), R)
    (torch.cat([out_users, out_items]) * upstream).sum().backward()
    square = LGConv()(stacked, _block_edge_index(pairs), num_nodes=NUM_USERS + NUM_ITEMS)
    (square * upstream).sum().backward()
    assert x_users.grad is not None and x_items.grad is not None and stacked.grad is not None
    torch.testing.assert_close(torch.cat([x_users.grad, x_items.grad]), stacked.grad, **TOL)


def test_weighted_matrix_and_gradients_to_its_values() -> None:
    pairs = _pairs(3)
    weights = torch.rand(pairs.shape[1], dtype=torch.float64,
                         generator=torch.Generator().manual_seed(3)) + 0.1
    ours_w = weights.clone().requires_grad_()
    dense_w = weights.clone().requires_grad_()
    R = SparseMatrix.from_coo(pairs[0], pairs[1], ours_w, (NUM_USERS, NUM_ITEMS))
    x_users, x_items = _features(3)
    out_users, out_items = LGConv()((x_users, x_items), R)
    operator = _dense_operator(pairs, dense_w)
    expected_users, expected_items = operator @ x_items, operator.t() @ x_users
    torch.testing.assert_close(out_users, expected_users, **TOL)
    torch.testing.assert_close(out_items, expected_items, **TOL)
    (out_users.sum() + 2 * out_items.sum()).backward()
    (expected_users.sum() + 2 * expected_items.sum()).backward()
    assert ours_w.grad is not None and dense_w.grad is not None
    # from_coo permutes the values, and the gradient flows back to the caller's order
    torch.testing.assert_close(ours_w.grad, dense_w.grad, **TOL)


def test_unnormalised_form_uses_R_as_given() -> None:
    pairs = _pairs(4)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    dense = torch.zeros(NUM_USERS, NUM_ITEMS, dtype=torch.float64)
    dense.index_put_((pairs[0], pairs[1]), torch.ones(pairs.shape[1], dtype=torch.float64),
                     accumulate=True)
    x_users, x_items = _features(4)
    out_users, out_items = LGConv(normalize=False)((x_users, x_items), R)
    torch.testing.assert_close(out_users, dense @ x_items, **TOL)
    torch.testing.assert_close(out_items, dense.t() @ x_users, **TOL)


def test_operators_are_cached_per_matrix_object() -> None:
    pairs = _pairs(5)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    conv = LGConv()
    first = conv.bipartite_matrices(R, torch.float64)
    assert conv.bipartite_matrices(R, torch.float64) is first
    other = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    assert conv.bipartite_matrices(other, torch.float64) is not first
    conv.reset_parameters()
    assert conv.bipartite_matrices(other, torch.float64) is not first


def test_values_requiring_grad_are_not_cached_so_every_step_can_backward() -> None:
    pairs = _pairs(6)
    pattern = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    # a leaf in CSR order (from_coo would make the values an op's output, freed by backward)
    weights = torch.rand(pattern.nnz, dtype=torch.float64, requires_grad=True)
    R = pattern.with_values(weights)
    conv = LGConv()
    x_users, x_items = _features(6)
    for _ in range(2):  # a cached, freed graph would fail the second backward
        users, items = conv((x_users, x_items), R)
        (users.sum() + items.sum()).backward()
    assert weights.grad is not None


def test_float32_and_double_move_of_a_cached_layer() -> None:
    pairs = _pairs(7)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    conv = LGConv()
    x_users, x_items = _features(7, torch.float32)
    users32, _ = conv((x_users, x_items), R)
    assert users32.dtype == torch.float32
    conv.double()
    users64, _ = conv((x_users.double(), x_items.double()), R)
    assert users64.dtype == torch.float64
    torch.testing.assert_close(users64, _dense_operator(pairs) @ x_items.double(), **TOL)


def test_bipartite_input_errors_name_the_argument() -> None:
    pairs = _pairs(8)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    x_users, x_items = _features(8)
    conv = LGConv()
    with pytest.raises(ValueError, match="x_items"):
        conv((x_users, x_items[:, :2]), R)
    with pytest.raises(ValueError, match="shape"):
        conv((x_users[:5], x_items), R)
    with pytest.raises(ValueError, match="num_nodes"):
        conv((x_users, x_items), R, num_nodes=16)
    with pytest.raises(TypeError, match="dtype"):
        conv((x_users, x_items.float()), R)
    with pytest.raises(TypeError, match="pair"):
        conv((x_users, x_items, x_items), R)  # type: ignore[arg-type]


def test_matches_pyg_lgconv_on_the_square_graph() -> None:
    pyg_nn = pytest.importorskip("torch_geometric.nn")
    pairs = _pairs(9)
    R = SparseMatrix.from_coo(pairs[0], pairs[1], None, (NUM_USERS, NUM_ITEMS))
    x_users, x_items = (t.float() for t in _features(9))
    out_users, out_items = LGConv()((x_users, x_items), R)
    theirs = pyg_nn.LGConv()(torch.cat([x_users, x_items]), _block_edge_index(pairs))
    torch.testing.assert_close(torch.cat([out_users, out_items]), theirs, atol=1e-5, rtol=1e-5)
