"""Suite-wide test set-up.

* Importing ``ogb`` starts a background PyPI version check through the optional ``outdated``
  package; tests never touch the network, so that import is made to fail before ``ogb`` loads.
* :data:`SHARED_DATASETS` is the one place that locates the real datasets
  (``<repo>/../shared/datasets``, present on the project's machines but not in a user's plain
  clone), honouring ``GNNKIT_SHARED_DATASETS`` (tests only; gnnkit never reads it). Tests
  should use :func:`shared_data.require_shared_datasets`, which skips naming the missing
  folder; older test modules still compute ``../shared/datasets`` themselves (and skip when
  it is absent), so the faithful plain-clone check is a copy of the tree
  without ``../shared``: ``.ci/run`` does exactly that.
"""

from __future__ import annotations

import sys

if "ogb" not in sys.modules:
    sys.modules.setdefault("outdated", None)  # type: ignore[arg-type]

# The data-folder helpers live in their own module (``shared_data``): test modules import
# them from there, since ``from conftest import …`` is ambiguous when several conftest.py
# files exist (tests/bench has its own).
from shared_data import ENV_SHARED_DATASETS, SHARED_DATASETS, require_shared_datasets

__all__ = ["ENV_SHARED_DATASETS", "SHARED_DATASETS", "require_shared_datasets"]
