"""Backend registry: which implementation of each kernel runs for a given device.

A backend is a module ``gnnkit.sparse._backends.<name>`` exposing

* ``is_available() -> bool``: whether it can run at all here (compiler, Triton, ...);
* ``supports_device(device: torch.device) -> bool``: whether it handles tensors on ``device``;
* any subset of the kernel functions of :mod:`.reference`, with the same signatures.

A kernel a backend lacks falls back to the reference implementation, so a backend can grow
one kernel at a time without touching callers. Selection is automatic by device (``cpu`` on
CPU, ``triton`` on CUDA, ``reference`` otherwise or when the preferred backend is unavailable),
and can be forced with :func:`use_backend` or the ``GNNKIT_BACKEND`` environment variable.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import torch

from . import reference

__all__ = ["BACKENDS", "current_backend", "get_kernel", "resolve_backend", "use_backend"]

BACKENDS: tuple[str, ...] = ("reference", "cpu", "triton")
_PREFERRED_BY_DEVICE: dict[str, str] = {"cpu": "cpu", "cuda": "triton"}

_forced: contextvars.ContextVar[str | None] = contextvars.ContextVar("gnnkit_backend", default=None)
_loaded: dict[str, ModuleType | None] = {"reference": reference}
_warned: set[str] = set()


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def _load(name: str) -> ModuleType | None:
    """Import a backend once; ``None`` (with one warning) when it cannot run here."""
    if name in _loaded:
        return _loaded[name]
    module: ModuleType | None
    try:
        module = importlib.import_module(f"{__name__}.{name}")
        is_available = getattr(module, "is_available", None)
        if is_available is None or not is_available():
            module = None
    except ImportError as error:
        module = None
        if getattr(error, "name", None) == f"{__name__}.{name}":
            _loaded[name] = None  # this build ships no such backend: nothing to warn about
            return None
        _warn_once(
            name, f"gnnkit backend {name!r} is unavailable ({error}); using the reference backend"
        )
    _loaded[name] = module
    return module


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def current_backend() -> str | None:
    """The backend forced by :func:`use_backend` or ``GNNKIT_BACKEND``; ``None`` = automatic."""
    forced = _forced.get()
    if forced is not None:
        return forced
    from_env = os.environ.get("GNNKIT_BACKEND", "").strip()
    return _check_name(from_env) if from_env else None


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force a backend within a ``with`` block (thread- and task-local).

    >>> with use_backend("reference"):
    ...     out = spmm(A, x)  # doctest: +SKIP
    """
    token = _forced.set(_check_name(name))
    try:
        yield
    finally:
        _forced.reset(token)


def resolve_backend(device: torch.device) -> str:
    """Name of the backend that runs kernels for tensors on ``device`` right now."""
    forced = current_backend()
    if forced is not None:
        module = _load(forced)
        if module is None:
            raise RuntimeError(f"backend {forced!r} was requested but is unavailable here")
        if not module.supports_device(device):
            raise RuntimeError(f"backend {forced!r} does not support {device.type} tensors")
        return forced
    preferred = _PREFERRED_BY_DEVICE.get(device.type)
    if preferred is not None:
        module = _load(preferred)
        if module is not None and module.supports_device(device):
            return preferred
    return "reference"


def get_kernel(name: str, device: torch.device) -> Callable[..., Any]:
    """The implementation of kernel ``name`` for ``device`` (reference if the backend lacks it)."""
    if device.type == "cpu" and _forced.get() is None and "GNNKIT_BACKEND" not in os.environ:
        # The common case, without resolve_backend's general path (per-call overhead counts
        # on small graphs): the cpu backend if it loaded, else the reference.
        backend = _loaded.get("cpu", False)
        if backend is False:
            backend = _load("cpu")
        if backend is not None:
            implementation = getattr(backend, name, None)
            return implementation if implementation is not None else getattr(reference, name)
        return getattr(reference, name)
    backend = _load(resolve_backend(device))
    implementation = getattr(backend, name, None)
    if implementation is None:
        implementation = getattr(reference, name)
    return implementation
