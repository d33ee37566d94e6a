"""LightGCN on Gowalla: gnnkit against the straightforward ``torch.sparse`` implementation
(LightGCN-PyTorch's approach), in the same run — training-step time, evaluation time, peak
memory.

Implementations (identical layer-0 tables, identical BPR triples; the first loss of both is
compared before timing):

* **gnnkit** — :class:`gnnkit.nn.recsys.LightGCN`: per layer one bipartite ``LGConv`` (two
  ``spmm`` on the ``U × I`` interaction matrix, normalised pair cached), loss
  :meth:`~gnnkit.nn.recsys.BPRRecommender.bpr_objective`; evaluation
  :func:`gnnkit.train.recommendation.evaluate` (propagate once, ``(1024, I)`` score blocks,
  training items removed inside :func:`gnnkit.metrics.ranking_metrics_at_k`).
* **torch.sparse** — LightGCN-PyTorch's ``model.LightGCN``: the ``(U+I) × (U+I)`` normalised
  adjacency ``D^{-1/2} [[0, R], [Rᵀ, 0]] D^{-1/2}`` as a coalesced sparse COO tensor,
  ``torch.sparse.mm`` per layer on the concatenated table, the layer mean, the same BPR loss
  and L2 term; evaluation as its ``Procedure.Test``: batches of 100 users
  (``--testbatch``), ``sigmoid(E_u E_Iᵀ)``, training items set to ``-1024``,
  ``torch.topk(20)``, hits counted per user in Python/NumPy (``getLabel``, ``RecallPrecision_ATk``,
  ``NDCGatK_r``). One difference in its favour: the official ``getUsersRating`` propagates
  the whole graph again for *every* test batch; here it propagates once (the report gives the
  forward time, from which the official cost follows).

One training step = the full-graph propagation, BPR + λ·L2 on a batch of 2048 triples
(LightGCN's ``uniform-user`` sampler, drawn once before timing), backward, Adam. The two
implementations take turns step by step (load changes on a shared machine hit both alike);
reported: median and mean of ``--steps`` timed steps after ``--warmup`` untimed ones.

Peak memory: each implementation runs again in a forked child process (the data already
loaded), which resets its peak resident set (``/proc/self/clear_refs``) and reports the growth
of ``VmHWM`` over its starting ``VmRSS`` for (a) graph preprocessing + ``--memory-steps``
training steps and (b) one full evaluation.

Usage::

    python benchmarks/recsys.py --threads 1 --out benchmarks/results/recsys-speed-cpu.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gnnkit.bench.report import machine_description
from gnnkit.datasets import read_lightgcn
from gnnkit.nn.recsys import BPRSampler, LightGCN, bpr_l2_penalty, interaction_matrix
from gnnkit.train.recommendation import evaluate

REPO = Path(__file__).resolve().parents[1]
GOWALLA = REPO / ".." / "shared" / "datasets" / "lightgcn-gowalla"
DIM, LAYERS, BATCH, DECAY, LR, K = 64, 3, 2048, 1e-4, 1e-3, 20


# ----------------------------------------------------------------------------- baseline
def normalized_block_adjacency(train: Tensor, num_users: int, num_items: int) -> Tensor:
    """LightGCN-PyTorch's ``getSparseGraph``: ``D^{-1/2} A D^{-1/2}`` of the block adjacency,
    a coalesced ``torch.sparse_coo`` tensor of shape ``(U+I, U+I)``."""
    pairs = torch.unique(train[0] * num_items + train[1])
    users, items = pairs // num_items, pairs % num_items + num_users
    row = torch.cat([users, items])
    col = torch.cat([items, users])
    n = num_users + num_items
    degree = torch.bincount(row, minlength=n).float()
    d_inv = degree.pow(-0.5)
    d_inv[torch.isinf(d_inv)] = 0.0
    values = d_inv[row] * d_inv[col]
    return torch.sparse_coo_tensor(torch.stack([row, col]), values, (n, n)).coalesce()


class TorchSparseLightGCN(torch.nn.Module):
    """LightGCN-PyTorch's ``model.LightGCN`` (``dropout = 0``, no ``A_split``)."""

    def __init__(self, num_users: int, num_items: int, graph: Tensor) -> None:
        super().__init__()
        self.num_users, self.num_items, self.graph = num_users, num_items, graph
        self.embedding_user = torch.nn.Embedding(num_users, DIM)
        self.embedding_item = torch.nn.Embedding(num_items, DIM)

    def computer(self) -> tuple[Tensor, Tensor]:
        all_emb = torch.cat([self.embedding_user.weight, self.embedding_item.weight])
        embs = [all_emb]
        for _ in range(LAYERS):
            all_emb = torch.sparse.mm(self.graph, all_emb)
            embs.append(all_emb)
        light_out = torch.stack(embs, dim=1).mean(dim=1)
        return light_out[:self.num_users], light_out[self.num_users:]

    def bpr_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
        all_users, all_items = self.computer()
        users_emb, pos_emb, neg_emb = all_users[users], all_items[pos], all_items[neg]
        reg = bpr_l2_penalty(self.embedding_user(users), self.embedding_item(pos),
                             self.embedding_item(neg))
        pos_scores = (users_emb * pos_emb).sum(dim=1)
        neg_scores = (users_emb * neg_emb).sum(dim=1)
        return F.softplus(neg_scores - pos_scores).mean(), reg


