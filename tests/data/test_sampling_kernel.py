"""The C++ sampling kernel against the plain-torch sampler: bit-identical samples for the same
generator state (the same draws, consumed in the same order), on every branch of the
selection; plus the oracles of ``test_sampling.py`` on both paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from test_sampling import check_against_oracle, entries, random_graph

from gnnkit.data import sampling
from gnnkit.data.sampling import SampledSubgraph, sample_neighbors, sampling_generator
from gnnkit.sparse import SparseMatrix, use_backend
from gnnkit.sparse._backends import cpu


@pytest.fixture(scope="module", autouse=True)
def _built() -> Iterator[None]:
    assert cpu.is_available(), "the C++ CPU kernels failed to build (see the RuntimeWarning)"
    yield


@pytest.fixture
def hop_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records every call of the kernel's hop (True when fallback keys were passed), to prove
    that the kernel path (and its rare branch) really ran."""
    calls: list[bool] = []
    real = cpu.sample_hop

    def spy(*args: object) -> tuple:
        calls.append(args[6] is not None)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sampling._cpu_kernels, "sample_hop", spy)
    return calls


def power_law_graph(num_nodes: int, num_edges: int, alpha: float, seed: int) -> SparseMatrix:
    """Endpoints drawn ∝ (rank + 1)^-alpha (the benchmark's generator, small): a few hubs of
    in-degree far above 4 × any fanout used here, many nodes of degree 0 or 1."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64).pow(-alpha)
    ids = torch.randperm(num_nodes, generator=g)
    ends = [ids[torch.multinomial(weights, num_edges, replacement=True, generator=g)]
            for _ in range(2)]
    return SparseMatrix.from_edge_index(torch.stack(ends), shape=num_nodes)


def regular_rows(targets: int, degree: int) -> SparseMatrix:
    """``targets`` rows, each with the same ``degree`` sources (ids ``targets …``)."""
    sources = torch.arange(degree).repeat(targets) + targets
    rows = torch.arange(targets).repeat_interleave(degree)
    return SparseMatrix.from_coo(rows, sources, shape=targets + degree)


def sample_both(A: SparseMatrix, seeds: torch.Tensor, fanouts: list[int], *,
                replace: bool = False, seed: int = 0) -> tuple[SampledSubgraph, SampledSubgraph]:
    """(kernel, reference) samples from the same generator state, asserted bit-identical and
    to have consumed the generator equally."""
    generators = []
    samples = []
    for backend in ("cpu", "reference"):
        generator = sampling_generator(seed)
        with use_backend(backend):
            samples.append(sample_neighbors(A, seeds, fanouts, replace=replace,
                                            generator=generator))
        generators.append(generator)
    kernel, reference = samples
    assert_identical(kernel, reference)
    # the same number of draws: the next numbers of both generators agree
    after = [torch.rand(4, generator=g, dtype=torch.float64) for g in generators]
    assert torch.equal(after[0], after[1])
    return kernel, reference


def assert_identical(a: SampledSubgraph, b: SampledSubgraph) -> None:
    assert a.n_id.dtype == b.n_id.dtype == torch.int64
    assert torch.equal(a.n_id, b.n_id)
    assert a.e_id.dtype == b.e_id.dtype == torch.int64
    assert torch.equal(a.e_id, b.e_id)
    assert a.num_sampled_nodes == b.num_sampled_nodes
    assert a.num_sampled_edges == b.num_sampled_edges
    assert len(a.matrices) == len(b.matrices)
    for x, y in zip(a.matrices, b.matrices, strict=True):
        assert x.shape == y.shape
        assert x.rowptr.dtype == y.rowptr.dtype and torch.equal(x.rowptr, y.rowptr)
        assert x.col.dtype == y.col.dtype and torch.equal(x.col, y.col)
        assert (x.values is None) == (y.values is None)
        if x.values is not None:
            assert torch.equal(x.values, y.values)


# ------------------------------------------------------------------------------ dispatch
def test_kernel_runs_on_cpu_and_the_reference_can_be_forced(
        hop_calls: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)  # automatic choice
    A = random_graph(30, 120, 0)
    seeds = torch.tensor([0, 5])
    cpu_device = torch.device("cpu")
    assert sampling._use_kernel(cpu_device)
    sample_neighbors(A, seeds, [2, 2], generator=sampling_generator(0))
    assert len(hop_calls) == 2  # one kernel call per hop
    with use_backend("reference"):
        assert not sampling._use_kernel(cpu_device)
        sample_neighbors(A, seeds, [2, 2], generator=sampling_generator(0))
    assert len(hop_calls) == 2
    monkeypatch.setenv("GNNKIT_BACKEND", "reference")
    assert not sampling._use_kernel(cpu_device)
    sample_neighbors(A, seeds, [2, 2], generator=sampling_generator(0))
    assert len(hop_calls) == 2
    monkeypatch.setenv("GNNKIT_BACKEND", "cpu")
    assert sampling._use_kernel(cpu_device)
    assert not sampling._use_kernel(torch.device("meta"))  # other devices: plain torch


def test_without_the_extension_the_torch_path_runs(hop_calls: list[bool],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed build (no compiler) leaves the registry without the cpu backend: the sampler
    then runs plain torch, and gives the kernel's sample."""
    from gnnkit.sparse import _backends

    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)  # automatic choice
    A = random_graph(50, 300, 3)
    seeds = torch.tensor([1, 7, 30])
    with_kernel = sample_neighbors(A, seeds, [3, 2], generator=sampling_generator(4))
    assert len(hop_calls) == 2
    monkeypatch.setitem(_backends._loaded, "cpu", None)  # what _load records after a failure
    assert not sampling._use_kernel(torch.device("cpu"))
    without = sample_neighbors(A, seeds, [3, 2], generator=sampling_generator(4))
    assert len(hop_calls) == 2
    assert_identical(with_kernel, without)


