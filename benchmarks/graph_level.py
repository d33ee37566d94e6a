"""Graph-level learning speed on ZINC-12k: collate throughput and one GIN epoch, gnnkit vs PyG.

Data: the ZINC-12k subset read by :func:`gnnkit.datasets.read_zinc` (12,000 molecules; the
10,000 training graphs are used). ``x`` is ``(n, 1)`` atom types, ``y`` one float per graph.

1. **Collate throughput** (graphs/s) over one pass of the training graphs in a shuffled order,
   for each batch size: gnnkit ``collate`` on a pre-built list of ``Graph`` (collate alone) and
   with the ``dataset[i]`` item access a ``DataLoader`` performs; PyG ``Batch.from_data_list``
   on the equivalent pre-built list of ``Data`` (``GraphDataset.to_pyg_list()``) and on items of
   a PyG ``InMemoryDataset`` holding the same graphs (how PyG stores ZINC), once with its item
   cache warm (every epoch after the first) and once cold (first epoch). Plus a full pass of a
   ``DataLoader`` (no model) with ``num_workers`` 0 and 2, for both libraries.
2. **One GIN training epoch** (batch 128, shuffled by a seeded generator, 4 GIN layers of width
   64 with MLP Linear-BN-ReLU-Linear and ReLU between layers, an embedding of the 28 ZINC atom
   types, sum readout, a linear head, L1 loss, Adam): gnnkit (``GINConv`` on ``batch.adj``,
   ``global_add_pool(h, batch.ptr)``) and PyG (``GINConv`` on ``edge_index``,
   ``global_add_pool(h, batch.batch)``) with the same initial weights. Before timing, both
   models take the same first batch and must give the same loss (``allclose``) and gradients.
   Epoch seconds are split into data (the loader's item access + collate) and compute
   (forward + backward + Adam step), for each thread count.
   A third row feeds the same gnnkit model through the vectorised path: the loader fetches
   each batch at once (``__getitems__``) and builds it from the dataset's flat tensors
   (``GraphBatch.from_dataset``, also a row of the collate table; first measured here as a
   sketch, now library code), checked to build exactly ``collate``'s batches.
3. **Profile** of the gnnkit epoch: ``torch.profiler`` (data / forward / backward / optimizer
   scopes and the top operators by self time) and ``cProfile`` (top Python functions).

Measurements take turns (variant by variant within each repeat, alternating which library
goes first), so a change of load on the shared machine hits all alike; tables report medians.
The load average is recorded beside every table.

Usage::

    python benchmarks/graph_level.py --out benchmarks/results/graph-level-cpu.md \\
        --json benchmarks/results/graph-level-cpu.json

Without the dataset (``--data-root``, default ``<repo>/../shared/datasets/zinc-subset``) the
script says so and exits without measuring. Without PyG it measures gnnkit only.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader

from gnnkit.bench.report import machine_description
from gnnkit.data import GraphBatch, collate
from gnnkit.datasets import GraphDataset, read_zinc
from gnnkit.nn.conv import GINConv
from gnnkit.nn.pool import global_add_pool

REPO = Path(__file__).resolve().parents[1]
ZINC_ROOT = REPO / ".." / "shared" / "datasets" / "zinc-subset"
NUM_ATOM_TYPES = 28  # the benchmarking-gnns atom dictionary (21 of them occur in ZINC-12k)
ZINC_FILES = ("ZINC_Nodes.txt", "ZINC_Edges.txt", "ZINC_Labels.txt", "ZINC_splits.json")

Log = Callable[[str], None]


# ----------------------------------------------------------------------------- data
def missing_zinc_files(root: Path) -> list[str]:
    """The ZINC-subset files absent from ``root`` (empty when the dataset is there)."""
    return [name for name in ZINC_FILES if not (root / name).is_file()]


def pyg_available() -> bool:
    try:
        import torch_geometric  # noqa: F401
    except ImportError:
        return False
    return True


def shuffled_batches(num_graphs: int, batch_size: int, seed: int) -> list[list[int]]:
    """Index lists of one shuffled pass (the last batch may be smaller)."""
    order = torch.randperm(num_graphs, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[start:start + batch_size] for start in range(0, num_graphs, batch_size)]


def pyg_in_memory(data_list: Sequence[Any]) -> Callable[[], Any]:
    """A factory of fresh PyG ``InMemoryDataset`` objects holding ``data_list``.

    The graphs are stored collated once (as PyG's ``ZINC`` dataset stores them); each call
    returns a new dataset over that storage, whose per-item cache is therefore empty.
    """
    from torch_geometric.data import InMemoryDataset

    class _Graphs(InMemoryDataset):
        def __init__(self, data: Any, slices: dict[str, Tensor]) -> None:
            super().__init__(None, log=False)
            self.data, self.slices = data, slices

    data, slices = InMemoryDataset.collate(list(data_list))
    return lambda: _Graphs(data, slices)


def same_graphs(ours: GraphBatch, theirs: Any) -> bool:
    """Whether a gnnkit batch and a PyG batch hold the same graphs (edge order aside)."""
    if not torch.equal(ours.ptr, theirs.ptr) or not torch.equal(ours.x, theirs.x):
        return False
    if not torch.equal(ours.y, theirs.y):
        return False
    n = ours.num_nodes
    our_keys = ours.adj.row.long() * n + ours.adj.col.long()
    their_keys = theirs.edge_index[1] * n + theirs.edge_index[0]
    our_sorted, our_order = torch.sort(our_keys, stable=True)
    their_sorted, their_order = torch.sort(their_keys, stable=True)
    return bool(torch.equal(our_sorted, their_sorted)) and bool(
        torch.equal(ours.edge_attr[our_order], theirs.edge_attr[their_order])
    )


# ----------------------------------------------------------------------------- sketch
SKETCH = "GraphBatch.from_dataset (batch from dataset indices)"
SKETCH_EPOCH = "gnnkit + GraphBatch.from_dataset loader"


def batch_from_indices(dataset: GraphDataset, indices: Sequence[int]) -> GraphBatch:
    """The batch ``collate([dataset[i] for i in indices])`` builds, without per-graph objects:
    the library's vectorised path, :meth:`GraphBatch.from_dataset` (first measured here as a
    sketch, now library code; the rows keep their name)."""
    return GraphBatch.from_dataset(dataset, indices)


class BatchedFetch(torch.utils.data.Dataset):
    """A ``DataLoader`` dataset that fetches a whole batch at once: the loader calls
    ``__getitems__`` with the batch's indices (then ``collate_fn``, here :func:`identity`)."""

    def __init__(self, dataset: GraphDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> GraphBatch:
        return batch_from_indices(self.dataset, [index])

    def __getitems__(self, indices: list[int]) -> GraphBatch:
        return batch_from_indices(self.dataset, indices)


def identity(batch: GraphBatch) -> GraphBatch:
    return batch


def equal_batches(a: GraphBatch, b: GraphBatch) -> bool:
    """Field-by-field equality of two gnnkit batches (CSR arrays included)."""
    if not (torch.equal(a.adj.rowptr.long(), b.adj.rowptr.long())
            and torch.equal(a.adj.col.long(), b.adj.col.long())):
        return False
    fields = ("batch", "ptr", "x", "edge_attr", "y", "edge_order")
    return all(
        (getattr(a, f) is None and getattr(b, f) is None)
        or (getattr(a, f) is not None and getattr(b, f) is not None
            and getattr(a, f).shape == getattr(b, f).shape
            and bool(torch.equal(getattr(a, f), getattr(b, f))))
        for f in fields)


# ----------------------------------------------------------------------------- 1. collate
def collate_variants(dataset: GraphDataset, pyg_list: Sequence[Any] | None,
                     batches: list[list[int]]) -> dict[str, Callable[[], None]]:
    """Named closures, each doing one full pass of ``batches``; set-up work happens here."""
    graphs = [dataset[i] for i in range(len(dataset))]
    graph_lists = [[graphs[i] for i in batch] for batch in batches]

    def gnnkit_collate() -> None:
        for items in graph_lists:
            collate(items)

    def gnnkit_items_collate() -> None:
        for batch in batches:
            collate([dataset[i] for i in batch])

    def sketch() -> None:
        for batch in batches:
            batch_from_indices(dataset, batch)

    variants: dict[str, Callable[[], None]] = {
        "gnnkit collate": gnnkit_collate,
        "gnnkit dataset[i] + collate": gnnkit_items_collate,
        SKETCH: sketch,
    }
    if pyg_list is None:
        return variants
    from torch_geometric.data import Batch

    data_lists = [[pyg_list[i] for i in batch] for batch in batches]
    fresh = pyg_in_memory(pyg_list)
    warm = fresh()
    for i in range(len(warm)):  # fill the item cache, as the first epoch does
        warm[i]
    cold: list[Any] = [fresh()]

    def pyg_collate() -> None:
        for items in data_lists:
            Batch.from_data_list(items)

    def pyg_items_warm() -> None:
        for batch in batches:
            Batch.from_data_list([warm[i] for i in batch])

    def pyg_items_cold() -> None:
        data = cold.pop()
        for batch in batches:
            Batch.from_data_list([data[i] for i in batch])
        cold.append(fresh())  # the next pass starts with an empty cache again

    variants.update({
        "PyG from_data_list": pyg_collate,
        "PyG InMemoryDataset[i] + from_data_list (cache warm)": pyg_items_warm,
        "PyG InMemoryDataset[i] + from_data_list (cache cold)": pyg_items_cold,
    })
    return variants


def collate_throughput(dataset: GraphDataset, pyg_list: Sequence[Any] | None,
                       batch_sizes: Iterable[int], repeats: int, seed: int,
                       log: Log) -> list[dict[str, Any]]:
    """Graphs/s of every collate variant, the variants taking turns pass by pass."""
    rows = []
    for batch_size in batch_sizes:
        batches = shuffled_batches(len(dataset), batch_size, seed)
        variants = collate_variants(dataset, pyg_list, batches)
        sketch_ok = all(equal_batches(batch_from_indices(dataset, batch),
                                      collate([dataset[i] for i in batch])) for batch in batches)
        log(f"batch {batch_size}: the sketch builds the same batches as collate: {sketch_ok}")
        names = list(variants)
        times: dict[str, list[float]] = {name: [] for name in names}
        load_before = _load()
        for repeat in range(repeats):
            for name in names if repeat % 2 == 0 else names[::-1]:
                begin = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - begin)
        load_after = _load()
        for name in names:
            median = statistics.median(times[name])
            log(f"collate batch {batch_size} {name}: {len(dataset) / median:,.0f} graphs/s")
            rows.append({"batch_size": batch_size, "variant": name, "graphs": len(dataset),
                         "batches": len(batches), "pass_s": times[name],
                         "median_pass_s": median, "graphs_per_s": len(dataset) / median,
                         "load_before": load_before, "load_after": load_after,
                         **({"same_batches_as_collate": sketch_ok} if name == SKETCH else {})})
    return rows


