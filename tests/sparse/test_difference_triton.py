"""The Triton ``difference_aggregate`` kernels against the reference backend, bit for bit.

``out[k] = Σ_{c ∈ cols(left[k]) \\ cols(right[k])} w_k(c) · x[c]`` with
``w_k(c) = weight[right[k], c]`` (or 1 without a table), and its gradient with respect to ``x``.
Without a GPU the kernels run on CPU tensors through Triton's interpreter (the launchers pick it
for CPU tensors, whatever ``TRITON_INTERPRET`` says; the registry test sets it as a user would).
The kernels reproduce the reference's summation order (increasing column per pair, increasing
pair per gradient row, rounded product then rounded sum), so every comparison is
``torch.equal`` on Gaussian data.

The interpreter runs ``BLOCK_E=4``, ``BLOCK_F=16`` and 5 ``grad_x`` rows per backward program:
the small graphs below still have rows spanning several blocks, feature widths with a partial
tile and several backward row ranges. Inputs cover empty rows, isolated nodes, duplicated
columns on both sides, ``left == right`` (empty difference), an empty right row (the whole left
row), no pairs, no edges, no columns, weight ``None`` and a (strided) table, the four float
dtypes, int32/int64 structures, strided features and indices, and ``x`` of shape ``(N, 2, 3)``.
"""

from __future__ import annotations

import inspect
import os

import pytest
import torch
from torch import Tensor

from gnnkit.sparse import use_backend
from gnnkit.sparse._backends import get_kernel, reference

pytest.importorskip("triton", reason="the triton backend needs the optional 'triton' package")

from gnnkit.sparse._backends import triton as triton_backend
from gnnkit.sparse._backends.triton import _runtime, difference_kernel

OPS = ("difference_aggregate", "difference_aggregate_backward")


# ----------------------------------------------------------------------------- inputs
def csr(rows: list[list[int]], index_dtype: torch.dtype = torch.long) -> tuple[Tensor, Tensor]:
    """``(rowptr, col)`` from per-row column lists, each sorted here (duplicates kept)."""
    lengths = torch.tensor([0] + [len(r) for r in rows])
    col = torch.tensor([c for r in rows for c in sorted(r)], dtype=torch.long)
    return lengths.cumsum(0).to(index_dtype), col.to(index_dtype)


