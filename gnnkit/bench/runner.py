"""Run experiments over seeds: progress on stderr, wall time, peak memory, mean ± std.

The runner knows no task: the experiment's task (:mod:`gnnkit.bench.tasks`) checks its
references to other experiments, loads the data once, and trains each seed; the runner owns
the one seed loop, the progress bar, the memory monitor and the skip/fail rules. Run ``k`` of
an experiment uses seed ``seeds[k]`` (the task decides what else ``k`` selects, e.g. split
``k mod K`` of a dataset with ``K`` alternative splits, or fold ``k`` of a cross-validation).
Once every run has finished, the task may revise the runs' selection across all of them
(:meth:`~gnnkit.bench.tasks.Task.finalize_runs`) before mean ± std are taken.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch

from .data import DatasetUnavailable
from .experiment import Experiment, ExperimentError
from .schema import COUNT_METRICS, RAW_METRICS
from .tasks import RunContext, RunResult, get_task

__all__ = ["ExperimentResult", "MemoryMonitor", "Progress", "resolve_device", "run_experiment",
           "run_suite"]


class MemoryMonitor:
    """Peak memory of a block of work.

    CUDA: ``torch.cuda.max_memory_allocated`` (peak tensor memory). CPU: peak growth of the
    process's resident set size over its value on entry, sampled every ``interval`` seconds from
    ``/proc/self/statm`` by a background thread (Linux); elsewhere ``None``.
    """

    def __init__(self, device: torch.device, interval: float = 0.01) -> None:
        self.device = device
        self.interval = interval
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_rss = 0
        self._max_rss = 0

    @staticmethod
    def _rss() -> int | None:
        try:
            with open("/proc/self/statm", encoding="ascii") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = self._rss()
            if rss is not None:
                self._max_rss = max(self._max_rss, rss)

    def __enter__(self) -> MemoryMonitor:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        rss = self._rss()
        if rss is not None:
            self._start_rss = self._max_rss = rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            return
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            rss = self._rss()
            self._max_rss = max(self._max_rss, rss or 0)
            self.peak_bytes = self._max_rss - self._start_rss


class Progress:
    """A one-line progress bar on ``stream`` (stderr); plain lines when it is not a terminal."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None,
                 enabled: bool = True, width: int = 24) -> None:
        self.label, self.total, self.width = label, total, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.done = 0
        self.started = time.perf_counter()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._draw("starting")

    def _draw(self, info: str) -> None:
        if not self.enabled:
            return
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        line = f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.1f}s {info}"
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
        elif self.done > 0:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, info: str) -> None:
        """Redraw with ``info`` (e.g. the current epoch) on a terminal; no line otherwise, so
        logs get one line per finished seed."""
        if self.interactive:
            self._draw(info)

    def advance(self, info: str = "") -> None:
        self.done += 1
        self._draw(info)

    def close(self, info: str = "") -> None:
        if self.enabled and self.interactive:
            self._draw(info)
            self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True)
class ExperimentResult:
    """Outcome of one experiment: its runs, or why it did not run.

    ``status`` is ``"ok"``, ``"skipped"`` (dataset files unavailable) or ``"failed"``.
    ``std`` is the sample standard deviation over runs (``None`` for a single run: one number
    has no spread, and printing ``± 0.0`` would claim one). ``max_epochs`` is the cap the runs
    were given (``--max-epochs``), ``None`` when uncapped; see :attr:`capped`.
    """

    experiment: Experiment
    runs: tuple[RunResult, ...] = ()
    status: str = "ok"
    message: str | None = None
    wall_time_s: float = 0.0
    peak_memory_bytes: int | None = None
    data_description: str | None = None
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)
    max_epochs: int | None = None

    @property
    def configured_epochs(self) -> int | None:
        """The experiment's own epoch count (every task's training spec has ``epochs``, the
        number :meth:`~gnnkit.bench.tasks.RunContext.epochs` caps), or ``None``."""
        epochs = getattr(self.experiment.training, "epochs", None)
        return epochs if isinstance(epochs, int) else None

    @property
    def capped(self) -> bool:
        """Whether ``--max-epochs`` cut the experiment's epochs: the runs are then a smoke
        test, not the paper's setting, and the reports say so."""
        if self.max_epochs is None:
            return False
        configured = self.configured_epochs
        return configured is None or self.max_epochs < configured

    @property
    def values(self) -> list[float]:
        return [run.test for run in self.runs]

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.runs else None

    @property
    def std(self) -> float | None:
        if not self.runs:
            return None
        if len(self.runs) == 1:
            return None
        mean = self.mean or 0.0
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def delta(self) -> float | None:
        """``mean − paper value`` (percentage points, or the target's units for
        :data:`~gnnkit.bench.schema.RAW_METRICS`); ``None`` without a paper number."""
        if self.mean is None or self.experiment.paper is None:
            return None
        return self.mean - self.experiment.paper.value

    @property
    def within_paper_std(self) -> bool | None:
        """``|Δ| ≤ paper std`` (or ``≤ our std`` when the paper reports none)."""
        if self.delta is None:
            return None
        tolerance = self.experiment.paper.std if self.experiment.paper is not None else None
        if tolerance is None:
            tolerance = self.std or 0.0
        return abs(self.delta) <= tolerance

    @property
    def train_step_ms(self) -> float | None:
        if not self.runs:
            return None
        return sum(run.train_step_ms for run in self.runs) / len(self.runs)

    @property
    def mean_epochs(self) -> float | None:
        return sum(run.epochs for run in self.runs) / len(self.runs) if self.runs else None


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; any other name as given. Asking for CUDA
    on a machine without it is a :class:`ValueError` (a usage error, not a failed run)."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    return resolved


