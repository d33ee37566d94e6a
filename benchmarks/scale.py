"""Scale run: GraphSAGE on sampled mini-batches of a generated 2M-node / 20M-edge graph, with
memory measured over time to show that training memory is bounded by the batch, not the graph.

**Graph** (``--nodes`` N, ``--edges`` E, generated in chunks of ``--chunk`` edges, so the
generator's own memory is the final CSR arrays plus one chunk). Node *ranks* ``0 … N-1`` get
power-law weights ``(rank + 1)^-alpha``; node id = a random permutation of the rank, label =
``rank mod C``. An edge's target rank is drawn from the power law (inverse CDF); its source
rank too, and with probability ``--homophily`` it is then moved to the nearest rank of the
target's class (``r - r mod C + y_target``, a rank within ``C`` of the drawn one, so degrees
stay power-law). The CSR (row = target) is filled in two passes over the same seeded chunks:
the first counts in-degrees (``rowptr``), the second writes every chunk's sources at the
next free slots of their rows — no ``(2, E)`` edge list and no global sort is ever built.

**Features**: ``x = signal · mu[y] + N(0, I)`` with class means ``mu ~ N(0, I_F)``, ``F`` =
``--features``; the ``signal`` is weak, so a node's own features alone give modest accuracy
and the homophilous neighbourhood adds to it (``--signal``). Labels ``y``: ``C`` = ``--classes``.

**Training**: :class:`gnnkit.models.sage.SAGE` (2 layers, ``--hidden``) with Adam on batches
of ``--batch-size`` seeds from :class:`gnnkit.data.loader.NeighborLoader` (fanouts
``--fanouts``, ``num_workers=0``: the loader's iteration time is the sampling time), over
all nodes except ``--test-nodes`` held-out ones, for ``--budget`` seconds of training.
Every ``--eval-every`` seconds the held-out accuracy is measured on ``--eval-nodes`` of the
held-out nodes through the loader (same fanouts, eval mode); at the end on all held-out
nodes, and with ``--full-eval`` also full-graph (``model(x, A)`` on all 2M nodes) to compare
its memory with the batch's.

**Memory**: a thread reads the resident set size (``/proc/self/statm``) every 0.1 s; the
allocator's free memory is returned to the OS (``malloc_trim``) after generation, so the RSS
after the build is the graph's cost and the training peak above it is the batch's.

**Comparison**: PyG's ``NeighborLoader`` if it can run here (it needs ``pyg-lib`` or
``torch-sparse``), else the straightforward per-node torch sampler of
``benchmarks/sampling.py`` (``loop_sampler``) on ``--loop-batches`` training batches against
:func:`gnnkit.data.sampling.sample_neighbors` on the same batches, same process. Usage::

    nohup python benchmarks/scale.py --threads 1 --budget 720 \\
        --out benchmarks/results/scale-cpu.md > /tmp/scale.log 2>&1 &
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.util
import itertools
import json
import os
import statistics
import threading
import time
from pathlib import Path

import torch
from sampling import loop_sampler, pyg_loader_rate  # benchmarks/sampling.py, on sys.path
from torch import Tensor
from torch.nn import functional as F

from gnnkit.bench.report import machine_description
from gnnkit.data.loader import NeighborLoader
from gnnkit.data.sampling import sample_neighbors, sampling_generator
from gnnkit.models.sage import SAGE
from gnnkit.sparse import SparseMatrix

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MB = 2**20


def rss_bytes() -> int:
    """This process's resident set size in bytes (``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE


