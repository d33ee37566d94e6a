"""SSWL+ training step on ZINC batches: gnnkit's SubgraphBatch against a straightforward bag.

The model is ZINC's SSWL+ (``gnnkit.models.SWL``: 6 layers of uL + vL + vv blocks, width 96,
bond embeddings on local messages, distance encoding clamped at 5, uG readout), as in the
``sswlplus-zinc`` experiment. Two implementations of the same model, with the same weights:

* **gnnkit** — the bag is :meth:`gnnkit.data.SubgraphBatch.all_pairs` (built from the batch's
  CSR without Python loops, distances gathered from :func:`gnnkit.data.pair_distances`); uL
  and vL are segment reductions over the ``I ⊗ A`` / ``A ⊗ I`` patterns, vv a gather.
* **straightforward** — written here: the bag is materialised as a block-diagonal batch of
  ``n`` copies of every graph, its index lists built graph by graph in Python (edge lists of
  the copies for uL, of the root-to-root "columns" for vL, the diagonal pairs for vv);
  aggregations are ``index_select`` + ``index_add_``, the readout an ``index_add_`` over
  copies. Distances are the same tensor (both cached per dataset).

Both outputs are compared (same loss) before timing. For each batch size (32, 128, 512 graphs:
the first graphs of ZINC-12k's training split) the implementations take turns, one forward +
backward step each, ``--steps`` times after one warm-up; reported: median step time, the time
to build the bag, and the peak resident-memory increase during a step (RSS sampled every
2 ms by a thread, after returning freed memory to the OS with ``malloc_trim``). A step whose
projected memory exceeds what the machine has available is skipped and said so.

Usage::

    python benchmarks/subgraph.py --threads 1 --out benchmarks/results/subgraph-cpu.md
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.bench.report import machine_description
from gnnkit.data import GraphBatch, SubgraphBatch, pair_distances
from gnnkit.datasets import GraphDataset, read_zinc
from gnnkit.models import SWL

REPO = Path(__file__).resolve().parents[1]
ZINC = REPO / ".." / "shared" / "datasets" / "zinc-subset"
MAX_DISTANCE = 5


# ------------------------------------------------------------------ memory probe
def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _available() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


_LIBC = ctypes.CDLL("libc.so.6")


class PeakRSS:
    """Max RSS seen by a sampling thread while the context is open, minus the RSS at entry."""

    def __enter__(self) -> PeakRSS:
        _LIBC.malloc_trim(0)
        self.base = _rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *_: object) -> None:
        self.peak = max(self.peak, _rss())
        self._stop.set()
        self._thread.join()

    @property
    def delta(self) -> int:
        return self.peak - self.base


# ------------------------------------------------------------------ the straightforward bag
@dataclass
class CopiesBag:
    """The all-pairs bag as ``n`` explicit copies of every graph (index lists only)."""

    pair_node: Tensor       # (P,) node of each pair
    pair_copy: Tensor       # (P,) copy (= root) of each pair
    pair_graph: Tensor      # (P,) graph of each pair
    distance: Tensor        # (P,) int64
    ul_src: Tensor          # uL edges of the copies: (u, w) → (u, v) for every edge w → v
    ul_dst: Tensor
    ul_edge: Tensor
    vl_src: Tensor          # vL edges across copies: (w, v) → (u, v) for every edge w → u
    vl_dst: Tensor
    vl_edge: Tensor
    diag: Tensor            # (P,) the pair (v, v) of each pair (u, v)
    num_pairs: int
    num_copies: int
    num_graphs: int


def copies_bag(batch: GraphBatch, distances: Tensor) -> CopiesBag:
    """Build :class:`CopiesBag` graph by graph (the straightforward way)."""
    ptr = batch.ptr.tolist()
    source, target = batch.adj.col.long(), batch.adj.row.long()  # CSR order = edge_attr order
    edge_ptr = batch.adj.rowptr.long()
    parts: dict[str, list[Tensor]] = {k: [] for k in (
        "pair_node", "pair_copy", "pair_graph", "ul_src", "ul_dst", "ul_edge", "vl_src",
        "vl_dst", "vl_edge", "diag")}
    base = 0
    for g in range(batch.num_graphs):
        first, n = ptr[g], ptr[g + 1] - ptr[g]
        lo, hi = int(edge_ptr[first]), int(edge_ptr[first + n])  # the graph's CSR rows
        src, dst = source[lo:hi] - first, target[lo:hi] - first
        edges = torch.arange(lo, hi)
        local = torch.arange(n)
        copy = local.repeat_interleave(n)                       # u of pair (u, v)
        node = local.repeat(n)                                  # v
        parts["pair_node"].append(node + first)
        parts["pair_copy"].append(copy + first)
        parts["pair_graph"].append(torch.full((n * n,), g))
        parts["diag"].append(base + node * n + node)
        # copy u holds every edge w → v: (u, w) → (u, v)
        parts["ul_src"].append((base + local[:, None] * n + src[None, :]).reshape(-1))
        parts["ul_dst"].append((base + local[:, None] * n + dst[None, :]).reshape(-1))
        parts["ul_edge"].append(edges.repeat(n))
        # node v of every copy: (w, v) → (u, v) for every edge w → u
        parts["vl_src"].append((base + src[:, None] * n + local[None, :]).reshape(-1))
        parts["vl_dst"].append((base + dst[:, None] * n + local[None, :]).reshape(-1))
        parts["vl_edge"].append(edges.repeat_interleave(n))
        base += n * n
    cat = {k: torch.cat(v) if v else torch.zeros(0, dtype=torch.long) for k, v in parts.items()}
    return CopiesBag(distance=distances.long(), num_pairs=base, num_copies=batch.num_nodes,
                     num_graphs=batch.num_graphs, **cat)


def _messages(h: Tensor, src: Tensor, dst: Tensor, edge: Tensor, encoder: torch.nn.Module,
              edge_attr: Tensor) -> Tensor:
    message = F.relu(h[src] + encoder(edge_attr)[edge])
    return torch.zeros_like(h).index_add_(0, dst, message)


def copies_forward(model: SWL, bag: CopiesBag, batch: GraphBatch) -> Tensor:
    """:class:`gnnkit.models.SWL`'s forward (variant sswl+, uG readout, zinc encoders) on
    :class:`CopiesBag` with gather / index_add, reusing ``model``'s modules."""
    h = model.node_encoder(batch.x)[bag.pair_node] + model.distance_embedding(bag.distance)
    for layer in model.layers:
        total = torch.zeros(())
        for name, block in layer.blocks.items():
            if name == "uL":
                agg = _messages(h, bag.ul_src, bag.ul_dst, bag.ul_edge, block.edge_encoder,
                                batch.edge_attr)
            elif name == "vL":
                agg = _messages(h, bag.vl_src, bag.vl_dst, bag.vl_edge, block.edge_encoder,
                                batch.edge_attr)
            elif name == "vv":
                agg = h[bag.diag]
            else:
                raise ValueError(f"the straightforward model covers SSWL+, not {name}")
            total = total + block.mlp((1.0 + block.eps) * h + agg)
        h = F.relu(layer.norm(total))
    block = model.readout.blocks["uG"]
    pooled = torch.zeros(bag.num_copies, h.shape[1]).index_add_(0, bag.pair_copy, h)
    h = F.relu(model.readout.norm(block.mlp(pooled[bag.pair_copy])))
    sizes = torch.zeros(bag.num_graphs).index_add_(0, bag.pair_graph,
                                                   torch.ones(bag.num_pairs))
    graph = torch.zeros(bag.num_graphs, h.shape[1]).index_add_(0, bag.pair_graph, h)
    return model.head(graph / sizes.clamp(min=1)[:, None])


