"""The recommendation bench task: the experiment schema and the shipped files, finding the
LightGCN files (and skipping incomplete copies), end-to-end runs through the engine on a tiny
dataset in the LightGCN format, and the real Gowalla files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from shared_data import require_shared_datasets

from gnnkit.bench import ExperimentError, load_experiment, run_experiment
from gnnkit.bench.data import DatasetUnavailable
from gnnkit.bench.report import format_table, to_markdown
from gnnkit.bench.schema import DatasetSpec
from gnnkit.bench.tasks import get_task
from gnnkit.bench.tasks.recommendation import (
    RecommendationTrainingSpec,
    load_recommendation_data,
    parse_ranking_metric,
    train_recommender,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "gnnkit" / "bench" / "experiments"

TINY_EXPERIMENT = """
id = "tiny-lightgcn"
title = "LightGCN on a tiny planted dataset"
task = "recommendation"
metric = "recall@3"
seeds = 1

[dataset]
name = "tiny"
folders = ["tiny-folder"]

[model]
name = "lightgcn"
embedding_dim = 8
num_layers = 2

[training]
lr = 0.05
batch_size = 16
epochs = 6
eval_every = 2
ks = [5]
sampler = "interaction"
protocol = "{protocol}"
val_fraction = 0.5

[paper]
value = 50.0
citation = "a test"
"""


def _write_lightgcn_folder(folder: Path, *, with_train: bool = True) -> None:
    """Users 0…11 like items of group u % 3 (items 0…13); every fourth liked item is a
    test item. User 12 has a test item but no training item."""
    folder.mkdir(parents=True)
    train_lines, test_lines = [], []
    for user in range(12):
        liked = [item for item in range(14) if item % 3 == user % 3]
        test = liked[::4]
        train = [item for item in liked if item not in test]
        train_lines.append(" ".join(map(str, [user, *train])))
        test_lines.append(" ".join(map(str, [user, *test])))
    train_lines.append("12")
    test_lines.append("12 5")
    if with_train:
        (folder / "train.txt").write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    (folder / "test.txt").write_text("\n".join(test_lines) + "\n", encoding="utf-8")


def _experiment(tmp_path: Path, protocol: str = "official") -> Path:
    path = tmp_path / f"tiny-{protocol}.toml"
    path.write_text(TINY_EXPERIMENT.replace("{protocol}", protocol), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- schema
def test_shipped_experiments_load_with_the_papers_settings() -> None:
    experiments = {path.stem: load_experiment(path) for path in
                   sorted(EXPERIMENTS.glob("*.toml")) if path.stem.startswith(("lightgcn-",
                                                                              "mf-"))}
    assert set(experiments) == {"lightgcn-gowalla", "lightgcn-gowalla-heldout",
                                "lightgcn-yelp2018", "lightgcn-amazon-book", "mf-gowalla"}
    papers = {"lightgcn-gowalla": 18.30, "lightgcn-gowalla-heldout": 18.30,
              "lightgcn-yelp2018": 6.49, "lightgcn-amazon-book": 4.11, "mf-gowalla": 12.91}
    for name, experiment in experiments.items():
        assert experiment.id == name and experiment.task == "recommendation"
        assert experiment.metric == "recall@20"
        assert experiment.paper.value == papers[name]
        training = experiment.training
        assert isinstance(training, RecommendationTrainingSpec)
        assert (training.lr, training.weight_decay, training.epochs, training.eval_every) == (
            1e-3, 1e-4, 1000, 10)
        assert training.sampler == "uniform-user"
        assert training.protocol == ("held-out" if name.endswith("heldout") else "official")
        assert training.batch_size == (8192 if name == "lightgcn-amazon-book" else 2048)
        assert experiment.model["embedding_dim"] == 64
    assert experiments["lightgcn-gowalla"].model["num_layers"] == 3
    assert experiments["mf-gowalla"].model_name == "mf-bpr"


def test_metric_parsing() -> None:
    assert parse_ranking_metric("recall@20") == ("recall", 20)
    assert parse_ranking_metric("ndcg@5") == ("ndcg", 5)
    for bad in ("hits@20", "recall", "recall@0", "recall@x"):
        assert parse_ranking_metric(bad) is None


@pytest.mark.parametrize(("change", "message"), [
    (("metric = \"recall@3\"", "metric = \"hits@3\""), "recall@K"),
    (("ks = [5]", "ks = [0]"), "training.ks"),
    (("eval_every = 2", "eval_every = 0"), "training.eval_every"),
    (("val_fraction = 0.5", "val_fraction = 1.5"), "val_fraction"),
    (("sampler = \"interaction\"", "sampler = \"hard\""), "training.sampler"),
    (("epochs = 6", "epochs = 6\nepoch = 3"), "unknown key"),
    (("name = \"tiny\"", "name = \"tiny\"\nsource = \"ogb\""), "dataset.source"),
    (("num_layers = 2", "layers = 2"), "layers"),
])
def test_experiment_errors_name_the_key(tmp_path: Path, change: tuple[str, str],
                                        message: str) -> None:
    path = tmp_path / "bad.toml"
    text = TINY_EXPERIMENT.replace("{protocol}", "official")
    assert change[0] in text
    path.write_text(text.replace(*change), encoding="utf-8")
    with pytest.raises(ExperimentError, match=message):
        load_experiment(path)


# ---------------------------------------------------------------------------- data
def test_missing_or_incomplete_data_is_unavailable_and_says_where(tmp_path: Path) -> None:
    spec = get_task("recommendation").parse_dataset({"name": "yelp2018"}, None)
    assert spec == DatasetSpec(name="yelp2018", source="lightgcn", split="lightgcn",
                               features="none")
    with pytest.raises(DatasetUnavailable, match=r"lightgcn-yelp2018, yelp2018") as error:
        load_recommendation_data(spec, [tmp_path])
    assert str(tmp_path) in str(error.value)
    _write_lightgcn_folder(tmp_path / "lightgcn-yelp2018", with_train=False)
    with pytest.raises(DatasetUnavailable, match=r"has test\.txt but no train\.txt"):
        load_recommendation_data(spec, [tmp_path])


def test_shared_yelp2018_without_train_file_is_skipped() -> None:
    root = require_shared_datasets("lightgcn-yelp2018")
    experiment = load_experiment(EXPERIMENTS / "lightgcn-yelp2018.toml")
    result = run_experiment(experiment, data_roots=[root], progress=False)
    assert result.status == "skipped" and "no train.txt" in (result.message or "")


def test_shared_gowalla_files_are_found_and_described() -> None:
    root = require_shared_datasets("lightgcn-gowalla")
    experiment = load_experiment(EXPERIMENTS / "lightgcn-gowalla.toml")
    data = load_recommendation_data(experiment.dataset, [root])
    assert (data.num_users, data.num_items) == (29858, 40981)
    assert data.interactions.train.shape[1] == 810128
    assert data.interactions.test.shape[1] == 217242
    assert "29858 users, 40981 items" in data.description


# ---------------------------------------------------------------------------- runs
def test_official_run_reports_the_best_test_epoch_in_percent(tmp_path: Path) -> None:
    _write_lightgcn_folder(tmp_path / "tiny-folder")
    experiment = load_experiment(_experiment(tmp_path))
    result = run_experiment(experiment, seeds=[4], data_roots=[tmp_path], progress=False)
    assert result.status == "ok", result.message
    (run,) = result.runs
    assert run.epochs == 6 and [entry["epoch"] for entry in run.curve] == [2, 4, 6]
    tests = [entry["test"] for entry in run.curve]
    assert run.test == max(tests) == run.val
    assert run.selected_epoch == run.curve[tests.index(max(tests))]["epoch"]
    assert all("val" not in entry for entry in run.curve)  # no validation set: none plotted
    assert 0.0 <= run.test <= 100.0 and run.test == run.details["test_recall@3"]
    assert {"test_ndcg@3", "test_precision@5", "test_recall@5"} <= set(run.details)
    assert "TEST set" in run.details["protocol"]
    assert run.details["stopped"] == "completed 6 epoch(s)"
    assert "13 users, 14 items" in (result.data_description or "")
    assert "tiny-lightgcn" in format_table([result]) and "TEST" in to_markdown([result], {})
    data = load_recommendation_data(experiment.dataset, [tmp_path])
    again = train_recommender(experiment, data, seed=4)
    def metrics(curve: tuple[dict[str, float], ...]) -> list[dict[str, float]]:
        return [{k: v for k, v in entry.items() if not k.endswith("seconds")} for entry in curve]
    assert again.test == run.test and metrics(again.curve) == metrics(run.curve)  # seeded


def test_held_out_run_selects_on_validation(tmp_path: Path) -> None:
    _write_lightgcn_folder(tmp_path / "tiny-folder")
    experiment = load_experiment(_experiment(tmp_path, "held-out"))
    result = run_experiment(experiment, seeds=[1], data_roots=[tmp_path], max_epochs=4,
                            progress=False)
    assert result.status == "ok", result.message
    assert result.capped
    (run,) = result.runs
    values = [entry["val"] for entry in run.curve]
    assert run.val == max(values)
    selected = run.curve[values.index(max(values))]
    assert run.selected_epoch == selected["epoch"] and run.test == selected["test"]
    assert "validation" in run.details["protocol"]


def test_time_budget_stops_after_an_evaluated_epoch(tmp_path: Path) -> None:
    _write_lightgcn_folder(tmp_path / "tiny-folder")
    experiment = load_experiment(_experiment(tmp_path))
    result = run_experiment(experiment, seeds=[0], data_roots=[tmp_path], time_budget=0.0,
                            progress=False)
    (run,) = result.runs
    assert run.epochs == 1 and [entry["epoch"] for entry in run.curve] == [1]
    assert "time budget" in run.details["stopped"]
    torch.testing.assert_close(torch.tensor(run.test), torch.tensor(run.curve[0]["test"]))


# ---------------------------------------------------------------------------- UltraGCN
def test_shipped_ultragcn_experiments_carry_the_official_configurations() -> None:
    experiments = {path.stem: load_experiment(path)
                   for path in sorted(EXPERIMENTS.glob("ultragcn-*.toml"))}
    assert set(experiments) == {"ultragcn-gowalla", "ultragcn-yelp2018",
                                "ultragcn-amazon-book"}
    # (paper Recall@20 %, lr, batch, negatives, negative weight, w1..w4, lambda, patience)
    official = {
        "ultragcn-gowalla": (18.62, 1e-4, 512, 1500, 300.0, (1e-6, 1.0, 1e-6, 1.0), 5e-4, 150),
        "ultragcn-yelp2018": (6.83, 1e-3, 1024, 800, 300.0, (1e-8, 1.0, 1e-8, 1.0), 5e-4, 15),
        "ultragcn-amazon-book": (6.81, 1e-3, 1024, 500, 500.0, (1e-8, 1.0, 1.0, 1e-8), 2.75,
                                 15),
    }
    for name, experiment in experiments.items():
        paper, lr, batch, negatives, weight, ws, lam, patience = official[name]
        training, model = experiment.training, experiment.model
        assert isinstance(training, RecommendationTrainingSpec)
        assert experiment.model_name == "ultragcn" and experiment.paper.value == paper
        assert (training.lr, training.batch_size, training.num_negatives) == (lr, batch,
                                                                              negatives)
        assert (training.weight_decay, training.patience, training.sampler) == (
            1e-4, patience, "interaction")
        assert training.negative_sampling == "uniform" and training.stop_within_epoch
        assert (model["w1"], model["w2"], model["w3"], model["w4"]) == ws
        assert (model["negative_weight"], model["item_weight"]) == (weight, lam)
        assert (model["num_neighbours"], model["init_std"], model["embedding_dim"]) == (
            10, 1e-4, 64)


def test_ultragcn_run_cut_by_the_budget_reports_the_projected_epoch(tmp_path: Path) -> None:
    _write_lightgcn_folder(tmp_path / "tiny-folder")
    text = (TINY_EXPERIMENT.replace("{protocol}", "official")
            .replace('name = "lightgcn"\nembedding_dim = 8\nnum_layers = 2',
                     'name = "ultragcn"\nembedding_dim = 8\nnum_neighbours = 3')
            .replace("batch_size = 16", "batch_size = 4\nnum_negatives = 6\n"
                     "negative_sampling = \"uniform\"\nstop_within_epoch = true"))
    path = tmp_path / "tiny-ultragcn.toml"
    path.write_text(text, encoding="utf-8")
    experiment = load_experiment(path)
    result = run_experiment(experiment, seeds=[0], data_roots=[tmp_path], time_budget=0.0,
                            progress=False)
    assert result.status == "ok", result.message
    (run,) = result.runs
    steps = -(-load_recommendation_data(experiment.dataset, [tmp_path])
              .interactions.train.shape[1] // 4)
    assert run.epochs == 1 and run.details["steps"] == 1
    assert run.details["epoch_steps"] == steps
    assert run.curve[0]["steps"] == 1 and run.curve[0]["epoch_steps"] == steps
    assert run.details["epoch_seconds"] == run.train_step_ms / 1000.0 * steps
    assert "1 of" in run.details["stopped"]


@pytest.mark.parametrize("change", [("num_negatives = 6", "num_negatives = 0"),
                                    ("negative_sampling = \"uniform\"",
                                     "negative_sampling = \"popular\"")])
def test_ultragcn_training_keys_are_checked(tmp_path: Path, change: tuple[str, str]) -> None:
    text = (TINY_EXPERIMENT.replace("{protocol}", "official")
            .replace("batch_size = 16", "batch_size = 4\nnum_negatives = 6\n"
                     "negative_sampling = \"uniform\""))
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(*change), encoding="utf-8")
    with pytest.raises(ExperimentError, match=change[1].split(" =")[0]):
        load_experiment(path)
