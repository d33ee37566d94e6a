"""``gnnkit bench kernels``: CPU benchmark of gnnkit's C++ aggregation kernels against
PyTorch's own paths, with each kernel's distance to the memory floor.

Run::

    gnnkit bench kernels                  # all graphs, F in {16, 64, 256}
    gnnkit bench kernels --quick          # uniform and Cora, F = 64, fewer repeats
    gnnkit bench kernels --threads 1 --output kernels-cpu.md

(``python benchmarks/kernels.py`` in a source checkout runs the same code and writes
``benchmarks/results/kernels-cpu.md``.)

Graphs: a uniform random graph and a power-law graph (100k nodes, 1M edges before removing
duplicates; ``--nodes``/``--edges`` change the size), Cora (the copy bundled with gnnkit) and
ogbl-ddi (``ogbl-ddi/raw/edge.csv.gz`` under a ``--data-root``, both directions; skipped
when absent). All graphs are coalesced (duplicate edges removed) because
``torch.sparse.mm``'s CSR backward rejects duplicates. Edge values are random scalars;
features are float32 ``(N, F)``.

The memory floor: at the start the benchmark measures this machine's stream bandwidth with
the same threads (median of large tensor copies and adds, bytes read + written per second).
For every kernel, the bytes that must move are every input read once and every output written
once (CSR arrays, edge values, features, output; for forward + backward also the CSC arrays,
the output gradient and both gradients); bytes / stream bandwidth is the floor time, and the
tables list the achieved bandwidth and time / floor.

For every graph and feature width it times, in one process (median of ``--repeats`` runs after
one warm-up), all on the same inputs:

* ``spmm`` sum forward: gnnkit (``cpu`` backend) vs the ``reference`` backend,
  ``torch.sparse.mm`` on a CSR tensor (MKL), gather + ``index_add_`` (PyG's default path) and,
  when installed, ``torch_scatter.segment_csr``;
* ``spmm`` mean and max forward: gnnkit vs ``torch.sparse.mm(..., reduce=...)`` and gather +
  ``scatter_reduce_``;
* ``spmm`` sum forward + backward with gradients to the features *and* the edge values, through
  the public op (``gnnkit.sparse.spmm``) vs ``torch.sparse.mm`` under autograd, gather +
  ``index_add_`` under autograd and the reference backend, with the peak memory of one
  forward + backward (rise of the process's peak RSS, measured by resetting ``VmHWM``).

It prints the tables and writes them to ``--output`` (default ``gnnkit-results/kernels-cpu.md``)
with the machine description and the load average (the machine may be shared). Timings are
wall-clock medians.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gzip
import io
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix, resolve_backend, spmm, use_backend

DEFAULT_OUTPUT = Path("gnnkit-results") / "kernels-cpu.md"
GRAPHS = ("uniform", "powerlaw", "cora", "ddi")
SLOW_MS = 500.0  # methods slower than this per call get at most 3 timed runs


# ----------------------------------------------------------------------------- graphs
@dataclass(frozen=True)
class Graph:
    """A coalesced graph as COO ``(target, source)`` pairs sorted by target, then source."""

    name: str
    num_nodes: int
    target: Tensor
    source: Tensor
    description: str

    @property
    def num_edges(self) -> int:
        return self.target.numel()


def coalesced(name: str, num_nodes: int, target: Tensor, source: Tensor, what: str) -> Graph:
    key = torch.unique(target.long() * num_nodes + source.long())  # sorted, duplicates dropped
    return Graph(name, num_nodes, key // num_nodes, key % num_nodes, what)


def uniform_graph(num_nodes: int, num_edges: int, seed: int) -> Graph:
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, num_nodes, (2, num_edges), generator=g)
    return coalesced("uniform", num_nodes, pairs[1], pairs[0],
                     f"uniform random, {num_nodes} nodes, {num_edges} sampled edges")


def power_law_graph(num_nodes: int, num_edges: int, seed: int, exponent: float = 0.9) -> Graph:
    """Targets drawn with probability ∝ rank^-exponent (hubs own many in-edges), placed at
    random node ids; sources uniform."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64) ** -exponent
    targets = torch.multinomial(weights, num_edges, replacement=True, generator=g)
    targets = torch.randperm(num_nodes, generator=g)[targets]
    sources = torch.randint(0, num_nodes, (num_edges,), generator=g)
    return coalesced("powerlaw", num_nodes, targets, sources,
                     f"power-law in-degrees (exponent {exponent}), {num_nodes} nodes, "
                     f"{num_edges} sampled edges")


