"""End to end: `gnnkit bench` on a tiny experiment, its table, JSON and Markdown; reports."""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

import pytest
import tomllib
import torch

from gnnkit.bench import ExperimentResult, RunResult, format_table, to_json, to_markdown
from gnnkit.bench.experiment import parse_experiment
from gnnkit.bench.runner import MemoryMonitor, Progress
from gnnkit.cli import main

TINY = """
id = "{id}"
title = "tiny {model} smoke test"
seeds = 3
suites = ["smoke"]

[dataset]
name = "{dataset}"
source = "{source}"

[model]
name = "{model}"
hidden_channels = 4

[training]
lr = 0.01
weight_decay = 5e-4
epochs = 4

[paper]
value = 81.5
std = 0.5
citation = "Kipf & Welling 2017"
url = "https://arxiv.org/abs/1609.02907"
verification = "secondary"
"""


@pytest.fixture
def experiments_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "tiny-gcn.toml").write_text(
        TINY.format(id="tiny-gcn", model="gcn", dataset="cora", source="bundled"))
    (folder / "tiny-gat.toml").write_text(
        TINY.format(id="tiny-gat", model="gat", dataset="cora", source="bundled"))
    (folder / "tiny-missing.toml").write_text(
        TINY.format(id="tiny-missing", model="gcn", dataset="citeseer", source="planetoid"))
    return folder


