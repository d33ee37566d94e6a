"""CPU benchmark of gnnkit's C++ aggregation kernels (thin wrapper of ``gnnkit bench kernels``).

Run from the repository root::

    python benchmarks/kernels.py            # all graphs, F in {16, 64, 256}
    python benchmarks/kernels.py --quick    # uniform and Cora, F = 64, fewer repeats

The code lives in :mod:`gnnkit.bench.kernels` (so that it also runs from a pip install); this
wrapper only points the data root at ``<repo>/../shared/datasets`` and the output at
``benchmarks/results/kernels-cpu.md`` unless given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gnnkit.bench.kernels import main

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "datasets"
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "kernels-cpu.md"


def wrapped_argv(argv: list[str]) -> list[str]:
    """``argv`` with the repository's data root and results file added unless given."""
    extra = []
    if "--output" not in argv:
        extra += ["--output", str(DEFAULT_OUTPUT)]
    if "--data-root" not in argv:
        extra += ["--data-root", str(DEFAULT_DATA)]
    return list(argv) + extra


if __name__ == "__main__":
    raise SystemExit(main(wrapped_argv(sys.argv[1:])))
