"""The graph preprocessing options of node classification's ``[dataset]`` table
(``self_loops``, ``edge_direction``, ``drop_unlabelled``; gnnkit/bench/data.py and the task's
``parse_dataset``), checked against dense adjacency matrices built here from the edge list."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gnnkit.bench.data as bench_data
from gnnkit.bench.data import NodeDatasetSpec, load_node_data
from gnnkit.bench.experiment import parse_experiment
from gnnkit.bench.schema import DatasetSpec, ExperimentError
from gnnkit.datasets import Graph

NUM_NODES = 7
# directed, with a duplicate, a reciprocal pair (1 <-> 2), self loops and an isolated node 6
EDGES = [(0, 1), (1, 2), (2, 1), (0, 1), (3, 3), (4, 0), (5, 5), (3, 4)]


def _write_geomgcn(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rows = [f"{i}\t{i % 2},{(i + 1) % 2},1\t{i % 3}" for i in range(NUM_NODES)]
    (folder / "out1_node_feature_label.txt").write_text(
        "\n".join(["node_id\tfeature\tlabel", *rows]) + "\n")
    (folder / "out1_graph_edges.txt").write_text(
        "\n".join(["node_id\tnode_id", *(f"{u}\t{v}" for u, v in EDGES)]) + "\n")
    for k in range(10):
        part = np.roll(np.arange(NUM_NODES) % 3, k)
        np.savez(folder / f"toy_split_0.6_0.2_{k}.npz", train_mask=part == 0,
                 val_mask=part == 1, test_mask=part == 2)
    return folder


def _oracle(*, undirected: bool, reversed_: bool, remove_loops: bool) -> torch.Tensor:
    """``A[i, j] = 1`` when node ``i`` aggregates node ``j`` (row = target)."""
    dense = torch.zeros(NUM_NODES, NUM_NODES)
    for source, target in EDGES:
        if reversed_:
            dense[source, target] = 1.0
        else:
            dense[target, source] = 1.0
        if undirected:
            dense[source, target] = dense[target, source] = 1.0
    if remove_loops:
        dense.fill_diagonal_(0.0)
    return dense


EXPERIMENT: dict[str, Any] = {
    "id": "toy", "title": "toy", "task": "node_classification",
    "dataset": {"name": "toy", "source": "geomgcn", "split": "geom-gcn", "folders": ["toy"]},
    "model": {"name": "gcn", "hidden_channels": 4},
    "training": {"lr": 0.01, "epochs": 2},
}


def _parse(**dataset: Any) -> DatasetSpec:
    data = copy.deepcopy(EXPERIMENT)
    data["dataset"].update(dataset)
    return parse_experiment(data, Path("toy.toml")).dataset


@pytest.mark.parametrize("undirected", [False, True])
@pytest.mark.parametrize("direction", ["as_listed", "reversed"])
@pytest.mark.parametrize("self_loops", ["keep", "remove"])
def test_adjacency_matches_the_dense_oracle(tmp_path: Path, undirected: bool, direction: str,
                                            self_loops: str) -> None:
    _write_geomgcn(tmp_path / "toy")
    if undirected and direction == "reversed":
        with pytest.raises(ExperimentError, match="edge_direction = 'reversed' has no effect"):
            _parse(undirected=True, edge_direction="reversed")
        return
    spec = _parse(undirected=undirected, edge_direction=direction, self_loops=self_loops)
    assert isinstance(spec, NodeDatasetSpec)
    assert (spec.edge_direction, spec.self_loops) == (direction, self_loops)
    data = load_node_data(spec, roots=[tmp_path])
    expected = _oracle(undirected=undirected, reversed_=direction == "reversed",
                       remove_loops=self_loops == "remove")
    assert torch.equal(data.adjacency.to_dense(), expected)
    assert data.num_splits == 10 and data.num_features == 3
    if self_loops == "remove":
        assert "2 self loops removed" in data.description
    if direction == "reversed":
        assert "edges reversed" in data.description


def test_defaults_keep_the_previous_behaviour(tmp_path: Path) -> None:
    _write_geomgcn(tmp_path / "toy")
    spec = _parse()
    assert (spec.self_loops, spec.edge_direction, spec.drop_unlabelled) == (
        "keep", "as_listed", False)
    plain = DatasetSpec(name="toy", source="geomgcn", split="geom-gcn", folders=("toy",))
    ours, theirs = load_node_data(spec, [tmp_path]), load_node_data(plain, [tmp_path])
    assert torch.equal(ours.adjacency.to_dense(), theirs.adjacency.to_dense())
    assert torch.equal(ours.train, theirs.train)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"self_loops": "drop"}, r"dataset\.self_loops must be one of \['keep', 'remove'\]"),
        ({"edge_direction": "out"}, r"dataset\.edge_direction must be one of"),
        ({"drop_unlabelled": "yes"}, r"dataset\.drop_unlabelled must be bool"),
        ({"self_loop": "remove"}, r"unknown key\(s\) \['self_loop'\].*'self_loops'"),
        ({"split": "random"}, "dataset.split 'random' is not a node_classification split"),
    ],
)
def test_bad_options_name_the_key_and_the_choices(dataset: dict[str, Any], message: str
                                                  ) -> None:
    with pytest.raises(ExperimentError, match=message) as info:
        _parse(**dataset)
    assert str(info.value).startswith("toy.toml: ")


def test_drop_unlabelled_removes_padded_and_unlabelled_nodes_from_every_mask(
        monkeypatch: pytest.MonkeyPatch) -> None:
    masks = {name: torch.zeros(NUM_NODES, 2, dtype=torch.bool) for name in ("train", "val",
                                                                          "test")}
    masks["train"][[0, 1, 2], 0] = True
    masks["val"][[3, 4], :] = True
    masks["test"][[5, 6], :] = True
    masks["train"][[0, 1, 2], 1] = True
    graph = Graph(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=NUM_NODES,
                  x=torch.ones(NUM_NODES, 2), y=torch.zeros(NUM_NODES, dtype=torch.long),
                  node_splits=masks,
                  metadata={"padded_nodes": [2, 5], "unlabelled_nodes": [4, 5]})
    monkeypatch.setattr(bench_data, "_load_graph", lambda spec, roots: graph)
    spec = NodeDatasetSpec(name="toy", source="planetoid", drop_unlabelled=True)
    data = load_node_data(spec, roots=[])
    dropped = torch.tensor([False, False, True, False, True, True, False])
    for name, kept in (("train", data.train), ("val", data.val), ("test", data.test)):
        assert torch.equal(kept, masks[name] & ~dropped[:, None])
    assert "3 unlabelled nodes dropped" in data.description
    same = load_node_data(NodeDatasetSpec(name="toy", source="planetoid"), roots=[])
    assert torch.equal(same.train, masks["train"]) and torch.equal(same.test, masks["test"])
