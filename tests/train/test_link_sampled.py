"""Link prediction on sampled neighbourhoods (gnnkit.train.link_prediction.fit_sampled and its
pieces): a sampled step with every fanout -1 and no dropout is the full-batch step (loss and
gradients within 1e-10 in float64), sampled hops are respected, target links leave every
block, the negatives have the full-batch loop's law, and misuse fails with a useful error."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from gnnkit.data import (
    LinkNeighborLoader,
    remove_sampled_target_links,
    sample_links,
    sampling_generator,
)
from gnnkit.data.link_sampling import sample_negatives
from gnnkit.models import build_model
from gnnkit.nn.linkpred import (
    LinkSplit,
    NCNCPredictor,
    NCNPredictor,
    TargetLinkRemoval,
    link_loss,
    remove_target_links,
    sample_negative_pairs,
    undirected_graph,
)
from gnnkit.sparse import SparseMatrix, intersect_rows
from gnnkit.train.link_prediction import (
    fit,
    fit_sampled,
    sampled_link_loss,
    train_epoch_sampled,
)

#: loss and gradients of a sampled step with fanouts -1 against the full-batch step (float64)
EXACT = {"rtol": 0.0, "atol": 1e-10}


def community_graph(communities: int = 20, size: int = 10, p: float = 0.5, bridges: int = 10,
                    seed: int = 0) -> tuple[SparseMatrix, Tensor]:
    """Dense communities joined by a few bridges: many common neighbours inside a community,
    and a batch's neighbourhood is a small part of the graph. Returns the symmetric graph
    and its links once each (``i < j``)."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    for c in range(communities):
        nodes = torch.arange(c * size, (c + 1) * size)
        i, j = torch.triu_indices(size, size, 1)
        keep = torch.rand(i.numel(), generator=g) < p
        parts.append(torch.stack([nodes[i[keep]], nodes[j[keep]]]))
    n = communities * size
    parts.append(torch.randint(0, n, (2, bridges), generator=g))
    A = undirected_graph(torch.cat(parts, 1), n)
    links = torch.stack([A.col, A.row]).long()
    return A, links[:, links[0] < links[1]]


def _grads(params: list[nn.Parameter]) -> list[Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]


def _first_batch(loader: LinkNeighborLoader) -> Any:
    """Batch 0 of epoch 0 (the loader is deterministic given its seed), epoch reset."""
    batch = next(iter(loader))
    loader.set_epoch(0)
    return batch


def _ncn(kind: str, num_nodes: int, features: int) -> tuple[nn.Module, nn.Module]:
    """NCN with dropout 0 everywhere: Cora-like (features, puregcn, jumping knowledge),
    ddi-like (learnt embeddings, puresum, residual) and a two-layer GCN."""
    torch.manual_seed(0)
    if kind == "cora":
        config = {"name": "ncn", "encoder": "puregcn", "hidden_channels": 8,
                  "jumping_knowledge": True, "predictor_layer_norm": True, "node_mlp": True,
                  "tail_activation": True}
    elif kind == "ddi":  # ncn-ddi's switches: features = "none", node_embedding = true
        config = {"name": "ncn", "encoder": "puresum", "hidden_channels": 8,
                  "layer_norm": True, "residual": True, "node_embedding": True,
                  "predictor_layer_norm": True, "node_mlp": True, "two_layer_head": True}
    else:
        config = {"name": "ncn", "encoder": "gcn", "hidden_channels": 8, "num_layers": 2,
                  "residual": True, "layer_norm": True, "node_mlp": True}
    encoder, predictor = build_model(config, task="link_prediction", in_channels=features,
                                     num_nodes=num_nodes)
    return encoder.double(), predictor.double()


