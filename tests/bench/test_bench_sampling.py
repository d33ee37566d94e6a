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
    assert sampled.training.sampling == {"fanouts": [25, 10], "batch_size": 512, "workers": 0}
    assert dataclasses.replace(sampled.training, sampling=None) == full.training
    assert sampled.model == full.model and sampled.dataset == full.dataset
    small = experiments["sage-cora-sampled-b32"]
    assert small.training.sampling == {"fanouts": [25, 10], "batch_size": 32, "workers": 0}
    assert small.model == full.model and small.dataset == full.dataset
    # the report's settings stay JSON-friendly
    assert sampled.hyperparameters()["training.sampling"]["fanouts"] == [25, 10]


def test_sampling_table_defaults_and_errors() -> None:
    spec = parse("[training.sampling]\nfanouts = [5, -1]\n").training.sampling
    assert spec == {"fanouts": [5, -1], "batch_size": 512, "workers": 0}
    for bad, message in [
        ("fanouts = [5, 0]", "fanouts"),
        ("fanouts = []", "fanouts"),
        ("fanouts = [-2]", "fanouts"),
        ("fanouts = 5", "fanouts"),
        ("fanouts = [5]\nbatch_size = 0", "batch_size"),
        ("fanouts = [5]\nworkers = -1", "workers"),
        ("fanouts = [5]\nbatchsize = 4", "batchsize"),
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
