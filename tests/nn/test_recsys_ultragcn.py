"""UltraGCN against independent dense oracles written here: the constraint factors, the
item–item top-K graph (every block size, with and without the diagonal, ties, empty rows),
the loss and its gradients (both ways of scoring negatives), and a check that the item–item
builder never materialises an ``I × I`` tensor."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode

import gnnkit.nn.recsys.ultragcn as ultragcn_module
from gnnkit.models import build_model
from gnnkit.nn.recsys import (
    MFBPR,
    BPRSampler,
    UltraGCN,
    constraint_betas,
    interaction_matrix,
    item_neighbours,
    padded_neighbours,
)
from gnnkit.sparse import SparseMatrix

U, I = 7, 9


def _pairs() -> Tensor:
    """User 0: 3 items, user 1: 1, user 2: 6, user 3: none, user 4: 2 (one listed twice),
    user 5: 4, user 6: 2; item 8 is never used (an empty row of G); items 0 and 1 share the
    same users (equal ω, a tie)."""
    rows = {0: [0, 1, 4], 1: [2], 2: [0, 1, 2, 3, 4, 5], 4: [2, 5, 5], 5: [3, 6, 7, 2],
            6: [6, 7]}
    users = [u for u, items in rows.items() for _ in items]
    items = [i for its in rows.values() for i in its]
    return torch.tensor([users, items])


def _dense_R(pairs: Tensor, num_users: int, num_items: int) -> Tensor:
    R = torch.zeros(num_users, num_items, dtype=torch.float64)
    R[pairs[0], pairs[1]] = 1.0  # duplicates count once, as the official dok matrix of ones
    return R


def _oracle_betas(R: Tensor) -> tuple[Tensor, Tensor]:
    d_u, d_i = R.sum(1), R.sum(0)
    b = torch.tensor([math.sqrt(d + 1) / d if d > 0 else 0.0 for d in d_u.tolist()],
                     dtype=torch.float64)
    c = torch.tensor([1 / math.sqrt(d + 1) for d in d_i.tolist()], dtype=torch.float64)
    return b, c


def _oracle_omega(R: Tensor, k: int, zero_diagonal: bool = False) -> Tensor:
    """Dense ``I × I``: row i keeps its k largest positive ω (ties: smaller item id)."""
    G = R.t() @ R
    if zero_diagonal:
        G.fill_diagonal_(0.0)
    g = G.sum(1)
    out = torch.zeros_like(G)
    for i in range(G.shape[0]):
        if g[i] == 0:
            continue
        entries = [(float(G[i, j] * math.sqrt(g[i] + 1) / g[i] / math.sqrt(g[j] + 1)), j)
                   for j in range(G.shape[1]) if G[i, j] > 0]
        entries.sort(key=lambda e: (-e[0], e[1]))
        for value, j in entries[:k]:
            out[i, j] = value
    return out


# ------------------------------------------------------------------ constraint factors
def test_constraint_betas_match_the_formula_with_the_plus_ones() -> None:
    pairs = _pairs()
    b, c = constraint_betas(interaction_matrix(pairs, U, I))
    want_b, want_c = _oracle_betas(_dense_R(pairs, U, I))
    torch.testing.assert_close(b, want_b)
    torch.testing.assert_close(c, want_c)
    assert b[3] == 0 and c[8] == 1.0  # user without items; item without users: 1/sqrt(0+1)
    # the official coefficient of (u, i) = sqrt(d_u + 1)/d_u * 1/sqrt(d_i + 1)
    assert float(b[0] * c[2]) == pytest.approx(math.sqrt(4) / 3 / math.sqrt(5))


def test_constraint_betas_reject_duplicate_entries() -> None:
    R = SparseMatrix.from_coo(torch.tensor([0, 0]), torch.tensor([1, 1]), None, (2, 3))
    with pytest.raises(ValueError, match="duplicate"):
        constraint_betas(R)
    with pytest.raises(TypeError, match="interaction SparseMatrix"):
        constraint_betas(torch.zeros(2, 3))  # type: ignore[arg-type]


# ------------------------------------------------------------------ item-item graph
@pytest.mark.parametrize("k", [1, 2, 3, 10])
@pytest.mark.parametrize("block_size", [1, 2, 4, 100])
@pytest.mark.parametrize("zero_diagonal", [False, True])
def test_item_neighbours_match_the_dense_top_k(k: int, block_size: int,
                                               zero_diagonal: bool) -> None:
    pairs = _pairs()
    omega = item_neighbours(interaction_matrix(pairs, U, I), k, zero_diagonal=zero_diagonal,
                            block_size=block_size)
    assert omega.shape == (I, I) and omega.values is not None
    assert int(omega.degree("row").max()) <= k
    want = _oracle_omega(_dense_R(pairs, U, I), k, zero_diagonal)
    torch.testing.assert_close(omega.to_dense(), want)
    assert omega.degree("row")[8] == 0  # the item without users has no neighbours


def test_item_neighbours_on_random_data_with_ties_and_popular_items() -> None:
    generator = torch.Generator().manual_seed(3)
    num_users, num_items = 30, 25
    users = torch.randint(0, num_users, (160,), generator=generator)
    items = torch.randint(0, num_items, (160,), generator=generator) % 12  # items 12.. empty
    pairs = torch.stack([users, items])
    for k in (1, 4, 25):
        omega = item_neighbours(interaction_matrix(pairs, num_users, num_items), k,
                                block_size=5)
        want = _oracle_omega(_dense_R(pairs, num_users, num_items), k)
        torch.testing.assert_close(omega.to_dense(), want)


def test_item_neighbours_keep_the_official_diagonal_by_default() -> None:
    # one user with items {0, 1}: G = [[1, 1], [1, 1]], g = 2; ω_ii = ω_ij = sqrt(3)/2/sqrt(3)
    pairs = torch.tensor([[0, 0], [0, 1]])
    omega = item_neighbours(interaction_matrix(pairs, 1, 2), 2).to_dense()
    torch.testing.assert_close(omega, torch.full((2, 2), 0.5, dtype=torch.float64))
    # zero_diagonal drops G_ii before g: g = 1, ω_01 = sqrt(2)/1/sqrt(2) = 1
    omega = item_neighbours(interaction_matrix(pairs, 1, 2), 2, zero_diagonal=True).to_dense()
    torch.testing.assert_close(omega, torch.tensor([[0.0, 1.0], [1.0, 0.0]],
                                                   dtype=torch.float64))


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an op returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, Tensor):
                self.largest = max(self.largest, value.numel())
        return out


def test_item_neighbours_never_form_an_items_by_items_tensor(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # 400 items, 60 users with ~5 items each: Σ d_u² ≈ 2 000 products, I² = 160 000
    generator = torch.Generator().manual_seed(0)
    num_users, num_items = 60, 400
    pairs = torch.stack([torch.arange(num_users).repeat_interleave(5),
                         torch.randint(0, num_items, (5 * num_users,), generator=generator)])
    R = interaction_matrix(pairs, num_users, num_items)
    block_rows: list[int] = []
    real_spspmm = ultragcn_module.spspmm

    def spy(A: SparseMatrix, B: SparseMatrix) -> SparseMatrix:
        block_rows.append(A.num_rows)
        return real_spspmm(A, B)

    monkeypatch.setattr(ultragcn_module, "spspmm", spy)
    with _LargestTensor() as mode:
        omega = item_neighbours(R, 10, block_size=32)
    assert block_rows and max(block_rows) <= 32 < num_items
    assert sum(block_rows) == num_items  # every row of G formed exactly once
    assert mode.largest < num_items * num_items // 10, mode.largest
    torch.testing.assert_close(omega.to_dense(),
                               _oracle_omega(_dense_R(pairs, num_users, num_items), 10))


def test_padded_neighbours_layout() -> None:
    pairs = _pairs()
    omega = item_neighbours(interaction_matrix(pairs, U, I), 3)
    index, weight = padded_neighbours(omega, 3)
    dense = _oracle_omega(_dense_R(pairs, U, I), 3)
    assert index.shape == weight.shape == (I, 3)
    for i in range(I):
        expected = sorted(((float(dense[i, j]), j) for j in range(I) if dense[i, j] > 0),
                          key=lambda e: (-e[0], e[1]))
        for slot in range(3):
            if slot < len(expected):
                assert (float(weight[i, slot]), int(index[i, slot])) == pytest.approx(
                    expected[slot])
            else:  # padding: the item itself with weight 0
                assert int(index[i, slot]) == i and float(weight[i, slot]) == 0.0
    with pytest.raises(ValueError, match="num_neighbours=2"):
        padded_neighbours(omega, 2)


# ------------------------------------------------------------------ the loss
def _oracle_loss(model: UltraGCN, pairs: Tensor, users: Tensor, positives: Tensor,
                 negatives: Tensor) -> tuple[Tensor, Tensor]:
    """The official objective, term by term with explicit loops, on the model's tables."""
    R = _dense_R(pairs, model.num_users, model.num_items)
    b, c = _oracle_betas(R)
    omega = _oracle_omega(R, model.num_neighbours, model.zero_item_diagonal)
    E_u, E_i = model.user_embedding.weight, model.item_embedding.weight
    terms = []
    for row, (u, i) in enumerate(zip(users.tolist(), positives.tolist(), strict=True)):
        s = E_u[u] @ E_i[i]
        pos = (model.w1 + model.w2 * b[u] * c[i]) * -torch.log(torch.sigmoid(s))
        negs = [(model.w3 + model.w4 * b[u] * c[j]) * -torch.log(1 - torch.sigmoid(E_u[u] @ E_i[j]))
                for j in negatives[row].tolist()]
        item = sum(-omega[i, j] * torch.log(torch.sigmoid(E_u[u] @ E_i[j]))
                   for j in range(model.num_items) if omega[i, j] > 0)
        terms.append(pos + model.negative_weight * torch.stack(negs).mean()
                     + model.item_weight * item)
    l2 = 0.5 * (E_u.pow(2).sum() + E_i.pow(2).sum())
    return torch.stack(terms).sum(), l2