@pytest.mark.parametrize("kind", ["cora", "ddi", "gcn2"])
def test_a_sampled_step_with_every_neighbour_is_the_full_batch_step(kind: str) -> None:
    A, links = community_graph()
    n = A.num_rows
    encoder, predictor = _ncn(kind, n, 6)
    x = (torch.arange(n) if kind == "ddi" else
         torch.randn(n, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    hops = encoder.num_layers + 1
    loader = LinkNeighborLoader(A, links, [-1] * hops, negatives=1, batch_size=12, shuffle=True,
                                seed=3)
    batch = _first_batch(loader)
    pairs = batch.global_pairs
    positives, negatives = pairs[:, : batch.num_positives], pairs[:, batch.num_positives:]
    params = [*encoder.parameters(), *predictor.parameters()]

    loss = train_epoch_sampled(encoder, predictor, x, loader,
                               torch.optim.SGD(params, lr=0.0), max_batches=1)
    sampled = _grads(params)

    for p in params:
        p.grad = None
    A_b = TargetLinkRemoval(A)(positives)
    h = encoder(x, A_b)
    full = link_loss(predictor(h, A_b, positives), predictor(h, A_b, negatives))
    full.backward()
    torch.testing.assert_close(torch.tensor(loss, dtype=torch.float64), full.detach(), **EXACT)
    for got, expected in zip(sampled, _grads(params), strict=True):
        torch.testing.assert_close(got, expected, **EXACT)

    # the comparison is not vacuous: a part of the graph, links removed, common neighbours
    assert batch.n_id.numel() < n
    assert A_b.nnz == A.nnz - 2 * batch.num_positives
    assert intersect_rows(A_b, positives[0], positives[1])[1].numel() > 0
    assert any(float(g.abs().max()) > 0 for g in sampled)


def test_the_encoder_gets_the_degrees_of_the_graph_without_the_batch() -> None:
    """puregcn normalises by D̂ of A − batch, also when hop 1 is sampled (fanout 2), where the
    removed entries may not be in the sample."""
    A, links = community_graph(seed=1)
    encoder, predictor = _ncn("cora", A.num_rows, 6)
    seen: list[Tensor] = []

    class Spy(nn.Module):
        num_layers = encoder.num_layers

        def block_degree(self, graph: SparseMatrix) -> Tensor | None:
            return encoder.block_degree(graph)

        def forward(self, x: Tensor, graph: Any, degree: Tensor | None = None) -> Tensor:
            assert degree is not None
            seen.append(degree)
            return encoder(x, graph, degree=degree)

    x = torch.randn(A.num_rows, 6, dtype=torch.float64)
    loader = LinkNeighborLoader(A, links, [2, 2], negatives=1, batch_size=12, seed=0)
    batch = _first_batch(loader)
    params = [*encoder.parameters(), *predictor.parameters()]
    train_epoch_sampled(Spy(), predictor, x, loader, torch.optim.SGD(params, lr=0.0),
                        max_batches=1)
    positives = batch.global_pairs[:, : batch.num_positives]
    expected = encoder.block_degree(remove_target_links(A, positives))
    torch.testing.assert_close(seen[0], expected[batch.n_id], rtol=0.0, atol=0.0)
    assert not torch.equal(seen[0], encoder.block_degree(A)[batch.n_id])


def _entries(M: SparseMatrix) -> list[tuple[int, int]]:
    return list(zip(M.row.tolist(), M.col.tolist(), strict=True))


@pytest.mark.parametrize("fanouts", [[-1, -1], [3, 2], [1, 4, 2]])
def test_target_links_leave_every_block_and_nothing_else_does(fanouts: list[int]) -> None:
    A, links = community_graph(seed=2)
    positives = links[:, torch.randperm(links.shape[1],
                                        generator=torch.Generator().manual_seed(0))[:15]]
    positives = torch.cat([positives, positives[:, :2], positives[:, 2:3].flip(0)], 1)
    batch = sample_links(A, positives, fanouts, negatives=1,
                         generator=torch.Generator().manual_seed(1))
    removed = remove_sampled_target_links(batch)
    n_id = batch.n_id.tolist()
    links_out = {(int(s), int(t)) for s, t in positives.t()}
    both = links_out | {(t, s) for s, t in links_out}
    for before, after in zip(batch.matrices, removed.matrices, strict=True):
        # entry [r, c] is the link c → r; brute force over the sampled entries
        expected = [(r, c) for r, c in _entries(before) if (n_id[c], n_id[r]) not in both]
        assert _entries(after) == expected and after.shape == before.shape
    first = removed.matrices[0]
    assert sum(removed.subgraph.num_sampled_edges) == first.nnz == removed.subgraph.num_edges
    # the kept entries' edge ids still point at the same entries of A
    rows, cols = A.row[removed.subgraph.e_id], A.col[removed.subgraph.e_id]
    assert torch.equal(rows, batch.n_id[first.row]) and torch.equal(cols, batch.n_id[first.col])
    assert torch.equal(removed.pairs, batch.pairs) and torch.equal(removed.n_id, batch.n_id)
    if fanouts[0] == -1:  # every endpoint's row is its row of A − batch
        A_b = remove_target_links(A, positives)
        hop1 = removed.matrices[-1]
        for v in range(batch.subgraph.num_seeds):
            got = sorted(n_id[c] for r, c in _entries(hop1) if r == v)
            row = n_id[v]
            assert got == A_b.col[A_b.rowptr[row]:A_b.rowptr[row + 1]].tolist()
    one_way = remove_sampled_target_links(batch, undirected=False)
    kept = {(n_id[c], n_id[r]) for r, c in _entries(one_way.matrices[0])}
    assert not kept & links_out


def test_sampled_hop_one_limits_the_common_neighbours_to_the_sample() -> None:
    """Fanout 2 at hop 1: NCN intersects the sampled rows, as a brute-force oracle does."""
    A, links = community_graph(seed=3)
    positives = links[:, :20]
    batch = remove_sampled_target_links(sample_links(
        A, positives, [2, 2], negatives=1, generator=torch.Generator().manual_seed(0)))
    n_id = batch.n_id.tolist()
    hop1 = batch.matrices[-1]
    sampled: dict[int, set[int]] = {v: set() for v in range(hop1.num_rows)}
    for r, c in _entries(hop1):
        sampled[r].add(n_id[c])
    A_b = remove_target_links(A, positives)
    for v, members in sampled.items():
        row = n_id[v]
        assert len(members) <= 2
        assert members <= set(A_b.col[A_b.rowptr[row]:A_b.rowptr[row + 1]].tolist())
    # the oracle: a square graph whose rows are exactly the sampled neighbourhoods
    oracle_rows = [(n_id[v], u) for v, members in sampled.items() for u in members]
    targets, sources = zip(*oracle_rows, strict=True)
    oracle = SparseMatrix.from_edge_index(torch.tensor([sources, targets]), shape=A.num_rows)
    torch.manual_seed(0)
    predictor = NCNPredictor(4, 8, node_mlp=True).double().eval()
    h = torch.randn(A.num_rows, 4, dtype=torch.float64)
    local = predictor(h[batch.n_id[: hop1.num_cols]], hop1, batch.pairs)
    torch.testing.assert_close(local, predictor(h, oracle, batch.global_pairs),
                               rtol=0.0, atol=1e-12)
    pairs = batch.global_pairs
    in_sample = sum(len(sampled[int(i)] & sampled[int(j)]) for i, j in batch.pairs.t())
    in_graph = intersect_rows(A_b, pairs[0], pairs[1])[1].numel()
    assert in_sample < in_graph  # sampling did drop common neighbours


def test_the_loaders_negatives_have_the_full_batch_law() -> None:
    """When the positives are links of A, sample_negatives (the loader's) draws exactly the
    pairs of sample_negative_pairs (train_epoch's) from the same generator state."""
    A, links = community_graph(seed=4)
    for seed in range(3):
        drawn = sample_negatives(A, 64, exclude=links[:, :30],
                                 generator=torch.Generator().manual_seed(seed))
        reference = sample_negative_pairs(A, 64, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(drawn, reference)
    loader = LinkNeighborLoader(A, links, [-1, -1], negatives=1, batch_size=16, seed=9)
    batch = next(iter(loader))
    reference = sample_negative_pairs(A, 16, generator=sampling_generator(9, 0, 0, 1))
    assert torch.equal(batch.global_pairs[:, 16:], reference)


def test_misuse_is_an_error_naming_the_fix() -> None:
    A, links = community_graph(seed=5)
    encoder, predictor = _ncn("cora", A.num_rows, 6)
    x = torch.randn(A.num_rows, 6, dtype=torch.float64)
    optimizer = torch.optim.SGD([*encoder.parameters(), *predictor.parameters()], lr=0.0)
    wrong_hops = LinkNeighborLoader(A, links, [-1], negatives=1, batch_size=8)
    with pytest.raises(ValueError, match=r"fanouts has 1 hop\(s\) but the encoder has 1 "
                                         r"layer\(s\): give 2 fanouts"):
        train_epoch_sampled(encoder, predictor, x, wrong_hops, optimizer)
    no_negatives = LinkNeighborLoader(A, links, [-1, -1], batch_size=8)
    with pytest.raises(ValueError, match=r"negatives=0\).*negatives=1"):
        train_epoch_sampled(encoder, predictor, x, no_negatives, optimizer)
    with pytest.raises(TypeError, match=r"loader must be a gnnkit\.data\.LinkNeighborLoader"):
        train_epoch_sampled(encoder, predictor, x, [links], optimizer)  # type: ignore[arg-type]
    loader = LinkNeighborLoader(A, links, [-1, -1], negatives=1, batch_size=8)
    with pytest.raises(ValueError, match="NCNCPredictor completes common neighbours"):
        train_epoch_sampled(encoder, NCNCPredictor(8, 8), x, loader, optimizer)
    one_hop = sample_links(A, links[:, :4], [-1], negatives=1)
    with pytest.raises(ValueError, match=r"sample encoder layers \+ 1 hops"):
        sampled_link_loss(encoder, predictor, x, one_hop)
    positives_only = sample_links(A, links[:, :4], [-1, -1])
    with pytest.raises(ValueError, match=r"needs positives and negatives.*negatives=1"):
        sampled_link_loss(encoder, predictor, x, positives_only)
    with pytest.raises(TypeError, match="sample must be a LinkSample"):
        remove_sampled_target_links(A)  # type: ignore[arg-type]
    split = _split(A, links)
    for fanouts, message in (([-1, 0], r"fanouts\[1\] = 0"),
                             ([-1, 2, 2], r"fanouts has 3 hop\(s\)")):
        with pytest.raises(ValueError, match=message):
            fit_sampled(encoder, predictor, x, split, fanouts=fanouts, epochs=1,
                        batch_size=8, lr_encoder=0.01, lr_predictor=0.01)


def _split(A: SparseMatrix, links: Tensor, seed: int = 0) -> LinkSplit:
    """10 % validation and 10 % test links, as many uniform non-edges each."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(links.shape[1], generator=g)
    k = links.shape[1] // 10
    val, test, train = links[:, order[:k]], links[:, order[k:2 * k]], links[:, order[2 * k:]]
    negatives = sample_negative_pairs(A, 2 * k, generator=g)
    return LinkSplit(A.num_rows, train, val, negatives[:, :k], test, negatives[:, k:])


@pytest.mark.parametrize("kind", ["cora", "ddi"])
def test_fit_sampled_end_to_end(kind: str) -> None:
    A, links = community_graph(seed=6)
    split = _split(A, links)
    x = (torch.arange(A.num_rows) if kind == "ddi" else
         torch.randn(A.num_rows, 6, dtype=torch.float64,
                     generator=torch.Generator().manual_seed(0)))
    histories = []
    for _ in range(2):
        encoder, predictor = _ncn(kind, A.num_rows, 6)
        result = fit_sampled(encoder, predictor, x, split, fanouts=[-1, 3], epochs=2,
                             batch_size=64, lr_encoder=0.01, lr_predictor=0.01, k=5,
                             eval_ks=(1, 5), generator=torch.Generator().manual_seed(0),
                             keep_best_state=True)
        histories.append([entry["loss"] for entry in result.history])
        assert len(result.history) == 2 and result.best_epoch in (1, 2)
        assert result.metric == "hits@5" and result.best_state is not None
        for entry in result.history:
            assert all(math.isfinite(value) for value in entry.values())
            assert 0.0 <= entry["test_hits@5"] <= 1.0
    assert histories[0] == histories[1]  # seeded: reproducible
    encoder, predictor = _ncn(kind, A.num_rows, 6)
    full = fit(encoder, predictor, x, split, epochs=1, batch_size=64, lr_encoder=0.01,
               lr_predictor=0.01, k=5, eval_ks=(1, 5))
    assert set(full.history[0]) == set(result.history[0])  # the same record as fit's
