"""The recommendation loop: full-ranking evaluation against a per-user Python oracle, the two
protocols, the held-out split, budgets and patience, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from gnnkit.nn.recsys import MFBPR, LightGCN, interaction_matrix
from gnnkit.train.recommendation import evaluate, fit, holdout_split

U, I = 12, 15


def _oracle(scores: Tensor, targets: Tensor, exclude: list[Tensor], ks: tuple[int, ...]
            ) -> dict[str, float]:
    """Per-user Python loop: rank every non-excluded item by (score desc, item asc)."""
    test_sets: dict[int, set[int]] = {}
    for u, i in targets.t().tolist():
        test_sets.setdefault(u, set()).add(i)
    excluded: dict[int, set[int]] = {}
    for pairs in exclude:
        for u, i in pairs.t().tolist():
            excluded.setdefault(u, set()).add(i)
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "precision", "ndcg")}
    for u, relevant in test_sets.items():
        admissible = [i for i in range(scores.shape[1]) if i not in excluded.get(u, set())]
        ranking = sorted(admissible, key=lambda i: (-float(scores[u, i]), i))
        for k in ks:
            hits = [item in relevant for item in ranking[:k]]
            dcg = sum(1 / math.log2(j + 2) for j, hit in enumerate(hits) if hit)
            idcg = sum(1 / math.log2(j + 2) for j in range(min(k, len(relevant))))
            sums[f"recall@{k}"] += sum(hits) / len(relevant)
            sums[f"precision@{k}"] += sum(hits) / k
            sums[f"ndcg@{k}"] += dcg / idcg
    return {key: value / len(test_sets) for key, value in sums.items()}


def _data(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Planted preferences: user u likes items of group u % 3 (items i % 3); about a fifth of
    them are held out as test pairs. User 11 has test items but no training item, item 14
    never appears in training."""
    g = torch.Generator().manual_seed(seed)
    pairs = [(u, i) for u in range(U - 1) for i in range(I - 1)
             if i % 3 == u % 3 and torch.rand(1, generator=g) < 0.9]
    data = torch.tensor(pairs).t()
    is_test = torch.rand(data.shape[1], generator=g) < 0.25
    test = torch.cat([data[:, is_test], torch.tensor([[11, 11], [2, 14]])], dim=1)
    return data[:, ~is_test], test


def _tied_model() -> MFBPR:
    """Small-integer embeddings: many tied scores, so the tie rule matters."""
    model = MFBPR(U, I, 2)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.user_embedding.weight.copy_(torch.randint(-2, 3, (U, 2), generator=g).float())
        model.item_embedding.weight.copy_(torch.randint(-2, 3, (I, 2), generator=g).float())
    return model


@pytest.mark.parametrize("batch_size", [1, 5, 1024])
def test_evaluate_matches_the_per_user_oracle(batch_size: int) -> None:
    train, test = _data()
    model = _tied_model()
    scores = model.user_embedding.weight @ model.item_embedding.weight.t()
    ours = evaluate(model, None, test, num_users=U, num_items=I, exclude=train, ks=(3, 5),
                    batch_size=batch_size)
    expected = _oracle(scores.detach(), test, [train], (3, 5))
    assert ours.keys() == expected.keys()
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=1e-12), key


