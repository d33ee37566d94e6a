"""The benchmark-suite engine: tasks as plug-ins, experiments as data, a runner, reports.

* :mod:`~gnnkit.bench.experiment` — the TOML schema and the registry of experiment files
  (``gnnkit/bench/experiments/*.toml``, shipped with the package);
* :mod:`~gnnkit.bench.tasks` — one module per task (node classification, link prediction)
  behind one interface (:class:`~gnnkit.bench.tasks.Task`): its TOML sections, data, model
  (from :mod:`gnnkit.models.registry`), one seed's training (:mod:`gnnkit.train`), metrics;
* :mod:`~gnnkit.bench.schema` — validation helpers and the sections all tasks share;
* :mod:`~gnnkit.bench.data` — finds an experiment's dataset (via :mod:`gnnkit.datasets`);
* :mod:`~gnnkit.bench.runner` — the seed loop, progress, wall time and peak memory;
* :mod:`~gnnkit.bench.report` — table, JSON and Markdown with the machine description;
* :mod:`~gnnkit.bench.cli` — ``gnnkit bench``.
"""

from __future__ import annotations

from .experiment import (
    DatasetSpec,
    Experiment,
    ExperimentError,
    LinkTrainingSpec,
    PaperResult,
    TrainingSpec,
    experiment_dirs,
    load_experiment,
    load_experiments,
    select_experiments,
)
from .report import format_table, machine_description, to_json, to_markdown, write_reports
from .runner import ExperimentResult, run_experiment, run_suite
from .tasks import TASKS, RunContext, RunResult, Task, TaskRun, get_task, register_task

__all__ = [
    "TASKS",
    "DatasetSpec",
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "LinkTrainingSpec",
    "PaperResult",
    "RunContext",
    "RunResult",
    "Task",
    "TaskRun",
    "TrainingSpec",
    "experiment_dirs",
    "format_table",
    "get_task",
    "load_experiment",
    "load_experiments",
    "machine_description",
    "register_task",
    "run_experiment",
    "run_suite",
    "select_experiments",
    "to_json",
    "to_markdown",
    "write_reports",
]
