"""The triton backend as a backend: availability, device support, registry dispatch, the
load-balancing heuristic, the compiled/interpreted split and compilation for a real GPU target.

Kernel results are checked against the reference in ``test_triton_kernels.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")

import triton
import triton.language as tl

import gnnkit.sparse._backends as registry
from gnnkit.sparse import SparseMatrix, edge_softmax, sddmm, spmm, use_backend
from gnnkit.sparse._backends import reference
from gnnkit.sparse._backends import triton as triton_backend
from gnnkit.sparse._backends.triton import (
    _runtime,
    sddmm_kernel,
    softmax_kernel,
    spmm_kernel,
)

REPO = Path(__file__).resolve().parents[2]
CUDA = torch.device("cuda")
CPU = torch.device("cpu")


@pytest.fixture
def no_forced_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)


def pretend_cuda(monkeypatch: pytest.MonkeyPatch, available: bool) -> None:
    """Mock the device check only: kernels are never replaced."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)


# ----------------------------------------------------------------------------- interface
def test_backend_exposes_reference_signatures() -> None:
    import inspect

    assert triton_backend.is_available()
    for name in ("spmm", "sddmm", "edge_softmax", "edge_softmax_backward", "segment"):
        ours, theirs = getattr(triton_backend, name), getattr(reference, name)
        assert callable(ours), name
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        ), name


def test_missing_kernels_fall_back_to_reference(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None
) -> None:
    if not _runtime.compiled_kernels_possible():
        pytest.skip("this process imported Triton in interpreter mode: no compiled CUDA path")
    pretend_cuda(monkeypatch, True)
    assert registry.get_kernel("spmm_arg_backward", CUDA) is reference.spmm_arg_backward
    assert registry.get_kernel("intersect_rows", CUDA) is reference.intersect_rows


# ----------------------------------------------------------------------------- devices
def test_cuda_tensors_dispatch_to_triton(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None
) -> None:
    if not _runtime.compiled_kernels_possible():
        pytest.skip("this process imported Triton in interpreter mode: no compiled CUDA path")
    pretend_cuda(monkeypatch, True)
    assert triton_backend.supports_device(CUDA)
    assert registry.resolve_backend(CUDA) == "triton"
    for name in ("spmm", "sddmm", "edge_softmax", "edge_softmax_backward", "segment"):
        assert registry.get_kernel(name, CUDA) is getattr(triton_backend, name)


def test_cuda_tensors_without_cuda_fall_back(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None
) -> None:
    pretend_cuda(monkeypatch, False)
    assert not triton_backend.supports_device(CUDA)
    assert registry.resolve_backend(CUDA) == "reference"


@pytest.mark.parametrize(
    ("interpret", "cuda", "expected"),
    [("1", False, True), ("0", False, False), (None, False, False), ("1", True, False)],
)
def test_cpu_tensors_only_with_interpreter_and_no_cuda(
    monkeypatch: pytest.MonkeyPatch, interpret: str | None, cuda: bool, expected: bool
) -> None:
    if interpret is None:
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    else:
        monkeypatch.setenv("TRITON_INTERPRET", interpret)
    pretend_cuda(monkeypatch, cuda)
    assert triton_backend.supports_device(CPU) is expected
    assert not triton_backend.supports_device(torch.device("meta"))


def test_forcing_triton_on_cpu_needs_the_interpreter(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None
) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    pretend_cuda(monkeypatch, False)
    with use_backend("triton"), pytest.raises(RuntimeError, match="does not support cpu"):
        registry.resolve_backend(CPU)


def test_launch_path_follows_the_device() -> None:
    assert _runtime.launch_path(CUDA) == "compiled"
    assert _runtime.launch_path(CPU) == "interpreter"
    with pytest.raises(ValueError, match="meta"):
        _runtime.launch_path(torch.device("meta"))


