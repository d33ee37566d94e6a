"""Build ``gnnkit/datasets/_bundled/cora.npz`` from the original Planetoid ``ind.cora.*`` files.

Usage::

    python scripts/build_bundled_cora.py [--raw DIR] [--out PATH]

``--raw`` defaults to ``<repo>/../shared/datasets/planetoid-cora`` (the files of
kimiyoung/planetoid ``data/``); ``--out`` defaults to the bundled path inside the package.
The script reads the raw files with :func:`gnnkit.datasets.planetoid.read_planetoid`, writes
the compact bundle, reads it back and checks that it equals the fresh read exactly.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from gnnkit.datasets.bundled import read_bundle, write_bundle
from gnnkit.datasets.planetoid import PLANETOID_PARTS, planetoid_file, read_planetoid

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO.parent / "shared" / "datasets" / "planetoid-cora"
DEFAULT_OUT = REPO / "gnnkit" / "datasets" / "_bundled" / "cora.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="folder of ind.cora.*")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundle to write")
    args = parser.parse_args(argv)

    graph = read_planetoid(args.raw, "cora")
    raw_sha256 = {
        part: hashlib.sha256(planetoid_file(args.raw, "cora", part).read_bytes()).hexdigest()
        for part in PLANETOID_PARTS
    }
    # the bundle records which raw files it came from, not the builder's local path
    metadata = {**graph.metadata, "source": "kimiyoung/planetoid data/ind.cora.*",
                "raw_sha256": raw_sha256}
    graph = graph.replace(metadata=metadata)
    write_bundle(graph, args.out)
    if not read_bundle(args.out).equal(graph):
        print(f"error: {args.out} does not read back equal to the raw files", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {graph}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
