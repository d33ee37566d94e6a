"""The recommender family's building blocks against independent oracles: the BPR sampler
against brute-force sets, the loss and L2 term against their formulas, LightGCN's forward and
gradients against dense normalised-adjacency powers and against PyG's LightGCN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from gnnkit.nn.recsys import (
    BPR_SCHEMES,
    MFBPR,
    BPRSampler,
    LightGCN,
    bpr_l2_penalty,
    bpr_loss,
    interaction_matrix,
)

U, I = 6, 10


def _pairs() -> Tensor:
    """User 0: 3 items, user 1: 1 item, user 2: 9 of the 10 items, user 3: none,
    user 4: 2 items (one listed twice), user 5: 4 items; item 9 is never used."""
    rows = {0: [1, 4, 7], 1: [0], 2: [0, 1, 2, 3, 4, 5, 6, 7, 8], 4: [2, 5, 5], 5: [3, 6, 7, 8]}
    users = [u for u, items in rows.items() for _ in items]
    items = [i for its in rows.values() for i in its]
    return torch.tensor([users, items])


def _positive_sets(pairs: Tensor) -> dict[int, set[int]]:
    sets: dict[int, set[int]] = {u: set() for u in range(U)}
    for u, i in pairs.t().tolist():
        sets[u].add(i)
    return sets


# ----------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("scheme", BPR_SCHEMES)
def test_no_negative_is_a_positive_and_every_positive_is_one(scheme: str) -> None:
    pairs = _pairs()
    positives = _positive_sets(pairs)
    sampler = BPRSampler(pairs, U, I, scheme=scheme)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        triples = sampler.sample(generator)
        for u, p, n in zip(*(t.tolist() for t in triples), strict=True):
            assert p in positives[u], (u, p)
            assert n not in positives[u], (u, n)
            assert 0 <= n < I


def test_interaction_scheme_covers_every_distinct_interaction_exactly_once() -> None:
    pairs = _pairs()
    distinct = {(u, i) for u, i in pairs.t().tolist()}
    triples = BPRSampler(pairs, U, I, scheme="interaction").sample(
        torch.Generator().manual_seed(1))
    seen = list(zip(triples.users.tolist(), triples.positives.tolist(), strict=True))
    assert len(seen) == len(distinct) == 19  # the duplicate (4, 5) counts once
    assert set(seen) == distinct


def test_every_admissible_negative_can_be_drawn() -> None:
    """Per user, the negatives drawn over many epochs are exactly the items it never
    interacted with — including user 2's single admissible item 9."""
    pairs = _pairs()
    positives = _positive_sets(pairs)
    sampler = BPRSampler(pairs, U, I)
    generator = torch.Generator().manual_seed(2)
    drawn: dict[int, set[int]] = {u: set() for u in range(U)}
    for _ in range(300):
        triples = sampler.sample(generator)
        for u, n in zip(triples.users.tolist(), triples.negatives.tolist(), strict=True):
            drawn[u].add(n)
    for u in (0, 1, 2, 4, 5):
        assert drawn[u] == set(range(I)) - positives[u], u
    assert drawn[3] == set()  # no training item: never a BPR user


def test_uniform_user_scheme_draws_users_uniformly_and_skips_users_without_items() -> None:
    pairs = _pairs()
    sampler = BPRSampler(pairs, U, I, scheme="uniform-user")
    generator = torch.Generator().manual_seed(3)
    counts = torch.zeros(U)
    positive_counts = torch.zeros(I)
    epochs = 400
    for _ in range(epochs):
        triples = sampler.sample(generator)
        counts += torch.bincount(triples.users, minlength=U)
        positive_counts += torch.bincount(triples.positives[triples.users == 0], minlength=I)
    # 19 draws per epoch over 6 users; user 3 has no item: its draws are dropped
    assert counts[3] == 0
    expected = epochs * 19 / U
    assert torch.all((counts[[0, 1, 2, 4, 5]] - expected).abs() < 0.15 * expected)
    # user 0's positive is uniform over its 3 items
    share = positive_counts[[1, 4, 7]] / positive_counts.sum()
    assert torch.all((share - 1 / 3).abs() < 0.06)
    assert sampler.expected_size() == pytest.approx(19 * 5 / 6)


def test_stratified_user_scheme_gives_every_user_n_over_u_triples() -> None:
    sampler = BPRSampler(_pairs(), U, I, scheme="stratified-user")
    triples = sampler.sample(torch.Generator().manual_seed(4))
    counts = torch.bincount(triples.users, minlength=U).tolist()
    assert counts == [3, 3, 3, 0, 3, 3]  # 19 // 6 = 3, user 3 skipped
    assert sampler.expected_size() == 15


