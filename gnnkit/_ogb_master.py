"""gnnkit's one table of the official OGB datasets: its own copy of OGB's ``master.csv``.

One :class:`OGBDatasetInfo` per official node-, link- and graph-property-prediction dataset:
how it is evaluated (metric, task type, number of tasks and classes) and how its archive is
laid out (download name and URL, version, split, ``add_inverse_edge``, feature flags,
additional node/edge files, heterogeneous or binary layout). ``gnnkit.datasets`` (readers,
registry) and ``gnnkit.metrics`` (``Evaluator``) both read this table and re-export its
public names; neither keeps a copy.

It lives here, outside both packages, because it must stay importable from either without
pulling in the other: importing ``gnnkit.datasets.<anything>`` runs ``gnnkit.datasets``'s
``__init__`` (every reader, the registry, the download code), and ``gnnkit.metrics`` must not
depend on that; nor should the dataset readers depend on the metrics package. The module uses
the standard library only (plus the equally small :mod:`gnnkit._suggest`).

The facts are written by hand from the ``master.csv`` files of the ``ogb`` package, version
1.3.6; ``tests/test_ogb_master.py`` compares every field of every row with those files
whenever ``ogb`` is installed. ``ogb`` is not needed at run time.

Conventions (where they differ from ``master.csv``): fields are snake_case attributes; ``None``
means "not applicable" — ``num_tasks`` of link datasets (OGB leaves the cell out) and
``num_classes`` of link, regression and sub-token datasets (OGB writes ``-1`` or nothing);
file lists are tuples (OGB writes ``None`` or a comma-separated string); ``data_type`` is
``None`` where OGB leaves it empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from gnnkit._suggest import did_you_mean

__all__ = ["OGB_DATASETS", "OGBDatasetInfo", "OGBLevel", "ogb_dataset_info"]

OGBLevel = Literal["node", "link", "graph"]
"""The prediction level of an OGB dataset: ``ogbn-*``, ``ogbl-*`` or ``ogbg-*``."""

_BASE_URL = "http://snap.stanford.edu/ogb/data"


@dataclass(frozen=True)
class OGBDatasetInfo:
    """One row of OGB's ``master.csv``: how a dataset is stored and how it is evaluated.

    Attributes:
        name: the official name, e.g. ``"ogbg-molhiv"``.
        level: ``"node"``, ``"link"`` or ``"graph"`` property prediction.
        eval_metric: OGB's metric id: ``"acc"``, ``"rocauc"``, ``"ap"``, ``"rmse"``, ``"F1"``,
            ``"mrr"`` or ``"hits@K"``.
        task_type: OGB's task description, e.g. ``"binary classification"``.
        num_tasks: number of prediction targets (columns of ``y``); ``None`` for link datasets.
        num_classes: classes per task; ``None`` for link, regression and sub-token datasets.
        download_name: stem of the official archive (``"ppassoc"`` for ``ogbl-ppa``).
        version: release version of the archive.
        split: name of the official split folder (``"time"``, ``"scaffold"`` ...).
        add_inverse_edge: whether readers add ``(v, u)`` after every stored edge ``(u, v)``.
        has_node_attr: whether ``raw/node-feat.csv.gz`` exists.
        has_edge_attr: whether ``raw/edge-feat.csv.gz`` exists.
        additional_node_files: extra ``raw/<name>.csv.gz`` node files (``"node_year"`` ...).
        additional_edge_files: extra ``raw/<name>.csv.gz`` edge files (``"edge_weight"`` ...).
        is_hetero: heterogeneous layout (``ogbn-mag``, ``ogbl-biokg``).
        binary: binary ``.npz`` layout instead of csv files.
        data_type: ``"mol"`` for the MoleculeNet graph datasets, else ``None``.
    """

    name: str
    level: OGBLevel
    eval_metric: str
    task_type: str
    num_tasks: int | None
    num_classes: int | None
    download_name: str
    split: str
    add_inverse_edge: bool
    has_node_attr: bool
    has_edge_attr: bool
    additional_node_files: tuple[str, ...] = ()
    additional_edge_files: tuple[str, ...] = ()
    version: int = 1
    is_hetero: bool = False
    binary: bool = False
    data_type: str | None = None

    @property
    def url(self) -> str:
        """Official download archive of the dataset."""
        folder = f"{self.level}proppred"
        if self.data_type == "mol":
            folder += "/csv_mol_download"
        return f"{_BASE_URL}/{folder}/{self.download_name}.zip"

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


def _link(name: str, metric: str, download: str, split: str, *, task: str = _LINK,
          inverse: bool, node_attr: bool, edge_attr: bool = False,
          node_files: tuple[str, ...] = (), edge_files: tuple[str, ...] = (),
          hetero: bool = False, binary: bool = False) -> OGBDatasetInfo:
    """A link-prediction row: OGB defines neither tasks nor classes for these."""
    return OGBDatasetInfo(
        name, "link", metric, task, None, None, download, split, inverse, node_attr, edge_attr,
        node_files, edge_files, is_hetero=hetero, binary=binary,
    )


def _mol(name: str, tasks: int, metric: str, download: str, *,
         regression: bool = False) -> OGBDatasetInfo:
    """A MoleculeNet row: all share the layout, the scaffold split and the archive folder."""
    return OGBDatasetInfo(
        name, "graph", metric, "regression" if regression else _BINARY, tasks,
        None if regression else 2, download, "scaffold", add_inverse_edge=True,
        has_node_attr=True, has_edge_attr=True, data_type="mol",
    )


_TABLE: tuple[OGBDatasetInfo, ...] = (
    OGBDatasetInfo("ogbn-proteins", "node", "rocauc", _BINARY, 112, 2, "proteins", "species",
                   add_inverse_edge=True, has_node_attr=False, has_edge_attr=True,
                   additional_node_files=("node_species",)),
    OGBDatasetInfo("ogbn-products", "node", "acc", _MULTICLASS, 1, 47, "products",
                   "sales_ranking", add_inverse_edge=True, has_node_attr=True,
                   has_edge_attr=False),
    OGBDatasetInfo("ogbn-arxiv", "node", "acc", _MULTICLASS, 1, 40, "arxiv", "time",
                   add_inverse_edge=False, has_node_attr=True, has_edge_attr=False,
                   additional_node_files=("node_year",)),
    OGBDatasetInfo("ogbn-mag", "node", "acc", _MULTICLASS, 1, 349, "mag", "time",
                   add_inverse_edge=False, has_node_attr=True, has_edge_attr=False,
                   additional_node_files=("node_year",),
                   additional_edge_files=("edge_reltype",), version=2, is_hetero=True),
    OGBDatasetInfo("ogbn-papers100M", "node", "acc", _MULTICLASS, 1, 172, "papers100M-bin",
                   "time", add_inverse_edge=False, has_node_attr=True, has_edge_attr=False,
                   additional_node_files=("node_year",), binary=True),
    _link("ogbl-ppa", "hits@100", "ppassoc", "throughput", inverse=True, node_attr=True),
    _link("ogbl-collab", "hits@50", "collab", "time", inverse=True, node_attr=True,
          edge_files=("edge_weight", "edge_year")),
    _link("ogbl-citation2", "mrr", "citation-v2", "time", inverse=False, node_attr=True,
          node_files=("node_year",)),
    _link("ogbl-wikikg2", "mrr", "wikikg-v2", "time", task=_KG, inverse=False,
          node_attr=False, edge_files=("edge_reltype",)),
    _link("ogbl-ddi", "hits@20", "ddi", "target", inverse=True, node_attr=False),
    _link("ogbl-biokg", "mrr", "biokg", "random", task=_KG, inverse=False, node_attr=False,
          edge_files=("edge_reltype",), hetero=True),
    _link("ogbl-vessel", "rocauc", "vessel", "spatial", inverse=False, node_attr=True,
          edge_attr=True, binary=True),
    _mol("ogbg-molbace", 1, "rocauc", "bace"),
    _mol("ogbg-molbbbp", 1, "rocauc", "bbbp"),
    _mol("ogbg-molclintox", 2, "rocauc", "clintox"),
    _mol("ogbg-molmuv", 17, "ap", "muv"),
    _mol("ogbg-molpcba", 128, "ap", "pcba"),
    _mol("ogbg-molsider", 27, "rocauc", "sider"),
    _mol("ogbg-moltox21", 12, "rocauc", "tox21"),
    _mol("ogbg-moltoxcast", 617, "rocauc", "toxcast"),
    _mol("ogbg-molhiv", 1, "rocauc", "hiv"),
    _mol("ogbg-molesol", 1, "rmse", "esol", regression=True),
    _mol("ogbg-molfreesolv", 1, "rmse", "freesolv", regression=True),
    _mol("ogbg-mollipo", 1, "rmse", "lipophilicity", regression=True),
    _mol("ogbg-molchembl", 1310, "rocauc", "chembl"),
    OGBDatasetInfo("ogbg-ppa", "graph", "acc", _MULTICLASS, 1, 37, "ogbg_ppi_medium",
                   "species", add_inverse_edge=True, has_node_attr=False, has_edge_attr=True),
    OGBDatasetInfo("ogbg-code2", "graph", "F1", "subtoken prediction", 1, None, "code2",
                   "project", add_inverse_edge=False, has_node_attr=True, has_edge_attr=False,
                   additional_node_files=("node_is_attributed", "node_dfs_order",
                                          "node_depth")),
)

OGB_DATASETS: MappingProxyType[str, OGBDatasetInfo] = MappingProxyType(
    {info.name: info for info in _TABLE}
)
"""Every official OGB node/link/graph property-prediction dataset, by name (read-only)."""


def ogb_dataset_info(name: str) -> OGBDatasetInfo:
    """The :class:`OGBDatasetInfo` of the official OGB dataset ``name`` (e.g. ``"ogbl-ddi"``).

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: for an unknown name, suggesting the closest official names.
    """
    if not isinstance(name, str):
        raise TypeError(f"an OGB dataset name must be a str, got {type(name).__name__}")
    info = OGB_DATASETS.get(name)
    if info is not None:
        return info
    raise ValueError(
        f"unknown OGB dataset name {name!r}.{did_you_mean(name, OGB_DATASETS)} "
        f"Known names: {', '.join(OGB_DATASETS)}"
    )
