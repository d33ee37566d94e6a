"""``gnnkit bench``: run the benchmark suite and report against the papers.

With no arguments it runs the ``quick`` suite (GCN and GAT on the bundled Cora, a few minutes
on two CPU cores) and prints the table. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from .data import data_roots
from .experiment import ExperimentError, load_experiments, select_experiments
from .report import format_table, machine_description, write_reports
from .runner import run_experiment

__all__ = ["configure", "run"]

DEFAULT_SUITE = "quick"


def _seeds(text: str) -> list[int]:
    """``"5"`` → seeds 0…4; ``"0,3,7"`` → those seeds."""
    try:
        if "," in text:
            seeds = [int(part) for part in text.split(",") if part.strip()]
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = list(range(count))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--seeds takes a count (e.g. 5) or a comma list (e.g. 0,3,7), got {text!r}"
        ) from error
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed")
    return seeds


def _positive(text: str) -> int:
    value = int(text)
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
    parser.add_argument("--list", action="store_true",
                        help="list the experiments (id, suites, paper number) and exit")
    parser.add_argument("--experiment", "-e", action="append", default=[], metavar="ID",
                        help="run this experiment (repeatable, or comma-separated ids)")
    parser.add_argument("--suite", default=None,
                        help=f"run the experiments tagged with this suite (default: "
                             f"{DEFAULT_SUITE!r} when no --experiment is given)")
    parser.add_argument("--all", action="store_true", help="run every experiment")
    parser.add_argument("--seeds", type=_seeds, default=None, metavar="N|LIST",
                        help="number of seeds (0…N-1) or a comma list; default: each "
                             "experiment's own")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--out", type=Path, default=None, metavar="results.json",
                        help="write the full results (every seed, machine) as JSON")
    parser.add_argument("--markdown", type=Path, default=None, metavar="report.md",
                        help="write a Markdown report")
    parser.add_argument("--experiments-dir", type=Path, default=None,
                        help="folder of experiment TOML files (default: $GNNKIT_EXPERIMENTS "
                             "or the files shipped in gnnkit/bench/experiments)")
    parser.add_argument("--data-root", type=Path, action="append", default=[],
                        help="folder to search for dataset files (repeatable; then "
                             "$GNNKIT_DATA, ~/.cache/gnnkit)")
    parser.add_argument("--max-epochs", type=_positive, default=None,
                        help="cap every experiment's epochs (smoke tests; not paper settings)")
    parser.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS",
                        help="stop each link-prediction run after the epoch that passes this "
                             "many seconds (budgeted runs; the report records where it "
                             "stopped)")
    parser.add_argument("--threads", type=_positive, default=None,
                        help="torch intra-op threads (default: torch's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _list(registry: dict) -> str:
    lines = []
    for experiment in registry.values():
        paper = experiment.paper
        number = f"{paper.value}" + (f" ± {paper.std}" if paper.std is not None else "")
        lines.append(f"{experiment.id:28s} [{', '.join(experiment.suites)}] "
                     f"{experiment.metric} {number} ({paper.verification}) — {experiment.title}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the selected experiments; exit 0 if every one ran (skipped ones are reported),
    1 if any failed, 2 on a usage error."""
    try:
        registry = load_experiments(args.experiments_dir)
    except ExperimentError as error:
        print(f"gnnkit bench: {error}", file=sys.stderr)
        return 2
    if args.list:
        print(_list(registry))
        return 0
    ids = [part for item in args.experiment for part in item.split(",") if part]
    try:
        if args.all:
            chosen = list(registry.values())
        else:
            suite = args.suite if args.suite or ids else DEFAULT_SUITE
            chosen = select_experiments(registry, ids=ids, suite=None if ids else suite)
    except KeyError as error:
        print(f"gnnkit bench: {error.args[0]}", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    roots = data_roots(args.data_root)
    started = time.perf_counter()
    run_info = {"command": "gnnkit bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1
                and sys.argv[1] == "bench" else "gnnkit bench (called from Python)",
                "load_average_at_start": _load()}
    results = []
    for experiment in chosen:
        try:
            results.append(run_experiment(experiment, seeds=args.seeds, device=args.device,
                                          data_roots=roots, max_epochs=args.max_epochs,
                                          time_budget=args.time_budget, registry=registry,
                                          progress=not args.quiet))
        except (ValueError, ExperimentError) as error:
            print(f"gnnkit bench: {experiment.id}: {error}", file=sys.stderr)
            return 2
    machine = machine_description(results[0].device if results else str(args.device))
    run_info["load_average_at_end"] = _load()
    run_info["total_wall_time_s"] = round(time.perf_counter() - started, 1)
    print(format_table(results))
    write_reports(results, machine, run=run_info, json_path=args.out,
                  markdown_path=args.markdown)
    return 1 if any(r.status == "failed" for r in results) else 0
