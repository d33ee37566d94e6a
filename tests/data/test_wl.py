"""The 1-WL oracle (gnnkit.data.wl) against theory, networkx and the datasets' verified facts.

Expected answers come from graph theory (regular graphs of equal degree and size, decalin vs
bicyclopentyl, degree sequences), from networkx's independent ``weisfeiler_lehman_graph_hash``
(optional: those tests skip without it) and from the facts recorded in the data folders'
SOURCE.txt files (EXP: all 600 pairs 1-WL-equivalent; CEXP: 300 of 600; every strongly regular
family one class; graph8c: 10897 classes).
"""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from shared_data import require_shared_datasets

from gnnkit.data import collate
from gnnkit.data.wl import (
    _multiset_ids,
    count_equivalent_pairs,
    wl_classes,
    wl_colors,
    wl_equivalent_pairs,
    wl_histograms,
    wl_separates,
)
from gnnkit.datasets import Graph, GraphDataset
from gnnkit.datasets.expressivity import read_exp, read_graph6


def undirected(pairs: list[tuple[int, int]], n: int, labels: list[int] | None = None) -> Graph:
    edges = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
    x = None if labels is None else torch.tensor(labels).view(n, 1)
    return Graph(torch.cat([edges, edges.flip(0)], dim=1), num_nodes=n, x=x)


def directed(pairs: list[tuple[int, int]], n: int) -> Graph:
    return Graph(torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T, num_nodes=n)


def cycle(n: int, labels: list[int] | None = None) -> Graph:
    return undirected([(i, (i + 1) % n) for i in range(n)], n, labels)


def same(graphs: list[Graph], **options: object) -> bool:
    classes = wl_classes(graphs, **options)  # type: ignore[arg-type]
    return bool((classes == classes[0]).all())


TRIANGLES = undirected([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)], 6)
HEXAGON = cycle(6)
C4 = cycle(4)
STAR = undirected([(0, 1), (0, 2), (0, 3)], 4)
PATH = undirected([(0, 1), (1, 2), (2, 3)], 4)
# two fused hexagons sharing the bond 0-5, and two pentagons joined by the bond 0-5: both
# have 10 nodes, 11 edges, two nodes of degree 3 adjacent to each other (the classical pair
# of molecules 1-WL cannot separate)
DECALIN = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0),
                      (5, 6), (6, 7), (7, 8), (8, 9), (9, 0)], 10)
BICYCLOPENTYL = undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 0),
                            (5, 6), (6, 7), (7, 8), (8, 9), (9, 5), (0, 5)], 10)
# two cubic graphs on 8 nodes: the 3-cube (bipartite) and the Wagner graph (an 8-cycle with
# its four long diagonals; it has 5-cycles, so it is not the cube)
CUBE = undirected([(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4),
                   (0, 4), (1, 5), (2, 6), (3, 7)], 8)
WAGNER = undirected([(i, (i + 1) % 8) for i in range(8)] + [(i, i + 4) for i in range(4)], 8)


# ---------------------------------------------------------------------------- theory
def test_pairs_with_known_answers() -> None:
    assert same([TRIANGLES, HEXAGON])  # both 2-regular on 6 nodes
    assert same([DECALIN, BICYCLOPENTYL])
    assert same([CUBE, WAGNER])  # both 3-regular on 8 nodes
    assert not same([C4, STAR]) and not same([C4, PATH]) and not same([STAR, PATH])
    classes = wl_classes([TRIANGLES, C4, HEXAGON, PATH, STAR, C4])
    assert classes.tolist() == [0, 1, 0, 2, 3, 1]  # numbered by first appearance


def test_regular_graphs_of_equal_degree_and_size_are_one_class() -> None:
    networkx = pytest.importorskip("networkx")
    graphs = []
    for seed in range(12):
        g = networkx.random_regular_graph(3, 10, seed=seed)
        graphs.append(undirected(list(g.edges()), 10))
    assert same(graphs)
    # a different degree or size is a different class
    assert not same([graphs[0], cycle(10)]) and not same([graphs[0], CUBE])