def test_a_seeded_generator_repeats_the_epoch() -> None:
    sampler = BPRSampler(_pairs(), U, I, scheme="uniform-user")
    first = sampler.sample(torch.Generator().manual_seed(5))
    again = sampler.sample(torch.Generator().manual_seed(5))
    other = sampler.sample(torch.Generator().manual_seed(6))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_batches_are_consecutive_chunks() -> None:
    triples = BPRSampler(_pairs(), U, I).sample(torch.Generator().manual_seed(7))
    batches = triples.batches(5)
    assert [b.num_triples for b in batches] == [5, 5, 5, 4]
    assert torch.equal(torch.cat([b.users for b in batches]), triples.users)


def test_sampler_input_errors() -> None:
    with pytest.raises(ValueError, match=r"interactions\[1\] holds item ids"):
        BPRSampler(torch.tensor([[0, 1], [3, 10]]), U, I)
    with pytest.raises(ValueError, match=r"interactions\[0\] holds user ids -1"):
        BPRSampler(torch.tensor([[-1, 1], [3, 4]]), U, I)
    with pytest.raises(ValueError, match="shape"):
        BPRSampler(torch.tensor([[0, 1, 2]]), U, I)
    with pytest.raises(TypeError, match="int64"):
        BPRSampler(torch.tensor([[0.0], [1.0]]), U, I)
    with pytest.raises(ValueError, match="empty"):
        BPRSampler(torch.zeros(2, 0, dtype=torch.long), U, I)
    with pytest.raises(ValueError, match="scheme"):
        BPRSampler(_pairs(), U, I, scheme="popularity")
    every_item = torch.stack([torch.zeros(I, dtype=torch.long), torch.arange(I)])
    with pytest.raises(ValueError, match="all 10 items"):
        BPRSampler(every_item, U, I)


# ----------------------------------------------------------------------------- losses
def test_bpr_loss_is_the_mean_negative_log_sigmoid() -> None:
    pos = torch.tensor([2.0, -1.0, 0.5, 30.0])
    neg = torch.tensor([1.0, 1.0, 0.5, -30.0])
    expected = -torch.log(torch.sigmoid(pos - neg)).mean()
    torch.testing.assert_close(bpr_loss(pos, neg), expected)
    with pytest.raises(ValueError, match="same shape"):
        bpr_loss(pos, neg[:2])


def test_l2_penalty_is_half_the_squared_norms_over_the_batch() -> None:
    g = torch.Generator().manual_seed(8)
    eu, ei, ej = (torch.randn(5, 3, generator=g) for _ in range(3))
    expected = 0.5 * (eu.norm() ** 2 + ei.norm() ** 2 + ej.norm() ** 2) / 5
    torch.testing.assert_close(bpr_l2_penalty(eu, ei, ej), expected)


# ----------------------------------------------------------------------------- LightGCN
def _dense_lightgcn(pairs: Tensor, users: Tensor, items: Tensor, layers: int
                    ) -> tuple[Tensor, Tensor]:
    """mean_k Ã^k E⁰ with Ã = D^{-1/2} [[0, R], [Rᵀ, 0]] D^{-1/2} built densely (distinct
    pairs, zero rows for isolated nodes)."""
    R = torch.zeros(U, I, dtype=users.dtype)
    R[pairs[0], pairs[1]] = 1.0
    A = torch.zeros(U + I, U + I, dtype=users.dtype)
    A[:U, U:], A[U:, :U] = R, R.t()
    degree = A.sum(1)
    inv = torch.where(degree > 0, degree.pow(-0.5), torch.zeros_like(degree))
    A_hat = inv[:, None] * A * inv[None, :]
    E = torch.cat([users, items])
    total, current = E, E
    for _ in range(layers):
        current = A_hat @ current
        total = total + current
    final = total / (layers + 1)
    return final[:U], final[U:]


