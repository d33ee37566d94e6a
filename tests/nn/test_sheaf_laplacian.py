"""Sheaf Laplacian builders against a dense Nd × Nd construction written here (coboundary δ,
L = δᵀδ, scipy's fractional matrix power for the normalisation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import fractional_matrix_power

from gnnkit.nn.sheaf import (
    ORTHOGONAL_MAPS,
    BundleLaplacianBuilder,
    DiagLaplacianBuilder,
    GeneralLaplacianBuilder,
    OrthogonalMaps,
    SheafGraph,
)
from gnnkit.sparse import SparseMatrix

DT = torch.float64


def graph_of(edges: list[tuple[int, int]], num_nodes: int, extra: list[tuple[int, int]] = ()
             ) -> SheafGraph:
    """Both orientations of ``edges`` plus ``extra`` raw entries (loops, duplicates)."""
    pairs = [(i, j) for i, j in edges] + [(j, i) for i, j in edges] + list(extra)
    ei = torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)
    return SheafGraph.from_graph(ei, num_nodes=num_nodes, dtype=DT)


def entry_lookup(graph: SheafGraph) -> dict[tuple[int, int], int]:
    row = graph.row.tolist()
    col = graph.adjacency.col.tolist()
    return {(r, c): k for k, (r, c) in enumerate(zip(row, col, strict=True))}


def dense_oracle(graph: SheafGraph, maps: np.ndarray, d: int, *, normalise: bool,
                 signs: tuple[float, ...] = ()) -> np.ndarray:
    """``maps[k]`` (d × d) is F_{row[k] ⊴ {row[k], col[k]}}. Stalks: d learnt + one per sign."""
    N = graph.num_nodes
    lookup = entry_lookup(graph)
    edges = sorted({(min(i, j), max(i, j)) for i, j in lookup})
    delta = np.zeros((len(edges) * d, N * d))
    for e, (i, j) in enumerate(edges):
        delta[e * d:(e + 1) * d, i * d:(i + 1) * d] = maps[lookup[(i, j)]]
        delta[e * d:(e + 1) * d, j * d:(j + 1) * d] = -maps[lookup[(j, i)]]
    L = delta.T @ delta
    if normalise:
        root = np.zeros_like(L)
        for v in range(N):
            block = L[v * d:(v + 1) * d, v * d:(v + 1) * d] + np.eye(d)
            root[v * d:(v + 1) * d, v * d:(v + 1) * d] = np.real(
                fractional_matrix_power(block, -0.5))
        L = root @ L @ root
    D = d + len(signs)
    out = np.zeros((N * D, N * D))
    for i in range(N):
        for j in range(N):
            out[i * D:i * D + d, j * D:j * D + d] = L[i * d:(i + 1) * d, j * d:(j + 1) * d]
    A = np.zeros((N, N))
    for i, j in lookup:
        A[i, j] = 1.0
    deg = A.sum(1)
    for c, sign in enumerate(signs):
        S = np.diag(deg) + sign * A
        if normalise:
            s = 1 / np.sqrt(deg + 1)
            S = s[:, None] * S * s[None, :]
        idx = np.arange(N) * D + d + c
        out[np.ix_(idx, idx)] = S
    return out


GRAPHS = {
    "triangle+tail": ([(0, 1), (1, 2), (0, 2), (2, 3)], 4, []),
    "isolated+loops+dups": ([(0, 1), (1, 3), (3, 4)], 6, [(2, 2), (0, 1), (1, 0), (4, 4)]),
    "no-edges": ([], 3, [(1, 1)]),
    "single-node": ([], 1, []),
}
CHANNELS = [((), False, False), ((1.0,), False, True), ((-1.0,), True, False),
            ((1.0, -1.0), True, True)]


def _check(L, oracle: np.ndarray) -> None:
    dense = L.to_dense().numpy()
    np.testing.assert_allclose(dense, oracle, atol=1e-10)
    x = torch.randn(L.graph.num_nodes, L.stalk_dim, 3, dtype=DT)
    flat = torch.from_numpy(oracle) @ x.reshape(-1, 3)
    torch.testing.assert_close((L @ x).reshape(-1, 3), flat, atol=1e-10, rtol=1e-10)
    # non-contiguous stalk features
    xt = torch.randn(L.graph.num_nodes, 3, L.stalk_dim, dtype=DT).transpose(1, 2)
    torch.testing.assert_close((L @ xt).reshape(-1, 3),
                               torch.from_numpy(oracle) @ xt.reshape(-1, 3), atol=1e-10,
                               rtol=1e-10)


@pytest.mark.parametrize("name", list(GRAPHS))
@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("channels", CHANNELS)
def test_diag_builder_matches_dense(name: str, normalise: bool, channels: tuple) -> None:
    edges, n, extra = GRAPHS[name]
    g = graph_of(edges, n, extra)
    d = 3
    maps = torch.randn(g.num_entries, d, dtype=DT)
    signs, lap, signless = channels
    builder = DiagLaplacianBuilder(d, normalise=normalise, graph_laplacian_channel=lap,
                                   signless_laplacian_channel=signless)
    L = builder(g, maps)
    full = np.stack([np.diag(m) for m in maps.numpy()]) if g.num_entries else np.zeros((0, d, d))
    _check(L, dense_oracle(g, full, d, normalise=normalise, signs=signs))


@pytest.mark.parametrize("name", list(GRAPHS))
@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("channels", CHANNELS)
def test_general_builder_matches_dense(name: str, normalise: bool, channels: tuple) -> None:
    edges, n, extra = GRAPHS[name]
    g = graph_of(edges, n, extra)
    d = 3
    maps = torch.randn(g.num_entries, d, d, dtype=DT)
    signs, lap, signless = channels
    builder = GeneralLaplacianBuilder(d, normalise=normalise, graph_laplacian_channel=lap,
                                      signless_laplacian_channel=signless)
    _check(builder(g, maps), dense_oracle(g, maps.numpy(), d, normalise=normalise, signs=signs))


@pytest.mark.parametrize("kind", ORTHOGONAL_MAPS)
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("channels", CHANNELS[::3])
def test_bundle_builder_matches_dense(kind: str, weights: bool, channels: tuple) -> None:
    g = graph_of(*GRAPHS["isolated+loops+dups"])
    d = 3
    builder = BundleLaplacianBuilder(d, kind, graph_laplacian_channel=channels[1],
                                     signless_laplacian_channel=channels[2])
    params = torch.rand(g.num_entries, builder.num_params, dtype=DT) * 2 - 1
    w = None
    maps = builder.orthogonal(params)
    oracle_maps = maps.numpy().copy()
    if weights:
        half = torch.rand(g.num_entries, dtype=DT)
        w = half * half[g.reverse]
        oracle_maps = oracle_maps * w.numpy()[:, None, None]
    L = builder(g, params, w)
    _check(L, dense_oracle(g, oracle_maps, d, normalise=True, signs=channels[0]))


@pytest.mark.parametrize("d", [1, 2, 4])
def test_trivial_sheaf_is_graph_laplacian_kron_identity(d: int) -> None:
    edges, n, extra = GRAPHS["isolated+loops+dups"]
    g = graph_of(edges, n, extra)
    A = np.zeros((n, n))
    for i, j in edges:
        A[i, j] = A[j, i] = 1.0
    lap = np.diag(A.sum(1)) - A
    expected = np.kron(lap, np.eye(d))
    ones = torch.ones(g.num_entries, d, dtype=DT)
    np.testing.assert_allclose(DiagLaplacianBuilder(d, normalise=False)(g, ones).to_dense(),
                               expected, atol=1e-12)
    eye = torch.eye(d, dtype=DT).expand(g.num_entries, d, d)
    np.testing.assert_allclose(GeneralLaplacianBuilder(d, normalise=False)(g, eye).to_dense(),
                               expected, atol=1e-12)
    if d >= 2:
        bundle = BundleLaplacianBuilder(d, normalise=False)
        np.testing.assert_allclose(bundle.from_maps(g, eye).to_dense(), expected, atol=1e-12)
    # normalised: D̂^{-1/2} (D - A) D̂^{-1/2} ⊗ I with D̂ = D + I
    s = 1 / np.sqrt(A.sum(1) + 1)
    normalised = np.kron(s[:, None] * lap * s[None, :], np.eye(d))
    np.testing.assert_allclose(DiagLaplacianBuilder(d)(g, ones).to_dense(), normalised,
                               atol=1e-12)
    np.testing.assert_allclose(GeneralLaplacianBuilder(d)(g, eye).to_dense(), normalised,
                               atol=1e-12)


@pytest.mark.parametrize("sheaf", ["diag", "bundle", "general"])
def test_laplacians_symmetric_psd(sheaf: str) -> None:
    torch.manual_seed(0)
    n = 12
    pairs = torch.randint(0, n, (2, 30))
    g = SheafGraph.from_graph(torch.cat([pairs, pairs.flip(0)], 1), num_nodes=n, dtype=DT)
    for normalise in (False, True):
        if sheaf == "diag":
            L = DiagLaplacianBuilder(3, normalise=normalise, graph_laplacian_channel=True,
                                     signless_laplacian_channel=True)(
                g, torch.randn(g.num_entries, 3, dtype=DT))
        elif sheaf == "bundle":
            b = BundleLaplacianBuilder(3, normalise=normalise, signless_laplacian_channel=True)
            half = torch.rand(g.num_entries, dtype=DT)
            L = b(g, torch.randn(g.num_entries, 3, dtype=DT), half * half[g.reverse])
        else:
            L = GeneralLaplacianBuilder(3, normalise=normalise, graph_laplacian_channel=True)(
                g, torch.randn(g.num_entries, 3, 3, dtype=DT))
        dense = L.to_dense()
        torch.testing.assert_close(dense, dense.t(), atol=1e-12, rtol=0)
        eig = torch.linalg.eigvalsh(dense)
        assert eig.min() > -1e-9
        if normalise:  # augmented normalisation keeps the spectrum below 2
            assert eig.max() < 2.0


def test_bundle_edge_weights_must_be_symmetric_for_symmetry() -> None:
    # the builder uses w_e for both maps of an edge: asymmetric weights give a non-symmetric
    # operator, which is why EdgeWeightLearner symmetrises
    g = graph_of([(0, 1)], 2)
    b = BundleLaplacianBuilder(2)
    params = torch.zeros(g.num_entries, 1, dtype=DT)
    L = b(g, params, torch.tensor([0.5, 0.5], dtype=DT))
    dense = L.to_dense()
    torch.testing.assert_close(dense, dense.t())


@pytest.mark.parametrize("kind", ORTHOGONAL_MAPS)
@pytest.mark.parametrize("d", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthogonal_maps_are_orthogonal(kind: str, d: int, dtype: torch.dtype) -> None:
    if kind == "euler" and d > 3:
        with pytest.raises(ValueError, match="euler"):
            OrthogonalMaps(d, kind)
        return
    maps = OrthogonalMaps(d, kind)
    generator = torch.Generator().manual_seed(d)
    params = 3 * (torch.rand(2000, maps.num_params, dtype=dtype, generator=generator) * 2 - 1)
    Q = maps(params)
    eye = torch.eye(d, dtype=dtype).expand_as(Q)
    err = (Q.transpose(-1, -2) @ Q - eye).abs().max()
    assert err < (1e-12 if dtype == torch.float64 else 1e-6), err
    det = torch.linalg.det(Q.double())
    expected = (-1.0) ** d if kind == "householder" else 1.0
    torch.testing.assert_close(det, torch.full_like(det, expected), atol=1e-5, rtol=0)


def test_euler_d2_is_rotation_by_2pi_p() -> None:
    Q = OrthogonalMaps(2, "euler")(torch.tensor([[0.125]], dtype=DT))
    c = np.cos(np.pi / 4)
    np.testing.assert_allclose(Q[0].numpy(), [[c, -c], [c, c]], atol=1e-12)


def test_householder_is_product_of_reflections() -> None:
    # independent construction: H_k = I - 2 v vᵀ / |v|², v = column k of unit-lower A
    params = torch.randn(1, 3, dtype=DT)
    Q = OrthogonalMaps(3, "householder")(params)[0]
    A = torch.eye(3, dtype=DT)
    A[1, 0], A[2, 0], A[2, 1] = params[0]
    expected = torch.eye(3, dtype=DT)
    for k in range(3):
        v = A[:, k:k + 1]
        expected = expected @ (torch.eye(3, dtype=DT) - 2 * v @ v.t() / (v.t() @ v))
    torch.testing.assert_close(Q, expected)


def test_directed_graph_is_refused() -> None:
    with pytest.raises(ValueError, match="undirected"):
        SheafGraph.from_graph(torch.tensor([[0, 1], [1, 2]]), num_nodes=3)


def test_sparse_matrix_input_and_reverse() -> None:
    A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 1, 2, 0, 0], [1, 0, 2, 1, 0, 1]]),
                                     shape=3)
    g = SheafGraph.from_graph(A)
    row, col = g.row, g.adjacency.col.long()
    assert g.num_entries == 4  # loop and duplicate gone
    assert torch.equal(row[g.reverse], col) and torch.equal(col[g.reverse], row)
    assert g.degree.tolist() == [1.0, 2.0, 1.0]


def test_wrong_map_shapes_name_the_argument() -> None:
    g = graph_of([(0, 1)], 2)
    with pytest.raises(ValueError, match=r"maps must have shape \(E, 3\)"):
        DiagLaplacianBuilder(3)(g, torch.zeros(2, 2, dtype=DT))
    with pytest.raises(ValueError, match="params"):
        BundleLaplacianBuilder(3)(g, torch.zeros(2, 2, dtype=DT))
