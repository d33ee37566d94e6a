"""Sheaf learners, the stable inverse square root, the diffusion layer and gradchecks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import fractional_matrix_power
from torch.autograd import gradcheck

from gnnkit.nn.sheaf import (
    BundleLaplacianBuilder,
    DiagLaplacianBuilder,
    EdgeWeightLearner,
    GeneralLaplacianBuilder,
    LocalConcatSheafLearner,
    SheafDiffusionLayer,
    SheafGraph,
    StalkSumSheafLearner,
    sym_inv_sqrt,
)

DT = torch.float64


def small_graph() -> SheafGraph:
    pairs = torch.tensor([[0, 1], [1, 2], [0, 2], [2, 3], [4, 4]]).t()
    return SheafGraph.from_graph(torch.cat([pairs, pairs.flip(0)], 1), num_nodes=6, dtype=DT)


def ends(graph: SheafGraph) -> tuple[torch.Tensor, torch.Tensor]:
    return graph.row, graph.adjacency.col.long()


@pytest.mark.parametrize("activation", ["tanh", "id", "elu"])
def test_local_concat_learner_is_act_of_linear_concat(activation: str) -> None:
    g = small_graph()
    learner = LocalConcatSheafLearner(5, (2, 2), activation).double()
    x = torch.randn(6, 5, dtype=DT)
    i, j = ends(g)
    pre = torch.cat([x[i], x[j]], 1) @ learner.linear.weight.t()
    act = {"tanh": torch.tanh, "id": lambda t: t, "elu": torch.nn.functional.elu}[activation]
    torch.testing.assert_close(learner(x, g), act(pre).view(-1, 2, 2))


@pytest.mark.parametrize("D", [2, 3, 4])
def test_stalk_sum_learner_layouts(D: int) -> None:
    g = small_graph()
    C = 3
    x = torch.randn(6, D * C, dtype=DT)
    i, j = ends(g)
    ours = StalkSumSheafLearner(D, C, (4,), "id").double()
    summed = x.view(6, D, C).sum(1)
    expected = torch.cat([summed[i], summed[j]], 1) @ ours.linear.weight.t()
    torch.testing.assert_close(ours(x, g), expected)
    official = StalkSumSheafLearner(D, C, (4,), "id", official_layout=True).double()
    # the reference implementation, literally: reshape the concatenation to (D, 2C), sum
    cat = torch.cat([x[i], x[j]], dim=-1).reshape(-1, D, 2 * C).sum(dim=1)
    torch.testing.assert_close(official(x, g), cat @ official.linear.weight.t())


def test_edge_weights_symmetric_products() -> None:
    g = small_graph()
    learner = EdgeWeightLearner(4).double()
    x = torch.randn(6, 4, dtype=DT)
    i, j = ends(g)
    s = torch.sigmoid(torch.cat([x[i], x[j]], 1) @ learner.linear.weight.t()).squeeze(-1)
    s_rev = torch.sigmoid(torch.cat([x[j], x[i]], 1) @ learner.linear.weight.t()).squeeze(-1)
    w = learner(x, g)
    torch.testing.assert_close(w, s * s_rev)
    torch.testing.assert_close(w, w[g.reverse])


def test_sym_inv_sqrt_matches_scipy_and_handles_repeated_eigenvalues() -> None:
    torch.manual_seed(0)
    B = torch.randn(20, 3, 3, dtype=DT)
    M = B @ B.transpose(-1, -2) + torch.eye(3, dtype=DT)
    M[0] = torch.eye(3, dtype=DT)  # triple eigenvalue
    v = torch.randn(3, 1, dtype=DT)
    M[1] = v @ v.t() + torch.eye(3, dtype=DT)  # double eigenvalue
    out = sym_inv_sqrt(M)
    for k in range(len(M)):
        np.testing.assert_allclose(out[k].numpy(), fractional_matrix_power(M[k].numpy(), -0.5),
                                   atol=1e-10)
    Mg = M.clone().requires_grad_(True)
    # symmetric perturbations only: the function is defined on symmetric matrices
    assert gradcheck(lambda m: sym_inv_sqrt(0.5 * (m + m.transpose(-1, -2))), (Mg,))
    Mg.grad = None
    sym_inv_sqrt(Mg).sum().backward()
    assert torch.isfinite(Mg.grad).all()


def test_sym_inv_sqrt_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="matrices"):
        sym_inv_sqrt(torch.zeros(3, 2, 3))


def _maps(kind: str, g: SheafGraph, d: int) -> torch.Tensor:
    shape = {"diag": (d,), "bundle": (d * (d - 1) // 2,), "general": (d, d)}[kind]
    return (torch.randn(g.num_entries, *shape, dtype=DT) * 0.7).requires_grad_(True)


@pytest.mark.parametrize("kind", ["diag", "bundle", "general"])
def test_gradcheck_laplacian_apply(kind: str) -> None:
    torch.manual_seed(1)
    g = small_graph()
    d = 2
    channels = dict(graph_laplacian_channel=True, signless_laplacian_channel=(kind != "bundle"))
    builder = {"diag": DiagLaplacianBuilder, "bundle": BundleLaplacianBuilder,
               "general": GeneralLaplacianBuilder}[kind](d, **channels)
    maps = _maps(kind, g, d)
    x = torch.randn(6, builder.stalk_dim, 2, dtype=DT, requires_grad=True)
    if kind == "bundle":
        w = torch.rand(g.num_entries, dtype=DT, requires_grad=True)

        def fn(m, h, ww):
            return builder(g, m, ww * ww[g.reverse]) @ h
        assert gradcheck(fn, (maps, x, w))
    else:
        assert gradcheck(lambda m, h: builder(g, m) @ h, (maps, x))


def test_general_identity_maps_have_finite_gradients() -> None:
    # all maps equal → D_v = deg·I: repeated eigenvalues everywhere
    g = small_graph()
    maps = torch.eye(3, dtype=DT).repeat(g.num_entries, 1, 1).requires_grad_(True)
    (GeneralLaplacianBuilder(3)(g, maps) @ torch.randn(6, 3, 2, dtype=DT)).square().sum().backward()
    assert torch.isfinite(maps.grad).all() and maps.grad.abs().sum() > 0


def test_diffusion_layer_equation() -> None:
    torch.manual_seed(2)
    g = small_graph()
    L = DiagLaplacianBuilder(2, graph_laplacian_channel=True)(g, torch.randn(g.num_entries, 2,
                                                                             dtype=DT))
    layer = SheafDiffusionLayer(3, 4).double()
    with torch.no_grad():
        layer.left.copy_(torch.randn(3, 3))
        layer.epsilon.copy_(torch.randn(3, 1))
    x = torch.randn(6, 3, 4, dtype=DT)
    # dense oracle: X' = (1 + tanh ε) X - elu(L (I ⊗ W1) X W2ᵀ)
    dense = L.to_dense()
    mixed = torch.einsum("ij,njc->nic", layer.left, x) @ layer.right.t()
    diffused = (dense @ mixed.reshape(-1, 4)).reshape(6, 3, 4)
    expected = (1 + torch.tanh(layer.epsilon)) * x - torch.nn.functional.elu(diffused)
    torch.testing.assert_close(layer(x, L), expected)
    assert gradcheck(lambda h: layer(h, L), (x.clone().requires_grad_(True),))


def test_diffusion_layer_init_and_shape_check() -> None:
    layer = SheafDiffusionLayer(3, 5)
    torch.testing.assert_close(layer.left, torch.eye(3))
    torch.testing.assert_close(layer.right @ layer.right.t(), torch.eye(5), atol=1e-5, rtol=0)
    assert layer.epsilon.abs().sum() == 0
    g = small_graph()
    L = DiagLaplacianBuilder(3)(g, torch.randn(g.num_entries, 3, dtype=DT))
    with pytest.raises(ValueError, match=r"\(N, 3, 5\)"):
        layer(torch.randn(6, 2, 5), L)
