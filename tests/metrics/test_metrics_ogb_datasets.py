"""gnnkit's OGB dataset table against the master.csv files shipped with the ogb package."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gnnkit.metrics import OGB_DATASETS, ogb_dataset_info

ogb = pytest.importorskip("ogb")

FOLDERS = {"node": "nodeproppred", "link": "linkproppred", "graph": "graphproppred"}


def read_master(kind: str) -> dict[str, dict[str, str]]:
    """master.csv is transposed: first column = field name, one column per dataset."""
    path = Path(ogb.__file__).parent / FOLDERS[kind] / "master.csv"
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    names = rows[0][1:]
    return {name: {row[0]: row[1 + i] for row in rows[1:]} for i, name in enumerate(names)}


@pytest.mark.parametrize("kind", sorted(FOLDERS))
def test_table_matches_ogb_master_csv(kind: str) -> None:
    master = read_master(kind)
    ours = {name: info for name, info in OGB_DATASETS.items() if info.kind == kind}
    assert set(ours) == set(master)
    for name, fields in master.items():
        info = ours[name]
        assert info.name == name
        assert info.eval_metric == fields["eval metric"], name
        assert info.task_type == fields["task type"], name
        if "num tasks" in fields:
            assert info.num_tasks == int(fields["num tasks"]), name
        else:
            assert info.num_tasks is None
        if "num classes" in fields and int(fields["num classes"]) > 0:
            assert info.num_classes == int(fields["num classes"]), name
        else:
            assert info.num_classes is None, name


def test_hits_k_and_lookup() -> None:
    assert ogb_dataset_info("ogbl-ppa").hits_k == 100
    assert ogb_dataset_info("ogbl-citation2").hits_k is None
    assert OGB_DATASETS["ogbn-proteins"].eval_metric == "rocauc"
    with pytest.raises(TypeError):
        OGB_DATASETS["ogbn-new"] = OGB_DATASETS["ogbn-arxiv"]  # type: ignore[index]
