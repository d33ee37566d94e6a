"""Reports of a benchmark run: the terminal table, JSON and Markdown, with the machine, the
learning-curve plots, and the results folder they are written to.

Columns: experiment, metric, paper (± std), gnnkit mean ± std over runs (n; no std for a single
run), Δ = gnnkit − paper (✓ when |Δ| is within the paper's std, or within ours when the paper
gives none), mean training-step time, peak memory, status (``ok (capped …)`` when
``--max-epochs`` cut the experiment's epochs).

Plots need matplotlib (``pip install 'gnnkit[plot]'``); everything else is standard library.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
import platform
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

import gnnkit

from .runner import ExperimentResult
from .schema import COUNT_METRICS, RAW_METRICS

__all__ = [
    "PLOT_INSTALL_HINT",
    "format_table",
    "machine_description",
    "new_results_dir",
    "plot_file_name",
    "plot_learning_curves",
    "plotting_available",
    "to_json",
    "to_markdown",
    "write_reports",
]

#: how to get the learning-curve plots when matplotlib is missing
PLOT_INSTALL_HINT = "pip install 'gnnkit[plot]' (or: pip install matplotlib)"

_MARKS = {"verified": "", "secondary": "†", "unverified": "‡"}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: str = "cpu") -> dict[str, Any]:
    """CPU model, cores, threads, load, versions and device of this machine."""
    try:
        load: list[float] | None = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    try:
        from gnnkit.sparse import resolve_backend

        backend = resolve_backend(torch.device(device))
    except Exception as error:  # the backend name is informative only; say why it is missing
        backend = f"unknown ({type(error).__name__})"
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15min_at_report": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gnnkit": gnnkit.__version__,
        "sparse_backend": backend,
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _decimals(*values: float) -> int:
    """1 or 2: as many decimals as the paper's numbers need (81.5, 86.98 ± 1.27, 76.50 ± 1.36)."""
    return 2 if any(round(v, 1) != round(v, 2) for v in values) else 1


def _is_raw(metric: str) -> bool:
    """Errors (MAE, RMSE) are in the target's units and counts are counts; every other metric
    is a percentage."""
    return metric in RAW_METRICS or metric in COUNT_METRICS


def _unit(metric: str) -> str:
    """The unit suffix of a metric's label: ``%`` or nothing (the target's units, counts)."""
    return "" if _is_raw(metric) else ", %"


def _digits(metric: str) -> int:
    return 3 if metric in RAW_METRICS else 0 if metric in COUNT_METRICS else 1


def _number(value: float, metric: str, *, sign: bool = False) -> str:
    """Percentages with 1 decimal, errors with 3 (ZINC's MAE 0.163 ± 0.004), counts with
    none."""
    return f"{value:{'+' if sign else ''}.{_digits(metric)}f}"


def _paper(result: ExperimentResult) -> str:
    paper = result.experiment.paper
    if paper is None:
        return "—"
    numbers = (paper.value,) if paper.std is None else (paper.value, paper.std)
    metric = result.experiment.metric
    d = _digits(metric) if _is_raw(metric) else _decimals(*numbers)
    text = " ± ".join(f"{v:.{d}f}" for v in numbers)
    return text + _MARKS[paper.verification]


def _ours(result: ExperimentResult) -> str:
    if result.mean is None:
        return "—"
    metric = result.experiment.metric
    if result.std is None:  # one run: a spread of 0.0 would be a claim, not a measurement
        return f"{_number(result.mean, metric)} (n={len(result.runs)})"
    return (f"{_number(result.mean, metric)} ± {_number(result.std, metric)} "
            f"(n={len(result.runs)})")


def _delta(result: ExperimentResult) -> str:
    if result.delta is None:
        return "—"
    return (_number(result.delta, result.experiment.metric, sign=True)
            + (" ✓" if result.within_paper_std else ""))


