"""LinkEncoder and NCNPredictor on sampled blocks: with fanout -1 everywhere they reproduce the
full-graph results at the sampled targets (float64, tolerance 1e-12), and misuse is an error
that says what to pass."""

from __future__ import annotations

import pytest
import torch

from gnnkit.data import sample_neighbors
from gnnkit.nn.linkpred import (
    ENCODER_CONVS,
    LinkEncoder,
    NCNCPredictor,
    NCNPredictor,
    undirected_graph,
)
from gnnkit.nn.linkpred import ncn as ncn_module
from gnnkit.sparse import SparseMatrix

TOL = {"rtol": 0.0, "atol": 1e-12}


def random_graph(n: int, m: int, seed: int) -> SparseMatrix:
    g = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=g)
    return undirected_graph(edges, n)


@pytest.mark.parametrize("conv", ENCODER_CONVS)
def test_blocks_with_every_neighbour_equal_the_full_graph_at_the_targets(conv: str) -> None:
    A = random_graph(50, 160, 0)
    x = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    seeds = torch.tensor([7, 3, 41, 18, 25])
    for layers in (1, 2, 3):
        for residual, jk in ((False, False), (True, True)):
            torch.manual_seed(layers)
            encoder = LinkEncoder(6, 5, layers, conv=conv, residual=residual,
                                  jumping_knowledge=jk, layer_norm=True).double().eval()
            full = encoder(x, A)
            sub = sample_neighbors(A, seeds, [-1] * layers)
            degree = encoder.block_degree(A)
            assert (degree is None) == (conv not in ("puregcn", "gcn"))
            out = encoder(x[sub.n_id], list(sub.matrices),
                          degree=None if degree is None else degree[sub.n_id])
            assert out.shape == (5, 5)
            torch.testing.assert_close(out, full[seeds], **TOL)


