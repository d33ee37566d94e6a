"""GraphBatch / collate: against a Python-loop oracle, PyG's Batch, a DataLoader, bad inputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from shared_data import require_shared_datasets
from torch.utils.data import DataLoader

from gnnkit.data import GraphBatch, collate
from gnnkit.datasets import Graph, GraphDataset, read_tu


def random_graph(gen: torch.Generator, n: int, e: int, *, f: int = 3, d: int = 2,
                 t: int | None = None) -> Graph:
    """A random graph (duplicates and self-loops allowed) with x, edge_attr and graph y."""
    edge_index = torch.randint(0, max(n, 1), (2, e if n else 0), generator=gen)
    y = torch.randint(0, 2, (1,) if t is None else (1, t), generator=gen)
    return Graph(edge_index, num_nodes=n, x=torch.randn(n, f, generator=gen),
                 edge_attr=torch.randn(edge_index.shape[1], d, generator=gen), y=y)


def adversarial_graphs() -> list[Graph]:
    """Empty graphs first, last and in the middle; an edgeless graph; duplicate edges."""
    gen = torch.Generator().manual_seed(0)
    sizes = [(0, 0), (4, 7), (1, 0), (0, 0), (5, 12), (3, 0), (2, 4), (0, 0)]
    graphs = [random_graph(gen, n, e) for n, e in sizes]
    dup = Graph(torch.tensor([[0, 0, 1, 0], [1, 1, 0, 1]]), num_nodes=2,
                x=torch.randn(2, 3, generator=gen),
                edge_attr=torch.arange(8.0).view(4, 2), y=torch.tensor([1]))
    return [*graphs[:4], dup, *graphs[4:]]


def loop_oracle(graphs: list[Graph]) -> tuple[torch.Tensor, list[int], list[int]]:
    """Dense block-diagonal adjacency, batch vector and ptr, built node by node / edge by edge."""
    total = sum(g.num_nodes for g in graphs)
    dense = torch.zeros(total, total)
    batch, ptr, offset = [], [0], 0
    for k, g in enumerate(graphs):
        for s, t in g.edge_index.t().tolist():
            dense[t + offset, s + offset] += 1
        batch += [k] * g.num_nodes
        offset += g.num_nodes
        ptr.append(offset)
    return dense, batch, ptr


def test_structure_matches_python_loop() -> None:
    graphs = adversarial_graphs()
    b = collate(graphs)
    dense, batch, ptr = loop_oracle(graphs)
    assert torch.equal(b.adj.to_dense(), dense)
    assert b.batch.tolist() == batch and b.batch.dtype == torch.int64
    assert b.ptr.tolist() == ptr and b.ptr.dtype == torch.int64
    assert b.num_graphs == len(graphs)
    assert b.num_nodes == len(batch)
    assert b.num_edges == sum(g.num_edges for g in graphs)
    assert torch.equal(b.x, torch.cat([g.x for g in graphs]))
    assert torch.equal(b.y, torch.cat([g.y for g in graphs]))
    assert b.node_counts.tolist() == [g.num_nodes for g in graphs]


def test_edge_attr_follows_csr_order() -> None:
    graphs = adversarial_graphs()
    b = collate(graphs)
    # every CSR entry (row=target, col=source) carries the attribute of the edge it came from
    flat = []
    for g, offset in zip(graphs, b.ptr.tolist(), strict=False):
        for e, (s, t) in enumerate(g.edge_index.t().tolist()):
            flat.append((t + offset, s + offset, g.edge_attr[e]))
    assert len(flat) == b.num_edges
    for entry, source_edge in enumerate(b.edge_order.tolist()):
        t, s, attr = flat[source_edge]
        assert (int(b.adj.row[entry]), int(b.adj.col[entry])) == (t, s)
        assert torch.equal(b.edge_attr[entry], attr)
    # stable: duplicates keep their input order (edge_order increases within equal entries)
    keys = b.adj.row * b.num_nodes + b.adj.col
    same = keys[1:] == keys[:-1]
    assert bool((b.edge_order[1:][same] > b.edge_order[:-1][same]).all())
    # edges of graph g are contiguous in CSR order: edge_ptr delimits them
    counts = [g.num_edges for g in graphs]
    assert (b.edge_ptr[1:] - b.edge_ptr[:-1]).tolist() == counts


def test_matches_pyg_batch() -> None:
    pyg_batch = pytest.importorskip("torch_geometric.data").Batch
    graphs = adversarial_graphs()
    b = collate(graphs)
    ref = pyg_batch.from_data_list([g.to_pyg() for g in graphs])
    assert torch.equal(b.x, ref.x)
    assert torch.equal(b.batch, ref.batch)
    assert torch.equal(b.ptr, ref.ptr)
    assert torch.equal(b.y, ref.y)
    assert b.num_graphs == ref.num_graphs
    # PyG keeps input edge order; sorting its edges the same stable way must give our CSR
    from gnnkit.sparse import SparseMatrix
    their = SparseMatrix.from_edge_index(ref.edge_index, ref.edge_attr, shape=b.num_nodes)
    assert torch.equal(their.rowptr, b.adj.rowptr)
    assert torch.equal(their.col, b.adj.col)
    assert torch.equal(their.values, b.edge_attr)


@pytest.mark.parametrize("case", ["adversarial", "single", "single_empty", "no_features",
                                  "multi_target", "int_features"])
def test_unbatch_round_trip(case: str) -> None:
    gen = torch.Generator().manual_seed(1)
    graphs = {
        "adversarial": adversarial_graphs(),
        "single": [random_graph(gen, 6, 10)],
        "single_empty": [Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=0)],
        "no_features": [Graph(torch.tensor([[0], [1]]), num_nodes=2),
                        Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=3)],
        "multi_target": [random_graph(gen, 3, 4, t=5), random_graph(gen, 0, 0, t=5)],
        "int_features": [Graph(torch.tensor([[0], [1]]), 2, x=torch.tensor([[3], [4]])),
                         Graph(torch.tensor([[0], [0]]), 1, x=torch.tensor([[5]]))],
    }[case]
    b = collate(graphs)
    back = b.unbatch()
    assert len(back) == len(graphs)
    for original, restored in zip(graphs, back, strict=True):
        assert original.equal(restored)


def test_graph_dataset_items_and_layer_on_batch() -> None:
    graphs = adversarial_graphs()
    dataset = GraphDataset.from_graphs(graphs)
    assert isinstance(dataset[0], Graph)  # what a DataLoader hands to collate
    b = collate([dataset[i] for i in range(len(dataset))])
    assert torch.equal(b.adj.to_dense(), collate(graphs).adj.to_dense())
    assert torch.equal(b.y, dataset.y)
    # a message-passing layer on the disjoint union = the layer on each graph separately
    from gnnkit.nn import GINConv
    torch.manual_seed(0)
    conv = GINConv(torch.nn.Linear(3, 4), eps=0.5)
    whole = conv(b.x, b.adj)
    parts = [conv(g.x, g.adj) for g in graphs]
    torch.testing.assert_close(whole, torch.cat(parts))


def _pool_sum(b: GraphBatch) -> torch.Tensor:
    from gnnkit.nn.pool import global_add_pool
    return global_add_pool(b.x, b.ptr)


class _InMemory(torch.utils.data.Dataset):  # module level: picklable for worker processes
    def __init__(self, graphs: list[Graph]) -> None:
        self.graphs = graphs

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> Graph:
        return self.graphs[i]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader(num_workers: int) -> None:
    gen = torch.Generator().manual_seed(2)
    graphs = [random_graph(gen, int(n), int(e))
              for n, e in zip(torch.randint(0, 6, (11,), generator=gen),
                              torch.randint(0, 9, (11,), generator=gen), strict=True)]
    loader = DataLoader(_InMemory(graphs), batch_size=4, shuffle=False, collate_fn=collate,
                        num_workers=num_workers, pin_memory=False)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [4, 4, 3]
    for k, b in enumerate(batches):
        expected = collate(graphs[4 * k : 4 * k + 4])
        assert isinstance(b, GraphBatch)
        assert torch.equal(b.adj.to_dense(), expected.adj.to_dense())
        assert torch.equal(b.edge_attr, expected.edge_attr)
        assert torch.equal(_pool_sum(b), _pool_sum(expected))
        assert all(x.equal(y) for x, y in zip(b.unbatch(), graphs[4 * k : 4 * k + 4],
                                              strict=True))


def test_dataloader_on_mutag() -> None:
    root = require_shared_datasets("tu-MUTAG")
    dataset = read_tu(root / "tu-MUTAG", "MUTAG")
    loader = DataLoader(dataset, batch_size=64, collate_fn=collate)
    seen = 0
    for b in loader:
        assert b.x.shape[0] == b.num_nodes and b.edge_attr.shape[0] == b.num_edges
        seen += b.num_graphs
    assert seen == len(dataset) == 188
    first = next(iter(loader))
    assert torch.equal(first.y, dataset.y[:64])
    assert torch.equal(first.x, dataset.x[: int(dataset.node_ptr[64])])


def test_immutable_to_and_pin_memory() -> None:
    b = collate(adversarial_graphs())
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.x = None  # type: ignore[misc]
    moved = b.to("cpu")
    assert moved is not b and torch.equal(moved.adj.to_dense(), b.adj.to_dense())
    meta = b.to("meta")
    tensors = [meta.batch, meta.ptr, meta.x, meta.edge_attr, meta.y, meta.edge_order,
               meta.adj.rowptr, meta.adj.col]
    assert all(t.device.type == "meta" for t in tensors)
    assert b.x.device.type == "cpu"  # the original is untouched
    if not torch.cuda.is_available():
        pytest.skip("pin_memory needs an accelerator; none on this machine")
    pinned = b.pin_memory()
    assert pinned.x.is_pinned() and pinned.adj.col.is_pinned()


def test_errors_name_the_problem() -> None:
    gen = torch.Generator().manual_seed(3)
    g = random_graph(gen, 3, 4)
    with pytest.raises(ValueError, match="at least one graph"):
        collate([])
    with pytest.raises(TypeError, match="single Graph"):
        collate(g)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"graphs\[1\].*Graph.from_pyg"):
        collate([g, g.to_pyg()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"graphs\[1\]\.x is None but graphs\[0\]\.x is set"):
        collate([g, g.replace(x=None)])
    with pytest.raises(ValueError, match=r"graphs\[1\]\.x .*float64.*graphs\[0\]\.x.*float32"):
        collate([g, g.replace(x=g.x.double())])
    with pytest.raises(ValueError, match=r"graphs\[2\]\.edge_attr .*trailing shape"):
        collate([g, g, g.replace(edge_attr=torch.randn(4, 5))])
    with pytest.raises(ValueError, match=r"graphs\[1\]\.y has shape \(3,\)"):
        collate([g, g.replace(y=torch.tensor([0, 1, 0]))])
    with pytest.raises(ValueError, match=r"graphs\[0\]\.y has shape \(\).*y.view\(1\)"):
        collate([g.replace(y=torch.tensor(1))])
    with pytest.raises(ValueError, match=r"node_splits=\{\}"):
        collate([g.replace(node_splits={"train": torch.ones(3, dtype=torch.bool)})])
    with pytest.raises(ValueError, match=r"graphs\[1\]\.x .*device meta.*convert with \.to"):
        collate([g, g.replace(x=g.x.to("meta"))])
    on_meta = Graph(torch.zeros(2, 0, dtype=torch.long, device="meta"), num_nodes=0)
    with pytest.raises(ValueError, match=r"graphs\[1\]\.edge_index is on meta"):
        collate([g, on_meta])


def _equal_batches(a: GraphBatch, b: GraphBatch) -> None:
    assert torch.equal(a.adj.rowptr.long(), b.adj.rowptr.long())
    assert torch.equal(a.adj.col.long(), b.adj.col.long())
    for name in ("batch", "ptr", "x", "edge_attr", "y", "edge_order"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            assert left.dtype == right.dtype and torch.equal(left, right), name


@pytest.mark.parametrize("edge_shape", ["matrix", "vector"])
def test_from_dataset_equals_items_then_from_graphs(edge_shape: str) -> None:
    gen = torch.Generator().manual_seed(11)
    graphs = [*adversarial_graphs(), *(random_graph(gen, n, e) for n, e in
                                       [(5, 9), (1, 0), (7, 20), (3, 3)])]
    if edge_shape == "vector":
        graphs = [g.replace(edge_attr=g.edge_attr[:, 0]) for g in graphs]
    dataset = GraphDataset.from_graphs(graphs)
    index = torch.tensor([4, 0, 2, 2, len(graphs) - 1, 1])
    _equal_batches(GraphBatch.from_dataset(dataset, index),
                   collate([dataset[int(i)] for i in index]))
    _equal_batches(GraphBatch.from_dataset(dataset), collate(list(dataset)))
    # a DataLoader fetches whole batches through __getitems__; collate takes the fast path
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate)
    for k, batch in enumerate(loader):
        _equal_batches(batch, collate([dataset[i] for i in range(3 * k, min(3 * k + 3,
                                                                            len(graphs)))]))
    with pytest.raises(ValueError, match="at least one graph"):
        GraphBatch.from_dataset(dataset, [])
    with pytest.raises(IndexError):
        GraphBatch.from_dataset(dataset, [len(graphs)])
    with pytest.raises(TypeError, match="GraphDataset"):
        GraphBatch.from_dataset(graphs)  # type: ignore[arg-type]