def _memory(result: ExperimentResult) -> str:
    if result.peak_memory_bytes is None:
        return "—"
    return f"{result.peak_memory_bytes / 2**20:.0f} MiB"


def _step(result: ExperimentResult) -> str:
    return "—" if result.train_step_ms is None else f"{result.train_step_ms:.1f} ms"


def _status(result: ExperimentResult) -> str:
    """The table's status cell; a capped run is marked so nobody quotes it as a paper run."""
    if result.status == "ok" and result.capped:
        return f"ok (capped: {result.max_epochs}/{result.configured_epochs or '?'} epochs)"
    return result.status


HEADERS = ("experiment", "metric", "paper", "gnnkit", "Δ", "time/step", "peak mem", "status")


def _rows(results: Sequence[ExperimentResult]) -> list[tuple[str, ...]]:
    return [(r.experiment.id, r.experiment.metric, _paper(r), _ours(r), _delta(r), _step(r),
             _memory(r), _status(r)) for r in results]


def _notes(results: Sequence[ExperimentResult]) -> list[str]:
    notes = []
    marks = {r.experiment.paper.verification for r in results if r.experiment.paper}
    if "secondary" in marks:
        notes.append("† paper number checked against transcriptions of the table, "
                     "not the paper itself")
    if "unverified" in marks:
        notes.append("‡ paper number not verified")
    for r in results:
        if r.status != "ok":
            notes.append(f"{r.experiment.id}: {r.status}: {r.message}")
        elif r.capped:
            notes.append(f"{r.experiment.id}: capped by --max-epochs {r.max_epochs} (the "
                         f"experiment sets {r.configured_epochs or 'more'} epochs): a smoke "
                         f"test, not the paper's setting")
    notes.append("time/step = mean wall time of one training step (forward, loss, backward, "
                 "update; one step is a full-graph epoch in node classification, one "
                 "batch of links in link prediction, one batch of graphs in graph-level "
                 "tasks, one batch of BPR triples in recommendation); peak mem = peak RSS "
                 "growth (CPU) or peak allocated (CUDA)")
    return notes


def format_table(results: Sequence[ExperimentResult]) -> str:
    """The plain-text table printed by ``gnnkit bench``."""
    rows = [HEADERS, *_rows(results)]
    widths = [max(len(row[k]) for row in rows) for k in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(widths[k]) for k, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, "", *_notes(results)])


def _result_json(result: ExperimentResult) -> dict[str, Any]:
    experiment = result.experiment
    paper = experiment.paper
    return {
        "id": experiment.id,
        "title": experiment.title,
        "task": experiment.task,
        "metric": experiment.metric,
        "dataset": dict(experiment.dataset.__dict__),
        "data": result.data_description,
        "model": experiment.model_name,
        "hyperparameters": experiment.hyperparameters(),
        "paper": None if paper is None else dict(paper.__dict__),
        "status": result.status,
        "capped": result.capped,
        "max_epochs": result.max_epochs,
        "configured_epochs": result.configured_epochs,
        "message": result.message,
        "device": result.device,
        "mean": result.mean,
        "std": result.std,
        "delta": result.delta,
        "within_paper_std": result.within_paper_std,
        "train_step_ms": result.train_step_ms,
        "mean_epochs": result.mean_epochs,
        "wall_time_s": result.wall_time_s,
        "peak_memory_bytes": result.peak_memory_bytes,
        "runs": [run.as_dict() for run in result.runs],
    }


