"""The backend registry: forcing, environment variable, fallback of missing kernels."""

from __future__ import annotations

import types

import pytest
import torch

import gnnkit.sparse._backends as registry
from gnnkit.sparse import SparseMatrix, current_backend, resolve_backend, spmm, use_backend


def test_use_backend_forces_and_restores() -> None:
    assert current_backend() is None or current_backend() in registry.BACKENDS
    with use_backend("reference"):
        assert current_backend() == "reference"
        assert resolve_backend(torch.device("cpu")) == "reference"
    with pytest.raises(ValueError, match="unknown backend 'fast'"), use_backend("fast"):
        pass


def test_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNKIT_BACKEND", "reference")
    assert current_backend() == "reference"
    monkeypatch.setenv("GNNKIT_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="unknown backend 'nonsense'"):
        current_backend()


def test_missing_kernel_falls_back_to_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_spmm(rowptr, col, values, x, reduce, with_arg=True):  # type: ignore[no-untyped-def]
        calls.append(reduce)
        return registry.reference.spmm(rowptr, col, values, x, reduce, with_arg)

    partial = types.SimpleNamespace(
        is_available=lambda: True,
        supports_device=lambda device: device.type == "cpu",
        spmm=fake_spmm,
    )
    monkeypatch.setitem(registry._loaded, "cpu", partial)  # type: ignore[arg-type]
    with use_backend("cpu"):
        assert registry.get_kernel("spmm", torch.device("cpu")) is fake_spmm
        assert registry.get_kernel("sddmm", torch.device("cpu")) is registry.reference.sddmm
        A = SparseMatrix.from_edge_index(torch.tensor([[0, 1], [1, 0]]))
        spmm(A, torch.ones(2, 1), "max")
    assert calls == ["max"]


def test_forcing_an_unavailable_backend_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._loaded, "triton", None)
    with use_backend("triton"), pytest.raises(RuntimeError, match="unavailable"):
        resolve_backend(torch.device("cpu"))


def test_automatic_choice_uses_reference_when_preferred_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)
    monkeypatch.setitem(registry._loaded, "cpu", None)
    assert resolve_backend(torch.device("cpu")) == "reference"
    assert resolve_backend(torch.device("meta")) == "reference"
