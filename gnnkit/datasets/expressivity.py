"""Readers of expressivity benchmarks: graph6 families (SR graphs, graph8c) and EXP/CEXP.

**graph6** (B. McKay's format, one graph per line, an optional ``>>graph6<<`` header): the
first byte(s) encode ``n`` (``n + 63`` if ``n < 63``, else ``126`` followed by 18 or 36 bits);
the rest packs the upper triangle of the adjacency column by column -- entry ``(i, j)``,
``i < j``, in the order ``(0,1), (0,2), (1,2), (0,3), ...`` -- six bits per byte (each byte
minus 63), most significant bit first.

**EXP / CEXP** ``GRAPHSAT.txt`` (PPGN/GIN text format, Abboud et al. 2021): first line the
number of graphs; each graph starts with ``n y``, followed by ``n`` lines
``node_label k nbr_1 ... nbr_k``. Graphs ``2i`` and ``2i + 1`` form a pair.

Both give a :class:`GraphDataset` with undirected edges (both directions, sorted by source then
target within each graph). EXP graphs carry ``x`` ``(n, 1)`` int64 node labels and ``y``.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import GraphDataset
from gnnkit.datasets._io import require_file, unique_sorted
from gnnkit.sparse.index import (
    index_from_counts,
    pair_keys,
    ptr_from_counts,
    ptr_from_index,
    split_keys,
)

__all__ = ["parse_graph6", "read_exp", "read_graph6"]

_HEADER = b">>graph6<<"


def parse_graph6(line: bytes) -> tuple[int, np.ndarray]:
    """Decode one graph6 string into ``(n, edges)`` with ``edges`` ``(2, m)``, ``i < j``.

    Raises:
        ValueError: bytes outside ``63..126``, or a length that does not match ``n``.
    """
    line = line.strip()
    if line.startswith(_HEADER):
        line = line[len(_HEADER) :]
    data = np.frombuffer(line, dtype=np.uint8).astype(np.int64) - 63
    if data.size == 0 or data.min() < 0 or data.max() > 63:
        raise ValueError("graph6 bytes must lie in 63..126")
    if data[0] < 63:
        n, body = int(data[0]), data[1:]
    elif data.size >= 4 and data[1] < 63:
        n, body = int((data[1] << 12) | (data[2] << 6) | data[3]), data[4:]
    elif data.size >= 8:
        n = 0
        for value in data[2:8]:
            n = (n << 6) | int(value)
        body = data[8:]
    else:
        raise ValueError("truncated graph6 size field")
    num_pairs = n * (n - 1) // 2
    if body.size != (num_pairs + 5) // 6:
        raise ValueError(f"graph6 body has {body.size} bytes, expected {(num_pairs + 5) // 6} "
                         f"for n={n}")
    bits = ((body[:, None] >> np.arange(5, -1, -1)) & 1).reshape(-1)[:num_pairs]
    # pair k enumerates (i, j) column by column: j = 1..n-1, i = 0..j-1
    column = np.repeat(np.arange(n), np.arange(n))
    row = np.arange(num_pairs) - column * (column - 1) // 2
    chosen = bits.astype(bool)
    return n, np.stack([row[chosen], column[chosen]])


def _collate_undirected(
    sizes: list[int], pairs: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-graph ``(2, m)`` local pairs -> both directions, unique, sorted by (source,
    target) within each graph; returns local ``edge_index`` and node/edge pointers."""
    counts = np.asarray(sizes, dtype=np.int64)
    node_ptr = ptr_from_counts(counts)
    total = max(int(node_ptr[-1]), 1)
    per_graph = np.asarray([pair.shape[1] for pair in pairs], dtype=np.int64)
    local = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0), dtype=np.int64)
    offset = np.repeat(node_ptr[:-1], per_graph)
    source = np.concatenate([local[0] + offset, local[1] + offset])
    target = np.concatenate([local[1] + offset, local[0] + offset])
    # graph order is node order: keys stay grouped by graph
    keys = unique_sorted(pair_keys(source, target, total, total))
    source, target = split_keys(keys, total)
    owner = index_from_counts(counts)[source]
    edge_ptr = ptr_from_index(owner, counts.size)
    edge_index = np.stack([source - node_ptr[owner], target - node_ptr[owner]])
    return edge_index.astype(np.int64), node_ptr, edge_ptr.astype(np.int64)