class _Recorder:
    """Stands in for a launcher object (``kernel[grid](*args)``) and records the call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, tuple, dict]] = []

    def __getitem__(self, grid: Any) -> Any:
        return lambda *args, **kwargs: self.calls.append((grid, args, kwargs))


def test_cuda_launch_uses_the_autotuned_compiled_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A launch for a CUDA device goes to the autotuned JIT kernel, never the interpreter."""
    kernel = _runtime.TritonKernel(
        softmax_kernel._edge_softmax_kernel, configs=softmax_kernel._configs(),
        key=["num_heads"], interpreter_meta={"BLOCK_E": 4, "BLOCK_H": 2},
    )
    compiled, interpreted = _Recorder(), _Recorder()
    kernel.__dict__["autotuned"] = compiled
    kernel.__dict__["interpreted"] = interpreted
    monkeypatch.setattr(torch.cuda, "device", lambda device: _NullContext())

    def grid(meta: dict) -> tuple[int, int]:
        return (3, 1)

    kernel.launch(grid, CUDA, "args", ACC_DTYPE=tl.float32)
    assert len(compiled.calls) == 1 and not interpreted.calls
    assert "BLOCK_E" not in compiled.calls[0][2]  # block sizes come from the autotuner
    # no fused multiply-add: weighted sums round x · w, then the sum, as the reference
    assert compiled.calls[0][2]["enable_fp_fusion"] is False
    kernel.launch(grid, CPU, "args", ACC_DTYPE=tl.float32)
    assert len(interpreted.calls) == 1 and interpreted.calls[0][2]["BLOCK_E"] == 4


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_real_autotuner_wraps_a_jit_function() -> None:
    autotuned = spmm_kernel.GATHER_REDUCE.autotuned
    assert isinstance(autotuned, triton.runtime.Autotuner)
    assert isinstance(autotuned.fn, triton.runtime.JITFunction)
    assert len(autotuned.configs) == len(spmm_kernel._configs())


# ----------------------------------------------------------------------------- public ops
def test_public_ops_run_on_triton_when_forced(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None
) -> None:
    """Through gnnkit's custom ops (forward and autograd) with the backend forced to triton."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    pretend_cuda(monkeypatch, False)
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 6, (2, 14), generator=g)
    weights = torch.rand(14, generator=g)
    x = torch.randn(6, 5, generator=g)

    def run() -> list[torch.Tensor]:
        w = weights.clone().requires_grad_()
        features = x.clone().requires_grad_()
        A = SparseMatrix.from_edge_index(edge_index, w, shape=6)
        out = spmm(A, features, "mean") + spmm(A, features, "max")
        scores = edge_softmax(A, sddmm(A, features, features, "dot"))
        loss = (out * out).sum() + (scores * torch.arange(14.0)).sum()
        loss.backward()
        return [out.detach(), scores.detach(), features.grad, w.grad]

    with use_backend("reference"):
        expected = run()
    with use_backend("triton"):
        assert registry.resolve_backend(CPU) == "triton"
        got = run()
    for actual, wanted in zip(got, expected, strict=True):
        torch.testing.assert_close(actual, wanted, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- heuristic
def _rowptr(lengths: list[int]) -> torch.Tensor:
    rowptr = torch.zeros(len(lengths) + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(torch.tensor(lengths, dtype=torch.long), 0)
    return rowptr


def test_schedule_heuristic_branches() -> None:
    policy = spmm_kernel.SchedulePolicy(chunk=4, min_split_degree=8, skew_ratio=4.0,
                                        min_parallel_rows=3)
    select = spmm_kernel.select_schedule
    assert select(_rowptr([2, 3, 2, 1, 2]), policy) == "rows"  # short rows
    assert select(_rowptr([1, 2, 40, 1, 0, 2]), policy) == "split"  # one heavy row
    assert select(_rowptr([10, 11, 9, 10]), policy) == "rows"  # long but uniform, enough rows
    assert select(_rowptr([10, 11]), policy) == "split"  # too few rows to fill the device
    assert select(_rowptr([]), policy) == "rows"
    assert select(_rowptr([0, 0, 0]), policy) == "rows"


def test_default_policy_splits_power_law_but_not_uniform_degrees() -> None:
    g = torch.Generator().manual_seed(0)
    uniform = torch.full((5000,), 12)
    power_law = (torch.rand(5000, generator=g) ** -1.5).long().clamp(max=20000)
    power_law[0] = 20000
    assert spmm_kernel.select_schedule(_rowptr(uniform.tolist())) == "rows"
    assert spmm_kernel.select_schedule(_rowptr(power_law.tolist())) == "split"


def test_spmm_uses_the_heuristic(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a small policy, ``spmm`` on a skewed graph takes the split branch and still matches."""
    policy = spmm_kernel.SchedulePolicy(chunk=4, min_split_degree=8, skew_ratio=2.0)
    monkeypatch.setattr(spmm_kernel, "DEFAULT_POLICY", policy)
    chosen: list[str] = []
    original = spmm_kernel.select_schedule

    def recording_select(rowptr: torch.Tensor, policy: Any = None) -> str:
        chosen.append(original(rowptr, policy))
        return chosen[-1]

    monkeypatch.setattr(spmm_kernel, "select_schedule", recording_select)
    rowptr = _rowptr([1, 0, 13, 2])
    col = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    x = torch.randn(4, 3)
    for reduce in ("sum", "max"):
        got = triton_backend.spmm(rowptr, col, None, x, reduce)
        expected = reference.spmm(rowptr, col, None, x, reduce)
        torch.testing.assert_close(got[0], expected[0])
        assert torch.equal(got[1], expected[1])
    assert chosen == ["split", "split"]


