"""The interface of a benchmark task, and what one seed of it returns.

A task is one object (:class:`Task`) that owns everything task-specific about an experiment:

1. its TOML sections — the metric, the ``[dataset]`` sources/splits/features it reads, the
   ``[model]`` table (checked against the one model registry, :mod:`gnnkit.models.registry`,
   for the models that serve the task) and its ``[training]`` table (:meth:`Task.parse_metric`,
   :meth:`Task.parse_dataset`, :meth:`Task.parse_model`, :meth:`Task.parse_training`);
2. checks that involve other experiments (:meth:`Task.check_references`, e.g. link
   prediction's ``init_from``), run when the experiment files are loaded and again before a
   run;
3. its data, read once per experiment (:meth:`Task.load`);
4. one seed's training with the time budget, the per-epoch progress callback and the curve
   every task reports, returning the metrics (:meth:`Task.run_seed` → :class:`RunResult`);
5. optionally, a selection across all runs once they are done (:meth:`Task.finalize_runs`:
   e.g. the GIN paper's single epoch, chosen on the accuracy averaged over the ten folds).

The runner (:mod:`gnnkit.bench.runner`) has one seed loop and calls these; it never asks which
task it runs. A new task is a new module with a :class:`Task` subclass, registered with
:func:`gnnkit.bench.tasks.register_task`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch

from gnnkit.models import ModelConfigError, model_config

from ..schema import FEATURES, SOURCES, DatasetSpec, ExperimentError, get_value, parse_dataset

if TYPE_CHECKING:
    from ..experiment import Experiment

__all__ = ["RunContext", "RunResult", "Task", "TaskRun"]


@dataclass(frozen=True)
class RunResult:
    """One seed (and split) of an experiment.

    ``test`` and ``val`` are the metric (in %) of the selected model; ``train_step_ms`` is the
    mean wall time of one optimisation step (forward, loss, backward, update).
    ``curve`` holds one entry per evaluated epoch (``epoch``, ``loss``, ``val`` and ``test``
    metric in %, ``train_seconds``) and ``details`` further numbers of the run (e.g. the CN
    heuristic's test metric on the same split, the stop reason of a time-budgeted run).
    """

    seed: int
    split: int
    test: float
    val: float
    epochs: int
    selected_epoch: int
    train_step_ms: float
    curve: tuple[Mapping[str, float], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        record = dict(self.__dict__)
        record["curve"] = [dict(entry) for entry in self.curve]
        record["details"] = dict(self.details)
        return record


class TaskRun(NamedTuple):
    """What :meth:`Task.run_seed` returns: the run and a description of the data it used
    (e.g. the seed's link split), or ``None`` to keep the one from :meth:`Task.describe`."""

    result: RunResult
    data_description: str | None = None


@dataclass(frozen=True)
class RunContext:
    """Everything the runner tells a task about one seed.

    Attributes:
        seed: the random seed of this run.
        index: the run's position ``k`` among the experiment's seeds (run ``k`` uses split
            ``k mod K`` when the data has ``K`` alternative splits).
        device: where to train.
        max_epochs: cap on the experiment's epochs (smoke tests), or ``None``.
        time_budget: seconds of training + evaluation after which the run stops (after the
            epoch that passes it; the run's ``details["stopped"]`` says so), or ``None``.
        experiments: the loaded experiments by id (for :meth:`Task.check_references` and
            tasks that train another experiment first).
        on_epoch: called with every epoch's curve entry (progress display), or ``None``.
    """

    seed: int
    index: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    max_epochs: int | None = None
    time_budget: float | None = None
    experiments: Mapping[str, Experiment] = field(default_factory=dict)
    on_epoch: Callable[[Mapping[str, float]], None] | None = None

    def epochs(self, configured: int) -> int:
        """The experiment's ``configured`` epochs, capped by :attr:`max_epochs`."""
        return configured if self.max_epochs is None else min(self.max_epochs, configured)

    def log(self, entry: Mapping[str, float]) -> None:
        """Forward one epoch's entry to :attr:`on_epoch`."""
        if self.on_epoch is not None:
            self.on_epoch(entry)


class Task(abc.ABC):
    """One kind of experiment (node classification, link prediction, …).

    Subclasses set :attr:`name` and the dataset choices, and implement
    :meth:`parse_training`, :meth:`load` and :meth:`run_seed`; the other hooks have defaults.
    """

    #: the ``task = "…"`` value of the experiment files
    name: ClassVar[str]
    #: allowed ``metric`` values (see :meth:`parse_metric`); the first is the default
    metrics: ClassVar[tuple[str, ...]] = ()
    #: allowed ``dataset.source``, ``dataset.split`` (the first is the default),
    #: ``dataset.features``
    sources: ClassVar[tuple[str, ...]] = SOURCES
    splits: ClassVar[tuple[str, ...]] = ()
    features: ClassVar[tuple[str, ...]] = FEATURES
    #: the registry task whose models ``[model]`` may name (``None``: this task's own name);
    #: e.g. a sampled mini-batch variant of node classification reuses its models
    model_task: ClassVar[str | None] = None

    # ------------------------------------------------------------------ schema
    def parse_metric(self, data: Mapping[str, Any], path: Path | None) -> str:
        """The top-level ``metric`` (one of :attr:`metrics`; the first is the default)."""
        default = self.metrics[0] if self.metrics else ...
        metric = get_value(data, "metric", str, "experiment", path, default)
        if metric not in self.metrics:
            raise ExperimentError(path, f"experiment.metric must be one of "
                                        f"{list(self.metrics)} for {self.name}, got {metric!r}")
        return str(metric)

    def parse_dataset(self, table: Mapping[str, Any], path: Path | None) -> DatasetSpec:
        """The ``[dataset]`` table, with this task's sources, splits and feature modes."""
        return parse_dataset(table, path, task=self.name, sources=self.sources,
                             splits=self.splits, features=self.features)

    def parse_model(self, table: Mapping[str, Any], path: Path | None) -> Mapping[str, Any]:
        """The ``[model]`` table, validated against the model registry for this task.

        Returns the table as written (the report shows the experiment's own settings); the
        defaults are filled in when the model is built."""
        try:
            model_config(table, task=self.model_task or self.name)
        except ModelConfigError as error:
            raise ExperimentError(path, str(error)) from error
        return MappingProxyType(dict(table))

    @abc.abstractmethod
    def parse_training(self, table: Mapping[str, Any], path: Path | None) -> Any:
        """The ``[training]`` table as this task's (frozen dataclass) training spec."""

    def check_references(self, experiment: Experiment,
                         experiments: Mapping[str, Experiment]) -> None:
        """Checks against the other loaded experiments (raise :class:`ExperimentError`).
        Called by :func:`~gnnkit.bench.experiment.load_experiments` and before a run.
        Most tasks reference nothing: the default accepts every experiment."""
        return None

    # ------------------------------------------------------------------ running
    @abc.abstractmethod
    def load(self, experiment: Experiment, roots: Sequence[Path] | None,
             device: torch.device) -> Any:
        """The experiment's data, read once for all its seeds.

        Raises :class:`~gnnkit.bench.data.DatasetUnavailable` when the files are not found
        (the experiment is then reported as skipped)."""

    def describe(self, data: Any) -> str | None:
        """A description of the loaded data for the report."""
        return getattr(data, "description", None)

    @abc.abstractmethod
    def run_seed(self, experiment: Experiment, data: Any, context: RunContext) -> TaskRun:
        """Train and evaluate one seed; the metrics go into the :class:`RunResult`."""

    def finalize_runs(self, experiment: Experiment, runs: tuple[RunResult, ...]
                      ) -> tuple[RunResult, ...]:
        """The runs as reported, given all of them once every run has finished.

        The runner reports mean ± std of the returned runs' ``test``. A protocol whose model
        selection spans runs rewrites each run's selected epoch and metrics here (graph
        classification's ``gin-paper`` protocol picks one epoch for all folds from their
        averaged curves). The default keeps every run's own selection."""
        return runs