def official_test(model: TorchSparseLightGCN, train: Tensor, test: Tensor,
                  batch_size: int = 100) -> dict[str, float]:
    """LightGCN-PyTorch's ``Procedure.Test`` (K = 20), propagating once."""
    num_users = model.num_users
    train_items: list[list[int]] = [[] for _ in range(num_users)]
    for u, i in train.t().tolist():
        train_items[u].append(i)
    truth: list[list[int]] = [[] for _ in range(num_users)]
    for u, i in test.t().tolist():
        truth[u].append(i)
    users = [u for u in range(num_users) if truth[u]]
    recall = precision = ndcg = 0.0
    with torch.no_grad():
        all_users, all_items = model.computer()
        for start in range(0, len(users), batch_size):
            batch = users[start:start + batch_size]
            rating = torch.sigmoid(all_users[torch.tensor(batch)] @ all_items.t())
            rows = [k for k, u in enumerate(batch) for _ in train_items[u]]
            cols = [i for u in batch for i in train_items[u]]
            rating[rows, cols] = -(1 << 10)
            top = torch.topk(rating, k=K).indices.numpy()
            ground = [truth[u] for u in batch]
            hits = np.array([[item in set(g) for item in row] for g, row in zip(ground, top,
                                                                                 strict=True)],
                            dtype=float)
            right = hits.sum(1)
            recall += float(np.sum(right / np.array([len(g) for g in ground])))
            precision += float(np.sum(right) / K)
            ideal = np.zeros_like(hits)
            for k, g in enumerate(ground):
                ideal[k, :min(K, len(g))] = 1
            discount = 1.0 / np.log2(np.arange(2, K + 2))
            idcg = (ideal * discount).sum(1)
            dcg = (hits * discount).sum(1)
            idcg[idcg == 0.0] = 1.0
            ndcg += float(np.sum(dcg / idcg))
    n = len(users)
    return {"recall@20": recall / n, "precision@20": precision / n, "ndcg@20": ndcg / n}


