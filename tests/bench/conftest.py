"""Set-up for the bench tests: no test writes into the checkout.

``gnnkit bench`` writes a results folder by default (``$GNNKIT_RESULTS``, else
``./gnnkit-results``). Every test here gets ``$GNNKIT_RESULTS`` in its own temporary folder
and runs from another temporary folder, so a test that forgets ``--results-dir`` still cannot
litter the repository (CI runs the suite in a clean clone); ``$GNNKIT_EXPERIMENTS`` from the
developer's shell is cleared so the shipped experiments are what the tests see.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _results_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory,
                                  monkeypatch: pytest.MonkeyPatch) -> Path:
    results = tmp_path_factory.mktemp("gnnkit-results")
    monkeypatch.setenv("GNNKIT_RESULTS", str(results))
    monkeypatch.delenv("GNNKIT_EXPERIMENTS", raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    return results
