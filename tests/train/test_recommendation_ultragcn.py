"""The many-negatives path of :func:`gnnkit.train.recommendation.fit` (UltraGCN): the batches
the objective receives, learning on planted preferences, and a time budget that cuts an epoch
short."""

from __future__ import annotations

import torch
from torch import Tensor

from gnnkit.nn.recsys import MFBPR, UltraGCN, interaction_matrix
from gnnkit.train.recommendation import evaluate, fit

U, I = 12, 15


def _data(seed: int = 0) -> tuple[Tensor, Tensor]:
    """User u likes the items of group u % 3 (items i % 3); a quarter are test pairs."""
    g = torch.Generator().manual_seed(seed)
    pairs = [(u, i) for u in range(U) for i in range(I) if i % 3 == u % 3
             and torch.rand(1, generator=g) < 0.9]
    data = torch.tensor(pairs).t()
    is_test = torch.rand(data.shape[1], generator=g) < 0.25
    return data[:, ~is_test], data[:, is_test]


class _Recording(MFBPR):
    """Records what the loop passes to ``objective`` and returns a trivial loss."""

    def __init__(self) -> None:
        super().__init__(U, I, 4)
        self.calls: list[tuple[Tensor, Tensor, Tensor]] = []

    def objective(self, users: Tensor, positives: Tensor, negatives: Tensor,
                  graph: object = None) -> tuple[Tensor, Tensor]:
        self.calls.append((users.clone(), positives.clone(), negatives.clone()))
        loss = self.user_embedding.weight.sum() * 0.0
        return loss, loss


def test_each_step_gets_its_positives_and_a_block_of_negatives() -> None:
    train, test = _data()
    distinct = {(u, i) for u, i in train.t().tolist()}
    for sampling in ("exclude-positives", "uniform"):
        model = _Recording()
        fit(model, train, test, num_users=U, num_items=I, epochs=2, batch_size=7,
            eval_every=2, ks=5, sampler="interaction", num_negatives=30,
            negative_sampling=sampling, generator=torch.Generator().manual_seed(0))
        per_epoch = -(-len(distinct) // 7)
        assert len(model.calls) == 2 * per_epoch
        for epoch in range(2):
            calls = model.calls[epoch * per_epoch:(epoch + 1) * per_epoch]
            seen = [(u, i) for users, positives, _ in calls
                    for u, i in zip(users.tolist(), positives.tolist(), strict=True)]
            assert sorted(seen) == sorted(distinct)  # every interaction once per epoch
        hits = 0
        for users, _, negatives in model.calls:
            assert negatives.shape == (users.numel(), 30)
            assert int(negatives.min()) >= 0 and int(negatives.max()) < I
            hits += sum((u, j) in distinct for u, row in zip(users.tolist(), negatives.tolist(),
                                                              strict=True) for j in row)
        if sampling == "exclude-positives":
            assert hits == 0
        else:  # the official sampler may draw a positive (about a third of items here)
            assert hits > 0


def test_ultragcn_learns_the_planted_preferences() -> None:
    train, test = _data(1)
    torch.manual_seed(0)
    model = UltraGCN(U, I, 8, init_std=0.1, negative_weight=5.0, num_neighbours=3,
                     item_weight=1e-2)
    graph = interaction_matrix(train, U, I)
    before = evaluate(model, graph, test, num_users=U, num_items=I, exclude=train, ks=3)
    result = fit(model, train, test, num_users=U, num_items=I, epochs=30, batch_size=16,
                 lr=0.05, weight_decay=1e-4, eval_every=10, ks=(3,), sampler="interaction",
                 num_negatives=8, negative_sampling="uniform",
                 generator=torch.Generator().manual_seed(0))
    assert result.metrics["test_recall@3"] > before["recall@3"] + 0.2
    assert result.history[0]["bpr_loss"] > result.history[-1]["bpr_loss"]
    assert result.history[-1]["l2_loss"] > 0


def test_time_budget_cuts_an_epoch_short_only_when_asked() -> None:
    train, test = _data()
    steps = -(-train.shape[1] // 4)
    kwargs = dict(num_users=U, num_items=I, epochs=5, batch_size=4, ks=5, sampler="interaction",
                  num_negatives=3, time_budget=0.0,
                  generator=torch.Generator().manual_seed(0))
    whole = fit(UltraGCN(U, I, 4), train, test, **kwargs)  # type: ignore[arg-type]
    assert whole.epochs == 1 and whole.history[0]["steps"] == steps
    assert "partial" not in whole.history[0]
    cut = fit(UltraGCN(U, I, 4), train, test, stop_within_epoch=True,
              **kwargs)  # type: ignore[arg-type]
    (entry,) = cut.history
    assert entry["steps"] == 1 and entry["partial"] == 1 and entry["epoch_steps"] == steps
    assert entry["triples"] == 4 and "eval_seconds" in entry  # evaluated after the cut
    assert cut.stopped == f"time budget 0 s reached after 1 of {steps} steps of epoch 1"
