"""One neural-sheaf-diffusion layer, forward + backward: gnnkit's block operator vs the
expanded ``Nd × Nd`` scalar Laplacian (the reference implementation's approach).

Both variants compute the same thing from the same inputs — node stalk features ``X``
``(N, d, C)`` and per-entry restriction maps (random, ``requires_grad``):

* **gnnkit**: :class:`gnnkit.nn.sheaf.BundleLaplacianBuilder` / ``DiagLaplacianBuilder`` build a
  :class:`~gnnkit.nn.sheaf.SheafLaplacian` of ``d × d`` (or diagonal) blocks, applied with one
  block-valued (multi-head for diagonal maps) ``gnnkit.sparse.spmm`` plus the diagonal blocks,
  inside a :class:`~gnnkit.nn.sheaf.SheafDiffusionLayer`.
* **scalar**: the same normalised block values, placed at the ``E·d² + N·d²`` scalar entries
  (index tensors precomputed once, as the reference builders do) of an ``Nd × Nd``
  ``torch.sparse_coo_tensor``, coalesced (as the reference code's ``torch_sparse.coalesce``)
  and multiplied as ``torch_sparse.spmm`` does (gather, scale, ``index_add``); the same
  left/right weights, ELU and residual around it. (For diagonal maps only the ``d``
  diagonal entries of each block are stored.)

The outputs are checked equal before timing. One sample = forward (building the Laplacian from
the maps and applying it) + backward of ``out.square().sum()`` to the maps, the features and the
weights; the median of ``--repeats`` samples after a warm-up is reported. Peak memory is the
process's peak RSS during the samples minus its resting RSS after the warm-up (one-time
library loading excluded), each (graph, d, variant) in its own child process so the peaks do
not mix; the equality check runs in a third process. Threads: ``--threads`` (default 1) for both.

Graphs: Chameleon (geom-gcn files, undirected, self loops dropped) and a random undirected
graph with 100,000 nodes and ~10 neighbours per node. ``d`` ∈ {2, 3, 4}, ``C = 32`` channels.

Usage::

    python benchmarks/sheaf.py --out benchmarks/results/sheaf-cpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _graph(name: str, data_root: Path) -> torch.Tensor:
    if name == "chameleon":
        from gnnkit.datasets import read_geomgcn

        graph = read_geomgcn(data_root / "geomgcn-chameleon", "chameleon", undirected=True,
                             splits=False)
        return graph.edge_index
    generator = torch.Generator().manual_seed(0)
    n, m = 100_000, 500_000
    pairs = torch.randint(0, n, (2, m), generator=generator)
    return torch.cat([pairs, pairs.flip(0)], 1)


def _scalar_indices(graph, n: int, d: int, diagonal: bool) -> torch.Tensor:
    """Scalar (row, col) of every block entry, off-diagonal blocks then diagonal blocks, in the
    order of the flattened block values. Computed once, outside the timed region (the
    reference builders precompute their index tensors too)."""
    row, col = graph.row, graph.adjacency.col.long()
    nodes = torch.arange(n)
    if diagonal:  # d scalars per block
        s = torch.arange(d)
        r = torch.cat([(row[:, None] * d + s).reshape(-1), (nodes[:, None] * d + s).reshape(-1)])
        c = torch.cat([(col[:, None] * d + s).reshape(-1), (nodes[:, None] * d + s).reshape(-1)])
    else:
        a = torch.arange(d)
        bi, bj = a[:, None].expand(d, d), a[None, :].expand(d, d)
        r = torch.cat([(row[:, None, None] * d + bi).reshape(-1),
                       (nodes[:, None, None] * d + bi).reshape(-1)])
        c = torch.cat([(col[:, None, None] * d + bj).reshape(-1),
                       (nodes[:, None, None] * d + bj).reshape(-1)])
    return torch.stack([r, c])


def _scalar_apply(indices: torch.Tensor, off: torch.Tensor, diag: torch.Tensor,
                  x: torch.Tensor) -> torch.Tensor:
    """The expanded Nd × Nd Laplacian times X: values placed at the scalar entries of a
    ``torch.sparse_coo_tensor``, coalesced (the reference code's ``torch_sparse.coalesce``
    after merging its parts), then multiplied as ``torch_sparse.spmm`` does for COO input —
    gather the source rows, scale, ``index_add`` into the targets. (``torch.sparse.mm``'s
    backward to the values materialises a dense ``Nd × Nd`` gradient: 160 GB for the
    100k-node graph.)"""
    N, d, C = x.shape
    values = torch.cat([off.reshape(-1), diag.reshape(-1)])
    L = torch.sparse_coo_tensor(indices, values, (N * d, N * d)).coalesce()
    rows, cols = L.indices()
    flat = x.reshape(N * d, C)
    out = flat.new_zeros(N * d, C).index_add(0, rows, L.values().unsqueeze(-1) * flat[cols])
    return out.view(N, d, C)


def _child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    from gnnkit.nn.sheaf import (
        BundleLaplacianBuilder,
        DiagLaplacianBuilder,
        SheafDiffusionLayer,
        SheafGraph,
    )
    from gnnkit.sparse import prepare_backend

    prepare_backend()
    edge_index = _graph(args.graph, Path(args.data_root))
    n = int(edge_index.max()) + 1
    graph = SheafGraph.from_graph(edge_index, num_nodes=n)
    d, C = args.d, 32
    torch.manual_seed(0)
    builder = (DiagLaplacianBuilder(d) if args.sheaf == "diag" else BundleLaplacianBuilder(d))
    layer = SheafDiffusionLayer(d, C)
    shape = (d,) if args.sheaf == "diag" else (builder.num_params,)
    params = (torch.rand(graph.num_entries, *shape) * 2 - 1).requires_grad_(True)
    x = torch.randn(n, d, C, requires_grad=True)

    indices = _scalar_indices(graph, n, d, args.sheaf == "diag")

    def laplacian():
        return builder(graph, params)

    def run(variant: str) -> torch.Tensor:
        L = laplacian()
        if variant == "gnnkit":
            return layer(x, L)
        h = torch.matmul(layer.left, x) @ layer.right.t()
        h = _scalar_apply(indices, L.off_diagonal, L.diagonal, h)
        return (1 + torch.tanh(layer.epsilon)) * x - torch.nn.functional.elu(h)

    if args.check:  # its own process: the scalar run must not raise the gnnkit peak RSS
        with torch.no_grad():
            a, b = run("gnnkit"), run("scalar")
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
        print(json.dumps({"checked": True}))
        return
    out = run(args.variant)  # warm-up: loads libraries and kernels, fills allocator caches
    out.square().sum().backward()
    del out
    # resting RSS after the warm-up (KiB, as ru_maxrss): the peak above it is the working
    # memory of one forward + backward, without one-time library loading
    before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf(
        "SC_PAGE_SIZE") // 1024
    times = []
    for _ in range(args.repeats):
        for t in (params, x):
            t.grad = None
        layer.zero_grad()
        tick = time.perf_counter()
        out = run(args.variant)
        out.square().sum().backward()
        times.append(time.perf_counter() - tick)
        del out
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"graph": args.graph, "n": n, "entries": graph.num_entries, "d": d,
                      "sheaf": args.sheaf, "variant": args.variant,
                      "median_ms": 1000 * statistics.median(times),
                      "peak_rss_growth_mib": (after - before) / 1024,
                      "peak_rss_mib": after / 1024,
                      "scalar_index_mib": indices.numel() * indices.element_size() / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dims", default="2,3,4")
    parser.add_argument("--sheaves", default="bundle,diag")
    parser.add_argument("--graphs", default="chameleon,random100k")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--graph", default="chameleon", help=argparse.SUPPRESS)
    parser.add_argument("--d", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--sheaf", default="bundle", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="gnnkit", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if "chameleon" in args.graphs and not (Path(args.data_root) / "geomgcn-chameleon").exists():
        print(f"no geomgcn-chameleon under {args.data_root}: skipping Chameleon",
              file=sys.stderr)
        args.graphs = ",".join(g for g in args.graphs.split(",") if g != "chameleon")
    load_start = os.getloadavg()
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for graph in args.graphs.split(","):
        for sheaf in args.sheaves.split(","):
            for d in map(int, args.dims.split(",")):
                for variant in ("check", "gnnkit", "scalar"):
                    cmd = [sys.executable, __file__, "--child", "--graph", graph, "--d", str(d),
                           "--sheaf", sheaf, "--variant", variant, "--threads",
                           str(args.threads), "--repeats", str(args.repeats), "--data-root",
                           args.data_root] + (["--check"] if variant == "check" else [])
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if done.returncode != 0:
                        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
                    if variant != "check":
                        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                        print(rows[-1], file=sys.stderr)
    load_end = os.getloadavg()
    lines = [
        "# One sheaf diffusion layer, forward + backward (CPU)",
        "",
        "`benchmarks/sheaf.py`: gnnkit's block-valued sheaf Laplacian (`SheafLaplacian`, one "
        "block `spmm`) vs the same Laplacian expanded to an `Nd × Nd` scalar "
        "`torch.sparse_coo_tensor`, coalesced and multiplied by gather/scale/`index_add` as "
        "`torch_sparse.spmm` does (the reference implementation's approach). Same maps, "
        "same layer; outputs checked equal. Time: median of "
        f"{args.repeats} forward+backward samples (Laplacian built from the maps inside the "
        "sample). Memory: peak RSS during the samples minus the resting RSS after a warm-up "
        "sample (the working memory of one forward + backward), each variant in "
        "its own process; the scalar variant's precomputed index tensors (kept for the whole "
        "run, like the reference builders') are listed separately. "
        "C = 32 channels.",
        "",
        f"Machine: {_cpu_name()}, {os.cpu_count()} cores, "
        f"threads = {args.threads}, torch {torch.__version__}, Python "
        f"{platform.python_version()}. Load average (1/5/15 min) at start "
        f"{load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, at end "
        f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} (shared machine: timings "
        "noisy).",
        "",
        "| graph | N | entries | maps | d | gnnkit ms | scalar ms | speed-up | gnnkit MiB "
        "| scalar MiB | + scalar indices MiB |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ours, ref in zip(rows[::2], rows[1::2], strict=True):
        lines.append(
            f"| {ours['graph']} | {ours['n']:,} | {ours['entries']:,} | {ours['sheaf']} | "
            f"{ours['d']} | {ours['median_ms']:.1f} | {ref['median_ms']:.1f} | "
            f"{ref['median_ms'] / ours['median_ms']:.1f}× | "
            f"{ours['peak_rss_growth_mib']:.0f} | {ref['peak_rss_growth_mib']:.0f} | "
            f"{ref['scalar_index_mib']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "load_start": load_start,
                                         "load_end": load_end, "threads": args.threads},
                                        indent=1))


if __name__ == "__main__":
    main()
