"""`gnnkit bench` for a new user: results folder, plots, threads, kernel preparation, seeds,
suggestions, capped and single runs, extra experiment folders, help text, closed pipes."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gnnkit.bench.cli as bench_cli
import gnnkit.sparse
from gnnkit.bench.cli import _seeds, choose_threads
from gnnkit.bench.report import new_results_dir
from gnnkit.cli import main, plain_text

REPO = Path(__file__).resolve().parents[2]

TINY = """
id = "{id}"
title = "{title}"
seeds = 3
suites = ["smoke"]

[dataset]
name = "cora"
source = "bundled"

[model]
name = "gcn"
hidden_channels = 4

[training]
lr = 0.01
epochs = {epochs}

[paper]
value = 81.5
citation = "Kipf & Welling 2017"
verification = "secondary"
"""


def _write(folder: Path, experiment_id: str, title: str = "tiny", epochs: int = 4) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{experiment_id}.toml").write_text(
        TINY.format(id=experiment_id, title=title, epochs=epochs))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    experiments = tmp_path / "experiments"
    _write(experiments, "tiny-gcn")
    return experiments


def _bench(folder: Path, *extra: str) -> int:
    """One quick run of the tiny experiment from ``folder`` only."""
    return main(["bench", "--experiments-dir", str(folder), "--no-shipped-experiments",
                 "-e", "tiny-gcn", "--quiet", "--threads", "1", *extra])


def _results_root() -> Path:
    return Path(os.environ["GNNKIT_RESULTS"])  # set per test by conftest.py


# ---------------------------------------------------------------------- results folder
def test_every_run_writes_a_new_results_folder_and_prints_its_paths(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2") == 0
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2") == 0
    captured = capsys.readouterr()
    runs = sorted(_results_root().iterdir())
    assert len(runs) == 2, "a second run must not reuse (overwrite) the first one's folder"
    for run in runs:
        assert run.name.endswith("-tiny-gcn") or "-tiny-gcn-" in run.name
        assert {"results.json", "report.md"} <= {p.name for p in run.iterdir()}
        assert str(run / "results.json") in captured.err and str(run / "report.md") in captured.err
        record = json.loads((run / "results.json").read_text())
        assert record["run"]["results_dir"] == str(run)
    assert not list(Path.cwd().iterdir()), "nothing may be written to the current directory"


def test_results_dir_option_no_results_and_explicit_paths(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chosen = tmp_path / "mine"
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2", "--results-dir", str(chosen)) == 0
    assert len(list(chosen.iterdir())) == 1 and not list(_results_root().iterdir())
    out = tmp_path / "explicit" / "r.json"
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2", "--no-results",
                  "--out", str(out)) == 0
    assert out.is_file() and len(list(chosen.iterdir())) == 1
    assert not list(_results_root().iterdir())
    assert str(out) in capsys.readouterr().err


def test_new_results_dir_never_reuses_a_folder(tmp_path: Path) -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    first = new_results_dir(tmp_path, "quick", when)
    (first / "results.json").write_text("{}")
    second = new_results_dir(tmp_path, "quick", when)
    assert first.name == "20260102-030405-quick" and second.name == "20260102-030405-quick-2"
    assert (first / "results.json").read_text() == "{}"
    assert new_results_dir(tmp_path, "a/b c", when).name == "20260102-030405-a_b_c"


# ---------------------------------------------------------------------- plots
def test_learning_curves_are_plotted_and_linked_from_the_markdown(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    assert _bench(folder, "--seeds", "2") == 0
    (run,) = _results_root().iterdir()
    image = run / "curves-tiny-gcn.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![learning curves of tiny-gcn](curves-tiny-gcn.png)" in (run / "report.md").read_text()
    assert str(image) in capsys.readouterr().err


def test_missing_matplotlib_skips_plots_with_one_line(
        folder: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2") == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "plot" in line]
    assert len(lines) == 1 and "skipped" in lines[0] and "gnnkit[plot]" in lines[0]
    (run,) = _results_root().iterdir()
    assert "![" not in (run / "report.md").read_text()


def test_pyproject_declares_the_plot_extra() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert 'plot = ["matplotlib' in text


# ---------------------------------------------------------------------- threads and load
def test_default_threads_are_capped_at_the_cores_not_busy() -> None:
    assert choose_threads(3, torch_threads=2, cores=2, load=9.0)[0] == 3  # --threads wins
    assert choose_threads(None, torch_threads=2, cores=2, load=0.2)[0] == 2
    assert choose_threads(None, torch_threads=2, cores=2, load=1.6)[0] == 1
    assert choose_threads(None, torch_threads=2, cores=2, load=6.5)[0] == 1  # at least one
    assert choose_threads(None, torch_threads=8, cores=4, load=None)[0] == 4
    threads, reason = choose_threads(None, torch_threads=4, cores=4, load=1.0,
                                     omp_num_threads="4")
    assert threads == 4 and "OMP_NUM_THREADS" in reason
    assert "load 1.60" in choose_threads(None, torch_threads=2, cores=2, load=1.6)[1]


def test_busy_machine_warns_and_the_thread_choice_is_reported(
        folder: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_cli, "_load", lambda: [5.2, 4.0, 3.0])
    monkeypatch.setattr(bench_cli, "_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert main(["bench", "--experiments-dir", str(folder), "--no-shipped-experiments",
                 "-e", "tiny-gcn", "--quiet", "--seeds", "1", "--max-epochs", "2"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "5.20 on 2 cores" in err and "noisy" in err
    assert "1 torch thread (" in err
    (run,) = _results_root().iterdir()
    record = json.loads((run / "results.json").read_text())
    assert record["run"]["threads"] == 1 and "load 5.20" in record["run"]["threads_chosen_by"]
    assert "threads_chosen_by" in (run / "report.md").read_text()


# ---------------------------------------------------------------------- kernels
def test_kernels_are_prepared_before_any_experiment_runs(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    prepare = gnnkit.sparse.prepare_backend
    run_experiment = bench_cli.run_experiment

    def record_prepare(device: Any = "cpu") -> str:
        events.append("prepare")
        return prepare(device)

    def record_run(*args: Any, **kwargs: Any) -> Any:
        events.append("run")
        return run_experiment(*args, **kwargs)

    monkeypatch.setattr(gnnkit.sparse, "prepare_backend", record_prepare)
    monkeypatch.setattr(bench_cli, "run_experiment", record_run)
    assert _bench(folder, "--seeds", "1", "--max-epochs", "2", "--no-results") == 0
    assert events == ["prepare", "run"]


# ---------------------------------------------------------------------- seeds, suggestions
def test_seeds_zero_is_seed_zero() -> None:
    assert _seeds("0") == [0]
    assert _seeds("1") == [0] and _seeds("3") == [0, 1, 2]
    assert _seeds("0,3,7") == [0, 3, 7] and _seeds("7,") == [7]
    for bad in ("-1", "zero", "1,1", "3,-2", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            _seeds(bad)


def test_misspelt_experiment_or_suite_gets_a_suggestion(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["bench", "--experiments-dir", str(folder), "--no-shipped-experiments"]
    assert main([*common, "-e", "tiny-gnc"]) == 2
    assert "Did you mean: tiny-gcn?" in capsys.readouterr().err
    assert main([*common, "--suite", "smok"]) == 2
    assert "Did you mean: smoke?" in capsys.readouterr().err


# ---------------------------------------------------------------------- capped, n = 1
def test_capped_and_single_runs_are_marked(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench(folder, "--seeds", "0", "--max-epochs", "2") == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("tiny-gcn"))
    assert "ok (capped: 2/4 epochs)" in row
    assert "(n=1)" in row and "±" not in row  # the paper gives no std; one run has none
    assert "not the paper's setting" in table
    (run,) = _results_root().iterdir()
    (record,) = json.loads((run / "results.json").read_text())["experiments"]
    assert record["capped"] is True and record["max_epochs"] == 2 and record["std"] is None
    assert record["configured_epochs"] == 4 and [r["seed"] for r in record["runs"]] == [0]


def test_a_cap_above_the_experiments_epochs_is_not_capped(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench(folder, "--seeds", "2", "--max-epochs", "10", "--no-results") == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("tiny-gcn"))
    assert row.rstrip().endswith("ok") and "± " in row


# ---------------------------------------------------------------------- experiment folders
def test_experiments_dir_adds_to_the_shipped_experiments_and_overrides_by_id(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    _write(mine, "gcn-cora", title="my own gcn-cora")
    _write(mine, "extra-one")
    assert main(["bench", "--experiments-dir", str(mine), "--list"]) == 0
    captured = capsys.readouterr()
    assert "my own gcn-cora" in captured.out and "extra-one" in captured.out
    assert "gat-cora" in captured.out  # shipped experiments are still there
    assert "'gcn-cora'" in captured.err and "replaces" in captured.err
    assert str(mine / "gcn-cora.toml") in captured.err
    assert main(["bench", "--experiments-dir", str(mine), "--no-shipped-experiments",
                 "--list"]) == 0
    only = capsys.readouterr()
    assert "gat-cora" not in only.out and "extra-one" in only.out and not only.err


def test_gnnkit_experiments_adds_like_experiments_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    env_folder, cli_folder = tmp_path / "env", tmp_path / "cli"
    _write(env_folder, "from-env", title="env version")
    _write(cli_folder, "from-env", title="cli version")
    monkeypatch.setenv("GNNKIT_EXPERIMENTS", str(env_folder))
    assert main(["bench", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "env version" in listing and "gcn-cora" in listing
    assert main(["bench", "--experiments-dir", str(cli_folder), "--list"]) == 0
    assert "cli version" in capsys.readouterr().out  # the command line comes last, wins
    assert main(["bench", "--no-shipped-experiments", "--list"]) == 0
    assert "gcn-cora" not in capsys.readouterr().out


def test_no_folder_at_all_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--no-shipped-experiments", "--list"]) == 2
    assert "--experiments-dir" in capsys.readouterr().err


# ---------------------------------------------------------------------- help, pipes
@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"]])
def test_help_is_plain_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "gnnkit" in out and "``" not in out and ":func:" not in out


def test_plain_text_strips_rst_markup() -> None:
    text = plain_text("""The ``gnnkit`` tool.

    See :func:`~gnnkit.bench.run`, :mod:`gnnkit.sparse`, :doc:`the guide <guide>`, `x`,
    **bold** and *emphasis*. An example::

        gnnkit bench

    * a bullet * stays
    """)
    assert text.splitlines()[0] == "The gnnkit tool."
    assert "See run, gnnkit.sparse, the guide, x," in text
    assert "bold and emphasis. An example:\n\n    gnnkit bench" in text
    assert "* a bullet * stays" in text


def test_a_closed_stdout_pipe_exits_quietly(folder: Path) -> None:
    # the reader is gone before gnnkit writes (like `gnnkit bench --list | head` once head
    # has its lines): no BrokenPipeError traceback, the shell's SIGPIPE status
    process = subprocess.Popen([sys.executable, "-m", "gnnkit.cli", "bench", "--list",
                                "--experiments-dir", str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_broken_pipe_in_process(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["bench", "--experiments-dir", str(folder), "--list"]) == 141
