"""Experiment files: schema validation, the registry, suite selection, the shipped files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnnkit.bench import (
    ExperimentError,
    load_experiment,
    load_experiments,
    select_experiments,
)
from gnnkit.bench.experiment import default_experiments_dir

REPO_EXPERIMENTS = Path(__file__).resolve().parents[2] / "gnnkit" / "bench" / "experiments"

MINIMAL = """
id = "tiny"
title = "tiny GCN"
seeds = 2
suites = ["smoke"]

[dataset]
name = "cora"

[model]
name = "gcn"
hidden_channels = 4

[training]
lr = 0.01
epochs = 3

[paper]
value = 81.5
citation = "Kipf & Welling 2017"
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    experiment = load_experiment(_write(tmp_path, "tiny.toml", MINIMAL))
    assert experiment.id == "tiny" and experiment.seeds == 2
    assert experiment.dataset.source == "bundled" and experiment.dataset.split == "public"
    assert experiment.dataset.features == "row_normalize"
    assert experiment.training.stopping == "none" and experiment.training.weight_decay == 0.0
    assert experiment.paper.verification == "unverified" and experiment.paper.std is None
    assert experiment.hyperparameters()["model.hidden_channels"] == 4
    assert experiment.hyperparameters()["training.lr"] == 0.01


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("epochs = 3", "epochs = 3\nepoch = 4"), r"unknown key\(s\) \['epoch'\] in \[training\]"),
        (("lr = 0.01", 'lr = "fast"'), "training.lr must be float"),
        (('name = "cora"', 'name = "cora"\nsplit = "random"'),
         r"dataset\.split 'random' is not a node_classification split; one of \['public', "),
        (('name = "gcn"', 'name = "mlp"'),
         r"model\.name must be one of \['gat', 'gcn', 'nsd-bundle'"),
        (("hidden_channels = 4", "hidden = 4"), r"unknown model key\(s\) \['hidden'\] for "
                                                r"model 'gcn'; allowed: \["),
        (("hidden_channels = 4", "hidden_channels = 4.5"), r"model\.hidden_channels must be int"),
        (('seeds = 2', 'seeds = 2\ntask = "graph_regression"'), r"experiment\.task must be one "
                                                               r"of \['node_classification', "),
        (("[paper]\nvalue = 81.5", "[paper]"), "missing key paper.value"),
        (("seeds = 2", "seeds = 0"), "seeds must be >= 1"),
        (("lr = 0.01", 'lr = 0.01\nstopping = "kipf"'), "needs training.patience"),
        (('id = "tiny"', 'id = "two words"'), "without spaces"),
        (("[training]", "[optim]"), "unknown key"),
        (("value = 81.5", "value = 81.5\nverification = \"maybe\""), "paper.verification"),
    ],
)
def test_malformed_files_name_the_file_and_the_key(tmp_path: Path, change: tuple[str, str],
                                                   message: str) -> None:
    path = _write(tmp_path, "bad.toml", MINIMAL.replace(*change, 1))
    with pytest.raises(ExperimentError, match=message) as info:
        load_experiment(path)
    assert str(path) in str(info.value)


def test_invalid_toml_and_missing_file_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="not valid TOML"):
        load_experiment(_write(tmp_path, "broken.toml", "id = \n"))
    with pytest.raises(ExperimentError, match="no such experiment file"):
        load_experiment(tmp_path / "absent.toml")


def test_registry_rejects_duplicate_ids_and_selects_by_suite_and_id(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", MINIMAL)
    _write(tmp_path, "b.toml", MINIMAL.replace('id = "tiny"', 'id = "other"')
           .replace('suites = ["smoke"]', 'suites = ["smoke", "extra"]'))
    registry = load_experiments(tmp_path)
    assert list(registry) == ["tiny", "other"]
    assert [e.id for e in select_experiments(registry, suite="extra")] == ["other"]
    assert [e.id for e in select_experiments(registry, ids=["other", "tiny"])] == ["other",
                                                                                    "tiny"]
    with pytest.raises(KeyError, match="unknown experiment"):
        select_experiments(registry, ids=["nope"])
    with pytest.raises(KeyError, match="no experiment in suite"):
        select_experiments(registry, suite="nope")
    _write(tmp_path, "c.toml", MINIMAL)
    with pytest.raises(ExperimentError, match="duplicate experiment id 'tiny'"):
        load_experiments(tmp_path)


def test_missing_registry_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="experiment directory not found"):
        load_experiments(tmp_path / "absent")


def test_shipped_experiments_load_and_carry_citations() -> None:
    assert default_experiments_dir() == REPO_EXPERIMENTS
    registry = load_experiments(REPO_EXPERIMENTS)
    quick = {e.id for e in select_experiments(registry, suite="quick")}
    assert quick == {"gcn-cora", "gat-cora"}
    for experiment in registry.values():
        if experiment.paper is None:  # no published number: the notes must say so
            assert experiment.notes, experiment.id
            continue
        assert experiment.paper.citation and experiment.paper.url, experiment.id
        assert experiment.paper.verification in ("verified", "secondary", "unverified")
    gcn, gat = registry["gcn-cora"], registry["gat-cora"]
    assert (gcn.paper.value, gat.paper.value, gat.paper.std) == (81.5, 83.0, 0.7)
    assert gcn.model["hidden_channels"] == 16 and gcn.model["dropout"] == 0.5
    assert gcn.training.lr == 0.01 and gcn.training.weight_decay == 5e-4
    assert gcn.training.epochs == 200
    assert gat.model["heads"] == 8 and gat.model["hidden_channels"] == 8
    assert gat.model["output_heads"] == 1 and gat.training.lr == 0.005
    assert gat.training.patience == 100
