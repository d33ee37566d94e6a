"""Where the tests find the real datasets, and the skip when they are absent.

``<repo>/../shared/datasets`` is present on the project's machines and in CI, not in a user's
plain clone; ``GNNKIT_SHARED_DATASETS`` (tests only; gnnkit never reads it) points elsewhere.
Import from here (``from shared_data import require_shared_datasets``): pytest puts the
``tests`` folder on ``sys.path`` through its top-level ``conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV_SHARED_DATASETS = "GNNKIT_SHARED_DATASETS"


def _shared_datasets() -> Path:
    configured = os.environ.get(ENV_SHARED_DATASETS, "").strip()
    return Path(configured).expanduser() if configured else REPO.parent / "shared" / "datasets"


SHARED_DATASETS: Path = _shared_datasets()


def require_shared_datasets(*folders: str) -> Path:
    """:data:`SHARED_DATASETS`, or skip the calling test when it (or one of ``folders``
    inside it) is missing, saying where it looked and how to provide it."""
    for folder in ("", *folders):
        path = SHARED_DATASETS / folder
        if not path.is_dir():
            pytest.skip(f"shared dataset folder {path} not present (a plain clone has no "
                        f"../shared/datasets; set {ENV_SHARED_DATASETS} to point at a copy)")
    return SHARED_DATASETS
