"""Facts about every official OGB dataset: gnnkit's own ``master.csv`` table.

One :class:`OgbInfo` per dataset name of the OGB releases (node-, link- and graph-property
prediction): task type, metric, number of tasks/classes, the official download archive, the
split name, and the raw-file conventions the readers need (``add_inverse_edge``, which
feature files exist, additional node/edge files, heterogeneous or binary layout). The table
is written by hand from OGB's published metadata; ``tests/datasets/test_datasets_ogb.py``
checks every field against the ``master.csv`` files shipped in the ``ogb`` package.
"""

from __future__ import annotations

import dataclasses

__all__ = ["OGB_DATASETS", "OgbInfo", "ogb_info"]

_BASE_URL = "http://snap.stanford.edu/ogb/data"


@dataclasses.dataclass(frozen=True)
class OgbInfo:
    """The ``master.csv`` row of one OGB dataset.

    ``num_tasks`` is ``None`` for link prediction (OGB leaves it blank there) and
    ``num_classes`` is ``-1`` for regression/subtoken tasks, as in OGB.
    """

    name: str
    level: str  # "node" | "link" | "graph"
    num_tasks: int | None
    num_classes: int | None
    eval_metric: str
    task_type: str
    download_name: str
    version: int
    add_inverse_edge: bool
    has_node_attr: bool
    has_edge_attr: bool
    split: str
    additional_node_files: tuple[str, ...] = ()
    additional_edge_files: tuple[str, ...] = ()
    is_hetero: bool = False
    binary: bool = False
    data_type: str = ""  # graph level only: "mol" for the MoleculeNet sets

    @property
    def url(self) -> str:
        """Official download archive of the dataset."""
        folder = f"{self.level}proppred"
        if self.data_type == "mol":
            folder += "/csv_mol_download"
        return f"{_BASE_URL}/{folder}/{self.download_name}.zip"

    @property
    def folder(self) -> str:
        """Folder name of the extracted dataset in gnnkit's cache (``ogbn-arxiv`` ...)."""
        return self.name


def _node(name: str, tasks: int, classes: int, metric: str, task: str, download: str,
          inverse: bool, node_attr: bool, edge_attr: bool, split: str,
          node_files: tuple[str, ...] = (), edge_files: tuple[str, ...] = (), *,
          version: int = 1, hetero: bool = False, binary: bool = False) -> OgbInfo:
    return OgbInfo(name, "node", tasks, classes, metric, task, download, version, inverse,
                   node_attr, edge_attr, split, node_files, edge_files, hetero, binary)


def _link(name: str, metric: str, task: str, download: str, inverse: bool, node_attr: bool,
          edge_attr: bool, split: str, node_files: tuple[str, ...] = (),
          edge_files: tuple[str, ...] = (), *, hetero: bool = False,
          binary: bool = False) -> OgbInfo:
    return OgbInfo(name, "link", None, None, metric, task, download, 1, inverse, node_attr,
                   edge_attr, split, node_files, edge_files, hetero, binary)


def _mol(name: str, tasks: int, metric: str, download: str, regression: bool = False) -> OgbInfo:
    return OgbInfo(
        name, "graph", tasks, -1 if regression else 2, metric,
        "regression" if regression else "binary classification", download, 1, True, True, True,
        "scaffold", data_type="mol",
    )


_TABLE = (
    _node("ogbn-proteins", 112, 2, "rocauc", "binary classification", "proteins", True, False,
          True, "species", ("node_species",)),
    _node("ogbn-products", 1, 47, "acc", "multiclass classification", "products", True, True,
          False, "sales_ranking"),
    _node("ogbn-arxiv", 1, 40, "acc", "multiclass classification", "arxiv", False, True, False,
          "time", ("node_year",)),
    _node("ogbn-mag", 1, 349, "acc", "multiclass classification", "mag", False, True, False,
          "time", ("node_year",), ("edge_reltype",), version=2, hetero=True),
    _node("ogbn-papers100M", 1, 172, "acc", "multiclass classification", "papers100M-bin",
          False, True, False, "time", ("node_year",), binary=True),
    _link("ogbl-ppa", "hits@100", "link prediction", "ppassoc", True, True, False, "throughput"),
    _link("ogbl-collab", "hits@50", "link prediction", "collab", True, True, False, "time",
          (), ("edge_weight", "edge_year")),
    _link("ogbl-citation2", "mrr", "link prediction", "citation-v2", False, True, False, "time",
          ("node_year",)),
    _link("ogbl-wikikg2", "mrr", "KG completion", "wikikg-v2", False, False, False, "time", (),
          ("edge_reltype",)),
    _link("ogbl-ddi", "hits@20", "link prediction", "ddi", True, False, False, "target"),
    _link("ogbl-biokg", "mrr", "KG completion", "biokg", False, False, False, "random", (),
          ("edge_reltype",), hetero=True),
    _link("ogbl-vessel", "rocauc", "link prediction", "vessel", False, True, True, "spatial",
          binary=True),
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
    OgbInfo("ogbg-ppa", "graph", 1, 37, "acc", "multiclass classification", "ogbg_ppi_medium",
            1, True, False, True, "species"),
    OgbInfo("ogbg-code2", "graph", 1, -1, "F1", "subtoken prediction", "code2", 1, False, True,
            False, "project", ("node_is_attributed", "node_dfs_order", "node_depth")),
)

OGB_DATASETS: dict[str, OgbInfo] = {info.name: info for info in _TABLE}


def ogb_info(name: str) -> OgbInfo:
    """The :class:`OgbInfo` of ``name`` (e.g. ``"ogbl-ddi"``); ``KeyError`` lists the names."""
    try:
        return OGB_DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown OGB dataset {name!r}; known: {sorted(OGB_DATASETS)}") from None