def read_graph6(path: str | os.PathLike[str]) -> GraphDataset:
    """Read a ``.g6`` file (one graph per line) into a :class:`GraphDataset`.

    For SR files named ``sr<n><k><lambda><mu>.g6`` the parameters are stored in
    ``metadata["srg_parameters"]`` (``n`` has two digits).
    """
    path = require_file(path, "graph6 file")
    sizes, pairs = [], []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            n, edges = parse_graph6(line)
        except ValueError as error:
            raise DatasetFileError(path, f"line {number}: {error}") from error
        sizes.append(n)
        pairs.append(edges)
    if not sizes:
        raise DatasetFileError(path, "no graphs")
    edge_index, node_ptr, edge_ptr = _collate_undirected(sizes, pairs)
    metadata: dict[str, object] = {"name": path.stem, "format": "graph6", "source": str(path)}
    stem = path.stem
    if stem.startswith("sr") and stem[2:].isdigit() and len(stem) >= 6:
        digits = stem[2:]
        n = int(digits[:2])
        rest = digits[2:]
        # k has one or two digits; lambda and mu one each (all SR families used in practice)
        k, lam, mu = int(rest[:-2]), int(rest[-2]), int(rest[-1])
        metadata["srg_parameters"] = (n, k, lam, mu)
    return GraphDataset(
        edge_index=torch.from_numpy(edge_index),
        node_ptr=torch.from_numpy(node_ptr),
        edge_ptr=torch.from_numpy(edge_ptr),
        metadata=metadata,
    )


def read_exp(path: str | os.PathLike[str]) -> GraphDataset:
    """Read an EXP/CEXP ``GRAPHSAT.txt`` into a :class:`GraphDataset` (``x`` labels, ``y``).

    Raises:
        DatasetFileError: a count that does not match, a neighbour id outside the graph, a
            non-symmetric neighbour list, or a truncated file (the line number is given).
    """
    path = require_file(path, "EXP/CEXP GRAPHSAT.txt")
    lines = path.read_text().splitlines()
    position = 0

    def next_numbers() -> list[int]:
        nonlocal position
        while position < len(lines) and not lines[position].strip():
            position += 1
        if position >= len(lines):
            raise DatasetFileError(path, f"truncated: expected more lines after line {position}")
        position += 1
        try:
            return [int(token) for token in lines[position - 1].split()]
        except ValueError as error:
            raise DatasetFileError(path, f"line {position}: not integers") from error

    header = next_numbers()
    if len(header) != 1:
        raise DatasetFileError(path, "line 1 must hold the number of graphs")
    sizes, pairs, labels, targets = [], [], [], []
    for _ in range(header[0]):
        graph_header = next_numbers()
        if len(graph_header) != 2:
            raise DatasetFileError(path, f"line {position}: expected 'n y'")
        n, y = graph_header
        rows, cols, node_labels = [], [], []
        for node in range(n):
            numbers = next_numbers()
            if len(numbers) < 2 or len(numbers) != 2 + numbers[1]:
                raise DatasetFileError(path, f"line {position}: expected 'label k' and k ids")
            neighbours = numbers[2:]
            if any(not 0 <= v < n for v in neighbours):
                raise DatasetFileError(path, f"line {position}: neighbour id outside 0..{n - 1}")
            node_labels.append(numbers[0])
            rows += [node] * len(neighbours)
            cols += neighbours
        edges = np.array([rows, cols], dtype=np.int64).reshape(2, -1)
        forward = set(zip(rows, cols, strict=True))
        if any((b, a) not in forward for a, b in forward):
            raise DatasetFileError(path, f"graph {len(sizes)}: neighbour lists not symmetric")
        sizes.append(n)
        pairs.append(edges[:, edges[0] < edges[1]])
        labels.append(np.array(node_labels, dtype=np.int64))
        targets.append(y)
    edge_index, node_ptr, edge_ptr = _collate_undirected(sizes, pairs)
    return GraphDataset(
        edge_index=torch.from_numpy(edge_index),
        node_ptr=torch.from_numpy(node_ptr),
        edge_ptr=torch.from_numpy(edge_ptr),
        x=torch.from_numpy(np.concatenate(labels)[:, None]),
        y=torch.tensor(targets, dtype=torch.long),
        metadata={"name": path.parent.name, "format": "graphsat", "source": str(path),
                  "pairs": "graphs 2i and 2i+1 form a pair"},
    )