def loader_throughput(dataset: GraphDataset, pyg_list: Sequence[Any] | None,
                      batch_sizes: Iterable[int], workers: Iterable[int], passes: int,
                      seed: int, log: Log) -> list[dict[str, Any]]:
    """Full ``DataLoader`` passes (no model) per library, batch size and worker count.

    Workers persist across passes: the first pass includes their start-up, the median is taken
    over the later ones.
    """
    rows = []
    for batch_size in batch_sizes:
        for num_workers in workers:
            loaders: dict[str, DataLoader] = {
                "gnnkit": DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                     collate_fn=collate, num_workers=num_workers,
                                     persistent_workers=num_workers > 0,
                                     generator=torch.Generator().manual_seed(seed)),
            }
            if pyg_list is not None:
                from torch_geometric.loader import DataLoader as PygLoader

                loaders["PyG"] = PygLoader(pyg_in_memory(pyg_list)(), batch_size=batch_size,
                                           shuffle=True, num_workers=num_workers,
                                           persistent_workers=num_workers > 0,
                                           generator=torch.Generator().manual_seed(seed))
            times: dict[str, list[float]] = {name: [] for name in loaders}
            load_before = _load()
            for k in range(passes):
                names = list(loaders) if k % 2 == 0 else list(loaders)[::-1]
                for name in names:
                    begin = time.perf_counter()
                    for _ in loaders[name]:
                        pass
                    times[name].append(time.perf_counter() - begin)
            load_after = _load()
            for name, values in times.items():
                later = values[1:] or values
                median = statistics.median(later)
                log(f"loader {name} batch {batch_size} workers {num_workers}: first pass "
                    f"{values[0]:.2f} s, then {len(dataset) / median:,.0f} graphs/s")
                rows.append({"library": name, "batch_size": batch_size,
                             "num_workers": num_workers, "pass_s": values,
                             "first_pass_s": values[0], "median_later_pass_s": median,
                             "graphs_per_s": len(dataset) / median,
                             "load_before": load_before, "load_after": load_after})
            del loaders  # shuts persistent workers down
    return rows


