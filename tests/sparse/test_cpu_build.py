"""Building the C++ kernels: the fallback when the build fails, caching, the CLI command.

The failure tests run in a fresh interpreter with an empty build directory so that nothing is
cached, and make the build fail for real (a forced ``#error``, a missing compiler, no ninja):
the registry must then answer with the reference backend after exactly one RuntimeWarning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import gnnkit.sparse._backends as registry
from gnnkit.cli import main as cli_main
from gnnkit.sparse._backends import cpu
from gnnkit.sparse._backends.cpu import build

REPO = Path(__file__).resolve().parents[2]

_FALLBACK_PROBE = """
import json, warnings
import torch
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    from gnnkit.sparse import SparseMatrix, spmm, use_backend
    from gnnkit.sparse._backends import cpu, resolve_backend
    chosen = [resolve_backend(torch.device("cpu")) for _ in range(3)]
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1], [1, 0, 2]]), shape=3)
    out = spmm(A, torch.arange(6.0).view(3, 2)).tolist()
    available = cpu.is_available()
    try:
        with use_backend("cpu"):
            resolve_backend(torch.device("cpu"))
        forced = "no error"
    except RuntimeError as error:
        forced = str(error)
print(json.dumps({"chosen": chosen, "available": available, "out": out, "forced": forced,
                  "warnings": [[w.category.__name__, str(w.message)] for w in caught]}))
"""


def _run_probe(tmp_path: Path, **env: str) -> dict[str, object]:
    environment = {**os.environ, "GNNKIT_BUILD_DIR": str(tmp_path / "build"), **env}
    environment.pop("GNNKIT_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", _FALLBACK_PROBE], env=environment,
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"GNNKIT_CPU_BUILD_FAIL": "1"}, "build failure forced by GNNKIT_CPU_BUILD_FAIL"),
        ({"CXX": "/nonexistent/bin/g++"}, "not found"),
        ({"PATH": "/nonexistent"}, "ninja"),  # neither ninja nor a compiler on the PATH
    ],
    ids=["forced-error", "no-compiler", "no-ninja"],
)
def test_failed_build_warns_once_and_falls_back_to_reference(
    tmp_path: Path, env: dict[str, str], reason: str
) -> None:
    report = _run_probe(tmp_path, **env)
    assert report["chosen"] == ["reference"] * 3
    assert report["available"] is False
    assert report["out"] == [[2.0, 3.0], [0.0, 1.0], [2.0, 3.0]]  # targets 1, 0, 2
    assert "requested but is unavailable" in str(report["forced"])
    warnings_seen = report["warnings"]
    assert isinstance(warnings_seen, list)
    assert [category for category, _ in warnings_seen] == ["RuntimeWarning"]
    message = warnings_seen[0][1]
    assert "reference backend" in message and reason in message
    assert "gnnkit build-kernels --verbose" in message


def test_failed_build_in_process_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_build(**_: object) -> None:
        raise RuntimeError("Error building extension: c++: fatal error: killed")

    monkeypatch.setattr(cpu, "_state", {})
    monkeypatch.setattr(build, "load_extension", broken_build)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cpu.is_available() is False
        assert cpu.is_available() is False
    assert [w.category for w in caught] == [RuntimeWarning]
    assert "fatal error: killed" in str(caught[0].message)
    with pytest.raises(RuntimeError, match="unavailable"):
        cpu.spmm(torch.zeros(1, dtype=torch.long), torch.zeros(0, dtype=torch.long), None,
                 torch.zeros(0, 2), "sum")


def test_build_configuration_is_portable_and_cached_per_capability(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GNNKIT_BUILD_DIR", str(tmp_path))
    monkeypatch.delenv("GNNKIT_CPU_BUILD_FAIL", raising=False)
    config = build.build_config()
    assert "-march=native" not in config.cflags
    assert "-O3" in config.cflags
    assert config.capability.lower() in config.name
    assert config.build_directory.is_relative_to(tmp_path)
    assert torch.__version__.split("+")[0].replace(".", "_") in str(config.build_directory)
    assert all(source.is_file() for source in config.sources)
    monkeypatch.setenv("GNNKIT_CPU_BUILD_FAIL", "1")
    assert build.build_config().name != config.name  # never clobbers the real build


def test_registry_picks_cpu_for_cpu_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)
    assert registry.resolve_backend(torch.device("cpu")) == "cpu"
    assert registry.get_kernel("spmm", torch.device("cpu")) is cpu.spmm
    assert cpu.supports_device(torch.device("cpu"))
    assert not cpu.supports_device(torch.device("meta"))


def test_build_kernels_command_prints_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["build-kernels"]) == 0
    printed = capsys.readouterr().out
    library = Path(printed.split("ready in")[1].split(": ", 1)[1].splitlines()[0].strip())
    assert library.is_file() and library.suffix == ".so"
    assert library == build.library_path(build.load_extension())
