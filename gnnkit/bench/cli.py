"""``gnnkit bench``: run the benchmark suite and report against the papers.

With no arguments it runs the ``quick`` suite (GCN and GAT on the bundled Cora, a few minutes
on two CPU cores). Progress goes to stderr, the table to stdout; the JSON and Markdown reports
and a learning-curve plot per experiment (with matplotlib: ``pip install 'gnnkit[plot]'``) go
to a new folder ``gnnkit-results/<date>-<time>-<suite or ids>/`` (``--results-dir`` or
``$GNNKIT_RESULTS`` choose the parent folder, ``--no-results`` writes nothing), whose paths
are printed at the end.

Experiments are the TOML files shipped with gnnkit plus those of ``--experiments-dir`` and
``$GNNKIT_EXPERIMENTS`` (same id: the user's file wins, with a notice). ``--list`` shows them.

``gnnkit bench kernels`` instead times the sparse kernels (spmm sum/mean/max, forward and
backward) against ``torch.sparse.mm`` and gather/scatter on CPU, beside the machine's measured
memory bandwidth, and writes a Markdown report (``gnnkit bench kernels --help``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from gnnkit.train.distributed import env_rank, env_world_size

from ..cli import plain_text
from .data import data_roots
from .experiment import (
    Experiment,
    ExperimentError,
    experiment_dirs,
    load_experiments,
    select_experiments,
)
from .report import (
    PLOT_INSTALL_HINT,
    format_table,
    machine_description,
    new_results_dir,
    plot_file_name,
    plot_learning_curves,
    plotting_available,
    write_reports,
)
from .runner import ExperimentResult, resolve_device, run_experiment

__all__ = ["DEFAULT_RESULTS_DIR", "DEFAULT_SUITE", "choose_threads", "configure", "run"]

DEFAULT_SUITE = "quick"
#: parent folder of the per-run results folders when neither --results-dir nor
#: $GNNKIT_RESULTS is given (relative to the current directory)
DEFAULT_RESULTS_DIR = Path("gnnkit-results")


def _say(message: str) -> None:
    """One line for the user on stderr (stdout carries only the table and --list); under
    ``torchrun`` only rank 0 speaks."""
    if env_rank() == 0:
        print(f"gnnkit bench: {message}", file=sys.stderr)


def _seeds(text: str) -> list[int]:
    """``"0"`` → seed 0; ``"5"`` → seeds 0…4; ``"0,3,7"`` (or ``"7,"``) → those seeds."""
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",") if part.strip()]
        else:
            count = int(text)
            # a bare 0 can only mean "seed 0": a count of zero runs would run nothing
            seeds = [0] if count == 0 else list(range(count))
        if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
            raise ValueError
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--seeds takes a count N >= 1 (seeds 0…N-1), 0 (seed 0 only) or a comma list of "
            f"distinct non-negative seeds (0,3,7; a single seed: 7,), got {text!r}"
        ) from error
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed, e.g. --seeds 0")
    return seeds


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from error
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``gnnkit bench``'s options to ``parser``."""
    # the module docstring is the command's --help text; gnnkit.cli strips its markup
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--list", action="store_true",
                        help="list the experiments (id, suites, paper number) and exit")
    parser.add_argument("--experiment", "-e", action="append", default=[], metavar="ID",
                        help="run this experiment (repeatable, or comma-separated ids)")
    parser.add_argument("--suite", default=None,
                        help=f"run the experiments tagged with this suite (default: "
                             f"{DEFAULT_SUITE!r} when no --experiment is given)")
    parser.add_argument("--all", action="store_true", help="run every experiment")
    parser.add_argument("--seeds", type=_seeds, default=None, metavar="N|LIST",
                        help="N >= 1: seeds 0…N-1; 0: seed 0 only; a comma list such as "
                             "0,3,7 (one seed: 7,); default: each experiment's own count")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--results-dir", type=Path, default=None, metavar="DIR",
                        help="parent folder of the results: each run writes results.json, "
                             "report.md and curve plots to a new DIR/<date>-<time>-<suite or "
                             f"ids>/ (default: $GNNKIT_RESULTS, else ./{DEFAULT_RESULTS_DIR})")
    parser.add_argument("--no-results", action="store_true",
                        help="write no results folder (only --out/--markdown, if given)")
    parser.add_argument("--out", type=Path, default=None, metavar="results.json",
                        help="also write the full results (every seed, machine) as JSON here "
                             "(an explicit path: replaced if it exists)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="report.md",
                        help="also write the Markdown report here (an explicit path: "
                             "replaced if it exists)")
    parser.add_argument("--experiments-dir", type=Path, action="append", default=[],
                        metavar="DIR",
                        help="a folder of experiment TOML files added to the shipped ones "
                             "and $GNNKIT_EXPERIMENTS' (repeatable; a file with a shipped "
                             "id replaces that experiment, with a notice)")
    parser.add_argument("--no-shipped-experiments", action="store_true",
                        help="load only the --experiments-dir / $GNNKIT_EXPERIMENTS folders, "
                             "not the experiments shipped with gnnkit")
    parser.add_argument("--data-root", type=Path, action="append", default=[],
                        help="folder to search for dataset files (repeatable; then "
                             "$GNNKIT_DATA, ~/.cache/gnnkit)")
    parser.add_argument("--max-epochs", type=_positive, default=None,
                        help="cap every experiment's epochs (smoke tests: such runs are marked "
                             "'capped' in the reports, they are not paper settings)")
    parser.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS",
                        help="stop each run after the epoch that passes this many seconds "
                             "(budgeted runs; the report records where it stopped)")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="torch intra-op threads (default: torch's, capped at the cores "
                             "not busy per the 1-minute load average; $OMP_NUM_THREADS, if "
                             "set, is kept as it is)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="bench_command", metavar="kernels")
    from . import kernels

    kernels_parser = commands.add_parser(
        "kernels", help="time the CPU sparse kernels against torch.sparse.mm (Markdown report)",
        description=plain_text(kernels.__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    kernels.configure(kernels_parser)


# ---------------------------------------------------------------------- machine load, threads
def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):  # no load average on this platform (Windows)
        return None


def _cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container's
    cpuset), else the machine's logical cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choose_threads(requested: int | None, *, torch_threads: int, cores: int,
                   load: float | None, omp_num_threads: str | None = None) -> tuple[int, str]:
    """The torch intra-op thread count for a run, and why (recorded in the reports).

    ``--threads`` wins, then ``$OMP_NUM_THREADS`` (already torch's setting: the user chose).
    Otherwise torch's default, capped at the cores not already busy: ``cores − load``
    (1-minute load average) rounded, at least 1. Why: intra-op threads meet at a barrier
    after every parallel operation, so a thread that shares a core with another process
    holds every operation up until it gets a time slice; on a busy 2-core machine a GCN epoch
    took 409.6 ms with 2 threads and 43.8 ms with 1. A spare core costs at most 2× in the
    other direction. The load average lags by about a minute; pass ``--threads`` to decide.
    """
    if requested is not None:
        return requested, "--threads"
    if omp_num_threads:
        return torch_threads, f"$OMP_NUM_THREADS={omp_num_threads}"
    if load is None:
        chosen = max(1, min(torch_threads, cores))
        return chosen, f"torch's default {torch_threads} capped at {cores} cores (no load average)"
    idle = max(0, math.floor(cores - load + 0.5))
    chosen = max(1, min(torch_threads, cores, idle))
    return chosen, (f"auto: torch's default {torch_threads}, capped at the {idle} of {cores} "
                    f"cores not busy (1-minute load {load:.2f}); --threads N overrides")


