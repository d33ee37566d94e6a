"""Data-parallel training (gnnkit.train.distributed) and the loader's shards.

The two tests that spawn processes (2 ranks, gloo, 127.0.0.1 only) cost several seconds each
(every rank imports torch and gnnkit); everything else runs in this process.
"""

from __future__ import annotations

import functools
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional as F

from gnnkit.data.loader import NeighborLoader
from gnnkit.models.sage import SAGE
from gnnkit.sparse import SparseMatrix
from gnnkit.train.distributed import fit_distributed, fit_rank
from gnnkit.train.node_classification import fit_sampled

needs_gloo = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build")


def tiny_task(num_train: int = 40, *, seed: int = 0
              ) -> tuple[torch.Tensor, SparseMatrix, torch.Tensor, torch.Tensor, torch.Tensor,
                         torch.Tensor]:
    """A random graph of 70 nodes, float64 features ``(70, 5)``, 3 classes; the first
    ``num_train`` nodes train, the next 15 validate, the rest test."""
    g = torch.Generator().manual_seed(seed)
    n = 70
    A = SparseMatrix.from_edge_index(torch.randint(0, n, (2, 350), generator=g), shape=n)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    train = torch.zeros(n, dtype=torch.bool)
    train[:num_train] = True
    val = torch.zeros(n, dtype=torch.bool)
    val[num_train:num_train + 15] = True
    return x, A, y, train, val, ~(train | val)


def sage(seed: int, dropout: float = 0.0) -> SAGE:
    torch.manual_seed(seed)
    return SAGE(5, 8, 3, dropout=dropout).double()


# ---------------------------------------------------------------------------- the shards
def test_shards_are_disjoint_equal_and_make_up_the_global_batches() -> None:
    _, A, *_ = tiny_task()
    seeds = torch.arange(0, 70, 2)  # S = 35: one seed sits out each epoch with 2 ranks
    world = 2
    shards = [NeighborLoader(A, seeds, [2], batch_size=4, shuffle=True, seed=9,
                             shard=(rank, world)) for rank in range(world)]
    single = NeighborLoader(A, seeds, [2], batch_size=4 * world, shuffle=True, seed=9)
    left_out = []
    for epoch in range(4):
        per_rank = []
        for loader in shards:
            loader.set_epoch(epoch)
            per_rank.append([b.n_id[: b.num_seeds] for b in loader])
        assert len(per_rank[0]) == len(per_rank[1]) == len(shards[0]) == 5  # 17 seeds: 4·4+1
        assert [b.numel() for b in per_rank[0]] == [b.numel() for b in per_rank[1]]
        flat = [torch.cat(batches).tolist() for batches in per_rank]
        assert not set(flat[0]) & set(flat[1])
        union = set(flat[0]) | set(flat[1])
        assert len(union) == 34 and union <= set(seeds.tolist())
        left_out.append(frozenset(set(seeds.tolist()) - union))
        # step b of both ranks = step b of one process with the global batch size
        global_batches = single.batches(epoch)
        for b, batch in enumerate(global_batches[: len(per_rank[0])]):
            together = torch.cat([per_rank[0][b], per_rank[1][b]])
            if b < len(per_rank[0]) - 1:
                assert sorted(together.tolist()) == sorted(batch.tolist())
            else:  # the last global batch holds the seed that sits out
                assert set(together.tolist()) < set(batch.tolist())
    assert len(set(left_out)) > 1  # a different seed sits out per epoch
    # a shard of one is the whole loader
    whole = NeighborLoader(A, seeds, [2], batch_size=4, shuffle=True, seed=9, shard=(0, 1))
    plain = NeighborLoader(A, seeds, [2], batch_size=4, shuffle=True, seed=9)
    assert all(torch.equal(a, b) for a, b in zip(whole.batches(2), plain.batches(2),
                                                   strict=True))