# ------------------------------------------------------------------ timing
def step(model: SWL, forward: callable, target: Tensor) -> float:  # type: ignore[valid-type]
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    loss = (forward().view(-1) - target).abs().mean()
    loss.backward()
    return time.perf_counter() - started


def measure(dataset: GraphDataset, model: SWL, size: int, steps: int,
            memory_per_pair: float | None) -> dict[str, object]:
    ids = torch.arange(size)
    batch = GraphBatch.from_dataset(dataset, ids)
    distances = pair_distances(dataset, MAX_DISTANCE)
    tick = time.perf_counter()
    bag = SubgraphBatch.all_pairs(batch, max_distance=MAX_DISTANCE, distances=distances.gather(ids))
    gnnkit_build = time.perf_counter() - tick
    tick = time.perf_counter()
    copies = copies_bag(batch, distances.gather(ids))
    copies_build = time.perf_counter() - tick
    row: dict[str, object] = {"graphs": size, "pairs": bag.num_pairs,
                              "local_nnz": bag.local.nnz,
                              "build_gnnkit_s": gnnkit_build, "build_copies_s": copies_build}
    available = _available()
    if memory_per_pair is not None and memory_per_pair * bag.num_pairs > 0.7 * available:
        row["skipped"] = (f"projected {memory_per_pair * bag.num_pairs / 2**30:.1f} GiB per step "
                          f"> 70% of the {available / 2**30:.1f} GiB available")
        return row
    target = batch.y.view(-1).float()
    model.train()
    with torch.no_grad():
        torch.manual_seed(0)
        a = model(bag)
        torch.manual_seed(0)
        b = copies_forward(model, copies, batch)
    row["max_abs_diff"] = float((a - b).abs().max())
    implementations = {"gnnkit": lambda: model(bag),
                       "copies": lambda: copies_forward(model, copies, batch)}
    times: dict[str, list[float]] = {k: [] for k in implementations}
    peaks: dict[str, int] = dict.fromkeys(implementations, 0)
    for r in range(steps + 1):
        for name, forward in implementations.items():
            with PeakRSS() as probe:
                seconds = step(model, forward, target)
            peaks[name] = max(peaks[name], probe.delta)
            if r:  # the first round warms up
                times[name].append(seconds)
    for name in implementations:
        row[f"{name}_step_s"] = statistics.median(times[name])
        row[f"{name}_peak_mib"] = peaks[name] / 2**20
    return row


