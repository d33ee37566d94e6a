"""recall/precision/ndcg@K (LightGCN protocol) against a brute-force loop over users."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit.metrics import (
    ndcg_at_k,
    precision_at_k,
    ranking_metrics_at_k,
    recall_at_k,
    top_k_items,
)

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def brute_force(
    scores: np.ndarray, test_sets: list[set[int]], train_sets: list[set[int]], k: int
) -> dict[str, np.ndarray]:
    """Independent reference: per user, sort admissible items by (-score, item) in Python."""
    num_users, num_items = scores.shape
    out = {name: np.full(num_users, np.nan) for name in ("recall", "precision", "ndcg")}
    for user in range(num_users):
        wanted = test_sets[user]
        if not wanted:
            continue
        candidates = [i for i in range(num_items) if i not in train_sets[user]]
        ranked = sorted(candidates, key=lambda item: (-scores[user, item], item))[:k]
        hits = [item in wanted for item in ranked]
        dcg = sum(1.0 / math.log2(position + 2) for position, hit in enumerate(hits) if hit)
        idcg = sum(1.0 / math.log2(position + 2) for position in range(min(k, len(wanted))))
        out["recall"][user] = sum(hits) / len(wanted)
        out["precision"][user] = sum(hits) / k
        out["ndcg"][user] = dcg / idcg
    return out


def random_sets(
    rng: np.random.Generator, num_users: int, num_items: int, rate: float
) -> list[set[int]]:
    return [set(np.flatnonzero(rng.random(num_items) < rate).tolist()) for _ in range(num_users)]


def as_pairs(sets: list[set[int]], user_ids: list[int] | None = None) -> torch.Tensor:
    pairs = [
        (user if user_ids is None else user_ids[user], item)
        for user, items in enumerate(sets)
        for item in sorted(items)
    ]
    return torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2).T.contiguous()


def as_mask(sets: list[set[int]], num_items: int) -> torch.Tensor:
    mask = torch.zeros(len(sets), num_items, dtype=torch.bool)
    for user, items in enumerate(sets):
        mask[user, sorted(items)] = True
    return mask


def assert_matches(got: dict[str, torch.Tensor], expected: dict[str, np.ndarray]) -> None:
    for name, values in expected.items():
        np.testing.assert_allclose(got[name].numpy(), values, rtol=1e-12, atol=0, equal_nan=True)


@pytest.mark.parametrize("tie_levels", [None, 3])
def test_matches_brute_force_with_train_masking(tie_levels: int | None) -> None:
    rng = np.random.default_rng(0 if tie_levels is None else tie_levels)
    num_users, num_items, k = 40, 60, 10
    scores = rng.standard_normal((num_users, num_items))
    if tie_levels is not None:
        scores = np.floor(scores * tie_levels)  # many exact ties, also at the K-th position
    train = random_sets(rng, num_users, num_items, 0.3)
    test = [s - t for s, t in zip(random_sets(rng, num_users, num_items, 0.1), train, strict=True)]
    test[3] = set()  # a user without test items is skipped
    expected = brute_force(scores, test, train, k)
    got = ranking_metrics_at_k(
        torch.from_numpy(scores), as_pairs(test), k, exclude=as_pairs(train), reduction="none"
    )
    assert_matches(got, expected)
    assert np.isnan(got["recall"][3].item())
    # numpy scores, boolean masks, and each single-metric function give the same values
    evaluated = ~np.isnan(expected["recall"])
    mask_args = {"exclude": as_mask(train, num_items).numpy()}
    test_mask = as_mask(test, num_items).numpy()
    assert recall_at_k(scores, test_mask, k, **mask_args) == pytest.approx(
        expected["recall"][evaluated].mean(), rel=1e-12
    )
    assert precision_at_k(scores, test_mask, k, **mask_args) == pytest.approx(
        expected["precision"][evaluated].mean(), rel=1e-12
    )
    assert ndcg_at_k(scores, test_mask, k, **mask_args) == pytest.approx(
        expected["ndcg"][evaluated].mean(), rel=1e-12
    )


def test_batches_with_global_user_ids_equal_one_full_call() -> None:
    rng = np.random.default_rng(7)
    num_users, num_items, k = 30, 25, 5
    scores = torch.from_numpy(rng.standard_normal((num_users, num_items))).float()
    train, test = (
        random_sets(rng, num_users, num_items, 0.2),
        random_sets(rng, num_users, num_items, 0.2),
    )
    test = [t - r for t, r in zip(test, train, strict=True)]
    user_ids = (np.arange(num_users) * 3 + 100).tolist()  # global ids are not row numbers
    test_pairs, train_pairs = as_pairs(test, user_ids), as_pairs(train, user_ids)
    order = torch.from_numpy(rng.permutation(num_users))
    per_batch = [
        ranking_metrics_at_k(
            scores[rows],
            test_pairs,
            k,
            exclude=train_pairs,
            users=torch.tensor(user_ids)[rows],
            reduction="none",
        )["ndcg"]
        for rows in order.split(7)
    ]
    batched = torch.empty(num_users, dtype=torch.float64)
    batched[order] = torch.cat(per_batch)
    expected = brute_force(scores.double().numpy(), test, train, k)["ndcg"]
    np.testing.assert_allclose(batched.numpy(), expected, rtol=1e-12, equal_nan=True)


def test_fewer_admissible_items_than_k() -> None:
    scores = torch.tensor([[0.5, 0.1, 0.9, 0.3], [1.0, 1.0, 1.0, 1.0]])
    exclude = torch.tensor([[True, False, True, True], [False, False, False, False]])
    ranked = top_k_items(scores, 3, exclude=exclude)
    assert ranked.tolist() == [[1, -1, -1], [0, 1, 2]]  # ties: smaller item index first
    test = torch.tensor([[False, True, True, False], [False, False, False, True]])
    got = ranking_metrics_at_k(scores, test, 3, exclude=exclude, reduction="none")
    # user 0: the excluded test item 2 still counts in |T_u| but can never be hit
    assert got["recall"].tolist() == [0.5, 0.0]
    assert got["precision"].tolist() == [1 / 3, 0.0]
    idcg = 1 + 1 / math.log2(3)
    assert got["ndcg"][0].item() == pytest.approx(1 / idcg, rel=1e-12)


def test_excluded_items_never_displace_minus_inf_scores() -> None:
    scores = torch.tensor([[float("-inf"), float("-inf"), 0.0]])
    exclude = torch.tensor([[True, False, False]])
    assert top_k_items(scores, 3, exclude=exclude).tolist() == [[2, 1, -1]]


@settings(max_examples=40, deadline=None)
@given(
    num_users=st.integers(1, 6),
    num_items=st.integers(1, 12),
    k=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_hypothesis_matches_brute_force(num_users: int, num_items: int, k: int, seed: int) -> None:
    k = min(k, num_items)
    rng = np.random.default_rng(seed)
    scores = rng.integers(-2, 3, size=(num_users, num_items)).astype(np.float32)
    train = random_sets(rng, num_users, num_items, 0.3)
    test = random_sets(rng, num_users, num_items, 0.3)  # may overlap train on purpose
    expected = brute_force(scores.astype(np.float64), test, train, k)
    got = ranking_metrics_at_k(scores, as_pairs(test), k, exclude=as_pairs(train), reduction="none")
    assert_matches(got, expected)


def test_real_gowalla_users_match_brute_force() -> None:
    folder = DATASETS / "lightgcn-gowalla"
    if not (folder / "test.txt").exists():
        pytest.skip("lightgcn-gowalla not available")
    num_users, num_items, k = 40, 40981, 20

    def read(name: str) -> list[set[int]]:
        sets: list[set[int]] = []
        with open(folder / name) as handle:
            for line in handle:
                fields = [int(x) for x in line.split()]
                if fields[0] >= num_users:
                    break
                sets.append(set(fields[1:]))
        return sets

    train, test = read("train.txt"), read("test.txt")
    assert len(train) == len(test) == num_users
    generator = torch.Generator().manual_seed(0)
    # Scores favour popular item ids a little, so recall is not ~0.
    scores = torch.rand(num_users, num_items, generator=generator, dtype=torch.float64)
    scores -= torch.arange(num_items, dtype=torch.float64) / num_items
    expected = brute_force(scores.numpy(), test, train, k)
    got = ranking_metrics_at_k(scores, as_pairs(test), k, exclude=as_pairs(train), reduction="none")
    assert_matches(got, expected)
    assert np.nanmean(expected["recall"]) > 0


def test_recsys_errors() -> None:
    scores = torch.zeros(2, 3)
    pairs = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="k=4 exceeds the number of items"):
        recall_at_k(scores, pairs, 4)
    with pytest.raises(ValueError, match="scores contains NaN"):
        recall_at_k(torch.full((2, 3), float("nan")), pairs, 1)
    with pytest.raises(ValueError, match="scores must be 2-D"):
        recall_at_k(torch.zeros(3), pairs, 1)
    with pytest.raises(ValueError, match="test_items has item indices outside"):
        recall_at_k(scores, torch.tensor([[0], [3]]), 1)
    with pytest.raises(ValueError, match="exclude has user rows outside"):
        recall_at_k(scores, pairs, 1, exclude=torch.tensor([[2], [0]]))
    with pytest.raises(ValueError, match="shape \\(2, nnz\\)"):
        recall_at_k(scores, torch.tensor([[0, 1, 2]]), 1)
    with pytest.raises(TypeError, match="test_items must be a boolean"):
        recall_at_k(scores, pairs.float(), 1)
    with pytest.raises(ValueError, match="boolean mask must have the shape"):
        recall_at_k(scores, torch.zeros(2, 2, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match="users contains duplicate"):
        recall_at_k(scores, pairs, 1, users=torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="users must be 1-D"):
        recall_at_k(scores, pairs, 1, users=torch.tensor([5]))
    with pytest.raises(ValueError, match="reduction must be"):
        recall_at_k(scores, pairs, 1, reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no user has a test item"):
        recall_at_k(scores, torch.zeros(2, 0, dtype=torch.int64), 1)


def test_ties_inside_the_cut_rank_by_item_index() -> None:
    # the k-th score occurs only inside the top k: the one-topk path must still order the tied
    # items by index, whatever order topk returned them in
    scores = torch.tensor([[5.0, 1.0, 5.0, 0.0, 5.0, 7.0], [2.0, 2.0, 2.0, 2.0, 3.0, 1.0]])
    expected = [[5, 0, 2, 4], [4, 0, 1, 2]]
    assert top_k_items(scores, 4).tolist() == expected
    # reversed item order: indices must follow, not positions
    flipped = scores.flip(1)
    assert top_k_items(flipped, 4).tolist() == [[0, 1, 3, 5], [1, 2, 3, 4]]


@pytest.mark.parametrize("slack", [0, 3, 1000])
@pytest.mark.parametrize("tie_levels", [None, 2])
def test_candidate_slack_never_changes_the_ranking(monkeypatch: pytest.MonkeyPatch, slack: int,
                                                   tie_levels: int | None) -> None:
    # a small slack sends most users through the exact path (more excluded items than the
    # slack), a large one keeps them on the one-topk path: both must equal the brute force
    from gnnkit.metrics import recsys

    monkeypatch.setattr(recsys, "CANDIDATE_SLACK", slack)
    rng = np.random.default_rng(slack + 7)
    num_users, num_items, k = 30, 50, 8
    scores = rng.standard_normal((num_users, num_items))
    if tie_levels is not None:
        scores = np.floor(scores * tie_levels)
    train = random_sets(rng, num_users, num_items, 0.25)
    train[0] = set(range(num_items - 3))  # fewer admissible items than k
    train[1] = set()
    test = [s - t for s, t in zip(random_sets(rng, num_users, num_items, 0.2), train, strict=True)]
    test[0] = {num_items - 1}
    expected = brute_force(scores, test, train, k)
    got = ranking_metrics_at_k(torch.from_numpy(scores), as_pairs(test), k,
                               exclude=as_pairs(train), reduction="none")
    assert_matches(got, expected)
