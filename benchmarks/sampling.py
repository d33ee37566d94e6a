"""Neighbour-sampler throughput (sampled edges per second) on a generated power-law graph.

Graph: ``--nodes`` nodes and ``--edges`` directed edges whose endpoints are drawn
independently with probability ``∝ (rank + 1)^-alpha`` (a Chung–Lu-style power law; node ids
randomly permuted so hubs are spread over the id range), stored as a gnnkit ``SparseMatrix``
(row = target). Seeds: ``--batches`` batches of ``--batch-size`` distinct random nodes;
fanouts ``--fanouts`` (default 25,10, Hamilton et al. 2017).

Samplers, all producing the same thing (per hop, up to ``k`` in-edges of every frontier node
without replacement, then the new nodes relabelled):

* ``gnnkit``: :func:`gnnkit.data.sampling.sample_neighbors`, without and with replacement,
  on its two paths in the same run: the C++ kernel (the default on CPU) and the vectorised
  plain-torch reference (``use_backend("reference")``). Both get the same seeds and generator
  state per batch and are timed alternately batch by batch (so a change of load on a shared
  machine hits both alike); their samples are checked to be identical;
* ``loop``: a straightforward torch sampler written here — a Python loop over the frontier
  nodes, ``torch.randperm(deg)[:k]`` per node, then ``torch.unique`` relabelling. It is run
  on ``--loop-batches`` batches only and its rate extrapolated (edges/s is a rate: the
  extrapolation assumes the per-node cost stays what it was on the subset);
* ``pyg``: ``torch_geometric.loader.NeighborLoader`` on the same graph, if it runs here; PyG's
  neighbour sampling needs ``pyg-lib`` or ``torch-sparse``, and without them the reason is
  recorded instead.

Reported: median over batches of sampled edges / wall time of the call, plus the mean sampled
edges per batch. Usage::

    python benchmarks/sampling.py --threads 1 --out benchmarks/results/sampling-cpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor

from gnnkit.bench.report import machine_description
from gnnkit.data.sampling import sample_neighbors, sampling_generator
from gnnkit.sparse import SparseMatrix, prepare_backend, use_backend

#: the two paths of sample_neighbors on CPU: (result name, backend forced)
PATHS = (("C++ kernel", "cpu"), ("torch reference", "reference"))


def power_law_graph(num_nodes: int, num_edges: int, alpha: float, seed: int = 0
                    ) -> SparseMatrix:
    g = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64).pow(-alpha)
    ids = torch.randperm(num_nodes, generator=g)
    endpoints = []
    for _ in range(2):
        # inverse-CDF draws (multinomial over 1M categories is slow): searchsorted on the CDF
        cdf = torch.cumsum(weights, 0)
        u = torch.rand(num_edges, generator=g, dtype=torch.float64) * cdf[-1]
        endpoints.append(ids[torch.searchsorted(cdf, u).clamp_(max=num_nodes - 1)])
    return SparseMatrix.from_edge_index(torch.stack(endpoints), shape=num_nodes)


def loop_sampler(A: SparseMatrix, seeds: Tensor, fanouts: list[int], g: torch.Generator
                 ) -> int:
    """The straightforward sampler: a Python loop over nodes; returns sampled edges."""
    rowptr, col = A.rowptr.tolist(), A.col
    nodes, frontier, sampled = seeds, seeds.tolist(), 0
    for fanout in fanouts:
        parts = []
        for node in frontier:
            start, end = rowptr[node], rowptr[node + 1]
            degree = end - start
            if degree <= fanout:
                parts.append(col[start:end])
            else:
                parts.append(col[start + torch.randperm(degree, generator=g)[:fanout]])
        sources = torch.cat(parts) if parts else seeds[:0]
        sampled += sources.numel()
        merged = torch.cat([nodes, sources])
        unique, inverse = torch.unique(merged, return_inverse=True)
        # new nodes = those whose first occurrence lies in the sources part
        first = torch.full((unique.numel(),), merged.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(merged.numel()), reduce="amin")
        new = unique[first >= nodes.numel()]
        nodes = torch.cat([nodes, new])
        frontier = new.tolist()
    return sampled


def pyg_loader_rate(A: SparseMatrix, batches: list[Tensor], fanouts: list[int]
                    ) -> tuple[list[float], list[int]] | str:
    try:
        from torch_geometric.data import Data
        from torch_geometric.loader import NeighborLoader
    except ImportError as error:
        return f"torch_geometric not importable: {error}"
    row, col = A.row.long(), A.col.long()
    data = Data(edge_index=torch.stack([col, row]), num_nodes=A.num_rows)
    rates, edges = [], []
    try:
        for seeds in batches:
            loader = NeighborLoader(data, num_neighbors=fanouts, input_nodes=seeds,
                                    batch_size=seeds.numel(), shuffle=False)
            tick = time.perf_counter()
            batch = next(iter(loader))
            elapsed = time.perf_counter() - tick
            rates.append(batch.edge_index.shape[1] / elapsed)
            edges.append(int(batch.edge_index.shape[1]))
    except Exception as error:  # record why PyG cannot sample here
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return rates, edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--alpha", type=float, default=0.8)
    parser.add_argument("--fanouts", default="25,10")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--loop-batches", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fanouts = [int(f) for f in args.fanouts.split(",")]
    load_start = [round(v, 2) for v in os.getloadavg()]

    tick = time.perf_counter()
    A = power_law_graph(args.nodes, args.edges, args.alpha)
    build_s = time.perf_counter() - tick
    degree = A.degree()
    g = torch.Generator().manual_seed(1)
    batches = [torch.randperm(args.nodes, generator=g)[: args.batch_size]
               for _ in range(args.batches)]

    results: dict[str, dict[str, float]] = {}

    def record(name: str, rates: list[float], edges: list[int]) -> None:
        results[name] = {"median_edges_per_s": statistics.median(rates),
                         "mean_edges_per_batch": statistics.fmean(edges),
                         "batches": len(rates)}
        print(f"{name}: {statistics.median(rates):,.0f} edges/s "
              f"({statistics.fmean(edges):,.0f} edges per batch)", flush=True)

    paths = PATHS if prepare_backend("cpu") == "cpu" else PATHS[1:]  # compiles, if needed
    if len(paths) == 1:
        print("C++ kernel: not run (the CPU kernels are unavailable here)")
    for _, backend in paths:  # warm-up
        with use_backend(backend):
            sample_neighbors(A, batches[0], fanouts, generator=sampling_generator(0))
    identical = True
    for replace in (False, True):
        path_rates: dict[str, list[float]] = {name: [] for name, _ in paths}
        path_edges: dict[str, list[int]] = {name: [] for name, _ in paths}
        for b, seeds in enumerate(batches):
            samples = []
            for name, backend in paths:
                with use_backend(backend):
                    tick = time.perf_counter()
                    sub = sample_neighbors(A, seeds, fanouts, replace=replace,
                                           generator=sampling_generator(0, 0, 0, b))
                    elapsed = time.perf_counter() - tick
                path_rates[name].append(sub.num_edges / elapsed)
                path_edges[name].append(sub.num_edges)
                samples.append(sub)
            identical &= all(torch.equal(s.e_id, samples[0].e_id)
                             and torch.equal(s.n_id, samples[0].n_id) for s in samples)
        for name, _ in paths:
            record(f"gnnkit {name} (replace={replace})", path_rates[name], path_edges[name])
    print(f"kernel and reference samples identical: {identical}", flush=True)
    rates, edges = [], []
    for seeds in batches[: args.loop_batches]:
        tick = time.perf_counter()
        count = loop_sampler(A, seeds, fanouts, g)
        elapsed = time.perf_counter() - tick
        rates.append(count / elapsed)
        edges.append(count)
    record(f"loop (per-node randperm, {args.loop_batches} batches, extrapolated)", rates,
           edges)
    pyg = pyg_loader_rate(A, batches[:3], fanouts)
    if isinstance(pyg, str):
        print(f"pyg: not run ({pyg})")
    else:
        record("pyg NeighborLoader", *pyg)

    machine = machine_description()
    machine["load_average_at_start"] = load_start
    summary = {
        "graph": {"nodes": args.nodes, "edges": args.edges, "alpha": args.alpha,
                  "max_in_degree": int(degree.max()), "mean_in_degree": args.edges / args.nodes,
                  "build_seconds": round(build_s, 1)},
        "fanouts": fanouts, "batch_size": args.batch_size, "threads": args.threads,
        "results": results, "pyg": pyg if isinstance(pyg, str) else "ran",
        "kernel_and_reference_identical": identical if len(paths) == 2 else None,
        "machine": machine,
    }
    print(json.dumps(summary, indent=2))
    if args.out is not None:
        gnn = results[f"gnnkit {paths[0][0]} (replace=False)"]["median_edges_per_s"]
        lines = [
            "# Neighbour-sampler throughput (CPU)",
            "",
            f"Graph: {args.nodes:,} nodes, {args.edges:,} directed edges, power-law endpoints "
            f"(alpha {args.alpha}; max in-degree {int(degree.max()):,}). Fanouts {fanouts}, "
            f"{args.batch_size} seeds per batch, {args.threads} torch thread(s). Median over "
            "batches of sampled edges / wall time. Produced by `benchmarks/sampling.py`.",
            "",
            f"| sampler | sampled edges/s | edges per batch | vs gnnkit {paths[0][0]} |",
            "|---|---:|---:|---:|",
        ]
        for name, r in results.items():
            lines.append(f"| {name} | {r['median_edges_per_s']:,.0f} | "
                         f"{r['mean_edges_per_batch']:,.0f} | "
                         f"{r['median_edges_per_s'] / gnn:.3g}× |")
        if isinstance(pyg, str):
            lines += ["", f"PyG `NeighborLoader`: not run — {pyg}"]
        lines += ["", "Machine: " + json.dumps(machine), ""]
        args.out.write_text("\n".join(lines))
        args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