def test_bench_cli_runs_experiments_and_writes_table_json_and_markdown(
        experiments_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "out" / "results.json", tmp_path / "report.md"
    code = main(["bench", "--experiments-dir", str(experiments_dir), "--suite", "smoke",
                 "--seeds", "2", "--data-root", str(tmp_path), "--out", str(out),
                 "--markdown", str(report), "--threads", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = captured.out
    for header in ("experiment", "metric", "paper", "gnnkit", "Δ", "time/step", "peak mem"):
        assert header in table
    assert "tiny-gcn" in table and "tiny-gat" in table
    assert "81.5 ± 0.5†" in table and "skipped" in table
    assert "tiny-gcn [" in captured.err  # the progress bar went to stderr
    results = json.loads(out.read_text())
    assert results["machine"]["torch"] == torch.__version__
    assert results["machine"]["logical_cores"] >= 1 and results["machine"]["torch_threads"] == 1
    by_id = {e["id"]: e for e in results["experiments"]}
    gcn = by_id["tiny-gcn"]
    assert gcn["status"] == "ok" and [r["seed"] for r in gcn["runs"]] == [0, 1]
    tests = [r["test"] for r in gcn["runs"]]
    assert gcn["mean"] == pytest.approx(statistics.mean(tests))
    assert gcn["std"] == pytest.approx(statistics.stdev(tests))
    assert gcn["delta"] == pytest.approx(gcn["mean"] - 81.5)
    assert all(r["epochs"] == 4 for r in gcn["runs"])
    assert gcn["hyperparameters"]["model.hidden_channels"] == 4
    missing = by_id["tiny-missing"]
    assert missing["status"] == "skipped" and "ind.citeseer.graph" in missing["message"]
    markdown = report.read_text()
    assert "| experiment | metric | paper | gnnkit |" in markdown
    assert "## Machine" in markdown and "tiny-gat" in markdown and "Kipf & Welling" in markdown


def test_bench_cli_list_unknown_experiment_and_bad_seeds(
        experiments_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--experiments-dir", str(experiments_dir), "--list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny-gcn" in listing and "[smoke]" in listing
    assert main(["bench", "--experiments-dir", str(experiments_dir), "-e", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--experiments-dir", str(experiments_dir), "--seeds", "zero"])


def test_bench_cli_default_suite_is_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "a.toml").write_text(TINY.format(id="a", model="gcn", dataset="cora",
                                               source="bundled").replace('"smoke"', '"quick"'))
    (folder / "b.toml").write_text(TINY.format(id="b", model="gcn", dataset="cora",
                                               source="bundled"))
    assert main(["bench", "--experiments-dir", str(folder), "--no-shipped-experiments",
                 "--seeds", "1", "--quiet", "--max-epochs", "2"]) == 0
    table = capsys.readouterr().out
    assert "\na " in table and "\nb " not in table


def _result(values: list[float], paper_std: float | None) -> ExperimentResult:
    text = TINY.format(id="x", model="gcn", dataset="cora", source="bundled")
    if paper_std is None:
        text = text.replace("std = 0.5\n", "")
    experiment = parse_experiment(tomllib.loads(text))
    runs = tuple(RunResult(seed=k, split=0, test=v, val=v, epochs=10, selected_epoch=10,
                           train_step_ms=2.0) for k, v in enumerate(values))
    return ExperimentResult(experiment, runs, wall_time_s=1.0, peak_memory_bytes=3 * 2**20)


def test_statistics_delta_and_within_std() -> None:
    result = _result([81.0, 82.0, 83.0], paper_std=0.5)
    assert result.mean == pytest.approx(82.0) and result.std == pytest.approx(1.0)
    assert result.delta == pytest.approx(0.5) and result.within_paper_std is True
    assert _result([80.0, 80.0], paper_std=0.5).within_paper_std is False
    assert _result([80.0, 83.0], paper_std=None).within_paper_std is True  # |−0.0| ≤ our std
    table = format_table([result])
    assert "82.0 ± 1.0 (n=3)" in table and "+0.5 ✓" in table and "3 MiB" in table
    assert "2.0 ms" in table
    json.dumps(to_json([result], {"cpu": "test"}))
    assert "| x | accuracy | 81.5 ± 0.5† |" in to_markdown([result], {"cpu": "test"})


def test_experiment_without_paper_number_reports_dashes() -> None:
    text = TINY.format(id="x", model="gcn", dataset="cora", source="bundled")
    text = 'notes = "no published number"\n' + text[:text.index("[paper]")]
    experiment = parse_experiment(tomllib.loads(text))
    assert experiment.paper is None
    runs = tuple(RunResult(seed=k, split=0, test=v, val=v, epochs=3, selected_epoch=3,
                           train_step_ms=1.0) for k, v in enumerate([70.0, 72.0]))
    result = ExperimentResult(experiment, runs, wall_time_s=1.0)
    assert result.delta is None and result.within_paper_std is None
    row = format_table([result]).splitlines()[2]
    assert row.split()[:4] == ["x", "accuracy", "—", "71.0"]
    markdown = to_markdown([result], {"cpu": "test"})
    assert "no published number for this setting (no published number)" in markdown
    assert json.loads(json.dumps(to_json([result], {"cpu": "test"})))["experiments"][0][
        "paper"] is None


def test_error_metrics_keep_their_units() -> None:
    # an MAE of 0.163 is neither rounded to 0.2 nor called a percentage
    from gnnkit.bench.experiment import Experiment

    base = _result([1.0], paper_std=0.5).experiment
    paper = type(base.paper)(value=0.163, std=0.004, citation="c", verification="verified")
    experiment = Experiment(**{**base.__dict__, "metric": "mae", "paper": paper})
    runs = tuple(RunResult(seed=k, split=0, test=v, val=v, epochs=3, selected_epoch=3,
                           train_step_ms=1.0) for k, v in enumerate([0.170, 0.174]))
    result = ExperimentResult(experiment, runs, wall_time_s=1.0)
    table = format_table([result])
    assert "0.163 ± 0.004" in table and "0.172 ± 0.003 (n=2)" in table and "+0.009" in table
    markdown = to_markdown([result], {"cpu": "test"})
    assert "- per run (mae): 0.170, 0.174;" in markdown
    counted = ExperimentResult(
        Experiment(**{**base.__dict__, "metric": "undistinguished_pairs",
                      "paper": type(base.paper)(value=386.0, citation="c")}),
        tuple(RunResult(seed=0, split=0, test=538.0, val=538.0, epochs=0, selected_epoch=0,
                        train_step_ms=0.0) for _ in range(1)), wall_time_s=1.0)
    table = format_table([counted])
    assert "386‡" in table and "538 (n=1)" in table and "+152" in table


def test_memory_monitor_sees_a_large_allocation() -> None:
    with MemoryMonitor(torch.device("cpu"), interval=0.001) as monitor:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        block.add_(1)
        del block
    assert monitor.peak_bytes is not None and monitor.peak_bytes >= 48 * 2**20


def test_progress_bar_redraws_on_a_terminal_and_prints_lines_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        bar = Progress("exp", 2, stream)
        bar.advance("one")
        bar.advance("two")
        bar.close("done")
    assert "\r" in terminal.getvalue() and "2/2" in terminal.getvalue()
    assert log.getvalue().count("\n") == 2 and "\r" not in log.getvalue()


def test_bench_kernels_entry_writes_the_kernel_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``gnnkit bench kernels`` on tiny graphs: the report with the bandwidth columns, and the
    entry listed in ``gnnkit bench --help``."""
    with pytest.raises(SystemExit) as help_exit:
        main(["bench", "--help"])
    assert help_exit.value.code == 0
    assert "gnnkit bench kernels" in capsys.readouterr().out
    output = tmp_path / "kernels.md"
    threads = torch.get_num_threads()
    try:
        status = main(["bench", "kernels", "--graphs", "uniform", "cora", "--nodes", "300",
                       "--edges", "1500", "--features", "4", "--repeats", "1",
                       "--skip-reference", "--skip-baselines", "--bandwidth-mib", "4",
                       "--threads", "1", "--output", str(output)])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    text = output.read_text()
    assert "stream bandwidth" in text and "GB/s (× floor)" in text
    assert "## uniform" in text and "## cora" in text
    assert "| 300 |" in text  # the uniform graph has the requested size
    assert "sum forward within 2× of the memory floor" in text
