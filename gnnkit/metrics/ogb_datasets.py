"""gnnkit's own table of the official OGB datasets and how each one is evaluated.

The facts (evaluation metric, number of tasks, task type, number of classes) are those of
the ``master.csv`` files shipped with the ``ogb`` package, version 1.3.6; the test suite checks
this table against them whenever ``ogb`` is installed. ``ogb`` is not needed at run time.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["OGB_DATASETS", "OGBDatasetInfo", "ogb_dataset_info"]

Kind = Literal["node", "link", "graph"]


@dataclass(frozen=True)
class OGBDatasetInfo:
    """How an OGB dataset is evaluated.

    Attributes:
        name: the official name, e.g. ``"ogbg-molhiv"``.
        kind: ``"node"``, ``"link"`` or ``"graph"`` property prediction.
        eval_metric: OGB's metric id: ``"acc"``, ``"rocauc"``, ``"ap"``, ``"rmse"``, ``"F1"``,
            ``"mrr"`` or ``"hits@K"``.
        task_type: OGB's task description, e.g. ``"binary classification"``.
        num_tasks: number of prediction targets (columns of ``y_true``); ``None`` for link
            datasets, for which OGB defines none.
        num_classes: classes per task; ``None`` for regression, sub-token prediction and links.
    """

    name: str
    kind: Kind
    eval_metric: str
    task_type: str
    num_tasks: int | None
    num_classes: int | None

    @property
    def hits_k(self) -> int | None:
        """``K`` of a ``hits@K`` metric, else ``None``."""
        if self.eval_metric.startswith("hits@"):
            return int(self.eval_metric.split("@", 1)[1])
        return None


_BINARY = "binary classification"
_MULTICLASS = "multiclass classification"
_LINK = "link prediction"
_KG = "KG completion"

# name, kind, eval metric, task type, num tasks, num classes
_TABLE: tuple[tuple[str, Kind, str, str, int | None, int | None], ...] = (
    ("ogbn-proteins", "node", "rocauc", _BINARY, 112, 2),
    ("ogbn-products", "node", "acc", _MULTICLASS, 1, 47),
    ("ogbn-arxiv", "node", "acc", _MULTICLASS, 1, 40),
    ("ogbn-mag", "node", "acc", _MULTICLASS, 1, 349),
    ("ogbn-papers100M", "node", "acc", _MULTICLASS, 1, 172),
    ("ogbl-ppa", "link", "hits@100", _LINK, None, None),
    ("ogbl-collab", "link", "hits@50", _LINK, None, None),
    ("ogbl-citation2", "link", "mrr", _LINK, None, None),
    ("ogbl-wikikg2", "link", "mrr", _KG, None, None),
    ("ogbl-ddi", "link", "hits@20", _LINK, None, None),
    ("ogbl-biokg", "link", "mrr", _KG, None, None),
    ("ogbl-vessel", "link", "rocauc", _LINK, None, None),
    ("ogbg-molbace", "graph", "rocauc", _BINARY, 1, 2),
    ("ogbg-molbbbp", "graph", "rocauc", _BINARY, 1, 2),
    ("ogbg-molclintox", "graph", "rocauc", _BINARY, 2, 2),
    ("ogbg-molmuv", "graph", "ap", _BINARY, 17, 2),
    ("ogbg-molpcba", "graph", "ap", _BINARY, 128, 2),
    ("ogbg-molsider", "graph", "rocauc", _BINARY, 27, 2),
    ("ogbg-moltox21", "graph", "rocauc", _BINARY, 12, 2),
    ("ogbg-moltoxcast", "graph", "rocauc", _BINARY, 617, 2),
    ("ogbg-molhiv", "graph", "rocauc", _BINARY, 1, 2),
    ("ogbg-molesol", "graph", "rmse", "regression", 1, None),
    ("ogbg-molfreesolv", "graph", "rmse", "regression", 1, None),
    ("ogbg-mollipo", "graph", "rmse", "regression", 1, None),
    ("ogbg-molchembl", "graph", "rocauc", _BINARY, 1310, 2),
    ("ogbg-ppa", "graph", "acc", _MULTICLASS, 1, 37),
    ("ogbg-code2", "graph", "F1", "subtoken prediction", 1, None),
)

OGB_DATASETS: MappingProxyType[str, OGBDatasetInfo] = MappingProxyType(
    {row[0]: OGBDatasetInfo(*row) for row in _TABLE}
)
"""Every official OGB node/link/graph property-prediction dataset, by name (read-only)."""


def ogb_dataset_info(name: str) -> OGBDatasetInfo:
    """The :class:`OGBDatasetInfo` of ``name``.

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: for an unknown name, listing the closest official names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    info = OGB_DATASETS.get(name)
    if info is not None:
        return info
    by_lower = {known.lower(): known for known in OGB_DATASETS}
    if name.lower() in by_lower:
        close = [by_lower[name.lower()]]
    else:
        close = [
            by_lower[match]
            for match in difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
        ]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown OGB dataset name {name!r}.{hint} Known names: {', '.join(OGB_DATASETS)}"
    )