def test_evaluate_propagates_on_the_graph_and_excludes_every_given_set() -> None:
    train, test = _data(1)
    torch.manual_seed(0)
    model = LightGCN(U, I, 4, 2)
    graph = interaction_matrix(train, U, I)
    rest, val = holdout_split(train, U, I, 0.3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        users, items = model(graph)
    ours = evaluate(model, graph, test, num_users=U, num_items=I, exclude=[rest, val], ks=4)
    assert ours == pytest.approx(_oracle(users @ items.t(), test, [rest, val], (4,)))


def test_evaluate_without_exclusion_and_errors() -> None:
    _, test = _data(2)
    model = _tied_model()
    scores = (model.user_embedding.weight @ model.item_embedding.weight.t()).detach()
    assert evaluate(model, None, test, num_users=U, num_items=I, ks=(4, 15)) == pytest.approx(
        _oracle(scores, test, [], (4, 15)))
    with pytest.raises(ValueError, match=r"targets\[1\] holds item ids"):
        evaluate(model, None, torch.tensor([[0], [I]]), num_users=U, num_items=I, ks=3)
    with pytest.raises(ValueError, match=r"exclude\[0\] holds user ids"):
        evaluate(model, None, test, num_users=U, num_items=I, exclude=torch.tensor([[U], [0]]),
                 ks=3)
    with pytest.raises(ValueError, match="ks"):
        evaluate(model, None, test, num_users=U, num_items=I, ks=(I + 1,))
    with pytest.raises(ValueError, match="no user"):
        evaluate(model, None, torch.zeros(2, 0, dtype=torch.long), num_users=U, num_items=I,
                 ks=3)


def test_holdout_split_is_seeded_disjoint_and_keeps_an_item_per_user() -> None:
    train, _ = _data(3)
    duplicated = torch.cat([train, train[:, :4]], dim=1)
    rest, val = holdout_split(duplicated, U, I, 0.25, generator=torch.Generator().manual_seed(4))
    again = holdout_split(duplicated, U, I, 0.25, generator=torch.Generator().manual_seed(4))
    assert torch.equal(rest, again[0]) and torch.equal(val, again[1])
    distinct = {tuple(p) for p in train.t().tolist()}
    rest_set, val_set = {tuple(p) for p in rest.t().tolist()}, {tuple(p) for p in val.t().tolist()}
    assert rest_set | val_set == distinct and not rest_set & val_set
    for user in range(U):
        n = sum(1 for u, _ in distinct if u == user)
        held = sum(1 for u, _ in val_set if u == user)
        assert held == (min(math.floor(0.25 * n), n - 1) if n else 0)
    other = holdout_split(duplicated, U, I, 0.25, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(val, other[1])
    with pytest.raises(ValueError, match="fraction"):
        holdout_split(train, U, I, 1.0)


def test_training_learns_the_planted_preferences() -> None:
    train, test = _data(4)
    torch.manual_seed(0)
    model = LightGCN(U, I, 8, 2)
    graph = interaction_matrix(train, U, I)
    before = evaluate(model, graph, test, num_users=U, num_items=I, exclude=train, ks=3)
    result = fit(model, train, test, num_users=U, num_items=I, epochs=40, batch_size=16,
                 lr=0.05, weight_decay=1e-4, eval_every=10, ks=(3,), sampler="interaction",
                 generator=torch.Generator().manual_seed(0))
    assert result.metrics["test_recall@3"] > before["recall@3"] + 0.2
    assert result.history[0]["loss"] > result.history[-1]["loss"]


def test_official_protocol_selects_the_best_test_epoch_and_says_so() -> None:
    train, test = _data(5)
    torch.manual_seed(1)
    model = MFBPR(U, I, 8)
    logged: list[dict[str, float]] = []
    result = fit(model, train, test, num_users=U, num_items=I, epochs=12, batch_size=8, lr=0.05,
                 eval_every=3, ks=(3, 5), generator=torch.Generator().manual_seed(1),
                 log=logged.append, keep_best_state=True)
    assert len(logged) == 12 and [e["epoch"] for e in result.evaluations] == [3, 6, 9, 12]
    best = max(result.evaluations, key=lambda e: (e["test_recall@3"], -e["epoch"]))
    assert result.selected_epoch == best["epoch"]
    assert result.selection == "test_recall@3" and "TEST set" in result.label
    assert result.metrics["test_ndcg@5"] == best["test_ndcg@5"]
    assert result.best_state is not None and result.stopped is None


def test_held_out_protocol_selects_on_validation_and_excludes_it_at_test_time() -> None:
    train, test = _data(6)
    rest, val = holdout_split(train, U, I, 0.3, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(2)
    model = MFBPR(U, I, 8)
    result = fit(model, rest, test, val=val, protocol="held-out", num_users=U, num_items=I,
                 epochs=6, batch_size=8, lr=0.05, eval_every=2, ks=3,
                 generator=torch.Generator().manual_seed(2), keep_best_state=True)
    best = max(result.evaluations, key=lambda e: (e["val_recall@3"], -e["epoch"]))
    assert result.selected_epoch == best["epoch"] and result.selection == "val_recall@3"
    assert "validation" in result.label
    # the reported test numbers are those of the selected model, validation items excluded
    assert result.best_state is not None
    model.load_state_dict(result.best_state)
    scores = (model.user_embedding.weight @ model.item_embedding.weight.t()).detach()
    assert result.metrics["test_recall@3"] == pytest.approx(
        _oracle(scores, test, [rest, val], (3,))["recall@3"])
    assert result.metrics["val_recall@3"] == pytest.approx(
        _oracle(scores, val, [rest], (3,))["recall@3"])


def test_time_budget_and_patience_stop_after_an_evaluated_epoch() -> None:
    train, test = _data(7)
    model = MFBPR(U, I, 4)
    result = fit(model, train, test, num_users=U, num_items=I, epochs=50, batch_size=8,
                 eval_every=10, ks=3, time_budget=0.0,
                 generator=torch.Generator().manual_seed(0))
    assert result.epochs == 1 and result.selected_epoch == 1
    assert result.stopped is not None and "time budget" in result.stopped
    model = MFBPR(U, I, 4)
    result = fit(model, train, test, num_users=U, num_items=I, epochs=200, batch_size=8,
                 lr=1e-6, eval_every=1, ks=3, patience=2,
                 generator=torch.Generator().manual_seed(0))
    assert result.stopped is not None and "2 evaluations" in result.stopped
    assert result.epochs < 200


def test_fit_input_errors() -> None:
    train, test = _data(8)
    model = MFBPR(U, I, 4)
    with pytest.raises(ValueError, match="ks"):  # the default K = 20 exceeds the 15 items
        fit(model, train, test, num_users=U, num_items=I)
    with pytest.raises(ValueError, match="needs val"):
        fit(model, train, test, num_users=U, num_items=I, protocol="held-out", ks=3)
    with pytest.raises(ValueError, match="protocol"):
        fit(model, train, test, num_users=U, num_items=I, protocol="best-test", ks=3)
    with pytest.raises(ValueError, match=r"test\[0\] holds user ids"):
        fit(model, train, torch.tensor([[U + 3], [0]]), num_users=U, num_items=I, ks=3)
    with pytest.raises(ValueError, match=r"train\[1\] holds item ids"):
        fit(model, torch.tensor([[0], [I]]), test, num_users=U, num_items=I, ks=3)
    with pytest.raises(ValueError, match="sampler"):
        fit(model, train, test, num_users=U, num_items=I, sampler="hard", ks=3)
    with pytest.raises(ValueError, match="eval_every"):
        fit(model, train, test, num_users=U, num_items=I, eval_every=0, ks=3)
