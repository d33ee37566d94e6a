"""NCN predictor: hand-checked forward, dense re-implementation of every variant, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit.nn.linkpred import NCN_VARIANTS, LinkEncoder, NCNPredictor, link_loss
from gnnkit.sparse import SparseMatrix

# A square 0-1-2-3-0 with the diagonal 0-2 (undirected, both directions stored).
SQUARE = torch.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
H = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0]])


def square_graph() -> SparseMatrix:
    edges = torch.cat([SQUARE, SQUARE.flip(0)], dim=1)
    return SparseMatrix.from_edge_index(edges, shape=4)


def make_identity(module: nn.Module, head: list[float]) -> None:
    """Every Linear (square) becomes the identity with zero bias; the last Linear of the head
    becomes the row ``head``; a 1 → H Linear becomes all-ones."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                layer.bias.zero_()
                if layer.in_features == layer.out_features:
                    layer.weight.copy_(torch.eye(layer.in_features))
                else:
                    layer.weight.fill_(1.0)
        module.head[-1].weight.copy_(torch.tensor([head]))


def test_hand_checked_forward() -> None:
    """With identity layers and non-negative h the logit is
    Σ_f (β Σ_{k ∈ CN(i,j)} h_k[f] + h_i[f] h_j[f])."""
    predictor = NCNPredictor(2, 2).eval()
    make_identity(predictor, [1.0, 1.0])
    A = square_graph()
    pairs = torch.tensor([[1, 0, 3], [3, 1, 3]])
    # (1, 3): CN = {0, 2}: h0 + h2 = (3, 1); h1 ⊙ h3 = (0, 3)  → 7
    # (0, 1): CN = {2}:    h2 = (2, 1);      h0 ⊙ h1 = (0, 0)  → 3
    # (3, 3): CN = N(3) = {0, 2}: (3, 1);   h3 ⊙ h3 = (1, 9)  → 14
    assert predictor(H, A, pairs).tolist() == [7.0, 3.0, 14.0]
    with torch.no_grad():
        predictor.beta.fill_(2.0)
    assert predictor(H, A, pairs).tolist() == [11.0, 6.0, 18.0]


def test_hand_checked_count_and_cn_only_variants() -> None:
    A = square_graph()
    pairs = torch.tensor([[1, 0], [3, 1]])
    count = NCNPredictor(2, 2, variant="cn-count").eval()
    make_identity(count, [1.0, 1.0])
    # (1, 3): |CN| = 2 → (2, 2) + (0, 3) → 7;  (0, 1): |CN| = 1 → (1, 1) + (0, 0) → 2
    assert count(H, A, pairs).tolist() == [7.0, 2.0]
    only = NCNPredictor(2, 2, variant="cn-only").eval()
    make_identity(only, [1.0, -1.0])
    # (1, 3): (3, 1) → 3 − 1 = 2;  (0, 1): (2, 1) → 1
    assert only(H, A, pairs).tolist() == [2.0, 1.0]


def dense_reference(predictor: NCNPredictor, h: Tensor, dense: Tensor, pairs: Tensor
                    ) -> Tensor:
    """NCN computed from a dense 0/1 adjacency with the predictor's own layers."""
    i, j = pairs
    x = h + predictor.node_mlp(h) if predictor.node_mlp is not None else h
    common = dense[i] * dense[j]
    pooled = common.sum(1, keepdim=True) if predictor.variant == "cn-count" else common @ x
    hidden = predictor.cn_mlp(pooled) * predictor.beta
    if predictor.pair_mlp is not None:
        hidden = hidden + predictor.pair_mlp(h[i] * h[j])
    if predictor.variant == "ncn2":
        two = ((dense @ dense) > 0).to(dense.dtype)
        extra = (dense[i] * two[j] + two[i] * dense[j]) @ x
        hidden = hidden + predictor.extra_mlp(extra)
    if predictor.variant == "ncn-diff":
        extra = (dense[i] * (1 - dense[j]) + dense[j] * (1 - dense[i])) @ x
        hidden = hidden + predictor.extra_mlp(extra)
    return predictor.head(hidden).squeeze(-1)


def random_undirected(n: int, m: int, seed: int) -> tuple[SparseMatrix, Tensor]:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=g)
    edges = edges[:, edges[0] != edges[1]]
    edges = torch.cat([edges, edges.flip(0)], dim=1)
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[edges[1], edges[0]] = 1.0
    return SparseMatrix.from_edge_index(edges, shape=n), dense


