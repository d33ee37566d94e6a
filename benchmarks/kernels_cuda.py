"""GPU benchmark of gnnkit's Triton kernels, for the day a CUDA device is available.

Run from the repository root::

    python benchmarks/kernels_cuda.py --device cuda            # all graphs, F in {16, 64, 256}
    python benchmarks/kernels_cuda.py --device cuda:1 --graphs cora ddi --features 64

On each graph (the CPU benchmark's: uniform random and power-law graphs with 100k nodes and 1M
edges, Cora, ogbl-ddi from ``<repo>/../shared/datasets``) and feature width it times, with CUDA
events (median of ``--repeats`` runs after warm-up):

* ``spmm`` sum forward: gnnkit (Triton, deterministic) vs ``torch.sparse.mm`` on a CSR tensor
  (cuSPARSE), gather + ``index_add_`` (an atomic scatter, not deterministic) and, when
  installed, ``torch_scatter.segment_csr`` (deterministic) and ``torch_scatter.scatter`` (atomic);
* ``spmm`` mean and max forward: gnnkit vs ``scatter_reduce`` (atomic) and ``torch_scatter``;
* ``spmm`` sum forward + backward (gradients to features and edge values): gnnkit vs
  ``torch.sparse.mm`` under autograd;
* ``sddmm`` dot and ``edge_softmax`` (F = 64 only) vs their PyTorch compositions;

and checks determinism (two gnnkit runs bit-identical). It prints a Markdown table and writes
``benchmarks/results/kernels-cuda.md`` and ``.json`` with the machine description. The bars of
the GPU issue: ≥ 1.2× ``torch.sparse.mm`` on sum, and deterministic results at ≤ 1.1× the time of
the atomic scatter. Without a CUDA device it exits at once with a message (status 2).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "datasets"
RESULTS = REPO / "benchmarks" / "results"
GRAPHS = ("uniform", "powerlaw", "cora", "ddi")


@dataclass(frozen=True)
class Row:
    """One timed comparison: ``ours`` against ``theirs`` (milliseconds, medians)."""

    graph: str
    op: str
    features: int
    baseline: str
    ours_ms: float
    theirs_ms: float | None
    deterministic: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        """``theirs / ours``: above 1 means gnnkit is faster."""
        if self.theirs_ms is None or self.ours_ms <= 0:
            return None
        return self.theirs_ms / self.ours_ms


@dataclass
class Report:
    machine: dict[str, Any]
    rows: list[Row] = field(default_factory=list)


# ----------------------------------------------------------------------------- graphs
@dataclass(frozen=True)
class Graph:
    """``edge_index`` (PyG convention: row 0 = source, row 1 = target) on ``num_nodes`` nodes."""

    name: str
    edge_index: Tensor
    num_nodes: int


def uniform_graph(num_nodes: int, num_edges: int, seed: int) -> Graph:
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return Graph("uniform", edge_index, num_nodes)


def power_law_graph(num_nodes: int, num_edges: int, seed: int, exponent: float = 0.9) -> Graph:
    """Targets drawn with probability ∝ rank^-exponent (a few hubs own most edges)."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64) ** -exponent
    targets = torch.multinomial(weights, num_edges, replacement=True, generator=g)
    targets = torch.randperm(num_nodes, generator=g)[targets]  # hubs anywhere, not first
    sources = torch.randint(0, num_nodes, (num_edges,), generator=g)
    return Graph("powerlaw", torch.stack([sources, targets]), num_nodes)


def cora_graph() -> Graph:
    from gnnkit.datasets.bundled import load_bundled

    graph = load_bundled("cora")
    return Graph("cora", graph.edge_index, graph.num_nodes)


def ddi_graph(data_root: Path) -> Graph:
    from gnnkit.datasets.ogb_format import read_ogb_raw

    raw = read_ogb_raw(data_root / "ogbl-ddi" / "raw", add_inverse_edge=True)
    edge_index = torch.as_tensor(raw["edge_index"], dtype=torch.long)
    return Graph("ddi", edge_index, int(raw["node_ptr"][-1]))


def load_graph(name: str, data_root: Path, seed: int) -> Graph:
    if name == "uniform":
        return uniform_graph(100_000, 1_000_000, seed)
    if name == "powerlaw":
        return power_law_graph(100_000, 1_000_000, seed)
    if name == "cora":
        return cora_graph()
    if name == "ddi":
        return ddi_graph(data_root)
    raise ValueError(f"unknown graph {name!r}; choose from {', '.join(GRAPHS)}")


