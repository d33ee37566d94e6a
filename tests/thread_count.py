"""``torch_threads(n)``: run a block with ``n`` torch threads and restore the count after.

Test modules import it from here (as ``shared_data``), since ``from conftest import …`` is
ambiguous when several conftest.py files exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Within the block torch uses ``count`` intra-op threads; the previous count comes back
    on exit, also when the block raises."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
