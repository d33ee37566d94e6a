"""gnnkit.metrics.Evaluator against ogb's evaluators, for every official dataset name."""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np
import pytest
import torch

from gnnkit.metrics import OGB_DATASETS, Evaluator, EvaluatorInputError

ogb_node = pytest.importorskip("ogb.nodeproppred.evaluate")
ogb_link = pytest.importorskip("ogb.linkproppred.evaluate")
ogb_graph = pytest.importorskip("ogb.graphproppred.evaluate")

OGB_EVALUATOR = {
    "node": ogb_node.Evaluator,
    "link": ogb_link.Evaluator,
    "graph": ogb_graph.Evaluator,
}
TOKENS = ["get", "set", "value", "name", "to", "string", "is", "valid"]


def random_input(name: str, rng: np.random.Generator) -> dict[str, Any]:
    """A valid numpy input_dict for ``name``, with ties in scores and NaNs in labels."""
    info = OGB_DATASETS[name]
    metric = info.eval_metric
    if metric == "F1":

        def sample() -> list[str]:
            return [TOKENS[i] for i in rng.integers(0, len(TOKENS), size=rng.integers(0, 4))]

        return {"seq_ref": [sample() for _ in range(50)], "seq_pred": [sample() for _ in range(50)]}
    if info.level == "link":
        neg_shape = (200, 30) if metric == "mrr" else (1500,)
        return {
            "y_pred_pos": rng.integers(0, 40, size=200).astype(np.float32),
            "y_pred_neg": rng.integers(0, 40, size=neg_shape).astype(np.float32),
        }
    n, tasks = 80, info.num_tasks
    assert tasks is not None
    if metric in ("rocauc", "ap"):
        y_true = rng.integers(0, 2, size=(n, tasks)).astype(np.float64)
        if info.level == "graph":
            y_true[rng.random((n, tasks)) < 0.3] = np.nan
        y_pred = rng.integers(0, 6, size=(n, tasks)).astype(np.float64)
        return {"y_true": y_true, "y_pred": y_pred}
    if metric == "rmse":
        y_true = rng.standard_normal((n, tasks))
        y_true[rng.random((n, tasks)) < 0.2] = np.nan
        return {"y_true": y_true, "y_pred": rng.standard_normal((n, tasks))}
    assert metric == "acc"
    classes = info.num_classes
    y_true = rng.integers(0, classes, size=(n, tasks))
    y_pred = np.where(
        rng.random((n, tasks)) < 0.5, y_true, rng.integers(0, classes, size=(n, tasks))
    )
    return {"y_true": y_true, "y_pred": y_pred}


def to_torch(input_dict: dict[str, Any]) -> dict[str, Any]:
    return {
        key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
        for key, value in input_dict.items()
    }


