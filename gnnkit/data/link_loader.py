"""Mini-batches of seed pairs with their sampled neighbourhoods: :class:`LinkNeighborLoader`.

The link-level twin of :class:`gnnkit.data.loader.NeighborLoader`: it splits the ``S`` seed
pairs (the positives of a link-prediction task) into batches, optionally shuffled per epoch,
and turns every batch into a :class:`~gnnkit.data.link_sampling.LinkSample` with
:func:`gnnkit.data.link_sampling.sample_links` (negatives drawn per batch or given, the
endpoints' neighbourhoods sampled), inside a ``torch.utils.data.DataLoader``.

Shuffling, sharding (``shard=(rank, world_size)``: the shared permutation dealt out
round-robin, the last ``S mod world_size`` pairs sitting the epoch out), ``drop_last``,
``set_epoch`` and the seeding are those of ``NeighborLoader`` (its module docstring), with pairs
in place of seed nodes: the shuffle of epoch ``e`` comes from
:func:`~gnnkit.data.sampling.sampling_generator` ``(seed, e, rank, 0)`` (rank 0's stream for a
shard) and batch ``b``'s negatives and neighbours from ``(seed, e, rank, 1 + b)``, so a batch
depends neither on ``num_workers`` nor on the order the workers run in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from gnnkit.sparse import SparseMatrix

from .link_sampling import LinkSample, _check_negative_count, check_pairs, sample_links
from .loader import _EpochLoader
from .sampling import check_fanouts, sampling_generator

__all__ = ["LinkNeighborLoader"]


class _EpochLinkBatches(torch.utils.data.Dataset):
    """Map-style dataset of one epoch: item ``b`` is the :class:`LinkSample` of batch ``b``
    (``batches[b]`` = positions in ``pairs``)."""

    def __init__(self, A: SparseMatrix, pairs: Tensor, negatives: int | Tensor,
                 batches: list[Tensor], fanouts: tuple[int, ...], replace: bool, seed: int,
                 epoch: int, rank: int) -> None:
        self.A, self.pairs, self.negatives, self.batches = A, pairs, negatives, batches
        self.fanouts, self.replace = fanouts, replace
        self.seed, self.epoch, self.rank = seed, epoch, rank

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> LinkSample:
        ids = self.batches[index]
        negatives = self.negatives
        if isinstance(negatives, Tensor):
            # (2, S, k): the k given negatives of every pair of the batch, pair by pair
            negatives = negatives[:, ids].reshape(2, -1)
        generator = sampling_generator(self.seed, self.epoch, self.rank, 1 + index,
                                       device=self.A.device)
        sample = sample_links(self.A, self.pairs[:, ids], self.fanouts, negatives=negatives,
                              replace=self.replace, generator=generator)
        # a copy: the batch is a view of the epoch's whole permutation, which a worker would
        # otherwise pickle along with every batch
        return dataclasses.replace(sample, pair_ids=ids.clone())


def _check_loader_negatives(negatives: object, num_pairs: int, num_nodes: int,
                            device: torch.device) -> int | Tensor:
    """``negatives`` as an int ``>= 0`` or an int64 ``(2, S, k)`` tensor aligned with the
    ``S`` pairs, else an error saying which form is expected."""
    if isinstance(negatives, Tensor):
        if negatives.dim() != 3 or negatives.shape[:2] != (2, num_pairs):
            hint = (" (one negative per pair: negatives.unsqueeze(-1))"
                    if tuple(negatives.shape) == (2, num_pairs) else "")
            raise ValueError(f"negatives must have shape (2, {num_pairs}, k): k negative pairs "
                             f"per seed pair, batched with it; got {tuple(negatives.shape)}"
                             f"{hint}. For negatives not tied to a pair, run a second loader "
                             "over them (labels from pair_ids)")
        flat = check_pairs(negatives.reshape(2, -1), num_nodes, "negatives", device=device)
        return flat.view(negatives.shape)
    negatives = _check_negative_count(negatives, "(2, S, k)")
    if negatives and num_nodes < 2:
        raise ValueError(f"negative sampling needs at least two nodes, A has {num_nodes}")
    return negatives


class LinkNeighborLoader(_EpochLoader):
    """Iterate over mini-batches of seed ``pairs`` with negatives and the sampled
    ``len(fanouts)``-hop neighbourhoods of their endpoints, as
    :class:`~gnnkit.data.link_sampling.LinkSample` items.

    Args:
        A: the square graph ``N × N`` (row = target, column = source).
        pairs: ``(2, S)`` int64 seed pairs (the positives), row 0 = sources, row 1 =
            targets.
        fanouts: entries kept per node at each hop (``-1`` = all), e.g. ``[25, 10]``.
        negatives: an int ``k``: ``k`` uniform negatives per pair of a batch, drawn with the
            batch (:func:`~gnnkit.data.link_sampling.sample_links`); or a ``(2, S, k)`` int64
            tensor: the given negatives ``negatives[:, i]`` of pair ``i``, batched with it.
        batch_size: seed pairs per batch.
        shuffle: reshuffle the pairs every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        replace: sample neighbours with replacement.
        seed: the integer every draw is derived from (module docstring); ``None`` draws one
            from ``generator`` (or torch's global generator) once, here.
        generator: used only to draw ``seed`` when it is ``None``.
        rank: the process rank (multi-process runs; 0 alone). With ``shard`` leave it at 0
            (or equal to the shard's rank).
        shard: ``(rank, world_size)``: yield only rank ``rank``'s disjoint share of every
            epoch's pairs, as :class:`~gnnkit.data.loader.NeighborLoader` does with seeds;
            ``None``: all pairs.
        num_workers, pin_memory, **loader_options: passed to ``torch.utils.data.DataLoader``;
            ``batch_size``, ``shuffle``, ``sampler`` and ``collate_fn`` are the loader's own.

    Every item's ``pair_ids`` are the positions of its positives in ``pairs`` (to gather
    per-pair data, e.g. ``edge_label[batch.pair_ids]``). ``iter(loader)`` runs epoch
    :attr:`epoch` and then increments it; ``set_epoch`` sets it explicitly.

    Examples:
        >>> import torch
        >>> from gnnkit.sparse import SparseMatrix
        >>> A = SparseMatrix.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
        >>> pairs = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> loader = LinkNeighborLoader(A, pairs, [2], negatives=1, batch_size=2, seed=0)
        >>> [(batch.num_positives, batch.num_negatives) for batch in loader]
        [(2, 2), (1, 1)]
        >>> shard = LinkNeighborLoader(A, pairs, [2], seed=0, shard=(1, 2))
        >>> [batch.pair_ids.tolist() for batch in shard]  # pair 2 sits out
        [[1]]
    """

    def __init__(self, A: SparseMatrix, pairs: Tensor, fanouts: Sequence[int], *,
                 negatives: int | Tensor = 0, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, replace: bool = False, seed: int | None = None,
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
        if A.num_rows != A.num_cols:
            raise ValueError(f"A must be square, got shape {A.shape}")
        self.A = A
        # checked once here: a bad pair fails now, not in a worker
        self.pairs = check_pairs(pairs, A.num_rows, "pairs", device=A.device)
        self.negatives = _check_loader_negatives(negatives, self.pairs.shape[1], A.num_rows,
                                                 A.device)
        self.fanouts = check_fanouts(fanouts)
        self.replace = replace

    @property
    def num_pairs(self) -> int:
        """Seed pairs this loader yields per epoch: all of them, or ``⌊S / world_size⌋`` of
        a shard."""
        return self._share(self.pairs.shape[1])

    def _num_items(self) -> int:
        return self.pairs.shape[1]

    def batches(self, epoch: int) -> list[Tensor]:
        """The positions in ``pairs`` of every batch of ``epoch`` (shuffled when
        :attr:`shuffle`)."""
        return self._split(torch.arange(self.pairs.shape[1], device=self.pairs.device), epoch)

    def __iter__(self) -> Iterator[LinkSample]:
        epoch = self._next_epoch()
        yield from self._run(_EpochLinkBatches(self.A, self.pairs, self.negatives,
                                               self.batches(epoch), self.fanouts, self.replace,
                                               self.seed, epoch, self.rank))