def to_json(results: Sequence[ExperimentResult], machine: dict[str, Any],
            run: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-serialisable record: machine, run facts (command, load), every experiment and
    seed."""
    return {
        "format": "gnnkit-bench/1",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "run": dict(run or {}),
        "experiments": [_result_json(r) for r in results],
    }


def to_markdown(results: Sequence[ExperimentResult], machine: dict[str, Any],
                run: dict[str, Any] | None = None,
                plots: Mapping[str, str] | None = None) -> str:
    """A Markdown report: machine, run facts, table, citations and notes.

    ``plots`` maps an experiment id to the (relative) link of its learning-curve image, which
    is embedded in that experiment's section."""
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# gnnkit benchmark results", "",
             f"Generated {created} by `gnnkit bench`.", "", "## Machine", ""]
    lines += [f"- **{key}**: {value}" for key, value in machine.items()]
    lines += [f"- **{key}**: {value}" for key, value in (run or {}).items()]
    lines += ["", "## Results", "", "| " + " | ".join(HEADERS) + " |",
              "|" + "|".join("---" for _ in HEADERS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in _rows(results)]
    lines += ["", *[f"- {note}" for note in _notes(results)], "", "## Experiments", ""]
    for r in results:
        e = r.experiment
        lines.append(f"### {e.id}: {e.title}")
        lines.append("")
        if e.paper is None:
            lines.append("- paper: no published number for this setting"
                         + (f" ({e.notes})" if e.notes else ""))
        else:
            lines.append(f"- paper: {_paper(r)} — {e.paper.citation}"
                         + (f" <{e.paper.url}>" if e.paper.url else "")
                         + f" (verification: {e.paper.verification})")
            if e.paper.note:
                lines.append(f"- note: {e.paper.note}")
        if r.data_description:
            lines.append(f"- data: {r.data_description}")
        settings = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in e.hyperparameters().items())
        lines.append(f"- settings: {settings}")
        if r.runs:
            per_run = ", ".join(_number(run.test, e.metric) for run in r.runs)
            lines.append(f"- per run ({e.metric}{_unit(e.metric)}): {per_run}; mean epochs "
                         f"{r.mean_epochs:.0f}; wall time {r.wall_time_s:.1f} s")
            lines += _details(r)
        if plots and e.id in plots:
            lines += ["", f"![learning curves of {e.id}]({plots[e.id]})"]
        lines.append("")
    return "\n".join(lines)


def _details(result: ExperimentResult) -> list[str]:
    """Means of the runs' numeric details (e.g. the CN heuristic on the same splits) and the
    distinct textual ones (e.g. where a budgeted run stopped)."""
    lines = []
    keys = dict.fromkeys(key for run in result.runs for key in run.details)
    for key in keys:
        values = [run.details[key] for run in result.runs if key in run.details]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            mean = sum(values) / len(values)
            lines.append(f"- {key.replace('_', ' ')}: {mean:.2f} (mean of {len(values)} runs)")
        else:
            distinct = dict.fromkeys(str(value) for value in values)
            lines.append(f"- {key.replace('_', ' ')}: " + "; ".join(distinct))
    return lines


def _link(target: Path, page: Path) -> str:
    """``target`` as a link relative to the folder of the Markdown ``page`` (forward slashes,
    so it works on every Markdown viewer)."""
    return Path(os.path.relpath(target, page.parent)).as_posix()


def write_reports(results: Sequence[ExperimentResult], machine: dict[str, Any], *,
                  run: dict[str, Any] | None = None,
                  json_path: str | os.PathLike[str] | None = None,
                  markdown_path: str | os.PathLike[str] | None = None,
                  plots: Mapping[str, str | os.PathLike[str]] | None = None) -> None:
    """Write the JSON and/or Markdown report (parent folders are created).

    ``plots`` (experiment id → image file, see :func:`plot_learning_curves`) are linked from
    the Markdown relative to where it is written."""
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(results, machine, run), indent=2) + "\n",
                        encoding="utf-8")
    if markdown_path is not None:
        path = Path(markdown_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        links = {key: _link(Path(image).resolve(), path.resolve())
                 for key, image in (plots or {}).items()}
        path.write_text(to_markdown(results, machine, run, links), encoding="utf-8")


# ---------------------------------------------------------------------- results folder
def _slug(text: str, limit: int = 60) -> str:
    """``text`` as a file-name part: letters, digits, ``.``, ``_``, ``+``, ``-`` only,
    shortened."""
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("._-") or "run"
    return slug[:limit].rstrip("._-")


def new_results_dir(base: str | os.PathLike[str], label: str,
                    when: _dt.datetime | None = None) -> Path:
    """Create and return a new folder ``<base>/<YYYYmmdd-HHMMSS>-<label>/`` for one run.

    The folder is created here (``exist_ok=False``), never reused: when two runs start in
    the same second (or the name is taken) ``-2``, ``-3``, … is appended, so a previous run's
    files are never overwritten."""
    when = when or _dt.datetime.now()
    stem = f"{when:%Y%m%d-%H%M%S}-{_slug(label)}"
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = base / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{base}: could not find a free folder name for {stem!r}; "
                          f"remove old results or choose another --results-dir")


