"""Tests of the Graph / GraphDataset containers (gnnkit/datasets/_graph.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gnnkit.datasets import Graph, GraphDataset


def _triangle(**kwargs: object) -> Graph:
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
    return Graph(edge_index=edge_index, num_nodes=3, **kwargs)  # type: ignore[arg-type]


def test_graph_basic_facts_and_repr() -> None:
    graph = _triangle(x=torch.ones(3, 4), y=torch.tensor([0, 1, 0]), metadata={"name": "tri"})
    assert graph.num_edges == 6
    assert graph.num_features == 4
    assert graph.name == "tri"
    assert graph.edge_index.dtype == torch.int64
    assert repr(graph) == "Graph(name='tri', num_nodes=3, edge_index=[2, 6], x=[3, 4], y=[3])"


def test_graph_is_frozen_and_replace_returns_a_new_value() -> None:
    graph = _triangle(metadata={"name": "tri"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.num_nodes = 4  # type: ignore[misc]
    with pytest.raises(TypeError):
        graph.metadata["name"] = "other"  # type: ignore[index]
    bigger = graph.replace(num_nodes=5)
    assert bigger.num_nodes == 5 and graph.num_nodes == 3
    assert bigger.edge_index is graph.edge_index  # tensors shared, never copied


def test_graph_accepts_int32_edges_and_widens_them() -> None:
    graph = Graph(edge_index=torch.tensor([[0], [1]], dtype=torch.int32), num_nodes=2)
    assert graph.edge_index.dtype == torch.int64


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"edge_index": torch.tensor([[0.0], [1.0]])}, TypeError, "integer dtype"),
        ({"edge_index": torch.tensor([0, 1])}, ValueError, r"shape \(2, E\)"),
        ({"edge_index": torch.tensor([[0], [3]])}, ValueError, "node id 3"),
        ({"edge_index": torch.tensor([[-1], [0]])}, ValueError, "node id -1"),
        ({"x": torch.ones(2, 5)}, ValueError, "num_nodes=3 rows"),
        ({"edge_attr": torch.ones(5)}, ValueError, "E=6 rows"),
        ({"num_nodes": -1}, ValueError, "num_nodes must be >= 0"),
        ({"num_nodes": 2.5}, TypeError, "num_nodes must be an int"),
        ({"node_splits": {"train": torch.ones(4, dtype=torch.bool)}}, ValueError, "mask"),
        ({"node_splits": {"train": torch.tensor([0, 7])}}, ValueError, "outside"),
        ({"edge_splits": {"val_pos": torch.tensor([[0], [9]])}}, ValueError, "val_pos"),
    ],
)
def test_graph_rejects_bad_input(kwargs: dict, error: type, message: str) -> None:
    base = {
        "edge_index": torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]]),
        "num_nodes": 3,
    }
    base.update(kwargs)
    with pytest.raises(error, match=message):
        Graph(**base)


def test_node_splits_index_vectors_become_masks_and_split_index_inverts() -> None:
    graph = _triangle(node_splits={"train": torch.tensor([2, 0]), "val": torch.tensor([1])})
    assert graph.train_mask.tolist() == [True, False, True]
    assert graph.val_mask.tolist() == [False, True, False]
    assert graph.test_mask is None
    assert graph.split_index("train").tolist() == [0, 2]
    with pytest.raises(KeyError, match="available"):
        graph.split_index("test")


def test_multi_split_masks_need_k() -> None:
    masks = torch.tensor([[True, False], [False, True], [True, True]])
    graph = _triangle(node_splits={"train": masks})
    assert graph.split_index("train", 0).tolist() == [0, 2]
    assert graph.split_index("train", 1).tolist() == [1, 2]
    with pytest.raises(ValueError, match="pass k"):
        graph.split_index("train")


def test_ogb_split_edge_layout() -> None:
    graph = _triangle(
        edge_splits={
            "train_pos": torch.tensor([[0, 1], [1, 2]]),
            "val_pos": torch.tensor([[2], [0]]),
            "val_neg": torch.tensor([[0], [0]]),
        }
    )
    split = graph.ogb_split_edge()
    assert set(split) == {"train", "valid"}
    assert split["train"]["edge"].tolist() == [[0, 1], [1, 2]]
    assert split["valid"]["edge"].tolist() == [[2, 0]]
    assert split["valid"]["edge_neg"].tolist() == [[0, 0]]


def test_equal_compares_every_tensor() -> None:
    a = _triangle(x=torch.zeros(3, 2))
    assert a.equal(_triangle(x=torch.zeros(3, 2)))
    assert not a.equal(_triangle(x=torch.ones(3, 2)))
    assert not a.equal(_triangle(x=torch.zeros(3, 2, dtype=torch.float64)))
    assert not a.equal(_triangle())


def test_to_pyg_and_back() -> None:
    pytest.importorskip("torch_geometric")
    graph = _triangle(
        x=torch.randn(3, 2), y=torch.tensor([1, 0, 1]),
        node_splits={"train": torch.tensor([0])},
    )
    data = graph.to_pyg()
    assert data.num_nodes == 3
    assert torch.equal(data.edge_index, graph.edge_index)
    assert data.train_mask.tolist() == [True, False, False]
    back = Graph.from_pyg(data)
    assert back.equal(graph)


def test_to_pyg_without_torch_geometric_is_a_clear_import_error(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("torch_geometric"):
            raise ImportError("no torch_geometric")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install torch-geometric"):
        _triangle().to_pyg()


def test_adj_is_a_sparse_matrix_with_targets_as_rows() -> None:
    sparse = pytest.importorskip("gnnkit.sparse")
    if not hasattr(sparse, "SparseMatrix"):
        pytest.skip("gnnkit.sparse.SparseMatrix not available yet")
    # a directed path 0 -> 1 -> 2: row = target, column = source
    graph = Graph(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    adj = graph.adj
    assert adj is graph.adj  # built once
    assert tuple(adj.shape) == (3, 3)
    dense = torch.zeros(3, 3)
    dense[1, 0] = dense[2, 1] = 1.0
    x = torch.arange(6.0).view(3, 2)
    with sparse.use_backend("reference"):  # the kernel backends are tested elsewhere
        assert torch.equal(sparse.spmm(adj, x), dense @ x)


# ---------------------------------------------------------------------------- GraphDataset
def _dataset() -> GraphDataset:
    graphs = [
        Graph(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2,
              x=torch.tensor([[1.0], [2.0]]),
              edge_attr=torch.tensor([5, 6]), y=torch.tensor([0])),
        Graph(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1,
              x=torch.tensor([[3.0]]), edge_attr=torch.zeros(0, dtype=torch.long),
              y=torch.tensor([1])),
        Graph(edge_index=torch.tensor([[0, 2, 1], [2, 1, 0]]), num_nodes=3,
              x=torch.tensor([[4.0], [5.0], [6.0]]), edge_attr=torch.tensor([7, 8, 9]),
              y=torch.tensor([0])),
    ]
    return GraphDataset.from_graphs(
        graphs, splits={"train": torch.tensor([0, 2]), "test": torch.tensor([1])},
        metadata={"name": "toy"},
    )


def test_graph_dataset_indexing_round_trips_the_graphs() -> None:
    dataset = _dataset()
    assert len(dataset) == 3
    assert dataset.num_nodes.tolist() == [2, 1, 3]
    assert dataset.num_edges.tolist() == [2, 0, 3]
    third = dataset[2]
    assert third.num_nodes == 3
    assert third.edge_index.tolist() == [[0, 2, 1], [2, 1, 0]]
    assert third.x.view(-1).tolist() == [4.0, 5.0, 6.0]
    assert third.edge_attr.tolist() == [7, 8, 9]
    assert third.y.tolist() == [0]
    assert dataset[-1].equal(third)
    with pytest.raises(IndexError):
        dataset[3]
    assert [g.num_nodes for g in dataset] == [2, 1, 3]


def test_graph_dataset_subset_and_split() -> None:
    dataset = _dataset()
    train = dataset.split("train")
    assert len(train) == 2
    assert train[1].x.view(-1).tolist() == [4.0, 5.0, 6.0]
    assert train[1].edge_attr.tolist() == [7, 8, 9]
    assert train.y.tolist() == [0, 0]
    reordered = dataset.subset([2, 0])
    assert reordered[1].edge_index.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(KeyError, match="available"):
        dataset.split("val")


def test_graph_dataset_rejects_local_ids_beyond_their_graph() -> None:
    with pytest.raises(ValueError, match="graph 1"):
        GraphDataset(
            edge_index=torch.tensor([[0, 0], [1, 1]]),
            node_ptr=torch.tensor([0, 2, 3]),
            edge_ptr=torch.tensor([0, 1, 2]),
        )
    with pytest.raises(ValueError, match="split 'train'"):
        GraphDataset(
            edge_index=torch.zeros(2, 0, dtype=torch.long),
            node_ptr=torch.tensor([0, 1]),
            edge_ptr=torch.tensor([0, 0]),
            splits={"train": torch.tensor([1])},
        )


def test_graph_dataset_to_pyg_list_matches_pyg_batching() -> None:
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Batch

    dataset = _dataset()
    batch = Batch.from_data_list(dataset.to_pyg_list())
    # PyG's batch offsets local ids by the node pointer: recompute it independently
    offsets = dataset.node_ptr[:-1].repeat_interleave(dataset.num_edges)
    assert torch.equal(batch.edge_index, dataset.edge_index + offsets)
    assert torch.equal(batch.x, dataset.x)


def test_dataset_items_equal_validated_graphs() -> None:
    # items skip re-validation (the dataset checked everything once): they must still equal
    # graphs built through the checking constructor, field by field
    gen = torch.Generator().manual_seed(3)
    graphs = []
    for n, e in [(0, 0), (4, 6), (1, 0), (5, 9), (3, 0)]:
        edge_index = torch.randint(0, max(n, 1), (2, e if n else 0), generator=gen)
        graphs.append(Graph(edge_index, num_nodes=n, x=torch.randn(n, 2, generator=gen),
                            edge_attr=torch.randn(edge_index.shape[1], generator=gen),
                            y=torch.tensor([float(n)])))
    dataset = GraphDataset.from_graphs(graphs)
    for k, graph in enumerate(graphs):
        item = dataset[k]
        assert item.equal(graph) and item.equal(dataset[k - len(graphs)])
        assert item.edge_index.dtype == torch.int64 and dict(item.metadata) == {"graph_index": k}
        assert not item.node_splits and not item.edge_splits
        rebuilt = Graph(item.edge_index, num_nodes=item.num_nodes, x=item.x,
                        edge_attr=item.edge_attr, y=item.y)
        assert rebuilt.equal(item)
        with pytest.raises(dataclasses.FrozenInstanceError):
            item.num_nodes = 3  # type: ignore[misc]