def release_free_memory() -> None:
    """Return the allocator's free pages to the OS (glibc ``malloc_trim``), if available."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RSSMonitor:
    """Samples the RSS every ``interval`` seconds in a thread: :attr:`timeline` holds
    ``(seconds, MiB, phase)`` every ``keep_every`` seconds, :meth:`peak` the maximum per
    phase."""

    def __init__(self, interval: float = 0.1, keep_every: float = 10.0) -> None:
        self.interval, self.keep_every = interval, keep_every
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self.timeline: list[tuple[float, float, str]] = []
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.peaks.setdefault(phase, rss_bytes())

    def _run(self) -> None:
        last = -self.keep_every
        while not self._stop.is_set():
            rss, phase = rss_bytes(), self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
            now = time.perf_counter() - self._start
            if now - last >= self.keep_every:
                self.timeline.append((round(now, 1), round(rss / _MB, 1), phase))
                last = now
            time.sleep(self.interval)

    def peak(self, phase: str) -> int:
        return self.peaks.get(phase, 0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _chunk_generator(seed: int, chunk: int) -> torch.Generator:
    return sampling_generator(seed, 0, 0, 1 + chunk)


def _draw_chunk(cdf: Tensor, start: int, stop: int, classes: int, homophily: float,
                seed: int, chunk: int) -> tuple[Tensor, Tensor]:
    """Target and source *ranks* ``(stop - start,)`` of one chunk of edges."""
    g = _chunk_generator(seed, chunk)
    n, total = cdf.numel(), float(cdf[-1])
    count = stop - start
    target = torch.searchsorted(cdf, torch.rand(count, generator=g, dtype=torch.float64)
                                * total).clamp_(max=n - 1)
    source = torch.searchsorted(cdf, torch.rand(count, generator=g, dtype=torch.float64)
                                * total).clamp_(max=n - 1)
    same = torch.rand(count, generator=g) < homophily
    moved = source - source % classes + target % classes
    source = torch.where(same & (moved < n), moved, source)
    return target, source


def planted_power_law_graph(num_nodes: int, num_edges: int, *, alpha: float, classes: int,
                            homophily: float, chunk: int, seed: int = 0
                            ) -> tuple[SparseMatrix, Tensor]:
    """The graph ``A`` (``N × N``, row = target, int64 CSR) and labels ``y`` ``(N,)`` of the
    module docstring, built in two passes over chunks of ``chunk`` edges."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randperm(num_nodes, generator=g)  # rank → node id
    y = torch.empty(num_nodes, dtype=torch.int64)
    y[ids] = torch.arange(num_nodes) % classes
    cdf = torch.cumsum(torch.arange(1, num_nodes + 1, dtype=torch.float64).pow(-alpha), 0)
    bounds = [*range(0, num_edges, chunk), num_edges]
    degree = torch.zeros(num_nodes, dtype=torch.int64)
    for c, (start, stop) in enumerate(itertools.pairwise(bounds)):
        target, _ = _draw_chunk(cdf, start, stop, classes, homophily, seed, c)
        degree += torch.bincount(ids[target], minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.int64)
    torch.cumsum(degree, 0, out=rowptr[1:])
    del degree
    filled = rowptr[:-1].clone()  # next free slot of every row
    col = torch.empty(num_edges, dtype=torch.int64)
    for c, (start, stop) in enumerate(itertools.pairwise(bounds)):
        target, source = _draw_chunk(cdf, start, stop, classes, homophily, seed, c)
        target, source = ids[target], ids[source]
        order = torch.sort(target, stable=True).indices
        target, source = target[order], source[order]
        counts = torch.bincount(target, minlength=num_nodes)
        first = torch.cumsum(counts, 0) - counts  # first position of every row in the chunk
        slot = filled[target] + torch.arange(target.numel()) - first[target]
        col[slot] = source
        filled += counts
    del filled
    return SparseMatrix(rowptr, col, shape=(num_nodes, num_nodes)), y


def planted_features(y: Tensor, features: int, classes: int, signal: float, chunk: int,
                     seed: int = 0) -> Tensor:
    """``(N, F)`` float32 ``signal · mu[y] + N(0, I)``, filled in chunks of rows."""
    g = torch.Generator().manual_seed(seed + 1)
    mu = torch.randn(classes, features, generator=g)
    x = torch.empty(y.numel(), features)
    for start in range(0, y.numel(), chunk):
        rows = y[start:start + chunk]
        x[start:start + chunk] = signal * mu[rows] + torch.randn(rows.numel(), features,
                                                                 generator=g)
    return x


