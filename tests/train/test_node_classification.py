"""The node-classification loop (gnnkit.train.node_classification): stopping rules, fit."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gnnkit.bench.data import load_node_data
from gnnkit.bench.schema import DatasetSpec
from gnnkit.models import GCN
from gnnkit.train.node_classification import EarlyStopping, evaluate, fit, make_optimizer


def _select(rule: str, patience: int, history: list[tuple[float, float]]
            ) -> tuple[int, int | None]:
    """(epoch at which the rule stopped, selected epoch) for ``(val_loss, val_acc)`` rows."""
    stopper = EarlyStopping(rule, patience)
    for epoch, (loss, acc) in enumerate(history, start=1):
        if stopper.step(epoch, loss, acc):
            return epoch, stopper.selected_epoch
    return len(history), stopper.selected_epoch


def test_kipf_rule_stops_when_loss_exceeds_the_window_mean_and_tests_the_last_model() -> None:
    # losses 10, 9, 8, 7 then 8.5 > mean(8, 7) = 7.5 with window 2; Kipf's 0-based
    # "epoch > window" means the check starts at the 4th epoch.
    history = [(10, 1), (9, 2), (8, 3), (7, 4), (8.5, 5), (1, 6)]
    assert _select("kipf", 2, history) == (5, 5)
    assert _select("none", 2, history) == (6, 6)


def test_gat_rule_tests_the_model_that_improved_both_and_waits_patience() -> None:
    history = [(5, 50), (4, 60), (4.5, 70), (4.6, 65), (4.7, 64)]
    # epoch 2 improves both (selected); epoch 3 improves accuracy only (resets patience,
    # not selected); epochs 4, 5 improve nothing -> stop after 2 bad epochs.
    assert _select("gat", 2, history) == (5, 2)


def test_best_validation_accuracy_rule() -> None:
    history = [(1, 50), (1, 70), (1, 70), (1, 60), (1, 80)]
    assert _select("best_val_acc", 2, history) == (4, 2)
    assert _select("best_val_acc", 5, history) == (5, 5)


def test_rules_and_scopes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"one of \['none', 'kipf', 'gat', 'best_val_acc', "
                                         r"'best_val_loss'\]"):
        EarlyStopping("patience")
    with pytest.raises(ValueError, match="needs patience >= 1"):
        EarlyStopping("kipf", 0)
    with pytest.raises(TypeError, match="first_layer_parameters"):
        make_optimizer(torch.nn.Linear(2, 2), lr=0.1, weight_decay_scope="first_layer")
    with pytest.raises(ValueError, match="weight_decay_scope"):
        make_optimizer(torch.nn.Linear(2, 2), lr=0.1, weight_decay_scope="some")


@pytest.fixture(scope="module")
def cora():  # type: ignore[no-untyped-def]
    return load_node_data(DatasetSpec(name="cora"), roots=[])


def test_fit_is_the_plain_full_batch_loop(cora) -> None:  # type: ignore[no-untyped-def]
    """``fit`` with rule ``none`` equals a hand-written Adam loop from the same seed."""
    train, val, test = cora.train[:, 0], cora.val[:, 0], cora.test[:, 0]
    torch.manual_seed(3)
    model = GCN(cora.num_features, 8, cora.num_classes, cached=True)
    result = fit(model, cora.x, cora.adjacency, cora.y, train, val, test, lr=0.01,
                 weight_decay=5e-4, weight_decay_scope="first_layer", epochs=4)
    torch.manual_seed(3)
    reference = GCN(cora.num_features, 8, cora.num_classes, cached=True)
    optimizer = torch.optim.Adam([
        {"params": list(reference.convs[0].parameters()), "weight_decay": 5e-4},
        {"params": list(reference.convs[1].parameters()), "weight_decay": 0.0},
    ], lr=0.01)
    for _ in range(4):
        reference.train()
        optimizer.zero_grad()
        F.cross_entropy(reference(cora.x, cora.adjacency)[train], cora.y[train]).backward()
        optimizer.step()
    expected = evaluate(reference, cora.x, cora.adjacency, cora.y, {"val": val, "test": test})
    assert result.epochs == 4 and result.selected_epoch == 4 and result.stopped is None
    assert result.test_acc == expected["test_acc"] and result.val_acc == expected["val_acc"]
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3, 4]
    assert result.history[-1]["val_loss"] == pytest.approx(expected["val_loss"])
    assert result.train_seconds > 0


def test_fit_selects_keeps_state_and_respects_the_time_budget(cora) -> None:  # type: ignore[no-untyped-def]
    train, val = cora.train[:, 0], cora.val[:, 0]
    torch.manual_seed(0)
    model = GCN(cora.num_features, 8, cora.num_classes, cached=True)
    seen: list[dict[str, float]] = []
    result = fit(model, cora.x, cora.adjacency, cora.y, train, val, lr=0.05, epochs=30,
                 stopping="best_val_acc", patience=3, keep_best_state=True, log=seen.append)
    assert seen == result.history and result.best_state is not None
    best = max(result.history, key=lambda entry: entry["val_acc"])
    assert result.selected_epoch == best["epoch"] and result.val_acc == best["val_acc"]
    assert result.test_acc != result.test_acc  # no test mask: nan
    if result.epochs < 30:
        assert result.stopped is not None and "early stopping" in result.stopped
    model.load_state_dict(result.best_state)
    again = evaluate(model, cora.x, cora.adjacency, cora.y, {"val": val})
    assert again["val_acc"] == result.val_acc  # the kept state is the selected model
    budget = fit(model, cora.x, cora.adjacency, cora.y, train, val, lr=0.05, epochs=30,
                 time_budget=1e-9)
    assert budget.epochs == 1 and "time budget" in (budget.stopped or "")