# ----------------------------------------------------------------------------- 2. GIN epoch
def gin_mlp(width: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.BatchNorm1d(width),
                               torch.nn.ReLU(), torch.nn.Linear(width, width))


class GINRegressor(torch.nn.Module):
    """Atom embedding → ``layers`` × (GIN conv → ReLU) → sum readout → linear head.

    ``conv`` builds one layer from its MLP and ``readout(h, index)`` pools; the parameter
    names do not depend on the library, so one model's ``state_dict`` loads into the other.
    """

    def __init__(self, conv: Callable[[torch.nn.Module], torch.nn.Module],
                 readout: Callable[[Tensor, Tensor], Tensor], *, width: int = 64,
                 layers: int = 4, num_atom_types: int = NUM_ATOM_TYPES) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(num_atom_types, width)
        self.convs = torch.nn.ModuleList([conv(gin_mlp(width)) for _ in range(layers)])
        self.head = torch.nn.Linear(width, 1)
        self.readout = readout

    def forward(self, atom_types: Tensor, graph: Any, readout_index: Tensor) -> Tensor:
        h = self.embed(atom_types.view(-1))
        for conv in self.convs:
            h = F.relu(conv(h, graph))
        return self.head(self.readout(h, readout_index)).view(-1)


def build_models(seed: int, width: int, layers: int,
                 with_pyg: bool) -> tuple[GINRegressor, GINRegressor | None]:
    """The gnnkit model and (optionally) the PyG one with the same initial weights."""
    torch.manual_seed(seed)
    ours = GINRegressor(GINConv, global_add_pool, width=width, layers=layers)
    if not with_pyg:
        return ours, None
    import torch_geometric.nn as pyg

    theirs = GINRegressor(pyg.GINConv, pyg.global_add_pool, width=width, layers=layers)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours, theirs