# ------------------------------------------------------------------- bit-identical samples
@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("fanouts", [[3], [2, 3], [4, -1, 2], [-1, -1], [10, 5],
                                     [1, 1, 1, 1, 1]])
def test_random_graphs(replace: bool, fanouts: list[int]) -> None:
    for trial in range(3):
        A = random_graph(60, 200 + 150 * trial, trial, values=trial == 1)
        seeds = torch.randperm(60, generator=torch.Generator().manual_seed(trial))[:7]
        kernel, _ = sample_both(A, seeds, fanouts, replace=replace, seed=trial)
        check_against_oracle(A, seeds, fanouts, kernel, replace=replace)


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("fanouts", [[25, 10], [5, 5, 5], [2, -1], [40]])
def test_power_law_graphs_with_hubs(replace: bool, fanouts: list[int]) -> None:
    A = power_law_graph(3000, 40_000, 0.9, seed=1)
    degree = A.degree()
    assert int(degree.max()) >= 4 * 40  # hubs for every fanout used here
    hubs = torch.argsort(degree, descending=True)[:20]
    others = torch.randperm(3000, generator=torch.Generator().manual_seed(2))[:200]
    seeds = torch.cat([hubs, others[~torch.isin(others, hubs)]])
    for seed in range(2):
        kernel, _ = sample_both(A, seeds, fanouts, replace=replace, seed=seed)
        check_against_oracle(A, seeds, fanouts, kernel, replace=replace)


@pytest.mark.parametrize(("degree", "fanout"), [(8, 2), (12, 3), (9, 2)])
def test_hub_rows_that_draw_too_few_distinct_entries(hop_calls: list[bool], degree: int,
                                                     fanout: int) -> None:
    """2k draws with replacement from d >= 4k entries sometimes give fewer than k distinct
    ones (about 1 row in 500 for d = 8, k = 2): those rows are redone with keys drawn after the
    hop's other numbers, on both paths alike."""
    A = regular_rows(3000, degree)
    seeds = torch.arange(3000)
    for seed in range(3):
        kernel, reference = sample_both(A, seeds, [fanout], seed=seed)
        check_against_oracle(A, seeds, [fanout], kernel)
        check_against_oracle(A, seeds, [fanout], reference)
    assert any(hop_calls), "no row needed the fallback: the test lost its point"


@pytest.mark.parametrize("replace", [False, True])
def test_coarse_draws_tie_keys_and_repeat_hub_draws(monkeypatch: pytest.MonkeyPatch,
                                                    hop_calls: list[bool],
                                                    replace: bool) -> None:
    """Uniforms restricted to multiples of 1/8 (both paths draw through ``_uniform``): keys of
    one mid row tie all the time (ties go to the earlier CSR entry on both paths) and hub rows
    with k > 8 never find k distinct entries among 8 possible offsets (all take the
    fallback)."""
    real = sampling._uniform

    def coarse(n: int, generator: torch.Generator | None, device: torch.device
               ) -> torch.Tensor:
        return torch.floor(real(n, generator, device) * 8) / 8

    monkeypatch.setattr(sampling, "_uniform", coarse)
    A = power_law_graph(3000, 40_000, 0.9, seed=4)
    seeds = torch.randperm(3000, generator=torch.Generator().manual_seed(5))[:600]
    for fanouts in ([3, 2], [12, 4], [9, -1]):
        kernel, _ = sample_both(A, seeds, fanouts, replace=replace, seed=6)
        if not replace:
            check_against_oracle(A, seeds, fanouts, kernel)
    assert any(hop_calls) != replace  # the fallback ran (without replacement only)


