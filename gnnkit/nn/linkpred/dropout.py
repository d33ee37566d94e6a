"""Dropout with PyTorch's exact random stream, drawn faster on CPU.

On CPU, ``torch.nn.functional.dropout`` draws its mask with ``bernoulli_(1 - p)``, whose
kernel is serial: element ``e`` keeps its input when ``u_e < 1 - p``, with

.. math::
    u_e = \\big(r_e \\bmod 2^{53}\\big) \\cdot 2^{-53}, \\qquad
    r_e = 2^{32}\\, w_{2e} + w_{2e+1}

where ``w_0, w_1, …`` are the next 32-bit outputs of the generator's Mersenne Twister
(MT19937); the kept entries are multiplied by ``1 / (1 - p)``. That loop costs ~15–25 ns per
element, and on link predictors whose MLPs run on ``(B, H)`` activations with ``B`` in the tens
of thousands it was a sixth of a training step.

:func:`dropout` produces the *same* mask and leaves the generator in the *same* state: it
reads the generator's MT19937 state, draws the ``2n`` words and applies the rule above with
integer comparisons (exact: ``u_e < q`` ⇔ ``r_e mod 2^{53} < ⌈q · 2^{53}⌉``) in one fused C++
pass (the cpu backend's ``bernoulli_keep_mask``: regeneration, tempering and comparison,
without storing the words; ≈ 18× faster than the same with NumPy's MT19937, the reference
backend's version and the fallback), writes the advanced state back, and multiplies the
input by a ``{0, 1/(1-p)}`` noise tensor exactly as ``F.dropout`` does, so outputs and
gradients are bit-identical. The equivalence rests on PyTorch's CPU kernel; it is checked once
per process against ``bernoulli_`` on a scratch generator, and any other case (CUDA tensors,
non-contiguous or small inputs, a failed check) calls ``F.dropout`` itself.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gnnkit.sparse._backends import get_kernel

__all__ = ["ExactDropout", "dropout", "use_fast_masks"]

#: below this many elements the fixed cost (state copies) outweighs the faster draw
MIN_ELEMENTS = 32768

# Byte layout of torch's CPU generator state (CPUGeneratorImplState; legacy THGeneratorState
# first): uint64 initial seed, int32 left, int32 seeded, uint64 next, uint64 state[624], then
# the normal-sampling caches, which are carried over untouched.
_STATE_BYTES = 5056
_LEFT = slice(8, 12)
_NEXT = slice(16, 24)
_WORDS = slice(24, 24 + 624 * 8)

_checked: bool | None = None  # None: not yet checked; then whether the fast path is exact
_enabled = True


def _keep_mask(generator: torch.Generator | None, n: int, q: float,
               scale: Tensor | None = None) -> Tensor:
    """``(n,)`` bool mask ``u_e < q`` drawn as ``bernoulli_(q)`` would, advancing the
    generator (``None``: the default CPU generator) by the same ``2n`` words; with ``scale``
    (one element) the values ``scale`` where kept and 0 elsewhere, in its dtype."""
    state = (torch.get_rng_state() if generator is None else generator.get_state()).numpy()
    raw = state.tobytes()
    left = int(np.frombuffer(raw[_LEFT], np.int32)[0])
    words = np.frombuffer(raw[_WORDS], np.uint64).astype(np.uint32)
    # torch reads state[next] after decrementing left (regenerating at 0): NumPy's position
    # is the index of the next word, 624 meaning "regenerate first".
    threshold = math.ceil(q * 2.0 ** 53)
    # the C++ kernel (one fused pass) where the cpu backend loaded, NumPy's MT19937 otherwise
    draw = get_kernel("bernoulli_keep_mask", torch.device("cpu"))
    keep, key_after, pos_after = draw(torch.from_numpy(words.view(np.int32)), 625 - left, n,
                                      threshold >> 32, threshold & 0xFFFFFFFF, scale)
    new_state = bytearray(raw)
    new_state[_LEFT] = np.int32(625 - pos_after).tobytes()
    new_state[_NEXT] = np.uint64(pos_after).tobytes()
    new_state[_WORDS] = key_after.numpy().view(np.uint32).astype(np.uint64).tobytes()
    tensor = torch.frombuffer(new_state, dtype=torch.uint8).clone()
    if generator is None:
        torch.set_rng_state(tensor)
    else:
        generator.set_state(tensor)
    return keep


def _fast_path_is_exact() -> bool:
    """Whether :func:`_keep_mask` reproduces ``bernoulli_`` on this build (checked once)."""
    global _checked
    if _checked is None:
        try:
            ok = torch.get_rng_state().numel() == _STATE_BYTES
            for seed, n, q in ((0, 1000, 0.4), (7, 4099, 0.95), (123, 1500, 0.05)):
                reference, ours = torch.Generator(), torch.Generator()
                reference.manual_seed(seed)
                ours.manual_seed(seed)
                torch.rand(17, generator=reference)  # start mid-block
                torch.rand(17, generator=ours)
                expected = torch.empty(n).bernoulli_(q, generator=reference).bool()
                ok = ok and torch.equal(_keep_mask(ours, n, q), expected)
                ok = ok and torch.equal(reference.get_state(), ours.get_state())
            _checked = bool(ok)
        except Exception:  # any surprise in the state layout: keep PyTorch's own kernel
            _checked = False
    return _checked


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)``, bit-identical (output, gradient, generator state), with
    the mask drawn faster for large contiguous CPU tensors (see the module docstring)."""
    if (not training or p <= 0.0 or p >= 1.0 or x.device.type != "cpu"
            or not x.is_floating_point() or not x.is_contiguous()
            or x.numel() < MIN_ELEMENTS or not _enabled or not _fast_path_is_exact()):
        return F.dropout(x, p=p, training=training)
    q = 1.0 - p
    # F.dropout's own noise is the 0./1. mask, div_(1 - p): 0 or the one value 1 / (1 - p)
    # rounded as div_ rounds it, written by the draw itself (one pass, no bool mask)
    scale = torch.ones(1, dtype=x.dtype).div_(q)
    noise = _keep_mask(None, x.numel(), q, scale).view(x.shape)
    return x * noise


class ExactDropout(nn.Dropout):
    """:class:`torch.nn.Dropout` (same arguments, state and results) that draws its mask with
    :func:`dropout`."""

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace:
            return F.dropout(input, self.p, self.training, inplace=True)
        return dropout(input, self.p, self.training)


@contextlib.contextmanager
def use_fast_masks(enabled: bool) -> Iterator[None]:
    """Within the block, draw masks with the fast path (``True``, the default outside) or
    always with ``F.dropout`` (``False``: the reference, e.g. for timing comparisons)."""
    global _enabled
    previous, _enabled = _enabled, enabled
    try:
        yield
    finally:
        _enabled = previous
