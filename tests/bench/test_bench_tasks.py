"""Tasks as plug-ins: a new task needs a module and a registration, no runner change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from gnnkit.bench import (
    TASKS,
    ExperimentError,
    RunContext,
    RunResult,
    Task,
    TaskRun,
    get_task,
    load_experiment,
    register_task,
    run_experiment,
)
from gnnkit.bench.data import DatasetUnavailable
from gnnkit.bench.schema import check_keys, get_value

PACKAGE = Path(__file__).resolve().parents[2] / "gnnkit" / "bench"

COUNTING = """
id = "counting"
title = "a task from outside the package"
task = "counting"
metric = "count"
seeds = 3

[dataset]
name = "cora"

[model]
name = "gcn"

[training]
steps = 4

[paper]
value = 4.0
citation = "a test"
"""


@dataclass(frozen=True)
class _Steps:
    steps: int


class _CountingTask(Task):
    """Counts to ``training.steps``, one "epoch" per step, honouring max_epochs."""

    name = "counting"
    metrics = ("count",)
    sources = ("bundled",)
    splits = ("public",)
    model_task = "node_classification"  # [model] names a node-classification model
    loads = 0

    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> _Steps:
        check_keys(table, ("steps",), "[training]", path)
        return _Steps(get_value(table, "steps", int, "training", path))

    def load(self, experiment: Any, roots: Sequence[Path] | None,
             device: torch.device) -> str:
        if roots == [Path("/absent")]:
            raise DatasetUnavailable("no such data")
        type(self).loads += 1
        return "counting data"

    def run_seed(self, experiment: Any, data: str, context: RunContext) -> TaskRun:
        epochs = context.epochs(experiment.training.steps)
        for epoch in range(1, epochs + 1):
            context.log({"epoch": epoch})
        if context.seed == 13:
            raise RuntimeError("unlucky seed")
        return TaskRun(RunResult(seed=context.seed, split=context.index, test=float(epochs),
                                 val=float(context.seed), epochs=epochs,
                                 selected_epoch=epochs, train_step_ms=1.0))


@pytest.fixture
def counting() -> Any:
    task = register_task(_CountingTask())
    yield task
    del TASKS["counting"]


def test_a_registered_task_validates_its_sections_and_runs_in_the_one_loop(
        counting: Task, tmp_path: Path) -> None:
    path = tmp_path / "counting.toml"
    path.write_text(COUNTING, encoding="utf-8")
    experiment = load_experiment(path)
    assert experiment.task == "counting" and experiment.training == _Steps(4)
    result = run_experiment(experiment, seeds=[0, 1], progress=False, max_epochs=3)
    assert result.status == "ok" and [r.test for r in result.runs] == [3.0, 3.0]
    assert result.data_description is None and _CountingTask.loads == 1  # loaded once
    skipped = run_experiment(experiment, seeds=[0], progress=False,
                             data_roots=[Path("/absent")])
    assert skipped.status == "skipped" and skipped.message == "no such data"
    failed = run_experiment(experiment, seeds=[0, 13], progress=False)
    assert failed.status == "failed" and "unlucky seed" in (failed.message or "")
    assert len(failed.runs) == 1
    path.write_text(COUNTING.replace("steps = 4", "steps = 4\nlr = 1"), encoding="utf-8")
    with pytest.raises(ExperimentError, match=r"unknown key\(s\) \['lr'\] in \[training\]"):
        load_experiment(path)


def test_registry_names_the_registered_tasks(counting: Task) -> None:
    assert get_task("counting") is counting
    with pytest.raises(ValueError, match="already registered"):
        register_task(_CountingTask())
    with pytest.raises(KeyError, match=r"unknown task 'graph'; registered: \["):
        get_task("graph")


def test_the_engine_has_no_task_branches() -> None:
    """The runner, the experiment parser and the report never ask which task they handle."""
    for name in ("runner.py", "experiment.py", "report.py", "cli.py", "data.py"):
        assert "task ==" not in (PACKAGE / name).read_text(encoding="utf-8"), name
    runner = (PACKAGE / "runner.py").read_text(encoding="utf-8")
    assert "link" not in runner and "node" not in runner