@pytest.mark.parametrize("score_block", [True, False])
@pytest.mark.parametrize("weights", [
    dict(w1=1e-6, w2=1.0, w3=1e-6, w4=1.0, negative_weight=300.0, item_weight=5e-4),
    dict(w1=1e-8, w2=1.0, w3=1.0, w4=1e-8, negative_weight=500.0, item_weight=2.75),
    dict(w1=0.3, w2=0.0, w3=0.2, w4=0.0, negative_weight=1.0, item_weight=0.0),
])
def test_objective_matches_the_dense_reimplementation(score_block: bool, weights: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ultragcn_module, "SCORE_BLOCK_RATIO", 10**9 if score_block else 0)
    pairs = _pairs()
    torch.manual_seed(0)
    model = UltraGCN(U, I, 4, init_std=0.5, num_neighbours=3, **weights).double()
    R = interaction_matrix(pairs, U, I)
    users = torch.tensor([0, 2, 2, 5, 4, 0])
    positives = torch.tensor([4, 0, 5, 3, 5, 1])
    negatives = torch.randint(0, I, (6, 5), generator=torch.Generator().manual_seed(1))
    loss, l2 = model.objective(users, positives, negatives, R)
    (loss + 1e-2 * l2).backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    want_loss, want_l2 = _oracle_loss(model, pairs, users, positives, negatives)
    (want_loss + 1e-2 * want_l2).backward()
    torch.testing.assert_close(loss, want_loss)
    torch.testing.assert_close(l2, want_l2)
    for g, p in zip(got, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


class _Objective(torch.nn.Module):
    """``model.objective`` as a module's forward, for :func:`torch.func.functional_call`."""

    def __init__(self, inner: UltraGCN) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: object) -> tuple[Tensor, Tensor]:
        return self.inner.objective(*args)  # type: ignore[arg-type]


