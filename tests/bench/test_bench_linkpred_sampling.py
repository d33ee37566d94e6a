"""The link-prediction task's ``[training.sampling]`` table: parsing, errors, the check against
the model, the shipped sampled twins of ncn-cora and ncn-ddi, and a short sampled run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import tomllib

from gnnkit.bench import ExperimentError, load_experiment, load_experiments
from gnnkit.bench.data import link_data, load_link_graph
from gnnkit.bench.experiment import parse_experiment
from gnnkit.bench.tasks.link_prediction import train_link_predictor

BASE = """
id = "tiny-link-sampled"
title = "tiny NCN, sampled"
task = "link_prediction"
metric = "hits@20"
seeds = 1

[dataset]
name = "cora"
source = "bundled"
split = "random-85-5-10"
features = "raw"

[model]
name = "ncn"
encoder = "puregcn"
hidden_channels = 8
num_layers = 1

[training]
epochs = 2
lr_encoder = 0.01
lr_predictor = 0.01
batch_size = 2048
"""


def test_shipped_sampled_link_experiments_differ_from_their_twins_only_in_sampling() -> None:
    experiments = load_experiments()
    for full_id, fanouts in (("ncn-cora", [-1, 10]), ("ncn-ddi", [-1, 50])):
        full, sampled = experiments[full_id], experiments[f"{full_id}-sampled"]
        assert full.training.sampling is None
        assert sampled.training.sampling == {"fanouts": fanouts, "workers": 0}
        assert dataclasses.replace(sampled.training, sampling=None) == full.training
        assert sampled.model == full.model and sampled.dataset == full.dataset
        assert sampled.metric == full.metric and sampled.seeds == full.seeds
        assert sampled.notes and "hop 1" in sampled.notes and sampled.paper is None
        assert sampled.hyperparameters()["training.sampling"]["fanouts"] == fanouts
    assert "sampling" in experiments["ncn-cora-sampled"].suites
    assert experiments["ncn-ddi-sampled"].suites == experiments["ncn-ddi"].suites


def test_sampling_table_defaults_and_errors() -> None:
    spec = parse_experiment(tomllib.loads(BASE + "[training.sampling]\nfanouts = [-1, 5]\n"))
    assert spec.training.sampling == {"fanouts": [-1, 5], "workers": 0}
    assert parse_experiment(tomllib.loads(BASE)).training.sampling is None
    for bad, message in [
        ("fanouts = [-1, 0]", r"training\.sampling\.fanouts must be a non-empty list of ints"),
        ("fanouts = []", "fanouts must be a non-empty list"),
        ("fanouts = [-1, true]", "fanouts must be a non-empty list"),
        ("workers = 1", "fanouts must be a non-empty list"),  # fanouts is required
        ("fanouts = [-1, 5]\nworkers = -1", r"training\.sampling\.workers must be >= 0"),
        ("fanouts = [-1, 5]\nbatch_size = 64",
         r"training\.sampling\.batch_size is not a link-prediction option: the positive links "
         r"per step are training\.batch_size"),
        ("fanouts = [-1, 5]\ninference = 'layerwise'", "evaluation is full-graph"),
        ("fanouts = [-1, 5]\nfanout = 3", r"unknown key"),
    ]:
        with pytest.raises(ExperimentError, match=message):
            parse_experiment(tomllib.loads(BASE + "[training.sampling]\n" + bad + "\n"))
    with pytest.raises(ExperimentError, match=r"training\.sampling must be a table"):
        parse_experiment(tomllib.loads(BASE.replace("batch_size = 2048",
                                                    "batch_size = 2048\nsampling = 3")))


def test_sampling_is_checked_against_the_model_when_experiments_load(tmp_path: Path) -> None:
    def write(text: str) -> Path:
        path = tmp_path / "sampled.toml"
        path.write_text(text, encoding="utf-8")
        return path

    write(BASE + "[training.sampling]\nfanouts = [-1, 5, 5]\n")
    with pytest.raises(ExperimentError, match=r"fanouts has 3 entries but model\.num_layers = "
                                              r"1: give 2, hop 1 first"):
        load_experiments(tmp_path)
    write(BASE.replace('name = "ncn"', 'name = "ncnc"')
          + "[training.sampling]\nfanouts = [-1, 5]\n")
    with pytest.raises(ExperimentError, match="model 'ncnc' completes common neighbours"):
        load_experiments(tmp_path)
    write(BASE.replace("num_layers = 1", 'num_layers = 1\nvariant = "ncn2"')
          + "[training.sampling]\nfanouts = [-1, 5]\n")
    with pytest.raises(ExperimentError, match="variant 'ncn2' pools two-hop"):
        load_experiments(tmp_path)
    write(BASE.replace("num_layers = 1", "num_layers = 2")
          + "[training.sampling]\nfanouts = [-1, 5, 5]\n")
    assert load_experiments(tmp_path)["tiny-link-sampled"].training.sampling["fanouts"] == [
        -1, 5, 5]


def test_a_sampled_experiment_trains_with_fit_sampled(tmp_path: Path) -> None:
    path = tmp_path / "sampled.toml"
    path.write_text(BASE + "[training.sampling]\nfanouts = [-1, 5]\n", encoding="utf-8")
    experiment = load_experiment(path)
    graph = load_link_graph(experiment.dataset, roots=[])
    data = link_data(graph, experiment.dataset, seed=0)
    run = train_link_predictor(experiment, data, seed=0, max_epochs=1).result
    assert run.epochs == 1 and len(run.curve) == 1
    assert math.isfinite(run.test) and math.isfinite(run.curve[0]["loss"])
    again = train_link_predictor(experiment, data, seed=0, max_epochs=1).result
    assert again.test == run.test  # seeded: the loader's seed comes from the run's generator
