"""Every folder of ../shared/datasets is covered by the registry and loads through ``load``.

Per-format statistics are asserted in the reader tests; here each folder is loaded the way a
user would (``load(name, root)``) and the incomplete ones fail naming the missing file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gnnkit.datasets import (
    DATASETS,
    Graph,
    GraphDataset,
    Interactions,
    MissingDatasetFileError,
    dataset_status,
    load,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

LOADABLE = {
    # registry name: (type, a size that identifies it)
    "cora": (Graph, 2708),
    "cora-geomgcn": (Graph, 2708),
    "texas": (Graph, 183),
    "wisconsin": (Graph, 251),
    "cornell": (Graph, 183),
    "chameleon": (Graph, 2277),
    "gowalla": (Interactions, 29858),
    "mutag": (GraphDataset, 188),
    "nci1": (GraphDataset, 4110),
    "imdb-binary": (GraphDataset, 1000),
    "ogbl-ddi": (Graph, 4267),
    "ogbg-molbace": (GraphDataset, 1513),
    "ogbg-molesol": (GraphDataset, 1128),
    "ogbg-molfreesolv": (GraphDataset, 642),
    "zinc": (GraphDataset, 12000),
    "graph8c": (GraphDataset, 11117),
}
INCOMPLETE = {
    "pubmed": "ind.pubmed.allx",
    "pubmed-geomgcn": "ind.pubmed.allx",
    "yelp2018": "train.txt",
    "amazon-book": "train.txt",
}


def _size(value: object) -> int:
    if isinstance(value, Graph):
        return value.num_nodes
    if isinstance(value, Interactions):
        return value.num_users
    assert isinstance(value, GraphDataset)
    return len(value)


@pytest.fixture(autouse=True)
def _shared() -> None:
    if not DATA.is_dir():
        pytest.skip("shared datasets folder not present")


def test_every_shared_folder_is_registered() -> None:
    folders = {p.name for p in DATA.iterdir() if p.is_dir() and not p.name.startswith(".")}
    registered = {spec.folder for spec in DATASETS.values()}
    assert folders <= registered, folders - registered


@pytest.mark.parametrize("name", sorted(LOADABLE))
def test_shared_folder_loads(name: str) -> None:
    assert dataset_status(name, DATA) == "complete"
    kind, size = LOADABLE[name]
    value = load(name, DATA)
    assert isinstance(value, kind)
    assert _size(value) == size


def test_collections_load() -> None:
    sr = load("sr-graphs", DATA)
    assert sorted(sr) == ["sr16622", "sr251256", "sr261034", "sr281264", "sr291467",
                          "sr351668", "sr351899", "sr361446", "sr401224"]
    assert len(sr["sr251256"]) == 15
    exp = load("exp", DATA)
    assert len(exp["EXP"]) == len(exp["CEXP"]) == 1200


@pytest.mark.parametrize("name", sorted(INCOMPLETE))
def test_incomplete_shared_folders_name_the_missing_file(name: str) -> None:
    assert dataset_status(name, DATA) == "partial"
    with pytest.raises(MissingDatasetFileError) as info:
        load(name, DATA)
    assert info.value.path.name == INCOMPLETE[name]
    assert f"gnnkit datasets download {name}" in str(info.value)