class _AdjacencyUnpickler(pickle.Unpickler):
    """Unpickles Planetoid's ``ind.*.graph`` (a dict of adjacency lists) and nothing else."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {("collections", "defaultdict"), ("builtins", "list"), ("builtins", "dict"),
         ("builtins", "int"), ("__builtin__", "list"), ("__builtin__", "dict"),
         ("__builtin__", "int")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"ind.cora.graph: unexpected object {module}.{name}")


def cora_graph(data_roots: list[Path]) -> Graph:
    """Planetoid Cora from ``<root>/planetoid-cora/ind.cora.graph`` if a root has it, else the
    copy bundled with gnnkit (the same graph)."""
    found = [root / "planetoid-cora" / "ind.cora.graph" for root in data_roots]
    found = [path for path in found if path.is_file()]
    if not found:
        from gnnkit.datasets import load_bundled

        bundled = load_bundled("cora")
        edges = bundled.edge_index
        return coalesced("cora", bundled.num_nodes, edges[1], edges[0],
                         "Planetoid Cora (the copy bundled with gnnkit)")
    path = found[0]
    adjacency = _AdjacencyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    if not isinstance(adjacency, dict):
        raise ValueError(f"{path}: expected a dict of adjacency lists")
    target = [int(u) for u, neighbours in adjacency.items() for _ in neighbours]
    source = [int(v) for neighbours in adjacency.values() for v in neighbours]
    num_nodes = 1 + max(max(target), max(source))
    return coalesced("cora", num_nodes, torch.tensor(target), torch.tensor(source),
                     f"Planetoid Cora ({path.name})")


def ddi_graph(data_roots: list[Path]) -> Graph:
    found = [root / "ogbl-ddi" / "raw" / "edge.csv.gz" for root in data_roots]
    found = [path for path in found if path.is_file()]
    if not found:
        raise FileNotFoundError("ogbl-ddi/raw/edge.csv.gz not found under --data-root "
                                f"{', '.join(map(str, data_roots)) or '(none given)'}")
    path, data_root = found[0], found[0].parents[2]
    with gzip.open(path, "rt") as handle:
        edges = torch.from_numpy(np.loadtxt(handle, delimiter=",", dtype=np.int64).reshape(-1, 2))
    num_nodes = int(edges.max()) + 1
    both = torch.cat([edges, edges.flip(1)])  # undirected: each edge in both directions
    return coalesced("ddi", num_nodes, both[:, 1], both[:, 0],
                     f"ogbl-ddi ({path.relative_to(data_root)}, both directions)")


def load_graph(name: str, data_roots: list[Path], seed: int, nodes: int = 100_000,
               edges: int = 1_000_000) -> Graph:
    if name == "uniform":
        return uniform_graph(nodes, edges, seed)
    if name == "powerlaw":
        return power_law_graph(nodes, edges, seed)
    if name == "cora":
        return cora_graph(data_roots)
    if name == "ddi":
        return ddi_graph(data_roots)
    raise ValueError(f"unknown graph {name!r}; choose from {', '.join(GRAPHS)}")


# ----------------------------------------------------------------------------- measuring
def median_ms(methods: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each method after one warm-up call each.

    The methods are timed in interleaved rounds (one call of each per round), so that load
    from other processes on a shared machine hits all of them alike, and each round starts
    one method later than the previous one: on small graphs a call that follows another
    method's call finds the shared inputs in cache (the first one of a round finds what the
    last method of the previous round left), so a fixed order would favour the methods that
    come second. Methods slower than ``SLOW_MS`` per call are timed in the first three rounds
    only.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    slow = set()
    for name, fn in methods.items():
        start = time.perf_counter()
        fn()
        if (time.perf_counter() - start) * 1e3 > SLOW_MS:
            slow.add(name)
    order = list(methods.items())
    for round_index in range(repeats):
        shift = round_index % len(order)
        for name, fn in order[shift:] + order[:shift]:
            if name in slow and round_index >= 3:
                continue
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def _status_kib(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_extra_mb(fn: Callable[[], Any]) -> float | None:
    """Rise of the process's peak resident memory during one call of ``fn`` (MiB), measured
    by resetting ``VmHWM`` (Linux); ``None`` where that is not possible."""
    _release_free_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0.0, (peak - before) / 1024)


# ----------------------------------------------------------------------------- memory floor
def stream_bandwidth(megabytes: int = 256, repeats: int = 9) -> dict[str, float]:
    """This machine's streaming bandwidth in GB/s with torch's current threads: the median of
    ``repeats`` copies (``c = a``: 2 × size bytes read + written) and adds (``c = a + b``:
    3 × size) of float32 tensors of ``megabytes`` MiB, far larger than the caches' share a
    kernel gets. Pages are touched first so that no first-touch faults are counted."""
    n = megabytes * 2**20 // 4
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    c.copy_(a)
    torch.add(a, b, out=c)
    copy, add = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        c.copy_(a)
        copy.append(2 * n * 4 / (time.perf_counter() - start) / 1e9)
        start = time.perf_counter()
        torch.add(a, b, out=c)
        add.append(3 * n * 4 / (time.perf_counter() - start) / 1e9)
    return {"copy": statistics.median(copy), "add": statistics.median(add)}


def moved_bytes(graph: Graph, features: int, op: str, index_bytes: int = 8) -> int:
    """Bytes a kernel must move at the least: each input read once, each output written once
    (float32 features and values, ``index_bytes`` per index).

    Forward (``op`` sum/mean/max): rowptr, col, values, x (N × F) and the output (M × F).
    ``"train"`` adds the backward: colptr, CSC rows, the CSC permutation (int64), values again,
    the output gradient (M × F), x again (for the values' gradient), and the two gradients
    (N × F and E)."""
    n, e, f = graph.num_nodes, graph.num_edges, features
    forward = (n + 1) * index_bytes + e * index_bytes + 4 * e + 4 * n * f + 4 * n * f
    if op != "train":
        return forward
    backward = ((n + 1) * index_bytes + e * index_bytes + 8 * e + 4 * e + 4 * n * f
                + 4 * n * f + 4 * n * f + 4 * e)
    return forward + backward


# ----------------------------------------------------------------------------- methods
@dataclass
class Inputs:
    graph: Graph
    features: int
    x: Tensor
    values: Tensor  # in the matrix's CSR order
    matrix: SparseMatrix
    target: Tensor  # COO row of each stored entry, CSR order
    source: Tensor  # its column
    csr: Tensor
    grad_out: Tensor

    @classmethod
    def build(cls, graph: Graph, features: int, seed: int) -> Inputs:
        g = torch.Generator().manual_seed(seed)
        n = graph.num_nodes
        x = torch.randn(n, features, generator=g)
        values = torch.rand(graph.num_edges, generator=g)
        matrix = SparseMatrix.from_coo(graph.target, graph.source, values, (n, n))
        matrix.csc()  # cached once, as in a training loop
        csr_values = matrix.values
        assert csr_values is not None
        csr = torch.sparse_csr_tensor(matrix.rowptr, matrix.col, csr_values, (n, n))
        return cls(graph, features, x, csr_values, matrix, matrix.row.long(), matrix.col.long(),
                   csr, torch.randn(n, features, generator=g))


T = TypeVar("T")


def on_backend(run: Callable[[], T], backend: str, device: torch.device) -> Callable[[], T]:
    """``run`` on ``backend``: as is when that is the automatic choice for ``device`` (timed as
    a user calls it: ``use_backend``'s context and forced lookup cost a few µs, which count on
    Cora), else inside ``use_backend`` for the whole call (a backward included, which looks its
    kernels up when it runs)."""
    if backend == resolve_backend(device):
        return run

    def forced() -> T:
        with use_backend(backend):
            return run()

    return forced


def gnnkit_forward(inputs: Inputs, reduce: str, backend: str) -> Callable[[], Tensor]:
    return on_backend(lambda: spmm(inputs.matrix, inputs.x, reduce), backend, inputs.x.device)


def sparse_mm_forward(inputs: Inputs, reduce: str) -> Callable[[], Tensor]:
    torch_reduce = {"sum": "sum", "mean": "mean", "max": "amax", "min": "amin"}[reduce]
    if reduce == "sum":
        return lambda: torch.sparse.mm(inputs.csr, inputs.x)
    return lambda: torch.sparse.mm(inputs.csr, inputs.x, torch_reduce)


def scatter_forward(inputs: Inputs, reduce: str) -> Callable[[], Tensor]:
    """PyG's default message passing: gather source rows, weight them, scatter to targets."""
    target, source, values = inputs.target, inputs.source, inputs.values
    n, f = inputs.graph.num_nodes, inputs.features

    def run() -> Tensor:
        messages = inputs.x.index_select(0, source) * values.unsqueeze(-1)
        if reduce == "sum":
            return torch.zeros(n, f).index_add_(0, target, messages)
        index = target.unsqueeze(-1).expand_as(messages)
        torch_reduce = {"mean": "mean", "max": "amax", "min": "amin"}[reduce]
        return torch.zeros(n, f).scatter_reduce_(0, index, messages, torch_reduce,
                                                 include_self=False)

    return run


def segment_csr_forward(inputs: Inputs) -> Callable[[], Tensor] | None:
    try:
        from torch_scatter import segment_csr  # type: ignore[import-not-found]
    except ImportError:
        return None
    rowptr, col, values = inputs.matrix.rowptr, inputs.source, inputs.values
    return lambda: segment_csr(inputs.x.index_select(0, col) * values.unsqueeze(-1), rowptr,
                               reduce="sum")


def training_step(forward: Callable[[Tensor, Tensor], Tensor], inputs: Inputs
                  ) -> Callable[[], None]:
    """One forward + backward of a sum aggregation, gradients to features and edge values."""
    x = inputs.x.clone().requires_grad_()
    values = inputs.values.clone().requires_grad_()

    def run() -> None:
        x.grad = None
        values.grad = None
        forward(x, values).backward(inputs.grad_out)

    return run


def gnnkit_training(inputs: Inputs, backend: str) -> Callable[[], None]:
    def forward(x: Tensor, values: Tensor) -> Tensor:
        return spmm(inputs.matrix.with_values(values), x)

    return on_backend(training_step(forward, inputs), backend, inputs.x.device)


# torch.sparse.mm's backward for the sparse operand materialises a dense N × N gradient before
# masking it (40 GB for 100k nodes), so edge-value gradients are only requested below this.
DENSE_GRADIENT_LIMIT = 2**30


def sparse_mm_values_gradient(graph: Graph) -> bool:
    """Whether torch.sparse.mm can afford the gradient to edge values on this graph."""
    return graph.num_nodes**2 * 4 <= DENSE_GRADIENT_LIMIT


def sparse_mm_training(inputs: Inputs) -> Callable[[], None]:
    n = inputs.graph.num_nodes
    rowptr, col = inputs.matrix.rowptr, inputs.matrix.col
    with_values = sparse_mm_values_gradient(inputs.graph)

    def forward(x: Tensor, values: Tensor) -> Tensor:
        if not with_values:
            values = values.detach()
        return torch.sparse.mm(torch.sparse_csr_tensor(rowptr, col, values, (n, n)), x)

    return training_step(forward, inputs)


def scatter_training(inputs: Inputs) -> Callable[[], None]:
    target, source = inputs.target, inputs.source
    n, f = inputs.graph.num_nodes, inputs.features

    def forward(x: Tensor, values: Tensor) -> Tensor:
        messages = x.index_select(0, source) * values.unsqueeze(-1)
        return torch.zeros(n, f).index_add_(0, target, messages)

    return training_step(forward, inputs)


# ----------------------------------------------------------------------------- report
@dataclass
class Results:
    machine: dict[str, str]
    graphs: dict[str, Graph] = field(default_factory=dict)
    # (graph, op, F) -> {method: ms}; op in "sum", "mean", "max", "train"
    times: dict[tuple[str, str, int], dict[str, float]] = field(default_factory=dict)
    peaks: dict[tuple[str, int], dict[str, float | None]] = field(default_factory=dict)
    load: list[tuple[float, float, float]] = field(default_factory=list)
    # stream bandwidth (GB/s) measured in the same run: {"copy": ..., "add": ...}
    bandwidth: dict[str, float] = field(default_factory=dict)
    bandwidth_mib: int = 256
    index_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def floor_bandwidth(self) -> float | None:
        """GB/s used for the floor: the better of the copy and add streams."""
        return max(self.bandwidth.values()) if self.bandwidth else None

    def floor_ms(self, graph: str, op: str, features: int) -> float | None:
        bandwidth = self.floor_bandwidth
        if bandwidth is None:
            return None
        g = self.graphs[graph]
        return moved_bytes(g, features, op, self.index_bytes.get(graph, 8)) / bandwidth / 1e6

    def achieved(self, graph: str, op: str, features: int, ms: float | None) -> str:
        """``"GB/s (× floor)"`` of a time, or a dash."""
        floor = self.floor_ms(graph, op, features)
        if ms is None or floor is None or not ms:
            return "—"
        g = self.graphs[graph]
        gbs = moved_bytes(g, features, op, self.index_bytes.get(graph, 8)) / ms / 1e6
        return f"{gbs:.1f} ({ms / floor:.1f}×)"


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_description() -> dict[str, str]:
    lscpu = {}
    for line in _run(["lscpu"]).splitlines():
        key, _, value = line.partition(":")
        lscpu[key.strip()] = value.strip()
    from gnnkit.sparse._backends.cpu import build

    compiler = _run([os.environ.get("CXX", "c++"), "--version"]).splitlines()
    return {
        "cpu": lscpu.get("Model name", platform.processor() or "unknown"),
        "cores": f"{lscpu.get('CPU(s)', os.cpu_count())} logical CPU(s), "
                 f"{lscpu.get('Thread(s) per core', '?')} thread(s) per core",
        "caches": f"L2 {lscpu.get('L2 cache', '?')}, L3 {lscpu.get('L3 cache', '?')}",
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "compiler": compiler[0] if compiler else "unknown",
        "kernel build": f"{build.cpu_capability()}: {' '.join(build.build_config().cflags)}",
        "os": platform.platform(),
    }


def _fmt(ms: float | None) -> str:
    return "—" if ms is None else (f"{ms:.2f}" if ms < 10 else f"{ms:.1f}")


def _ratio(ours: float | None, theirs: float | None) -> str:
    return "—" if ours is None or not theirs else f"{ours / theirs:.2f}"


def _speedup(ours: float | None, theirs: float | None) -> str:
    return "—" if not ours or theirs is None else f"{theirs / ours:.1f}×"


def markdown(results: Results, features: list[int]) -> str:
    lines = ["# gnnkit CPU kernels: benchmark", "",
             "Produced by `python benchmarks/kernels.py`; times are wall-clock medians in ms "
             "(lower is better), measured in one process, methods interleaved round by round "
             "(each round starting one method later). "
             "*ratio* = gnnkit time / other time "
             "(≤ 1 means gnnkit is at least as fast); *speed-up* = other time / gnnkit time.", "",
             "## Machine", ""]
    lines += [f"* {key}: {value}" for key, value in results.machine.items()]
    if results.load:
        loads = ", ".join(f"{a:.1f}/{b:.1f}/{c:.1f}" for a, b, c in results.load)
        lines.append(f"* load average (1/5/15 min) at start, during, end: {loads} — the machine "
                     "is shared; a load above the core count means other processes competed "
                     "for the cores and timings are noisier and slower than on an idle machine")
    if results.bandwidth:
        lines.append(
            f"* stream bandwidth (same run, same threads, {results.bandwidth_mib} MiB float32 "
            f"tensors): copy "
            f"{results.bandwidth['copy']:.1f} GB/s, add {results.bandwidth['add']:.1f} GB/s; "
            f"the floor below uses {results.floor_bandwidth:.1f} GB/s")
    lines += ["", "*GB/s (× floor)*: bytes that must move (each input read once, each output "
              "written once; see `moved_bytes`) divided by the time, and the time divided by "
              "the floor time (bytes / stream bandwidth). 1.0× would be the memory floor."]
    lines += ["", "## Graphs", "", "| graph | nodes | edges | source |", "|---|---|---|---|"]
    for graph in results.graphs.values():
        lines.append(f"| {graph.name} | {graph.num_nodes} | {graph.num_edges} | "
                     f"{graph.description} |")
    for graph in results.graphs.values():
        lines += ["", f"## {graph.name}", "", "### spmm sum, forward", "",
                  "| F | gnnkit | reference | torch.sparse.mm | gather+index_add_ | "
                  "segment_csr | ratio vs sparse.mm | speed-up vs index_add_ | MB moved | "
                  "floor | gnnkit GB/s (× floor) | sparse.mm GB/s (× floor) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for f in features:
            t = results.times.get((graph.name, "sum", f), {})
            mb = moved_bytes(graph, f, "sum", results.index_bytes.get(graph.name, 8)) / 1e6
            lines.append(
                f"| {f} | {_fmt(t.get('gnnkit'))} | {_fmt(t.get('reference'))} | "
                f"{_fmt(t.get('sparse.mm'))} | {_fmt(t.get('index_add'))} | "
                f"{_fmt(t.get('segment_csr'))} | {_ratio(t.get('gnnkit'), t.get('sparse.mm'))} "
                f"| {_speedup(t.get('gnnkit'), t.get('index_add'))} | {mb:.1f} | "
                f"{_fmt(results.floor_ms(graph.name, 'sum', f))} | "
                f"{results.achieved(graph.name, 'sum', f, t.get('gnnkit'))} | "
                f"{results.achieved(graph.name, 'sum', f, t.get('sparse.mm'))} |")
        lines += ["", "### spmm mean and max, forward", "",
                  "| F | reduce | gnnkit | torch.sparse.mm | gather+scatter_reduce_ | "
                  "ratio vs sparse.mm | speed-up vs scatter_reduce_ | gnnkit GB/s (× floor) |",
                  "|---|---|---|---|---|---|---|---|"]
        for f in features:
            for reduce in ("mean", "max"):
                t = results.times.get((graph.name, reduce, f), {})
                lines.append(
                    f"| {f} | {reduce} | {_fmt(t.get('gnnkit'))} | {_fmt(t.get('sparse.mm'))} | "
                    f"{_fmt(t.get('scatter'))} | {_ratio(t.get('gnnkit'), t.get('sparse.mm'))} | "
                    f"{_speedup(t.get('gnnkit'), t.get('scatter'))} | "
                    f"{results.achieved(graph.name, reduce, f, t.get('gnnkit'))} |")
        lines += ["", "### spmm sum, forward + backward (gradients to features and edge values)",
                  ""]
        if not sparse_mm_values_gradient(graph):
            lines += ["torch.sparse.mm here gets the gradient to the features only: its gradient "
                      "to the edge values goes through a dense N × N matrix "
                      f"({graph.num_nodes**2 * 4 / 2**30:.0f} GiB), which does not fit. gnnkit "
                      "and gather+index_add_ compute both gradients, so the comparison favours "
                      "torch.sparse.mm.", ""]
        lines += ["Peak = rise of the process's peak resident memory during one forward + "
                  "backward (MiB); one E×F float32 buffer is listed for comparison.", "",
                  "| F | gnnkit | reference | torch.sparse.mm | gather+index_add_ | "
                  "speed-up vs sparse.mm | gnnkit GB/s (× floor) | peak gnnkit | peak sparse.mm | "
                  "peak index_add_ | E×F buffer |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for f in features:
            t = results.times.get((graph.name, "train", f), {})
            p = results.peaks.get((graph.name, f), {})
            buffer_mb = graph.num_edges * f * 4 / 2**20
            lines.append(
                f"| {f} | {_fmt(t.get('gnnkit'))} | {_fmt(t.get('reference'))} | "
                f"{_fmt(t.get('sparse.mm'))} | {_fmt(t.get('index_add'))} | "
                f"{_speedup(t.get('gnnkit'), t.get('sparse.mm'))} | "
                f"{results.achieved(graph.name, 'train', f, t.get('gnnkit'))} | "
                f"{_fmt(p.get('gnnkit'))} | "
                f"{_fmt(p.get('sparse.mm'))} | {_fmt(p.get('index_add'))} | {buffer_mb:.1f} |")
    lines += ["", "## Targets", ""]
    lines += bar_summary(results, features)
    return "\n".join(lines) + "\n"


def bar_summary(results: Results, features: list[int]) -> list[str]:
    """One line per target: where it holds and where it is missed, with the margin."""
    large = [g for g in results.graphs if g in ("uniform", "powerlaw")]
    checks = [
        ("max forward ≤ 0.5× torch.sparse.mm(reduce='amax')", "max", "sparse.mm", 0.5,
         large, features),
        ("sum forward + backward ≥ 3× faster than torch.sparse.mm", "train", "sparse.mm",
         1 / 3, large, features),
        ("tiny graph: sum forward per call ≤ torch.sparse.mm's", "sum", "sparse.mm", 1.0,
         [g for g in results.graphs if g == "cora"], features),
        ("mean forward ≤ 1.0× torch.sparse.mm(reduce='mean')", "mean", "sparse.mm", 1.0,
         list(results.graphs), features),
    ]
    lines = []
    floor_held, floor_missed = [], []
    for graph in large:
        for f in [f for f in features if f == 64]:
            ms = results.times.get((graph, "sum", f), {}).get("gnnkit")
            floor = results.floor_ms(graph, "sum", f)
            if ms is None or floor is None:
                continue
            (floor_held if ms / floor <= 2.0 else floor_missed).append(
                f"{graph} F={f} ({ms / floor:.2f}×)")
    lines.append(_verdict("sum forward within 2× of the memory floor at F = 64 (time / floor ≤ 2)",
                          floor_held, floor_missed))
    for title, op, other, limit, graphs, fs in checks:
        held, missed = [], []
        for graph in graphs:
            for f in fs:
                t = results.times.get((graph, op, f), {})
                ours, theirs = t.get("gnnkit"), t.get(other)
                if ours is None or theirs is None:
                    continue
                ratio = ours / theirs
                (held if ratio <= limit else missed).append(f"{graph} F={f} ({ratio:.2f})")
        lines.append(_verdict(f"{title} (ratio gnnkit/other ≤ {limit:.2g})", held, missed))
    return lines


def _verdict(title: str, held: list[str], missed: list[str]) -> str:
    if not held and not missed:
        return f"* {title}: no data"
    if not missed:
        return f"* {title}: holds everywhere ({', '.join(held)})"
    return (f"* {title}: missed at {', '.join(missed)}; holds at {len(held)} of "
            f"{len(held) + len(missed)}" + (f" ({', '.join(held)})" if held else ""))


NOTES_MARKER = "<!-- notes: hand-written analysis below is kept when the file is rewritten -->"


def kept_notes(path: Path) -> str:
    """The hand-written analysis after ``NOTES_MARKER`` in an existing results file."""
    if not path.is_file():
        return ""
    previous = path.read_text()
    index = previous.find(NOTES_MARKER)
    return "" if index < 0 else "\n" + previous[index:]


# ----------------------------------------------------------------------------- main
def benchmark_graph(graph: Graph, features: list[int], args: argparse.Namespace,
                    results: Results) -> None:
    for f in features:
        inputs = Inputs.build(graph, f, args.seed)
        results.index_bytes[graph.name] = inputs.matrix.rowptr.element_size()
        repeats = args.repeats
        methods: dict[str, Callable[[], Any]] = {
            "gnnkit": gnnkit_forward(inputs, "sum", "cpu"),
            "sparse.mm": sparse_mm_forward(inputs, "sum"),
        }
        if not args.skip_baselines:
            methods["index_add"] = scatter_forward(inputs, "sum")
            segment = segment_csr_forward(inputs)
            if segment is not None:
                methods["segment_csr"] = segment
        if not args.skip_reference:
            methods["reference"] = gnnkit_forward(inputs, "sum", "reference")
        row = median_ms(methods, repeats)
        results.times[(graph.name, "sum", f)] = row
        report(graph.name, "sum", f, row)
        for reduce in ("mean", "max"):
            methods = {"gnnkit": gnnkit_forward(inputs, reduce, "cpu"),
                       "sparse.mm": sparse_mm_forward(inputs, reduce)}
            if not args.skip_baselines:
                methods["scatter"] = scatter_forward(inputs, reduce)
            row = median_ms(methods, repeats)
            results.times[(graph.name, reduce, f)] = row
            report(graph.name, reduce, f, row)
        steps = {"gnnkit": gnnkit_training(inputs, "cpu"),
                 "sparse.mm": sparse_mm_training(inputs)}
        if not args.skip_baselines:
            steps["index_add"] = scatter_training(inputs)
        if not args.skip_reference:
            steps["reference"] = gnnkit_training(inputs, "reference")
        row = median_ms(dict(steps), repeats)
        results.times[(graph.name, "train", f)] = row
        report(graph.name, "train", f, row)
        results.peaks[(graph.name, f)] = {
            name: peak_extra_mb(steps[name]) for name in ("gnnkit", "sparse.mm", "index_add")
            if name in steps
        }
        print(f"  peak MiB: {results.peaks[(graph.name, f)]}", flush=True)


def report(graph: str, op: str, f: int, row: dict[str, float]) -> None:
    cells = "  ".join(f"{name} {ms:.2f}" for name, ms in row.items())
    print(f"{graph:9s} {op:5s} F={f:<4d} {cells}", flush=True)


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the kernel benchmark's options to ``parser`` (``gnnkit bench kernels``)."""
    parser.add_argument("--quick", action="store_true",
                        help="uniform and Cora only, F = 64, 3 repeats (a smoke run)")
    parser.add_argument("--graphs", nargs="+", choices=GRAPHS, default=None,
                        help=f"graphs to time (default: all of {', '.join(GRAPHS)}; ddi needs "
                             "--data-root)")
    parser.add_argument("--features", nargs="+", type=int, default=None,
                        help="feature widths F (default: 16 64 256)")
    parser.add_argument("--nodes", type=int, default=100_000,
                        help="nodes of the uniform and power-law graphs (default 100000)")
    parser.add_argument("--edges", type=int, default=1_000_000,
                        help="sampled edges of the uniform and power-law graphs (default 1000000)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per method")
    parser.add_argument("--bandwidth-mib", type=int, default=256,
                        help="size of each tensor of the stream bandwidth measurement "
                             "(default 256 MiB; keep it well above the last-level cache share)")
    parser.add_argument("--skip-reference", action="store_true",
                        help="do not time the (slow) reference backend")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="do not time the (slow) gather + index_add_/scatter_reduce_ "
                             "paths; gnnkit and torch.sparse.mm only")
    parser.add_argument("--data-root", type=Path, action="append", default=[],
                        help="folder holding ogbl-ddi/ (and planetoid-cora/, else the bundled "
                             "Cora is used); repeatable, then $GNNKIT_DATA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for every method and the bandwidth "
                             "measurement (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"Markdown file to write (default: {DEFAULT_OUTPUT}); hand-written "
                             "notes after the notes marker of an existing file are kept")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    configure(parser)
    return parser.parse_args(argv)


def _defaults(args: argparse.Namespace) -> argparse.Namespace:
    if args.graphs is None:
        args.graphs = ["uniform", "cora"] if args.quick else list(GRAPHS)
    if args.features is None:
        args.features = [64] if args.quick else [16, 64, 256]
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    return args


def _data_roots(extra: list[Path]) -> list[Path]:
    roots = list(extra)
    configured = os.environ.get("GNNKIT_DATA")
    if configured:
        roots += [Path(part) for part in configured.split(os.pathsep) if part]
    return roots


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with parsed ``args``; 0 on success, 1 without the C++ kernels."""
    args = _defaults(args)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")  # torch's beta notices
    from gnnkit.sparse._backends import cpu

    if not cpu.is_available():
        print("error: the gnnkit C++ CPU kernels are unavailable (see the warning above)",
              file=sys.stderr)
        return 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = Results(machine_description())
    results.load.append(os.getloadavg())
    results.bandwidth = stream_bandwidth(args.bandwidth_mib)
    results.bandwidth_mib = args.bandwidth_mib
    print(f"stream bandwidth ({torch.get_num_threads()} threads): copy "
          f"{results.bandwidth['copy']:.1f} GB/s, add {results.bandwidth['add']:.1f} GB/s",
          flush=True)
    roots = _data_roots(args.data_root)
    for name in args.graphs:
        try:
            graph = load_graph(name, roots, args.seed, args.nodes, args.edges)
        except OSError as error:
            print(f"skipping {name}: {error}", file=sys.stderr)
            continue
        results.graphs[name] = graph
        print(f"{name}: {graph.num_nodes} nodes, {graph.num_edges} edges", flush=True)
        benchmark_graph(graph, args.features, args, results)
        results.load.append(os.getloadavg())
    text = markdown(results, args.features)
    print()
    print("\n".join(bar_summary(results, args.features)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + kept_notes(args.output))
    print(f"\nwrote {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