def test_policy_rejects_bad_chunk() -> None:
    with pytest.raises(ValueError, match="chunk"):
        spmm_kernel.SchedulePolicy(chunk=0)
    with pytest.raises(ValueError, match="schedule"):
        spmm_kernel.gather_reduce(_rowptr([1]), torch.zeros(1, dtype=torch.long), None,
                                  torch.ones(1, 1, 1), "sum", schedule="merge-path")
    with pytest.raises(ValueError, match="reduce"):
        triton_backend.spmm(_rowptr([1]), torch.zeros(1, dtype=torch.long), None,
                            torch.ones(1, 1), "prod")


# ----------------------------------------------------------------------------- autotuning
@pytest.mark.parametrize("width", [1, 16, 64, 512])
def test_config_pruning_keeps_sensible_tiles(width: int) -> None:
    spmm_configs = spmm_kernel._prune(spmm_kernel._configs(),
                                      {"num_features": width, "degree_hint": 3})
    assert spmm_configs
    assert all(c.kwargs["BLOCK_F"] <= max(triton.next_power_of_2(width), 16)
               for c in spmm_configs)
    assert all(c.kwargs["BLOCK_E"] <= 32 for c in spmm_configs)
    sddmm_configs = sddmm_kernel._prune(sddmm_kernel._configs(), {"num_features": width})
    assert sddmm_configs
    softmax_configs = softmax_kernel._prune(softmax_kernel._configs(), {"num_heads": 3})
    assert {c.kwargs["BLOCK_H"] for c in softmax_configs} == {4}
    for config in spmm_configs + sddmm_configs + softmax_configs:
        assert all(v & (v - 1) == 0 for v in config.kwargs.values())  # powers of two


# ----------------------------------------------------------------------------- compilation
def _nvidia_target() -> Any:
    try:
        from triton.backends import backends
        from triton.backends.compiler import GPUTarget
    except ImportError:
        return None
    return GPUTarget("cuda", 80, 32) if "nvidia" in backends else None


