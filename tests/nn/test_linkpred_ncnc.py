"""NCNC: completion hand-checked with Python sets, leak checks, sampling, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gnnkit.nn.linkpred import (
    LinkEncoder,
    NCNCPredictor,
    NCNPredictor,
    NeighborSets,
    calibrate_probability,
    exclusive_neighbor_sets,
    link_loss,
    remove_target_links,
    subsample_sets,
)
from gnnkit.sparse import SparseMatrix

# 0-1, 1-2, 2-3, 3-4, 1-4, 0-5, 2-5 (undirected)
LINKS = [(0, 1), (1, 2), (2, 3), (3, 4), (1, 4), (0, 5), (2, 5)]
H = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0], [0.5, 0.5], [1.5, 0.0]])
OPTIONS = {"scale": 2.0, "offset": 1.5, "pt": 0.4, "alpha": 0.9}


def graph(links: list[tuple[int, int]] = LINKS, n: int = 6) -> SparseMatrix:
    edges = torch.tensor(links).t()
    return SparseMatrix.from_edge_index(torch.cat([edges, edges.flip(0)], 1), shape=n)


def neighbours(links: list[tuple[int, int]], n: int = 6) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in range(n)]
    for a, b in links:
        out[a].add(b)
        out[b].add(a)
    return out


def hand_logit(i: int, j: int, depth: int, adj: list[set[int]]) -> float:
    """Identity layers, β = 1, non-negative h: Σ_f (x̃_ij[f] + h_i[f] h_j[f]) with
    x̃ = Σ_{CN} h_k + Σ_{u ∈ N(i)∖N(j)} Â_ju h_u + Σ_{u ∈ N(j)∖N(i)} Â_iu h_u."""
    h = H.tolist()

    def completed(a: int, u: int) -> float:
        p0 = 1 / (1 + math.exp(-OPTIONS["scale"] * (hand_logit(a, u, depth - 1, adj)
                                                   - OPTIONS["offset"])))
        pt = OPTIONS["pt"]
        return OPTIONS["alpha"] * pt * p0 / (pt * p0 + 1 - p0)

    pooled = [0.0, 0.0]
    for k in adj[i] & adj[j]:
        pooled = [p + v for p, v in zip(pooled, h[k], strict=True)]
    if depth > 0:
        for u in adj[i] - adj[j]:
            weight = completed(j, u)
            pooled = [p + weight * v for p, v in zip(pooled, h[u], strict=True)]
        for u in adj[j] - adj[i]:
            weight = completed(i, u)
            pooled = [p + weight * v for p, v in zip(pooled, h[u], strict=True)]
    return sum(p + a * b for p, a, b in zip(pooled, h[i], h[j], strict=True))


def identity_ncnc(depth: int, **kwargs: object) -> NCNCPredictor:
    predictor = NCNCPredictor(2, 2, depth=depth, **OPTIONS, **kwargs).double().eval()
    with torch.no_grad():
        for layer in predictor.modules():
            if isinstance(layer, nn.Linear):
                layer.bias.zero_()
                layer.weight.copy_(torch.eye(2, dtype=torch.float64)
                                   if layer.out_features == 2 else torch.ones(1, 2))
    return predictor


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_hand_checked_completion(depth: int) -> None:
    predictor = identity_ncnc(depth)
    pairs = torch.tensor([[0, 1, 3, 0, 4], [2, 3, 5, 4, 0]])
    adj = neighbours(LINKS)
    expected = [hand_logit(i, j, depth, adj) for i, j in pairs.t().tolist()]
    got = predictor(H.double(), graph(), pairs)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_completion_changes_scores_only_where_candidates_exist() -> None:
    plain, completed = identity_ncnc(0), identity_ncnc(1)
    pairs = torch.tensor([[0, 1], [2, 3]])
    a, b = plain(H.double(), graph(), pairs), completed(H.double(), graph(), pairs)
    assert torch.all(b > a)  # positive probabilities times non-negative h


def test_depth_zero_equals_ncn_with_the_same_weights() -> None:
    torch.manual_seed(0)
    ncn = NCNPredictor(2, 8, layer_norm=True, node_mlp=True).eval()
    ncnc = NCNCPredictor(2, 8, depth=0, layer_norm=True, node_mlp=True).eval()
    ncnc.load_state_dict(ncn.state_dict(), strict=False)
    pairs = torch.randint(0, 6, (2, 12))
    torch.testing.assert_close(ncnc(H, graph(), pairs), ncn(H, graph(), pairs))


def test_scored_link_never_enters_completion() -> None:
    """Completion asks about N(i) Δ N(j): with the target link present, j ∈ N(i) and NCNC
    would ask for (j, j) and pool h_j; after removal neither happens."""
    predictor = identity_ncnc(1)
    target = torch.tensor([[1], [2]])  # (1, 2) is a link of LINKS
    with_link = predictor.candidate_links(graph(), target)
    assert (with_link[0] == with_link[1]).any()  # the leak this guards against
    A = remove_target_links(graph(), target)
    asked = predictor.candidate_links(A, target)
    assert asked.shape[1] > 0
    forbidden = {(1, 2), (2, 1), (1, 1), (2, 2)}
    assert not forbidden & {tuple(p) for p in asked.t().tolist()}
    only_i, only_j = exclusive_neighbor_sets(A, target)
    assert 2 not in only_i.nodes.tolist() and 1 not in only_j.nodes.tolist()


def test_chunked_completion_is_identical() -> None:
    torch.manual_seed(0)
    whole = NCNCPredictor(2, 8, depth=2).eval()
    chunked = NCNCPredictor(2, 8, depth=2, chunk_size=3).eval()
    chunked.load_state_dict(whole.state_dict())
    pairs = torch.randint(0, 6, (2, 10))
    torch.testing.assert_close(chunked(H, graph(), pairs), whole(H, graph(), pairs))


def test_gradients_reach_encoder_pooled_candidates_and_threshold_mlp() -> None:
    torch.manual_seed(0)
    x = torch.randn(6, 4)
    encoder = LinkEncoder(4, 8)
    predictor = NCNCPredictor(8, 8, learnable_pt=True)
    h = encoder(x, graph())
    pairs = torch.tensor([[0, 3], [2, 5]])
    link_loss(predictor(h, graph(), pairs), predictor(h, graph(), pairs.flip(0))).backward()
    for module in (encoder, predictor):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None, name
    assert predictor.pt_mlp[0].weight.grad.abs().sum() > 0
    assert encoder.input[1].weight.grad.abs().sum() > 0


def test_candidate_probabilities_are_detached() -> None:
    """The completion weights come from a no-grad pass: h enters the pooled sum linearly."""
    predictor = NCNCPredictor(2, 4, depth=1, variant="cn-only").double().eval()
    h = H.double().requires_grad_()
    terms = predictor.common_neighbor_terms(h, graph(), torch.tensor([[0], [2]]), depth=1)
    assert all(t.weight is None or not t.weight.requires_grad for t in terms)


def test_calibration_formula() -> None:
    logit = torch.tensor([-2.0, 0.0, 3.0])
    p0 = torch.sigmoid(5.0 * (logit - 1.0))
    expected = 0.7 * 0.3 * p0 / (0.3 * p0 + 1 - p0)
    torch.testing.assert_close(calibrate_probability(logit, 0.3, scale=5.0, offset=1.0,
                                                     alpha=0.7), expected)


def test_subsampled_sets_keep_total_weight_and_members() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = torch.tensor([0, 2, 7, 30, 5])
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    nodes = torch.cat([torch.randperm(100, generator=g)[:int(s)].sort().values for s in sizes])
    sets = NeighborSets(ptr, nodes)
    sampled = subsample_sets(sets, 5, 100, generator=g)
    torch.testing.assert_close(sampled.total_weight(torch.float64), sizes.double())
    for k in range(5):
        original = set(nodes[ptr[k]:ptr[k + 1]].tolist())
        got = sampled.nodes[sampled.ptr[k]:sampled.ptr[k + 1]].tolist()
        assert set(got) <= original and len(got) <= 5
        if sizes[k] <= 5:
            assert set(got) == original
    assert subsample_sets(sets, 30, 100) is sets


def test_sampling_applies_in_the_mode_it_is_configured_for() -> None:
    predictor = NCNCPredictor(2, 4, train_max_candidates=1, test_max_candidates=None)
    A = graph()
    pairs = torch.tensor([[0], [3]])  # N(0) ∖ N(3) = {1, 5}; N(3) ∖ N(0) = {2, 4}
    exact = predictor.eval().candidate_sets(A, pairs)
    sampled = predictor.train().candidate_sets(A, pairs)
    for e, s in zip(exact, sampled, strict=True):
        assert e.nodes.numel() == 2 and s.nodes.numel() == 1
        torch.testing.assert_close(s.total_weight(), e.total_weight())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="variant"):
        NCNCPredictor(2, 4, variant="ncn2")
    with pytest.raises(ValueError, match="pt"):
        NCNCPredictor(2, 4, pt=1.0)
    with pytest.raises(ValueError, match="depth"):
        NCNCPredictor(2, 4, depth=-1)
    with pytest.raises(ValueError, match="chunk_size"):
        NCNCPredictor(2, 4, chunk_size=0)
    with pytest.raises(ValueError, match="max_size"):
        subsample_sets(NeighborSets(torch.zeros(1, dtype=torch.long),
                                    torch.zeros(0, dtype=torch.long)), 0, 3)


# ---------------------------------------------------------------- official-code recursion
def hand_logit_official(i: int, j: int, depth: int, graphs: list[list[set[int]]],
                        feature_scale: float, node_mlp: bool, feed_pooled: bool = True
                        ) -> float:
    """The official recursion by hand, identity layers, β = 1, non-negative h.

    At a level whose node features are ``f = c · h`` the pooled features are
    ``f + MLP_node(f) = 2f`` with an identity node MLP (``f`` without it), the pair term is
    ``f_i f_j``, and the candidate scorer one level down receives the pooled features
    (``c → 2c``) and the graph ``graphs[1]`` (``graphs[0]`` is this level's graph).
    ``feed_pooled=False`` gives the candidate scorer ``h`` instead (the semantics the official
    code does not have), to show the tests can tell the two apart.
    """
    adj = graphs[0]
    c = feature_scale
    pooled_scale = 2 * c if node_mlp else c
    h = H.tolist()

    def completed(a: int, u: int) -> float:
        s = hand_logit_official(a, u, depth - 1, graphs[1:],
                                pooled_scale if feed_pooled else 1.0, node_mlp, feed_pooled)
        p0 = 1 / (1 + math.exp(-OPTIONS["scale"] * (s - OPTIONS["offset"])))
        pt = OPTIONS["pt"]
        return OPTIONS["alpha"] * pt * p0 / (pt * p0 + 1 - p0)

    weights = {k: 1.0 for k in adj[i] & adj[j]}
    if depth > 0:
        weights.update({u: completed(j, u) for u in adj[i] - adj[j]})
        weights.update({u: completed(i, u) for u in adj[j] - adj[i]})
    total = sum(w * pooled_scale * v for k, w in weights.items() for v in h[k])
    return total + sum(c * a * c * b for a, b in zip(h[i], h[j], strict=True))


@pytest.mark.parametrize("depth", [1, 2])
def test_candidate_scorer_receives_the_pooled_features(depth: int) -> None:
    """Official IncompleteCN1Predictor: the recursive call gets x = h + MLP_node(h)."""
    predictor = identity_ncnc(depth, node_mlp=True)
    pairs = torch.tensor([[0, 1, 3, 0, 4], [2, 3, 5, 4, 0]])
    adj = neighbours(LINKS)
    expected = [hand_logit_official(i, j, depth, [adj] * (depth + 1), 1.0, True)
                for i, j in pairs.t().tolist()]
    fed_h = [hand_logit_official(i, j, depth, [adj] * (depth + 1), 1.0, True, False)
             for i, j in pairs.t().tolist()]
    got = predictor(H.double(), graph(), pairs)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    if depth == 1:  # at depth 2 these pairs' completed weights saturate at alpha either way
        assert max(abs(a - b) for a, b in zip(expected, fed_h, strict=True)) > 1.0
    paper = identity_ncnc(depth, node_mlp=True, official_recursion=False)
    torch.testing.assert_close(paper(H.double(), graph(), pairs),
                               torch.tensor(fed_h, dtype=torch.float64))


def test_count_variant_candidate_scorer_receives_h() -> None:
    """Official IncompleteSCN1Predictor: no node MLP applied, the recursion gets h."""
    torch.manual_seed(0)
    ncnc = NCNCPredictor(2, 4, depth=1, variant="cn-count", node_mlp=True, scale=1.0,
                         offset=0.0).double().eval()
    pairs = torch.tensor([[0, 1], [2, 3]])
    A = graph()
    h = H.double()
    terms = ncnc.common_neighbor_terms(h, A, pairs, 1)
    x_terms = ncnc.common_neighbor_terms(h, A, pairs, 1,
                                         candidate_features=h + ncnc.node_mlp(h))
    expected = ncnc.head(ncnc.cn_mlp(sum(t.total_weight(h.dtype) for t in terms)
                                     .unsqueeze(-1)) * ncnc.beta
                         + ncnc.pair_mlp(h[pairs[0]] * h[pairs[1]])).squeeze(-1)
    torch.testing.assert_close(ncnc(h, A, pairs), expected)
    weights = torch.cat([t.weight for t in terms[1:]])
    assert not torch.allclose(weights, torch.cat([t.weight for t in x_terms[1:]]))


def test_candidates_are_scored_on_a_twice_dropped_graph(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Official DropAdj runs on entry to every predictor call, the recursive ones included:
    in training the outer intersections use D(A) and each candidate scoring D(D(A)).

    Edge dropout is replaced by a deterministic stub: its first call removes the link 3-4,
    later calls remove 1-2; the hand values use those graphs ((0, 3) and (4, 5) have
    candidates whose common neighbours the second removal changes).
    """
    import gnnkit.nn.linkpred.ncn as ncn_module
    import gnnkit.nn.linkpred.ncnc as ncnc_module

    calls: list[int] = []

    def stub(A: SparseMatrix, p: float, *, generator: object = None,
             rescale: bool = True) -> SparseMatrix:
        assert p == 0.5 and not rescale
        removed = {3, 4} if not calls else {1, 2}
        calls.append(A.nnz)
        keep = [(int(r), int(c)) for r, c in zip(A.row.tolist(), A.col.tolist(), strict=True)
                if {int(r), int(c)} != removed]
        return SparseMatrix.from_edge_index(torch.tensor(keep).t(), shape=A.num_rows)

    monkeypatch.setattr(ncn_module, "drop_entries", stub)
    monkeypatch.setattr(ncnc_module, "drop_entries", stub, raising=False)
    predictor = identity_ncnc(1, edge_dropout=0.5).train()
    pairs = torch.tensor([[0, 1, 3, 0, 4], [3, 3, 5, 2, 5]])
    outer_links = [e for e in LINKS if e != (3, 4)]
    inner_links = [e for e in outer_links if e != (1, 2)]
    graphs = [neighbours(outer_links), neighbours(inner_links)]
    expected = [hand_logit_official(i, j, 1, graphs, 1.0, False)
                for i, j in pairs.t().tolist()]
    once = [hand_logit_official(i, j, 1, [graphs[0]] * 2, 1.0, False)
            for i, j in pairs.t().tolist()]
    got = predictor(H.double(), graph(), pairs)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert expected != once  # the graphs are chosen so the second drop matters
    assert calls == [14, 12, 12]  # outer graph, then one draw per candidate side
    calls.clear()
    predictor.eval()(H.double(), graph(), pairs)
    assert calls == []  # no edge dropout in evaluation
    paper = identity_ncnc(1, edge_dropout=0.5, official_recursion=False).train()
    torch.testing.assert_close(paper(H.double(), graph(), pairs),
                               torch.tensor(once, dtype=torch.float64))
    assert calls == [14]  # the candidates reuse the once-dropped graph


def _per_link_logits(predictor: NCNCPredictor, h: torch.Tensor, A: SparseMatrix,
                     links: torch.Tensor, depth: int) -> torch.Tensor:
    """Every candidate link scored on its own, without the evaluation deduplication."""
    return torch.cat([predictor._score_links(h, A, links[:, k:k + 1], depth)
                      for k in range(links.shape[1])])


def test_evaluation_scores_each_distinct_candidate_once(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    torch.manual_seed(0)
    predictor = NCNCPredictor(2, 8, depth=1).eval()
    links = torch.tensor([[0, 2, 0, 3, 2, 0], [4, 5, 4, 1, 5, 4]])
    expected = _per_link_logits(predictor, H, graph(), links, 1)
    scored: list[int] = []
    original = predictor._score_links
    monkeypatch.setattr(predictor, "_score_links",
                        lambda f, A, l, d: scored.append((l.shape[1], d)) or original(f, A, l, d))
    got = predictor._candidate_logits(H, graph(), links, 1)
    assert [n for n, d in scored if d == 1] == [3]  # depth 0 below: the completion's own
    torch.testing.assert_close(got, expected)


def test_cached_candidates_reuses_logits_across_batches_and_equals_uncached(
        monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    predictor = NCNCPredictor(2, 8, depth=2).eval()
    A = graph()
    batches = [torch.tensor([[0, 1, 3], [2, 3, 5]]), torch.tensor([[0, 1, 4], [2, 3, 0]])]
    expected = [predictor(H, A, pairs) for pairs in batches]
    scored: list[int] = []
    original = predictor._score_links
    monkeypatch.setattr(predictor, "_score_links",
                        lambda f, a, l, d: scored.append(l.shape[1]) or original(f, a, l, d))
    for pairs in batches:
        predictor(H, A, pairs)
    uncached_count, scored[:] = sum(scored), []
    h = H.clone()
    with predictor.cached_candidates():
        got = [predictor(h, A, pairs) for pairs in batches]
        cached_count = sum(scored)
        # the same h changed in place: its cached logits are stale and not used
        h.mul_(2.0)
        changed = predictor(h, A, batches[1])
    assert cached_count < uncached_count
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)
    torch.testing.assert_close(changed, predictor(H * 2.0, A, batches[1]))
    assert predictor._cache is None and predictor._cache_h is None


def test_training_scores_every_candidate_as_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    predictor = NCNCPredictor(2, 8, depth=1).train()
    links = torch.tensor([[0, 0, 2], [4, 4, 5]])  # (0, 4) twice: scored twice
    scored: list[int] = []
    original = predictor._score_links
    monkeypatch.setattr(predictor, "_score_links",
                        lambda f, A, l, d: scored.append((l.shape[1], d)) or original(f, A, l, d))
    with predictor.cached_candidates():
        predictor._candidate_logits(H, graph(), links, 1)
    assert [n for n, d in scored if d == 1] == [3]


def test_evaluation_scores_a_link_and_its_reverse_once(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    predictor = NCNCPredictor(2, 8, depth=1).eval()
    links = torch.tensor([[0, 4, 3, 1], [4, 0, 1, 3]])
    expected = _per_link_logits(predictor, H, graph(), links, 1)
    scored: list[tuple[int, int]] = []
    original = predictor._score_links
    monkeypatch.setattr(predictor, "_score_links",
                        lambda f, A, l, d: scored.append((l.shape[1], d)) or original(f, A, l, d))
    got = predictor._candidate_logits(H, graph(), links, 1)
    assert [n for n, d in scored if d == 1] == [2]
    # the depth-0 scorer is symmetric bit for bit: (j, u) and (u, j) get the same logit
    assert torch.equal(got[0], got[1]) and torch.equal(got[2], got[3])
    torch.testing.assert_close(got, expected)


def _random_graph(n: int, m: int, seed: int) -> SparseMatrix:
    generator = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, m), generator=generator)
    edges = edges[:, edges[0] != edges[1]]
    return SparseMatrix.from_edge_index(torch.cat([edges, edges.flip(0)], 1), shape=n)


@pytest.mark.parametrize(("depth", "learnable_pt"), [(1, False), (2, False), (1, True)])
def test_dense_and_sorted_evaluation_caches_agree_with_uncached_scoring(
        depth: int, learnable_pt: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dense cache pools N(i) with zero weights on N(j) in place of the set difference
    (bit-identical to the sorted cache's set path); both equal scoring without a cache."""
    import gnnkit.nn.linkpred.ncnc as ncnc_module

    torch.manual_seed(0)
    n = 40
    A = _random_graph(n, 160, 1)
    h = torch.randn(n, 6)
    predictor = NCNCPredictor(6, 8, depth=depth, node_mlp=True,
                              learnable_pt=learnable_pt).eval()
    generator = torch.Generator().manual_seed(2)
    batches = [torch.randint(0, n, (2, 25), generator=generator) for _ in range(3)]
    with torch.no_grad():
        expected = [predictor(h, A, pairs) for pairs in batches]
        results = {}
        for name, limit in (("dense", n * n), ("sorted", n * n - 1)):
            monkeypatch.setattr(ncnc_module, "DENSE_CACHE_MAX_ENTRIES", limit)
            with predictor.cached_candidates():
                results[name] = [predictor(h, A, pairs) for pairs in batches]
                caches = [entry[1] for key, entry in predictor._cache.items()
                          if key[0] != "graph"]
                # one cache per scorer depth
                assert len(caches) == depth
                assert all(cache.dense == (name == "dense") for cache in caches)
    for got_dense, got_sorted, want in zip(results["dense"], results["sorted"], expected,
                                           strict=True):
        assert torch.equal(got_dense, got_sorted)
        torch.testing.assert_close(got_dense, want)


@pytest.mark.parametrize("variant", ["ncn", "cn-count"])
def test_fused_completion_lists_only_new_candidates_and_equals_the_set_path(
        variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In evaluation with a dense cache and a fixed threshold, the completion terms are two
    fused difference_aggregate passes over a calibrated probability table: equal to the set
    path (sorted cache), a batch whose candidates were all seen lists nothing, and a changed
    calibration constant (the official alpha schedule) starts a fresh table."""
    import gnnkit.nn.linkpred.ncnc as ncnc_module

    torch.manual_seed(0)
    n = 60
    A = _random_graph(n, 400, 3)
    h = torch.randn(n, 6)
    # offset 0: candidate probabilities near 1/2, so the completion terms weigh
    predictor = NCNCPredictor(6, 8, depth=1, variant=variant, node_mlp=variant == "ncn",
                              scale=1.0, offset=0.0).eval()
    generator = torch.Generator().manual_seed(4)
    batches = [torch.randint(0, n, (2, 40), generator=generator) for _ in range(3)]
    batches.append(batches[0].flip(0))  # the same pairs reversed: every candidate is known
    fused_calls: list[int] = []
    listings: list[int] = []
    original_fused = predictor._fused_completion
    original_rows = ncnc_module.difference_rows
    monkeypatch.setattr(predictor, "_fused_completion",
                        lambda *args: fused_calls.append(1) or original_fused(*args))
    monkeypatch.setattr(ncnc_module, "difference_rows",
                        lambda *args: listings.append(len(fused_calls)) or original_rows(*args))
    with torch.no_grad():
        results = {}
        for name, limit in (("sorted", n * n - 1), ("dense", n * n)):
            monkeypatch.setattr(ncnc_module, "DENSE_CACHE_MAX_ENTRIES", limit)
            with predictor.cached_candidates():
                got = [predictor(h, A, pairs) for pairs in batches]
                predictor.set_alpha(0.5)
                got.append(predictor(h, A, batches[1]))
                predictor.set_alpha(1.0)
            results[name] = got
    assert len(fused_calls) == len(batches) + 1  # the dense run only
    # batches 1-3 listed new candidates; batch 4 (all known) did not; the new alpha did
    assert 4 not in listings and 5 in listings and {1, 2, 3} <= set(listings)
    for got_fused, want in zip(results["dense"], results["sorted"], strict=True):
        torch.testing.assert_close(got_fused, want, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(results["dense"][-1], results["dense"][1])
