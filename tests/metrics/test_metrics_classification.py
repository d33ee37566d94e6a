"""accuracy / roc_auc / average_precision / link_roc_auc against ogb's evaluators and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gnnkit.metrics import accuracy, average_precision, link_roc_auc, roc_auc

ogb_graph = pytest.importorskip("ogb.graphproppred.evaluate")
ogb_node = pytest.importorskip("ogb.nodeproppred.evaluate")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

EXACT = {"rel": 1e-12, "abs": 1e-15}


def _multitask_labels(rng: np.random.Generator, n: int, tasks: int, nan_rate: float) -> np.ndarray:
    labels = rng.integers(0, 2, size=(n, tasks)).astype(np.float64)
    labels[rng.random((n, tasks)) < nan_rate] = np.nan
    return labels


def _tied_scores(rng: np.random.Generator, shape: tuple[int, ...], levels: int) -> np.ndarray:
    """Scores on a few levels so that many positives tie with negatives."""
    return rng.integers(0, levels, size=shape).astype(np.float64) / levels


# --------------------------------------------------------------------------- ROC-AUC


@pytest.mark.parametrize("levels", [3, 1000000])
def test_roc_auc_matches_ogb_tox21_with_nans_and_ties(levels: int) -> None:
    rng = np.random.default_rng(levels)
    y_true = _multitask_labels(rng, 200, 12, nan_rate=0.3)
    y_true[:, 3] = np.nan  # a task with no label at all: skipped
    y_true[:, 5] = np.where(np.isnan(y_true[:, 5]), np.nan, 1.0)  # one class only: skipped
    y_score = _tied_scores(rng, (200, 12), levels)
    expected = ogb_graph.Evaluator("ogbg-moltox21").eval({"y_true": y_true, "y_pred": y_score})
    assert roc_auc(y_true, y_score) == pytest.approx(expected["rocauc"], **EXACT)
    as_torch = roc_auc(torch.from_numpy(y_true), torch.from_numpy(y_score).float())
    assert as_torch == pytest.approx(expected["rocauc"], **EXACT)


def test_roc_auc_matches_ogb_proteins_integer_labels() -> None:
    rng = np.random.default_rng(0)
    y_true = torch.from_numpy(rng.integers(0, 2, size=(300, 112)))
    y_score = torch.randn(300, 112, generator=torch.Generator().manual_seed(1))
    expected = ogb_node.Evaluator("ogbn-proteins").eval({"y_true": y_true, "y_pred": y_score})
    assert roc_auc(y_true, y_score) == pytest.approx(expected["rocauc"], **EXACT)


def test_roc_auc_ignores_nan_scores_only_where_unlabelled() -> None:
    y_true = np.array([[0.0], [1.0], [np.nan], [1.0]])
    y_score = np.array([[0.2], [0.9], [np.nan], [0.1]])
    assert roc_auc(y_true, y_score) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(np.array([0.0, 1.0]), np.array([np.nan, 1.0]))


def test_roc_auc_counts_ties_one_half() -> None:
    # 2 positives x 2 negatives; pairs: (1 > 0) win, (1 = 1) half, (0.5 > 0) win, (0.5 < 1) loss
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([1.0, 0.5, 0.0, 1.0])) == 2.5 / 4


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 1), min_size=2, max_size=40),
    data=st.data(),
)
def test_roc_auc_and_ap_match_sklearn_single_task(labels: list[int], data: st.DataObject) -> None:
    scores = data.draw(
        st.lists(st.integers(-3, 3), min_size=len(labels), max_size=len(labels)), label="scores"
    )
    y_true, y_score = np.array(labels), np.array(scores, dtype=np.float64)
    if y_true.min() == y_true.max():
        with pytest.raises(ValueError, match="no task has both"):
            roc_auc(y_true, y_score)
        return
    auc = sklearn_metrics.roc_auc_score(y_true, y_score)
    ap = sklearn_metrics.average_precision_score(y_true, y_score)
    assert roc_auc(y_true, y_score) == pytest.approx(auc, **EXACT)
    assert average_precision(torch.from_numpy(y_true), torch.from_numpy(y_score)) == pytest.approx(
        ap, **EXACT
    )


def test_roc_auc_is_exact_for_large_tie_heavy_input() -> None:
    # Every positive ties every negative: AUC is exactly one half, with no accumulated error.
    y_true = torch.cat([torch.ones(50_000), torch.zeros(70_000)])
    assert roc_auc(y_true, torch.zeros(120_000)) == 0.5


def test_link_roc_auc_matches_ogb_vessel() -> None:
    ogb_link = pytest.importorskip("ogb.linkproppred.evaluate")
    rng = np.random.default_rng(3)
    # Multiples of 1/8 are exact in float16, so the half-precision copy keeps every tie.
    pos, neg = _tied_scores(rng, (500,), 8), _tied_scores(rng, (800,), 8)
    expected = ogb_link.Evaluator("ogbl-vessel").eval({"y_pred_pos": pos, "y_pred_neg": neg})
    assert link_roc_auc(pos, neg) == pytest.approx(expected["rocauc"], **EXACT)
    assert link_roc_auc(torch.from_numpy(pos), torch.from_numpy(neg).half()) == pytest.approx(
        expected["rocauc"], **EXACT
    )


# --------------------------------------------------------------------------- AP


@pytest.mark.parametrize(("name", "tasks"), [("ogbg-molpcba", 128), ("ogbg-molmuv", 17)])
def test_average_precision_matches_ogb_with_nans_and_ties(name: str, tasks: int) -> None:
    rng = np.random.default_rng(tasks)
    y_true = _multitask_labels(rng, 150, tasks, nan_rate=0.5)
    y_true[:, 0] = np.nan
    y_true[:, 1] = np.where(np.isnan(y_true[:, 1]), np.nan, 0.0)
    y_score = _tied_scores(rng, (150, tasks), 5)
    expected = ogb_graph.Evaluator(name).eval({"y_true": y_true, "y_pred": y_score})
    got = average_precision(torch.from_numpy(y_true).float(), torch.from_numpy(y_score))
    assert got == pytest.approx(expected["ap"], **EXACT)


# --------------------------------------------------------------------------- accuracy


def test_accuracy_matches_ogb_ppa_and_arxiv() -> None:
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 37, size=(400, 1))
    y_pred = np.where(rng.random((400, 1)) < 0.4, y_true, rng.integers(0, 37, size=(400, 1)))
    for evaluator in (ogb_graph.Evaluator("ogbg-ppa"), ogb_node.Evaluator("ogbn-arxiv")):
        expected = evaluator.eval({"y_true": y_true, "y_pred": y_pred})["acc"]
        assert accuracy(y_true, y_pred) == pytest.approx(expected, **EXACT)
        assert accuracy(torch.from_numpy(y_true), torch.from_numpy(y_pred)) == pytest.approx(
            expected, **EXACT
        )


def test_accuracy_from_logits_and_multitask_nans() -> None:
    logits = torch.tensor([[0.1, 0.9], [2.0, -1.0], [0.0, 3.0]])
    assert accuracy(torch.tensor([1, 1, 1]), logits) == pytest.approx(2 / 3)
    y_true = np.array([[1.0, np.nan], [0.0, 2.0], [np.nan, 2.0]])
    y_pred = np.array([[1, 5], [1, 2], [7, 0]])
    assert accuracy(y_true, y_pred) == pytest.approx((1 / 2 + 1 / 2) / 2)


# --------------------------------------------------------------------------- errors


def test_classification_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="same shape"):
        roc_auc(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="1-D"):
        roc_auc(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="binary labels"):
        roc_auc(np.array([0, 1, 2]), np.zeros(3))
    with pytest.raises(ValueError, match="no task has both"):
        average_precision(np.full((4, 2), np.nan), np.zeros((4, 2)))
    with pytest.raises(TypeError, match=r"y_score must be a torch\.Tensor"):
        roc_auc(np.array([0, 1]), [0.1, 0.2])
    with pytest.raises(TypeError, match="y_true must have a boolean, integer or floating"):
        roc_auc(np.array(["a", "b"]), np.zeros(2))
    with pytest.raises(ValueError, match="task 1 of y_true has no labelled"):
        accuracy(np.array([[1.0, np.nan]]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="y_pred_neg is empty"):
        link_roc_auc(np.ones(3), np.ones(0))
    with pytest.raises(ValueError, match="y_pred_pos must be 1-D"):
        link_roc_auc(np.ones((3, 1)), np.ones(3))
