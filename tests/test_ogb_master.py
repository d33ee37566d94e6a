"""gnnkit/_ogb_master.py: the one OGB table, against the master.csv files of the ogb package."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gnnkit import datasets, metrics
from gnnkit._ogb_master import OGB_DATASETS, OGBDatasetInfo, ogb_dataset_info

LEVELS = ("node", "link", "graph")


def ogb_master_csv(level: str) -> dict[str, dict[str, str]]:
    """``{name: {field: cell}}`` of the ogb package's ``<level>proppred/master.csv``.

    The file is located without importing ``ogb`` (whose import starts a network version
    check). master.csv is transposed: one row per field, one column per dataset.
    """
    spec = importlib.util.find_spec("ogb")
    if spec is None or spec.origin is None:
        pytest.skip("the ogb package is not installed: `pip install ogb==1.3.6` to compare "
                    "gnnkit's OGB table with its master.csv files")
    path = Path(spec.origin).parent / f"{level}proppred" / "master.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    names = rows[0][1:]
    return {name: {row[0]: row[1 + i] for row in rows[1:]} for i, name in enumerate(names)}


def as_master_row(info: OGBDatasetInfo) -> dict[str, str]:
    """``info`` written back in master.csv's conventions, with exactly the fields OGB has for
    its level (link rows have no task/class counts, graph rows no ``is hetero`` but a
    ``data type``); ``None`` becomes ``-1``/``""``/``"None"`` as in OGB."""

    def files(names: tuple[str, ...]) -> str:
        return ",".join(names) if names else "None"

    row = {
        "eval metric": info.eval_metric,
        "task type": info.task_type,
        "download_name": info.download_name,
        "version": str(info.version),
        "url": info.url,
        "add_inverse_edge": str(info.add_inverse_edge),
        "has_node_attr": str(info.has_node_attr),
        "has_edge_attr": str(info.has_edge_attr),
        "split": info.split,
        "additional node files": files(info.additional_node_files),
        "additional edge files": files(info.additional_edge_files),
        "binary": str(info.binary),
    }
    if info.level != "link":
        row["num tasks"] = str(info.num_tasks)
        row["num classes"] = str(-1 if info.num_classes is None else info.num_classes)
    if info.level != "graph":
        row["is hetero"] = str(info.is_hetero)
    else:
        row["data type"] = info.data_type or ""
    return row


@pytest.mark.parametrize("level", LEVELS)
def test_table_equals_ogb_master_csv(level: str) -> None:
    reference = ogb_master_csv(level)
    ours = {name: info for name, info in OGB_DATASETS.items() if info.level == level}
    assert list(ours) == list(reference)  # same names, in OGB's order
    for name, info in ours.items():
        assert info.name == name
        assert as_master_row(info) == reference[name], name


def test_conventions_of_not_applicable_fields() -> None:
    for info in OGB_DATASETS.values():
        assert info.level in LEVELS
        assert info.name.startswith(f"ogb{info.level[0]}-"), info.name
        assert (info.num_tasks is None) == (info.level == "link"), info.name
        if info.level == "link" or info.task_type in ("regression", "subtoken prediction"):
            assert info.num_classes is None, info.name
        else:
            assert info.num_classes is not None and info.num_classes >= 2, info.name
    assert OGB_DATASETS["ogbg-molesol"].num_classes is None  # OGB writes -1
    assert OGB_DATASETS["ogbg-ppa"].data_type is None  # OGB leaves the cell empty


def test_url_and_hits_k() -> None:
    assert OGB_DATASETS["ogbg-molhiv"].url == (
        "http://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/hiv.zip")
    assert OGB_DATASETS["ogbl-ppa"].url == "http://snap.stanford.edu/ogb/data/linkproppred/ppassoc.zip"
    assert OGB_DATASETS["ogbl-ppa"].hits_k == 100
    assert OGB_DATASETS["ogbl-ddi"].hits_k == 20
    assert OGB_DATASETS["ogbl-citation2"].hits_k is None
    assert OGB_DATASETS["ogbn-arxiv"].hits_k is None


def test_lookup_and_errors() -> None:
    assert ogb_dataset_info("ogbl-ddi") is OGB_DATASETS["ogbl-ddi"]
    with pytest.raises(ValueError, match=r"unknown OGB dataset name 'ogbg-molhvi'\. "
                                         r"Did you mean: ogbg-molhiv"):
        ogb_dataset_info("ogbg-molhvi")
    with pytest.raises(ValueError, match="Known names: ogbn-proteins, ogbn-products"):
        ogb_dataset_info("nothing-like-it")
    with pytest.raises(TypeError, match="OGB dataset name must be a str, got int"):
        ogb_dataset_info(3)  # type: ignore[arg-type]


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        OGB_DATASETS["ogbn-new"] = OGB_DATASETS["ogbn-arxiv"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        OGB_DATASETS["ogbn-arxiv"].num_tasks = 2  # type: ignore[misc]


def test_datasets_and_metrics_share_the_one_table() -> None:
    for package in (datasets, metrics):
        assert package.OGB_DATASETS is OGB_DATASETS
        assert package.OGBDatasetInfo is OGBDatasetInfo
        assert package.ogb_dataset_info is ogb_dataset_info
        assert {"OGB_DATASETS", "OGBDatasetInfo", "ogb_dataset_info"} <= set(package.__all__)
    assert metrics.Evaluator("ogbn-arxiv").info is OGB_DATASETS["ogbn-arxiv"]
    assert datasets.get_spec("ogbl-collab").archive.url == OGB_DATASETS["ogbl-collab"].url


def test_layering_the_table_and_metrics_do_not_import_datasets() -> None:
    code = (
        "import sys\n"
        "import gnnkit._ogb_master\n"
        "heavy = sorted(m for m in sys.modules if m in ('torch', 'numpy')"
        " or m.startswith(('gnnkit.datasets', 'gnnkit.metrics', 'gnnkit.sparse')))\n"
        "assert not heavy, heavy\n"
        "import gnnkit.metrics\n"
        "leaked = sorted(m for m in sys.modules if m.startswith('gnnkit.datasets'))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