def random_rows(num_rows: int, num_cols: int, seed: int) -> list[list[int]]:
    """Random sorted rows with duplicates: row 1 empty, row 0 a hub (every column but the
    last, a few twice), the last column isolated (in no row)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(num_rows):
        length = int(torch.randint(0, 9, (1,), generator=g))
        cols = torch.randint(0, num_cols - 1, (length,), generator=g).tolist()
        rows.append(cols + cols[:2])  # duplicated columns
    rows[0] = list(range(num_cols - 1)) + list(range(0, num_cols - 1, 4))
    rows[1] = []
    return rows


def random_pairs(num_rows: int, count: int, seed: int) -> tuple[Tensor, Tensor]:
    """Random pairs plus the adversarial ones: ``left == right`` (nothing left), right row
    empty (the whole left row), left row empty, the hub minus short rows and vice versa."""
    g = torch.Generator().manual_seed(seed)
    left = torch.randint(0, num_rows, (count,), generator=g)
    right = torch.randint(0, num_rows, (count,), generator=g)
    left[:2] = right[:2]
    right[2:4] = 1
    left[4] = 1
    left[5], right[6] = 0, 0
    return left, right


def gaussian(*shape: int, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def assert_both_equal(rowptr: Tensor, col: Tensor, left: Tensor, right: Tensor, x: Tensor,
                      grad: Tensor, weight: Tensor | None) -> tuple[Tensor, Tensor]:
    """Forward and backward of the Triton kernels equal the reference's (values, dtype,
    shape); returns them."""
    num_cols = x.shape[0]
    out = difference_kernel.difference_aggregate(rowptr, col, left, right, x, weight)
    expected = reference.difference_aggregate(rowptr, col, left, right, x, weight)
    assert out.dtype == x.dtype and out.shape == expected.shape
    assert torch.equal(out, expected)
    grad_x = difference_kernel.difference_aggregate_backward(rowptr, col, left, right, grad,
                                                             weight, num_cols)
    expected_grad = reference.difference_aggregate_backward(rowptr, col, left, right, grad,
                                                            weight, num_cols)
    assert grad_x.dtype == grad.dtype and grad_x.shape == x.shape
    assert torch.equal(grad_x, expected_grad)
    return out, grad_x


# ----------------------------------------------------------------------------- api
def test_backend_exposes_the_reference_signatures() -> None:
    for name in OPS:
        expected = list(inspect.signature(getattr(reference, name)).parameters)
        for module in (triton_backend, difference_kernel):
            assert list(inspect.signature(getattr(module, name)).parameters) == expected
        assert name in triton_backend.__all__


@pytest.mark.skipif(torch.cuda.is_available(), reason="interpreter run on CPU tensors only")
def test_registry_resolves_to_the_triton_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``TRITON_INTERPRET=1`` and the backend forced, CPU tensors reach these kernels."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)
    if not triton_backend.supports_device(torch.device("cpu")):
        pytest.skip("the Triton interpreter is not usable here")
    rowptr, col = csr([[0, 1, 1, 3], [1, 2], []])
    left, right = torch.tensor([0, 1, 0]), torch.tensor([1, 0, 2])
    x = gaussian(4, 3, dtype=torch.float64, seed=1)
    with use_backend("triton"):
        for name in OPS:
            assert get_kernel(name, torch.device("cpu")) is getattr(triton_backend, name)
        out = get_kernel(OPS[0], torch.device("cpu"))(rowptr, col, left, right, x, None)
    assert torch.equal(out, torch.stack([x[0] + x[3], x[2], x[0] + x[1] + x[3]]))
    assert os.environ["TRITON_INTERPRET"] == "1"


# ----------------------------------------------------------------------------- kernels
CASES = [  # (rows, cols, float dtype, index dtype, width, weighted)
    pytest.param(14, 14, torch.float32, torch.int64, 19, False, id="f32-i64-w19"),
    pytest.param(14, 14, torch.float32, torch.int32, 17, True, id="f32-i32-w17-weight"),
    pytest.param(12, 12, torch.float64, torch.int32, 5, True, id="f64-i32-weight"),
    pytest.param(12, 12, torch.float64, torch.int64, 3, False, id="f64-i64"),
    pytest.param(10, 17, torch.float16, torch.int64, 18, True, id="f16-rect-weight"),
    pytest.param(13, 13, torch.float16, torch.int32, 4, False, id="f16-i32"),
    pytest.param(17, 11, torch.bfloat16, torch.int32, 6, True, id="bf16-rect-weight"),
    pytest.param(11, 11, torch.bfloat16, torch.int64, 1, False, id="bf16-w1"),
]


@pytest.mark.parametrize(("num_rows", "num_cols", "dtype", "index_dtype", "width", "weighted"),
                         CASES)
def test_kernels_equal_reference(num_rows: int, num_cols: int, dtype: torch.dtype,
                                 index_dtype: torch.dtype, width: int, weighted: bool) -> None:
    """Random rows (hub, empty row, isolated column, duplicates) and adversarial pairs; the
    weight table is ``(M, N)``, rectangular in two cases (a transposed lookup would fail)."""
    seed = num_rows * 100 + width
    rowptr, col = csr(random_rows(num_rows, num_cols, seed), index_dtype)
    left, right = random_pairs(num_rows, 12, seed + 1)
    left, right = left.to(index_dtype), right.to(index_dtype)
    x = gaussian(num_cols, width, dtype=dtype, seed=seed + 2)
    grad = gaussian(left.numel(), width, dtype=dtype, seed=seed + 3)
    weight = gaussian(num_rows, num_cols, dtype=dtype, seed=seed + 4) if weighted else None
    out, grad_x = assert_both_equal(rowptr, col, left, right, x, grad, weight)
    assert torch.equal(out[:2], torch.zeros(2, width, dtype=dtype))  # left == right
    assert torch.equal(grad_x[-1], torch.zeros(width, dtype=dtype))  # isolated column


def test_adversarial_rows_pairs_and_layouts() -> None:
    """A hub against short rows (both ways), duplicates on both sides, an empty row; strided
    features, gradient, weight table and pair indices, mixed index dtypes, ``x`` ``(N, 2, 3)``,
    and weights in another dtype than ``x`` (converted to the accumulation dtype)."""
    hub = list(range(40)) + list(range(0, 40, 7))
    rows = [hub, [3, 3, 7, 7, 39], [], [0, 5, 14, 14, 38, 39], [7, 7, 7]]
    rowptr, col = csr(rows)
    spread = torch.tensor([0, 9, 1, 9, 0, 9, 3, 9, 2, 9, 0, 9, 1, 9, 4, 9, 2, 9])
    left = spread[::2]  # [0, 1, 0, 3, 2, 0, 1, 4, 2], strided
    right = torch.tensor([1, 0, 3, 0, 0, 2, 4, 1, 2], dtype=torch.int32)
    x = gaussian(20, 40, dtype=torch.float32, seed=31).t()  # (40, 20), strided
    grad = gaussian(20, 9, dtype=torch.float32, seed=32).t()
    weight = gaussian(40, 5, dtype=torch.float32, seed=33).t()  # (5, 40), strided
    for w in (None, weight):
        out, _ = assert_both_equal(rowptr, col, left, right, x, grad, w)
        # hub \ empty row: every distinct hub column, in order; [3, 7, 39] \ [7]: 3 and 39.
        scale = torch.ones(5, 40) if w is None else w
        whole = torch.zeros(20)
        for c in range(40):
            whole = whole + x[c] * scale[2, c]
        assert torch.equal(out[5], whole)
        assert torch.equal(out[6], (torch.zeros(20) + x[3] * scale[4, 3]) + x[39] * scale[4, 39])
    # Weights of another dtype: float64 rounded to float32, bfloat16 widened exactly.
    # (Narrow features from here on: the interpreter is slow.)
    for w in (weight.double(), weight.bfloat16()):
        assert_both_equal(rowptr, col, left, right, x[:, :3], grad[:, :3], w)
    x_half = gaussian(40, 3, dtype=torch.float16, seed=34)
    assert_both_equal(rowptr, col, left, right, x_half, grad[:, :3].half(), weight.double())
    # x of shape (N, 2, 3), not contiguous (the launcher flattens the trailing dims).
    x3 = gaussian(3, 40, 2, dtype=torch.float64, seed=35).permute(1, 2, 0)
    grad3 = gaussian(9, 2, 3, dtype=torch.float64, seed=36)
    assert not x3.is_contiguous()
    for w in (None, weight.double()):
        assert_both_equal(rowptr, col, left, right, x3, grad3, w)
    # 1-D features.
    assert_both_equal(rowptr, col, left, right, x[:, 0], grad[:, 0], weight)


@pytest.mark.parametrize("weighted", [False, True])
def test_no_pairs_no_edges_no_columns(weighted: bool) -> None:
    x = gaussian(6, 5, dtype=torch.float32, seed=41)
    rowptr, col = csr([[0, 2, 2], [], [1, 4], [5]])
    weight = gaussian(4, 6, dtype=torch.float32, seed=42) if weighted else None
    none = torch.zeros(0, dtype=torch.long)
    # No pairs.
    out, grad_x = assert_both_equal(rowptr, col, none, none, x, x[:0], weight)
    assert out.shape == (0, 5) and torch.equal(grad_x, torch.zeros(6, 5))
    # No edges: every difference is empty.
    empty_ptr, empty_col = torch.zeros(5, dtype=torch.int32), none.int()
    pairs = (torch.tensor([0, 2, 3]), torch.tensor([2, 2, 0]))
    out, grad_x = assert_both_equal(empty_ptr, empty_col, *pairs, x, x[:3], weight)
    assert torch.equal(out, torch.zeros(3, 5)) and torch.equal(grad_x, torch.zeros(6, 5))
    # No columns at all (and no features).
    no_cols = torch.zeros(4, 0) if weighted else None
    out, grad_x = assert_both_equal(empty_ptr, empty_col, *pairs, x[:0], x[:3], no_cols)
    assert out.shape == (3, 5) and grad_x.shape == (0, 5)
    assert_both_equal(rowptr, col, *pairs, x[:, :0], x[:3, :0], weight)


# ----------------------------------------------------------------------------- compilation
def _nvidia_target() -> object | None:
    try:
        from triton.backends import backends
        from triton.backends.compiler import GPUTarget
    except ImportError:
        return None
    return GPUTarget("cuda", 80, 32) if "nvidia" in backends else None


@pytest.mark.parametrize("which", ["forward", "backward"])
@pytest.mark.parametrize(("dtype", "index"), [("fp16", "i32"), ("fp64", "i64")])
def test_kernels_compile_for_a_gpu(which: str, dtype: str, index: str) -> None:
    """The compiled path cannot run here, but it must compile to a cubin for sm_80 with no
    atomics (determinism), a barrier between pairs in the backward, and — with the launch
    option — no fused multiply-add, which the default options would produce."""
    import triton
    import triton.language as tl
    from triton.compiler import ASTSource

    if _nvidia_target() is None:
        pytest.skip("Triton's NVIDIA backend is not installed")
    if not _runtime.compiled_kernels_possible():
        pytest.skip("Triton was imported in interpreter mode (TRITON_INTERPRET=1)")
    acc, acc_name = (tl.float64, "fp64") if dtype == "fp64" else (tl.float32, "fp32")
    if which == "forward":
        kernel = difference_kernel.DIFFERENCE_SUM
        pointers = {"x_ptr": f"*{dtype}", "out_ptr": f"*{acc_name}"}
    else:
        kernel = difference_kernel.DIFFERENCE_SCATTER
        pointers = {"grad_ptr": f"*{dtype}", "grad_x_ptr": f"*{acc_name}"}
    pointers.update({"rowptr_ptr": f"*{index}", "col_ptr": f"*{index}", "left_ptr": "*i64",
                     "right_ptr": "*i32", "weight_ptr": f"*{dtype}"})
    fn = kernel.jit_function
    constexprs = {"HAS_WEIGHT": True, "ACC_DTYPE": acc, "BLOCK_E": 16, "BLOCK_F": 64}
    signature = {name: "i32" for name in fn.arg_names}
    signature.update(pointers)
    signature.update({name: "constexpr" for name in constexprs})
    ptx = {}
    for fusion in (False, True):
        compiled = triton.compile(ASTSource(fn=fn, signature=signature, constexprs=constexprs),
                                  target=_nvidia_target(),
                                  options={"num_warps": 4, "enable_fp_fusion": fusion})
        assert compiled.asm["cubin"]
        ptx[fusion] = compiled.asm["ptx"]
    assert "fma" not in ptx[False]
    assert "fma" in ptx[True]  # what the launch option prevents
    assert "atom" not in ptx[False]
    if which == "backward":
        assert "bar.sync" in ptx[False] or "barrier" in ptx[False]