def run_experiment(experiment: Experiment, *, seeds: Sequence[int] | None = None,
                   device: str | torch.device = "cpu",
                   data_roots: Sequence[Path] | None = None, max_epochs: int | None = None,
                   time_budget: float | None = None,
                   registry: Mapping[str, Experiment] | None = None,
                   progress: bool = True, stream: TextIO | None = None) -> ExperimentResult:
    """Run ``experiment`` once per seed (default ``0 … experiment.seeds − 1``).

    A dataset that cannot be found gives a ``"skipped"`` result (with the search message);
    a broken reference to another experiment (the task's
    :meth:`~gnnkit.bench.tasks.Task.check_references` against ``registry``) or an exception
    while loading or training gives ``"failed"`` with the error text. ``time_budget``
    (seconds per run) stops every run after the epoch that passes it. ``registry`` holds the
    loaded experiments (the CLI passes all of them).
    """
    resolved = resolve_device(device)
    seeds = list(range(experiment.seeds)) if seeds is None else list(seeds)
    task = get_task(experiment.task)
    experiments = registry or {}
    try:
        task.check_references(experiment, experiments)
    except ExperimentError as error:
        return ExperimentResult(experiment, status="failed", message=str(error),
                                device=str(resolved), max_epochs=max_epochs)
    started = time.perf_counter()
    runs: list[RunResult] = []
    with MemoryMonitor(resolved) as memory:
        try:
            data = task.load(experiment, data_roots, resolved)
        except DatasetUnavailable as error:
            return ExperimentResult(experiment, status="skipped", message=str(error),
                                    device=str(resolved), max_epochs=max_epochs)
        except Exception as error:  # a malformed file fails this experiment, not the suite
            return ExperimentResult(experiment, status="failed",
                                    message=f"loading the data: {type(error).__name__}: {error}",
                                    device=str(resolved), max_epochs=max_epochs)
        description = task.describe(data)
        bar = Progress(experiment.id, len(seeds), stream, enabled=progress)
        try:
            for k, seed in enumerate(seeds):
                def on_epoch(entry: Mapping[str, float], seed: int = seed) -> None:
                    bar.note(f"seed {seed}: epoch {int(entry['epoch'])}")

                context = RunContext(seed=seed, index=k, device=resolved,
                                     max_epochs=max_epochs, time_budget=time_budget,
                                     experiments=experiments,
                                     on_epoch=on_epoch if progress else None)
                run, seed_description = task.run_seed(experiment, data, context)
                description = seed_description or description
                runs.append(run)
                digits = (3 if experiment.metric in RAW_METRICS
                          else 0 if experiment.metric in COUNT_METRICS else 1)
                bar.advance(f"{experiment.metric} {run.test:.{digits}f} ({run.epochs} epochs)")
            finished = task.finalize_runs(experiment, tuple(runs))
        except Exception as error:  # reported in the table, not hidden: the run failed
            bar.close("failed")
            return ExperimentResult(experiment, tuple(runs), status="failed",
                                    message=f"{type(error).__name__}: {error}",
                                    wall_time_s=time.perf_counter() - started,
                                    data_description=description, device=str(resolved),
                                    max_epochs=max_epochs)
        bar.close("done")
    return ExperimentResult(experiment, finished, wall_time_s=time.perf_counter() - started,
                            peak_memory_bytes=memory.peak_bytes,
                            data_description=description, device=str(resolved),
                            max_epochs=max_epochs)


def run_suite(experiments: Sequence[Experiment], **options: Any) -> list[ExperimentResult]:
    """:func:`run_experiment` for each experiment, in order (same options for all)."""
    return [run_experiment(experiment, **options) for experiment in experiments]
