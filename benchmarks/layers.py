"""Training-step time of 2-layer GCN and GAT, gnnkit vs PyG, in the same process.

Graphs: a random graph (100k nodes, 1M directed edges, uniform endpoints) and ogbl-ddi's
training graph (4,267 nodes; the 1,067,911 undirected edges of ``raw/edge.csv.gz`` stored in
both directions = 2,135,822 entries). Features are random ``(N, 64)``, labels random over 16
classes; one step = forward, cross-entropy over all nodes, backward, Adam update.

Models (identical weights in both libraries, checked by comparing the first loss):

* GCN: dropout 0.5 → GCNConv(64, 64) → ReLU → dropout → GCNConv(64, 16); normalisation cached
  in both (``cached=True``). PyG is measured on its default ``edge_index`` path and on a
  ``torch.sparse_csr`` ``adj_t`` (its fastest path without extra packages).
* GAT: dropout 0.6 → GATConv(64, 8, heads=8) → ELU → dropout → GATConv(64, 16, heads=1);
  attention dropout 0.6. PyG on ``edge_index``.

gnnkit gets its ``SparseMatrix`` built (and CSC cached) before timing, PyG its ``edge_index``
or ``adj_t`` — each library's intended full-graph training setup. The implementations take
turns step by step (so load changes on a shared machine hit all alike). Reported: median of
``--steps`` timed steps after ``--warmup`` untimed ones, and the ratio PyG / gnnkit.

Usage::

    python benchmarks/layers.py --threads 1 --out benchmarks/results/layers-cpu.md
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from gnnkit.bench.report import machine_description
from gnnkit.models import GAT, GCN
from gnnkit.sparse import SparseMatrix

REPO = Path(__file__).resolve().parents[1]
DDI_EDGES = REPO / ".." / "shared" / "datasets" / "ogbl-ddi" / "raw" / "edge.csv.gz"
FEATURES, HIDDEN, CLASSES = 64, 64, 16


def random_graph(num_nodes: int, num_edges: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, num_nodes, (2, num_edges), generator=g)


def ddi_graph(path: Path) -> tuple[Tensor, int]:
    with gzip.open(path, "rt") as handle:
        edges = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    edge_index = torch.from_numpy(edges.T.copy())
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    return both, int(both.max()) + 1


class PygGCN(torch.nn.Module):
    """The same architecture as :class:`gnnkit.models.GCN`, on PyG layers."""

    def __init__(self, convs: list[torch.nn.Module], dropout: float) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(convs)
        self.dropout = dropout

    def forward(self, x: Tensor, graph: object) -> Tensor:
        for k, conv in enumerate(self.convs):
            x = conv(F.dropout(x, self.dropout, self.training), graph)
            if k < len(self.convs) - 1:
                x = F.relu(x)
        return x


class PygGAT(torch.nn.Module):
    """The same architecture as :class:`gnnkit.models.GAT`, on PyG layers."""

    def __init__(self, conv1: torch.nn.Module, conv2: torch.nn.Module, dropout: float) -> None:
        super().__init__()
        self.conv1, self.conv2, self.dropout = conv1, conv2, dropout

    def forward(self, x: Tensor, graph: object) -> Tensor:
        x = F.elu(self.conv1(F.dropout(x, self.dropout, self.training), graph))
        return self.conv2(F.dropout(x, self.dropout, self.training), graph)


def build_models(kind: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    import torch_geometric.nn as pyg

    torch.manual_seed(0)
    if kind == "gcn":
        theirs: torch.nn.Module = PygGCN([pyg.GCNConv(FEATURES, HIDDEN, cached=True),
                                          pyg.GCNConv(HIDDEN, CLASSES, cached=True)], 0.5)
        ours: torch.nn.Module = GCN(FEATURES, HIDDEN, CLASSES, dropout=0.5, cached=True)
    else:
        theirs = PygGAT(pyg.GATConv(FEATURES, 8, heads=8, dropout=0.6),
                        pyg.GATConv(64, CLASSES, heads=1, concat=False, dropout=0.6), 0.6)
        ours = GAT(FEATURES, 8, CLASSES, heads=8, output_heads=1, dropout=0.6,
                   attention_dropout=0.6)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def first_loss(model: torch.nn.Module, x: Tensor, graph: object, y: Tensor) -> float:
    """Eval-mode loss before training (the same weights must give the same loss)."""
    model.eval()
    with torch.no_grad():
        loss = float(F.cross_entropy(model(x, graph), y))
    model.train()
    return loss


def interleaved_steps(variants: list[tuple[str, torch.nn.Module, object]], x: Tensor, y: Tensor,
                      *, steps: int, warmup: int, budget_s: float) -> dict[str, list[float]]:
    """Per-step wall times (s) of each variant, taking turns step by step so that a change
    of machine load hits every implementation alike."""
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=0.01)
                  for name, model, _ in variants}
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    started = time.perf_counter()
    for k in range(warmup + steps):
        for name, model, graph in variants:
            begin = time.perf_counter()
            optimizers[name].zero_grad(set_to_none=True)
            F.cross_entropy(model(x, graph), y).backward()
            optimizers[name].step()
            if k >= warmup:
                times[name].append(time.perf_counter() - begin)
        if k >= warmup + 1 and time.perf_counter() - started > budget_s:
            break
    return times


def run(graph_name: str, edge_index: Tensor, num_nodes: int, kinds: list[str], steps: int,
        warmup: int, budget_s: float, log: Callable[[str], None]) -> list[dict]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(num_nodes, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (num_nodes,), generator=g)
    matrix = SparseMatrix.from_edge_index(edge_index, shape=num_nodes)
    matrix.csc()
    adj_t = matrix.to_torch_sparse(torch.sparse_csr)  # row = target: PyG's adj_t
    rows = []
    for kind in kinds:
        ours, theirs = build_models(kind)
        variants: list[tuple[str, torch.nn.Module, object]] = [
            ("gnnkit", ours, matrix), ("pyg edge_index", theirs, edge_index)]
        if kind == "gcn":
            _, theirs_csr = build_models(kind)
            variants.append(("pyg adj_t (torch CSR)", theirs_csr, adj_t))
        losses = {name: first_loss(model, x, graph, y) for name, model, graph in variants}
        times = interleaved_steps(variants, x, y, steps=steps, warmup=warmup, budget_s=budget_s)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, _, _ in variants:
            log(f"{graph_name} {kind} {name}: median {1000 * medians[name]:.1f} ms over "
                f"{len(times[name])} steps (first loss {losses[name]:.6f})")
            rows.append({"graph": graph_name, "model": kind, "implementation": name,
                         "nodes": num_nodes, "edges": int(edge_index.shape[1]),
                         "median_step_ms": 1000 * medians[name], "steps": len(times[name]),
                         "step_ms": [1000 * t for t in times[name]],
                         "first_loss": losses[name],
                         "loss_matches_gnnkit": abs(losses[name] - losses["gnnkit"]) < 1e-4,
                         "ratio_vs_gnnkit": medians[name] / medians["gnnkit"]})
    return rows


def markdown(rows: list[dict], machine: dict, load_before: list[float] | None,
             load_after: list[float] | None, args: argparse.Namespace) -> str:
    lines = ["# Layer training-step time: gnnkit vs PyG (CPU)", "",
             "Generated by `python benchmarks/layers.py` "
             f"(`--threads {args.threads} --steps {args.steps} --warmup {args.warmup}`).", "",
             "One step = forward, cross-entropy over all nodes, backward, Adam update; "
             "64 input features, 16 classes; median over the timed steps, the implementations "
             "taking turns step by step. "
             "ratio = PyG time / gnnkit time (> 1: gnnkit faster). Same weights in both "
             "libraries: the first (eval-mode) losses agree to 1e-4 where marked ✓.", "",
             "## Machine", ""]
    lines += [f"- **{key}**: {value}" for key, value in machine.items()]
    lines += [f"- **load average before / after**: {load_before} / {load_after} "
              "(the machine is shared; other jobs were running)", "",
              "## Results", "",
              "| graph | nodes | edges | model | implementation | median step | ratio PyG/gnnkit "
              "| same loss |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "—" if r["implementation"] == "gnnkit" else f"{r['ratio_vs_gnnkit']:.2f}×"
        lines.append(f"| {r['graph']} | {r['nodes']:,} | {r['edges']:,} | {r['model']} | "
                     f"{r['implementation']} | {r['median_step_ms']:.1f} ms ({r['steps']}) | "
                     f"{ratio} | {'✓' if r['loss_matches_gnnkit'] else '✗'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", default="random,ddi", help="random, ddi (comma list)")
    parser.add_argument("--models", default="gcn,gat", help="gcn, gat (comma list)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of timed steps per measurement (at least 2 steps)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--random-nodes", type=int, default=100_000)
    parser.add_argument("--random-edges", type=int, default=1_000_000)
    parser.add_argument("--ddi", type=Path, default=DDI_EDGES)
    parser.add_argument("--out", type=Path, default=None, help="Markdown report")
    parser.add_argument("--json", type=Path, default=None, help="JSON rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_before = [round(v, 2) for v in os.getloadavg()]
    kinds = [k for k in args.models.split(",") if k]
    rows: list[dict] = []
    for name in [g for g in args.graphs.split(",") if g]:
        if name == "random":
            edge_index = random_graph(args.random_nodes, args.random_edges)
            rows += run(f"random {args.random_nodes:,}/{args.random_edges:,}", edge_index,
                        args.random_nodes, kinds, args.steps, args.warmup, args.budget, log)
        elif name == "ddi":
            edge_index, num_nodes = ddi_graph(args.ddi)
            rows += run("ogbl-ddi", edge_index, num_nodes, kinds, args.steps, args.warmup,
                        args.budget, log)
        else:
            parser.error(f"unknown graph {name!r}")
    load_after = [round(v, 2) for v in os.getloadavg()]
    machine = machine_description("cpu")
    report = markdown(rows, machine, load_before, load_after, args)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