def _warn_if_busy(load: list[float] | None, cores: int, when: str) -> bool:
    """Warn (stderr) when the 1-minute load exceeds the cores; ``True`` if it did."""
    if load is None or load[0] <= cores:
        return False
    _say(f"warning: the 1-minute load average {when} is {load[0]:.2f} on {cores} cores: other "
         f"processes compete for the CPU, so time/step and wall times will be noisy (the "
         f"metrics are not affected). Compare timings from a quiet machine, or run with "
         f"--threads 1.")
    return True


# ---------------------------------------------------------------------- selection, listing
def _list(registry: Mapping[str, Experiment]) -> str:
    lines = []
    for experiment in registry.values():
        paper = experiment.paper
        if paper is None:
            number = "(no published number)"
        else:
            number = (f"{paper.value}" + (f" ± {paper.std}" if paper.std is not None else "")
                      + f" ({paper.verification})")
        lines.append(f"{experiment.id:28s} [{', '.join(experiment.suites)}] "
                     f"{experiment.metric} {number} — {experiment.title}")
    return "\n".join(lines)


def _label(args: argparse.Namespace, ids: Sequence[str], suite: str | None) -> str:
    """The results folder's name part: the suite, ``all``, or the ids (the first three)."""
    if args.all:
        return "all"
    if ids:
        shown = "+".join(ids[:3])
        return shown + (f"+{len(ids) - 3}-more" if len(ids) > 3 else "")
    return suite or DEFAULT_SUITE


def _results_base(args: argparse.Namespace) -> Path:
    if args.results_dir is not None:
        return args.results_dir
    configured = os.environ.get("GNNKIT_RESULTS")
    return Path(configured) if configured else DEFAULT_RESULTS_DIR


def _notice_override(new: Experiment, old: Experiment) -> None:
    _say(f"experiment {new.id!r} from {new.path} replaces the one in {old.path}")