# ----------------------------------------------------------------------------- harness
def build(name: str, data: dict, seed: int) -> tuple[torch.nn.Module, Callable, Callable,
                                                     Callable]:
    """``(model, step_loss(users, pos, neg), forward(), evaluate(batch_size))`` of one
    implementation, tables initialised from ``seed`` (the same for both)."""
    U, I, train, test = data["U"], data["I"], data["train"], data["test"]
    torch.manual_seed(seed)
    tables = (torch.randn(U, DIM) * 0.1, torch.randn(I, DIM) * 0.1)
    if name == "gnnkit":
        graph = interaction_matrix(train, U, I)
        model = LightGCN(U, I, DIM, LAYERS)
        with torch.no_grad():
            model.user_embedding.weight.copy_(tables[0])
            model.item_embedding.weight.copy_(tables[1])

        def loss(users: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
            return model.bpr_objective(users, pos, neg, graph)

        def evaluation(batch_size: int = 1024) -> dict[str, float]:
            out = evaluate(model, graph, test, num_users=U, num_items=I, exclude=train, ks=K,
                           batch_size=batch_size)
            return {key: out[key] for key in ("recall@20", "precision@20", "ndcg@20")}

        return model, loss, lambda: model(graph), evaluation
    model_t = TorchSparseLightGCN(U, I, normalized_block_adjacency(train, U, I))
    with torch.no_grad():
        model_t.embedding_user.weight.copy_(tables[0])
        model_t.embedding_item.weight.copy_(tables[1])
    return (model_t, model_t.bpr_loss, model_t.computer,
            lambda batch_size=100: official_test(model_t, train, test, batch_size))


def step(model: torch.nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer,
         triple: tuple[Tensor, Tensor, Tensor]) -> float:
    optimizer.zero_grad(set_to_none=True)
    bpr, reg = loss_fn(*triple)
    loss = bpr + DECAY * reg
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _memory_child(name: str, data: dict, triples: list, steps: int, threads: int,
                  eval_batch: int, conn: object) -> None:
    torch.set_num_threads(threads)
    _reset_peak()
    start = _status_kb("VmRSS")
    model, loss_fn, _, evaluation = build(name, data, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for triple in triples[:steps]:
        step(model, loss_fn, optimizer, triple)
    train_peak = _status_kb("VmHWM") - start
    _reset_peak()
    before_eval = _status_kb("VmRSS")
    model.eval()
    evaluation(eval_batch)
    eval_peak = _status_kb("VmHWM") - before_eval
    conn.send({"train_peak_mb": train_peak / 1024, "eval_peak_mb": eval_peak / 1024})  # type: ignore[attr-defined]


def measure_memory(name: str, data: dict, triples: list, steps: int, threads: int,
                   eval_batch: int) -> dict:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_memory_child,
                          args=(name, data, triples, steps, threads, eval_batch, child))
    process.start()
    result = parent.recv()
    process.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=GOWALLA)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_before = [round(v, 2) for v in os.getloadavg()]
    data_set = read_lightgcn(args.data, "gowalla")
    data = {"U": data_set.num_users, "I": data_set.num_items, "train": data_set.train,
            "test": data_set.test}
    sampler = BPRSampler(data["train"], data["U"], data["I"], scheme="uniform-user")
    epoch = sampler.sample(torch.Generator().manual_seed(0))
    batches = epoch.batches(BATCH)
    triples = [tuple(t) for t in batches[:args.warmup + args.steps]]
    log(f"Gowalla: {data['U']} users, {data['I']} items, {data['train'].shape[1]} train pairs; "
        f"{len(batches)} steps per epoch")

    names = ["gnnkit", "torch.sparse"]
    setups, builds = {}, {}
    for name in names:
        tick = time.perf_counter()
        setups[name] = build(name, data, seed=0)
        builds[name] = time.perf_counter() - tick
    optimizers = {n: torch.optim.Adam(setups[n][0].parameters(), lr=LR) for n in names}
    first = {n: step(setups[n][0], setups[n][1], optimizers[n], triples[0]) for n in names}
    log(f"first loss: {first}")
    if abs(first["gnnkit"] - first["torch.sparse"]) > 1e-4 * abs(first["gnnkit"]):
        raise SystemExit(f"the implementations disagree on the first loss: {first}")
    times: dict[str, list[float]] = {n: [] for n in names}
    for k, triple in enumerate(triples[1:], start=1):
        for name in (names if k % 2 else names[::-1]):
            model, loss_fn = setups[name][0], setups[name][1]
            model.train()
            tick = time.perf_counter()
            step(model, loss_fn, optimizers[name], triple)
            if k > args.warmup - 1:
                times[name].append(time.perf_counter() - tick)
        log(f"step {k}: " + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names if times[n]))
    forward: dict[str, float] = {}
    for name in names:
        model, _, fwd, _ = setups[name]
        model.eval()
        with torch.no_grad():
            fwd()
            tick = time.perf_counter()
            for _ in range(3):
                fwd()
            forward[name] = (time.perf_counter() - tick) / 3
    # evaluation variants (implementation, users per score block), timed twice each in
    # alternating order: gnnkit at its default and at the official block of 100 users
    variants = [("gnnkit", 1024), ("torch.sparse", 100), ("gnnkit", 100)]
    eval_times: dict[tuple[str, int], list[float]] = {v: [] for v in variants}
    eval_metrics: dict[tuple[str, int], dict[str, float]] = {}
    for order in (variants, variants[::-1]):
        for name, size in order:
            setups[name][0].eval()
            tick = time.perf_counter()
            eval_metrics[(name, size)] = setups[name][3](size)
            eval_times[(name, size)].append(time.perf_counter() - tick)
            log(f"{name} evaluation (blocks of {size}): {eval_times[(name, size)][-1]:.1f}s "
                f"{eval_metrics[(name, size)]}")
    memory = {variant: measure_memory(variant[0], data, triples, args.memory_steps,
                                      args.threads, variant[1]) for variant in variants}
    log(f"memory: {memory}")
    load_after = [round(v, 2) for v in os.getloadavg()]
    steps_per_epoch = len(batches)
    test_batches = -(-int(torch.unique(data["test"][0]).numel()) // 100)
    rows = []
    for name in names:
        median, mean = statistics.median(times[name]), statistics.fmean(times[name])
        size = 1024 if name == "gnnkit" else 100
        rows.append({
            "implementation": name, "setup_s": builds[name], "step_median_s": median,
            "step_mean_s": mean, "step_min_s": min(times[name]),
            "epoch_projected_s": median * steps_per_epoch, "forward_s": forward[name],
            "eval_block": size, "eval_s": statistics.fmean(eval_times[(name, size)]),
            "eval_runs_s": eval_times[(name, size)], **eval_metrics[(name, size)],
            **memory[(name, size)],
        })
    rows.append({"implementation": "gnnkit (evaluation in blocks of 100 users)",
                 "eval_block": 100, "eval_s": statistics.fmean(eval_times[("gnnkit", 100)]),
                 "eval_runs_s": eval_times[("gnnkit", 100)], **eval_metrics[("gnnkit", 100)],
                 **memory[("gnnkit", 100)]})
    machine = machine_description("cpu")
    report = markdown(rows, machine, load_before, load_after, args, steps_per_epoch,
                      test_batches, first)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


def markdown(rows: list[dict], machine: dict, load_before: list[float],
             load_after: list[float], args: argparse.Namespace, steps_per_epoch: int,
             test_batches: int, first: dict[str, float]) -> str:
    g, t, g100 = rows
    lines = [
        "# LightGCN on Gowalla: gnnkit vs torch.sparse (CPU)", "",
        "Produced by `benchmarks/recsys.py` (its docstring describes both implementations). "
        f"Gowalla: 29 858 users, 40 981 items, 810 128 training pairs; d = {DIM}, "
        f"K = {LAYERS} layers, batch {BATCH} (uniform-user triples, seed 0), Adam lr {LR}, "
        f"λ {DECAY}. Training time: median (mean, min) of {args.steps} steps per "
        f"implementation after {args.warmup} warm-up steps, the two taking turns step by "
        f"step; an epoch is {steps_per_epoch} steps. First loss: gnnkit "
        f"{first['gnnkit']:.6f}, torch.sparse {first['torch.sparse']:.6f} (same tables, "
        "same triples).", "",
        "| | gnnkit | torch.sparse | torch.sparse / gnnkit |",
        "| --- | --- | --- | --- |",
    ]

    def row(label: str, key: str, fmt: str, ratio: bool = True) -> None:
        ratio_text = f"{t[key] / g[key]:.2f}×" if ratio and g[key] else ""
        lines.append(f"| {label} | {format(g[key], fmt)} | {format(t[key], fmt)} | "
                     f"{ratio_text} |")

    row("training step, median (s)", "step_median_s", ".3f")
    row("training step, mean (s)", "step_mean_s", ".3f")
    row("training step, min (s)", "step_min_s", ".3f")
    row("epoch, projected from the median (s)", "epoch_projected_s", ".0f")
    row("forward propagation, no grad (s)", "forward_s", ".3f")
    row("graph preprocessing (s)", "setup_s", ".2f")
    row("full-ranking evaluation, mean of 2 (s)", "eval_s", ".1f")
    row(f"peak RSS growth, preprocessing + {args.memory_steps} steps (MB)", "train_peak_mb",
        ".0f")
    row("peak RSS growth, evaluation (MB)", "eval_peak_mb", ".0f")
    lines.append(f"| gnnkit evaluation in blocks of 100 users (as torch.sparse): time (s), "
                 f"peak RSS growth (MB) | {g100['eval_s']:.1f}, {g100['eval_peak_mb']:.0f} | "
                 f"{t['eval_s']:.1f}, {t['eval_peak_mb']:.0f} | "
                 f"{t['eval_s'] / g100['eval_s']:.2f}× |")
    for key in ("recall@20", "ndcg@20", "precision@20"):
        lines.append(f"| {key} after the timed steps | {g[key]:.4f} | {t[key]:.4f} | |")
    lines += [
        "",
        f"Evaluation: gnnkit scores blocks of {g['eval_block']} users (its default), the "
        f"torch.sparse code blocks of {t['eval_block']} (LightGCN-PyTorch's `--testbatch`); "
        "each variant ran twice, in alternating order (times: "
        f"gnnkit {', '.join(f'{v:.1f}' for v in g['eval_runs_s'])} s; torch.sparse "
        f"{', '.join(f'{v:.1f}' for v in t['eval_runs_s'])} s; gnnkit in blocks of 100 "
        f"{', '.join(f'{v:.1f}' for v in g100['eval_runs_s'])} s). Peak memory: one forked "
        "child per variant; the growth includes ~70 MB of library pages touched on first use "
        "(the same for every variant: measured on a 300-user dataset).",
        "",
        "The evaluations rank the same final embeddings up to float rounding (the two models "
        "took the same steps); small metric differences come from ties (the official "
        "`sigmoid` saturates in float32 and `topk` breaks ties arbitrarily; gnnkit ranks raw "
        "scores and breaks ties by item id). The torch.sparse evaluation above propagates "
        f"once; LightGCN-PyTorch's `getUsersRating` propagates for each of its {test_batches} "
        "test batches of 100 users, which would add about "
        f"{test_batches * t['forward_s']:.0f} s ({test_batches} × the forward time).", "",
        "## Machine", "",
    ]
    lines += [f"- **{key}**: {value}" for key, value in machine.items()]
    lines += [f"- **load average (1, 5, 15 min) at start**: {load_before}; **at end**: "
              f"{load_after} — the machine is shared with other jobs, so absolute times are "
              "noisy; the two implementations took turns step by step so both saw the same "
              "load", f"- **torch threads**: {args.threads}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
