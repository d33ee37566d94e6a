"""subtoken_f1 against ogb's ogbg-code2 evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from gnnkit.metrics import subtoken_f1

ogb_graph = pytest.importorskip("ogb.graphproppred.evaluate")


def test_subtoken_f1_matches_ogb_code2() -> None:
    rng = np.random.default_rng(0)
    vocabulary = ["get", "set", "value", "name", "to", "string"]

    def sample() -> list[str]:
        return [vocabulary[i] for i in rng.integers(0, len(vocabulary), size=rng.integers(0, 5))]

    seq_ref = [sample() for _ in range(200)]
    seq_pred = [sample() for _ in range(200)]
    expected = ogb_graph.Evaluator("ogbg-code2").eval({"seq_ref": seq_ref, "seq_pred": seq_pred})
    got = subtoken_f1(seq_ref, seq_pred)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12)


def test_subtoken_f1_uses_sets() -> None:
    got = subtoken_f1([["a", "b", "b"], []], [["b", "c"], ["x"]])
    # sample 0: P = 1/2, R = 1/2, F1 = 1/2; sample 1: all 0
    assert got == {"precision": 0.25, "recall": 0.25, "F1": 0.25}


def test_subtoken_f1_errors() -> None:
    with pytest.raises(ValueError, match="same length"):
        subtoken_f1([["a"]], [])
    with pytest.raises(ValueError, match="empty"):
        subtoken_f1([], [])
    with pytest.raises(TypeError, match=r"seq_pred\[0\] must be a list of tokens"):
        subtoken_f1([["a"]], ["a"])
    with pytest.raises(TypeError, match="seq_ref must be a list"):
        subtoken_f1((["a"],), [["a"]])  # type: ignore[arg-type]
