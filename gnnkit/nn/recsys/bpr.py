"""Bayesian personalised ranking (Rendle et al., UAI 2009) as LightGCN trains with it: the
triple sampler, the loss, the L2 penalty, and the base class of BPR-trained embedding models.

* :func:`check_interactions` — validate ``(2, N)`` user–item pairs (named errors);
* :class:`BPRSampler` — one epoch of ``(user, positive, negative)`` triples, three schemes
  (:data:`BPR_SCHEMES`), negatives by vectorised rejection; for objectives with many
  negatives per positive (UltraGCN), an epoch of positives
  (:meth:`BPRSampler.sample_positives`) and ``(B, N)`` negative blocks
  (:meth:`BPRSampler.negative_block`, uniform or excluding the user's positives);
* :func:`bpr_loss` — ``mean softplus(s_neg − s_pos)``;
* :func:`bpr_l2_penalty` — LightGCN's ``½ (‖e_u‖² + ‖e_i‖² + ‖e_j‖²) / B`` on the batch's
  layer-0 embeddings;
* :class:`BPRRecommender` — user/item embedding tables, scores as dot products, and the BPR
  objective of a batch (:class:`~gnnkit.nn.recsys.MFBPR`,
  :class:`~gnnkit.nn.recsys.LightGCN` and :class:`~gnnkit.nn.recsys.UltraGCN` subclass it;
  the last overrides :meth:`BPRRecommender.objective`).

Interactions are ``(2, N)`` int64 tensors: row 0 user ids in ``[0, U)``, row 1 item ids in
``[0, I)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gnnkit.sparse import pair_keys, ptr_from_index, split_keys

__all__ = [
    "BPR_SCHEMES",
    "BPRRecommender",
    "BPRSampler",
    "BPRTriples",
    "bpr_l2_penalty",
    "bpr_loss",
    "check_interactions",
]

#: sampling schemes of :class:`BPRSampler`:
#:
#: * ``interaction`` — every distinct training interaction ``(u, i)`` once per epoch, in a
#:   random order, each with one negative (the usual "epoch = one pass over the data");
#: * ``uniform-user`` — LightGCN-PyTorch's ``UniformSample_original_python``: ``N`` users
#:   drawn uniformly *with replacement from all* ``U`` users (``N`` = number of training
#:   interactions); draws of users without training items are dropped; each kept draw gets
#:   a positive uniform among the user's items and a negative;
#: * ``stratified-user`` — LightGCN-PyTorch's C++ extension ``sample_negative`` (used when
#:   ``cppimport`` is installed): every user gets exactly ``N // U`` triples (users without
#:   items are skipped here; the C++ code would divide by zero on them).
#:
#: The TensorFlow code of the paper draws each batch of ``B`` distinct users uniformly from
#: the users that have training items (``rd.sample(exist_users, B)``, ``N // B + 1`` batches)
#: — per triple the same distribution as ``uniform-user``.
BPR_SCHEMES = ("interaction", "uniform-user", "stratified-user")

#: rejection rounds of :meth:`BPRSampler.negatives` before it gives up (a user with a single
#: admissible item among 10⁶ needs ~10⁶ rounds only with negligible probability; reaching
#: this means a bug, not bad luck)
MAX_REJECTION_ROUNDS = 100_000


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_interactions(pairs: object, num_users: int, num_items: int,
                       name: str = "interactions") -> Tensor:
    """``pairs`` as a ``(2, N)`` int64 tensor of ``(user, item)`` ids, or an error naming
    ``name``, what was found and the fix.

    Raises:
        TypeError: not an integer tensor.
        ValueError: wrong shape, or a user id outside ``[0, num_users)`` / an item id outside
            ``[0, num_items)`` (the message gives the offending range).
    """
    num_users = _check_size("num_users", num_users)
    num_items = _check_size("num_items", num_items)
    if not isinstance(pairs, Tensor) or pairs.dtype not in (torch.int32, torch.int64):
        kind = pairs.dtype if isinstance(pairs, Tensor) else type(pairs).__name__
        raise TypeError(f"{name} must be an int64 (or int32) torch.Tensor of (user, item) "
                        f"pairs, got {kind}")
    if pairs.dim() != 2 or pairs.shape[0] != 2:
        raise ValueError(f"{name} must have shape (2, N): row 0 users, row 1 items; got "
                         f"{tuple(pairs.shape)} (transpose a (N, 2) array with .t())")
    pairs = pairs.long()
    if pairs.numel():
        for row, what, bound, size in ((0, "user", num_users, "num_users"),
                                       (1, "item", num_items, "num_items")):
            low, high = int(pairs[row].min()), int(pairs[row].max())
            if low < 0 or high >= bound:
                raise ValueError(f"{name}[{row}] holds {what} ids {low} … {high} outside "
                                 f"[0, {bound}) ({size}={bound}); remap the ids or pass the "
                                 f"right {size}")
    return pairs


class BPRTriples(NamedTuple):
    """One epoch (or batch) of BPR triples, each ``(B,)`` int64: ``users[k]`` prefers
    ``positives[k]`` (a training interaction) to ``negatives[k]`` (not one)."""

    users: Tensor
    positives: Tensor
    negatives: Tensor

    @property
    def num_triples(self) -> int:
        """``B`` (``len()`` of the tuple is 3, its fields)."""
        return int(self.users.numel())

    def batches(self, batch_size: int) -> list[BPRTriples]:
        """Consecutive chunks of ``batch_size`` triples (the last may be smaller), as
        LightGCN-PyTorch's ``minibatch``."""
        batch_size = _check_size("batch_size", batch_size)
        return [BPRTriples(*(part[start:start + batch_size] for part in self))
                for start in range(0, self.num_triples, batch_size)]


