"""Run experiments over seeds: progress on stderr, wall time, peak memory, mean ± std.

Run ``k`` of an experiment uses seed ``seeds[k]`` and split ``k mod K`` (``K`` = number of
alternative splits of the dataset: 1 for public splits, 10 for geom-gcn). Link-prediction
experiments with a random split draw it from the run's seed; OGB's split is fixed.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import torch

from gnnkit.datasets import Graph

from .data import DatasetUnavailable, NodeData, link_data, load_link_graph, load_node_data
from .experiment import Experiment, LinkTrainingSpec
from .train import RunResult, train_node_classifier
from .train_link import train_link_predictor

__all__ = ["ExperimentResult", "MemoryMonitor", "Progress", "run_experiment", "run_suite"]


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
    ``std`` is the sample standard deviation over runs (0 for a single run).
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
            return 0.0
        mean = self.mean or 0.0
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (len(self.values) - 1))

    @property
    def delta(self) -> float | None:
        """``mean − paper value`` (percentage points)."""
        return None if self.mean is None else self.mean - self.experiment.paper.value

    @property
    def within_paper_std(self) -> bool | None:
        """``|Δ| ≤ paper std`` (or ``≤ our std`` when the paper reports none)."""
        if self.delta is None:
            return None
        tolerance = self.experiment.paper.std
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


def _resolve_device(device: str | torch.device) -> torch.device:
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
    an exception during training gives ``"failed"`` with the error text.
    ``time_budget`` (seconds per run) stops a link-prediction run after the epoch that passes
    it (node-classification runs are short and ignore it). ``registry`` resolves a
    link experiment's ``training.init_from`` (that experiment is trained first, same seed and
    split, and its selected state initialises this one's model).
    """
    resolved = _resolve_device(device)
    seeds = list(range(experiment.seeds)) if seeds is None else list(seeds)
    if experiment.task == "link_prediction":
        return _run_link_experiment(experiment, seeds, resolved, data_roots, max_epochs,
                                    time_budget, registry or {}, progress, stream)

    def load() -> NodeData:
        return load_node_data(experiment.dataset, data_roots).to(resolved)

    def run_one(data: NodeData, k: int, seed: int) -> tuple[RunResult, str]:
        return train_node_classifier(experiment, data, seed=seed, split=k % data.num_splits,
                                     max_epochs=max_epochs), data.description

    return _run_seeds(experiment, seeds, resolved, load, run_one, progress, stream)


def _run_seeds(experiment: Experiment, seeds: Sequence[int], device: torch.device,
               load: Callable[[], Any], run_one: Callable[[Any, int, int], tuple[RunResult, str]],
               progress: bool, stream: TextIO | None) -> ExperimentResult:
    """The loop every task shares: ``load()`` the data once (missing files → ``"skipped"``,
    any other error → ``"failed"``), then ``run_one(data, k, seed)`` per seed under one memory
    monitor and progress bar; a failing run fails the experiment with the runs so far."""
    started = time.perf_counter()
    runs: list[RunResult] = []
    description: str | None = None
    with MemoryMonitor(device) as memory:
        try:
            data = load()
        except DatasetUnavailable as error:
            return ExperimentResult(experiment, status="skipped", message=str(error),
                                    device=str(device))
        except Exception as error:  # a malformed file fails this experiment, not the suite
            return ExperimentResult(experiment, status="failed",
                                    message=f"loading the data: {type(error).__name__}: {error}",
                                    device=str(device))
        description = getattr(data, "description", None)
        bar = Progress(experiment.id, len(seeds), stream, enabled=progress)
        try:
            for k, seed in enumerate(seeds):
                run, description = run_one(data, k, seed)
                runs.append(run)
                bar.advance(f"{experiment.metric} {run.test:.1f} ({run.epochs} epochs)")
        except Exception as error:  # reported in the table, not hidden: the run failed
            bar.close("failed")
            return ExperimentResult(experiment, tuple(runs), status="failed",
                                    message=f"{type(error).__name__}: {error}",
                                    wall_time_s=time.perf_counter() - started,
                                    data_description=description, device=str(device))
        bar.close("done")
    return ExperimentResult(experiment, tuple(runs), wall_time_s=time.perf_counter() - started,
                            peak_memory_bytes=memory.peak_bytes,
                            data_description=description, device=str(device))


def _run_link_experiment(experiment: Experiment, seeds: list[int], device: torch.device,
                         data_roots: Sequence[Path] | None, max_epochs: int | None,
                         time_budget: float | None, registry: Mapping[str, Experiment],
                         progress: bool, stream: TextIO | None) -> ExperimentResult:
    assert isinstance(experiment.training, LinkTrainingSpec)
    base_id = experiment.training.init_from
    base = None
    if base_id is not None:
        base = registry.get(base_id)
        if base is None:
            return ExperimentResult(experiment, status="failed", device=str(device),
                                    message=f"training.init_from {base_id!r} is not among the "
                                            "loaded experiments")

    def load() -> Graph:
        return load_link_graph(experiment.dataset, data_roots)

    def run_one(graph: Graph, k: int, seed: int) -> tuple[RunResult, str]:
        data = link_data(graph, experiment.dataset, seed).to(device)
        initial = None
        base_details: dict[str, float] = {}
        if base is not None:  # train the init_from experiment first, same seed and split
            first = train_link_predictor(base, data, seed=seed, max_epochs=max_epochs,
                                         time_budget=time_budget, keep_state=True)
            initial = first.state
            base_details = {f"{base.id}_test": first.result.test,
                            f"{base.id}_epochs": first.result.epochs}
        run = train_link_predictor(experiment, data, seed=seed, max_epochs=max_epochs,
                                   time_budget=time_budget, initial_state=initial).result
        if base_details:
            run = replace(run, details={**run.details, **base_details})
        return run, data.description

    return _run_seeds(experiment, seeds, device, load, run_one, progress, stream)


def run_suite(experiments: Sequence[Experiment], **options: Any) -> list[ExperimentResult]:
    """:func:`run_experiment` for each experiment, in order (same options for all)."""
    return [run_experiment(experiment, **options) for experiment in experiments]
