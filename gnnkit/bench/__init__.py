"""The benchmark-suite engine: experiments as data, a runner over seeds, reports.

* :mod:`~gnnkit.bench.experiment` — the TOML schema and the registry of experiment files
  (``gnnkit/bench/experiments/*.toml``, shipped with the package);
* :mod:`~gnnkit.bench.data` — finds an experiment's dataset (via :mod:`gnnkit.datasets`);
* :mod:`~gnnkit.bench.train` — one training run, the model registry;
* :mod:`~gnnkit.bench.runner` — seeds, progress, wall time and peak memory;
* :mod:`~gnnkit.bench.report` — table, JSON and Markdown with the machine description;
* :mod:`~gnnkit.bench.cli` — ``gnnkit bench``.
"""

from __future__ import annotations

from .experiment import (
    DatasetSpec,
    Experiment,
    ExperimentError,
    PaperResult,
    TrainingSpec,
    load_experiment,
    load_experiments,
    select_experiments,
)
from .report import format_table, machine_description, to_json, to_markdown, write_reports
from .runner import ExperimentResult, run_experiment, run_suite
from .train import MODELS, RunResult, build_model, train_node_classifier

__all__ = [
    "MODELS",
    "DatasetSpec",
    "Experiment",
    "ExperimentError",
    "ExperimentResult",
    "PaperResult",
    "RunResult",
    "TrainingSpec",
    "build_model",
    "format_table",
    "load_experiment",
    "load_experiments",
    "machine_description",
    "run_experiment",
    "run_suite",
    "select_experiments",
    "to_json",
    "to_markdown",
    "train_node_classifier",
    "write_reports",
]