class BPRSampler:
    """``(user, positive, negative)`` triples for BPR, one epoch per :meth:`sample` call.

    The training interactions are kept once each (duplicates merged) as sorted
    ``user · I + item`` keys (:func:`gnnkit.sparse.pair_keys`) and a per-user CSR of items.
    Positives follow the scheme (:data:`BPR_SCHEMES`); negatives are uniform over the items
    the user has not interacted with in training, by vectorised rejection: all are drawn at
    once, collisions with the user's positives are found by one sorted-key lookup, and only
    the collisions are drawn again, until none remain. Randomness comes only from the
    ``generator`` passed to :meth:`sample` (CPU), so a seeded generator repeats an epoch
    exactly.

    Parity with LightGCN-PyTorch (``utils.UniformSample_original``): ``uniform-user`` and
    ``stratified-user`` reproduce its Python and C++ samplers' distributions (not their
    random streams: those use numpy's and C's ``rand``). Its negative is rejected against the
    same set (the user's training items); its ``N`` counts duplicate lines of ``train.txt``,
    here ``N`` counts distinct interactions (the public Gowalla/Yelp2018/Amazon-Book files
    have no duplicates).

    Args:
        interactions: ``(2, N)`` training pairs (row 0 users, row 1 items).
        num_users, num_items: ``U`` and ``I``; ids must lie below them.
        scheme: one of :data:`BPR_SCHEMES`.

    Raises:
        ValueError: ids out of range, an unknown scheme, no interaction at all, or a user
            who interacted with every item (no negative exists for them).
    """

    def __init__(self, interactions: Tensor, num_users: int, num_items: int, *,
                 scheme: str = "interaction") -> None:
        pairs = check_interactions(interactions, num_users, num_items)
        if scheme not in BPR_SCHEMES:
            raise ValueError(f"scheme must be one of {list(BPR_SCHEMES)}, got {scheme!r}")
        pairs = pairs.cpu()
        self.num_users, self.num_items, self.scheme = num_users, num_items, scheme
        #: the distinct training interactions as sorted keys ``user · I + item``
        self.keys = torch.unique(pair_keys(pairs[0], pairs[1], num_users, num_items,
                                           check=False))
        if self.keys.numel() == 0:
            raise ValueError("interactions is empty: BPR needs at least one (user, item) pair")
        self.users, self.items = split_keys(self.keys, num_items, check=False)
        #: CSR pointer of each user's items (sorted) in :attr:`items`
        self.rowptr = ptr_from_index(self.users, num_users, check=False)
        self.degree = self.rowptr[1:] - self.rowptr[:-1]
        full = (self.degree == num_items).nonzero().flatten()
        if full.numel():
            raise ValueError(f"user(s) {full[:5].tolist()} interacted with all {num_items} "
                             "items: no negative item exists for them; drop them from the "
                             "training pairs")
        self.active_users = (self.degree > 0).nonzero().flatten()

    @property
    def num_interactions(self) -> int:
        """``N``: distinct training interactions."""
        return int(self.keys.numel())

    def expected_size(self) -> float:
        """Triples per epoch: ``N`` (``interaction``), ``N · U_active / U`` on average
        (``uniform-user``), ``U_active · (N // U)`` (``stratified-user``)."""
        n, active = self.num_interactions, int(self.active_users.numel())
        if self.scheme == "interaction":
            return float(n)
        if self.scheme == "uniform-user":
            return n * active / self.num_users
        return float(active * (n // self.num_users))

    def is_positive(self, users: Tensor, items: Tensor) -> Tensor:
        """Whether each ``(users[k], items[k])`` is a training interaction (``(B,)`` bool),
        by binary search in the sorted keys."""
        keys = users.long() * self.num_items + items.long()
        found = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return self.keys[found] == keys

    def positives(self, users: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One training item of each user of ``users`` (which must have one), uniform."""
        degree = self.degree[users]
        if degree.numel() and bool((degree == 0).any()):
            raise ValueError("positives: some users have no training item")
        # float64 keeps floor(u · d) < d for every degree a real dataset can have
        offset = (torch.rand(users.numel(), generator=generator, dtype=torch.float64)
                  * degree).long()
        return self.items[self.rowptr[users] + offset]

    def negatives(self, users: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One item per user of ``users`` that the user has not interacted with in training,
        uniform over those items (vectorised rejection; see the class docstring)."""
        negatives = torch.randint(0, self.num_items, (users.numel(),), generator=generator)
        pending = torch.arange(users.numel())
        for _ in range(MAX_REJECTION_ROUNDS):
            pending = pending[self.is_positive(users[pending], negatives[pending])]
            if pending.numel() == 0:
                return negatives
            negatives[pending] = torch.randint(0, self.num_items, (pending.numel(),),
                                               generator=generator)
        raise RuntimeError(f"negative sampling did not finish in {MAX_REJECTION_ROUNDS} "
                           "rounds")  # unreachable for users with a negative (checked)

    def _epoch_pairs(self, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        if self.scheme == "interaction":
            return self.users, self.items
        if self.scheme == "uniform-user":
            drawn = torch.randint(0, self.num_users, (self.num_interactions,),
                                  generator=generator)
            counts = torch.bincount(drawn, minlength=self.num_users)
            counts[self.degree == 0] = 0  # the official sampler skips these draws
            users = torch.repeat_interleave(torch.arange(self.num_users), counts)
        else:
            per_user = self.num_interactions // self.num_users
            users = self.active_users.repeat_interleave(per_user)
        return users, self.positives(users, generator)

    def sample_positives(self, generator: torch.Generator | None = None
                         ) -> tuple[Tensor, Tensor]:
        """One epoch of ``(users (N,), positives (N,))`` pairs under the scheme, in a random
        order, without negatives — for objectives that draw many negatives per positive
        (:meth:`negative_block`, drawn batch by batch)."""
        users, positives = self._epoch_pairs(generator)
        order = torch.randperm(users.numel(), generator=generator)
        return users[order], positives[order]

    def negative_block(self, users: Tensor, num_negatives: int,
                       generator: torch.Generator | None = None, *,
                       exclude_positives: bool = True) -> Tensor:
        """``(B, num_negatives)`` negative items for the users ``(B,)``, drawn with
        replacement: uniform over each user's non-interacted items (:meth:`negatives`), or,
        with ``exclude_positives=False``, uniform over *all* items — UltraGCN's official
        sampler (``sampling_sift_pos = no``), where a drawn item may be a training positive."""
        num_negatives = _check_size("num_negatives", num_negatives)
        if not exclude_positives:
            return torch.randint(0, self.num_items, (users.numel(), num_negatives),
                                 generator=generator)
        flat = self.negatives(users.repeat_interleave(num_negatives), generator)
        return flat.view(users.numel(), num_negatives)

    def sample(self, generator: torch.Generator | None = None) -> BPRTriples:
        """One epoch of triples in a random order (CPU tensors).

        The triples are drawn user by user (users in increasing order, so the key lookups of
        the rejection step stay local in memory: ~5× faster than in random order on
        Gowalla) and then shuffled. For ``uniform-user`` the user of each of the ``N`` draws
        is replaced by the per-user counts of the draws (a multinomial), which, after the
        shuffle, is the same distribution as ``N`` independent uniform draws."""
        users, positives = self._epoch_pairs(generator)
        negatives = self.negatives(users, generator)
        order = torch.randperm(users.numel(), generator=generator)
        return BPRTriples(users[order], positives[order], negatives[order])

    def __repr__(self) -> str:
        return (f"BPRSampler(num_users={self.num_users}, num_items={self.num_items}, "
                f"interactions={self.num_interactions}, scheme={self.scheme!r})")


def bpr_loss(positive_scores: Tensor, negative_scores: Tensor) -> Tensor:
    r"""BPR's pairwise log-loss, averaged over the batch:

    .. math::
        \mathcal{L}_{\mathrm{BPR}} = \frac{1}{B}\sum_{k}
        -\ln \sigma(s_{u_k i_k} - s_{u_k j_k})
        = \frac{1}{B}\sum_k \operatorname{softplus}(s_{u_k j_k} - s_{u_k i_k})

    (Rendle et al., UAI 2009; LightGCN eq. 15 without its L2 term, which is
    :func:`bpr_l2_penalty`). ``softplus`` is the stable form of ``−ln σ``, as in LightGCN's
    code. Shapes: ``(B,)`` and ``(B,)`` → scalar.
    """
    if positive_scores.shape != negative_scores.shape:
        raise ValueError(f"positive_scores {tuple(positive_scores.shape)} and negative_scores "
                         f"{tuple(negative_scores.shape)} must have the same shape")
    return F.softplus(negative_scores - positive_scores).mean()


def bpr_l2_penalty(*embeddings: Tensor) -> Tensor:
    r"""LightGCN's L2 penalty on one batch: ``½ Σ_t ‖E_t‖²_F / B`` over the given ``(B, d)``
    embedding blocks (``B`` = rows of the first):

    .. math::
        \frac{1}{2B}\left(\lVert E^{(0)}_{u}\rVert^2 + \lVert E^{(0)}_{i}\rVert^2
        + \lVert E^{(0)}_{j}\rVert^2\right)

    exactly LightGCN-PyTorch's ``reg_loss`` (``(1/2)·(‖u‖² + ‖i‖² + ‖j‖²)/len(users)``) and
    the TensorFlow code's ``l2_loss(·)/batch_size``; the loop multiplies it by the weight
    decay ``λ`` (``--decay``, 1e-4). Called with the *layer-0* rows of the batch's users,
    positives and negatives (repeated rows count once per occurrence)."""
    if not embeddings:
        raise ValueError("bpr_l2_penalty needs at least one embedding block")
    batch = max(int(embeddings[0].shape[0]), 1)
    return 0.5 * sum(e.pow(2).sum() for e in embeddings) / batch  # type: ignore[return-value]


class BPRRecommender(nn.Module):
    """Base of the embedding recommenders trained with BPR: a user table ``E_U`` ``(U, d)``
    and an item table ``E_I`` ``(I, d)`` (the layer-0 embeddings, the only parameters),
    initialised ``N(0, init_std²)``; subclasses map them to final embeddings in
    :meth:`forward` (identity for MF, propagation for LightGCN). Scores are dot products of
    final embeddings.

    What a training loop calls (:mod:`gnnkit.train.recommendation`):

    * ``model(graph) → (users (U, d), items (I, d))``, the final embeddings (``graph`` is the
      ``U × I`` training interaction matrix; models that do not propagate ignore it);
    * :meth:`bpr_objective` → ``(bpr, l2)`` of a batch of triples (:meth:`objective`, what
      the loop calls, is this for BPR models);
    * :meth:`score_users` → the ``(B, I)`` score block of a batch of users (evaluation).
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, *,
                 init_std: float = 0.1) -> None:
        super().__init__()
        self.num_users = _check_size("num_users", num_users)
        self.num_items = _check_size("num_items", num_items)
        self.embedding_dim = _check_size("embedding_dim", embedding_dim)
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or init_std <= 0:
            raise ValueError(f"init_std must be a positive float, got {init_std!r}")
        self.init_std = float(init_std)
        self.user_embedding = nn.Embedding(num_users, embedding_dim)
        self.item_embedding = nn.Embedding(num_items, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``N(0, init_std²)`` for both tables (LightGCN-PyTorch's ``nn.init.normal_(std=0.1)``)."""
        nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        nn.init.normal_(self.item_embedding.weight, std=self.init_std)

    def forward(self, graph: object = None) -> tuple[Tensor, Tensor]:
        """Final ``(user (U, d), item (I, d))`` embeddings; here the layer-0 tables."""
        return self.user_embedding.weight, self.item_embedding.weight

    def _check_ids(self, name: str, ids: Tensor, bound: int) -> Tensor:
        if not isinstance(ids, Tensor) or ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must be an int64 tensor of ids, got "
                            f"{ids.dtype if isinstance(ids, Tensor) else type(ids).__name__}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= bound):
            raise ValueError(f"{name} holds ids {int(ids.min())} … {int(ids.max())} outside "
                             f"[0, {bound})")
        return ids.long()

    def l2_penalty(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
        """:func:`bpr_l2_penalty` of the batch's layer-0 rows (the official regulariser)."""
        return bpr_l2_penalty(self.user_embedding(users), self.item_embedding(positives),
                              self.item_embedding(negatives))

    def bpr_objective(self, users: Tensor, positives: Tensor, negatives: Tensor,
                      graph: object = None) -> tuple[Tensor, Tensor]:
        """``(bpr, l2)`` of a batch of triples ``(B,)`` each: :func:`bpr_loss` on the final
        embeddings (one :meth:`forward` over the whole graph, as the official code) and
        :meth:`l2_penalty` on the layer-0 ones. The loss to minimise is ``bpr + λ · l2``."""
        users = self._check_ids("users", users, self.num_users)
        positives = self._check_ids("positives", positives, self.num_items)
        negatives = self._check_ids("negatives", negatives, self.num_items)
        user_final, item_final = self(graph)
        # F.embedding, not user_final[users]: advanced indexing's backward accumulates with
        # index_put_, which adds in a varying order on a multi-threaded CPU (same bits at 1)
        chosen = F.embedding(users, user_final)
        positive_scores = (chosen * F.embedding(positives, item_final)).sum(dim=-1)
        negative_scores = (chosen * F.embedding(negatives, item_final)).sum(dim=-1)
        return (bpr_loss(positive_scores, negative_scores),
                self.l2_penalty(users, positives, negatives))

    def objective(self, users: Tensor, positives: Tensor, negatives: Tensor,
                  graph: object = None) -> tuple[Tensor, Tensor]:
        """``(loss, penalty)`` of a batch, what :func:`gnnkit.train.recommendation.fit`
        minimises as ``loss + weight_decay · penalty``: here :meth:`bpr_objective` (models
        with another objective, e.g. :class:`~gnnkit.nn.recsys.UltraGCN`, override it)."""
        if negatives.dim() == 2 and negatives.shape[1] == 1:
            negatives = negatives.squeeze(1)
        if negatives.dim() != 1:
            raise ValueError(f"{type(self).__name__} is trained with BPR: one negative per "
                             f"positive, shape (B,) (num_negatives = 1); got negatives of "
                             f"shape {tuple(negatives.shape)}")
        return self.bpr_objective(users, positives, negatives, graph)

    def score_users(self, users: Tensor, graph: object = None,
                    embeddings: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Scores ``(B, I)`` of every item for the users ``(B,)``: ``E_u · E_Iᵀ`` of final
        embeddings (``embeddings`` = a previous ``model(graph)``, to propagate once for many
        batches). LightGCN-PyTorch applies a sigmoid first; it is monotone, so the ranking is
        the same except where it saturates to ties in float32."""
        users = self._check_ids("users", users, self.num_users)
        user_final, item_final = self(graph) if embeddings is None else embeddings
        return user_final[users] @ item_final.t()

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, "
                f"embedding_dim={self.embedding_dim}, init_std={self.init_std:g}")
