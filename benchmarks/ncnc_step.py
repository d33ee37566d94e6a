"""One NCNC training step on ogbl-ddi: seconds, loss and a digest of the predictor's weights.

Usage: ``python benchmarks/ncnc_step.py [--batch 1024] [--threads 2]``. The ``ncnc-ddi`` model
at initialisation, seed 0, one step of :func:`gnnkit.train.link_prediction.train_epoch` on
``--batch`` training positives and as many sampled negatives (with target-link removal). The
step's time scales with the batch (every candidate of every pair is scored), so a small batch
projects the official one (24,576); the digest compares two code versions' weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linkpred import _model, build_link_model, load_split

from gnnkit.train.link_prediction import train_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, split = load_split("ncn-ddi", 0)
    A = split.train_graph()
    torch.manual_seed(0)
    encoder, predictor = build_link_model(_model("ncnc-ddi"), 0, split.num_nodes)
    optimizer = torch.optim.Adam([*encoder.parameters(), *predictor.parameters()], lr=1e-3)
    start = time.perf_counter()
    loss = train_epoch(encoder, predictor, x, A, split.train_pos, optimizer, args.batch,
                       generator=torch.Generator().manual_seed(0), max_batches=1)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        digest = sum(float(p.double().sum()) for p in predictor.parameters())
    print(f"threads {args.threads} batch {args.batch} seconds {seconds:.1f} loss {loss!r} "
          f"digest {digest!r} projected_24576 {seconds * 24576 / args.batch / 60:.1f} min")


if __name__ == "__main__":
    main()