# ---------------------------------------------------------------------- writing
def _write_results(args: argparse.Namespace, results: Sequence[ExperimentResult],
                   machine: dict[str, Any], run_info: dict[str, Any], label: str,
                   started_at: _dt.datetime) -> list[Path]:
    """Write the results folder, the explicit --out/--markdown files and the plots; return
    every path written."""
    folder = None if args.no_results else new_results_dir(_results_base(args), label,
                                                          started_at)
    if folder is not None:
        run_info["results_dir"] = str(folder)
    written: list[Path] = []
    plots: dict[str, Path] = {}
    # plots go into the results folder, or beside an explicit --markdown without one
    plot_dir = folder or (args.markdown.parent if args.markdown is not None else None)
    prefix = "" if folder is not None or args.markdown is None else f"{args.markdown.stem}-"
    if plot_dir is not None and any(r.runs for r in results):
        if not plotting_available():
            _say(f"learning-curve plots skipped: matplotlib is not installed; "
                 f"{PLOT_INSTALL_HINT}")
        else:
            for result in results:
                path = plot_dir / (prefix + plot_file_name(result.experiment.id))
                try:
                    if plot_learning_curves(result, path):
                        plots[result.experiment.id] = path
                except Exception as error:  # a plot must never cost the run's numbers
                    _say(f"{result.experiment.id}: plot failed ({type(error).__name__}: "
                         f"{error}); the reports are written without it")
    targets: list[tuple[Path | None, Path | None]] = [(args.out, args.markdown)]
    if folder is not None:
        targets.insert(0, (folder / "results.json", folder / "report.md"))
    for json_path, markdown_path in targets:
        write_reports(results, machine, run=run_info, json_path=json_path,
                      markdown_path=markdown_path, plots=plots)
        written += [p for p in (json_path, markdown_path) if p is not None]
    return written + list(plots.values())


# ---------------------------------------------------------------------- the command
def run(args: argparse.Namespace) -> int:
    """Run the selected experiments; exit 0 if every one ran (skipped ones are reported),
    1 if any failed, 2 on a usage error. ``gnnkit bench kernels`` runs the kernel benchmark."""
    if getattr(args, "bench_command", None) == "kernels":
        from . import kernels

        return kernels.run(args)
    try:
        folders = experiment_dirs(args.experiments_dir, shipped=not args.no_shipped_experiments)
        if not folders:
            raise ExperimentError(None, "--no-shipped-experiments leaves no experiment folder; "
                                        "add --experiments-dir DIR or set GNNKIT_EXPERIMENTS")
        registry = load_experiments(folders, on_override=_notice_override)
    except ExperimentError as error:
        _say(str(error))
        return 2
    if args.list:
        if env_rank() == 0:
            print(_list(registry))
        return 0
    ids = [part for item in args.experiment for part in item.split(",") if part]
    suite = None if args.all or ids else (args.suite or DEFAULT_SUITE)
    try:
        chosen = (list(registry.values()) if args.all
                  else select_experiments(registry, ids=ids, suite=suite))
        device = resolve_device(args.device)
    except KeyError as error:
        _say(str(error.args[0]))
        return 2
    except (ValueError, RuntimeError) as error:  # an unknown or unavailable device
        _say(f"--device {args.device}: {error}")
        return 2

    cores, load = _cores(), _load()
    threads, reason = choose_threads(args.threads, torch_threads=torch.get_num_threads(),
                                     cores=cores, load=None if load is None else load[0],
                                     omp_num_threads=os.environ.get("OMP_NUM_THREADS"))
    torch.set_num_threads(threads)
    _say(f"{threads} torch thread{'s' if threads > 1 else ''} ({reason})")
    warned = _warn_if_busy(load, cores, "at the start")
    started_at = _dt.datetime.now()
    started = time.perf_counter()
    run_info: dict[str, Any] = {
        "command": "gnnkit bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1
        and sys.argv[1] == "bench" else "gnnkit bench (called from Python)",
        "threads": threads, "threads_chosen_by": reason, "available_cores": cores,
        "load_average_at_start": load}
    # under torchrun every rank runs this command; only rank 0 reports (sampled node
    # classification trains data-parallel, everything else runs whole on every rank)
    rank = env_rank()
    if env_world_size() > 1:
        run_info["torchrun_world_size"] = env_world_size()
    # Build (or load) the C++ kernels now: the first use compiles them (about a minute,
    # once per machine), which must not be counted as the first experiment's training time.
    from gnnkit.sparse import prepare_backend

    prepared = time.perf_counter()
    prepare_backend(device)  # its name is in the machine description (sparse_backend)
    run_info["backend_preparation_s"] = round(time.perf_counter() - prepared, 1)

    roots = data_roots(args.data_root)
    results = []
    for experiment in chosen:
        try:
            results.append(run_experiment(experiment, seeds=args.seeds, device=device,
                                          data_roots=roots,
                                          max_epochs=args.max_epochs,
                                          time_budget=args.time_budget, registry=registry,
                                          progress=not args.quiet and rank == 0))
        except (ValueError, ExperimentError) as error:
            _say(f"{experiment.id}: {error}")
            return 2
    machine = machine_description(results[0].device if results else str(device))
    run_info["load_average_at_end"] = _load()
    run_info["total_wall_time_s"] = round(time.perf_counter() - started, 1)
    if not warned:
        _warn_if_busy(run_info["load_average_at_end"], cores, "at the end")
    if rank == 0:
        print(format_table(results))
        sys.stdout.flush()  # the table first, then the paths on stderr, in a terminal too
        written = _write_results(args, results, machine, run_info,
                                 _label(args, ids, suite), started_at)
        if written:
            _say("wrote\n" + "\n".join(f"  {path}" for path in written))
    return 1 if any(r.status == "failed" for r in results) else 0
