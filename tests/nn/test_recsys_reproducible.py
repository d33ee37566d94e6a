"""The recommenders' gradients do not depend on the thread count or the run.

Their batch gathers use ``F.embedding``, whose backward adds a row's contributions in order.
Advanced indexing (``table[users]``) accumulates through ``index_put_``, which on a
multi-threaded CPU adds in a varying order (``tests/nn/test_pair_product.py`` shows the same
for the link predictors).
"""

from __future__ import annotations

import torch
from thread_count import torch_threads

from gnnkit.nn.recsys import LightGCN, UltraGCN, interaction_matrix

USERS, ITEMS, BATCH = 60, 80, 30000


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A large batch over few users and items: every row's gradient collects many terms."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.stack([torch.randint(0, USERS, (600,), generator=g),
                         torch.randint(0, ITEMS, (600,), generator=g)])
    users = torch.randint(0, USERS, (BATCH,), generator=g)
    positives = torch.randint(0, ITEMS, (BATCH,), generator=g)
    negatives = torch.randint(0, ITEMS, (BATCH,), generator=g)
    return pairs, users, positives, negatives


def _gradients(model: torch.nn.Module, objective: str, *args: object) -> list[torch.Tensor]:
    model.zero_grad()
    loss, l2 = getattr(model, objective)(*args)
    (loss + 1e-3 * l2).backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_lightgcn_gradients_repeat_and_match_one_thread() -> None:
    pairs, users, positives, negatives = _batch(1)
    torch.manual_seed(2)
    model = LightGCN(USERS, ITEMS, 16, 2)
    R = interaction_matrix(pairs, USERS, ITEMS)
    args = (users, positives, negatives, R)
    with torch_threads(1):
        reference = _gradients(model, "bpr_objective", *args)
    with torch_threads(2):
        runs = [_gradients(model, "bpr_objective", *args) for _ in range(3)]
    for run in runs:
        assert all(torch.equal(a, b) for a, b in zip(reference, run, strict=True))


def test_ultragcn_gradients_repeat_at_two_threads() -> None:
    """Repeatable at a fixed thread count. Equality with one thread is not asked: the
    negatives' scores come from a dense product, and the matrix-multiply library
    splits its sums differently with more threads."""
    pairs, users, positives, negatives = _batch(3)
    torch.manual_seed(4)
    model = UltraGCN(USERS, ITEMS, 16, num_neighbours=3)
    R = interaction_matrix(pairs, USERS, ITEMS)
    args = (users, positives, negatives.view(-1, 1).expand(-1, 2).contiguous(), R)
    with torch_threads(2):
        runs = [_gradients(model, "objective", *args) for _ in range(4)]
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], run, strict=True))