def test_many_mid_degree_rows() -> None:
    """k < d < 4k on 10^5 rows: one key per entry and one sort of 5 · 10^5 keys in torch (the
    row index then takes 17 of the key's 53 bits), a partial sort per row in C++."""
    A = regular_rows(100_000, 5)
    seeds = torch.randperm(100_000, generator=torch.Generator().manual_seed(0))
    kernel, _ = sample_both(A, seeds, [2], seed=3)
    assert kernel.num_edges == 2 * 100_000


def test_isolated_seeds_duplicates_and_fanout_above_every_degree() -> None:
    # node 3 receives nothing; node 0 receives from 1 three times (duplicates) and from 2
    A = SparseMatrix.from_edge_index(torch.tensor([[1, 1, 1, 2, 0], [0, 0, 0, 0, 1]]),
                                     shape=5)
    for replace in (False, True):
        for fanouts in ([2], [-1], [9, 9], [1, 2, 3], [5, -1]):
            for seeds in (torch.tensor([3]), torch.tensor([0]), torch.tensor([3, 0, 4]),
                          torch.tensor([4, 1])):
                kernel, _ = sample_both(A, seeds, fanouts, replace=replace, seed=1)
                check_against_oracle(A, seeds, fanouts, kernel, replace=replace)
    # fanout above every degree: everything is kept, and nothing is drawn
    A = random_graph(50, 150, 4)
    generator = sampling_generator(0)
    state = generator.get_state()
    sub = sample_neighbors(A, torch.arange(50), [int(A.degree().max()) + 1],
                           generator=generator)
    assert sub.num_edges == A.nnz and torch.equal(generator.get_state(), state)
    sample_both(A, torch.arange(50), [int(A.degree().max()) + 1, 3])


def test_duplicate_entries_drawn_as_distinct_candidates() -> None:
    # a row of 30 stored entries over 3 distinct sources (hub rows for k <= 7, mid above)
    sources = torch.arange(30) % 3 + 1
    A = SparseMatrix.from_edge_index(torch.stack([sources, torch.zeros(30, dtype=torch.long)]),
                                     shape=4)
    for fanout in (2, 7, 8, 29, 30):
        for replace in (False, True):
            kernel, _ = sample_both(A, torch.tensor([0]), [fanout, 2], replace=replace)
            check_against_oracle(A, torch.tensor([0]), [fanout, 2], kernel, replace=replace)


def test_empty_graph_and_empty_seeds() -> None:
    empty = SparseMatrix.from_edge_index(torch.zeros(2, 0, dtype=torch.long), shape=6)
    for replace in (False, True):
        kernel, _ = sample_both(empty, torch.tensor([5, 1]), [3, -1], replace=replace)
        assert kernel.num_edges == 0 and kernel.n_id.tolist() == [5, 1]
        kernel, _ = sample_both(empty, torch.zeros(0, dtype=torch.long), [2], replace=replace)
        assert kernel.num_nodes == 0 and kernel.matrices[0].shape == (0, 0)
    A = random_graph(20, 60, 1)
    kernel, _ = sample_both(A, torch.zeros(0, dtype=torch.long), [2, -1])
    assert kernel.num_nodes == 0 and [m.shape for m in kernel.matrices] == [(0, 0), (0, 0)]


def test_one_seed_many_hops_grows_the_relabelling_map() -> None:
    """One seed whose neighbourhood reaches thousands of nodes: the kernel's hash map starts
    at 16 slots and grows many times."""
    A = power_law_graph(5000, 30_000, 0.7, seed=3)
    seed_node = torch.argmax(A.degree()).reshape(1)
    for replace in (False, True):
        kernel, _ = sample_both(A, seed_node, [-1, 4, 3, 2, 2, 1], replace=replace, seed=5)
        assert kernel.num_nodes > 1000
        check_against_oracle(A, seed_node, [-1, 4, 3, 2, 2, 1], kernel, replace=replace)


@pytest.mark.parametrize("replace", [False, True])
def test_int32_and_int64_structures(replace: bool) -> None:
    A = power_law_graph(2000, 20_000, 0.8, seed=5)
    A32 = A.index_type(torch.int32)
    assert A32.col.dtype == torch.int32
    seeds = torch.arange(0, 2000, 7)
    k64, _ = sample_both(A, seeds, [6, 3], replace=replace, seed=2)
    k32, _ = sample_both(A32, seeds, [6, 3], replace=replace, seed=2)
    assert_identical(k32, k64)


