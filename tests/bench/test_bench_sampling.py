"""The node-classification task's ``[training.sampling]`` table: parsing, errors, and a short
sampled run on the bundled Cora next to its full-batch twin."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import tomllib

from gnnkit.bench.data import load_node_data
from gnnkit.bench.experiment import ExperimentError, load_experiments, parse_experiment
from gnnkit.bench.tasks.node_classification import train_node_classifier
from gnnkit.train.distributed import fit_rank

BASE = """
id = "sage-test"
title = "t"
task = "node_classification"
[dataset]
name = "cora"
source = "bundled"
split = "public"
[model]
name = "sage"
hidden_channels = 16
[training]
lr = 0.01
epochs = 3
"""


def parse(extra: str) -> Any:
    return parse_experiment(tomllib.loads(BASE + extra))


def test_shipped_sage_experiments_differ_only_in_sampling() -> None:
    experiments = load_experiments()
    full, sampled = experiments["sage-cora"], experiments["sage-cora-sampled"]
    assert full.training.sampling is None
    assert sampled.training.sampling == {"fanouts": [25, 10], "batch_size": 512, "workers": 0,
                                         "inference": "full"}
    assert dataclasses.replace(sampled.training, sampling=None) == full.training
    assert sampled.model == full.model and sampled.dataset == full.dataset
    small = experiments["sage-cora-sampled-b32"]
    assert small.training.sampling == {"fanouts": [25, 10], "batch_size": 32, "workers": 0,
                                       "inference": "full"}
    assert small.model == full.model and small.dataset == full.dataset
    # the report's settings stay JSON-friendly
    assert sampled.hyperparameters()["training.sampling"]["fanouts"] == [25, 10]


def test_every_geom_gcn_dataset_has_a_full_batch_and_a_sampled_sage_twin() -> None:
    experiments = load_experiments()
    geom = {e.dataset.name for e in experiments.values()
            if "geom-gcn" in e.suites and e.dataset.split == "geom-gcn"}
    assert geom == {"cora", "citeseer", "pubmed", "texas", "wisconsin", "cornell",
                    "chameleon", "squirrel", "film"}
    pairs = {e.id for e in experiments.values() if "sampling-geom-gcn" in e.suites}
    assert pairs == ({f"sage-geom-{name}" for name in geom}
                     | {f"sage-geom-{name}-sampled" for name in geom})
    for name in geom:
        full = experiments[f"sage-geom-{name}"]
        sampled = experiments[f"sage-geom-{name}-sampled"]
        assert full.training.sampling is None and full.model["name"] == "sage"
        assert sampled.training.sampling == {"fanouts": [25, 10], "batch_size": 512,
                                             "workers": 0, "inference": "full"}
        # the only difference is sampling
        assert dataclasses.replace(sampled.training, sampling=None) == full.training
        assert sampled.model == full.model and sampled.dataset == full.dataset
        assert full.seeds == sampled.seeds == 10 and full.dataset.split == "geom-gcn"
        assert full.paper is None and full.notes and sampled.notes


def test_sampling_table_defaults_and_errors() -> None:
    spec = parse("[training.sampling]\nfanouts = [5, -1]\n").training.sampling
    assert spec == {"fanouts": [5, -1], "batch_size": 512, "workers": 0, "inference": "full"}
    for bad, message in [
        ("fanouts = [5, 0]", "fanouts"),
        ("fanouts = []", "fanouts"),
        ("fanouts = [-2]", "fanouts"),
        ("fanouts = 5", "fanouts"),
        ("fanouts = [5]\nbatch_size = 0", "batch_size"),
        ("fanouts = [5]\nworkers = -1", "workers"),
        ("fanouts = [5]\nbatchsize = 4", "batchsize"),
        ("fanouts = [5]\ninference = \"sampled\"", r"inference must be one of \['full', "),
        ("fanouts = [5]\ninference = 1", "inference must be str"),
        ("fanouts = [5]\ninference = \"layerwise\"\ninference_batch_size = 0",
         "inference_batch_size must be >= 1"),
        ("fanouts = [5]\ninference_batch_size = 64", "only applies to"),
        ("fanouts = [5]\ninference = \"layerwise\"\ninference_batchsize = 64",
         "inference_batchsize"),
    ]:
        with pytest.raises(ExperimentError, match=message):
            parse("[training.sampling]\n" + bad + "\n")
    with pytest.raises(ExperimentError, match="table"):
        parse("sampling = 3\n")


def test_sampled_run_on_cora_trains_and_matches_full_batch_evaluation() -> None:
    experiment = parse("[training.sampling]\nfanouts = [10, 5]\nbatch_size = 64\n")
    data = load_node_data(experiment.dataset, roots=[])
    run = train_node_classifier(experiment, data, seed=0, split=0)
    assert run.epochs == 3 and len(run.curve) == 3
    again = train_node_classifier(experiment, data, seed=0, split=0)
    # same seed → same batches and weights → the same curve (times aside)
    assert [(a["loss"], a["val"], a["test"]) for a in again.curve] == [
        (b["loss"], b["val"], b["test"]) for b in run.curve]
    assert run.curve[-1]["loss"] < run.curve[0]["loss"]  # it learns
    full = train_node_classifier(parse(""), data, seed=0, split=0)
    assert full.epochs == 3 and 0.0 <= full.test <= 100.0


def test_inference_keys_parse() -> None:
    layerwise = parse('[training.sampling]\nfanouts = [5]\nbatch_size = 64\n'
                      'inference = "layerwise"\n').training.sampling
    assert layerwise == {"fanouts": [5], "batch_size": 64, "workers": 0,
                         "inference": "layerwise", "inference_batch_size": 64}
    chunked = parse('[training.sampling]\nfanouts = [5]\ninference = "layerwise"\n'
                    'inference_batch_size = 1000\n').training.sampling
    assert chunked["inference_batch_size"] == 1000
    full = parse('[training.sampling]\nfanouts = [5]\ninference = "full"\n')
    assert full.training.sampling == parse("[training.sampling]\nfanouts = [5]\n"
                                           ).training.sampling


def test_layerwise_inference_run_on_cora_matches_the_full_forward_run() -> None:
    sampling = "[training.sampling]\nfanouts = [10, 5]\nbatch_size = 64\n"
    data = load_node_data(parse(sampling).dataset, roots=[])
    full = train_node_classifier(parse(sampling), data, seed=0, split=0, max_epochs=2)
    layerwise = train_node_classifier(
        parse(sampling + 'inference = "layerwise"\ninference_batch_size = 1000\n'), data,
        seed=0, split=0, max_epochs=2)
    assert layerwise.epochs == full.epochs == 2
    # same batches and weights; evaluation exact up to float32 rounding
    for a, b in zip(layerwise.curve, full.curve, strict=True):
        assert a["loss"] == b["loss"]
        assert a["val"] == pytest.approx(b["val"], abs=0.21)  # at most one of 500 nodes
        assert a["test"] == pytest.approx(b["test"], abs=0.11)  # ... of 1000


def test_layerwise_inference_reaches_the_data_parallel_trainer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under torchrun (faked here: no process group, so fit_rank runs alone) the inference
    options go to fit_rank, which splits the evaluation across the ranks."""
    import gnnkit.bench.tasks.node_classification as task

    calls: list[dict[str, Any]] = []

    def recording_fit_rank(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return fit_rank(*args, **kwargs)

    monkeypatch.setattr(task, "env_world_size", lambda: 2)
    monkeypatch.setattr(task, "init_from_env", lambda: True)
    monkeypatch.setattr(task, "fit_rank", recording_fit_rank)
    experiment = parse('[training.sampling]\nfanouts = [10, 5]\nbatch_size = 64\n'
                       'inference = "layerwise"\ninference_batch_size = 1000\n')
    data = load_node_data(experiment.dataset, roots=[])
    run = train_node_classifier(experiment, data, seed=0, split=0, max_epochs=1)
    assert run.epochs == 1
    assert [(c["inference"], c["inference_batch_size"]) for c in calls] == [("layerwise", 1000)]
