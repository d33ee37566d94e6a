"""Compile, cache and load gnnkit's C++ CPU kernels; the ``gnnkit build-kernels`` command.

The sources in ``csrc/`` are compiled on first use with :func:`torch.utils.cpp_extension.load`
(ninja + the system C++ compiler) and cached, so later processes only load the shared library.

* Cache root: ``$GNNKIT_BUILD_DIR``, else ``$TORCH_EXTENSIONS_DIR``, else torch's default
  (``~/.cache/torch_extensions``); below it a folder per Python and torch version, then one
  folder per *build key* (``gnnkit_cpu_avx2-<hash>``). The key hashes the kernel sources
  (contents, not their path), the compiler flags, the compiler executable and the
  torch/Python ABI, so two checkouts or gnnkit versions with different sources never share a
  folder, and identical ones reuse the same library.
* One build per CPU capability (``DEFAULT``, ``AVX2``, ``AVX512``, as detected by torch and
  overridable with ``ATEN_CPU_CAPABILITY``), never ``-march=native``; the capability is part
  of the folder and library name, so a cache shared between machines never loads code the
  CPU cannot run.
* Robust to interrupted builds: the compiler runs in a private temporary folder and the
  finished library is moved into place with :func:`os.replace` (atomic), so a half-built
  library is never visible. Concurrent processes are serialised by :func:`fcntl.flock` on
  ``<folder>/build.lock``; the kernel releases that lock when its owner dies (Ctrl-C, SIGKILL,
  a killed job), so a lock can never go stale. A waiting process says so on stderr.
* The first-use build announces itself on stderr; :func:`ensure_built` (or
  ``gnnkit.sparse.prepare_backend``) runs it ahead of time.
* ``GNNKIT_CPU_BUILD_FAIL=1`` makes the build fail on purpose (to test the fallback to the
  reference backend); ``GNNKIT_CPU_BUILD_VERBOSE=1`` shows the compiler's output.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

import torch

__all__ = [
    "BuildConfig",
    "build_config",
    "build_root",
    "configure",
    "ensure_built",
    "load_extension",
    "run",
]

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES = ("bindings.cpp", "spmm.cpp", "edge_ops.cpp", "intersect.cpp", "sample.cpp",
           "intersect_aggregate.cpp", "random.cpp")
ENV_BUILD_DIR = "GNNKIT_BUILD_DIR"
ENV_TORCH_BUILD_DIR = "TORCH_EXTENSIONS_DIR"
ENV_FORCE_FAILURE = "GNNKIT_CPU_BUILD_FAIL"
ENV_VERBOSE = "GNNKIT_CPU_BUILD_VERBOSE"
LOCK_NAME = "build.lock"
TEMP_PREFIX = "tmp-"
# Bump when the layout of a build folder or the way it is produced changes.
_LAYOUT_VERSION = "2"
_WAIT_REMINDER_SECONDS = 60.0
_POLL_SECONDS = 0.2

_AVX2_FLAGS = ("-mavx2", "-mfma", "-mf16c", "-mbmi", "-mbmi2", "-mlzcnt", "-mpopcnt")
_ARCH_FLAGS: dict[str, tuple[str, ...]] = {
    "AVX2": _AVX2_FLAGS,
    "AVX512": (*_AVX2_FLAGS, "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"),
}

_lock = threading.Lock()
_loaded: dict[Path, ModuleType] = {}


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines one build of the extension.

    ``key`` is the hex digest over sources, flags, compiler and ABI; ``build_directory`` is
    the cache folder of exactly that key and ``library`` the finished module inside it.
    """

    name: str
    build_directory: Path
    sources: tuple[Path, ...]
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    capability: str
    key: str

    @property
    def library(self) -> Path:
        """The finished shared library (present only once a build has completed)."""
        return self.build_directory / f"{self.name}{_library_suffix()}"

    @property
    def lock_file(self) -> Path:
        """The ``flock`` lock serialising builds of this key across processes."""
        return self.build_directory / LOCK_NAME