@pytest.mark.parametrize("layers", [1, 3])
def test_lightgcn_forward_and_gradients_match_dense_adjacency_powers(layers: int) -> None:
    pairs = _pairs()
    torch.manual_seed(layers)
    model = LightGCN(U, I, 4, layers).double()
    R = interaction_matrix(pairs, U, I)
    users, items = model(R)
    ref_u0 = model.user_embedding.weight.detach().clone().requires_grad_()
    ref_i0 = model.item_embedding.weight.detach().clone().requires_grad_()
    ref_users, ref_items = _dense_lightgcn(pairs, ref_u0, ref_i0, layers)
    torch.testing.assert_close(users, ref_users)
    torch.testing.assert_close(items, ref_items)
    weights = torch.randn(U + I, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    (torch.cat([users, items]) * weights).pow(2).sum().backward()
    (torch.cat([ref_users, ref_items]) * weights).pow(2).sum().backward()
    torch.testing.assert_close(model.user_embedding.weight.grad, ref_u0.grad)
    torch.testing.assert_close(model.item_embedding.weight.grad, ref_i0.grad)
    # never-seen item 9 and item-less user 3 keep E⁰ / (K + 1)
    torch.testing.assert_close(items[9], model.item_embedding.weight[9] / (layers + 1))
    torch.testing.assert_close(users[3], model.user_embedding.weight[3] / (layers + 1))


def test_bpr_objective_is_the_official_loss_on_final_and_layer0_embeddings() -> None:
    pairs = _pairs()
    torch.manual_seed(10)
    model = LightGCN(U, I, 4, 2).double()
    R = interaction_matrix(pairs, U, I)
    users, pos, neg = torch.tensor([0, 2, 5, 0]), torch.tensor([4, 8, 6, 1]), torch.tensor(
        [9, 9, 0, 2])
    bpr, l2 = model.bpr_objective(users, pos, neg, R)
    final_u, final_i = _dense_lightgcn(pairs, model.user_embedding.weight.detach(),
                                       model.item_embedding.weight.detach(), 2)
    pos_scores = (final_u[users] * final_i[pos]).sum(1)
    neg_scores = (final_u[users] * final_i[neg]).sum(1)
    torch.testing.assert_close(bpr, F.softplus(neg_scores - pos_scores).mean())
    e_u = model.user_embedding.weight[users]
    e_p, e_n = model.item_embedding.weight[pos], model.item_embedding.weight[neg]
    torch.testing.assert_close(l2, 0.5 * (e_u.norm() ** 2 + e_p.norm() ** 2
                                          + e_n.norm() ** 2) / 4)
    scores = model.score_users(torch.tensor([0, 5]), R)
    torch.testing.assert_close(scores, final_u[[0, 5]] @ final_i.t())


def test_zero_layers_is_mf_with_the_same_tables() -> None:
    torch.manual_seed(11)
    mf = MFBPR(U, I, 4)
    lightgcn = LightGCN(U, I, 4, 0)
    lightgcn.load_state_dict(mf.state_dict())
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2, 3])
    for a, b in zip(mf.bpr_objective(users, pos, neg), lightgcn.bpr_objective(users, pos, neg),
                    strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(mf.score_users(torch.arange(U)),
                               mf.user_embedding.weight @ mf.item_embedding.weight.t())


def test_initialisation_is_normal_with_the_given_std() -> None:
    torch.manual_seed(12)
    model = LightGCN(2000, 3000, 64)
    for table in (model.user_embedding.weight.detach(), model.item_embedding.weight.detach()):
        assert abs(float(table.mean())) < 2e-3
        assert abs(float(table.std()) - 0.1) < 2e-3
    assert abs(float(MFBPR(2000, 10, 64, init_std=1.0).user_embedding.weight.detach().std())
               - 1) < 0.02


def test_interaction_matrix_merges_duplicates_and_checks_ids() -> None:
    R = interaction_matrix(_pairs(), U, I)
    assert R.shape == (U, I) and R.nnz == 19 and R.values is None
    with pytest.raises(ValueError, match=r"interactions\[1\]"):
        interaction_matrix(torch.tensor([[0], [I]]), U, I)


def test_model_errors_name_the_argument() -> None:
    model = LightGCN(U, I, 4, 2)
    with pytest.raises(ValueError, match="needs the graph"):
        model()
    with pytest.raises(ValueError, match="num_layers"):
        LightGCN(U, I, 4, -1)
    with pytest.raises(ValueError, match="init_std"):
        MFBPR(U, I, 4, init_std=0.0)
    with pytest.raises(ValueError, match="positives holds ids"):
        model.bpr_objective(torch.tensor([0]), torch.tensor([I]), torch.tensor([0]),
                            interaction_matrix(_pairs(), U, I))
    with pytest.raises(ValueError, match="users holds ids"):
        model.score_users(torch.tensor([U]), interaction_matrix(_pairs(), U, I))


def test_lightgcn_matches_pyg_lightgcn_with_the_same_embeddings() -> None:
    pyg_models = pytest.importorskip("torch_geometric.nn.models")
    pairs = _pairs()
    torch.manual_seed(13)
    ours = LightGCN(U, I, 8, 3)
    theirs = pyg_models.LightGCN(U + I, 8, 3)
    with torch.no_grad():
        theirs.embedding.weight.copy_(torch.cat([ours.user_embedding.weight,
                                                 ours.item_embedding.weight]))
    distinct = torch.unique(pairs[0] * I + pairs[1])
    users, items = distinct // I, distinct % I + U
    edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])
    final_users, final_items = ours(interaction_matrix(pairs, U, I))
    torch.testing.assert_close(torch.cat([final_users, final_items]),
                               theirs.get_embedding(edge_index), atol=1e-6, rtol=1e-5)
