"""Epoch time of data-parallel GraphSAGE on Cora: 1 vs 2 processes, 1 thread each.

Model: GraphSAGE-mean (2 layers, 256 hidden, dropout 0.5, Adam lr 0.01), fanouts 25/10
(Hamilton et al. 2017). Seeds: every Cora node outside the public validation and test sets
(1208 nodes; the public split's 140 would make an epoch of one or two steps), global batch
``--batch-size`` (each of ``W`` ranks takes ``batch-size / W``), so both runs make the same
number of optimisation steps per epoch over the same seeds.

Runs, each through :func:`gnnkit.train.distributed.fit_distributed` (spawned processes, gloo
on 127.0.0.1, ``threads=1`` per rank; the 1-process run also goes through DDP, so the ratio
is that of adding a rank):

* ``W = 1`` and ``W = 2``, ``--epochs`` epochs each; an epoch's time is rank 0's
  ``train_seconds`` (sampling, forward, backward with the gradient all-reduce, Adam step —
  not the full-batch evaluation), and the reported number is the median over epochs 2…E
  (epoch 1 warms up).
* For reference, the same loop in this process without ``torch.distributed``
  (:func:`gnnkit.train.distributed.fit_rank` alone, which is ``fit_sampled``).

Also measured, to explain the ratio: the mean number of sampled nodes per batch for the
global and the per-rank batch size (the work of a step grows with it), and the median time of
one gloo all-reduce of the model's gradient (2 ranks, 127.0.0.1) — the communication DDP adds
per step.

Usage::

    python benchmarks/distributed.py --out benchmarks/results/distributed-cpu.md

The machine has few cores and may be shared: the load average before and after is recorded,
and the ratio is only indicative when other jobs run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from gnnkit.bench.report import machine_description
from gnnkit.data.loader import NeighborLoader
from gnnkit.datasets import read_planetoid
from gnnkit.models.sage import SAGE
from gnnkit.sparse import SparseMatrix
from gnnkit.train.distributed import fit_distributed, fit_rank, free_port

DEFAULT_ROOT = Path("/work/shared/datasets/planetoid-cora")


def epoch_seconds(history: list[dict[str, float]]) -> float:
    times = [entry["train_seconds"] for entry in history]
    return statistics.median(times[1:] if len(times) > 1 else times)


def _allreduce_worker(rank: int, port: int, numel: int, out: str) -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2, timeout=timedelta(seconds=60))
    tensor = torch.randn(numel)
    times = []
    for _ in range(30):
        dist.barrier()
        tick = time.perf_counter()
        dist.all_reduce(tensor)
        times.append(time.perf_counter() - tick)
    if rank == 0:
        Path(out).write_text(str(statistics.median(times)))
    dist.destroy_process_group()


def allreduce_seconds(numel: int) -> float:
    """Median time of an all-reduce of ``numel`` float32 over 2 gloo ranks on 127.0.0.1."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "seconds")
        method = "fork" if "fork" in torch.multiprocessing.get_all_start_methods() else "spawn"
        torch.multiprocessing.start_processes(_allreduce_worker,
                                              args=(free_port(), numel, out), nprocs=2,
                                              start_method=method)
        return float(Path(out).read_text())