Unpack = Callable[[Any], tuple[Tensor, Any, Tensor, Tensor]]


def unpack_gnnkit(batch: GraphBatch) -> tuple[Tensor, Any, Tensor, Tensor]:
    assert batch.x is not None and batch.y is not None
    return batch.x, batch.adj, batch.ptr, batch.y


def unpack_pyg(batch: Any) -> tuple[Tensor, Any, Tensor, Tensor]:
    return batch.x, batch.edge_index, batch.batch, batch.y


def gnnkit_loader(dataset: GraphDataset, batch_size: int, seed: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed))


def sketch_loader(dataset: GraphDataset, batch_size: int, seed: int) -> DataLoader:
    """The same batches as :func:`gnnkit_loader` (same sampler and seed), fetched at once."""
    return DataLoader(BatchedFetch(dataset), batch_size=batch_size, shuffle=True,
                      collate_fn=identity, generator=torch.Generator().manual_seed(seed))


def pyg_loader(pyg_dataset: Any, batch_size: int, seed: int) -> DataLoader:
    from torch_geometric.loader import DataLoader as PygLoader

    return PygLoader(pyg_dataset, batch_size=batch_size, shuffle=True,
                     generator=torch.Generator().manual_seed(seed))


def check_equal_work(ours: GINRegressor, theirs: GINRegressor, our_batch: GraphBatch,
                     their_batch: Any) -> dict[str, Any]:
    """Train-mode loss and gradients of both models on the same first batch (on copies)."""
    graphs_equal = same_graphs(our_batch, their_batch)
    result: dict[str, Any] = {"same_graphs": graphs_equal}
    grads = []
    for model, batch, unpack in ((ours, our_batch, unpack_gnnkit),
                                 (theirs, their_batch, unpack_pyg)):
        model = copy.deepcopy(model).train()
        x, graph, index, y = unpack(batch)
        loss = F.l1_loss(model(x, graph, index), y)
        loss.backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
        result.setdefault("losses", []).append(float(loss.detach()))
    ours_grads, their_grads = grads
    result["max_grad_abs_diff"] = max(
        float((ours_grads[name] - their_grads[name]).abs().max()) for name in ours_grads)
    result["loss_allclose"] = bool(torch.allclose(torch.tensor(result["losses"][0]),
                                                  torch.tensor(result["losses"][1]),
                                                  rtol=1e-5, atol=1e-6))
    result["grads_allclose"] = all(
        bool(torch.allclose(ours_grads[name], their_grads[name], rtol=1e-4, atol=1e-5))
        for name in ours_grads)
    return result