def test_objective_gradcheck_float64() -> None:
    pairs = _pairs()
    torch.manual_seed(1)
    model = UltraGCN(U, I, 3, init_std=0.3, num_neighbours=2).double()
    R = interaction_matrix(pairs, U, I)
    users, positives = torch.tensor([0, 2, 5]), torch.tensor([1, 3, 7])
    negatives = torch.tensor([[5, 8], [8, 6], [0, 0]])
    wrapper = _Objective(model)

    def total(user_table: Tensor, item_table: Tensor) -> Tensor:
        params = {"inner.user_embedding.weight": user_table,
                  "inner.item_embedding.weight": item_table}
        loss, l2 = functional_call(wrapper, params, (users, positives, negatives, R))
        return loss + 0.1 * l2

    tables = (model.user_embedding.weight.detach().clone().requires_grad_(),
              model.item_embedding.weight.detach().clone().requires_grad_())
    assert torch.autograd.gradcheck(total, tables)


def test_objective_checks_its_inputs() -> None:
    model = UltraGCN(U, I, 4)
    R = interaction_matrix(_pairs(), U, I)
    with pytest.raises(ValueError, match=r"negatives \(B, N\)"):
        model.objective(torch.tensor([0, 1]), torch.tensor([0, 1]),
                        torch.zeros(3, 2, dtype=torch.long), R)
    with pytest.raises(ValueError, match="outside"):
        model.objective(torch.tensor([U]), torch.tensor([0]), torch.tensor([[0]]), R)
    with pytest.raises(TypeError, match="training SparseMatrix"):
        model.objective(torch.tensor([0]), torch.tensor([0]), torch.tensor([[1]]), None)
    with pytest.raises(ValueError, match="expected"):
        model.prepare(interaction_matrix(_pairs(), U + 1, I))
    with pytest.raises(ValueError, match="w3 must be a non-negative"):
        UltraGCN(U, I, w3=-1.0)


