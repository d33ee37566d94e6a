"""Layer-wise evaluation split across ranks: ``distributed_layerwise_inference`` and
``fit_rank``/``fit_distributed`` with ``inference="layerwise"``.

The multi-process tests start 2 ranks (gloo, 127.0.0.1 only) with the ``fork`` start method,
so the ranks import nothing and start at once (a second or two per test); they are skipped
where ``fork`` is missing. Everything else runs in this process.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

# helpers of the neighbouring test modules (pytest puts this folder on sys.path)
from test_distributed import needs_gloo, sage, tiny_task
from test_inference import MODELS, N, _graph

from gnnkit.sparse import SparseMatrix
from gnnkit.train.distributed import _loopback_interface, fit_distributed, fit_rank, free_port
from gnnkit.train.inference import distributed_layerwise_inference, layerwise_inference
from gnnkit.train.node_classification import fit_sampled

needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                                reason="needs the fork start method (the ranks run code of "
                                       "this test module)")

#: float64 everywhere: the sharded, the single-process layer-wise and the full forward agree
#: to float rounding, far below this
TOLERANCE = 1e-12

#: (model, x, A, batch_size) per case, built before forking so both ranks hold the same
Case = tuple[torch.nn.Module, Any, SparseMatrix, int]


def _cases() -> dict[str, Case]:
    torch.manual_seed(0)
    A, weighted = _graph(), _graph(weighted=True)  # N = 41 nodes: shards of 21 and 20
    x = torch.randn(N, 6, dtype=torch.float64)
    sparse_x = SparseMatrix.from_dense(torch.where(x > 0.3, x, 0.0))
    sage3 = MODELS["sage-mean-3"]().double().eval()
    gcn = MODELS["gcn-2"]().double().eval()  # needs the full graph's degrees on a block
    three = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 2], [1, 2, 0, 2]]), shape=3)
    one = SparseMatrix.from_edge_index(torch.tensor([[0], [0]]), shape=1)  # rank 1: no node
    empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=0)
    return {
        "sage-batch-4": (sage3, x, A, 4),  # several batches per shard, a short last one
        "sage-batch-1": (sage3, x, A, 1),
        "sage-shard-smaller-than-batch": (sage3, x, A, 100),
        "sage-sparse-features": (sage3, sparse_x, A, 6),
        "gcn-weighted": (gcn, x, weighted, 7),
        "gcn-3-nodes": (gcn, x[:3], three, 5),  # shards of 2 and 1 (padded)
        "sage-1-node": (sage3, x[:1], one, 3),
        "sage-0-nodes": (sage3, x[:0], empty, 3),
    }


def _inference_rank(rank: int, world_size: int, port: int, out_dir: str,
                    cases: dict[str, Case]) -> None:
    """One rank: every case through distributed_layerwise_inference, then a graph whose size
    differs between the ranks (an error on both, not a hang); saves what it got."""
    interface = _loopback_interface()
    if interface is not None:
        os.environ.setdefault("GLOO_SOCKET_IFNAME", interface)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world_size, timeout=timedelta(seconds=60))
    try:
        outputs: dict[str, Any] = {}
        for name, (model, x, A, batch_size) in cases.items():
            outputs[name] = distributed_layerwise_inference(model, x, A, batch_size=batch_size)
        model, x, _, _ = cases["sage-batch-4"]
        keep = N - rank  # rank 0: 41 nodes, rank 1: 40
        other = SparseMatrix.from_edge_index(torch.tensor([[0], [1]]), shape=keep)
        try:
            distributed_layerwise_inference(model, x[:keep], other, batch_size=4)
            outputs["mismatch"] = "no error"
        except ValueError as error:
            outputs["mismatch"] = str(error)
        torch.save(outputs, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@needs_gloo
@needs_fork
def test_two_ranks_give_the_single_process_logits(tmp_path: Path) -> None:
    """Both ranks end with the same (bit-identical) logits, equal to single-process
    layerwise_inference and to model(x, A) to 1e-12 in float64: N = 41 (not a multiple of
    2), a shard smaller than the batch size, sparse features, GCN's full-graph degrees, a
    rank without nodes (N = 1) and an empty graph."""
    cases = _cases()
    started = time.perf_counter()
    mp.start_processes(_inference_rank, args=(2, free_port(), str(tmp_path), cases), nprocs=2,
                       join=True, start_method="fork")
    assert time.perf_counter() - started < 60
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(2)]
    for name, (model, x, A, batch_size) in cases.items():
        out = ranks[0][name]
        assert torch.equal(out, ranks[1][name]), name  # every rank holds the same tensor
        assert not out.requires_grad
        single = layerwise_inference(model, x, A, batch_size=batch_size)
        assert out.shape == single.shape == (A.num_rows, 3), name
        torch.testing.assert_close(out, single, rtol=TOLERANCE, atol=TOLERANCE)
        if A.num_rows:
            with torch.no_grad():
                full = model(x, A)
            torch.testing.assert_close(out, full, rtol=TOLERANCE, atol=TOLERANCE)
    for outputs in ranks:
        assert "different numbers of nodes" in outputs["mismatch"]
        assert "range 40…41" in outputs["mismatch"]


def test_without_a_process_group_it_is_layerwise_inference() -> None:
    model, x, A, _ = _cases()["gcn-weighted"]
    for batch_size in (1, 5, 100):
        assert torch.equal(distributed_layerwise_inference(model, x, A, batch_size=batch_size),
                           layerwise_inference(model, x, A, batch_size=batch_size))


def test_sharded_inference_checks_its_arguments_before_any_collective() -> None:
    model, x, A, _ = _cases()["sage-batch-4"]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        distributed_layerwise_inference(model, x, A, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        distributed_layerwise_inference(model, x, A, batch_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="A must be a gnnkit SparseMatrix"):
        distributed_layerwise_inference(model, x, A.to_dense(), batch_size=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"x has 5 rows but A has {N} nodes"):
        distributed_layerwise_inference(model, x[:5], A, batch_size=4)
    with pytest.raises(TypeError, match="Linear has no num_layers"):
        distributed_layerwise_inference(torch.nn.Linear(6, 3), x, A, batch_size=4)


# ---------------------------------------------------------------------------- the trainer
def test_fit_rank_checks_the_inference_options() -> None:
    """The options of fit_sampled, with its messages, raised before any collective (by
    fit_rank) or before any process starts (by fit_distributed)."""
    x, A, y, train, val, test = tiny_task()
    args = (x, A, y, train, val, test)
    options: dict[str, Any] = {"fanouts": [2], "batch_size": 4, "epochs": 1}
    for fit in (fit_rank, lambda *a, **k: fit_distributed(2, *a, **k)):
        with pytest.raises(ValueError, match=r"inference must be one of \['full', "
                                             r"'layerwise'\], got 'layer'"):
            fit(sage(0), *args, inference="layer", **options)
        with pytest.raises(ValueError, match="inference_batch_size is for "
                                             "inference='layerwise'"):
            fit(sage(0), *args, inference_batch_size=8, **options)
        for bad in (0, -3, True, 2.5):
            with pytest.raises(ValueError, match="inference_batch_size must be an int >= 1"):
                fit(sage(0), *args, inference="layerwise", inference_batch_size=bad,
                    **options)
        with pytest.raises(TypeError, match="Linear has no num_layers"):
            fit(torch.nn.Linear(5, 3).double(), *args, inference="layerwise", **options)


def test_fit_rank_alone_with_layerwise_inference_is_fit_sampled() -> None:
    """Without a process group, the layer-wise evaluation is fit_sampled's: the same
    numbers, bit for bit."""
    x, A, y, train, val, test = tiny_task()
    kwargs: dict[str, Any] = {"fanouts": [3, 2], "batch_size": 16, "seed": 5, "lr": 0.01,
                              "epochs": 3, "inference": "layerwise",
                              "inference_batch_size": 9}
    a, b = sage(1, dropout=0.5), sage(1, dropout=0.5)
    torch.manual_seed(7)
    ours = fit_rank(a, x, A, y, train, val, test, **kwargs)
    torch.manual_seed(7)
    reference = fit_sampled(b, x, A, y, train, val, test, **kwargs)
    for ours_entry, ref_entry in zip(ours.history, reference.history, strict=True):
        for key in ("val_loss", "val_acc", "test_loss", "test_acc"):
            assert ours_entry[key] == ref_entry[key]


@needs_gloo
@needs_fork
def test_two_ranks_layerwise_evaluation_gives_the_full_forward_history() -> None:
    """The same 2-rank run (seed, weights, sampled fanouts, dropout, Adam, early stopping)
    evaluated with one forward on rank 0 and split across the ranks layer by layer:
    evaluation draws nothing random, so training is the same (bit-identical weights and
    losses); the logits agree to float rounding (~1e-16 in float64), so the accuracies are
    equal and the validation/test losses agree to 1e-12, and the same epoch is selected.
    70 nodes, layer-wise batches of 8: shards of 35 nodes, 5 blocks each, a short last one."""
    x, A, y, train, val, test = tiny_task(41)
    kwargs: dict[str, Any] = {"fanouts": [3, 2], "batch_size": 12, "seed": 2, "lr": 0.05,
                              "epochs": 5, "stopping": "best_val_loss", "patience": 2,
                              "threads": 1, "timeout": 60, "start_method": "fork"}
    started = time.perf_counter()
    full = fit_distributed(2, sage(4, dropout=0.5), x, A, y, train, val, test, **kwargs)
    layerwise = fit_distributed(2, sage(4, dropout=0.5), x, A, y, train, val, test,
                                inference="layerwise", inference_batch_size=8, **kwargs)
    assert time.perf_counter() - started < 60
    assert layerwise.epochs == full.epochs and layerwise.stopped == full.stopped
    assert layerwise.selected_epoch == full.selected_epoch
    assert layerwise.val_acc == full.val_acc and layerwise.test_acc == full.test_acc
    for ours, ref in zip(layerwise.history, full.history, strict=True):
        assert ours["epoch"] == ref["epoch"] and ours["loss"] == ref["loss"]
        for name in ("val", "test"):
            assert ours[f"{name}_acc"] == ref[f"{name}_acc"]
            assert ours[f"{name}_loss"] == pytest.approx(ref[f"{name}_loss"], rel=TOLERANCE,
                                                         abs=TOLERANCE)
    for key, value in full.rank_states[0].items():
        assert torch.equal(value, layerwise.rank_states[0][key])
        assert torch.equal(value, layerwise.rank_states[1][key])
