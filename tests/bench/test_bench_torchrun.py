"""``torchrun --nproc_per_node 2 -m gnnkit bench -e <sampled experiment>`` trains data-parallel
(``fit_rank`` in a gloo process group joined from torchrun's environment) and only rank 0
prints the table and writes the results.

The metrics are checked against :func:`gnnkit.train.distributed.fit_distributed` with 2
processes, the same initial weights and the same loader seed — what the bench run must be,
since both run ``fit_rank`` on 2 ranks with 1 thread each (evaluation on rank 0, the same
samples, dropout streams and gloo gradient average): equal to float rounding (tolerance
1e-6 on losses and 1e-9 on accuracies in percent; in practice they are bit-identical).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gnnkit.bench.data import load_node_data
from gnnkit.bench.experiment import parse_experiment
from gnnkit.models import build_model
from gnnkit.train.distributed import fit_distributed, free_port

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build")

EXPERIMENT = """
id = "sage-ddp-tiny"
title = "tiny sampled SAGE on Cora for the torchrun test"
task = "node_classification"
metric = "accuracy"
seeds = 1
[dataset]
name = "cora"
source = "bundled"
split = "public"
features = "row_normalize"
[model]
name = "sage"
hidden_channels = 16
dropout = 0.5
[training]
lr = 0.05
weight_decay = 0.0005
epochs = 4
stopping = "best_val_acc"
patience = 10
[training.sampling]
fanouts = [5, 5]
batch_size = 70
"""


def _torchrun(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "gnnkit", "bench", "-e", "sage-ddp-tiny", "--experiments-dir",
               str(tmp_path), "--no-results", "--out", str(out), "--seeds", "0"]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


#: the same experiment with every evaluation split across the two ranks (layer-wise)
LAYERWISE = EXPERIMENT + """inference = "layerwise"
inference_batch_size = 500
"""


@pytest.mark.slow  # 10 s on a quiet 2-core machine, 21-32 s under load (torchrun + 2 forks)
@pytest.mark.parametrize("text", [EXPERIMENT, LAYERWISE], ids=["full", "layerwise"])
def test_torchrun_bench_trains_data_parallel_and_rank_zero_reports(tmp_path: Path,
                                                                   text: str) -> None:
    """Either evaluation gives the history of fit_distributed with one full forward on rank 0
    (layer-wise logits equal the full forward's up to float rounding: same accuracies)."""
    (tmp_path / "sage-ddp-tiny.toml").write_text(text)
    out = tmp_path / "results.json"
    done = _torchrun(tmp_path, out)
    assert done.returncode == 0, done.stdout + done.stderr
    # one results file (rank 0's), no results folder, one table, one "wrote"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "sage-ddp-tiny.toml"]
    assert done.stdout.count("sage-ddp-tiny") == 1, done.stdout
    assert done.stderr.count("gnnkit bench: wrote") == 1, done.stderr
    report = json.loads(out.read_text())
    assert report["run"]["torchrun_world_size"] == 2
    (result,) = report["experiments"]
    assert result["status"] == "ok", result["message"]
    (run,) = result["runs"]
    assert run["epochs"] == 4

    # the same training with fit_distributed: 2 ranks, the bench's initial weights and seed
    experiment = parse_experiment(tomllib.loads(EXPERIMENT))
    data = load_node_data(experiment.dataset, roots=[])
    torch.manual_seed(0)  # train_node_classifier: seed, then the model
    model = build_model(experiment.model, task="node_classification",
                        in_channels=data.num_features, num_classes=data.num_classes)
    seed = int(torch.randint(0, 2**62, (1,)))  # fit_rank's draw on rank 0 (seed=None)
    x = data.x.to_dense() if not isinstance(data.x, torch.Tensor) else data.x
    training = experiment.training
    start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    reference = fit_distributed(
        2, model, x, data.adjacency, data.y, data.train[:, 0], data.val[:, 0],
        data.test[:, 0], fanouts=[5, 5], batch_size=70, seed=seed, lr=training.lr,
        weight_decay=training.weight_decay, epochs=4, stopping=training.stopping,
        patience=training.patience, threads=1, timeout=60, start_method=start_method)
    assert run["selected_epoch"] == reference.selected_epoch
    assert run["test"] == pytest.approx(100.0 * reference.test_acc, abs=1e-9)
    assert run["val"] == pytest.approx(100.0 * reference.val_acc, abs=1e-9)
    assert [e["loss"] for e in run["curve"]] == pytest.approx(
        [e["loss"] for e in reference.history], abs=1e-6)
    assert [e["val"] for e in run["curve"]] == pytest.approx(
        [100.0 * e["val_acc"] for e in reference.history], abs=1e-9)