def test_values_and_non_contiguous_seeds() -> None:
    A = random_graph(80, 600, 6, values=True)
    seeds = torch.arange(80)[::4]
    assert not seeds.is_contiguous()
    kernel, _ = sample_both(A, seeds, [3, 2], seed=4)
    assert torch.equal(kernel.matrices[0].values, A.values[kernel.e_id])


def test_global_generator_is_consumed_identically() -> None:
    A = random_graph(100, 900, 2)
    seeds = torch.arange(0, 100, 3)
    out = []
    for backend in ("cpu", "reference"):
        torch.manual_seed(123)
        with use_backend(backend):
            out.append(sample_neighbors(A, seeds, [4, 4]))
        out.append(torch.rand(3))
    assert_identical(out[0], out[2])
    assert torch.equal(out[1], out[3])


# --------------------------------------------------------------------------- determinism
def test_deterministic_and_independent_of_threads() -> None:
    """Same generator state, same sample, whatever the thread count (large enough for the
    rows to be split into parallel blocks)."""
    A = power_law_graph(20_000, 200_000, 0.8, seed=7)
    seeds = torch.randperm(20_000, generator=torch.Generator().manual_seed(1))[:4000]
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 2, 1):
            torch.set_num_threads(count)
            for replace in (False, True):
                results.append(sample_neighbors(A, seeds, [10, 5], replace=replace,
                                                generator=sampling_generator(9)))
    finally:
        torch.set_num_threads(threads)
    for r in range(2):
        assert_identical(results[r], results[r + 2])
        assert_identical(results[r], results[r + 4])
    assert results[0].num_edges > 10_000


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_errors_are_the_same_on_both_paths(backend: str) -> None:
    A = random_graph(10, 30, 0)
    with use_backend(backend):
        with pytest.raises(ValueError, match=r"fanouts\[1\] = 0"):
            sample_neighbors(A, torch.tensor([0]), [2, 0])
        with pytest.raises(ValueError, match=r"fanouts\[0\] = -2"):
            sample_neighbors(A, torch.tensor([0]), [-2])
        with pytest.raises(ValueError, match="empty"):
            sample_neighbors(A, torch.tensor([0]), [])
        with pytest.raises(TypeError, match="sequence"):
            sample_neighbors(A, torch.tensor([0]), 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"\[0, 10\).*10"):
            sample_neighbors(A, torch.tensor([0, 10]), [2])
        with pytest.raises(TypeError, match=r"int64.*int32"):
            sample_neighbors(A, torch.tensor([0], dtype=torch.int32), [2])
        with pytest.raises(ValueError, match="duplicate"):
            sample_neighbors(A, torch.tensor([1, 1]), [2])
        with pytest.raises(ValueError, match="square"):
            sample_neighbors(SparseMatrix.from_coo(torch.tensor([0]), torch.tensor([1]),
                                                   shape=(1, 2)), torch.tensor([0]), [1])
        with pytest.raises(TypeError, match="SparseMatrix"):
            sample_neighbors(entries(A), torch.tensor([0]), [1])  # type: ignore[arg-type]


def test_kernel_rejects_a_wrong_number_of_draws() -> None:
    """The protocol guard: a caller whose draws do not match the plan gets an error, not a
    silently different sample."""
    A = regular_rows(4, 10)
    info, n_first, n_keys = cpu.sample_hop_plan(A.rowptr, torch.arange(4), 3, False)
    assert (n_first, n_keys) == (0, 40)  # 3 < 10 < 12: mid rows, one key per entry
    table = cpu.sample_table(torch.arange(4))
    with pytest.raises(RuntimeError, match="expected 0 and 40 random numbers"):
        cpu.sample_hop(A.col, info, 3, False, torch.rand(0, dtype=torch.float64),
                       torch.rand(39, dtype=torch.float64), None, table, 4)


def test_loader_uses_the_kernel(hop_calls: list[bool], monkeypatch: pytest.MonkeyPatch
                                ) -> None:
    from gnnkit.data.loader import NeighborLoader

    monkeypatch.delenv("GNNKIT_BACKEND", raising=False)  # automatic choice
    A = random_graph(80, 400, 4)
    batches = list(NeighborLoader(A, torch.arange(80), [4, 2], batch_size=16, seed=3))
    assert len(batches) == 5 and len(hop_calls) == 10