def _compile(kernel: _runtime.TritonKernel, pointers: dict[str, str], ints: dict[str, str],
             constexprs: dict[str, Any], num_warps: int = 4) -> Any:
    """Compile ``kernel`` for an sm_80 GPU without one (Triton → PTX → cubin via ptxas)."""
    from triton.compiler import ASTSource

    fn = kernel.jit_function
    signature = {name: "i32" for name in fn.arg_names}
    signature.update(pointers)
    signature.update(ints)
    signature.update({name: "constexpr" for name in constexprs})
    source = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    return triton.compile(source, target=_nvidia_target(),
                          options={"num_warps": num_warps, "enable_fp_fusion": True})


COMPILE_CASES = [
    pytest.param("spmm", "fp16", {"REDUCE": 0, "HAS_INDEX": True, "HAS_VALUES": True,
                                  "HAS_ARGMAP": False}, id="spmm-sum-fp16"),
    pytest.param("spmm", "bf16", {"REDUCE": 2, "HAS_INDEX": True, "HAS_VALUES": True,
                                  "HAS_ARGMAP": False}, id="spmm-max-bf16"),
    pytest.param("spmm", "fp32", {"REDUCE": 3, "HAS_INDEX": False, "HAS_VALUES": False,
                                  "HAS_ARGMAP": True}, id="spmm-min-pass2"),
    pytest.param("spmm", "fp32", {"REDUCE": 2, "HAS_INDEX": True, "HAS_VALUES": False,
                                  "HAS_ARGMAP": True, "arg": "*i64"}, id="spmm-max-int64-arg"),
    pytest.param("spmm", "fp64", {"REDUCE": 1, "HAS_INDEX": True, "HAS_VALUES": False,
                                  "HAS_ARGMAP": False}, id="spmm-mean-fp64"),
    pytest.param("sddmm", "fp16", {"OP": 0}, id="sddmm-dot"),
    pytest.param("sddmm", "bf16", {"OP": 2}, id="sddmm-mul"),
    pytest.param("softmax", "fp32", {}, id="softmax"),
    pytest.param("softmax_backward", "fp64", {}, id="softmax-backward"),
]


@pytest.mark.skipif(_nvidia_target() is None, reason="Triton's NVIDIA backend is not installed")
@pytest.mark.skipif(not _runtime.compiled_kernels_possible(),
                    reason="Triton was imported in interpreter mode (TRITON_INTERPRET=1)")
@pytest.mark.parametrize(("name", "dtype", "flags"), COMPILE_CASES)
def test_kernels_compile_for_a_gpu(name: str, dtype: str, flags: dict[str, Any]) -> None:
    """The compiled path cannot run here, but it must compile down to a cubin for sm_80."""
    acc = tl.float64 if dtype == "fp64" else tl.float32
    if name == "spmm":
        kernel = spmm_kernel.GATHER_REDUCE
        flags = dict(flags)
        arg = flags.pop("arg", "*i32")  # winners: int32 unless nnz needs int64
        pointers = {n: "*i64" for n in ("lo_ptr", "hi_ptr", "count_lo_ptr", "count_hi_ptr",
                                        "index_ptr")}
        pointers.update({"arg_ptr": arg, "argmap_ptr": arg})
        pointers.update({n: f"*{dtype}" for n in ("values_ptr", "src_ptr", "out_ptr")})
        ints = {"empty_arg": "i64"}
        constexprs = {**flags, "ACC_DTYPE": acc, "BLOCK_E": 16, "BLOCK_F": 64}
    elif name == "sddmm":
        kernel = sddmm_kernel.SDDMM
        pointers = {"row_ptr": "*i32", "col_ptr": "*i32", "a_ptr": f"*{dtype}",
                    "b_ptr": f"*{dtype}", "out_ptr": f"*{dtype}"}
        ints = {}
        constexprs = {**flags, "ACC_DTYPE": acc, "BLOCK_E": 32, "BLOCK_F": 64}
    else:
        kernel = (softmax_kernel.EDGE_SOFTMAX if name == "softmax"
                  else softmax_kernel.EDGE_SOFTMAX_BACKWARD)
        pointers = {n: f"*{dtype}" for n in kernel.jit_function.arg_names if n.endswith("_ptr")}
        pointers["rowptr_ptr"] = "*i64"
        ints = {}
        constexprs = {"ACC_DTYPE": acc, "BLOCK_E": 64, "BLOCK_H": 4}
    compiled = _compile(kernel, pointers, ints, constexprs)
    assert compiled.asm["cubin"]
    assert "atom" not in compiled.asm["ptx"]  # deterministic: no atomics anywhere