def test_blocks_with_node_embeddings_and_weighted_edges() -> None:
    A = random_graph(40, 120, 2)
    weights = torch.rand(A.nnz, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    A = A.with_values(weights + 0.5)
    torch.manual_seed(0)
    encoder = LinkEncoder(0, 4, 2, conv="puregcn", residual=True, jumping_knowledge=True,
                          num_embeddings=40).double().eval()
    ids = torch.arange(40)
    seeds = torch.tensor([0, 39, 12])
    sub = sample_neighbors(A, seeds, [-1, -1])
    out = encoder(ids[sub.n_id], sub.matrices, degree=encoder.block_degree(A)[sub.n_id])
    torch.testing.assert_close(out, encoder(ids, A)[seeds], **TOL)


@pytest.mark.parametrize("conv", ["puregcn", "gcn"])
def test_block_degree_of_a_block_is_the_targets_degree(conv: str) -> None:
    A = random_graph(30, 90, 4)
    A = SparseMatrix(A.rowptr, A.col, torch.rand(A.nnz, dtype=torch.float64) + 0.1, A.shape)
    encoder = LinkEncoder(3, 4, conv=conv).double()
    seeds = torch.tensor([5, 1, 22])
    sub = sample_neighbors(A, seeds, [-1])  # the seeds' whole rows, seeds first
    block_degree = encoder.block_degree(sub.matrices[0])
    assert block_degree is not None and block_degree.shape == (3,)
    full_degree = encoder.block_degree(A)
    assert full_degree is not None
    torch.testing.assert_close(block_degree, full_degree[seeds], **TOL)


def test_puregcn_without_degree_reads_the_block_as_its_own_graph() -> None:
    """As GCNConv on a block: a target's sampled degree plus its loop, the loop alone for a
    source that is not a target."""
    A = random_graph(30, 90, 5)
    sub = sample_neighbors(A, torch.tensor([2, 9, 14]), [2],
                           generator=torch.Generator().manual_seed(0))
    block = sub.matrices[0]
    assert block.num_rows < block.num_cols
    torch.manual_seed(0)
    encoder = LinkEncoder(3, 4, 1, conv="puregcn").double().eval()
    x = torch.randn(sub.num_nodes, 3, dtype=torch.float64)
    implied = torch.ones(sub.num_nodes, dtype=torch.float64)
    implied[: block.num_rows] += block.degree("row").double()
    torch.testing.assert_close(encoder(x, [block]), encoder(x, [block], degree=implied), **TOL)


def test_edge_dropout_on_blocks_draws_per_block_in_training_only() -> None:
    A = random_graph(30, 90, 6)
    sub = sample_neighbors(A, torch.tensor([0, 1, 2]), [-1, -1])
    torch.manual_seed(0)
    encoder = LinkEncoder(3, 4, 2, conv="puresum", edge_dropout=0.5).double()
    x = torch.randn(sub.num_nodes, 3, dtype=torch.float64)
    torch.manual_seed(1)
    first = encoder(x, sub.matrices)
    torch.manual_seed(2)
    assert not torch.equal(first, encoder(x, sub.matrices))
    encoder.eval()
    assert torch.equal(encoder(x, sub.matrices), encoder(x, sub.matrices))


def test_block_errors_name_what_to_pass() -> None:
    A = random_graph(30, 90, 7)
    sub = sample_neighbors(A, torch.tensor([0, 1]), [-1, -1])
    blocks = list(sub.matrices)
    x = torch.randn(sub.num_nodes, 3)
    encoder = LinkEncoder(3, 4, 2, conv="puregcn")
    with pytest.raises(ValueError, match=r"2 layer\(s\) but 1 block\(s\).*matrices\[:-1\]"):
        encoder(x, blocks[:1])
    with pytest.raises(ValueError, match=r"blocks\[0\] has \d+ sources but x has \d+ rows "
                                         r"\(pass x\[n_id\]\)"):
        encoder(x[:-1], blocks)
    assert blocks[0].num_rows < blocks[0].num_cols
    with pytest.raises(ValueError, match=r"blocks\[1\] has \d+ sources but blocks\[0\] has "
                                         r"\d+ targets"):
        encoder(x, [blocks[0], blocks[0]])
    with pytest.raises(TypeError, match=r"blocks\[1\] must be a gnnkit SparseMatrix"):
        encoder(x, [blocks[0], "block"])
    with pytest.raises(ValueError, match=r"degree must be a tensor of shape \(num_sources,\)"):
        encoder(x, blocks, degree=torch.ones(3))
    with pytest.raises(ValueError, match="degree is for sampled blocks"):
        encoder(torch.randn(30, 3), A, degree=torch.ones(30))
    sage = LinkEncoder(3, 4, 2, conv="sage")
    with pytest.raises(ValueError, match=r"conv='puregcn' or 'gcn' only.*pass degree=None"):
        sage(x, blocks, degree=torch.ones(sub.num_nodes))
    wide = SparseMatrix.from_edge_index(torch.tensor([[0], [2]]), shape=(3, 2))
    with pytest.raises(ValueError, match=r"M targets are the first M of its N sources"):
        LinkEncoder(3, 4, 1)(torch.randn(2, 3), [wide])
    with pytest.raises(ValueError, match=r"the square graph or a block"):
        encoder.block_degree(wide)


# ------------------------------------------------------------------ the predictor on a block
def _block_and_square(seed: int) -> tuple[SparseMatrix, torch.Tensor, torch.Tensor,
                                           SparseMatrix, torch.Tensor]:
    """A hop-1 block (every entry of the seeds' rows), the local pairs, and the global graph
    and pairs they stand for."""
    A = random_graph(40, 200, seed)
    g = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, 40, (2, 30), generator=g)
    pairs = pairs[:, pairs[0] != pairs[1]]
    seeds, local = torch.unique(pairs.reshape(-1), return_inverse=True)
    sub = sample_neighbors(A, seeds, [-1])
    return sub.matrices[0], local.view(pairs.shape), sub.n_id, A, pairs


@pytest.mark.parametrize("variant", ["ncn", "cn-count", "cn-only", "ncn-diff"])
@pytest.mark.parametrize("fused", [True, False])
def test_ncn_on_the_hop_one_block_equals_the_square_graph(variant: str, fused: bool,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ncn_module, "_FUSED_COMMON_POOL", fused)
    block, local, n_id, A, pairs = _block_and_square(8)
    assert block.num_rows < block.num_cols  # a real rectangle
    torch.manual_seed(0)
    predictor = NCNPredictor(5, 8, variant=variant, node_mlp=True).double().eval()
    h = torch.randn(40, 5, dtype=torch.float64)
    expected = predictor(h, A, pairs)
    torch.testing.assert_close(predictor(h[n_id], block, local), expected, **TOL)


def test_predictor_block_errors() -> None:
    block, local, n_id, _, _ = _block_and_square(9)
    h = torch.randn(n_id.numel(), 5)
    predictor = NCNPredictor(5, 8)
    with pytest.raises(ValueError, match=r"the block has \d+ sources \(columns\) but h has"):
        predictor(h[:-1], block, local)
    outside = torch.tensor([[0], [block.num_rows]])
    with pytest.raises(ValueError, match=r"pairs \(rows of the block\) must hold node ids in "
                                         rf"\[0, {block.num_rows}\)"):
        predictor(h, block, outside)
    with pytest.raises(ValueError, match="variant 'ncn2' pools two-hop neighbourhoods"):
        NCNPredictor(5, 8, variant="ncn2")(h, block, local)
    with pytest.raises(ValueError, match="NCNCPredictor cannot score on a sampled block"):
        NCNCPredictor(5, 8)(h, block, local)
