"""ExactDropout / dropout: bit-identical to F.dropout (output, gradient, generator state)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from gnnkit.nn.linkpred import dropout as dropout_module
from gnnkit.nn.linkpred.dropout import MIN_ELEMENTS, ExactDropout, dropout, use_fast_masks


def test_fast_path_is_available_on_this_build() -> None:
    """The equivalence check passes here, so the tests below exercise the fast path."""
    assert dropout_module._fast_path_is_exact()


@pytest.mark.parametrize("p", [0.05, 0.5, 0.93])
@pytest.mark.parametrize("shape", [(MIN_ELEMENTS,), (257, 193), (3, 129, 111)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_same_output_gradient_and_generator_state(p: float, shape: tuple[int, ...],
                                                  dtype: torch.dtype) -> None:
    x = torch.randn(shape, dtype=dtype)
    torch.manual_seed(11)
    torch.rand(5)  # start in the middle of a Mersenne Twister block
    a = x.clone().requires_grad_()
    expected = F.dropout(a, p=p, training=True)
    expected_state = torch.get_rng_state()
    torch.manual_seed(11)
    torch.rand(5)
    b = x.clone().requires_grad_()
    got = dropout(b, p, training=True)
    assert torch.equal(torch.get_rng_state(), expected_state)
    assert torch.equal(got, expected)
    weight = torch.randn(shape, dtype=dtype)
    (expected * weight).sum().backward()
    (got * weight).sum().backward()
    assert torch.equal(b.grad, a.grad)
    # the next draw continues the same stream
    torch.set_rng_state(expected_state)
    follow = torch.rand(7)
    torch.set_rng_state(expected_state)
    assert torch.equal(torch.rand(7), follow)


def test_many_consecutive_masks_match_a_pytorch_stream() -> None:
    """Crosses many 624-word regenerations of the twister, with odd sizes in between."""
    sizes = [MIN_ELEMENTS + k * 311 for k in range(6)]
    torch.manual_seed(3)
    reference = [F.dropout(torch.ones(n), 0.3) for n in sizes]
    torch.manual_seed(3)
    ours = [dropout(torch.ones(n), 0.3) for n in sizes]
    for r, o in zip(reference, ours, strict=True):
        assert torch.equal(r, o)


def test_fast_path_is_taken_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = dropout_module._keep_mask
    monkeypatch.setattr(dropout_module, "_keep_mask",
                        lambda *args: calls.append(args) or original(*args))
    x = torch.ones(MIN_ELEMENTS)
    dropout(x, 0.5)
    assert len(calls) == 1
    with use_fast_masks(False):
        dropout(x, 0.5)
    dropout(x[::2].contiguous(), 0.5)  # below MIN_ELEMENTS
    dropout(torch.ones(2 * MIN_ELEMENTS)[::2], 0.5)  # non-contiguous
    assert len(calls) == 1


def test_module_matches_nn_dropout_in_train_and_eval() -> None:
    x = torch.randn(300, 200)
    ours, reference = ExactDropout(0.4), torch.nn.Dropout(0.4)
    torch.manual_seed(5)
    expected = reference(x)
    torch.manual_seed(5)
    assert torch.equal(ours(x), expected)
    ours.eval()
    assert ours(x) is x or torch.equal(ours(x), x)
    assert repr(ours).startswith("ExactDropout(p=0.4")


def test_edge_probabilities_fall_back_to_pytorch() -> None:
    x = torch.randn(MIN_ELEMENTS)
    assert torch.equal(dropout(x, 0.0), x)
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    assert torch.equal(dropout(x, 0.5, training=False), x)