def sampled_nodes(A: SparseMatrix, seeds: torch.Tensor, fanouts: list[int],
                  batch_size: int) -> float:
    """Mean sampled nodes per full batch of one shuffled epoch."""
    loader = NeighborLoader(A, seeds, fanouts, batch_size=batch_size, shuffle=True, seed=0,
                            drop_last=True)
    return statistics.fmean(batch.num_nodes for batch in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--fanouts", default="25,10")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per configuration, alternating 1 and 2 processes")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fanouts = [int(f) for f in args.fanouts.split(",")]
    load_start = [round(v, 2) for v in os.getloadavg()]

    data = read_planetoid(args.root, "cora")
    x = data.x
    A = SparseMatrix.from_edge_index(data.edge_index, shape=x.shape[0])
    val, test = data.val_mask, data.test_mask
    train = ~(val | test)
    num_classes = data.num_classes
    common = {"fanouts": fanouts, "batch_size": args.batch_size, "seed": 0, "lr": 0.01,
              "epochs": args.epochs}

    def model() -> SAGE:
        torch.manual_seed(0)
        return SAGE(x.shape[1], 256, num_classes, dropout=0.5)

    runs: dict[str, list[float]] = {"in-process": [], "1 process": [], "2 processes": []}
    accuracy: dict[str, list[float]] = {key: [] for key in runs}
    for repeat in range(args.repeats):
        result = fit_rank(model(), x, A, data.y, train, val, test, **common)
        runs["in-process"].append(epoch_seconds(result.history))
        accuracy["in-process"].append(result.history[-1]["val_acc"])
        order = (1, 2) if repeat % 2 == 0 else (2, 1)
        for world_size in order:
            key = "1 process" if world_size == 1 else f"{world_size} processes"
            result = fit_distributed(world_size, model(), x, A, data.y, train, val, test,
                                     threads=1, **common)
            runs[key].append(epoch_seconds(result.history))
            accuracy[key].append(result.history[-1]["val_acc"])
            print(f"{key}: {runs[key][-1] * 1e3:.0f} ms per epoch", flush=True)
    load_end = [round(v, 2) for v in os.getloadavg()]

    num_params = sum(p.numel() for p in model().parameters())
    gradient_ms = allreduce_seconds(num_params) * 1e3
    seeds = train.nonzero().flatten()
    nodes_global = sampled_nodes(A, seeds, fanouts, args.batch_size)
    nodes_rank = sampled_nodes(A, seeds, fanouts, args.batch_size // 2)
    median = {key: statistics.median(values) for key, values in runs.items()}
    ratio = median["1 process"] / median["2 processes"]
    steps = -(-int(train.sum()) // args.batch_size)
    machine = machine_description()
    lines = [
        "# Data-parallel GraphSAGE on Cora: 1 vs 2 processes (CPU)",
        "",
        f"GraphSAGE-mean 2×256, fanouts {args.fanouts}, Adam, {int(train.sum())} seeds "
        f"(Cora outside the public val/test sets), global batch {args.batch_size} "
        f"(≈{steps} steps per epoch, each of W ranks taking {args.batch_size} / W seeds), "
        "gloo on 127.0.0.1, 1 torch thread per rank. Time per epoch = rank 0's training "
        f"time (no evaluation), median over epochs 2–{args.epochs}, then median over "
        f"{args.repeats} runs.",
        "",
        "| run | ms per epoch | per run | val acc after the last epoch |",
        "|---|---|---|---|",
    ]
    for key, values in runs.items():
        lines.append(f"| {key} | {median[key] * 1e3:.0f} | "
                     f"{', '.join(f'{v * 1e3:.0f}' for v in values)} | "
                     f"{', '.join(f'{a:.3f}' for a in accuracy[key])} |")
    lines += [
        "",
        f"**Speed-up of 2 processes over 1 (both through DDP): {ratio:.2f}×.**",
        "",
        f"- sampled nodes per batch: {nodes_global:.0f} for {args.batch_size} seeds (1 "
        f"process), {nodes_rank:.0f} for {args.batch_size // 2} seeds (each of 2 ranks): "
        f"{nodes_rank / nodes_global:.0%} of the work of a step, not 50 %",
        f"- one gloo all-reduce of the gradient ({num_params:,} float32, 2 ranks, "
        f"127.0.0.1): {gradient_ms:.1f} ms, about {gradient_ms * steps:.0f} ms per epoch",
        "- the machine has 2 logical cores shared with other jobs (load average below): the "
        "ratio is indicative, not the speed-up on dedicated cores",
        "",
        f"- **machine**: {json.dumps(machine)}",
        f"- **load average before / after**: {load_start} / {load_end} "
        f"(on {os.cpu_count()} logical CPUs)",
        f"- **command**: `python benchmarks/distributed.py --batch-size {args.batch_size} "
        f"--epochs {args.epochs} --fanouts {args.fanouts} --repeats {args.repeats}`",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out is not None:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