@pytest.mark.parametrize("variant", NCN_VARIANTS)
@pytest.mark.parametrize("options", [
    {},
    {"layer_norm": True, "node_mlp": True, "tail_activation": True, "two_layer_head": True,
     "beta": 0.5},
])
def test_matches_dense_reference(variant: str, options: dict[str, object]) -> None:
    torch.manual_seed(0)
    A, dense = random_undirected(25, 70, seed=1)
    predictor = NCNPredictor(5, 16, variant=variant, dropout=0.3, **options).double().eval()
    h = torch.randn(25, 5, dtype=torch.float64)
    pairs = torch.randint(0, 25, (2, 40))
    torch.testing.assert_close(predictor(h, A, pairs),
                               dense_reference(predictor, h, dense, pairs))


def test_edge_index_input_equals_sparse_matrix() -> None:
    torch.manual_seed(0)
    A, _ = random_undirected(20, 50, seed=2)
    edge_index, _ = A.to_edge_index()
    predictor = NCNPredictor(4, 8).eval()
    h = torch.randn(20, 4)
    pairs = torch.randint(0, 20, (2, 10))
    torch.testing.assert_close(predictor(h, edge_index, pairs), predictor(h, A, pairs))


def test_edge_dropout_only_in_training() -> None:
    torch.manual_seed(0)
    A, _ = random_undirected(30, 150, seed=3)
    predictor = NCNPredictor(4, 8, edge_dropout=0.5)
    h = torch.randn(30, 4)
    pairs = torch.randint(0, 30, (2, 30))
    predictor.eval()
    assert torch.equal(predictor(h, A, pairs), predictor(h, A, pairs))
    predictor.train()
    assert not torch.equal(predictor(h, A, pairs), predictor(h, A, pairs))


def test_gradient_reaches_encoder_and_every_predictor_block() -> None:
    torch.manual_seed(0)
    A, _ = random_undirected(30, 120, seed=4)
    x = torch.randn(30, 7)
    encoder = LinkEncoder(7, 8, conv="puregcn", jumping_knowledge=True)
    predictor = NCNPredictor(8, 16, node_mlp=True, layer_norm=True)
    h = encoder(x, A)
    positive = torch.randint(0, 30, (2, 20))
    negative = torch.randint(0, 30, (2, 20))
    link_loss(predictor(h, A, positive), predictor(h, A, negative)).backward()
    for name, module in (("encoder", encoder), ("predictor", predictor)):
        for parameter_name, parameter in module.named_parameters():
            assert parameter.grad is not None, f"{name}.{parameter_name} got no gradient"
    assert encoder.input[1].weight.grad.abs().sum() > 0
    assert encoder.jk_weight.grad.abs().sum() > 0
    for block in (predictor.cn_mlp, predictor.pair_mlp, predictor.node_mlp, predictor.head):
        assert block[0].weight.grad.abs().sum() > 0
    assert predictor.beta.grad.abs().sum() > 0


def test_pooling_gradient_matches_dense() -> None:
    """d logit / d h through the common-neighbour sum equals the dense computation's."""
    torch.manual_seed(0)
    A, dense = random_undirected(15, 40, seed=5)
    predictor = NCNPredictor(3, 6, variant="cn-only").double().eval()
    h = torch.randn(15, 3, dtype=torch.float64, requires_grad=True)
    pairs = torch.randint(0, 15, (2, 12))
    (grad_sparse,) = torch.autograd.grad(predictor(h, A, pairs).sum(), h)
    (grad_dense,) = torch.autograd.grad(dense_reference(predictor, h, dense, pairs).sum(), h)
    torch.testing.assert_close(grad_sparse, grad_dense)


def test_bad_inputs() -> None:
    predictor = NCNPredictor(2, 4)
    A = square_graph()
    with pytest.raises(ValueError, match="in_channels=2"):
        predictor(torch.zeros(4, 3), A, torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match=r"\(2, B\)"):
        predictor(H, A, torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="variant"):
        NCNPredictor(2, 4, variant="ncn3")
    with pytest.raises(ValueError, match="edge_dropout"):
        NCNPredictor(2, 4, edge_dropout=1.0)
    with pytest.raises(TypeError, match="floating"):
        predictor(torch.zeros(4, 2, dtype=torch.long), A, torch.tensor([[0], [1]]))


def test_logit_is_a_probability_after_sigmoid() -> None:
    predictor = NCNPredictor(2, 4).eval()
    out = predictor(H, square_graph(), torch.tensor([[0, 1], [2, 3]]))
    assert out.shape == (2,)
    assert torch.all((F.sigmoid(out) > 0) & (F.sigmoid(out) < 1))