def run_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable[Any],
              unpack: Unpack, max_batches: int | None = None) -> dict[str, Any]:
    """One (possibly truncated) training epoch: seconds in data and in compute, and losses."""
    model.train()
    data_s = compute_s = 0.0
    losses: list[float] = []
    batch_compute_s: list[float] = []
    graphs = 0
    iterator = iter(loader)
    while max_batches is None or len(losses) < max_batches:
        begin = time.perf_counter()
        batch = next(iterator, None)
        fetched = time.perf_counter()
        if batch is None:
            break
        x, graph, index, y = unpack(batch)
        optimizer.zero_grad(set_to_none=True)
        loss = F.l1_loss(model(x, graph, index), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        data_s += fetched - begin
        batch_compute_s.append(time.perf_counter() - fetched)
        compute_s += batch_compute_s[-1]
        graphs += int(y.shape[0])
    return {"data_s": data_s, "compute_s": compute_s, "total_s": data_s + compute_s,
            "batch_compute_s": batch_compute_s, "batches": len(losses), "graphs": graphs,
            "first_loss": losses[0] if losses else None,
            "mean_loss": statistics.fmean(losses) if losses else None}


def epoch_times(dataset: GraphDataset, pyg_list: Sequence[Any] | None, *, batch_size: int,
                threads: Iterable[int], repeats: int, max_batches: int | None, seed: int,
                width: int, layers: int, lr: float, log: Log,
                sketch: bool = True) -> dict[str, Any]:
    """Equal-work check, then interleaved epochs of both libraries per thread count."""
    ours, theirs = build_models(seed, width, layers, with_pyg=pyg_list is not None)
    models: dict[str, tuple[torch.nn.Module, Callable[[int], Iterable[Any]], Unpack]] = {
        "gnnkit": (ours, lambda s: gnnkit_loader(dataset, batch_size, s), unpack_gnnkit)}
    first_batch = next(iter(gnnkit_loader(dataset, batch_size, seed)))
    check: dict[str, Any] | None = None
    if theirs is not None and pyg_list is not None:
        pyg_dataset = pyg_in_memory(pyg_list)()
        models["PyG"] = (theirs, lambda s: pyg_loader(pyg_dataset, batch_size, s), unpack_pyg)
        check = check_equal_work(ours, theirs, first_batch,
                                 next(iter(pyg_loader(pyg_dataset, batch_size, seed))))
        log(f"first batch: same graphs {check['same_graphs']}, losses {check['losses']}, "
            f"max |grad diff| {check['max_grad_abs_diff']:.2e}")
        if not (check["same_graphs"] and check["loss_allclose"] and check["grads_allclose"]):
            raise RuntimeError(f"gnnkit and PyG do not do the same work: {check}")
        # fill PyG's item cache (untimed), as the first epoch does for every later one
        for i in range(len(pyg_dataset)):
            pyg_dataset[i]
    if sketch:
        if not equal_batches(next(iter(sketch_loader(dataset, batch_size, seed))), first_batch):
            raise RuntimeError("the batched-fetch sketch does not build collate's batches")
        models[SKETCH_EPOCH] = (copy.deepcopy(ours),
                                lambda s: sketch_loader(dataset, batch_size, s), unpack_gnnkit)
    optimizers = {name: torch.optim.Adam(model.parameters(), lr=lr)
                  for name, (model, _, _) in models.items()}
    previous = torch.get_num_threads()
    rows = []
    for num_threads in threads:
        torch.set_num_threads(num_threads)
        # warm-up: a few batches each (allocator, lazy initialisation), not timed
        for name, (model, make_loader, unpack) in models.items():
            run_epoch(model, optimizers[name], make_loader(seed), unpack, max_batches=3)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
        load_before = _load()
        for repeat in range(repeats):
            names = list(models) if repeat % 2 == 0 else list(models)[::-1]
            for name in names:
                model, make_loader, unpack = models[name]
                runs[name].append(run_epoch(model, optimizers[name], make_loader(seed + repeat),
                                            unpack, max_batches))
        load_after = _load()
        for name, epochs in runs.items():
            row = {"library": name, "threads": num_threads, "batch_size": batch_size,
                   "epochs": epochs, "batches": epochs[0]["batches"],
                   "graphs": epochs[0]["graphs"], "load_before": load_before,
                   "load_after": load_after}
            for key in ("data_s", "compute_s", "total_s"):
                row[f"median_{key}"] = statistics.median(e[key] for e in epochs)
            # robust to the odd stalled batch: the median batch over all epochs
            row["median_batch_compute_ms"] = 1000 * statistics.median(
                t for e in epochs for t in e["batch_compute_s"])
            log(f"epoch {name} threads {num_threads}: data {row['median_data_s']:.2f} s, "
                f"compute {row['median_compute_s']:.2f} s, total {row['median_total_s']:.2f} s "
                f"({row['batches']} batches, {repeats} epochs)")
            rows.append(row)
    torch.set_num_threads(previous)
    return {"equal_work": check, "rows": rows}


# ----------------------------------------------------------------------------- 3. profile
def profile_gnnkit_epoch(dataset: GraphDataset, *, batch_size: int, max_batches: int,
                         seed: int, width: int, layers: int, lr: float,
                         top: int) -> dict[str, Any]:
    """Where the gnnkit epoch spends its time: profiler scopes, top operators, top Python."""
    from torch.profiler import ProfilerActivity, profile, record_function

    model, _ = build_models(seed, width, layers, with_pyg=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    run_epoch(model, optimizer, gnnkit_loader(dataset, batch_size, seed), unpack_gnnkit, 3)

    scopes = ("data", "forward", "backward", "optimizer")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        iterator = iter(gnnkit_loader(dataset, batch_size, seed))
        for _ in range(max_batches):
            with record_function("data"):
                batch = next(iterator, None)
            if batch is None:
                break
            x, graph, index, y = unpack_gnnkit(batch)
            optimizer.zero_grad(set_to_none=True)
            with record_function("forward"):
                loss = F.l1_loss(model(x, graph, index), y)
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                optimizer.step()
    averages = prof.key_averages()
    by_key = {event.key: event for event in averages}
    scope_ms = {name: by_key[name].cpu_time_total / 1000 for name in scopes if name in by_key}
    operators = sorted((e for e in averages if e.key not in scopes),
                       key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    total_self = sum(e.self_cpu_time_total for e in averages) / 1000

    profiler = cProfile.Profile()
    iterator = iter(gnnkit_loader(dataset, batch_size, seed + 1))
    profiler.enable()
    for _ in range(max_batches):
        batch = next(iterator, None)
        if batch is None:
            break
        x, graph, index, y = unpack_gnnkit(batch)
        optimizer.zero_grad(set_to_none=True)
        F.l1_loss(model(x, graph, index), y).backward()
        optimizer.step()
    profiler.disable()
    return {"batches": max_batches, "scope_ms": scope_ms, "total_self_cpu_ms": total_self,
            "operators": [{"name": e.key, "calls": e.count,
                           "self_cpu_ms": e.self_cpu_time_total / 1000,
                           "cpu_ms": e.cpu_time_total / 1000} for e in operators],
            "python_tottime": _python_top(profiler, "tottime", top, gnnkit_only=False),
            "python_cumtime_gnnkit": _python_top(profiler, "cumulative", top, gnnkit_only=True)}


def _python_top(profiler: cProfile.Profile, sort: str, top: int,
                gnnkit_only: bool) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if gnnkit_only and "gnnkit" not in Path(filename).parts:
            continue
        rows.append({"function": _short_location(filename, line, function), "calls": calls,
                     "tottime_ms": 1000 * tottime, "cumtime_ms": 1000 * cumtime})
    key = "tottime_ms" if sort == "tottime" else "cumtime_ms"
    return sorted(rows, key=lambda r: r[key], reverse=True)[:top]


def _short_location(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function  # a built-in
    parts = Path(filename).parts
    for anchor in ("gnnkit", "torch", "torch_geometric"):
        if anchor in parts:
            k = len(parts) - 1 - parts[::-1].index(anchor)
            return f"{'/'.join(parts[k:])}:{line}({function})"
    return f"{Path(filename).name}:{line}({function})"


# ----------------------------------------------------------------------------- report
def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def markdown(result: dict[str, Any]) -> str:
    args = result["args"]
    lines = ["# Graph-level learning speed: gnnkit vs PyG on ZINC-12k (CPU)", "",
             f"Generated by `{result['command']}`.", "",
             f"Data: ZINC-12k subset, the {result['train_graphs']:,} training graphs "
             f"({result['train_nodes']:,} nodes, {result['train_edges']:,} directed edges). "
             "Every table gives medians over repeats in which the variants take turns "
             "(alternating which goes first); the load average (1/5/15 min) before/after each "
             "table is beside it — the machine is shared with other jobs.", "",
             "## Machine", ""]
    lines += [f"- **{key}**: {value}" for key, value in result["machine"].items()]
    lines += [f"- **PyG**: {result['pyg_version'] or 'not installed (gnnkit only)'}", ""]
    cores = result["machine"].get("logical_cores") or 1
    recorded = [result["load_start"], result["load_end"]]
    for section in (result["collate"], result["loader"], result["epoch"]["rows"]):
        recorded += [row[key] for row in section for key in ("load_before", "load_after")]
    peak = max(load[0] for load in recorded)
    if peak > cores:
        lines += [f"**The 1-minute load average reached {peak} on {cores} logical cores**: "
                  "every process waited for a CPU part of the time. Rows of one table were "
                  "taken in turns and compare fairly; absolute numbers, and anything run with "
                  "more threads than free cores, are inflated and noisy (see the min–max "
                  "column of the epoch table).", ""]

    lines += ["## Collate throughput", "",
              f"torch threads: {args['collate_threads']}. One pass over the training graphs "
              f"in a shuffled order, {args['repeats']} passes per variant. "
              "*collate* alone works on pre-built lists of graph objects; the *dataset[i]* "
              "variants include the item access a `DataLoader` performs. PyG's "
              "`InMemoryDataset` caches every item it has separated once: *warm* = every "
              "epoch after the first, *cold* = the first. The *sketch* row is a vectorised "
              "batch built straight from the dataset's flat tensors and a list of indices "
              "(`batch_from_indices` in the script, ~20 lines on public gnnkit API; not "
              "library code), checked to build exactly `collate`'s batches.", "",
              "| batch | variant | graphs/s | vs gnnkit collate | load before → after |",
              "|---:|---|---:|---:|---|"]
    base: dict[int, float] = {}
    for row in result["collate"]:
        if row["variant"] == "gnnkit collate":
            base[row["batch_size"]] = row["graphs_per_s"]
    for row in result["collate"]:
        ratio = row["graphs_per_s"] / base[row["batch_size"]]
        variant = row["variant"]
        if "same_batches_as_collate" in row:
            variant += f" (same batches {'✓' if row['same_batches_as_collate'] else '✗'})"
        lines.append(f"| {row['batch_size']} | {variant} | {row['graphs_per_s']:,.0f} | "
                     f"{ratio:.2f}× | {row['load_before']} → {row['load_after']} |")

    if result["loader"]:
        lines += ["", "## DataLoader pass (no model)", "",
                  "A full shuffled pass of a `DataLoader` over the training graphs, no "
                  "computation. Workers are persistent: *first pass* includes starting them; "
                  f"graphs/s is the median of the {args['loader_passes'] - 1} later passes "
                  f"(torch threads in the main process: {args['collate_threads']}; workers run "
                  "one thread each). Reported, not a claim: with 2 cores shared with other "
                  "jobs, workers compete with the main process.", "",
                  "| library | batch | workers | first pass | graphs/s | load before → after |",
                  "|---|---:|---:|---:|---:|---|"]
        for row in result["loader"]:
            lines.append(f"| {row['library']} | {row['batch_size']} | {row['num_workers']} | "
                         f"{row['first_pass_s']:.2f} s | {row['graphs_per_s']:,.0f} | "
                         f"{row['load_before']} → {row['load_after']} |")

    epoch = result["epoch"]
    fraction = "full epochs" if args["max_batches"] is None else (
        f"the first {args['max_batches']} batches of each epoch")
    lines += ["", "## One GIN training epoch", "",
              f"Batch {args['batch_size']}, {args['layers']} GIN layers of width "
              f"{args['width']} (MLP Linear-BN-ReLU-Linear, ReLU between layers), embedding "
              f"of {NUM_ATOM_TYPES} atom types, sum readout, linear head, L1 loss, Adam "
              f"(lr {args['lr']}); {fraction}, {args['epoch_repeats']} epochs per library and "
              "thread count, shuffled by a generator seeded alike for both libraries. "
              "*data* = waiting for the loader's next batch (item access + collate, "
              "`num_workers=0`), *compute* = forward + backward + Adam step.", ""]
    check = epoch["equal_work"]
    if check is not None:
        lines += [f"Equal work: the first batch holds the same graphs in both libraries "
                  f"({'✓' if check['same_graphs'] else '✗'}); from the same initial weights "
                  f"the train-mode losses are {check['losses'][0]:.6f} (gnnkit) and "
                  f"{check['losses'][1]:.6f} (PyG), allclose "
                  f"{'✓' if check['loss_allclose'] else '✗'}; gradients allclose "
                  f"{'✓' if check['grads_allclose'] else '✗'} (max |Δ| "
                  f"{check['max_grad_abs_diff']:.1e}).", ""]
    if any(row["library"] == SKETCH_EPOCH for row in epoch["rows"]):
        lines += [f"*{SKETCH_EPOCH}*: the gnnkit model (same initial weights) fed by a loader "
                  "whose dataset fetches each batch at once (`__getitems__` → the vectorised "
                  "sketch of the collate table; same sampler and seed, checked to build the "
                  "same first batch as `collate`): what the data column would become with "
                  "such a path. Not library code.", ""]
    lines += ["*median batch* = the median compute time of one batch over all timed epochs "
              "(insensitive to the few batches that wait for a CPU).", "",
              "| threads | library | data | compute | epoch | epochs min–max "
              "| epoch / gnnkit epoch | median batch (compute) | load before → after |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    totals = {(r["threads"], r["library"]): r["median_total_s"] for r in epoch["rows"]}
    for row in epoch["rows"]:
        ratio = "—"
        if row["library"] != "gnnkit":
            ratio = f"{row['median_total_s'] / totals[(row['threads'], 'gnnkit')]:.2f}"
        spread = [e["total_s"] for e in row["epochs"]]
        lines.append(f"| {row['threads']} | {row['library']} | {row['median_data_s']:.2f} s | "
                     f"{row['median_compute_s']:.2f} s | {row['median_total_s']:.2f} s | "
                     f"{min(spread):.2f}–{max(spread):.2f} s | {ratio} | "
                     f"{row['median_batch_compute_ms']:.1f} ms | "
                     f"{row['load_before']} → {row['load_after']} |")

    profile_ = result.get("profile")
    if profile_:
        lines += ["", "## Where gnnkit's epoch time goes", "",
                  f"`torch.profiler` over {profile_['batches']} batches of the gnnkit epoch "
                  f"(1 thread; profiler overhead included, so only the proportions matter; "
                  f"load {profile_['load']}).", "",
                  "| scope | ms | share |", "|---|---:|---:|"]
        scope_total = sum(profile_["scope_ms"].values())
        for name, ms in profile_["scope_ms"].items():
            lines.append(f"| {name} | {ms:.0f} | {100 * ms / scope_total:.0f} % |")
        lines += ["", "Top operators by self CPU time:", "",
                  "| operator | calls | self ms | share of all self time |",
                  "|---|---:|---:|---:|"]
        for op in profile_["operators"]:
            lines.append(f"| `{op['name']}` | {op['calls']} | {op['self_cpu_ms']:.1f} | "
                         f"{100 * op['self_cpu_ms'] / profile_['total_self_cpu_ms']:.1f} % |")
        lines += ["", f"`cProfile` over {profile_['batches']} batches — top functions by own "
                  "time:", "", "| function | calls | own ms | cumulative ms |",
                  "|---|---:|---:|---:|"]
        for entry in profile_["python_tottime"]:
            lines.append(f"| `{entry['function']}` | {entry['calls']} | "
                         f"{entry['tottime_ms']:.1f} | {entry['cumtime_ms']:.1f} |")
        lines += ["", "gnnkit functions by cumulative time:", "",
                  "| function | calls | own ms | cumulative ms |", "|---|---:|---:|---:|"]
        for entry in profile_["python_cumtime_gnnkit"]:
            lines.append(f"| `{entry['function']}` | {entry['calls']} | "
                         f"{entry['tottime_ms']:.1f} | {entry['cumtime_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=ZINC_ROOT,
                        help="folder of the ZINC-subset text files (read_zinc)")
    parser.add_argument("--collate-batch-sizes", type=_ints, default=[32, 128])
    parser.add_argument("--repeats", type=int, default=5, help="passes per collate variant")
    parser.add_argument("--collate-threads", type=int, default=1)
    parser.add_argument("--workers", type=_ints, default=[0, 2],
                        help="DataLoader worker counts (empty string: skip the loader table)")
    parser.add_argument("--loader-passes", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128, help="of the GIN epoch")
    parser.add_argument("--threads", type=_ints, default=[1, 2], help="of the GIN epoch")
    parser.add_argument("--epoch-repeats", type=int, default=3)
    parser.add_argument("--max-batches", type=int, default=None,
                        help="truncate every epoch to this many batches (default: full)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--profile-batches", type=int, default=20,
                        help="batches profiled (0: no profile)")
    parser.add_argument("--top", type=int, default=15, help="rows of each profile table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pyg", action="store_true", help="measure gnnkit only")
    parser.add_argument("--out", type=Path, default=None, help="Markdown report")
    parser.add_argument("--json", type=Path, default=None, help="raw numbers")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    missing = missing_zinc_files(args.data_root)
    if missing:
        log(f"skipped: ZINC-subset not found in {args.data_root} (missing {', '.join(missing)}); "
            "pass --data-root with the folder of the ZINC_*.txt files")
        return 0
    with_pyg = not args.no_pyg and pyg_available()
    if not with_pyg and not args.no_pyg:
        log("torch_geometric is not installed: measuring gnnkit only")
    train = read_zinc(args.data_root).split("train")
    pyg_list = train.to_pyg_list() if with_pyg else None
    pyg_version = None
    if with_pyg:
        import torch_geometric

        pyg_version = torch_geometric.__version__

    load_start = _load()
    torch.set_num_threads(args.collate_threads)
    collate_rows = collate_throughput(train, pyg_list, args.collate_batch_sizes, args.repeats,
                                      args.seed, log)
    loader_rows = loader_throughput(train, pyg_list, args.collate_batch_sizes, args.workers,
                                    args.loader_passes, args.seed, log) if args.workers else []
    epoch = epoch_times(train, pyg_list, batch_size=args.batch_size, threads=args.threads,
                        repeats=args.epoch_repeats, max_batches=args.max_batches,
                        seed=args.seed, width=args.width, layers=args.layers, lr=args.lr,
                        log=log)
    profile_result = None
    if args.profile_batches > 0:
        torch.set_num_threads(1)
        load = _load()
        profile_result = profile_gnnkit_epoch(train, batch_size=args.batch_size,
                                              max_batches=args.profile_batches, seed=args.seed,
                                              width=args.width, layers=args.layers, lr=args.lr,
                                              top=args.top)
        profile_result["load"] = load
    torch.set_num_threads(args.collate_threads)
    machine = machine_description("cpu")
    machine["torch_threads"] = (f"{args.collate_threads} (collate, loader), "
                                f"{', '.join(map(str, args.threads))} (epoch), 1 (profile)")
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    result = {
        "command": " ".join(["python benchmarks/graph_level.py", *shown]),
        "args": {key: (str(value) if isinstance(value, Path) else value)
                 for key, value in vars(args).items()},
        "machine": machine, "pyg_version": pyg_version,
        "load_start": load_start, "load_end": _load(),
        "train_graphs": len(train), "train_nodes": int(train.num_nodes.sum()),
        "train_edges": int(train.num_edges.sum()),
        "collate": collate_rows, "loader": loader_rows, "epoch": epoch,
        "profile": profile_result,
    }
    report = markdown(result)
    print(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
