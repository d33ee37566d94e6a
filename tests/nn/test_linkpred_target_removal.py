"""Target-link removal: scored links never reach the message-passing graph."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from gnnkit.nn.linkpred import (
    LinkEncoder,
    NCNCPredictor,
    NCNPredictor,
    TargetLinkRemoval,
    contains_links,
    remove_target_links,
    undirected_graph,
)
from gnnkit.sparse import SparseMatrix
from gnnkit.train.link_prediction import train_epoch


def dense_of(A: SparseMatrix) -> Tensor:
    return A.to_dense() != 0


def ring_with_chords(n: int = 12) -> Tensor:
    """Undirected links of a ring plus chords i — i+3, one copy each (i < j not required)."""
    ring = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
    chords = torch.stack([torch.arange(n), (torch.arange(n) + 3) % n])
    return torch.cat([ring, chords], dim=1)


def test_removes_both_directions_and_keeps_everything_else() -> None:
    links = ring_with_chords()
    A = undirected_graph(links, 12)
    batch = torch.tensor([[0, 5, 7], [1, 8, 2]])  # (7, 2) is not a link: ignored
    B = remove_target_links(A, batch)
    before, after = dense_of(A), dense_of(B)
    for i, j in batch.t().tolist():
        assert not after[i, j] and not after[j, i]
    expected = before.clone()
    for i, j in batch.t().tolist():
        expected[i, j] = expected[j, i] = False
    assert torch.equal(after, expected)
    assert B.nnz == A.nnz - 4


def test_directed_removal_keeps_reverse_entry() -> None:
    A = undirected_graph(ring_with_chords(), 12)
    B = remove_target_links(A, torch.tensor([[0], [1]]), undirected=False)
    dense = dense_of(B)
    assert not dense[1, 0] and dense[0, 1]  # link (0 → 1) is the entry A[1, 0]


def test_removes_duplicate_copies_and_keeps_values() -> None:
    edges = torch.tensor([[0, 0, 1, 1, 2], [1, 1, 0, 2, 1]])
    A = SparseMatrix.from_edge_index(edges, torch.arange(5.0), shape=3)
    B = remove_target_links(A, torch.tensor([[1], [0]]))
    assert not contains_links(B, torch.tensor([[0, 1], [1, 0]])).any()
    assert B.to_dense().tolist() == [[0, 0, 0], [0, 0, 4.0], [0, 3.0, 0]]


def test_contains_links_matches_dense() -> None:
    A = undirected_graph(ring_with_chords(), 12)
    dense = dense_of(A)
    pairs = torch.cartesian_prod(torch.arange(12), torch.arange(12)).t()
    expected = dense[pairs[1], pairs[0]]
    assert torch.equal(contains_links(A, pairs), expected)


def test_removal_object_can_be_disabled() -> None:
    A = undirected_graph(ring_with_chords(), 12)
    batch = torch.tensor([[0], [1]])
    assert TargetLinkRemoval(A, enabled=False)(batch) is A
    assert not contains_links(TargetLinkRemoval(A)(batch), batch, undirected=True).any()


def test_bad_inputs() -> None:
    A = undirected_graph(ring_with_chords(), 12)
    with pytest.raises(ValueError, match=r"\(2, B\)"):
        remove_target_links(A, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 12\)"):
        remove_target_links(A, torch.tensor([[0], [12]]))
    with pytest.raises(TypeError, match="SparseMatrix"):
        remove_target_links(torch.eye(3), torch.tensor([[0], [1]]))


class SpyEncoder(nn.Module):
    """Records every graph the encoder is given."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.graphs: list[SparseMatrix] = []

    def forward(self, x: Tensor, graph: SparseMatrix) -> Tensor:
        self.graphs.append(graph)
        return self.inner(x, graph)


@pytest.mark.parametrize("predictor_kind", ["ncn", "ncnc"])
def test_training_never_lets_a_batch_link_into_the_graph(predictor_kind: str) -> None:
    """Spy on the encoder, the predictor's intersection graph and NCNC's completion pairs."""
    torch.manual_seed(0)
    links = ring_with_chords(16)
    A = undirected_graph(links, 16)
    x = torch.randn(16, 6)
    encoder = SpyEncoder(LinkEncoder(6, 8))
    predictor = (NCNPredictor(8, 8) if predictor_kind == "ncn" else NCNCPredictor(8, 8))
    scored: list[tuple[Tensor, SparseMatrix]] = []
    completion: list[list[Tensor]] = []  # candidate links asked for, per outer call
    score = predictor.score

    def spy_score(h: Tensor, graph: SparseMatrix, pairs: Tensor, depth: int = 0) -> Tensor:
        if depth == predictor.depth:
            scored.append((pairs, graph))
            completion.append([])
        else:
            completion[-1].append(pairs)
        return score(h, graph, pairs, depth)

    predictor.score = spy_score  # type: ignore[method-assign]
    optimizer = torch.optim.SGD([*encoder.parameters(), *predictor.parameters()], lr=0.01)
    train_epoch(encoder, predictor, x, A, links, optimizer, batch_size=5,
                generator=torch.Generator().manual_seed(0))
    assert len(encoder.graphs) == 32 // 5 and len(scored) == 2 * len(encoder.graphs)
    for step in range(len(encoder.graphs)):
        batch = scored[2 * step][0]  # the positives; scored[2 * step + 1] are the negatives
        for graph in (encoder.graphs[step], scored[2 * step][1], scored[2 * step + 1][1]):
            assert not contains_links(graph, batch, undirected=True).any()
        # every other training link is still there
        others = links[:, ~contains_links(undirected_graph(batch, 16), links, undirected=True)]
        assert contains_links(encoder.graphs[step], others).all()
        if predictor_kind == "ncnc":
            asked = torch.cat([torch.zeros(2, 0, dtype=torch.long), *completion[2 * step]], 1)
            assert asked.shape[1] > 0, "NCNC should have scored candidate links"
            targets = {tuple(p) for p in batch.t().tolist()}
            targets |= {(j, i) for i, j in targets}
            assert not targets & {tuple(p) for p in asked.t().tolist()}
            assert not (asked[0] == asked[1]).any()  # (j, j) would mean j ∈ N(i)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_matches_generic_removal(seed: int) -> None:
    """Coalesced graphs take a binary-search path; it must equal the sparse core's
    ``remove_edges`` (used for non-coalesced input) entry for entry."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, 40, (2, 300), generator=g)
    values = torch.rand(300, generator=g)
    duplicated = SparseMatrix.from_edge_index(edges, values, shape=40)  # has duplicates
    coalesced = duplicated.coalesce()
    assert coalesced.is_coalesced() and not duplicated.is_coalesced()
    pairs = torch.cat([edges[:, :50], torch.randint(0, 40, (2, 30), generator=g)], dim=1)
    for undirected in (True, False):
        fast = remove_target_links(coalesced, pairs, undirected=undirected)
        generic = remove_target_links(duplicated, pairs, undirected=undirected).coalesce()
        assert torch.equal(fast.rowptr.long(), generic.rowptr.long())
        assert torch.equal(fast.col.long(), generic.col.long())
        torch.testing.assert_close(fast.values, generic.values)
        assert fast.is_coalesced()