def test_node_labels_separate_what_structure_cannot() -> None:
    alternating = cycle(6, [0, 1, 0, 1, 0, 1])
    blocks = cycle(6, [0, 0, 0, 1, 1, 1])  # the same label counts, different neighbourhoods
    assert not same([alternating, blocks])
    assert same([alternating, blocks], initial="uniform")
    relabelled = cycle(6, [1, 0, 1, 0, 1, 0])  # isomorphic to `alternating`
    assert same([alternating, relabelled])
    # rows of x are compared exactly, float one-hot rows included
    one_hot = [g.replace(x=torch.nn.functional.one_hot(g.x.view(-1), 2).double())  # type: ignore[union-attr]
               for g in (alternating, blocks, relabelled)]
    assert wl_classes(one_hot).tolist() == [0, 1, 0]
    # explicit initial colours override x
    explicit = torch.tensor([0, 1] * 3 + [0] * 6)
    assert wl_classes([alternating, HEXAGON], initial=explicit).tolist() == [0, 1]


def test_empty_edgeless_and_isolated_nodes() -> None:
    empty = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=0)
    single = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=1)
    pair = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=2)
    edge_plus_isolated = undirected([(0, 1)], 3)
    path3 = undirected([(0, 1), (1, 2)], 3)
    classes = wl_classes([empty, single, pair, empty, edge_plus_isolated, path3])
    assert classes.tolist() == [0, 1, 2, 0, 3, 4]
    coloring = wl_colors([empty])
    assert coloring.colors.numel() == 0 and coloring.stable and coloring.num_colors == 0
    assert wl_histograms([empty, single]) == [(), ((0, 1),)]
    assert wl_colors([pair]).rounds == 0 and wl_colors([pair]).stable


def test_directed_edges_are_used_as_given() -> None:
    # as undirected graphs both are the star K1,3; directed, the centre receives in one and
    # sends in the other, so the in-neighbour multisets differ
    in_star = directed([(1, 0), (2, 0), (3, 0)], 4)
    out_star = directed([(0, 1), (0, 2), (0, 3)], 4)
    assert not same([in_star, out_star])
    assert same([directed([(0, 1)], 2), directed([(1, 0)], 2)])  # isomorphic directed graphs
    # duplicate edges count as often as they are stored (as sum aggregation counts them)
    double = directed([(0, 1), (0, 1), (1, 0), (1, 0)], 2)
    assert not same([double, undirected([(0, 1)], 2)])


def test_colours_are_canonical_under_node_and_graph_permutations() -> None:
    rng = random.Random(0)
    graphs = [DECALIN, BICYCLOPENTYL, CUBE, WAGNER, C4, PATH, STAR, HEXAGON]
    permuted = []
    for graph in graphs:
        perm = list(range(graph.num_nodes))
        rng.shuffle(perm)
        mapping = torch.tensor(perm)
        permuted.append(Graph(mapping[graph.edge_index], num_nodes=graph.num_nodes))
    both = wl_classes(graphs + permuted)
    assert torch.equal(both[:len(graphs)], both[len(graphs):])
    # the colours' ids depend on the set of graphs only, not on their order
    order = list(range(len(graphs)))
    rng.shuffle(order)
    colors = wl_colors(graphs)
    shuffled = wl_colors([graphs[k] for k in order])
    for position, k in enumerate(order):
        mine = colors.colors[colors.ptr[k]:colors.ptr[k + 1]].sort().values
        theirs = shuffled.colors[shuffled.ptr[position]:shuffled.ptr[position + 1]]
        assert torch.equal(mine, theirs.sort().values)


def test_dataset_batch_and_list_inputs_agree() -> None:
    graphs = [DECALIN, BICYCLOPENTYL, CUBE, C4, PATH]
    reference = wl_colors(graphs)
    for source in (GraphDataset.from_graphs(graphs), collate(graphs)):
        coloring = wl_colors(source)
        assert torch.equal(coloring.colors, reference.colors)
        assert torch.equal(coloring.ptr, reference.ptr)
        assert coloring.rounds == reference.rounds
    assert wl_colors(reference) is reference  # a coloring is reused, not recomputed
    assert torch.equal(wl_classes(reference), wl_classes(graphs))


