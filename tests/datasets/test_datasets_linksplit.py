"""Random link splits and negative sampling (gnnkit/datasets/linksplit.py).

Counts are compared with PyG's ``RandomLinkSplit`` (an independent implementation) on Cora;
set properties (disjointness, negatives are non-edges, training graph) are checked directly.
"""

from __future__ import annotations

import pytest
import torch

from gnnkit.datasets import Graph, load
from gnnkit.datasets.linksplit import (
    ncn_planetoid_split,
    negative_sampling,
    random_link_split,
    undirected_pairs,
)


@pytest.fixture(scope="module")
def cora() -> Graph:
    return load("cora")  # the bundled copy: always available


def _keys(pairs: torch.Tensor, n: int) -> set[int]:
    low, high = torch.minimum(pairs[0], pairs[1]), torch.maximum(pairs[0], pairs[1])
    return set((low * n + high).tolist())


def test_counts_match_pyg_random_link_split(cora: Graph) -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.transforms import RandomLinkSplit

    torch.manual_seed(0)
    transform = RandomLinkSplit(num_val=0.05, num_test=0.1, is_undirected=True,
                                add_negative_train_samples=False)
    train, val, test = transform(cora.to_pyg())
    split = random_link_split(cora, 0.05, 0.1, seed=0)
    labels = {"val": val.edge_label, "test": test.edge_label}
    for name, label in labels.items():
        assert split.edge_splits[f"{name}_pos"].shape[1] == int((label == 1).sum())
        assert split.edge_splits[f"{name}_neg"].shape[1] == int((label == 0).sum())
    assert split.edge_splits["train_pos"].shape[1] == train.edge_label.numel()
    assert split.num_edges == train.edge_index.shape[1]  # training graph, both directions


def test_split_partitions_the_edges_and_negatives_are_non_edges(cora: Graph) -> None:
    n = cora.num_nodes
    split = random_link_split(cora, 0.05, 0.1, seed=3)
    everything = _keys(undirected_pairs(cora.edge_index, n), n)
    parts = {name: _keys(split.edge_splits[name], n) for name in split.edge_splits}
    assert parts["train_pos"] | parts["val_pos"] | parts["test_pos"] == everything
    assert not parts["train_pos"] & parts["val_pos"]
    assert not parts["train_pos"] & parts["test_pos"]
    assert not parts["val_pos"] & parts["test_pos"]
    for name in ("val_neg", "test_neg"):
        assert not parts[name] & everything
        assert len(parts[name]) == split.edge_splits[name].shape[1]  # distinct
    assert not parts["val_neg"] & parts["test_neg"]
    for pairs in split.edge_splits.values():
        assert bool((pairs[0] < pairs[1]).all())
    # the message-passing graph holds exactly the training edges, in both directions
    assert _keys(split.edge_index, n) == parts["train_pos"]
    assert split.num_edges == 2 * len(parts["train_pos"])
    assert torch.equal(split.x, cora.x)  # node data untouched


def test_split_is_deterministic_given_the_seed(cora: Graph) -> None:
    first = random_link_split(cora, seed=7)
    torch.manual_seed(123)  # the global RNG plays no role
    torch.rand(10)
    second = random_link_split(cora, seed=7)
    other = random_link_split(cora, seed=8)
    for name in first.edge_splits:
        assert torch.equal(first.edge_splits[name], second.edge_splits[name])
    assert not torch.equal(first.edge_splits["val_pos"], other.edge_splits["val_pos"])
    assert first.metadata["link_split"] == {"kind": "random", "seed": 7, "val_ratio": 0.05,
                                            "test_ratio": 0.1}


def test_ncn_split_counts(cora: Graph) -> None:
    # NCN's randomsplit: train_test_split_edges(data, 0.2, 0.2), then half of the validation
    # positives go back to training. Cora has m = 5278 undirected edges.
    split = ncn_planetoid_split(cora, seed=0)
    m = 5278
    held, test = int(0.2 * m), int(0.2 * m)
    val = int(held * 0.10 / 0.2)
    sizes = {name: pairs.shape[1] for name, pairs in split.edge_splits.items()}
    assert sizes == {"train_pos": m - test - val, "val_pos": val, "val_neg": held,
                     "test_pos": test, "test_neg": test}
    assert sizes["train_pos"] == 3696 and val == 527 and test == 1055


def test_negative_sampling() -> None:
    # a 5-cycle: 5 edges, 10 - 5 = 5 non-edges
    ring = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]])
    negatives = negative_sampling(ring, 5, 5, seed=0)
    assert _keys(negatives, 5) == {0 * 5 + 2, 0 * 5 + 3, 1 * 5 + 3, 1 * 5 + 4, 2 * 5 + 4}
    assert torch.equal(negatives, negative_sampling(ring, 5, 5, seed=0))
    excluded = negative_sampling(ring, 5, 3, seed=1, exclude=torch.tensor([[2], [0]]))
    assert 0 * 5 + 2 not in _keys(excluded, 5)
    with pytest.raises(ValueError, match="only 5 non-edges"):
        negative_sampling(ring, 5, 6, seed=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        negative_sampling(ring, 5, 1, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="val_ratio"):
        random_link_split(Graph(edge_index=ring, num_nodes=5), 0.6, 0.6, seed=0)


def test_negatives_are_roughly_uniform() -> None:
    # empty graph on 6 nodes: 15 pairs; 3000 single draws with different seeds spread evenly
    empty = torch.zeros(2, 0, dtype=torch.long)
    counts = torch.zeros(36)
    for seed in range(600):
        pairs = negative_sampling(empty, 6, 5, seed=seed)
        counts.index_add_(0, pairs[0] * 6 + pairs[1], torch.ones(5))
    observed = counts[counts > 0]
    assert observed.numel() == 15
    assert float(observed.min()) > 150 and float(observed.max()) < 250  # mean 200