# ----------------------------------------------------------------------------- interpreter mode
@pytest.mark.slow
def test_kernels_work_when_triton_was_imported_in_interpreter_mode() -> None:
    """With ``TRITON_INTERPRET=1`` set before Triton is imported (all of Triton interpreted), the
    kernels still run on CPU tensors and the backend refuses CUDA tensors (it cannot compile)."""
    script = textwrap.dedent(
        """
        import torch
        from gnnkit.sparse._backends import reference
        from gnnkit.sparse._backends import triton as backend
        from gnnkit.sparse._backends.triton import _runtime

        assert not _runtime.compiled_kernels_possible()
        assert not backend.supports_device(torch.device("cuda"))
        assert backend.supports_device(torch.device("cpu")) == (not torch.cuda.is_available())
        rowptr = torch.tensor([0, 2, 2, 5])
        col = torch.tensor([0, 1, 1, 2, 0])
        x = torch.randn(3, 4)
        for reduce in ("sum", "max"):
            out, arg = backend.spmm(rowptr, col, None, x, reduce)
            expected, expected_arg = reference.spmm(rowptr, col, None, x, reduce)
            torch.testing.assert_close(out, expected)
            assert torch.equal(arg, expected_arg)
        scores = torch.randn(5, 2)
        torch.testing.assert_close(backend.edge_softmax(rowptr, scores),
                                   reference.edge_softmax(rowptr, scores))
        print("ok")
        """
    )
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    env.pop("GNNKIT_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


# ----------------------------------------------------------------------------- GPU benchmark
def _load_cuda_benchmark() -> Any:
    import importlib.util

    name = "gnnkit_benchmarks_kernels_cuda"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "kernels_cuda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_cuda_benchmark_exits_with_a_message_without_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load_cuda_benchmark()
    pretend_cuda(monkeypatch, False)
    assert bench.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert bench.main(["--device", "cpu"]) == 2
    assert "must be a CUDA device" in capsys.readouterr().err


def test_cuda_benchmark_cases_run_end_to_end(
    monkeypatch: pytest.MonkeyPatch, no_forced_backend: None, tmp_path: Path
) -> None:
    """Every benchmark case on a tiny graph, on CPU through the interpreter, with the CUDA-event
    timer replaced by a single call: the script must not first break on the day a GPU exists."""
    bench = _load_cuda_benchmark()
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    pretend_cuda(monkeypatch, False)
    calls: list[int] = []

    def one_call_timer(fn: Any, warmup: int, repeats: int) -> float:
        fn()
        calls.append(1)
        return 1.0

    monkeypatch.setattr(bench, "cuda_median_ms", one_call_timer)
    args = bench.parse_args(["--features", "3", "--output", str(tmp_path / "out.md")])
    report = bench.Report({"gpu": "none (test)"})
    graph = bench.power_law_graph(12, 30, seed=0)
    bench.GraphBench(graph, CPU, args, report).run([3])
    ops = {row.op for row in report.rows}
    assert ops == {"spmm-sum", "spmm-mean", "spmm-max", "spmm-sum-fwd+bwd", "sddmm-dot",
                   "edge_softmax"}
    sum_vs_cusparse = next(r for r in report.rows if r.baseline.startswith("torch.sparse.mm ("))
    assert sum_vs_cusparse.deterministic is True and sum_vs_cusparse.speedup == 1.0
    assert "| powerlaw | spmm-sum | 3 |" in bench.markdown(report)
