"""Reader of the LightGCN/NGCF user-item interaction format (Gowalla, Yelp2018, Amazon-Book).

Files (kuandeng/LightGCN ``Data/<name>/``):

* ``train.txt`` / ``test.txt``: one line per user, ``user item_1 item_2 ...`` (space-separated
  0-based remapped ids; a user may have no items).
* ``user_list.txt`` / ``item_list.txt``: header ``org_id remap_id``, then one line per
  user/item mapping the original id to the remapped one (optional for reading).

``num_users``/``num_items`` follow LightGCN's code: the largest id seen in train or test plus
one, and at least the length of ``user_list.txt``/``item_list.txt`` when present.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._graph import Graph
from gnnkit.datasets._io import isin_sorted, read_int_lists, read_table, unique_sorted

__all__ = ["LIGHTGCN_NAMES", "Interactions", "read_interaction_file", "read_lightgcn"]

LIGHTGCN_NAMES = {"gowalla": "Gowalla", "yelp2018": "Yelp2018", "amazon-book": "Amazon-Book"}


@dataclasses.dataclass(frozen=True, eq=False)
class Interactions:
    """Implicit-feedback user-item data with a train/test split (an immutable value).

    Attributes:
        num_users: ``U``.
        num_items: ``I``.
        train: ``(2, K_train)`` ``int64``: row 0 user ids, row 1 item ids, in file order.
        test: ``(2, K_test)`` ``int64``.
        metadata: ``name``, ``source``, counts.
    """

    num_users: int
    num_items: int
    train: Tensor
    test: Tensor
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("train", "test"):
            pairs = getattr(self, name)
            if not isinstance(pairs, Tensor) or pairs.dim() != 2 or pairs.shape[0] != 2:
                raise ValueError(f"{name} must be a (2, K) tensor of (user, item) pairs")
            if pairs.numel() and (
                int(pairs[0].min()) < 0 or int(pairs[0].max()) >= self.num_users
                or int(pairs[1].min()) < 0 or int(pairs[1].max()) >= self.num_items
            ):
                raise ValueError(f"{name} holds ids outside num_users/num_items")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def to_graph(self) -> Graph:
        """The training interactions as an undirected bipartite :class:`Graph`.

        Nodes ``0..U-1`` are users and ``U..U+I-1`` items; every interaction ``(u, i)``
        gives the edges ``u -> U+i`` and ``U+i -> u`` (LightGCN's ``[[0, R], [R^T, 0]]``
        adjacency). Test interactions are kept as the edge split ``test_pos``.
        """
        users, items = self.train
        shifted = items + self.num_users
        edge_index = torch.cat([torch.stack([users, shifted]), torch.stack([shifted, users])], 1)
        test_pos = torch.stack([self.test[0], self.test[1] + self.num_users])
        return Graph(
            edge_index=edge_index,
            num_nodes=self.num_users + self.num_items,
            edge_splits={"test_pos": test_pos},
            metadata={**self.metadata, "num_users": self.num_users, "num_items": self.num_items},
        )


def read_interaction_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``user item item ...`` file into parallel ``(users, items)`` int64 arrays."""
    path = Path(path)
    rows = read_int_lists(path, why="LightGCN interaction file")
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((row.size - 1 for row in rows), dtype=np.int64, count=len(rows))
    users = np.repeat(np.fromiter((row[0] for row in rows), np.int64, len(rows)), lengths)
    items = np.concatenate([row[1:] for row in rows])
    if (users.size and users.min() < 0) or (items.size and items.min() < 0):
        raise DatasetFileError(path, "negative user or item id")
    return users, items


def _list_length(path: Path) -> int | None:
    if not path.is_file():
        return None
    table = read_table(path, num_columns=2, delimiter=None, skip_header=1)
    return int(table.shape[0])


def read_lightgcn(root: str | os.PathLike[str], name: str | None = None) -> Interactions:
    """Read ``train.txt`` and ``test.txt`` (and the id lists, if present) from ``root``.

    Raises:
        MissingDatasetFileError: ``train.txt`` or ``test.txt`` is absent (the message names it;
            the shared Yelp2018 and Amazon-Book folders lack ``train.txt``).
        DatasetFileError: non-integer tokens, negative ids, or ids beyond the id lists.
    """
    root = Path(root)
    train_users, train_items = read_interaction_file(root / "train.txt")
    test_users, test_items = read_interaction_file(root / "test.txt")
    num_users = int(max(train_users.max(initial=-1), test_users.max(initial=-1))) + 1
    num_items = int(max(train_items.max(initial=-1), test_items.max(initial=-1))) + 1
    for list_name, seen, what in (("user_list.txt", num_users, "user"),
                                  ("item_list.txt", num_items, "item")):
        length = _list_length(root / list_name)
        if length is not None and seen > length:
            raise DatasetFileError(
                root / list_name, f"lists {length} {what}s but the interactions use id {seen - 1}"
            )
        if length is not None:
            if what == "user":
                num_users = length
            else:
                num_items = length
    key = (name or root.name).lower().removeprefix("lightgcn-")
    train_keys = unique_sorted(train_users * num_items + train_items)
    test_keys = test_users * num_items + test_items
    metadata = {
        "name": LIGHTGCN_NAMES.get(key, name or key),
        "format": "lightgcn",
        "source": str(root),
        "num_interactions": int(train_users.size + test_users.size),
        "train_duplicates": int(train_users.size - train_keys.size),
        "train_test_overlap": int(np.count_nonzero(isin_sorted(test_keys, train_keys))),
    }
    return Interactions(
        num_users=num_users,
        num_items=num_items,
        train=torch.from_numpy(np.stack([train_users, train_items])),
        test=torch.from_numpy(np.stack([test_users, test_items])),
        metadata=metadata,
    )