def _flag_enabled(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() not in ("", "0", "false", "no")


def _library_suffix() -> str:
    return ".pyd" if sys.platform == "win32" else ".so"


def cpu_capability() -> str:
    """The vector instruction set torch dispatches to on this CPU (``DEFAULT`` if unknown)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability()).upper()
    except (AttributeError, RuntimeError):
        return "DEFAULT"


def build_root() -> Path:
    """Folder holding all cached builds.

    ``$GNNKIT_BUILD_DIR`` if set, else ``$TORCH_EXTENSIONS_DIR``, else torch's default
    extension root (``~/.cache/torch_extensions`` on Linux).
    """
    for variable in (ENV_BUILD_DIR, ENV_TORCH_BUILD_DIR):
        configured = os.environ.get(variable, "").strip()
        if configured:
            return Path(configured).expanduser()
    try:  # what torch's get_default_build_root() returns, without importing cpp_extension
        from torch._appdirs import user_cache_dir  # (~0.5 s, only needed to compile)

        return Path(os.path.realpath(user_cache_dir(appname="torch_extensions")))
    except (ImportError, AttributeError):  # pragma: no cover - other torch layouts
        from torch.utils.cpp_extension import get_default_build_root

        return Path(get_default_build_root())


def _compiler_identity() -> str:
    """The C++ compiler torch will call (``$CXX`` or ``c++``), resolved to its real file, with
    its size and modification time: a compiler upgrade changes the build key. Cheap: no
    subprocess."""
    command = os.environ.get("CXX", "cl" if sys.platform == "win32" else "c++")
    found = shutil.which(command)
    if found is None:
        return f"{command}:not-found"
    real = os.path.realpath(found)
    try:
        stat = os.stat(real)
    except OSError:
        return f"{command}:{real}"
    return f"{command}:{real}:{stat.st_size}:{stat.st_mtime_ns}"


def _abi_identity() -> tuple[str, ...]:
    """What a compiled module's binary compatibility depends on besides sources and flags."""
    cxx11_abi = getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", "?")
    return (
        f"torch={torch.__version__}",
        f"torch_git={getattr(torch.version, 'git_version', '?')}",
        f"cxx11_abi={cxx11_abi}",
        f"python={sys.implementation.cache_tag}",
        f"ext_suffix={sysconfig.get_config_var('EXT_SUFFIX')}",
        f"machine={platform.machine()}",
        f"platform={sys.platform}",
    )


def _source_files(source_dir: Path) -> list[Path]:
    """Every file the build reads from ``csrc/`` (sources and headers), in a fixed order."""
    if not source_dir.is_dir():
        return []
    return sorted(path for path in source_dir.iterdir()
                  if path.is_file() and path.suffix in (".cpp", ".h", ".hpp", ".cc"))


def build_key(source_dir: Path, cflags: tuple[str, ...], ldflags: tuple[str, ...],
              name: str) -> str:
    """SHA-256 over the kernel sources' names and contents (not their location), the flags,
    the compiler and the torch/Python ABI."""
    digest = hashlib.sha256()

    def feed(text: str) -> None:
        digest.update(text.encode())
        digest.update(b"\0")

    feed(f"layout={_LAYOUT_VERSION}")
    feed(f"name={name}")
    for path in _source_files(source_dir):
        feed(path.name)
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for flag in (*cflags, "--ldflags--", *ldflags):
        feed(flag)
    feed(_compiler_identity())
    for item in _abi_identity():
        feed(item)
    return digest.hexdigest()


def build_config() -> BuildConfig:
    """The build for this machine, interpreter, torch version, sources and environment."""
    capability = cpu_capability()
    arch_flags = _ARCH_FLAGS.get(capability, ())
    forced_failure = _flag_enabled(ENV_FORCE_FAILURE)
    name = f"gnnkit_cpu_{capability.lower()}" + ("_forced_failure" if forced_failure else "")
    openmp = () if sys.platform == "darwin" else ("-fopenmp",)
    # -ffp-contract=off: a product followed by a sum stays two roundings (GCC's GNU mode would
    # fuse them into one FMA where the target has it), so weighted sums round as the
    # reference's ``x * w`` then ``index_add_`` do, bit for bit, on any data.
    cflags = ("-O3", "-ffp-contract=off", *openmp, *arch_flags)
    if forced_failure:
        # -Wfatal-errors: stop at the #error instead of compiling the rest of the file.
        cflags = (*cflags, "-DGNNKIT_FORCE_BUILD_FAILURE", "-Wfatal-errors")
    version = f"py{sys.version_info.major}{sys.version_info.minor}_torch{torch.__version__}"
    version = "".join(ch if ch.isalnum() else "_" for ch in version)
    key = build_key(SOURCE_DIR, cflags, openmp, name)
    return BuildConfig(
        name=name,
        build_directory=build_root() / version / f"{name}-{key[:16]}",
        sources=tuple(SOURCE_DIR / source for source in SOURCES),
        cflags=cflags,
        ldflags=openmp,
        capability=capability,
        key=key,
    )


def _say(message: str) -> None:
    """One line to stderr (build progress must not pollute stdout, which may be data)."""
    print(f"gnnkit: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the build lock
def _try_flock(handle: IO[str]) -> bool:
    """Take the exclusive lock without blocking; ``False`` if another process holds it."""
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise
    return True


@contextlib.contextmanager
def build_lock(config: BuildConfig) -> Iterator[None]:
    """Hold the cross-process lock of ``config``'s folder (``flock``; the kernel drops it when
    the holder exits or is killed, so it cannot go stale). A process that has to wait says so
    on stderr, naming the holder's pid, and again every minute. Without ``fcntl`` (Windows)
    builds are not serialised, which is still safe: each builds privately and the final
    :func:`os.replace` is atomic."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    config.build_directory.mkdir(parents=True, exist_ok=True)
    with open(config.lock_file, "a+", encoding="utf-8") as handle:
        if not _try_flock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            started = time.monotonic()
            _say(f"waiting for another process (pid {holder}) to finish building the CPU "
                 f"kernels in {config.build_directory} ...")
            reminded = started
            while not _try_flock(handle):
                time.sleep(_POLL_SECONDS)
                now = time.monotonic()
                if now - reminded >= _WAIT_REMINDER_SECONDS:
                    reminded = now
                    _say(f"still waiting for pid {holder}'s build ({now - started:.0f} s); "
                         f"lock: {config.lock_file}")
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# -------------------------------------------------------------------------------- building
def _compile(config: BuildConfig, directory: Path, verbose: bool) -> Path:
    """Run torch's ninja build of ``config`` in ``directory``; the built library's path."""
    from torch.utils import cpp_extension

    # torch renames a module it already built in this process from other arguments
    # (``name_v1``), which would not match the cached file name: start its count afresh.
    entries = getattr(getattr(cpp_extension, "JIT_EXTENSION_VERSIONER", None), "entries", None)
    if isinstance(entries, dict):
        entries.pop(config.name, None)
    with warnings.catch_warnings(), _quiet_torch_logger(not verbose):
        if not verbose:  # torch's compiler-version notices are noise for users
            warnings.simplefilter("ignore")
        built = cpp_extension.load(
            name=config.name,
            sources=[str(path) for path in config.sources],
            extra_cflags=list(config.cflags),
            extra_ldflags=list(config.ldflags),
            extra_include_paths=[str(SOURCE_DIR)],
            build_directory=str(directory),
            verbose=verbose,
            is_python_module=False,  # only build; the module is imported from its final place
        )
    library = Path(str(built))
    if library.name != config.library.name:
        raise RuntimeError(
            f"torch built {library.name} instead of {config.library.name}; run "
            "`gnnkit build-kernels` in a fresh process"
        )
    return library


def _build(config: BuildConfig, verbose: bool) -> None:
    """Build ``config.library`` unless another process has already done so.

    Under the lock: leftovers of killed builds (``tmp-*``) are removed, the compiler runs in a
    fresh private ``tmp-*`` folder, and the library is moved into place atomically.
    """
    with build_lock(config):
        if config.library.is_file():  # built by the process we waited for
            return
        for leftover in config.build_directory.glob(f"{TEMP_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)  # only the lock holder builds
        _say(f"building CPU kernels, first use only (~1 min) ... in {config.build_directory}")
        started = time.perf_counter()
        workdir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=config.build_directory))
        try:
            built = _compile(config, workdir, verbose)
            os.replace(built, config.library)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        _say(f"CPU kernels built in {time.perf_counter() - started:.0f} s")


def _import(config: BuildConfig) -> ModuleType:
    spec = importlib.util.spec_from_file_location(config.name, config.library)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import the gnnkit CPU kernels from {config.library}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_extension(*, verbose: bool | None = None) -> ModuleType:
    """Compile (if needed) and import the extension module; raise on any build failure.

    Cheap once built (a hash of the sources, a ``stat`` and the import). Thread-safe within a
    process; :func:`build_lock` serialises builds across processes. Compiler output is shown
    only when ``verbose`` (or ``GNNKIT_CPU_BUILD_VERBOSE``) is set, and is part of the
    exception message on failure.
    """
    if verbose is None:
        verbose = _flag_enabled(ENV_VERBOSE)
    with _lock:
        config = build_config()
        missing = [str(path) for path in config.sources if not path.is_file()]
        if missing:
            raise RuntimeError(
                f"gnnkit C++ sources are missing: {', '.join(missing)}; reinstall gnnkit"
            )
        if config.library in _loaded:
            return _loaded[config.library]
        if not config.library.is_file():
            _build(config, verbose)
        module = _import(config)
        _loaded[config.library] = module
        return module


def ensure_built() -> Path:
    """Build the CPU kernels now if they are not cached yet and return the library's path.

    Raises the build error (unlike the ``cpu`` backend, which falls back with a warning).
    """
    return library_path(load_extension())


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
    if getattr(args, "force", False) and config.library.exists():
        with build_lock(config):
            config.library.unlink(missing_ok=True)
        with _lock:
            _loaded.pop(config.library, None)
        print(f"removed cached build {config.library}")
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
