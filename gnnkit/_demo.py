"""``gnnkit demo``: a tiny end-to-end run of the sparse core (no data, no network needed)."""

from __future__ import annotations

import argparse
import time

import torch

from gnnkit.sparse import SparseMatrix, resolve_backend, spmm


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=2000, help="number of nodes")
    parser.add_argument("--edges", type=int, default=20000, help="number of random edges")
    parser.add_argument("--features", type=int, default=64, help="feature width")


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(0)
    edge_index = torch.randint(0, args.nodes, (2, args.edges))
    A = SparseMatrix.from_edge_index(edge_index, shape=args.nodes).gcn_norm()
    x = torch.randn(args.nodes, args.features, requires_grad=True)
    start = time.perf_counter()
    y = spmm(A, spmm(A, x))
    y.square().sum().backward()
    elapsed = time.perf_counter() - start
    dense = A.to_dense()
    error = (y - dense @ (dense @ x)).abs().max().item()
    print(f"{A}")
    print(
        f"backend: {resolve_backend(x.device)}; two propagations + backward in "
        f"{elapsed * 1e3:.1f} ms; max |spmm - dense| = {error:.2e}"
    )
    return 0 if error < 1e-4 else 1