# ---------------------------------------------------------------------- plots
def plotting_available() -> bool:
    """Whether matplotlib can be imported (the optional ``plot`` extra)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or stubbed-out installation
        return False


def plot_file_name(experiment_id: str) -> str:
    """The learning-curve image's file name for ``experiment_id``."""
    return f"curves-{_slug(experiment_id, 120)}.png"


def plot_learning_curves(result: ExperimentResult, path: str | os.PathLike[str]) -> bool:
    """Draw ``result``'s per-epoch curves to the PNG ``path``; ``False`` (nothing written)
    when no run recorded a curve.

    Left panel: training loss per run; right panel: validation (dashed) and test (solid)
    metric per run, one colour per seed, with a dot on the epoch each run selected. Uses
    matplotlib's object interface with the Agg canvas, never ``pyplot``: no window, no global
    figure state, safe in a headless process (raises :class:`ImportError` without
    matplotlib)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = [run for run in result.runs if run.curve]
    if not runs:
        return False
    experiment = result.experiment
    figure = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, metric_axes = figure.subplots(1, 2)
    for k, run in enumerate(runs):
        colour = f"C{k % 10}"  # matplotlib's default cycle: one colour per run, both panels
        epochs = [entry["epoch"] for entry in run.curve]
        label = f"seed {run.seed}"
        if all("loss" in entry for entry in run.curve):
            loss_axes.plot(epochs, [entry["loss"] for entry in run.curve], color=colour,
                           linewidth=1, label=label)
        if all("val" in entry for entry in run.curve):
            metric_axes.plot(epochs, [entry["val"] for entry in run.curve], color=colour,
                             linewidth=1, linestyle="--", alpha=0.8)
        if all("test" in entry for entry in run.curve):
            metric_axes.plot(epochs, [entry["test"] for entry in run.curve], color=colour,
                             linewidth=1)
        selected = [entry for entry in run.curve if entry["epoch"] == run.selected_epoch]
        if selected and "test" in selected[0]:
            metric_axes.plot([run.selected_epoch], [selected[0]["test"]], "o", color=colour,
                             markersize=4)
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="loss")
    metric_axes.set(title=f"{experiment.metric}: val (dashed), test (solid); "
                          f"• selected epoch", xlabel="epoch",
                    ylabel=experiment.metric + (" (%)" if not _is_raw(experiment.metric) else ""))
    if experiment.paper is not None:
        metric_axes.axhline(experiment.paper.value, color="grey", linewidth=0.8, linestyle=":")
        metric_axes.annotate(f"paper {experiment.paper.value:g}",
                             (0.01, experiment.paper.value), xycoords=("axes fraction", "data"),
                             color="grey", fontsize=8, va="bottom")
    if len(runs) <= 10:  # beyond ten runs the legend hides the curves
        loss_axes.legend(fontsize=7)
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
    capped = f" — capped at {result.max_epochs} epochs" if result.capped else ""
    figure.suptitle(f"{experiment.id}: {experiment.title}{capped}", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return True
