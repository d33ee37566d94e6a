"""Mini-batches of seed nodes with their sampled neighbourhoods: :class:`NeighborLoader`.

The loader splits the seed nodes into batches (optionally shuffled per epoch) and samples
every batch's neighbourhood with :func:`gnnkit.data.sampling.sample_neighbors`. Sampling
runs inside a ``torch.utils.data.DataLoader`` (``num_workers`` processes, ``pin_memory``),
one item per batch.

**Determinism.** All randomness is derived from one integer ``seed`` with
:func:`~gnnkit.data.sampling.sampling_generator`: the shuffle of epoch ``e`` from
``(seed, e, rank, 0)`` and the sample of batch ``b`` from ``(seed, e, rank, 1 + b)``. A batch
therefore does not depend on which worker draws it, on ``num_workers``, nor on what ran
before: the same ``(seed, epoch)`` always gives the same batches.

**Sharding for multi-process training.** ``shard=(rank, world_size)`` makes the loader yield
rank ``rank``'s part of every epoch: all ranks draw the *same* permutation of the seeds (from
``(seed, e, 0, 0)``, the one a single-process loader with this ``seed`` draws), its first
``world_size · ⌊S / world_size⌋`` entries are dealt out round-robin (rank ``r`` takes positions
``r, r + world_size, …``, as ``torch.utils.data.DistributedSampler`` does) and the last
``S mod world_size`` seeds sit this epoch out — with ``shuffle=True`` a different few every
epoch, without it always the same last few. Every rank thus has ``⌊S / world_size⌋`` seeds
and the same number of batches of the same sizes (no rank waits for a batch another rank
does not have), the shards are disjoint, and batch ``b`` of all ranks together is batch ``b``
of a single-process loader with ``batch_size · world_size`` (for ``S`` a multiple of
``world_size``). Neighbour samples use the shard's rank in their stream,
``(seed, e, rank, 1 + b)``.

**Memory.** Each ``iter(loader)`` builds a fresh ``DataLoader`` over that epoch's batches;
nothing is kept between epochs except the epoch counter, so memory does not grow with the
number of epochs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix

from .sampling import (
    SampledSubgraph,
    check_fanouts,
    check_seeds,
    sample_neighbors,
    sampling_generator,
)

__all__ = ["NeighborLoader"]


class _EpochBatches(torch.utils.data.Dataset):
    """Map-style dataset of one epoch: item ``b`` is the sampled subgraph of batch ``b``."""

    def __init__(self, A: SparseMatrix, batches: list[Tensor], fanouts: tuple[int, ...],
                 replace: bool, seed: int, epoch: int, rank: int) -> None:
        self.A, self.batches, self.fanouts, self.replace = A, batches, fanouts, replace
        self.seed, self.epoch, self.rank = seed, epoch, rank

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> SampledSubgraph:
        generator = sampling_generator(self.seed, self.epoch, self.rank, 1 + index,
                                       device=self.A.device)
        return sample_neighbors(self.A, self.batches[index], self.fanouts,
                                replace=self.replace, generator=generator)


def _as_seed_ids(seeds: Tensor, num_nodes: int) -> Tensor:
    if not isinstance(seeds, Tensor):
        raise TypeError(f"seeds must be a torch.Tensor (int64 ids or a bool mask), got "
                        f"{type(seeds).__name__}")
    if seeds.dtype == torch.bool:
        if seeds.shape != (num_nodes,):
            raise ValueError(f"a boolean seed mask must have shape ({num_nodes},), got "
                             f"{tuple(seeds.shape)}")
        return seeds.nonzero().flatten()
    return seeds


def _check_shard(shard: object) -> tuple[int, int] | None:
    """``shard`` as ``(rank, world_size)`` with ``0 <= rank < world_size``, else an error."""
    if shard is None:
        return None
    if (not isinstance(shard, (tuple, list)) or len(shard) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in shard)):
        raise TypeError(f"shard must be a pair of ints (rank, world_size), got {shard!r}")
    rank, world_size = int(shard[0]), int(shard[1])
    if world_size < 1:
        raise ValueError(f"shard=({rank}, {world_size}): world_size must be at least 1")
    if not 0 <= rank < world_size:
        raise ValueError(f"shard=({rank}, {world_size}): rank must lie in "
                         f"[0, {world_size}) (one shard per process)")
    return rank, world_size


def _identity(item: Any) -> Any:
    return item


class _EpochLoader:
    """What every loader over seeds shares (:class:`NeighborLoader`, and
    :class:`gnnkit.data.link_loader.LinkNeighborLoader` over seed pairs): the batch options,
    the epoch counter, the shuffle/shard/split of one epoch's items and the ``DataLoader``
    that runs a map-style dataset of one epoch, one item per batch."""

    def __init__(self, *, batch_size: int, shuffle: bool, drop_last: bool, seed: int | None,
                 generator: torch.Generator | None, rank: int,
                 shard: tuple[int, int] | None, num_workers: int, pin_memory: bool,
                 loader_options: dict[str, Any]) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        for key in ("batch_size", "shuffle", "sampler", "batch_sampler", "collate_fn"):
            if key in loader_options:
                raise TypeError(f"{type(self).__name__} sets the DataLoader's {key} itself; "
                                f"remove {key}= from the options")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self.seed = int(seed)
        self.shard = _check_shard(shard)
        if self.shard is not None:
            if rank not in (0, self.shard[0]):
                raise ValueError(f"rank={rank} disagrees with shard={self.shard}: with a shard "
                                 "the rank is the shard's; leave rank at 0")
            rank = self.shard[0]
        self.rank = rank
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.loader_options = loader_options
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter(loader)`` runs (its shuffle and samples)."""
        self.epoch = int(epoch)

    def _share(self, num_items: int) -> int:
        """Items yielded per epoch out of ``num_items``: all, or ``⌊S / world_size⌋``."""
        return num_items if self.shard is None else num_items // self.shard[1]

    def _num_items(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        full, rest = divmod(self._share(self._num_items()), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _split(self, items: Tensor, epoch: int) -> list[Tensor]:
        """``items`` ``(S,)`` shuffled for ``epoch`` (when :attr:`shuffle`), dealt out to
        the shard and cut into batches (module docstring)."""
        if self.shuffle:
            # a shard's permutation is the one all ranks share: rank 0's stream
            rank = 0 if self.shard is not None else self.rank
            generator = sampling_generator(self.seed, epoch, rank, 0)
            items = items[torch.randperm(items.numel(), generator=generator).to(items.device)]
        if self.shard is not None:
            rank, world_size = self.shard
            items = items[: self._share(items.numel()) * world_size][rank::world_size]
        parts = list(items.split(self.batch_size))
        if parts and self.drop_last and parts[-1].numel() < self.batch_size:
            parts.pop()
        return parts

    def _next_epoch(self) -> int:
        """The epoch ``iter(loader)`` runs now; the counter moves on to the next one."""
        epoch = self.epoch
        self.epoch += 1
        return epoch

    def _run(self, dataset: torch.utils.data.Dataset) -> Iterator[Any]:
        """The items of ``dataset`` (one per batch) through a ``DataLoader``."""
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=None, shuffle=False, collate_fn=_identity,
            num_workers=self.num_workers, pin_memory=self.pin_memory, **self.loader_options)
        yield from loader


class NeighborLoader(_EpochLoader):
    """Iterate over mini-batches of ``seeds`` with their sampled ``len(fanouts)``-hop
    neighbourhoods, as :class:`~gnnkit.data.sampling.SampledSubgraph` items.

    Args:
        A: the square graph ``N × N`` (row = target, column = source).
        seeds: ``(S,)`` int64 node ids (distinct) or an ``(N,)`` bool mask.
        fanouts: entries kept per node at each hop (``-1`` = all), e.g. ``[25, 10]``.
        batch_size: seeds per batch.
        shuffle: reshuffle the seeds every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        replace: sample with replacement.
        seed: the integer every draw is derived from (module docstring); ``None`` draws one
            from ``generator`` (or torch's global generator) once, here.
        generator: used only to draw ``seed`` when it is ``None``.
        rank: the process rank (multi-process runs; 0 alone): seeds the shuffle and the
            samples of this loader's own stream. With ``shard`` leave it at 0 (or equal to
            the shard's rank): the shard's rank is used.
        shard: ``(rank, world_size)``: yield only rank ``rank``'s disjoint share of every
            epoch's seeds (module docstring: the shared permutation, the round-robin deal,
            the ``S mod world_size`` left-over seeds); ``None``: all seeds.
        num_workers, pin_memory, **loader_options: passed to ``torch.utils.data.DataLoader``
            (e.g. ``persistent_workers=False``, ``prefetch_factor``); ``batch_size``,
            ``shuffle``, ``sampler`` and ``collate_fn`` are the loader's own.

    ``iter(loader)`` runs epoch :attr:`epoch` and then increments it; :meth:`set_epoch` sets
    it explicitly (as ``DistributedSampler.set_epoch``).

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[1, 2, 0, 0], [0, 0, 1, 2]]))
        >>> loader = NeighborLoader(A, torch.arange(3), [-1], batch_size=2, seed=0)
        >>> [batch.num_seeds for batch in loader]
        [2, 1]
        >>> shard = NeighborLoader(A, torch.arange(3), [-1], seed=0, shard=(1, 2))
        >>> [batch.n_id[: batch.num_seeds].tolist() for batch in shard]  # seed 2 sits out
        [[1]]
    """

    def __init__(self, A: SparseMatrix, seeds: Tensor, fanouts: Sequence[int], *,
                 batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 replace: bool = False, seed: int | None = None,
                 generator: torch.Generator | None = None, rank: int = 0,
                 shard: tuple[int, int] | None = None,
                 num_workers: int = 0, pin_memory: bool = False, **loader_options: Any
                 ) -> None:
        if not isinstance(A, SparseMatrix):
            raise TypeError(f"A must be a gnnkit SparseMatrix, got {type(A).__name__}")
        super().__init__(batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                         seed=seed, generator=generator, rank=rank, shard=shard,
                         num_workers=num_workers, pin_memory=pin_memory,
                         loader_options=loader_options)
        self.A = A
        self.seeds = _as_seed_ids(seeds, A.num_rows)
        if A.num_rows != A.num_cols:
            raise ValueError(f"A must be square, got shape {A.shape}")
        check_seeds(self.seeds, A.num_rows)  # once here: a bad id fails now, not in a worker
        self.fanouts = check_fanouts(fanouts)
        self.replace = replace

    @property
    def num_seeds(self) -> int:
        """Seeds this loader yields per epoch: all of them, or ``⌊S / world_size⌋`` of a
        shard."""
        return self._share(self.seeds.numel())

    def _num_items(self) -> int:
        return self.seeds.numel()

    def batches(self, epoch: int) -> list[Tensor]:
        """The seed ids of every batch of ``epoch`` (shuffled when :attr:`shuffle`)."""
        return self._split(self.seeds, epoch)

    def __iter__(self) -> Iterator[SampledSubgraph]:
        epoch = self._next_epoch()
        yield from self._run(_EpochBatches(self.A, self.batches(epoch), self.fanouts,
                                           self.replace, self.seed, epoch, self.rank))
