"""mae / rmse against ogb's rmse evaluator and a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnnkit.metrics import mae, rmse

ogb_graph = pytest.importorskip("ogb.graphproppred.evaluate")


@pytest.mark.parametrize("name", ["ogbg-molesol", "ogbg-molfreesolv", "ogbg-mollipo"])
def test_rmse_matches_ogb_with_nan_labels(name: str) -> None:
    rng = np.random.default_rng(len(name))
    y_true = rng.standard_normal((120, 1))
    y_true[rng.random((120, 1)) < 0.25] = np.nan
    y_pred = rng.standard_normal((120, 1))
    expected = ogb_graph.Evaluator(name).eval({"y_true": y_true, "y_pred": y_pred})["rmse"]
    assert rmse(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    assert rmse(torch.from_numpy(y_true), torch.from_numpy(y_pred)) == pytest.approx(
        expected, rel=1e-12
    )
    # float32 inputs: gnnkit accumulates in float64, ogb in float32
    assert rmse(y_true.astype(np.float32), y_pred.astype(np.float32)) == pytest.approx(
        expected, rel=1e-6
    )


def test_multitask_mae_and_rmse_average_over_tasks() -> None:
    y_true = np.array([[1.0, np.nan], [2.0, 4.0], [np.nan, 0.0]])
    y_pred = np.array([[2.0, 9.0], [0.0, 1.0], [5.0, 4.0]])
    # task 0 residuals (1, -2); task 1 residuals (-3, 4)
    assert mae(y_true, y_pred) == pytest.approx((1.5 + 3.5) / 2)
    assert rmse(y_true, y_pred) == pytest.approx((np.sqrt(2.5) + np.sqrt(12.5)) / 2)
    assert mae(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.0])) == pytest.approx(0.75)


def test_regression_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        mae(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="task 1 of y_true has no labelled"):
        rmse(np.array([[1.0, np.nan]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="1-D"):
        rmse(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)))
