"""Link-prediction benchmarks: NCN/NCNC speed against plain PyTorch, and paper reproductions.

Usage (from the repository root)::

    python benchmarks/linkpred.py speed [--json OUT.json] [--rounds 5]
    python benchmarks/linkpred.py reproduce ncn-cora-ncnsplit --seeds 0 1 2 [--epochs 100]
        [--time-budget SECONDS] [--json OUT.json]

``speed`` measures, in one process and interleaved round by round (the machine is shared, so
the rounds alternate implementations instead of running them back to back):

* the training-epoch time of NCN on Cora (the paper's Cora configuration) with gnnkit and
  with two straightforward PyTorch implementations of the *same* model (same modules, same
  weights) that differ only in how the graph operations are done:
  ``torch-dense`` — dense ``N × N`` adjacency, common neighbours as ``A[i] * A[j]`` rows;
  ``torch-sparse`` — ``torch.sparse`` COO adjacency, ``index_select`` rows and multiply;
* the scoring throughput (pairs/s, evaluation mode) on ogbl-ddi of NCN, NCNC and the CN/AA
  heuristics, with the same baselines.

Both baselines are checked against gnnkit's output on the same inputs before timing.

The experiments themselves (hyper-parameters from the official commands of
GraphPKU/NeuralCommonNeighbor's README, paper numbers from Wang et al., ICLR 2024, Table 2) are
the suite's files ``gnnkit/bench/experiments/ncn*.toml``; ``reproduce`` runs one of them exactly as
``gnnkit bench -e ID`` does, with the shared datasets folder as data root.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gnnkit.bench import format_table, load_experiments, run_experiment, write_reports
from gnnkit.bench.data import link_data, load_link_graph
from gnnkit.bench.experiment import LinkTrainingSpec
from gnnkit.models import build_model
from gnnkit.nn.linkpred import (
    LinkEncoder,
    LinkSplit,
    NCNPredictor,
    adamic_adar,
    common_neighbor_sets,
    common_neighbors,
    link_loss,
    remove_target_links,
    sample_negative_pairs,
)
from gnnkit.sparse import SparseMatrix, ptr_from_index, spmm
from gnnkit.train.link_prediction import train_epoch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "datasets"

#: the link-prediction experiments of the benchmark suite (gnnkit/bench/experiments/*.toml)
EXPERIMENTS = {key: experiment for key, experiment in
               load_experiments().items()
               if experiment.task == "link_prediction"}


def load_split(experiment_id: str, seed: int) -> tuple[Tensor, LinkSplit]:
    """Node input ``x`` and the link split of one run of ``experiment_id`` (the suite's own
    data loading, :mod:`gnnkit.bench.data`)."""
    spec = EXPERIMENTS[experiment_id].dataset
    data = link_data(load_link_graph(spec, [SHARED]), spec, seed)
    return data.x, data.split


def build_link_model(config: dict[str, Any], in_channels: int, num_nodes: int
                     ) -> tuple[nn.Module, nn.Module]:
    """``(encoder, predictor)`` of a link model from the registry (:mod:`gnnkit.models`)."""
    return build_model(config, task="link_prediction", in_channels=in_channels,
                       num_nodes=num_nodes)


def _model(experiment_id: str) -> dict[str, Any]:
    return dict(EXPERIMENTS[experiment_id].model)


def _batch_size(experiment_id: str) -> int:
    training = EXPERIMENTS[experiment_id].training
    assert isinstance(training, LinkTrainingSpec)
    return training.batch_size


# ---------------------------------------------------------------------------- baselines
def _dense_of(A: SparseMatrix) -> Tensor:
    dense = torch.zeros(A.shape)
    dense[A.row.long(), A.col.long()] = 1.0
    return dense


def _coo_of(A: SparseMatrix) -> Tensor:
    index = torch.stack([A.row.long(), A.col.long()])
    return torch.sparse_coo_tensor(index, torch.ones(A.nnz), A.shape).coalesce()


class TorchNCN(nn.Module):
    """NCN with every graph operation in plain PyTorch (``"dense"`` or ``"sparse"``), sharing
    the modules (hence the weights) of a gnnkit :class:`LinkEncoder` + :class:`NCNPredictor`
    (pure-propagation encoders only)."""

    def __init__(self, encoder: LinkEncoder, predictor: NCNPredictor, kind: str) -> None:
        super().__init__()
        if kind not in ("dense", "sparse"):
            raise ValueError(f"kind must be 'dense' or 'sparse', got {kind!r}")
        self.encoder, self.predictor, self.kind = encoder, predictor, kind

    # graph operations -------------------------------------------------------
    def graph(self, A: SparseMatrix) -> Tensor:
        return _dense_of(A) if self.kind == "dense" else _coo_of(A)

    def remove(self, A: Tensor, pairs: Tensor) -> Tensor:
        if self.kind == "dense":
            A = A.clone()
            A[pairs[1], pairs[0]] = 0.0
            A[pairs[0], pairs[1]] = 0.0
            return A
        n = A.shape[0]
        index = A.indices()
        removed = torch.cat([pairs[1] * n + pairs[0], pairs[0] * n + pairs[1]])
        keep = ~torch.isin(index[0] * n + index[1], removed)
        return torch.sparse_coo_tensor(index[:, keep], A.values()[keep], A.shape).coalesce()

    def _drop(self, A: Tensor, p: float) -> Tensor:
        if self.kind == "dense":
            return A * (torch.rand_like(A) >= p)
        keep = torch.rand(A._nnz()) >= p
        return torch.sparse_coo_tensor(A.indices()[:, keep], A.values()[keep],
                                       A.shape).coalesce()

    def _matmul(self, A: Tensor, h: Tensor) -> Tensor:
        return A @ h if self.kind == "dense" else torch.sparse.mm(A, h)

    # model -----------------------------------------------------------------------
    def encode(self, x: Tensor, A: Tensor) -> Tensor:
        e = self.encoder
        h = e.input(e.embedding(x)) if e.embedding is not None else e.input(x)
        if self.training and e.edge_dropout > 0:
            A = self._drop(A, e.edge_dropout)
        degree = (A.sum(1) if self.kind == "dense"
                  else torch.sparse.sum(A, 1).to_dense()).unsqueeze(-1)
        outputs = []
        for conv, post in zip(e.convs, e.post, strict=True):
            if conv.kind == "puregcn":
                scale = torch.rsqrt(1.0 + degree)
                out = scale * (self._matmul(A, scale * h) + scale * h)
            elif conv.kind == "puresum":
                out = self._matmul(A, h)
            else:
                raise ValueError(f"baseline supports puregcn/puresum, not {conv.kind}")
            out = post(out)
            h = out + h if e.residual and out.shape == h.shape else out
            outputs.append(h)
        if e.jk_weight is not None:
            h = (torch.stack(outputs) * e.jk_weight.view(-1, 1, 1)).sum(0)
        return h

    def common_pool(self, A: Tensor, pairs: Tensor, x: Tensor) -> Tensor:
        if self.kind == "dense":
            return (A[pairs[0]] * A[pairs[1]]) @ x
        rows = A.index_select(0, pairs[0]) * A.index_select(0, pairs[1])
        return torch.sparse.mm(rows, x)

    def score(self, h: Tensor, A: Tensor, pairs: Tensor) -> Tensor:
        p = self.predictor
        if self.training and p.edge_dropout > 0:
            A = self._drop(A, p.edge_dropout)
        x = h + p.node_mlp(h) if p.node_mlp is not None else h
        hidden = p.cn_mlp(self.common_pool(A, pairs, x)) * p.beta
        hidden = hidden + p.pair_mlp(h[pairs[0]] * h[pairs[1]])
        return p.head(hidden).squeeze(-1)


def _epoch(step: Callable[[Tensor], None], train_pos: Tensor, batch_size: int,
           generator: torch.Generator) -> float:
    order = torch.randperm(train_pos.shape[1], generator=generator)
    tick = time.perf_counter()
    for start in range(0, train_pos.shape[1] - batch_size + 1, batch_size):
        step(train_pos[:, order[start:start + batch_size]])
    return time.perf_counter() - tick


def cora_epoch_times(rounds: int) -> dict[str, Any]:
    """Training-epoch seconds of NCN (paper's Cora configuration) per implementation."""
    torch.manual_seed(0)
    x, split = load_split("ncn-cora", 0)
    A = split.train_graph()
    encoder, predictor = build_link_model(_model("ncn-cora"), x.shape[1], split.num_nodes)
    batch_size = _batch_size("ncn-cora")
    optimizer = torch.optim.Adam([*encoder.parameters(), *predictor.parameters()], lr=1e-3)
    baselines = {kind: TorchNCN(encoder, predictor, kind) for kind in ("dense", "sparse")}
    graphs = {kind: model.graph(A) for kind, model in baselines.items()}

    # correctness first: same logits in evaluation mode
    encoder.eval()
    predictor.eval()
    pairs = split.test_pos[:, :512]
    with torch.no_grad():
        ours = predictor(encoder(x, A), A, pairs)
        check = {}
        for kind, model in baselines.items():
            model.eval()
            theirs = model.score(model.encode(x, graphs[kind]), graphs[kind], pairs)
            check[kind] = float((ours - theirs).abs().max())

    def gnnkit_step(batch: Tensor) -> None:
        graph = remove_target_links(A, batch)
        h = encoder(x, graph)
        negatives = sample_negative_pairs(A, batch.shape[1])
        loss = link_loss(predictor(h, graph, batch), predictor(h, graph, negatives))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def baseline_step(kind: str) -> Callable[[Tensor], None]:
        model = baselines[kind]

        def step(batch: Tensor) -> None:
            graph = model.remove(graphs[kind], batch)
            h = model.encode(x, graph)
            negatives = sample_negative_pairs(A, batch.shape[1])
            loss = link_loss(model.score(h, graph, batch), model.score(h, graph, negatives))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return step

    steps = {"gnnkit": gnnkit_step, "torch-dense": baseline_step("dense"),
             "torch-sparse": baseline_step("sparse")}
    times: dict[str, list[float]] = {name: [] for name in steps}
    encoder.train()
    predictor.train()
    for model in baselines.values():
        model.train()
    generator = torch.Generator().manual_seed(0)
    for _ in range(rounds + 1):  # round 0 warms up (kernel loading, allocator)
        for name, step in steps.items():
            times[name].append(_epoch(step, split.train_pos, batch_size, generator))
    ncnc_model = build_link_model(_model("ncnc-cora"), x.shape[1],
                                  split.num_nodes)
    ncnc_encoder, ncnc = ncnc_model
    ncnc_optimizer = torch.optim.Adam([*ncnc_encoder.parameters(), *ncnc.parameters()])

    def ncnc_step(batch: Tensor) -> None:
        graph = remove_target_links(A, batch)
        h = ncnc_encoder(x, graph)
        negatives = sample_negative_pairs(A, batch.shape[1])
        loss = link_loss(ncnc(h, graph, batch), ncnc(h, graph, negatives))
        ncnc_optimizer.zero_grad()
        loss.backward()
        ncnc_optimizer.step()

    times["gnnkit NCNC"] = [_epoch(ncnc_step, split.train_pos, batch_size, generator)
                            for _ in range(rounds + 1)]
    return {
        "dataset": "Cora (random 85/5/10 split, seed 0)",
        "train_links": split.train_pos.shape[1], "batch_size": batch_size,
        "batches_per_epoch": split.train_pos.shape[1] // batch_size,
        "max_abs_logit_difference": check,
        "seconds": {name: values[1:] for name, values in times.items()},
    }


def cora_graph_op_times(rounds: int, width: int = 256) -> dict[str, Any]:
    """Seconds per training batch of the graph operations alone (no MLPs, no dropout):
    target-link removal, one GCN propagation of ``(N, width)`` features, common-neighbour
    pooling for the positive and the negative pairs, and the backward pass through them."""
    torch.manual_seed(0)
    x, split = load_split("ncn-cora", 0)
    A = split.train_graph()
    n = split.num_nodes
    batch_size = _batch_size("ncn-cora")
    h0 = torch.randn(n, width, requires_grad=True)
    generator = torch.Generator().manual_seed(0)
    batches = [(split.train_pos[:, index], sample_negative_pairs(A, index.numel(),
                                                                 generator=generator))
               for index in torch.randperm(split.train_pos.shape[1],
                                           generator=generator)[:3 * batch_size]
               .view(3, batch_size)]

    def gnnkit_ops(batch: Tensor, negatives: Tensor) -> Tensor:
        graph = remove_target_links(A, batch)
        scale = torch.rsqrt(1.0 + graph.degree().to(h0.dtype)).unsqueeze(-1)
        h = scale * (spmm(graph, scale * h0) + scale * h0)
        pooled = [common_neighbor_sets(graph, p).aggregate(h) for p in (batch, negatives)]
        return pooled[0].sum() + pooled[1].sum()

    def baseline_ops(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
        model = TorchNCN(*build_link_model(_model("ncn-cora"), x.shape[1], n),
                         kind)
        full = model.graph(A)

        def ops(batch: Tensor, negatives: Tensor) -> Tensor:
            graph = model.remove(full, batch)
            degree = (graph.sum(1) if kind == "dense"
                      else torch.sparse.sum(graph, 1).to_dense()).unsqueeze(-1)
            scale = torch.rsqrt(1.0 + degree)
            h = scale * (model._matmul(graph, scale * h0) + scale * h0)
            pooled = [model.common_pool(graph, p, h) for p in (batch, negatives)]
            return pooled[0].sum() + pooled[1].sum()
        return ops

    implementations = {"gnnkit": gnnkit_ops, "torch-dense": baseline_ops("dense"),
                       "torch-sparse": baseline_ops("sparse")}
    reference = gnnkit_ops(*batches[0])
    (reference_grad,) = torch.autograd.grad(reference, h0)
    check = {}
    for name, ops in implementations.items():
        (grad,) = torch.autograd.grad(ops(*batches[0]), h0)
        check[name] = float((grad - reference_grad).abs().max())
    times: dict[str, list[float]] = {name: [] for name in implementations}
    for _ in range(rounds + 1):
        for name, ops in implementations.items():
            tick = time.perf_counter()
            for batch, negatives in batches:
                ops(batch, negatives).backward()
            times[name].append((time.perf_counter() - tick) / len(batches))
    return {"width": width, "batch_size": batch_size, "max_abs_grad_difference": check,
            "seconds_per_batch": {name: values[1:] for name, values in times.items()}}


def _throughput(score: Callable[[Tensor], Tensor], pairs: Tensor, batch: int,
                rounds: int) -> list[float]:
    rates = []
    for _ in range(rounds + 1):
        tick = time.perf_counter()
        with torch.no_grad():
            for start in range(0, pairs.shape[1], batch):
                score(pairs[:, start:start + batch])
        rates.append(pairs.shape[1] / (time.perf_counter() - tick))
    return rates[1:]


def ddi_throughput(rounds: int, num_pairs: int, batch: int, ncnc_pairs: int) -> dict[str, Any]:
    """Scoring pairs/s on ogbl-ddi test pairs (positives and negatives interleaved)."""
    torch.manual_seed(0)
    x, split = load_split("ncn-ddi", 0)
    A = split.train_graph()
    encoder, predictor = build_link_model(_model("ncn-ddi"), 0, split.num_nodes)
    encoder.eval()
    predictor.eval()
    pairs = torch.cat([split.test_pos, split.test_neg], dim=1)
    pairs = pairs[:, torch.randperm(pairs.shape[1], generator=torch.Generator().manual_seed(0))]
    pairs = pairs[:, :num_pairs]
    baselines = {kind: TorchNCN(encoder, predictor, kind).eval() for kind in ("dense", "sparse")}
    graphs = {kind: model.graph(A) for kind, model in baselines.items()}
    with torch.no_grad():
        h = encoder(x, A)
        ours = predictor(h, A, pairs[:, :1024])
        check = {kind: float((ours - model.score(h, graphs[kind], pairs[:, :1024])).abs().max())
                 for kind, model in baselines.items()}
    cn_sizes = common_neighbors(A, pairs[:, :4096])
    dense = graphs["dense"]
    aa_weight = 1.0 / torch.log(dense.sum(1).clamp(min=2))
    scorers: dict[str, Callable[[Tensor], Tensor]] = {
        "NCN gnnkit": lambda p: predictor(h, A, p),
        "NCN torch-dense": lambda p: baselines["dense"].score(h, dense, p),
        "NCN torch-sparse": lambda p: baselines["sparse"].score(h, graphs["sparse"], p),
        "CN gnnkit": lambda p: common_neighbors(A, p),
        "CN torch-dense": lambda p: (dense[p[0]] * dense[p[1]]).sum(1),
        "AA gnnkit": lambda p: adamic_adar(A, p),
        "AA torch-dense": lambda p: (dense[p[0]] * dense[p[1]]) @ aa_weight,
    }
    rates: dict[str, list[float]] = {name: [] for name in scorers}
    for _ in range(rounds):  # interleaved: one measurement of each per round
        for name, scorer in scorers.items():
            sample = pairs if not name.startswith("NCN torch-sparse") else pairs[:, :8192]
            rates[name] += _throughput(scorer, sample, batch, 1)
    _, ncnc = build_link_model(_model("ncnc-ddi"), 0, split.num_nodes)
    ncnc.load_state_dict(predictor.state_dict(), strict=False)  # NCNC starts from NCN
    ncnc.eval()
    ncnc_rate = _throughput(lambda p: ncnc(h, A, p), pairs[:, :ncnc_pairs], 256, 1)
    return {
        "dataset": "ogbl-ddi (training graph; test positives and negatives, shuffled)",
        "num_nodes": split.num_nodes, "stored_entries": A.nnz, "pairs": num_pairs,
        "batch_size": batch, "mean_common_neighbours": float(cn_sizes.mean()),
        "max_abs_logit_difference": check,
        "pairs_per_second": {**rates, "NCNC gnnkit": ncnc_rate},
        "ncnc_pairs": ncnc_pairs,
    }


def _machine() -> dict[str, Any]:
    from gnnkit.bench.report import machine_description

    return machine_description("cpu")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def speed_markdown(result: dict[str, Any]) -> str:
    cora, ddi = result["cora"], result["ddi"]
    lines = ["### Cora: NCN training epoch (seconds, lower is better)", "",
             f"{cora['dataset']}; {cora['train_links']} training links, batch "
             f"{cora['batch_size']} → {cora['batches_per_epoch']} batches per epoch; paper "
             "configuration (hidden 256, pure GCN, JK, node MLP, predictor edge dropout 0.4). "
             f"Median (min–max) of {len(cora['seconds']['gnnkit'])} interleaved rounds.", "",
             "| implementation | epoch s | vs gnnkit |", "|---|---|---|"]
    base = _median(cora["seconds"]["gnnkit"])
    for name, values in cora["seconds"].items():
        lines.append(f"| {name} | {_median(values):.2f} ({min(values):.2f}–{max(values):.2f}) "
                     f"| {_median(values) / base:.2f}× |")
    lines += ["", "Max |logit difference| vs gnnkit on the same weights (eval mode): "
              + ", ".join(f"{k} {v:.1e}" for k, v in cora["max_abs_logit_difference"].items())]
    ops = result["cora_graph_ops"]
    lines += ["", "### Cora: graph operations alone (ms per training batch, lower is better)",
              "", f"Target-link removal + one GCN propagation of (N, {ops['width']}) features "
              f"+ common-neighbour pooling of {ops['batch_size']} positive and "
              f"{ops['batch_size']} negative pairs, forward and backward; no MLPs, no "
              "dropout.", "", "| implementation | ms per batch | vs gnnkit |", "|---|---|---|"]
    base_ops = _median(ops["seconds_per_batch"]["gnnkit"])
    for name, values in ops["seconds_per_batch"].items():
        lines.append(f"| {name} | {1000 * _median(values):.1f} ({1000 * min(values):.1f}–"
                     f"{1000 * max(values):.1f}) | {_median(values) / base_ops:.2f}× |")
    lines += ["", "Max |gradient difference| vs gnnkit: "
              + ", ".join(f"{k} {v:.1e}" for k, v in ops["max_abs_grad_difference"].items()),
              "", "### ogbl-ddi: scoring throughput (pairs/s, higher is better)", "",
              f"{ddi['num_nodes']} nodes, {ddi['stored_entries']} stored entries, "
              f"{ddi['pairs']} test pairs in batches of {ddi['batch_size']} (torch-sparse: "
              f"the first 8192), mean |CN| = {ddi['mean_common_neighbours']:.0f}; NCN with the "
              "paper's ddi configuration (hidden 224), evaluation mode. NCNC (depth 1, no "
              f"candidate sampling) on the first {ddi['ncnc_pairs']} pairs in batches of 256.",
              "", "| scorer | pairs/s (median, min–max) |", "|---|---|"]
    for name, values in ddi["pairs_per_second"].items():
        lines.append(f"| {name} | {_median(values):,.0f} ({min(values):,.0f}–"
                     f"{max(values):,.0f}) |")
    lines += ["", "Max |logit difference| vs gnnkit: "
              + ", ".join(f"{k} {v:.1e}" for k, v in ddi["max_abs_logit_difference"].items())]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- ddi speed
@contextlib.contextmanager
def reference_paths() -> Iterator[None]:
    """The NCN code paths as they were before the ddi speed work: every dropout mask from
    ``F.dropout``'s own kernel, the pooled-set matrices with int64 indices, common
    neighbours pooled through an explicit set matrix (intersect_rows + spmm) rather than the
    fused ``intersect_aggregate``, and every batch's graph (target links removed) built afresh,
    so that its backward sorts its columns, instead of inheriting the training graph's CSC."""
    from gnnkit.nn.linkpred import dropout as dropout_module
    from gnnkit.nn.linkpred import ncn as ncn_module
    from gnnkit.nn.linkpred.heuristics import NeighborSets

    def int64_matrix(self: NeighborSets, num_nodes: int,
                     dtype: torch.dtype = torch.float32) -> SparseMatrix:
        weight = None if self.weight is None else self.weight.to(dtype)
        return SparseMatrix(self.ptr, self.nodes, weight, (self.num_pairs, num_nodes),
                            validate=False)

    def fresh_entries(self: SparseMatrix, mask: Tensor) -> SparseMatrix:
        rowptr = ptr_from_index(self.row[mask], self.num_rows, dtype=self.index_dtype,
                                check=False)
        values = None if self.values is None else self.values[mask]
        return SparseMatrix(rowptr, self.col[mask], values, self.shape)

    fast_matrix = NeighborSets.as_matrix
    inheriting_entries = SparseMatrix.keep_entries
    fused_pool = ncn_module._FUSED_COMMON_POOL
    with dropout_module.use_fast_masks(False):
        NeighborSets.as_matrix = int64_matrix  # type: ignore[method-assign]
        SparseMatrix.keep_entries = fresh_entries  # type: ignore[method-assign]
        ncn_module._FUSED_COMMON_POOL = False
        try:
            yield
        finally:
            NeighborSets.as_matrix = fast_matrix  # type: ignore[method-assign]
            SparseMatrix.keep_entries = inheriting_entries  # type: ignore[method-assign]
            ncn_module._FUSED_COMMON_POOL = fused_pool


def _profile_table(run: Callable[[], None], rows: int = 12) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [{"op": e.key, "self_ms": e.self_cpu_time_total / 1000, "share": e.self_cpu_time_total
             / total, "calls": e.count} for e in events[:rows]]


def ddi_ncn_speed(rounds: int, batches: int) -> dict[str, Any]:
    """NCN training steps on ogbl-ddi (the ``ncn-ddi`` experiment), the reference paths
    against the current ones, interleaved round by round, from the same initial weights and
    generator seed; checks that losses and final weights are bit-identical."""
    x, split = load_split("ncn-ddi", 0)
    A = split.train_graph()
    torch.manual_seed(0)
    encoder, predictor = build_link_model(_model("ncn-ddi"), 0, split.num_nodes)
    initial = copy.deepcopy((encoder.state_dict(), predictor.state_dict()))
    training = EXPERIMENTS["ncn-ddi"].training
    assert isinstance(training, LinkTrainingSpec)

    def steps(count: int) -> tuple[float, float, list[Tensor]]:
        encoder.load_state_dict(initial[0])
        predictor.load_state_dict(initial[1])
        optimizer = torch.optim.Adam([
            {"params": list(encoder.parameters()), "lr": training.lr_encoder},
            {"params": list(predictor.parameters()), "lr": training.lr_predictor}])
        torch.manual_seed(1)
        generator = torch.Generator().manual_seed(1)
        tick = time.perf_counter()
        loss = train_epoch(encoder, predictor, x, A, split.train_pos, optimizer,
                           training.batch_size, generator=generator, max_batches=count)
        seconds = time.perf_counter() - tick
        weights = [p.detach().clone() for p in [*encoder.parameters(),
                                                 *predictor.parameters()]]
        return seconds / count, loss, weights

    with reference_paths():
        steps(1)  # warm-up (kernel caches, allocator)
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    losses: dict[str, float] = {}
    weights: dict[str, list[Tensor]] = {}
    load = {"start": os.getloadavg()[0]}
    for _ in range(rounds):
        with reference_paths():
            step, losses["before"], weights["before"] = steps(batches)
        seconds["before"].append(step)
        step, losses["after"], weights["after"] = steps(batches)
        seconds["after"].append(step)
    load["end"] = os.getloadavg()[0]
    with reference_paths():
        profile_before = _profile_table(lambda: steps(1))
    profile_after = _profile_table(lambda: steps(1))
    identical = losses["before"] == losses["after"] and all(
        torch.equal(a, b) for a, b in zip(weights["before"], weights["after"], strict=True))
    batches_per_epoch = split.train_pos.shape[1] // training.batch_size
    return {"dataset": "ogbl-ddi", "batch_size": training.batch_size,
            "batches_per_round": batches, "batches_per_epoch": batches_per_epoch,
            "seconds_per_batch": seconds, "loss": losses, "bit_identical": identical,
            "load_average": load, "profile": {"before": profile_before,
                                              "after": profile_after}}


def ddi_speed_markdown(result: dict[str, Any]) -> str:
    ncn = result["ncn"]
    before, after = (_median(ncn["seconds_per_batch"][k]) for k in ("before", "after"))
    per_epoch = ncn["batches_per_epoch"]
    lines = ["### NCN training on ogbl-ddi (seconds per batch, lower is better)", "",
             f"Batch {ncn['batch_size']} positive links + as many negatives; "
             f"{ncn['batches_per_round']} batches per measurement, "
             f"{len(ncn['seconds_per_batch']['before'])} interleaved rounds; epoch = "
             f"{per_epoch} batches (estimated from the per-batch median). Load average "
             f"{ncn['load_average']['start']:.1f} at start, {ncn['load_average']['end']:.1f} "
             "at end.", "",
             "| path | s / batch (median, min–max) | epoch estimate s |", "|---|---|---|"]
    for name in ("before", "after"):
        values = ncn["seconds_per_batch"][name]
        lines.append(f"| {name} | {_median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
                     f" | {per_epoch * _median(values):.0f} |")
    lines += ["", f"Speed-up {before / after:.2f}×. Losses and final weights bit-identical: "
              f"{ncn['bit_identical']} (mean loss before {ncn['loss']['before']!r}, after "
              f"{ncn['loss']['after']!r})."]
    for name in ("before", "after"):
        lines += ["", f"Profile of one batch, {name} (self CPU time, top operators):", "",
                  "| operator | self ms | share | calls |", "|---|---|---|---|"]
        for row in ncn["profile"][name]:
            lines.append(f"| `{row['op']}` | {row['self_ms']:.0f} | {100 * row['share']:.1f} % "
                         f"| {row['calls']} |")
    return "\n".join(lines)


def ddi_ncnc_speed(num_pairs: int, batch: int) -> dict[str, Any]:
    """NCNC evaluation throughput on ogbl-ddi test pairs (pairs/s), three paths on the same
    weights: every candidate scored as listed (the scoring before deduplication), each
    distinct candidate of a batch once, and distinct candidates cached across the batches
    of one evaluation (``cached_candidates``); checks that the logits agree."""
    from gnnkit.nn.linkpred import NCNCPredictor

    torch.manual_seed(0)
    x, split = load_split("ncn-ddi", 0)
    A = split.train_graph()
    encoder, predictor = build_link_model(_model("ncn-ddi"), 0, split.num_nodes)
    _, ncnc = build_link_model(_model("ncnc-ddi"), 0, split.num_nodes)
    ncnc.load_state_dict(predictor.state_dict(), strict=False)  # NCNC starts from NCN
    encoder.eval()
    ncnc.eval()
    pairs = torch.cat([split.test_pos, split.test_neg], dim=1)
    pairs = pairs[:, torch.randperm(pairs.shape[1], generator=torch.Generator().manual_seed(0))]
    pairs = pairs[:, :num_pairs]
    with torch.no_grad():
        h = encoder(x, A)

    def as_listed(self: NCNCPredictor, features: Tensor, graph: SparseMatrix, links: Tensor,
                  depth: int) -> Tensor:
        return self._score_links(features, graph, links, depth)

    def run(path: str) -> tuple[float, Tensor]:
        original = NCNCPredictor._candidate_logits
        if path == "as listed":
            NCNCPredictor._candidate_logits = as_listed  # type: ignore[method-assign]
        try:
            context = ncnc.cached_candidates() if path == "cached" else contextlib.nullcontext()
            tick = time.perf_counter()
            with torch.no_grad(), context:
                logits = torch.cat([ncnc(h, A, pairs[:, start:start + batch])
                                    for start in range(0, pairs.shape[1], batch)])
            return pairs.shape[1] / (time.perf_counter() - tick), logits
        finally:
            NCNCPredictor._candidate_logits = original  # type: ignore[method-assign]

    load = {"start": os.getloadavg()[0]}
    rates: dict[str, float] = {}
    logits: dict[str, Tensor] = {}
    for path in ("as listed", "distinct per batch", "cached"):
        rates[path], logits[path] = run(path)
    load["end"] = os.getloadavg()[0]
    difference = {path: float((logits[path] - logits["as listed"]).abs().max())
                  for path in logits}
    return {"dataset": "ogbl-ddi (training graph; test positives and negatives, shuffled)",
            "pairs": num_pairs, "batch_size": batch, "pairs_per_second": rates,
            "max_abs_logit_difference": difference, "load_average": load}


def ddi_ncnc_markdown(result: dict[str, Any]) -> str:
    ncnc = result["ncnc"]
    rates = ncnc["pairs_per_second"]
    base = rates["as listed"]
    lines = ["### NCNC evaluation on ogbl-ddi (pairs per second, higher is better)", "",
             f"{ncnc['pairs']} test pairs in batches of {ncnc['batch_size']}, depth 1, no "
             f"candidate sampling, one pass per path. Load average "
             f"{ncnc['load_average']['start']:.1f} at start, "
             f"{ncnc['load_average']['end']:.1f} at end.", "",
             "| path | pairs/s | vs as listed | max abs logit difference |", "|---|---|---|---|"]
    for path, rate in rates.items():
        lines.append(f"| {path} | {rate:.0f} | {rate / base:.2f}× | "
                     f"{ncnc['max_abs_logit_difference'][path]:.2e} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("speed", help="Cora epoch time and ddi throughput")
    speed.add_argument("--rounds", type=int, default=5)
    speed.add_argument("--ddi-pairs", type=int, default=65536)
    speed.add_argument("--ddi-batch", type=int, default=8192)
    speed.add_argument("--ncnc-pairs", type=int, default=1024)
    speed.add_argument("--json", type=Path)
    ddi_speed = commands.add_parser("ddi-speed", help="NCN training steps on ogbl-ddi, "
                                    "reference paths against current ones")
    ddi_speed.add_argument("--rounds", type=int, default=3)
    ddi_speed.add_argument("--batches", type=int, default=2)
    ddi_speed.add_argument("--threads", type=int, default=1,
                           help="torch threads (the issue's 135 s epoch was measured with 2)")
    ddi_speed.add_argument("--json", type=Path)
    ncnc_speed = commands.add_parser("ddi-ncnc-speed", help="NCNC evaluation pairs/s on "
                                     "ogbl-ddi: candidates as listed, distinct, cached")
    ncnc_speed.add_argument("--pairs", type=int, default=2048)
    ncnc_speed.add_argument("--batch", type=int, default=256)
    ncnc_speed.add_argument("--json", type=Path)
    repro = commands.add_parser("reproduce", help="run one experiment for some seeds (the "
                                "same as gnnkit bench -e ID --seeds ...)")
    repro.add_argument("experiment", choices=sorted(EXPERIMENTS))
    repro.add_argument("--seeds", type=int, nargs="+", default=[0])
    repro.add_argument("--epochs", type=int, help="cap the epochs (not the paper setting)")
    repro.add_argument("--time-budget", type=float, help="seconds per seed")
    repro.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    if args.command == "speed":
        result = {"machine": _machine(), "cora": cora_epoch_times(args.rounds),
                  "cora_graph_ops": cora_graph_op_times(args.rounds),
                  "ddi": ddi_throughput(args.rounds, args.ddi_pairs, args.ddi_batch,
                                        args.ncnc_pairs)}
        print(speed_markdown(result))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    if args.command == "ddi-speed":
        torch.set_num_threads(args.threads)
        result = {"machine": _machine(), "threads": args.threads,
                  "ncn": ddi_ncn_speed(args.rounds, args.batches)}
        print(ddi_speed_markdown(result))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    if args.command == "ddi-ncnc-speed":
        torch.set_num_threads(1)
        result = {"machine": _machine(), "threads": 1,
                  "ncnc": ddi_ncnc_speed(args.pairs, args.batch)}
        print(ddi_ncnc_markdown(result))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=1))
        return 0
    registry = load_experiments()
    outcome = run_experiment(registry[args.experiment], seeds=args.seeds, data_roots=[SHARED],
                             max_epochs=args.epochs, time_budget=args.time_budget,
                             registry=registry)
    print(format_table([outcome]))
    write_reports([outcome], _machine(), json_path=args.json)
    return 0 if outcome.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
