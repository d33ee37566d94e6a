"""Random link-prediction splits and negative sampling, deterministic given a seed.

All randomness comes from a private ``torch.Generator`` seeded with ``seed``: the global torch
RNG is neither used nor advanced, and the same seed gives the same split on every run and
machine (CPU generator).

:func:`random_link_split` follows PyG's ``train_test_split_edges`` / ``RandomLinkSplit(
is_undirected=True)``: the undirected edges ``{i, j}`` (``i < j``, self loops dropped) are
shuffled; the first ``floor(val_ratio * m)`` are validation positives, the next
``floor(test_ratio * m)`` test positives, the rest training positives. Validation and test
negatives are distinct node pairs ``i < j`` that are edges of *no* split (sampled uniformly
among non-edges), as many as the positives unless given. The returned graph's ``edge_index``
is the training graph only (both directions), so message passing never sees held-out links.

:func:`ncn_planetoid_split` reproduces the counts of NCN's ``randomsplit`` (GraphPKU/
NeuralCommonNeighbor ``ogbdataset.py``): ``train_test_split_edges(data, 0.2, 0.2)``, then
half of the validation positives move to training -- 70/10/20 -- with all ``floor(0.2 m)``
validation negatives kept. (The 85/5/10 split of GAE/SEAL is ``random_link_split``'s
default.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gnnkit.datasets._graph import Graph
from gnnkit.sparse.index import pair_keys, split_keys

__all__ = ["ncn_planetoid_split", "negative_sampling", "random_link_split", "undirected_pairs"]


def undirected_pairs(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Unique undirected edges as ``(2, m)`` pairs with ``i < j`` (self loops dropped),
    sorted by ``(i, j)``."""
    low = torch.minimum(edge_index[0], edge_index[1])
    high = torch.maximum(edge_index[0], edge_index[1])
    keep = low != high
    keys = torch.unique(pair_keys(low[keep], high[keep], num_nodes, num_nodes))  # sorted
    return torch.stack(split_keys(keys, num_nodes))


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def negative_sampling(
    edge_index: Tensor,
    num_nodes: int,
    num_samples: int,
    *,
    seed: int,
    exclude: Tensor | None = None,
) -> Tensor:
    """Sample ``num_samples`` distinct undirected non-edges ``(i, j)``, ``i < j``.

    Candidates are drawn uniformly from all unordered pairs of distinct nodes and rejected if
    they are an edge of ``edge_index`` (either direction), of ``exclude`` (``(2, K)``, either
    direction) or already drawn; rounds continue until enough remain. Returns ``(2,
    num_samples)`` ``int64`` in the order drawn.

    Raises:
        ValueError: fewer than ``num_samples`` non-edges exist.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    generator = _generator(seed)
    forbidden = undirected_pairs(edge_index, num_nodes)
    if exclude is not None and exclude.numel():
        forbidden = undirected_pairs(torch.cat([forbidden, exclude.long()], 1), num_nodes)
    forbidden_keys = pair_keys(forbidden[0], forbidden[1], num_nodes, num_nodes, check=False)
    available = num_nodes * (num_nodes - 1) // 2 - forbidden_keys.numel()
    if num_samples > available:
        raise ValueError(
            f"cannot sample {num_samples} negative pairs: only {available} non-edges exist"
        )
    chosen = torch.zeros(0, dtype=torch.long)
    while chosen.numel() < num_samples:
        needed = num_samples - chosen.numel()
        draws = max(2 * needed, 1024)
        a = torch.randint(0, num_nodes, (draws,), generator=generator)
        b = torch.randint(0, num_nodes, (draws,), generator=generator)
        low, high = torch.minimum(a, b), torch.maximum(a, b)
        keys = pair_keys(low, high, num_nodes, num_nodes, check=False)
        valid = (a != b) & ~torch.isin(keys, forbidden_keys) & ~torch.isin(keys, chosen)
        keys = keys[valid]
        # keep the first occurrence of repeated draws, in draw order
        unique, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((unique.numel(),), keys.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
        chosen = torch.cat([chosen, keys[first.sort().values][:needed]])
    return torch.stack(split_keys(chosen, num_nodes, check=False))


def _split(  # the shared body of both splits: shuffle, cut, sample negatives
    graph: Graph,
    num_val: int,
    num_test: int,
    num_val_neg: int,
    num_test_neg: int,
    seed: int,
    pairs: Tensor,
    metadata: dict,
) -> Graph:
    generator = _generator(seed)
    perm = torch.randperm(pairs.shape[1], generator=generator)
    shuffled = pairs[:, perm]
    val_pos = shuffled[:, :num_val]
    test_pos = shuffled[:, num_val : num_val + num_test]
    train_pos = shuffled[:, num_val + num_test :]
    negatives = negative_sampling(
        pairs, graph.num_nodes, num_val_neg + num_test_neg, seed=seed + 1
    )
    train_graph = torch.cat([train_pos, train_pos.flip(0)], 1)
    keys = torch.unique(train_graph[0] * graph.num_nodes + train_graph[1])
    return graph.replace(
        edge_index=torch.stack([keys // graph.num_nodes, keys % graph.num_nodes]),
        edge_attr=None,
        edge_splits={
            "train_pos": train_pos,
            "val_pos": val_pos,
            "val_neg": negatives[:, :num_val_neg],
            "test_pos": test_pos,
            "test_neg": negatives[:, num_val_neg:],
        },
        metadata={**graph.metadata, "link_split": metadata},
    )


def random_link_split(
    graph: Graph,
    val_ratio: float = 0.05,
    test_ratio: float = 0.1,
    *,
    seed: int,
    num_val_negatives: int | None = None,
    num_test_negatives: int | None = None,
) -> Graph:
    """Split the undirected edges of ``graph`` into train/val/test positives plus negatives.

    Args:
        graph: an undirected graph (each edge stored in one or both directions).
        val_ratio, test_ratio: fractions of the ``m`` undirected edges; counts are
            ``floor(ratio * m)`` as in PyG.
        seed: makes the split reproducible.
        num_val_negatives, num_test_negatives: default to the positive counts.

    Returns:
        ``graph`` with ``edge_index`` = training edges (both directions, coalesced),
        ``edge_attr`` dropped, and ``edge_splits`` ``train_pos``, ``val_pos``, ``val_neg``,
        ``test_pos``, ``test_neg`` (``(2, K)``, ``i < j``).
    """
    if not (val_ratio >= 0 and test_ratio >= 0 and val_ratio + test_ratio < 1):
        raise ValueError(
            f"need 0 <= val_ratio, test_ratio and val_ratio + test_ratio < 1, got "
            f"{val_ratio}, {test_ratio}"
        )
    pairs = undirected_pairs(graph.edge_index, graph.num_nodes)
    m = pairs.shape[1]
    num_val, num_test = math.floor(val_ratio * m), math.floor(test_ratio * m)
    return _split(
        graph, num_val, num_test,
        num_val if num_val_negatives is None else num_val_negatives,
        num_test if num_test_negatives is None else num_test_negatives,
        seed, pairs,
        {"kind": "random", "seed": seed, "val_ratio": val_ratio, "test_ratio": test_ratio},
    )


def ncn_planetoid_split(graph: Graph, *, seed: int) -> Graph:
    """NCN's Planetoid split (70/10/20 of the undirected edges), with NCN's exact counts.

    With ``m`` undirected edges: ``v = floor(0.2 m)``, test positives ``t = floor(0.2 m)``,
    validation positives ``int(v * 0.5)``, training positives the remaining
    ``m - t - int(v * 0.5)`` (including the ``v - int(v * 0.5)`` validation edges NCN moves to
    training), validation negatives ``v``, test negatives ``t``.
    """
    pairs = undirected_pairs(graph.edge_index, graph.num_nodes)
    m = pairs.shape[1]
    held_val, num_test = math.floor(0.2 * m), math.floor(0.2 * m)
    num_val = int(held_val * (0.10 / 0.2))
    return _split(
        graph, num_val, num_test, held_val, num_test, seed, pairs,
        {"kind": "ncn", "seed": seed, "val_ratio": num_val / m, "test_ratio": num_test / m},
    )
