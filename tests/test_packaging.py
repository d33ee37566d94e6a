"""The wheel carries everything a user's ``pip install gnnkit`` needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_experiments_kernel_sources_bundled_data_and_type_marker(
        tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    # no build isolation: the test environment has setuptools (the test extra) and no network
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "-q", str(REPO), "-w", str(tmp_path)], check=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("gnnkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    experiments = sorted(p.name for p in (REPO / "gnnkit" / "bench" / "experiments").glob("*.toml"))
    assert experiments, "no experiment files in the source tree"
    assert {f"gnnkit/bench/experiments/{name}" for name in experiments} <= names
    sources = [p.relative_to(REPO).as_posix()
               for p in (REPO / "gnnkit").rglob("*") if p.suffix in (".cpp", ".h")]
    assert sources and set(sources) <= names
    assert {"gnnkit/py.typed", "gnnkit/datasets/_bundled/cora.npz"} <= names
