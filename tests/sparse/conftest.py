"""Shared set-up of the sparse-kernel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from thread_count import torch_threads

from gnnkit.sparse._backends import cpu


@pytest.fixture(scope="module")
def cpu_kernels_single_threaded() -> Iterator[None]:
    """The C++ kernels are built, and the module's tests run on one thread.

    The inputs of these tests are tiny: one thread avoids OpenMP start-up and, on a loaded
    machine, 10× slower runs of the reference's many small torch ops. The parallel paths are
    covered by the determinism tests, which choose their own thread counts.
    """
    assert cpu.is_available(), "the C++ CPU kernels failed to build (see the RuntimeWarning)"
    with torch_threads(1):
        yield
