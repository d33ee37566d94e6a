"""Building the C++ kernels: the fallback when the build fails, caching, the CLI command.

The failure tests run in a fresh interpreter with an empty build directory so that nothing is
cached, and make the build fail for real (a forced ``#error``, a missing compiler, no ninja):
the registry must then answer with the reference backend after exactly one RuntimeWarning.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import gnnkit.sparse._backends as registry
from gnnkit.cli import main as cli_main
from gnnkit.sparse import prepare_backend, use_backend
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
    assert "-ffp-contract=off" in config.cflags  # weighted sums round as the reference
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


# ---------------------------------------------------------- cache location and build key
def test_build_root_honours_gnnkit_then_torch_variable_then_torch_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from torch.utils.cpp_extension import get_default_build_root

    monkeypatch.delenv("GNNKIT_BUILD_DIR", raising=False)
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    assert build.build_root() == Path(get_default_build_root())
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "torch"))
    assert build.build_root() == tmp_path / "torch"
    assert build.build_config().build_directory.is_relative_to(tmp_path / "torch")
    monkeypatch.setenv("GNNKIT_BUILD_DIR", str(tmp_path / "gnnkit"))
    assert build.build_root() == tmp_path / "gnnkit"


def test_build_folder_is_keyed_by_source_contents_not_checkout_location(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two checkouts with equal sources share one build; different sources never do."""
    monkeypatch.setenv("GNNKIT_BUILD_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GNNKIT_CPU_BUILD_FAIL", raising=False)
    folders = {}
    for checkout in ("one", "two", "edited"):
        sources = tmp_path / checkout / "csrc"
        shutil.copytree(build.SOURCE_DIR, sources)
        if checkout == "edited":
            header = sources / "common.h"  # a header counts, not only the .cpp files
            header.write_text(header.read_text() + "\n// edited\n")
        monkeypatch.setattr(build, "SOURCE_DIR", sources)
        folders[checkout] = build.build_config().build_directory
    assert folders["one"] == folders["two"]
    assert folders["edited"] != folders["one"]
    assert folders["one"].parent == folders["edited"].parent  # same py/torch folder
    monkeypatch.setattr(build, "_ARCH_FLAGS", {})  # other flags, other build
    assert build.build_config().build_directory != folders["edited"]


# -------------------------------------------------------------------- interrupted builds
def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


_LOCK_HOLDER = """
import sys, time
from gnnkit.sparse._backends.cpu import build
config = build.build_config()
with build.build_lock(config):
    leftover = config.build_directory / "tmp-killed"
    leftover.mkdir()
    (leftover / "lock").touch()  # what torch's own baton file would leave behind
    print("locked", flush=True)
    time.sleep(600)
"""


def test_waiter_says_so_and_proceeds_when_the_lock_holder_is_killed(tmp_path: Path) -> None:
    """The lock dies with its owner: a SIGKILLed build never blocks later processes."""
    env = {**os.environ, "GNNKIT_BUILD_DIR": str(tmp_path / "build"),
           "GNNKIT_CPU_BUILD_FAIL": "1"}  # a build that fails fast: only the lock matters
    env.pop("GNNKIT_BACKEND", None)
    holder = subprocess.Popen([sys.executable, "-c", _LOCK_HOLDER], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    waiter_err = tmp_path / "waiter.err"
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with open(waiter_err, "w") as err:
            waiter = subprocess.Popen([sys.executable, "-c", _FALLBACK_PROBE], env=env,
                                      cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
        _wait_for(lambda: "waiting for another process" in waiter_err.read_text(), 60,
                  "the waiter's message")
        assert f"pid {holder.pid}" in waiter_err.read_text()
        assert waiter.poll() is None  # really waiting while the holder lives
        holder.send_signal(signal.SIGKILL)
        out, _ = waiter.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert waiter.returncode == 0, waiter_err.read_text()
    report = json.loads(out.strip().splitlines()[-1])
    assert [category for category, _ in report["warnings"]] == ["RuntimeWarning"]
    assert report["chosen"] == ["reference"] * 3
    config_dirs = list((tmp_path / "build").glob("*/gnnkit_cpu_*"))
    assert len(config_dirs) == 1 and not list(config_dirs[0].glob("tmp-*"))


_PREPARE = "from gnnkit.sparse import prepare_backend; print(prepare_backend('cpu'))"


@pytest.mark.slow
def test_build_killed_midway_is_rebuilt_by_the_next_process(tmp_path: Path) -> None:
    """SIGKILL a real first-use build while it compiles; the next process must build and load
    within a bounded time (with torch's baton file it waited forever), announcing the build on
    stderr; the one after it loads from the cache silently."""
    env = {**os.environ, "GNNKIT_BUILD_DIR": str(tmp_path / "build")}
    for variable in ("GNNKIT_BACKEND", "GNNKIT_CPU_BUILD_FAIL"):
        env.pop(variable, None)
    first_err = tmp_path / "first.err"
    with open(first_err, "w") as err:
        first = subprocess.Popen([sys.executable, "-c", _PREPARE], env=env, cwd=REPO,
                                 stderr=err, start_new_session=True)
    try:
        _wait_for(lambda: any((tmp_path / "build").glob("*/*/tmp-*/build.ninja")), 300,
                  "the killed build to start compiling")
        time.sleep(2)
        assert first.poll() is None, first_err.read_text()
        os.killpg(first.pid, signal.SIGKILL)  # the interpreter, ninja and the compilers
    finally:
        first.wait()
    second = subprocess.run([sys.executable, "-c", _PREPARE], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0 and second.stdout.split() == ["cpu"], second.stderr
    assert "gnnkit: building CPU kernels, first use only" in second.stderr
    (folder,) = (tmp_path / "build").glob("*/gnnkit_cpu_*")
    assert str(folder) in second.stderr
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        ["build.lock", build.build_config().library.name])  # no half-built files, no paths
    third = subprocess.run([sys.executable, "-c", _PREPARE], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert third.stdout.split() == ["cpu"] and "building" not in third.stderr, third.stderr


def test_prepare_backend_builds_once_and_is_cheap_afterwards() -> None:
    assert prepare_backend("cpu") == "cpu"
    started = time.perf_counter()
    for _ in range(100):
        assert prepare_backend(torch.device("cpu")) == "cpu"
    assert time.perf_counter() - started < 0.5
    with use_backend("reference"):
        assert prepare_backend("cpu") == "reference"
