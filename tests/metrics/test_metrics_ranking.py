"""hits_at_k / link_ranks / mrr / ranked_hits_at_k against ogb's link evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit.metrics import hits_at_k, link_ranks, mrr, ranked_hits_at_k

ogb_link = pytest.importorskip("ogb.linkproppred.evaluate")


def _ogb_hits(name: str, pos: torch.Tensor, neg: torch.Tensor) -> float:
    evaluator = ogb_link.Evaluator(name)
    return evaluator.eval({"y_pred_pos": pos, "y_pred_neg": neg})[f"hits@{evaluator.K}"]


# --------------------------------------------------------------------------- Hits@K


@pytest.mark.parametrize(("name", "k"), [("ogbl-ddi", 20), ("ogbl-collab", 50), ("ogbl-ppa", 100)])
def test_hits_at_k_matches_ogb_with_ties(name: str, k: int) -> None:
    generator = torch.Generator().manual_seed(k)
    # Integer scores on a small range: positives often tie the K-th negative (not a hit).
    pos = torch.randint(0, 30, (400,), generator=generator).double()
    neg = torch.randint(0, 30, (1000,), generator=generator).double()
    expected = _ogb_hits(name, pos, neg)
    assert hits_at_k(pos, neg, k) == expected
    assert hits_at_k(pos.numpy(), neg.numpy(), k) == expected
    assert hits_at_k(pos.float(), neg.numpy(), k) == expected  # mixed inputs and dtypes


def test_hits_at_k_tie_with_kth_negative_is_not_a_hit() -> None:
    neg = torch.tensor([5.0, 4.0, 3.0, 2.0])
    assert hits_at_k(torch.tensor([4.0, 4.5, 3.0]), neg, 2) == pytest.approx(1 / 3)


def test_hits_at_k_with_fewer_negatives_than_k_is_one_like_ogb() -> None:
    pos, neg = torch.tensor([-10.0, 0.0]), torch.tensor([1.0, 2.0, 3.0])
    assert _ogb_hits("ogbl-ddi", pos, neg) == 1.0
    assert hits_at_k(pos, neg, 20) == 1.0
    assert hits_at_k(pos, neg[:0], 1) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    pos=st.lists(st.integers(-5, 5), min_size=1, max_size=30),
    neg=st.lists(st.integers(-5, 5), min_size=0, max_size=40),
)
def test_hits_at_k_hypothesis_matches_ogb(pos: list[int], neg: list[int]) -> None:
    pos_t, neg_t = torch.tensor(pos, dtype=torch.float32), torch.tensor(neg, dtype=torch.float32)
    assert hits_at_k(pos_t, neg_t, 20) == _ogb_hits("ogbl-ddi", pos_t, neg_t)


# --------------------------------------------------------------------------- MRR


def _ogb_mrr_lists(pos: torch.Tensor, neg: torch.Tensor) -> dict[str, torch.Tensor]:
    # ogb's numpy branch calls ndarray.sum(dim=...) and fails, so the oracle is its torch branch.
    return ogb_link.Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg})


@pytest.mark.parametrize("levels", [4, 10**9])
def test_link_ranks_mrr_and_hits_match_ogb(levels: int) -> None:
    generator = torch.Generator().manual_seed(levels % 97)
    pos = torch.randint(0, levels, (300,), generator=generator).float()
    neg = torch.randint(0, levels, (300, 25), generator=generator).float()
    expected = _ogb_mrr_lists(pos, neg)
    ranks = link_ranks(pos, neg)
    assert torch.equal(ranks.float().reciprocal(), expected["mrr_list"])
    # ogb returns float32 reciprocals; gnnkit averages float64 ones.
    assert mrr(pos, neg) == pytest.approx(expected["mrr_list"].double().mean().item(), rel=1e-6)
    for k in (1, 3, 10):
        assert ranked_hits_at_k(pos.numpy(), neg.numpy(), k) == pytest.approx(
            expected[f"hits@{k}_list"].double().mean().item(), rel=1e-12
        )


def test_link_ranks_average_optimistic_and_pessimistic() -> None:
    pos = torch.tensor([2.0, 2.0, 9.0])
    neg = torch.tensor([[3.0, 2.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [9.0, 9.0, 9.0, 9.0]])
    # row 0: 1 above, 2 tied -> (1 + 3)/2 + 1 = 3; row 1: 1; row 2: (0 + 4)/2 + 1 = 3
    assert link_ranks(pos, neg).tolist() == [3.0, 1.0, 3.0]
    assert link_ranks(pos, neg[:, :0]).tolist() == [1.0, 1.0, 1.0]


@settings(max_examples=50, deadline=None)
@given(
    rows=st.integers(1, 8),
    cols=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_mrr_hypothesis_matches_ogb(rows: int, cols: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 4, (rows,), generator=generator).float()
    neg = torch.randint(0, 4, (rows, cols), generator=generator).double()
    expected = _ogb_mrr_lists(pos, neg)
    assert mrr(pos, neg) == pytest.approx(expected["mrr_list"].double().mean().item(), rel=1e-6)


# --------------------------------------------------------------------------- errors


def test_ranking_errors() -> None:
    with pytest.raises(ValueError, match="y_pred_pos contains NaN"):
        hits_at_k(torch.tensor([float("nan")]), torch.zeros(30), 20)
    with pytest.raises(ValueError, match="y_pred_neg contains NaN"):
        mrr(torch.zeros(2), torch.tensor([[0.0], [float("nan")]]))
    with pytest.raises(ValueError, match="y_pred_pos is empty"):
        hits_at_k(torch.zeros(0), torch.zeros(30), 20)
    with pytest.raises(ValueError, match="ranked_hits_at_k"):
        hits_at_k(torch.zeros(3), torch.zeros(3, 30), 20)
    with pytest.raises(ValueError, match="one row per positive"):
        link_ranks(torch.zeros(3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="must be 2-D"):
        mrr(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="k must be a positive int"):
        hits_at_k(torch.zeros(3), torch.zeros(3), 0)
    with pytest.raises(TypeError, match="k must be a positive int"):
        ranked_hits_at_k(torch.zeros(3), torch.zeros(3, 2), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"y_pred_neg must be a torch\.Tensor"):
        hits_at_k(np.zeros(3), [1.0, 2.0], 1)