def test_constraint_data_are_cached_per_graph_and_follow_dtype() -> None:
    R = interaction_matrix(_pairs(), U, I)
    model = UltraGCN(U, I, 4, num_neighbours=3)
    first = model.prepare(R)
    assert model.prepare(R) is first  # same structure: no rebuild
    assert first[0].dtype == torch.float32 and first[2].shape == (I, 3)
    model.double()
    assert model.prepare(R)[0].dtype == torch.float64
    users, positives, negatives = torch.tensor([0]), torch.tensor([1]), torch.tensor([[3, 8]])
    loss, _ = model.objective(users, positives, negatives, R)
    assert loss.dtype == torch.float64


def test_registry_builds_the_official_defaults() -> None:
    model = build_model({"name": "ultragcn"}, task="recommendation", num_users=U, num_items=I)
    assert isinstance(model, UltraGCN)
    assert (model.w1, model.w2, model.w3, model.w4) == (1e-6, 1.0, 1e-6, 1.0)
    assert (model.negative_weight, model.item_weight, model.num_neighbours) == (300.0, 5e-4, 10)
    assert model.init_std == 1e-4 and model.embedding_dim == 64
    assert float(model.item_embedding.weight.detach().std()) == pytest.approx(1e-4, rel=0.2)


# ------------------------------------------------------------------ sampler pieces
def test_negative_block_uniform_and_excluding_positives() -> None:
    pairs = _pairs()
    sampler = BPRSampler(pairs, U, I, scheme="interaction")
    generator = torch.Generator().manual_seed(0)
    users = torch.tensor([2, 0, 5])
    block = sampler.negative_block(users, 2000, generator, exclude_positives=True)
    assert block.shape == (3, 2000)
    for row, u in enumerate(users.tolist()):
        own = set(pairs[1][pairs[0] == u].tolist())
        assert not own & set(block[row].tolist())
        assert set(block[row].tolist()) == set(range(I)) - own  # every admissible item drawn
    uniform = sampler.negative_block(users, 2000, generator, exclude_positives=False)
    assert set(uniform.flatten().tolist()) == set(range(I))  # positives too, as the official
    counts = torch.bincount(uniform.flatten(), minlength=I).double()
    assert float((counts / counts.sum() - 1 / I).abs().max()) < 0.02


def test_sample_positives_is_a_permutation_of_the_interactions() -> None:
    pairs = _pairs()
    sampler = BPRSampler(pairs, U, I, scheme="interaction")
    users, positives = sampler.sample_positives(torch.Generator().manual_seed(0))
    got = sorted(zip(users.tolist(), positives.tolist(), strict=True))
    assert got == sorted({(u, i) for u, i in pairs.t().tolist()})


def test_bpr_models_refuse_many_negatives() -> None:
    model = MFBPR(U, I, 4)
    users, positives = torch.tensor([0, 2]), torch.tensor([1, 3])
    bpr, _ = model.objective(users, positives, torch.tensor([[5], [8]]))
    want, _ = model.bpr_objective(users, positives, torch.tensor([5, 8]))
    torch.testing.assert_close(bpr, want)
    with pytest.raises(ValueError, match="one negative per positive"):
        model.objective(users, positives, torch.tensor([[5, 6], [8, 7]]))


def test_softplus_forms_are_the_official_binary_cross_entropy() -> None:
    # the model writes BCE(x, 1) = softplus(-x) and BCE(x, 0) = softplus(x), with weights
    x = torch.linspace(-30, 30, 61, dtype=torch.float64)
    w = torch.rand(61, dtype=torch.float64)
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(x, torch.ones_like(x), w,
                                                                  reduction="none"),
                               w * F.softplus(-x))
    torch.testing.assert_close(F.binary_cross_entropy_with_logits(x, torch.zeros_like(x), w,
                                                                  reduction="none"),
                               w * F.softplus(x))
