"""NCNC full evaluation throughput on ogbl-ddi: every validation and test pair (positives and
negatives, in the order ``gnnkit.train.link_prediction.evaluate`` scores them) through
``NCNCPredictor.cached_candidates``, in batches of the experiment's evaluation batch size.

Usage: ``python benchmarks/ncnc_eval.py [--batch 24576] [--threads 1]``. Prints the time of
every batch and the pairs per second of the whole evaluation. Weights: the ``ncn-ddi`` /
``ncnc-ddi`` models at initialisation (throughput does not depend on
the weights' values; the candidate sets do not depend on them at all).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linkpred import _model, build_link_model, load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=24576)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (the 75 pairs/s baseline of linkpred-cpu.md used 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, split = load_split("ncn-ddi", 0)
    A = split.train_graph()
    encoder, predictor = build_link_model(_model("ncn-ddi"), 0, split.num_nodes)
    _, ncnc = build_link_model(_model("ncnc-ddi"), 0, split.num_nodes)
    ncnc.load_state_dict(predictor.state_dict(), strict=False)  # NCNC starts from NCN
    encoder.eval()
    ncnc.eval()
    pairs = torch.cat([split.val_pos, split.val_neg, split.test_pos, split.test_neg], 1)
    with torch.no_grad():
        h = encoder(x, A)
        start = time.perf_counter()
        with ncnc.cached_candidates():
            for first in range(0, pairs.shape[1], args.batch):
                tick = time.perf_counter()
                ncnc(h, A, pairs[:, first:first + args.batch])
                print(f"{min(first + args.batch, pairs.shape[1])} pairs: batch "
                      f"{time.perf_counter() - tick:.1f} s, total "
                      f"{time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.1f}",
                      flush=True)
        seconds = time.perf_counter() - start
    print(f"pairs {pairs.shape[1]} seconds {seconds:.1f} pairs/s {pairs.shape[1] / seconds:.0f} "
          f"threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