def test_pair_helpers_match_brute_force() -> None:
    graphs = [TRIANGLES, C4, HEXAGON, CUBE, PATH, WAGNER, C4, STAR, HEXAGON]
    classes = wl_classes(graphs)
    brute = [(i, j) for i, j in itertools.combinations(range(len(graphs)), 2)
             if classes[i] == classes[j]]
    pairs = wl_equivalent_pairs(graphs)
    assert [tuple(p) for p in pairs.T.tolist()] == brute
    assert count_equivalent_pairs(classes) == len(brute) == 5  # 3 + 1 + 1 by hand
    assert torch.equal(wl_equivalent_pairs(classes), pairs)
    query = torch.tensor([[0, 1, 3, 4], [2, 6, 5, 7]])
    assert wl_separates(graphs, query).tolist() == [False, False, False, True]
    assert wl_equivalent_pairs([C4]).shape == (2, 0)
    with pytest.raises(ValueError, match=r"pairs must be \(2, P\)"):
        wl_separates(classes, torch.tensor([0, 1]))
    with pytest.raises(IndexError, match="outside"):
        wl_separates(classes, torch.tensor([[0], [9]]))


def test_histograms_are_canonical_keys() -> None:
    keys = wl_histograms([TRIANGLES, HEXAGON, C4, STAR])
    assert keys[0] == keys[1] and len({keys[1], keys[2], keys[3]}) == 3
    assert sum(count for _, count in keys[3]) == 4
    assert [c for c, _ in keys[3]] == sorted(c for c, _ in keys[3])


def test_max_iterations_bounds_the_rounds() -> None:
    # P6 and C3 + P3 have the same degree histogram ({1: 2, 2: 4}): one round cannot separate
    # them; the second sees that P3's middle node has two degree-1 neighbours, which no node
    # of P6 has
    path6 = undirected([(i, i + 1) for i in range(5)], 6)
    triangle_and_path = undirected([(0, 1), (1, 2), (2, 0), (3, 4), (4, 5)], 6)
    graphs = [path6, triangle_and_path]
    one = wl_colors(graphs, max_iterations=1)
    assert one.rounds == 1 and not one.stable and one.classes().tolist() == [0, 0]
    assert wl_classes(graphs).tolist() == [0, 1]
    zero = wl_colors(graphs, max_iterations=0)
    assert zero.rounds == 0 and int(zero.colors.max()) == 0
    full = wl_colors(graphs)
    assert full.stable and full.rounds >= 2
    assert wl_colors(graphs, max_iterations=full.rounds + 1).stable


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"graphs\[1\]\.x is None but graphs\[0\]\.x is set"):
        wl_colors([cycle(3, [0, 0, 1]), cycle(3)])
    with pytest.raises(ValueError, match="initial must be one of"):
        wl_colors([C4], initial="degree")
    with pytest.raises(ValueError, match="max_iterations must be a non-negative int"):
        wl_colors([C4], max_iterations=-1)
    with pytest.raises(ValueError, match="one entry"):
        wl_colors([C4], initial=torch.zeros(3))
    with pytest.raises(TypeError, match="must be a GraphDataset"):
        wl_colors("C4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        wl_colors([])


def test_multiset_ids_are_exact_for_any_degree() -> None:
    """The prefix-doubling naming of multisets against Python's sorted tuples, with owners of
    very different sizes (1 to 70 entries, so several doubling levels) and empty owners."""
    rng = random.Random(1)
    multisets = [[rng.randrange(4) for _ in range(rng.choice([0, 1, 2, 3, 5, 8, 70]))]
                 for _ in range(300)]
    multisets += [list(m) for m in multisets[:50]]  # guaranteed repeats
    for m in multisets[-50:]:
        rng.shuffle(m)
    owner = torch.tensor([k for k, m in enumerate(multisets) for _ in m], dtype=torch.long)
    values = torch.tensor([v for m in multisets for v in m], dtype=torch.long)
    ids = _multiset_ids(owner, values, len(multisets)).tolist()
    keys = [tuple(sorted(m)) for m in multisets]
    for a, b in itertools.combinations(range(len(multisets)), 2):
        assert (ids[a] == ids[b]) == (keys[a] == keys[b])
    assert all((ids[k] == -1) == (not m) for k, m in enumerate(multisets))


# ---------------------------------------------------------------------------- networkx
def _nx_hash(graph: Graph, iterations: int) -> str:
    networkx = pytest.importorskip("networkx")
    g = networkx.Graph()
    labels = [0] * graph.num_nodes if graph.x is None else graph.x.view(-1).tolist()
    g.add_nodes_from((v, {"label": label}) for v, label in enumerate(labels))
    g.add_edges_from(graph.edge_index.T.tolist())
    return networkx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=iterations)