@torch.no_grad()
def sampled_accuracy(model: SAGE, A: SparseMatrix, x: Tensor, y: Tensor, nodes: Tensor,
                     fanouts: list[int], batch_size: int, seed: int) -> float:
    """Accuracy at ``nodes`` with every node's neighbourhood sampled as in training."""
    model.eval()
    loader = NeighborLoader(A, nodes, fanouts, batch_size=batch_size, seed=seed)
    correct = 0
    for batch in loader:
        logits = model(x[batch.n_id], list(batch.matrices))
        correct += int((logits.argmax(-1) == y[batch.n_id[: batch.num_seeds]]).sum())
    model.train()
    return correct / nodes.numel()


def _pyg_status() -> str | None:
    """``None`` if PyG's sampler can run here, else why not."""
    if importlib.util.find_spec("torch_geometric") is None:
        return "torch_geometric is not installed"
    missing = [name for name in ("pyg_lib", "torch_sparse")
               if importlib.util.find_spec(name) is None]
    if len(missing) == 2:
        return ("torch_geometric is installed but neither pyg-lib nor torch-sparse is "
                "(NeighborLoader's sampler needs one of them; not installable offline here)")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--alpha", type=float, default=0.8)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--signal", type=float, default=0.25)
    parser.add_argument("--homophily", type=float, default=0.6)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--fanouts", default="25,10")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--budget", type=float, default=720.0, help="training seconds")
    parser.add_argument("--test-nodes", type=int, default=20_000)
    parser.add_argument("--eval-nodes", type=int, default=4_000)
    parser.add_argument("--eval-every", type=float, default=120.0)
    parser.add_argument("--loop-batches", type=int, default=3)
    parser.add_argument("--full-eval", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fanouts = [int(f) for f in args.fanouts.split(",")]
    load_start = [round(v, 2) for v in os.getloadavg()]
    release_free_memory()
    monitor = RSSMonitor()
    rss_start = rss_bytes()

    # ---------------------------------------------------------------- the graph
    monitor.set_phase("generate")
    tick = time.perf_counter()
    A, y = planted_power_law_graph(args.nodes, args.edges, alpha=args.alpha,
                                   classes=args.classes, homophily=args.homophily,
                                   chunk=args.chunk, seed=args.seed)
    x = planted_features(y, args.features, args.classes, args.signal, args.chunk, args.seed)
    build_s = time.perf_counter() - tick
    g = torch.Generator().manual_seed(args.seed + 2)
    perm = torch.randperm(args.nodes, generator=g)
    test_nodes = perm[: args.test_nodes].sort().values
    train_nodes = perm[args.test_nodes:].sort().values
    del perm
    degree = A.rowptr[1:] - A.rowptr[:-1]
    max_degree, zero_in = int(degree.max()), int((degree == 0).sum())
    del degree
    # share of edges whose endpoints have the same label (the planted signal's strength)
    # (on the in-edges of the first 100k node ids; A.row would cache an (E,) array)
    head = min(100_000, args.nodes)
    head_rows = torch.repeat_interleave(torch.arange(head), A.rowptr[1:head + 1]
                                        - A.rowptr[:head])
    same_label = float((y[A.col[: head_rows.numel()]] == y[head_rows]).float().mean())
    del head_rows
    graph_bytes = {
        "rowptr": A.rowptr.numel() * A.rowptr.element_size(),
        "col": A.col.numel() * A.col.element_size(),
        "x": x.numel() * x.element_size(),
        "y": y.numel() * y.element_size(),
        "node_splits": (train_nodes.numel() + test_nodes.numel()) * 8,
    }
    total_graph = sum(graph_bytes.values())
    release_free_memory()
    rss_built = rss_bytes()
    print(f"built in {build_s:.0f} s: {total_graph / _MB:.0f} MiB of tensors, RSS "
          f"{rss_start / _MB:.0f} → {rss_built / _MB:.0f} MiB (generation peak "
          f"{monitor.peak('generate') / _MB:.0f} MiB); max in-degree {max_degree}, "
          f"same-label edges {same_label:.3f}", flush=True)

    # ---------------------------------------------------------------- training
    torch.manual_seed(args.seed)
    model = SAGE(args.features, args.hidden, args.classes, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    eval_nodes = test_nodes[: args.eval_nodes]
    curve = [{"seconds": 0.0, "batches": 0,
              "accuracy": sampled_accuracy(model, A, x, y, eval_nodes, fanouts,
                                           args.batch_size, args.seed)}]
    release_free_memory()
    rss_train_start = rss_bytes()
    monitor.set_phase("train")
    loader = NeighborLoader(A, train_nodes, fanouts, batch_size=args.batch_size,
                            shuffle=True, seed=args.seed)
    sample_s, step_s, edges, nodes, losses = [], [], [], [], []
    batch_bytes = []
    started = time.perf_counter()
    next_eval = args.eval_every
    training_s = 0.0
    iterator = iter(loader)
    while True:
        tick = time.perf_counter()
        batch = next(iterator, None)
        if batch is None:  # the epoch ended: the loader's next epoch (a new shuffle)
            iterator = iter(loader)
            batch = next(iterator)
        sampled = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        h = x[batch.n_id]
        loss = F.cross_entropy(model(h, list(batch.matrices)),
                               y[batch.n_id[: batch.num_seeds]])
        loss.backward()
        optimizer.step()
        done = time.perf_counter()
        sample_s.append(sampled - tick)
        step_s.append(done - sampled)
        edges.append(batch.num_edges)
        nodes.append(batch.num_nodes)
        losses.append(float(loss.detach()))
        batch_bytes.append(h.numel() * h.element_size() + batch.num_edges * 8 * 3
                           + batch.num_nodes * 8)
        training_s += done - tick
        if training_s >= next_eval or training_s >= args.budget:
            accuracy = sampled_accuracy(model, A, x, y, eval_nodes, fanouts,
                                        args.batch_size, args.seed)
            curve.append({"seconds": round(training_s, 1), "batches": len(step_s),
                          "accuracy": accuracy,
                          "loss_last_100": statistics.fmean(losses[-100:])})
            print(f"{training_s:6.0f} s, {len(step_s)} batches: loss "
                  f"{statistics.fmean(losses[-100:]):.4f}, held-out accuracy "
                  f"({eval_nodes.numel()} nodes, sampled) {accuracy:.4f}, RSS "
                  f"{rss_bytes() / _MB:.0f} MiB (peak {monitor.peak('train') / _MB:.0f})",
                  flush=True)
            next_eval += args.eval_every
        if training_s >= args.budget:
            break
    wall_s = time.perf_counter() - started
    del iterator, batch, h, loss
    rss_peak_train = monitor.peak("train")

    monitor.set_phase("evaluate (sampled)")
    final_sampled = sampled_accuracy(model, A, x, y, test_nodes, fanouts, args.batch_size,
                                     args.seed + 1)
    print(f"held-out accuracy on all {test_nodes.numel()} test nodes (sampled "
          f"{fanouts}): {final_sampled:.4f}", flush=True)
    # own features only: how much the graph adds
    with torch.no_grad():
        model.eval()
        empty = SparseMatrix(torch.zeros(test_nodes.numel() + 1, dtype=torch.int64),
                             torch.zeros(0, dtype=torch.int64),
                             shape=(test_nodes.numel(), test_nodes.numel()))
        alone = model(x[test_nodes], empty).argmax(-1)
        no_graph_acc = float((alone == y[test_nodes]).float().mean())

    full: dict[str, float] | None = None
    if args.full_eval:
        release_free_memory()
        monitor.set_phase("evaluate (full graph)")
        rss_before_full = rss_bytes()
        tick = time.perf_counter()
        with torch.no_grad():
            model.eval()
            logits = model(x, A)
            full_acc = float((logits[test_nodes].argmax(-1) == y[test_nodes]).float().mean())
            del logits
        full = {"accuracy": full_acc, "seconds": round(time.perf_counter() - tick, 1),
                "rss_growth_mib": round((monitor.peak("evaluate (full graph)")
                                         - rss_before_full) / _MB, 1)}
        print(f"full-graph evaluation: accuracy {full_acc:.4f} in {full['seconds']} s, "
              f"RSS growth {full['rss_growth_mib']} MiB", flush=True)

    # ---------------------------------------------------------------- sampler comparison
    monitor.set_phase("compare samplers")
    comparison: dict[str, object] = {}
    compare_loader = NeighborLoader(A, train_nodes, fanouts, batch_size=args.batch_size,
                                    shuffle=True, seed=args.seed + 3)
    seed_batches = compare_loader.batches(0)[: args.loop_batches]
    gnn_rates, loop_rates = [], []
    for b, seeds in enumerate(seed_batches):
        tick = time.perf_counter()
        sub = sample_neighbors(A, seeds, fanouts, generator=sampling_generator(9, 0, 0, b))
        gnn_rates.append(sub.num_edges / (time.perf_counter() - tick))
        tick = time.perf_counter()
        count = loop_sampler(A, seeds, fanouts, torch.Generator().manual_seed(b))
        loop_rates.append(count / (time.perf_counter() - tick))
    comparison["batches"] = len(seed_batches)
    comparison["gnnkit_edges_per_s"] = statistics.median(gnn_rates)
    comparison["loop_edges_per_s"] = statistics.median(loop_rates)
    pyg = _pyg_status()
    if pyg is None:
        result = pyg_loader_rate(A, seed_batches, fanouts)
        if isinstance(result, str):
            pyg = result
        else:
            comparison["pyg_edges_per_s"] = statistics.median(result[0])
    comparison["pyg"] = pyg if pyg is not None else "ran"
    print(f"samplers on {len(seed_batches)} batches: gnnkit "
          f"{comparison['gnnkit_edges_per_s']:,.0f} edges/s, loop "
          f"{comparison['loop_edges_per_s']:,.0f} edges/s; pyg: {comparison['pyg']}",
          flush=True)
    monitor.stop()

    # ---------------------------------------------------------------- report
    batches_per_epoch = len(loader)
    mean_batch_s = statistics.fmean(s + t for s, t in zip(sample_s, step_s, strict=True))
    machine = machine_description("cpu")
    machine["load_average_at_start"] = load_start
    summary = {
        "graph": {"nodes": args.nodes, "edges": args.edges, "alpha": args.alpha,
                  "classes": args.classes, "features": args.features, "signal": args.signal,
                  "homophily": args.homophily, "same_label_edge_share": round(same_label, 4),
                  "max_in_degree": max_degree, "nodes_without_in_edges": zero_in,
                  "build_seconds": round(build_s, 1), "chunk": args.chunk},
        "model": {"name": "SAGE", "layers": 2, "hidden": args.hidden, "lr": args.lr,
                  "fanouts": fanouts, "batch_size": args.batch_size, "threads": args.threads},
        "memory_mib": {
            "graph_tensors": {k: round(v / _MB, 1) for k, v in graph_bytes.items()},
            "graph_tensors_total": round(total_graph / _MB, 1),
            "rss_before_generation": round(rss_start / _MB, 1),
            "rss_generation_peak": round(monitor.peak("generate") / _MB, 1),
            "rss_after_generation": round(rss_built / _MB, 1),
            "rss_training_start": round(rss_train_start / _MB, 1),
            "rss_training_peak": round(rss_peak_train / _MB, 1),
            "training_growth": round((rss_peak_train - rss_train_start) / _MB, 1),
            "training_growth_vs_graph_tensors": round(
                (rss_peak_train - rss_train_start) / total_graph, 4),
            "batch_tensors_mean": round(statistics.fmean(batch_bytes) / _MB, 2),
            "batch_tensors_max": round(max(batch_bytes) / _MB, 2),
            "peaks_by_phase": {k: round(v / _MB, 1) for k, v in monitor.peaks.items()},
        },
        "training": {
            "seconds": round(training_s, 1), "wall_seconds": round(wall_s, 1),
            "batches": len(step_s), "seeds_trained": len(step_s) * args.batch_size,
            "epochs_done": round(len(step_s) / batches_per_epoch, 4),
            "batches_per_epoch": batches_per_epoch,
            "mean_sampled_edges_per_batch": round(statistics.fmean(edges)),
            "mean_sampled_nodes_per_batch": round(statistics.fmean(nodes)),
            "sampled_edges_per_s": round(sum(edges) / sum(sample_s)),
            "trained_edges_per_s": round(sum(edges) / training_s),
            "seconds_per_batch": round(mean_batch_s, 4),
            "sample_seconds_per_batch": round(statistics.fmean(sample_s), 4),
            "step_seconds_per_batch": round(statistics.fmean(step_s), 4),
            "projected_epoch_seconds": round(batches_per_epoch * mean_batch_s),
            "curve": curve,
        },
        "accuracy": {
            "chance": 1.0 / args.classes,
            "held_out_sampled": final_sampled, "held_out_nodes": test_nodes.numel(),
            "own_features_only": no_graph_acc, "full_graph": full,
        },
        "sampler_comparison": comparison,
        "rss_timeline": monitor.timeline,
        "machine": machine,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rss_timeline"}, indent=2))
    if args.out is not None:
        args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
        args.out.write_text(render(summary))


def render(s: dict) -> str:
    """The Markdown report of a summary."""
    gr, m, tr, acc, cmp = (s["graph"], s["memory_mib"], s["training"], s["accuracy"],
                           s["sampler_comparison"])
    full = acc["full_graph"]
    lines = [
        "# Scale run: sampled GraphSAGE on a 2M-node / 20M-edge graph (CPU)",
        "",
        f"Produced by `benchmarks/scale.py`. Graph: {gr['nodes']:,} nodes, {gr['edges']:,} "
        f"directed edges, power-law endpoints (alpha {gr['alpha']}; max in-degree "
        f"{gr['max_in_degree']:,}; {gr['nodes_without_in_edges']:,} nodes without in-edges), "
        f"{gr['classes']} planted classes (share of same-label edges "
        f"{gr['same_label_edge_share']:.3f}), {gr['features']} random features with a weak "
        f"class signal; generated in chunks of {gr['chunk']:,} edges in "
        f"{gr['build_seconds']:.0f} s. Model: SAGE, 2 layers, hidden {s['model']['hidden']}, "
        f"Adam lr {s['model']['lr']}, fanouts {s['model']['fanouts']}, "
        f"{s['model']['batch_size']} seeds per batch, {s['model']['threads']} torch thread, "
        f"`NeighborLoader` with `num_workers=0`.",
        "",
        "## Memory (MiB, resident set size sampled every 0.1 s)",
        "",
        "| what | MiB |",
        "|---|---:|",
        f"| graph tensors (rowptr, col, x, y, splits) | {m['graph_tensors_total']:,.1f} |",
        f"| RSS before generation (Python, torch, gnnkit) | {m['rss_before_generation']:,.1f} |",
        f"| RSS peak during generation | {m['rss_generation_peak']:,.1f} |",
        f"| RSS after generation | {m['rss_after_generation']:,.1f} |",
        f"| RSS when training starts | {m['rss_training_start']:,.1f} |",
        f"| RSS peak during training ({tr['batches']:,} batches) | "
        f"{m['rss_training_peak']:,.1f} |",
        f"| **growth during training** (peak − training start) | "
        f"**{m['training_growth']:,.1f}** "
        f"({100 * m['training_growth_vs_graph_tensors']:.1f} % of the graph tensors) |",
        f"| growth over the RSS after generation (includes the first evaluation and the "
        f"lazily loaded kernels) | {m['rss_training_peak'] - m['rss_after_generation']:,.1f} |",
        f"| a batch's tensors (features of sampled nodes, edges, ids): mean / max | "
        f"{m['batch_tensors_mean']:.1f} / {m['batch_tensors_max']:.1f} |",
    ]
    if full is not None:
        lines.append(f"| growth of one full-graph evaluation forward (for contrast) | "
                     f"{full['rss_growth_mib']:,.1f} |")
    lines += [
        "",
        "## Speed",
        "",
        "| quantity | value |",
        "|---|---:|",
        f"| training time (sampling + steps) | {tr['seconds']:.0f} s |",
        f"| batches | {tr['batches']:,} ({tr['epochs_done']:.3f} epochs of "
        f"{tr['batches_per_epoch']:,} batches) |",
        f"| sampled edges / nodes per batch (mean) | {tr['mean_sampled_edges_per_batch']:,} / "
        f"{tr['mean_sampled_nodes_per_batch']:,} |",
        f"| sampled edges/s (sampling time only) | {tr['sampled_edges_per_s']:,} |",
        f"| trained edges/s (sampling + step) | {tr['trained_edges_per_s']:,} |",
        f"| s/batch: total (sampling + step) | {tr['seconds_per_batch']:.3f} "
        f"({tr['sample_seconds_per_batch']:.3f} + {tr['step_seconds_per_batch']:.3f}) |",
        f"| projected epoch time ({tr['batches_per_epoch']:,} batches) | "
        f"{tr['projected_epoch_seconds']:,} s ({tr['projected_epoch_seconds'] / 3600:.2f} h) |",
        "",
        f"Sampler comparison, same process, same {cmp['batches']} batches of seeds: gnnkit "
        f"`sample_neighbors` {cmp['gnnkit_edges_per_s']:,.0f} edges/s, the per-node torch "
        f"loop of `benchmarks/sampling.py` {cmp['loop_edges_per_s']:,.0f} edges/s "
        f"({cmp['gnnkit_edges_per_s'] / cmp['loop_edges_per_s']:.1f}× faster). "
        + (f"PyG `NeighborLoader`: {cmp['pyg_edges_per_s']:,.0f} edges/s."
           if "pyg_edges_per_s" in cmp else f"PyG `NeighborLoader`: not run — {cmp['pyg']}."),
        "",
        "## Accuracy (chance "
        f"{100 * acc['chance']:.0f} %)",
        "",
        "| evaluation | accuracy |",
        "|---|---:|",
        f"| held-out {acc['held_out_nodes']:,} nodes, neighbourhoods sampled as in training "
        f"| {100 * acc['held_out_sampled']:.2f} % |",
        f"| same nodes, own features only (the trained model on an empty graph) | "
        f"{100 * acc['own_features_only']:.2f} % |",
    ]
    if full is not None:
        lines.append(f"| same nodes, full-graph forward (all {gr['nodes']:,} nodes, "
                     f"{full['seconds']:.0f} s) | {100 * full['accuracy']:.2f} % |")
    lines += ["", "Held-out accuracy during training (sampled evaluation on a fixed subset "
              "of the held-out nodes, `--eval-nodes`):", "",
              "| training s | batches | accuracy |", "|---:|---:|---:|"]
    for point in tr["curve"]:
        lines.append(f"| {point['seconds']:.0f} | {point['batches']:,} | "
                     f"{100 * point['accuracy']:.2f} % |")
    lines += ["", "RSS over time (every ~10 s; seconds since start, MiB, phase):", "",
              "| s | MiB | phase |", "|---:|---:|---|"]
    timeline = s["rss_timeline"]
    step = max(1, len(timeline) // 20)
    for t, mib, phase in timeline[::step]:
        lines.append(f"| {t:.0f} | {mib:,.1f} | {phase} |")
    lines += ["", "Machine: " + json.dumps(s["machine"]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
