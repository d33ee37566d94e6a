"""The link-prediction task of the benchmark engine: schema, data, runs, init_from, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gnnkit.bench import ExperimentError, load_experiment, load_experiments, run_experiment
from gnnkit.bench.data import DatasetUnavailable, link_data, load_link_graph
from gnnkit.bench.experiment import DatasetSpec, LinkTrainingSpec
from gnnkit.bench.report import to_json, to_markdown
from gnnkit.bench.tasks.link_prediction import cn_heuristic_hits, train_link_predictor

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "datasets"
EXPERIMENTS = REPO / "gnnkit" / "bench" / "experiments"

LINK = """
id = "tiny-link"
title = "tiny NCN"
task = "link_prediction"
metric = "hits@20"
seeds = 2

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

[paper]
value = 80.0
citation = "a test"
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_link_file_defaults_and_hits_k(tmp_path: Path) -> None:
    experiment = load_experiment(_write(tmp_path, "link.toml", LINK))
    assert experiment.task == "link_prediction" and experiment.hits_k == 20
    assert isinstance(experiment.training, LinkTrainingSpec)
    assert experiment.training.eval_batch_size == 8192 and experiment.training.epochs == 2
    assert experiment.training.target_link_removal and experiment.training.init_from is None
    assert experiment.hyperparameters()["training.lr_encoder"] == 0.01


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('metric = "hits@20"', 'metric = "accuracy"'), "must be 'hits@K'"),
        (('metric = "hits@20"', 'metric = "hits@0"'), "must be 'hits@K'"),
        (('split = "random-85-5-10"', 'split = "public"'),
         r"dataset\.split 'public' is not a link_prediction split; one of \['random-85-5-10'"),
        (('split = "random-85-5-10"', 'split = "ogb"'), "goes with dataset.source 'ogb'"),
        (("num_layers = 1", "num_layers = 1\nhidden = 3"),
         r"unknown model key\(s\) \['hidden'\] for model 'ncn'"),
        (("num_layers = 1", 'num_layers = "one"'), "model.num_layers must be int"),
        (('name = "ncn"', 'name = "gcn"'), r"model\.name must be one of \['gae', 'gae-dot', "
                                            r"'ncn', 'ncnc'\] for task 'link_prediction'"),
        (("num_layers = 1", "num_layers = 1\ndepth = 2"), r"\['depth'\] for model 'ncn'"),
        (("batch_size = 2048", "batch_size = 2048\nlr = 0.1"), r"unknown key\(s\) \['lr'\]"),
        (("batch_size = 2048", "batch_size = 0"), "batch_size and eval_batch_size must be >= 1"),
        (("lr_predictor = 0.01", "lr_predictor = 0.0"), "lr_predictor > 0"),
        (("lr_encoder = 0.01\n", ""), "missing key training.lr_encoder"),
    ],
)
def test_malformed_link_files_name_the_file_and_the_key(tmp_path: Path, change: tuple[str, str],
                                                        message: str) -> None:
    path = _write(tmp_path, "bad.toml", LINK.replace(*change, 1))
    with pytest.raises(ExperimentError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_node_metric_and_features_none_are_rejected_for_node_tasks(tmp_path: Path) -> None:
    node = LINK.replace('task = "link_prediction"', 'task = "node_classification"')
    with pytest.raises(ExperimentError, match=r"experiment\.metric must be one of"):
        load_experiment(_write(tmp_path, "a.toml", node))
    node = node.replace('metric = "hits@20"', 'metric = "accuracy"').replace(
        'split = "random-85-5-10"', 'split = "public"').replace('"raw"', '"none"')
    with pytest.raises(ExperimentError, match=r"dataset\.features 'none' is not a "
                                              r"node_classification option; one of \["):
        load_experiment(_write(tmp_path, "b.toml", node))


def test_init_from_must_name_a_loaded_experiment_on_the_same_data(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", LINK)
    follower = LINK.replace('id = "tiny-link"', 'id = "follower"').replace(
        "batch_size = 2048", 'batch_size = 2048\ninit_from = "absent"')
    _write(tmp_path, "follower.toml", follower)
    with pytest.raises(ExperimentError, match="unknown experiment 'absent'"):
        load_experiments(tmp_path)
    _write(tmp_path, "follower.toml", follower.replace('"absent"', '"tiny-link"')
           .replace('split = "random-85-5-10"', 'split = "ncn-70-10-20"'))
    with pytest.raises(ExperimentError, match="same dataset and split"):
        load_experiments(tmp_path)
    _write(tmp_path, "follower.toml", follower.replace('"absent"', '"tiny-link"'))
    assert load_experiments(tmp_path)["follower"].training.init_from == "tiny-link"


def test_shipped_link_experiments_carry_the_papers_numbers() -> None:
    registry = load_experiments(EXPERIMENTS)
    paper = {  # Wang et al., ICLR 2024, Table 2 (as written in the issue)
        "ncn-cora": (89.05, 0.96), "ncnc-cora": (89.65, 1.25),
        "ncn-citeseer": (91.56, 1.43), "ncnc-citeseer": (93.47, 0.95),
        "ncn-pubmed": (79.05, 1.16), "ncnc-pubmed": (81.29, 0.95),
        "ncn-ddi": (82.32, 6.10), "ncnc-ddi": (84.11, 3.67),
    }
    for experiment_id, (value, std) in paper.items():
        experiment = registry[experiment_id]
        assert (experiment.paper.value, experiment.paper.std) == (value, std)
        assert experiment.task == "link_prediction"
        assert experiment.metric == ("hits@20" if "ddi" in experiment_id else "hits@100")
        if "ddi" not in experiment_id:
            assert experiment.dataset.split == "random-85-5-10"
            code_split = registry[f"{experiment_id}-ncnsplit"]
            assert code_split.dataset.split == "ncn-70-10-20"
            assert dict(code_split.model) == dict(experiment.model)
    assert registry["ncnc-ddi"].training.init_from == "ncn-ddi"
    assert registry["ncnc-ddi"].training.lr_encoder == 0.0  # the official code freezes it


def _bundled_spec(split: str) -> DatasetSpec:
    return DatasetSpec(name="cora", source="bundled", split=split, features="raw")


def test_random_link_splits_are_seeded_and_sized_as_documented() -> None:
    graph = load_link_graph(_bundled_spec("random-85-5-10"), roots=[])
    first = link_data(graph, _bundled_spec("random-85-5-10"), seed=3)
    again = link_data(graph, _bundled_spec("random-85-5-10"), seed=3)
    other = link_data(graph, _bundled_spec("random-85-5-10"), seed=4)
    assert torch.equal(first.split.test_pos, again.split.test_pos)
    assert not torch.equal(first.split.test_pos, other.split.test_pos)
    m = 5278  # undirected edges of Cora
    sizes = [getattr(first.split, name).shape[1]
             for name in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")]
    assert sizes == [m - 263 - 527, 263, 263, 527, 527]
    ncn = link_data(graph, _bundled_spec("ncn-70-10-20"), seed=3)
    assert ncn.split.test_pos.shape[1] == 1055 and ncn.split.val_pos.shape[1] == 527
    assert first.x.shape == (2708, 1433) and first.num_features == 1433
    assert "seed 3" in first.description and "test_pos 527" in first.description
    no_features = link_data(graph, DatasetSpec(name="cora", source="bundled",
                                               split="random-85-5-10", features="none"), seed=3)
    assert torch.equal(no_features.x, torch.arange(2708)) and no_features.num_features == 0


@pytest.mark.skipif(not (SHARED / "ogbl-ddi").is_dir(), reason="shared datasets not present")
def test_ogbl_ddi_uses_ogbs_fixed_split() -> None:
    spec = DatasetSpec(name="ogbl-ddi", source="ogb", split="ogb", features="none",
                       folders=("ogbl-ddi",))
    graph = load_link_graph(spec, roots=[SHARED])
    data = link_data(graph, spec, seed=7)
    # OGB's ogbl-ddi: 1,067,911 training, 133,489 validation and 133,489 test edges, and
    # 101,882 / 95,599 negatives (the dataset's published statistics)
    assert data.split.train_pos.shape[1] == 1067911
    assert data.split.val_pos.shape[1] == 133489 and data.split.test_pos.shape[1] == 133489
    assert data.split.val_neg.shape[1] == 101882 and data.split.test_neg.shape[1] == 95599
    assert torch.equal(data.x, torch.arange(4267)) and "seed" not in data.description


def test_missing_ogb_folder_is_unavailable(tmp_path: Path) -> None:
    spec = DatasetSpec(name="ogbl-ddi", source="ogb", split="ogb", features="none")
    with pytest.raises(DatasetUnavailable, match=r"raw/edge\.csv\.gz"):
        load_link_graph(spec, roots=[tmp_path])


def test_cn_heuristic_baseline_equals_a_dense_computation() -> None:
    spec = _bundled_spec("random-85-5-10")
    data = link_data(load_link_graph(spec, roots=[]), spec, seed=0)
    n = data.split.num_nodes
    dense = torch.zeros(n, n)
    pos = data.split.train_pos
    dense[pos[0], pos[1]] = 1.0
    dense[pos[1], pos[0]] = 1.0

    def cn(pairs: torch.Tensor) -> torch.Tensor:
        return (dense[pairs[0]] * dense[pairs[1]]).sum(1)

    positive, negative = cn(data.split.test_pos), cn(data.split.test_neg)
    threshold = torch.topk(negative, 20).values[-1]  # OGB: a positive must beat the 20th
    expected = 100.0 * float((positive > threshold).float().mean())
    assert cn_heuristic_hits(data, 20) == pytest.approx(expected)


def test_link_run_records_curve_selection_and_baseline(tmp_path: Path) -> None:
    experiment = load_experiment(_write(tmp_path, "link.toml", LINK))
    spec = experiment.dataset
    data = link_data(load_link_graph(spec, roots=[]), spec, seed=0)
    run = train_link_predictor(experiment, data, seed=0).result
    assert run.epochs == 2 and len(run.curve) == 2
    best = max(run.curve, key=lambda entry: entry["val"])
    assert run.selected_epoch == best["epoch"]  # the first epoch with the best validation
    assert (run.val, run.test) == (best["val"], best["test"])
    assert run.details["cn_heuristic_test"] == pytest.approx(cn_heuristic_hits(data, 20))
    again = train_link_predictor(experiment, data, seed=0).result
    assert again.test == run.test  # seeded: the same run twice gives the same numbers


def test_init_from_loads_the_selected_state_of_the_base_run(tmp_path: Path) -> None:
    base = load_experiment(_write(tmp_path, "base.toml", LINK))
    follower = load_experiment(_write(tmp_path, "follower.toml", LINK.replace(
        'id = "tiny-link"', 'id = "follower"').replace('name = "ncn"', 'name = "ncnc"')
        .replace("lr_encoder = 0.01", "lr_encoder = 0.0")
        .replace("batch_size = 2048", 'batch_size = 2048\ninit_from = "tiny-link"')))
    spec = base.dataset
    data = link_data(load_link_graph(spec, roots=[]), spec, seed=0)
    first = train_link_predictor(base, data, seed=0, keep_state=True)
    assert first.state is not None
    started = train_link_predictor(follower, data, seed=1, initial_state=first.state,
                                   keep_state=True)
    fresh = train_link_predictor(follower, data, seed=1, keep_state=True)
    assert started.state is not None and fresh.state is not None
    for name, value in first.state["encoder"].items():  # lr_encoder = 0: the encoder is frozen
        assert torch.equal(started.state["encoder"][name], value)
    assert any(not torch.equal(fresh.state["encoder"][name], value)
               for name, value in first.state["encoder"].items())


def test_run_experiment_reports_link_runs_and_budget(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", LINK)
    _write(tmp_path, "follower.toml", LINK.replace('id = "tiny-link"', 'id = "follower"')
           .replace("batch_size = 2048", 'batch_size = 2048\ninit_from = "tiny-link"'))
    registry = load_experiments(tmp_path)
    result = run_experiment(registry["follower"], seeds=[0], registry=registry, progress=False,
                            data_roots=[], time_budget=1e-6)
    assert result.status == "ok", result.message
    (run,) = result.runs
    assert run.epochs == 1 and "time budget" in run.details["stopped"]
    assert run.details["tiny-link_epochs"] == 1 and "tiny-link_test" in run.details
    record = to_json([result], {"cpu": "test"})
    assert json.dumps(record)  # serialisable
    assert record["experiments"][0]["runs"][0]["curve"][0]["epoch"] == 1
    markdown = to_markdown([result], {"cpu": "test"})
    assert "cn heuristic test" in markdown and "time budget" in markdown
    orphan = run_experiment(registry["follower"], seeds=[0], progress=False, data_roots=[])
    assert orphan.status == "failed" and "init_from" in (orphan.message or "")
    missing = load_experiment(_write(tmp_path, "ddi.toml", LINK.replace(
        'source = "bundled"', 'source = "ogb"').replace('split = "random-85-5-10"',
                                                         'split = "ogb"')))
    skipped = run_experiment(missing, seeds=[0], progress=False, data_roots=[tmp_path])
    assert skipped.status == "skipped" and "raw/edge.csv.gz" in (skipped.message or "")
