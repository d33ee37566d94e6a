"""The building blocks of link-prediction loops: negative pairs, the training graph, splits."""

from __future__ import annotations

import pytest
import torch

from gnnkit.nn.linkpred import (
    LinkSplit,
    contains_links,
    link_loss,
    sample_negative_pairs,
    undirected_graph,
)


def test_negative_pairs_are_non_edges_without_self_pairs() -> None:
    links = torch.stack([torch.arange(9), torch.arange(1, 10)])  # a path on 10 nodes
    A = undirected_graph(links, 10)
    pairs = sample_negative_pairs(A, 500, generator=torch.Generator().manual_seed(0))
    assert pairs.shape == (2, 500)
    assert not contains_links(A, pairs, undirected=True).any()
    assert not (pairs[0] == pairs[1]).any()
    again = sample_negative_pairs(A, 500, generator=torch.Generator().manual_seed(0))
    assert torch.equal(pairs, again)
    assert len({tuple(p) for p in pairs.t().tolist()}) > 50  # spread over the 81 non-edges


def test_undirected_graph_is_symmetric_coalesced_and_loop_free() -> None:
    pairs = torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 2, 0]])
    A = undirected_graph(pairs, 4)
    dense = A.to_dense()
    assert torch.equal(dense, dense.t())
    assert A.is_coalesced() and dense.diagonal().sum() == 0
    assert A.nnz == 6


def test_link_split_from_edge_splits() -> None:
    splits = {
        "train_pos": torch.tensor([[0, 1, 2, 1], [1, 0, 3, 2]]),  # (0,1) stored both ways
        "val_pos": torch.tensor([[0, 3]]).t(),
        "val_neg": torch.tensor([[1], [3]]),
        "test_pos": torch.tensor([[0], [2]]),
        "test_neg": torch.tensor([[2, 3, 3], [0, 1, 0]]).t(),  # OGB (K, 2) layout
    }
    split = LinkSplit.from_edge_splits(splits, 4)
    assert split.train_pos.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert split.val_pos.shape == (2, 1) and split.test_neg.tolist() == [[2, 3, 3], [0, 1, 0]]
    with pytest.raises(KeyError, match="test_neg"):
        LinkSplit.from_edge_splits({k: v for k, v in splits.items() if k != "test_neg"}, 4)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        LinkSplit.from_edge_splits(splits, 3)


def test_link_split_moves_every_part_to_a_device() -> None:
    split = LinkSplit(3, *(torch.tensor([[0], [1]]) for _ in range(5)))
    moved = split.to("cpu")
    assert moved.num_nodes == 3 and torch.equal(moved.test_neg, split.test_neg)


def test_link_loss_is_the_mean_binary_cross_entropy_of_each_side() -> None:
    positive, negative = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 0.0, 3.0])
    expected = (torch.nn.functional.binary_cross_entropy_with_logits(positive, torch.ones(2))
                + torch.nn.functional.binary_cross_entropy_with_logits(negative, torch.zeros(3)))
    torch.testing.assert_close(link_loss(positive, negative), expected)
