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

from gnnkit.datasets._errors import DamagedDatasetFileError, DatasetFileError
from gnnkit.datasets._graph import Graph
from gnnkit.datasets._io import isin_sorted, read_int_lists, read_table, unique_sorted
from gnnkit.sparse.index import pair_keys

__all__ = ["LIGHTGCN_NAMES", "Interactions", "read_interaction_file", "read_lightgcn"]

LIGHTGCN_NAMES = {"gowalla": "Gowalla", "yelp2018": "Yelp2018", "amazon-book": "Amazon-Book"}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
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

    def __repr__(self) -> str:
        """Sizes only, e.g. ``Interactions(name='Gowalla', num_users=29858, ...)``."""
        parts = [f"num_users={self.num_users}", f"num_items={self.num_items}",
                 f"train={self.train.shape[1]} pairs", f"test={self.test.shape[1]} pairs"]
        name = self.metadata.get("name")
        if name:
            parts.insert(0, f"name={name!r}")
        return f"Interactions({', '.join(parts)})"

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


def _remedy(root: Path, name: str | None) -> str:
    """How to get good LightGCN files back (the download command when the name is known)."""
    key = (name or root.name).lower().removeprefix("lightgcn-")
    if key in LIGHTGCN_NAMES:
        return f"re-download it with `gnnkit datasets download {key} --force`"
    return "replace it with a fresh copy of the LightGCN release"


def read_interaction_file(
    path: str | os.PathLike[str], *, allow_empty: bool = False, remedy: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``user item item ...`` file into parallel ``(users, items)`` int64 arrays.

    Raises:
        MissingDatasetFileError: the file is absent.
        DamagedDatasetFileError: the last line lacks its newline (LightGCN's files always end
            with one, so the file was cut short), or -- unless ``allow_empty`` -- the file holds
            no line at all. ``remedy`` ends the message (how to get a good copy).
        DatasetFileError: non-integer tokens, negative ids, or lines but not a single
            (user, item) pair (unless ``allow_empty``).
    """
    path = Path(path)
    rows = read_int_lists(path, why="LightGCN interaction file", final_newline=True,
                          remedy=remedy)
    if not rows and not allow_empty:
        raise DamagedDatasetFileError(path, "the file is empty: no (user, item) pairs", remedy)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((row.size - 1 for row in rows), dtype=np.int64, count=len(rows))
    if not allow_empty and not lengths.any():
        raise DatasetFileError(
            path, f"{len(rows)} user line(s) but not a single item: no (user, item) pairs"
        )
    users = np.repeat(np.fromiter((row[0] for row in rows), np.int64, len(rows)), lengths)
    items = np.concatenate([row[1:] for row in rows])
    if (users.size and users.min() < 0) or (items.size and items.min() < 0):
        raise DatasetFileError(path, "negative user or item id")
    return users, items


def _list_length(path: Path, remedy: str) -> int | None:
    if not path.is_file():
        return None
    table = read_table(path, num_columns=2, delimiter=None, skip_header=1,
                       final_newline=True, remedy=remedy)
    return int(table.shape[0])


def read_lightgcn(root: str | os.PathLike[str], name: str | None = None) -> Interactions:
    """Read ``train.txt`` and ``test.txt`` (and the id lists, if present) from ``root``.

    Raises:
        MissingDatasetFileError: ``train.txt`` or ``test.txt`` is absent (the message names it;
            the shared Yelp2018 and Amazon-Book folders lack ``train.txt``).
        DamagedDatasetFileError: a file is empty or ends mid-line (truncated); the message
            names it and the command that downloads it again.
        DatasetFileError: non-integer tokens, negative ids, or ids beyond the id lists.
    """
    root = Path(root)
    remedy = _remedy(root, name)
    train_users, train_items = read_interaction_file(root / "train.txt", remedy=remedy)
    test_users, test_items = read_interaction_file(root / "test.txt", remedy=remedy)
    num_users = int(max(train_users.max(initial=-1), test_users.max(initial=-1))) + 1
    num_items = int(max(train_items.max(initial=-1), test_items.max(initial=-1))) + 1
    for list_name, seen, what in (("user_list.txt", num_users, "user"),
                                  ("item_list.txt", num_items, "item")):
        length = _list_length(root / list_name, remedy)
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
    # Ids are checked against num_users/num_items above (and non-negative on reading).
    train_keys = unique_sorted(pair_keys(train_users, train_items, num_users, num_items,
                                         check=False))
    test_keys = pair_keys(test_users, test_items, num_users, num_items, check=False)
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