def test_shard_and_launcher_arguments_are_checked() -> None:
    x, A, y, train, val, test = tiny_task()
    seeds = torch.arange(10)
    with pytest.raises(ValueError, match=r"shard=\(2, 2\): rank must lie in \[0, 2\)"):
        NeighborLoader(A, seeds, [2], shard=(2, 2))
    with pytest.raises(ValueError, match="world_size must be at least 1"):
        NeighborLoader(A, seeds, [2], shard=(0, 0))
    with pytest.raises(TypeError, match="shard must be a pair"):
        NeighborLoader(A, seeds, [2], shard=(0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rank=1 disagrees with shard"):
        NeighborLoader(A, seeds, [2], rank=1, shard=(0, 2))
    model = sage(0)
    args = (model, x, A, y, train, val, test)
    with pytest.raises(ValueError, match="world_size must be a positive int, got 0"):
        fit_distributed(0, *args, fanouts=[2], batch_size=4)
    with pytest.raises(ValueError, match=r"batch_size=5 .* not divisible by world_size=2"):
        fit_distributed(2, *args, fanouts=[2], batch_size=5)
    with pytest.raises(ValueError, match="backend must be"):
        fit_distributed(2, *args, fanouts=[2], batch_size=4, backend="mpi")
    with pytest.raises(ValueError, match="timeout"):
        fit_distributed(2, *args, fanouts=[2], batch_size=4, backend="gloo", timeout=0)
    with pytest.raises(ValueError, match="epochs"):
        fit_rank(*args, fanouts=[2], batch_size=4, epochs=0)


def test_one_process_is_fit_sampled() -> None:
    """Without a process group fit_rank is fit_sampled: same seed, same weights."""
    x, A, y, train, val, test = tiny_task()
    kwargs = {"fanouts": [3, 2], "batch_size": 16, "seed": 5, "lr": 0.01, "epochs": 3}
    a, b = sage(1, dropout=0.5), sage(2, dropout=0.5)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(7)
    ours = fit_rank(a, x, A, y, train, val, test, **kwargs)
    torch.manual_seed(7)
    reference = fit_sampled(b, x, A, y, train, val, test, **kwargs)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    for ours_entry, ref_entry in zip(ours.history, reference.history, strict=True):
        assert ours_entry["val_loss"] == ref_entry["val_loss"]
        # fit_sampled reports its epoch loss through a float32 tensor
        assert ours_entry["loss"] == pytest.approx(ref_entry["loss"], rel=1e-6)


# ---------------------------------------------------------------------------- 2 processes
@needs_gloo
def test_two_ranks_equal_one_process_on_the_union_of_their_batches() -> None:
    """4 SGD steps (2 epochs × 2 batches of 20 = 10 per rank), float64, all neighbours, no
    dropout: the two-rank run's weights are those of one process stepping on the union of
    the ranks' batches, to 1e-12 (float rounding of the gradient average). 41 training
    nodes: the one at position 40 of each epoch's permutation sits out."""
    x, A, y, train, val, test = tiny_task(41)
    model = sage(3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    sgd = functools.partial(torch.optim.SGD, lr=0.5)
    result = fit_distributed(2, model, x, A, y, train, val, test, fanouts=[-1, -1],
                             batch_size=20, seed=11, epochs=2, optimizer=sgd, threads=1,
                             timeout=60)
    assert result.world_size == 2 and result.epochs == 2
    for key, value in result.rank_states[0].items():
        assert torch.equal(value, result.rank_states[1][key])  # bit-identical replicas
        assert torch.equal(value, model.state_dict()[key])  # loaded into the caller's model

    # one process, written out by hand: the global batches of the shared permutation
    reference = sage(0)
    reference.load_state_dict(initial)
    loader = NeighborLoader(A, train.nonzero().flatten(), [-1, -1], batch_size=20,
                            shuffle=True, seed=11)
    losses = []
    for _ in range(2):
        total = 0.0
        for batch in loader:
            if batch.num_seeds < 20:  # the left-over seed (position 40)
                continue
            reference.zero_grad()
            seeds = batch.n_id[: batch.num_seeds]
            loss = F.cross_entropy(reference(x[batch.n_id], list(batch.matrices)), y[seeds])
            loss.backward()
            with torch.no_grad():
                for p in reference.parameters():
                    p -= 0.5 * p.grad
            total += float(loss.detach()) * batch.num_seeds
        losses.append(total / 40)
    for key, value in reference.state_dict().items():
        assert not torch.equal(value, initial[key])
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=1e-12)
    assert [e["loss"] for e in result.history] == pytest.approx(losses, rel=1e-12)


@needs_gloo
def test_uneven_seeds_sampled_fit_finishes_with_identical_weights() -> None:
    """41 training nodes on 2 ranks (one sits out each epoch), per-rank batches of 6 with a
    short last one, sampled fanouts, dropout, Adam, early stopping: both ranks finish the same
    epochs with the same weights, and a second run with the same seed repeats the first.
    Started by fork where the platform has it (no imports in the ranks: fast); the other test
    covers spawn."""
    start_method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    x, A, y, train, val, test = tiny_task(41)
    model, again = sage(4, dropout=0.5), sage(4, dropout=0.5)
    before = [p.detach().clone() for p in model.parameters()]
    kwargs = {"fanouts": [3, 2], "batch_size": 12, "seed": 2, "lr": 0.05, "epochs": 6,
              "stopping": "best_val_loss", "patience": 2, "keep_best_state": True,
              "threads": 1, "timeout": 60, "start_method": start_method}
    result = fit_distributed(2, model, x, A, y, train, val, test, **kwargs)
    assert 1 <= result.epochs <= 6 and len(result.history) == result.epochs
    assert result.best_state is not None and 1 <= result.selected_epoch <= result.epochs
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in result.history)
    for key, value in result.rank_states[0].items():
        assert torch.equal(value, result.rank_states[1][key])
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    # reproducible: the same seed gives the same samples, dropout masks and weights
    repeat = fit_distributed(2, again, x, A, y, train, val, test, **kwargs)
    assert [e["val_loss"] for e in repeat.history] == [e["val_loss"] for e in result.history]
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q)


class FailsOnRankOne(SAGE):
    """A SAGE whose sampled forward raises on rank 1 (a crashed rank)."""

    def forward_blocks(self, x: torch.Tensor, matrices: list[SparseMatrix]) -> torch.Tensor:
        if dist.get_rank() == 1:
            raise RuntimeError("rank 1 fails on purpose")
        return super().forward_blocks(x, matrices)


@needs_gloo
@pytest.mark.skipif("fork" not in mp.get_all_start_methods(),
                    reason="needs the fork start method (the model class lives in this test)")
def test_a_crashed_rank_is_an_error_not_a_hang() -> None:
    """Rank 1 raises in its first forward while rank 0 waits in the gradient all-reduce: the
    launcher stops rank 0 and re-raises rank 1's error well before the collective timeout."""
    x, A, y, train, val, test = tiny_task(40)
    torch.manual_seed(0)
    model = FailsOnRankOne(5, 8, 3).double()
    started = time.perf_counter()
    # the launcher lets the rank that failed first report (the surviving rank waits before
    # raising its "closed by peer" error); on a heavily loaded machine the survivor can still
    # be reported first, which is an error too, not a hang: the point of this test
    with pytest.raises(mp.ProcessRaisedException,
                       match=r"rank 1 fails on purpose|closed by peer|reset by peer"):
        fit_distributed(2, model, x, A, y, train, val, test, fanouts=[2, 2], batch_size=8,
                        seed=0, epochs=2, threads=1, timeout=60, start_method="fork")
    assert time.perf_counter() - started < 30
