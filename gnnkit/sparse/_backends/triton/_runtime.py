"""How gnnkit's Triton kernels are launched: compiled for CUDA tensors, interpreted for CPU ones.

Triton decides at *decoration* time whether ``@triton.jit`` produces a compiled kernel or an
interpreted one (it reads ``TRITON_INTERPRET`` then), and its own standard library
(``tl.sum``, ``tl.zeros``, ...) is decorated once, when ``triton.language`` is first imported.
A process therefore cannot normally mix the two. gnnkit sidesteps this:

* kernels are plain Python functions wrapped by :class:`TritonKernel`, which builds *both* a
  :class:`~triton.runtime.jit.JITFunction` (autotuned, for CUDA tensors) and a
  :class:`~triton.runtime.interpreter.InterpretedFunction` (for CPU tensors), each on first use;
* kernel bodies use only Triton *builtins* (``tl.load``, ``tl.full``, ``tl.where``, ``tl.reduce``
  with the standard library's combine functions, ...), never the ``@jit`` helpers of the standard
  library, so the interpreted version runs whatever ``TRITON_INTERPRET`` was when Triton was
  imported (``tl.reduce`` with a standard combine function is executed by NumPy in the
  interpreter, so it stays fast).

The path is chosen by the tensors' device, never by the environment: a CUDA tensor always goes
to the compiled kernel, a CPU tensor to the interpreter. Whether the *backend* accepts CPU
tensors at all is decided one level up (:func:`interpreter_enabled`, see ``__init__``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction
from triton.runtime.jit import JITFunction

__all__ = [
    "TritonKernel",
    "accumulation_dtype",
    "compiled_kernels_possible",
    "interpreter_enabled",
    "launch_path",
    "next_power_of_two",
]

_TRUE_STRINGS = frozenset({"1", "true", "on", "yes"})

Grid = Callable[[dict[str, Any]], tuple[int, ...]]


def interpreter_enabled() -> bool:
    """Whether the user switched Triton's interpreter on (``TRITON_INTERPRET=1``), read now."""
    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in _TRUE_STRINGS


def compiled_kernels_possible() -> bool:
    """Whether kernels can be compiled in this process.

    False when Triton itself was imported with ``TRITON_INTERPRET=1``: its standard library
    (including the combine functions our reductions use) then consists of interpreted functions
    that the compiler cannot inline.
    """
    return isinstance(tl.standard._sum_combine, JITFunction)


def launch_path(device: torch.device) -> str:
    """``"compiled"`` for CUDA tensors, ``"interpreter"`` for CPU tensors."""
    if device.type == "cuda":
        return "compiled"
    if device.type == "cpu":
        return "interpreter"
    raise ValueError(f"the triton backend cannot run on {device.type!r} tensors")


def accumulation_dtype(dtype: torch.dtype) -> tl.dtype:
    """Triton dtype in which reductions accumulate: float64 for float64, float32 otherwise."""
    return tl.float64 if dtype == torch.float64 else tl.float32


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


class TritonKernel:
    """One Triton kernel with an autotuned compiled version and an interpreted version.

    ``fn`` is the undecorated kernel function. ``configs`` are the autotuning candidates of the
    compiled version, ``key`` the argument names whose values select a tuned config, and
    ``prune`` an optional ``early_config_prune`` callback. The interpreter ignores autotuning and
    always runs ``interpreter_meta`` (one config, chosen small so that tests hit the masking and
    multi-iteration code paths on tiny inputs).
    """

    def __init__(
        self,
        fn: Callable[..., None],
        *,
        configs: Sequence[triton.Config],
        key: Sequence[str],
        interpreter_meta: dict[str, int],
        prune: Callable[..., list[triton.Config]] | None = None,
    ) -> None:
        self.fn = fn
        self.configs = list(configs)
        self.key = list(key)
        self.interpreter_meta = dict(interpreter_meta)
        self.prune = prune

    @functools.cached_property
    def jit_function(self) -> JITFunction:
        """The un-tuned compiled kernel (also what the compile-only tests build)."""
        return JITFunction(self.fn)

    @functools.cached_property
    def autotuned(self) -> Any:
        prune_by = {"early_config_prune": self.prune} if self.prune is not None else None
        return triton.autotune(configs=self.configs, key=self.key, prune_configs_by=prune_by)(
            self.jit_function
        )

    @functools.cached_property
    def interpreted(self) -> InterpretedFunction:
        return InterpretedFunction(self.fn)

    def launch(self, grid: Grid, device: torch.device, *args: Any, **constexprs: Any) -> None:
        """Run the kernel over ``grid`` (a function of the meta-parameters) on ``device``.

        ``grid`` receives the meta-parameter dict (``meta["BLOCK_F"]`` etc.); it must compute
        the grid from Python values it closes over, not from kernel arguments.
        """
        if launch_path(device) == "compiled":
            with torch.cuda.device(device):
                # No multiply-add contraction: a fused ``acc + x · w`` rounds once where the
                # reference (``x * w``, then the sum) and the interpreter round twice, so the
                # weighted kernels (spmm with values, sddmm dot, the difference sums) would lose
                # bit-exactness on the GPU only. The kernels are memory bound: the separate
                # multiply is free.
                self.autotuned[grid](*args, enable_fp_fusion=False, **constexprs)
        else:
            meta = {**self.interpreter_meta, **constexprs}
            # The interpreter evaluates masked-out lanes with NumPy too (e.g. exp(-inf - -inf));
            # their floating-point warnings mean nothing, as on a GPU.
            with np.errstate(all="ignore"):
                self.interpreted[lambda _args: grid(meta)](*args, **meta)