def _machine() -> str:
    info = machine_description()
    return (f"{info.get('cpu')}, {info.get('logical_cores')} logical cores, torch "
            f"{info.get('torch')}, {info.get('platform')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--sizes", default="32,128,512")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    dataset = read_zinc(ZINC)
    torch.manual_seed(0)
    model = SWL(1, 96, 1, num_layers=6, variant="sswl+", max_distance=MAX_DISTANCE,
                node_encoder="zinc-atom", edge_encoder="zinc-bond", edge_channels=1)
    started = time.perf_counter()
    pair_distances(dataset, MAX_DISTANCE)
    distance_seconds = time.perf_counter() - started
    rows = []
    per_pair: float | None = None
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure(dataset, model, size, args.steps, per_pair)
        if "gnnkit_peak_mib" in row:
            peak = max(float(row["gnnkit_peak_mib"]), float(row["copies_peak_mib"]))  # type: ignore[arg-type]
            per_pair = peak * 2**20 / int(row["pairs"])  # type: ignore[call-overload]
        print(json.dumps(row), flush=True)
        rows.append(row)
    load_end = os.getloadavg()
    lines = [
        "# SSWL+ training step on ZINC batches: SubgraphBatch vs a straightforward bag",
        "",
        f"Machine: {_machine()}; {args.threads} torch thread(s). "
        "Load average (1/5/15 min) at start "
        f"{load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, at end "
        f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f}.",
        "",
        "Model: SSWL+ as in `sswlplus-zinc` (6 layers of uL + vL + vv, width 96, bond "
        "embeddings, distance clamp 5, uG readout); one step = forward + L1 loss + backward "
        f"(no optimiser). Median of {args.steps} steps after one warm-up, implementations "
        "alternating. Pair distances of all 12k ZINC graphs: "
        f"{distance_seconds:.1f} s once (cached, gathered per batch by both).",
        "",
        "| graphs | pairs P | uL entries | bag build gnnkit (s) | bag build copies (s) | "
        "step gnnkit (s) | step copies (s) | copies / gnnkit | peak Δ RSS gnnkit (MiB) | "
        "peak Δ RSS copies (MiB) | max abs diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['graphs']} | {row['pairs']} | {row['local_nnz']} | "
                         f"{row['build_gnnkit_s']:.3f} | {row['build_copies_s']:.3f} | "
                         f"skipped: {row['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {row['graphs']} | {row['pairs']} | {row['local_nnz']} | "
            f"{row['build_gnnkit_s']:.3f} | {row['build_copies_s']:.3f} | "
            f"{row['gnnkit_step_s']:.2f} | {row['copies_step_s']:.2f} | "
            f"{row['copies_step_s'] / row['gnnkit_step_s']:.2f} | "  # type: ignore[operator]
            f"{row['gnnkit_peak_mib']:.0f} | {row['copies_peak_mib']:.0f} | "
            f"{row['max_abs_diff']:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
