"""The ``gnnkit`` command line."""

from __future__ import annotations

import pytest

from gnnkit.cli import main


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "demo" in out


def test_demo_runs_and_checks_itself(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--nodes", "200", "--edges", "1000", "--features", "8"]) == 0
    assert "max |spmm - dense|" in capsys.readouterr().out


def test_unknown_command_exits_with_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