def _same_partition(classes: torch.Tensor, hashes: list[str]) -> bool:
    """Equal classes ⟺ equal hashes, i.e. the class ↔ hash relation is a bijection."""
    ids = classes.tolist()
    return len(set(ids)) == len(set(hashes)) == len(set(zip(ids, hashes, strict=True)))


def test_agrees_with_networkx_on_random_small_graphs() -> None:
    networkx = pytest.importorskip("networkx")
    rng = random.Random(2)
    graphs = []
    for k in range(160):
        n = rng.randint(1, 7)
        g = networkx.gnp_random_graph(n, rng.choice([0.2, 0.4, 0.6]), seed=k)
        labels = [rng.randrange(2) for _ in range(n)] if k % 2 else [0] * n
        graphs.append(undirected(list(g.edges()), n, labels))
    for k in range(20):  # regular graphs: many 1-WL-equivalent, non-isomorphic pairs
        g = networkx.random_regular_graph(rng.choice([2, 3]), 8, seed=100 + k)
        graphs.append(undirected(list(g.edges()), 8, [0] * 8))
    for iterations in (1, 2):
        hashes = [_nx_hash(g, iterations) for g in graphs]
        assert _same_partition(wl_classes(graphs, max_iterations=iterations), hashes)
    hashes = [_nx_hash(g, 8) for g in graphs]  # 8 rounds: every graph here is stable
    classes = wl_classes(graphs)
    assert _same_partition(classes, hashes)
    assert count_equivalent_pairs(classes) > 20  # the comparison has equivalent pairs to see


# ---------------------------------------------------------------------------- real data
def test_exp_cexp_facts() -> None:
    root = require_shared_datasets("exp")
    for name, separable in (("EXP", 0), ("CEXP", 300)):
        dataset = read_exp(root / "exp" / name / "GRAPHSAT.txt")
        pairs = torch.arange(len(dataset)).view(-1, 2).T  # graphs 2i and 2i + 1
        assert pairs.shape == (2, 600)
        assert int(wl_separates(dataset, pairs).sum()) == separable, name


def test_every_strongly_regular_family_is_one_class() -> None:
    root = require_shared_datasets("sr-graphs")
    families = sorted((root / "sr-graphs").glob("sr*.g6"))
    assert len(families) == 9
    for path in families:
        classes = wl_classes(read_graph6(path))
        assert int(classes.max()) == 0, path.name


def test_graph8c_agrees_with_networkx() -> None:
    networkx = pytest.importorskip("networkx")
    root = require_shared_datasets("graph8c")
    path = root / "graph8c" / "graph8c.g6"
    dataset = read_graph6(path)
    coloring = wl_colors(dataset)
    assert coloring.stable
    classes = coloring.classes()
    assert int(classes.max()) + 1 == 10897  # SOURCE.txt (networkx, 8 iterations)
    # two rounds against networkx graph by graph (the same graph6 lines, the same order);
    # two rounds already leave 8746 classes, so the partitions have much to disagree on
    reference = networkx.read_graph6(path)
    hashes = []
    for g in reference:
        networkx.set_node_attributes(g, 0, "label")
        hashes.append(networkx.weisfeiler_lehman_graph_hash(g, node_attr="label",
                                                            iterations=2))
    assert len(hashes) == len(dataset) == 11117
    assert _same_partition(wl_classes(dataset, max_iterations=2), hashes)