def assert_same_output(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            assert isinstance(got[key], torch.Tensor)
            assert got[key].dtype == value.dtype
            assert torch.equal(got[key], value), key
        else:
            assert isinstance(got[key], float)
            assert got[key] == pytest.approx(float(value), rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize("name", sorted(OGB_DATASETS))
def test_eval_matches_ogb_for_every_dataset(name: str) -> None:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    numpy_input = random_input(name, rng)
    ours, reference = Evaluator(name), OGB_EVALUATOR[OGB_DATASETS[name].level](name)
    assert ours.eval_metric == reference.eval_metric
    if hasattr(reference, "num_tasks"):
        assert ours.num_tasks == reference.num_tasks
    if hasattr(reference, "K"):
        assert ours.K == reference.K
    torch_input = to_torch(numpy_input)
    expected = reference.eval(torch_input)
    assert_same_output(ours.eval(torch_input), expected)
    got_numpy = ours.eval(numpy_input)
    if ours.eval_metric == "mrr":
        # ogb's numpy MRR branch raises (it calls ndarray.sum(dim=...)); gnnkit returns float32
        # numpy arrays equal to ogb's torch lists.
        for key, value in expected.items():
            assert isinstance(got_numpy[key], np.ndarray) and got_numpy[key].dtype == np.float32
            np.testing.assert_array_equal(got_numpy[key], value.numpy())
    else:
        assert_same_output(got_numpy, expected)


@pytest.mark.parametrize("name", sorted(OGB_DATASETS))
def test_formats_name_the_same_keys_as_ogb(name: str) -> None:
    ours, reference = Evaluator(name), OGB_EVALUATOR[OGB_DATASETS[name].level](name)
    assert (
        ours.expected_input_format.splitlines()[0]
        == reference.expected_input_format.splitlines()[0]
    )
    assert (
        ours.expected_input_format.splitlines()[1]
        == reference.expected_input_format.splitlines()[1]
    )
    output_keys = set(re.findall(r"'([\w@]+)':", ours.expected_output_format))
    produced = ours.eval(random_input(name, np.random.default_rng(0)))
    assert output_keys == set(produced)


def test_mrr_lists_stay_on_torch_for_mixed_input() -> None:
    evaluator = Evaluator("ogbl-wikikg2")
    out = evaluator.eval({"y_pred_pos": np.zeros(3), "y_pred_neg": torch.zeros(3, 4)})
    assert all(isinstance(value, torch.Tensor) for value in out.values())
    # all tied with 4 negatives: rank (0 + 4) / 2 + 1 = 3
    assert torch.equal(out["mrr_list"], torch.full((3,), 1 / 3, dtype=torch.float32))


def test_hits_with_fewer_negatives_than_k() -> None:
    out = Evaluator("ogbl-ppa").eval({"y_pred_pos": torch.zeros(5), "y_pred_neg": torch.ones(99)})
    assert out == {"hits@100": 1.0}


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="Did you mean: ogbg-molhiv"):
        Evaluator("ogbg-molhvi")
    with pytest.raises(ValueError, match="Did you mean: ogbn-papers100M"):
        Evaluator("ogbn-papers100m")
    with pytest.raises(ValueError, match="Known names: ogbn-proteins"):
        Evaluator("cora")
    with pytest.raises(TypeError, match="name must be a str"):
        Evaluator(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "input_dict", "message"),
    [
        ("ogbg-molhiv", {"y_pred": np.zeros((3, 1))}, "missing key 'y_true'"),
        ("ogbl-ddi", {"y_pred_pos": np.zeros(3)}, "missing key 'y_pred_neg'"),
        ("ogbg-code2", {"seq_ref": [["a"]]}, "missing key 'seq_pred'"),
        ("ogbg-molhiv", {"y_true": [[1], [0]], "y_pred": np.zeros((2, 1))}, "'y_true'.*got list"),
        ("ogbg-molhiv", {"y_true": np.zeros((3, 1)), "y_pred": np.zeros((2, 1))}, "same shape"),
        ("ogbg-molhiv", {"y_true": np.zeros(3), "y_pred": np.zeros(3)}, "must be 2-D"),
        ("ogbg-moltox21", {"y_true": np.zeros((3, 2)), "y_pred": np.zeros((3, 2))}, "12 task"),
        (
            "ogbg-molhiv",
            {"y_true": np.ones((3, 1)), "y_pred": np.zeros((3, 1))},
            "no task has both",
        ),
        (
            "ogbl-ddi",
            {"y_pred_pos": np.zeros((3, 1)), "y_pred_neg": np.zeros(3)},
            "'y_pred_pos'.*1-D",
        ),
        (
            "ogbl-collab",
            {"y_pred_pos": np.zeros(3), "y_pred_neg": np.zeros((3, 2))},
            "'y_pred_neg'.*1-D",
        ),
        (
            "ogbl-citation2",
            {"y_pred_pos": np.zeros(3), "y_pred_neg": np.zeros(3)},
            "'y_pred_neg'.*2-D",
        ),
        (
            "ogbl-biokg",
            {"y_pred_pos": np.zeros(3), "y_pred_neg": np.zeros((2, 5))},
            "one row per positive",
        ),
        ("ogbl-ppa", {"y_pred_pos": np.array([np.nan]), "y_pred_neg": np.zeros(5)}, "NaN"),
        ("ogbg-code2", {"seq_ref": ("a",), "seq_pred": [["a"]]}, "'seq_ref'.*list"),
        ("ogbg-code2", {"seq_ref": [["a"]], "seq_pred": [["a"], ["b"]]}, "same length"),
    ],
)
def test_bad_input_raises_naming_the_key(
    name: str, input_dict: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvaluatorInputError, match=message) as raised:
        Evaluator(name).eval(input_dict)
    # catchable both the gnnkit way and the way code written for ogb expects
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, RuntimeError)


def test_input_dict_must_be_a_mapping() -> None:
    with pytest.raises(EvaluatorInputError, match="input_dict must be a dict"):
        Evaluator("ogbg-molhiv").eval([np.zeros((2, 1)), np.zeros((2, 1))])  # type: ignore[arg-type]
