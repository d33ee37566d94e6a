"""Compile, cache and load gnnkit's C++ CPU kernels; the ``gnnkit build-kernels`` command.

The sources in ``csrc/`` are compiled on first use with :func:`torch.utils.cpp_extension.load`
(ninja + the system C++ compiler) and cached, so later processes only load the shared library.

* Cache: ``$GNNKIT_BUILD_DIR`` if set, else torch's extension root
  (``$TORCH_EXTENSIONS_DIR`` or ``~/.cache/torch_extensions``), in a sub-folder per Python and
  torch version, one build per CPU capability (``DEFAULT``, ``AVX2``, ``AVX512``, as detected
  by torch and overridable with ``ATEN_CPU_CAPABILITY``). The capability is part of the library
  name, so a cache shared between different machines never loads code the CPU cannot run.
* Flags: ``-O3``, OpenMP, and the instruction-set flags of the capability (never
  ``-march=native``: the same build must run on every machine of that capability).
* ``GNNKIT_CPU_BUILD_FAIL=1`` makes the build fail on purpose (to test the fallback to the
  reference backend); ``GNNKIT_CPU_BUILD_VERBOSE=1`` shows the compiler's output.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

__all__ = ["BuildConfig", "build_config", "configure", "load_extension", "run"]

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES = ("bindings.cpp", "spmm.cpp", "edge_ops.cpp", "intersect.cpp")
ENV_BUILD_DIR = "GNNKIT_BUILD_DIR"
ENV_FORCE_FAILURE = "GNNKIT_CPU_BUILD_FAIL"
ENV_VERBOSE = "GNNKIT_CPU_BUILD_VERBOSE"

_AVX2_FLAGS = ("-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2", "-mlzcnt", "-mpopcnt")
_ARCH_FLAGS: dict[str, tuple[str, ...]] = {
    "AVX2": _AVX2_FLAGS,
    "AVX512": (*_AVX2_FLAGS, "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"),
}

_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines one build of the extension."""

    name: str
    build_directory: Path
    sources: tuple[Path, ...]
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    capability: str


def _flag_enabled(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no")


def cpu_capability() -> str:
    """The vector instruction set torch dispatches to on this CPU (``DEFAULT`` if unknown)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability()).upper()
    except (AttributeError, RuntimeError):
        return "DEFAULT"


def build_root() -> Path:
    """Folder holding all cached builds: ``$GNNKIT_BUILD_DIR`` or torch's extension root."""
    configured = os.environ.get(ENV_BUILD_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    from torch.utils.cpp_extension import get_default_build_root

    return Path(get_default_build_root())


def build_config() -> BuildConfig:
    """The build for this machine, interpreter, torch version and environment."""
    capability = cpu_capability()
    arch_flags = _ARCH_FLAGS.get(capability, ())
    forced_failure = _flag_enabled(ENV_FORCE_FAILURE)
    name = f"gnnkit_cpu_{capability.lower()}" + ("_forced_failure" if forced_failure else "")
    openmp = () if sys.platform == "darwin" else ("-fopenmp",)
    cflags = ("-O3", *openmp, *arch_flags)
    if forced_failure:
        # -Wfatal-errors: stop at the #error instead of compiling the rest of the file.
        cflags = (*cflags, "-DGNNKIT_FORCE_BUILD_FAILURE", "-Wfatal-errors")
    version = f"py{sys.version_info.major}{sys.version_info.minor}_torch{torch.__version__}"
    version = "".join(ch if ch.isalnum() else "_" for ch in version)
    return BuildConfig(
        name=name,
        build_directory=build_root() / version / name,
        sources=tuple(SOURCE_DIR / source for source in SOURCES),
        cflags=cflags,
        ldflags=openmp,
        capability=capability,
    )


def load_extension(*, verbose: bool | None = None) -> ModuleType:
    """Compile (if needed) and import the extension module; raise on any build failure.

    Thread-safe within a process; torch's file lock serialises concurrent builds across
    processes sharing the cache. Compiler output is shown only when ``verbose`` (or
    ``GNNKIT_CPU_BUILD_VERBOSE``) is set, and is part of the exception message on failure.
    """
    config = build_config()
    if verbose is None:
        verbose = _flag_enabled(ENV_VERBOSE)
    with _lock:
        if config.name in _loaded:
            return _loaded[config.name]
        missing = [str(path) for path in config.sources if not path.is_file()]
        if missing:
            raise RuntimeError(f"gnnkit C++ sources are missing: {', '.join(missing)}")
        from torch.utils.cpp_extension import load

        config.build_directory.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(), _quiet_torch_logger(not verbose):
            if not verbose:  # torch's compiler-version notices are noise for users
                warnings.simplefilter("ignore")
            module = load(
                name=config.name,
                sources=[str(path) for path in config.sources],
                extra_cflags=list(config.cflags),
                extra_ldflags=list(config.ldflags),
                extra_include_paths=[str(SOURCE_DIR)],
                build_directory=str(config.build_directory),
                verbose=verbose,
            )
        _loaded[config.name] = module
        return module


@contextlib.contextmanager
def _quiet_torch_logger(quiet: bool) -> Iterator[None]:
    """Silence torch's cpp_extension log (e.g. its compiler-ABI banner) unless verbose: a
    failed build is reported once, by the caller, with the compiler's own message."""
    logger = logging.getLogger("torch.utils.cpp_extension")
    previous = logger.level
    if quiet:
        logger.setLevel(logging.ERROR + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def library_path(module: ModuleType) -> Path:
    """Path of the shared library behind a loaded extension module."""
    return Path(str(module.__file__)).resolve()


# ------------------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``gnnkit build-kernels``."""
    parser.add_argument("--force", action="store_true",
                        help="delete this machine's cached build first and compile from scratch")
    parser.add_argument("--verbose", action="store_true", help="show the compiler's output")


def run(args: argparse.Namespace) -> int:
    """Compile the CPU kernels ahead of time and print where the library is; 0 on success."""
    config = build_config()
    if getattr(args, "force", False) and config.build_directory.exists():
        shutil.rmtree(config.build_directory)
        print(f"removed cached build {config.build_directory}")
    print(f"building gnnkit CPU kernels ({config.capability}; flags: {' '.join(config.cflags)})")
    started = time.perf_counter()
    try:
        module = load_extension(verbose=bool(getattr(args, "verbose", False)))
    except Exception as error:  # the compiler's message is the useful part
        print(f"error: could not build the gnnkit CPU kernels:\n{error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    print(f"gnnkit CPU kernels ready in {elapsed:.1f} s: {library_path(module)}")
    print(f"build directory: {config.build_directory}")
    return 0