# ----------------------------------------------------------------------------- timing
def cuda_median_ms(fn: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median wall time of ``fn`` on the current stream, measured with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def try_time(fn: Callable[[], Any], warmup: int, repeats: int) -> tuple[float | None, str]:
    """Time ``fn``, or ``(None, reason)`` when the baseline does not support the case."""
    try:
        return cuda_median_ms(fn, warmup, repeats), ""
    except (RuntimeError, NotImplementedError) as error:
        return None, f"{type(error).__name__}: {str(error).splitlines()[0][:80]}"


def bit_identical(fn: Callable[[], Tensor]) -> bool:
    first = fn().clone()
    return bool(torch.equal(first, fn()))


# ----------------------------------------------------------------------------- cases
class GraphBench:
    """All timed cases of one graph on one device; results are appended to ``report``."""

    def __init__(self, graph: Graph, device: torch.device, args: argparse.Namespace,
                 report: Report) -> None:
        from gnnkit.sparse import SparseMatrix

        try:
            import torch_scatter  # type: ignore[import-not-found]
        except ImportError:
            torch_scatter = None
        self.scatter_lib = torch_scatter
        self.graph, self.device, self.args, self.report = graph, device, args, report
        self.generator = torch.Generator(device=device).manual_seed(args.seed)
        edge_index = graph.edge_index.to(device)
        weights = torch.rand(edge_index.shape[1], device=device, generator=self.generator)
        self.A = SparseMatrix.from_edge_index(edge_index, weights, shape=graph.num_nodes)
        self.rowptr, self.col, self.row = self.A.rowptr, self.A.col, self.A.row
        self.values: Tensor = self.A.values  # type: ignore[assignment]
        with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and noise
            warnings.simplefilter("ignore", UserWarning)
            self.csr = torch.sparse_csr_tensor(self.rowptr, self.col, self.values, self.A.shape,
                                               check_invariants=False)

    def time(self, fn: Callable[[], Any]) -> float:
        return cuda_median_ms(fn, self.args.warmup, self.args.repeats)

    def add(self, op: str, width: int, baseline: str, ours: float, fn: Callable[[], Any],
            deterministic: bool | None = None) -> None:
        theirs, note = try_time(fn, self.args.warmup, self.args.repeats)
        self.report.rows.append(
            Row(self.graph.name, op, width, baseline, ours, theirs, deterministic, note))
        shown = "n/a" if theirs is None else f"{theirs:8.3f} ms"
        print(f"  {op:<17} F={width:<4} vs {baseline:<32} ours {ours:8.3f} ms  theirs {shown}"
              f" {note}", flush=True)

    def features(self, width: int) -> Tensor:
        return torch.randn(self.graph.num_nodes, width, device=self.device,
                           generator=self.generator)

    def messages(self, x: Tensor) -> Tensor:
        """The ``E × F`` messages that scatter-style baselines materialise."""
        return x.index_select(0, self.col) * self.values.unsqueeze(1)

    def run(self, widths: list[int]) -> None:
        from gnnkit.sparse import use_backend

        with use_backend("triton"):
            for width in widths:
                x = self.features(width)
                self.spmm_sum(x)
                self.spmm_reduce(x, "mean", "mean")
                self.spmm_reduce(x, "max", "amax")
                self.spmm_backward(x)
            self.sddmm_and_softmax()

    def spmm_sum(self, x: Tensor) -> None:
        from gnnkit.sparse import spmm

        width = x.shape[1]
        ours = self.time(lambda: spmm(self.A, x, "sum"))
        deterministic = bit_identical(lambda: spmm(self.A, x, "sum"))
        self.add("spmm-sum", width, "torch.sparse.mm (cuSPARSE)", ours,
                 lambda: torch.sparse.mm(self.csr, x), deterministic)

        def atomic_sum() -> Tensor:
            out = torch.zeros(self.graph.num_nodes, width, device=self.device)
            return out.index_add_(0, self.row, self.messages(x))

        self.add("spmm-sum", width, "gather + index_add_ (atomic)", ours, atomic_sum,
                 bit_identical(atomic_sum))
        if self.scatter_lib is not None:
            lib = self.scatter_lib
            self.add("spmm-sum", width, "torch_scatter.segment_csr", ours,
                     lambda: lib.segment_csr(self.messages(x), self.rowptr))
            self.add("spmm-sum", width, "torch_scatter.scatter (atomic)", ours,
                     lambda: lib.scatter(self.messages(x), self.row, 0,
                                         dim_size=self.graph.num_nodes))

    def spmm_reduce(self, x: Tensor, reduce: str, torch_name: str) -> None:
        from gnnkit.sparse import spmm

        width = x.shape[1]
        ours = self.time(lambda: spmm(self.A, x, reduce))

        def atomic() -> Tensor:
            msgs = self.messages(x)
            out = torch.zeros(self.graph.num_nodes, width, device=self.device)
            index = self.row.unsqueeze(1).expand_as(msgs)
            return out.scatter_reduce_(0, index, msgs, torch_name, include_self=False)

        self.add(f"spmm-{reduce}", width, f"scatter_reduce {torch_name} (atomic)", ours, atomic)
        self.add(f"spmm-{reduce}", width, "torch.sparse.mm(reduce=)", ours,
                 lambda: torch.sparse.mm(self.csr, x, torch_name))
        if self.scatter_lib is not None:
            lib = self.scatter_lib
            self.add(f"spmm-{reduce}", width, "torch_scatter.segment_csr", ours,
                     lambda: lib.segment_csr(self.messages(x), self.rowptr, reduce=reduce))

    def spmm_backward(self, x: Tensor) -> None:
        """Sum forward + backward to features and to A's values (leaves in CSR order)."""
        from gnnkit.sparse import spmm

        width = x.shape[1]
        xg = x.clone().requires_grad_()
        vg = self.values.detach().clone().requires_grad_()
        grad = self.features(width)
        B = self.A.with_values(vg)
        ours = self.time(lambda: torch.autograd.grad(spmm(B, xg, "sum"), (xg, vg), grad))
        coo_indices = torch.stack([self.row, self.col])

        def torch_csr() -> tuple[Tensor, ...]:
            matrix = torch.sparse_csr_tensor(self.rowptr, self.col, vg, self.A.shape,
                                             check_invariants=False)
            return torch.autograd.grad(torch.sparse.mm(matrix, xg), (xg, vg), grad)

        def torch_coo() -> tuple[Tensor, ...]:
            matrix = torch.sparse_coo_tensor(coo_indices, vg, self.A.shape,
                                             check_invariants=False)
            return torch.autograd.grad(torch.sparse.mm(matrix, xg), (xg, vg), grad)

        self.add("spmm-sum-fwd+bwd", width, "torch.sparse.mm autograd (CSR)", ours, torch_csr)
        self.add("spmm-sum-fwd+bwd", width, "torch.sparse.mm autograd (COO)", ours, torch_coo)

    def sddmm_and_softmax(self) -> None:
        from gnnkit.sparse import edge_softmax, sddmm

        x = self.features(64)
        ours = self.time(lambda: sddmm(self.A, x, x, "dot"))
        self.add("sddmm-dot", 64, "gather * gather, sum(-1)", ours,
                 lambda: (x.index_select(0, self.row) * x.index_select(0, self.col)).sum(-1))
        heads = 4
        scores = torch.randn(self.A.nnz, heads, device=self.device, generator=self.generator)
        ours = self.time(lambda: edge_softmax(self.A, scores))

        def torch_softmax() -> Tensor:
            num_nodes, row = self.graph.num_nodes, self.row
            index = row.unsqueeze(1).expand_as(scores)
            top = torch.full((num_nodes, heads), -math.inf, device=self.device)
            top.scatter_reduce_(0, index, scores, "amax", include_self=True)
            exp = (scores - top.index_select(0, row)).exp()
            denom = torch.zeros(num_nodes, heads, device=self.device).index_add_(0, row, exp)
            return exp / denom.index_select(0, row)

        self.add("edge_softmax", heads, "scatter_reduce + index_add_", ours, torch_softmax)


# ----------------------------------------------------------------------------- output
def machine_description(device: torch.device) -> dict[str, Any]:
    props = torch.cuda.get_device_properties(device)
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {
        "gpu": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "gpu_memory_gb": round(props.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "triton": triton_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def markdown(report: Report) -> str:
    lines = ["# gnnkit Triton kernels on CUDA", "", "Machine:", ""]
    lines += [f"- {key}: {value}" for key, value in report.machine.items()]
    lines += [
        "",
        "Medians in milliseconds; speedup = baseline time / gnnkit time (> 1: gnnkit faster).",
        "",
        "| graph | op | F | baseline | gnnkit ms | baseline ms | speedup | gnnkit bit-identical"
        " | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.rows:
        theirs = "n/a" if r.theirs_ms is None else f"{r.theirs_ms:.3f}"
        speedup = "n/a" if r.speedup is None else f"{r.speedup:.2f}×"
        det = "" if r.deterministic is None else ("yes" if r.deterministic else "no")
        lines.append(f"| {r.graph} | {r.op} | {r.features} | {r.baseline} | {r.ours_ms:.3f} | "
                     f"{theirs} | {speedup} | {det} | {r.note} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="a CUDA device: cuda, cuda:1, ...")
    parser.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=GRAPHS)
    parser.add_argument("--features", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA,
                        help="folder holding ogbl-ddi/ (default: <repo>/../shared/datasets)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS / "kernels-cuda.md",
                        help="Markdown report; a .json with the same stem is written next to it")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type != "cuda":
        print(f"kernels_cuda.py benchmarks the Triton GPU kernels: --device must be a CUDA "
              f"device, got {args.device!r} (the CPU benchmark is benchmarks/kernels.py)",
              file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device is available (torch.cuda.is_available() is False): nothing to "
              "benchmark. Run this on a machine with an NVIDIA/AMD GPU, CUDA-enabled PyTorch "
              "and `pip install gnnkit[triton]`.", file=sys.stderr)
        return 2
    from gnnkit.sparse._backends import triton as triton_backend

    if not triton_backend.is_available() or not triton_backend.supports_device(device):
        print("the triton backend cannot run here: install Triton (`pip install triton`) and do "
              "not set TRITON_INTERPRET=1 for this benchmark", file=sys.stderr)
        return 2
    report = Report(machine_description(device))
    for name in args.graphs:
        graph = load_graph(name, args.data_root, args.seed)
        print(f"{name}: {graph.num_nodes} nodes, {graph.edge_index.shape[1]} edges", flush=True)
        GraphBench(graph, device, args, report).run(args.features)
    text = markdown(report)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    payload = {"machine": report.machine,
               "rows": [{**asdict(r), "speedup": r.speedup} for r in report.rows]}
    args.output.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
