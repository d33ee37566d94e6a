"""The expressivity bench task: runs end to end through gnnkit.bench, counts pairs like a
brute-force loop, and never lets a message-passing model beat the 1-WL oracle.

Models here are test-only registry entries (removed afterwards), so the tests do not depend on
the shipped ``gin`` entry; only the test that loads the shipped experiment files needs it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from shared_data import SHARED_DATASETS, require_shared_datasets

import gnnkit.bench.tasks.expressivity as expressivity
from gnnkit.bench import ExperimentError, load_experiment, run_experiment
from gnnkit.bench.experiment import default_experiments_dir
from gnnkit.bench.tasks.expressivity import (
    ExpressivitySpec,
    count_undistinguished_pairs,
    wl_ceiling_accuracy,
)
from gnnkit.data import GraphBatch, wl_separates
from gnnkit.datasets import GraphDataset
from gnnkit.datasets.expressivity import read_exp
from gnnkit.models import MODELS, ModelEntry, ModelOption, model_names, register_model
from gnnkit.nn import GINConv
from gnnkit.nn.pool import global_add_pool

MPNN = "test-expressivity-mpnn"
TRIANGLES = "test-expressivity-triangles"


class _MPNN(torch.nn.Module):
    """A small sum-aggregation network (GIN layers, tanh, sum readout): bounded by 1-WL."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int,
                 triangles: bool = False) -> None:
        super().__init__()
        self.triangles = triangles
        width = in_channels + (1 if triangles else 0)
        self.convs = torch.nn.ModuleList(
            GINConv(torch.nn.Linear(a, hidden)) for a in (width, hidden, hidden))
        self.head = torch.nn.Linear(hidden, out_channels)

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        assert batch.x is not None
        h = batch.x
        if self.triangles:
            # each node's triangle count, diag(A³) / 2: information 1-WL does not have
            a = batch.adj.to_dense()
            h = torch.cat([h, (a @ a @ a).diagonal().unsqueeze(1) / 2], dim=1)
        for conv in self.convs:
            h = torch.tanh(conv(h, batch.adj))
        return self.head(global_add_pool(h, batch.ptr))


def _builder(triangles: bool) -> Any:
    def build(config: Mapping[str, Any], *, in_channels: int, out_channels: int,
              edge_channels: int) -> torch.nn.Module:
        assert edge_channels == 0
        return _MPNN(in_channels, config["hidden_channels"], out_channels, triangles)
    return build


@pytest.fixture
def test_models() -> Iterator[None]:
    options = {"hidden_channels": ModelOption(16, int, "width")}
    register_model(ModelEntry(MPNN, ("graph_classification",), options, _builder(False)))
    register_model(ModelEntry(TRIANGLES, ("graph_classification",), options, _builder(True)))
    yield
    del MODELS[MPNN], MODELS[TRIANGLES]


def _experiment(tmp_path: Path, *, name: str, source: str, split: str, model: str = MPNN,
                training: str = 'protocol = "untrained"\nmodels = 3', metric: str | None = None,
                folders: str = "[]") -> Path:
    metric_line = f'metric = "{metric}"\n' if metric else ""
    text = (f'id = "x-{name}"\ntitle = "test"\ntask = "expressivity"\n{metric_line}seeds = 1\n'
            f'[dataset]\nname = "{name}"\nsource = "{source}"\nsplit = "{split}"\n'
            f'folders = {folders}\n[model]\nname = "{model}"\n[training]\n{training}\n'
            '[paper]\nvalue = 0\ncitation = "test"\n')
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _write_graphsat(folder: Path, dataset: GraphDataset) -> None:
    """The first lines of EXP's own format, written back from a read dataset."""
    lines = [str(len(dataset))]
    for graph in dataset:
        assert graph.x is not None and graph.y is not None
        lines.append(f"{graph.num_nodes} {int(graph.y)}")
        source, target = graph.edge_index
        for node in range(graph.num_nodes):
            neighbours = target[source == node].tolist()
            lines.append(" ".join(map(str, [int(graph.x[node, 0]), len(neighbours),
                                            *neighbours])))
    folder.mkdir(parents=True)
    (folder / "GRAPHSAT.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _graph6(n: int, edges: list[tuple[int, int]]) -> str:
    """McKay's graph6 string of a small graph (n < 63): upper triangle column by column."""
    present = {(min(a, b), max(a, b)) for a, b in edges}
    bits = [int((i, j) in present) for j in range(1, n) for i in range(j)]
    bits += [0] * (-len(bits) % 6)
    groups = [int("".join(map(str, bits[k:k + 6])), 2) for k in range(0, len(bits), 6)]
    return chr(n + 63) + "".join(chr(g + 63) for g in groups)


# ---------------------------------------------------------------------------- pair counting
def _brute_force(outputs: list[torch.Tensor], tolerance: float,
                 classes: torch.Tensor) -> tuple[list[int], int]:
    num_graphs = outputs[0].shape[0]
    remaining = list(itertools.combinations(range(num_graphs), 2))
    counts = []
    for output in outputs:
        remaining = [(i, j) for i, j in remaining
                     if float((output[i].double() - output[j].double()).abs().sum()) <= tolerance]
        counts.append(len(remaining))
    return counts, sum(int(classes[i] == classes[j]) for i, j in remaining)


def test_pair_counting_matches_a_brute_force_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(12, 3, generator=generator)
    # clusters of graphs on one output, and neighbours just inside and just outside 0.001
    rows = [base[k % 12] for k in range(40)]
    rows[5] = base[5] + torch.tensor([0.0004, 0.0004, 0.0])  # L1 0.0008 from graph 5's twins
    rows[6] = base[6] + torch.tensor([0.0006, 0.0006, 0.0])  # L1 0.0012: separated
    first = torch.stack(rows)
    second = first + 1e-5 * torch.randn(first.shape, generator=generator)
    second[17] += 1.0  # the second model separates graph 17 from its twins
    outputs = [first, second, second.clone()]
    classes = torch.arange(40) % 7
    expected, same_class = _brute_force(outputs, 0.001, classes)
    assert expected[-1] > 0 and expected[0] > expected[1]  # the case has pairs to find and drop
    for chunk in (7, 1 << 20):  # tiny chunks exercise the chunked enumeration
        monkeypatch.setattr(expressivity, "_CHUNK_PAIRS", chunk)
        counts = count_undistinguished_pairs(outputs, 0.001, classes=classes)
        assert list(counts.undistinguished) == expected
        assert counts.wl_equivalent_undistinguished == same_class
    given = torch.tensor([[0, 5, 6, 17, 1], [12, 17, 18, 29, 2]])
    counts = count_undistinguished_pairs(outputs, 0.001, pairs=given, classes=classes)
    # (0, 12) twins throughout; (5, 17) 0.0008 apart and (17, 29) twins, both split by the
    # second model; (6, 18) 0.0012 apart; (1, 2) unrelated; classes 0 vs 5: not equivalent
    assert counts.undistinguished == (3, 1, 1) and counts.wl_equivalent_undistinguished == 0
    with pytest.raises(ValueError, match="one per graph"):
        count_undistinguished_pairs([first, second[:5]], 0.001)


def test_wl_ceiling_by_hand() -> None:
    classes = torch.tensor([0, 0, 1, 1, 2, 2])
    y = torch.tensor([0, 1, 1, 1, 0, 1])
    # class 0 and class 2 split their labels (one right each), class 1 agrees (two right)
    assert wl_ceiling_accuracy(classes, y, torch.arange(6)) == pytest.approx(100 * 4 / 6)
    assert wl_ceiling_accuracy(classes, y, torch.tensor([2, 3])) == 100.0


# ---------------------------------------------------------------------------- end to end
def test_untrained_on_exp_and_cexp_slices(tmp_path: Path, test_models: None) -> None:
    root = require_shared_datasets("exp")
    data = tmp_path / "data"
    # SOURCE.txt: every EXP pair is 1-WL-equivalent; for CEXP, take the oracle on the whole
    # file (a pair's separability does not depend on the other graphs refined with it)
    cexp = read_exp(root / "exp" / "CEXP" / "GRAPHSAT.txt")
    expected = {"EXP": 0, "CEXP": int(wl_separates(cexp, torch.arange(40).view(-1, 2).T).sum())}
    assert expected["CEXP"] > 0
    _write_graphsat(data / "CEXP", cexp.subset(torch.arange(40)))
    _write_graphsat(data / "EXP", read_exp(root / "exp" / "EXP" / "GRAPHSAT.txt")
                    .subset(torch.arange(40)))
    runs = [("EXP", "undistinguished_pairs"), ("CEXP", "separated_pairs"),
            ("CEXP", "undistinguished_pairs")]
    for name, metric in runs:
        path = _experiment(tmp_path, name=name.lower(), source="graphsat",
                           split="given-pairs", metric=metric, folders=f'["{name}"]')
        result = run_experiment(load_experiment(path), seeds=[0], data_roots=[data],
                                progress=False)
        assert result.status == "ok", result.message
        (run,) = result.runs
        details = run.details
        assert details["pairs"] == 20 and details["wl_separable"] == expected[name]
        # a message-passing model never separates what 1-WL cannot ...
        assert details["separated"] <= details["wl_separable"]
        assert details["separated_beyond_wl"] == 0
        # ... and this one, with random weights, finds every pair 1-WL separates
        assert details["separated"] == expected[name]
        assert details["separated"] + details["undistinguished"] == 20
        assert run.test == details["separated" if metric == "separated_pairs"
                                   else "undistinguished"]
        assert run.epochs == 3 and len(run.curve) == 3


def test_untrained_counts_all_pairs_of_a_graph8c_slice(tmp_path: Path,
                                                        test_models: None) -> None:
    root = require_shared_datasets("graph8c")
    lines = (root / "graph8c" / "graph8c.g6").read_bytes().splitlines()[:200]
    (tmp_path / "g8").mkdir()
    (tmp_path / "g8" / "graph8c.g6").write_bytes(b"\n".join(lines) + b"\n")
    path = _experiment(tmp_path, name="graph8c", source="graph6", split="all-pairs",
                       folders='["g8"]')
    result = run_experiment(load_experiment(path), seeds=[0, 1], data_roots=[tmp_path],
                            progress=False)
    assert result.status == "ok", result.message
    for run in result.runs:
        details = run.details
        assert details["pairs"] == 200 * 199 // 2
        assert details["separated"] <= details["wl_separable"] <= details["pairs"]
        assert details["separated_beyond_wl"] == 0
        assert details["separated"] + details["undistinguished"] == details["pairs"]
        # the model misses no more than the 1-WL-separable pairs it did not separate
        assert details["wl_separable_missed"] == details["wl_separable"] - details["separated"]
    assert "graph8c" in (result.data_description or "")
    # a k-layer network is bounded by k refinement rounds: with wl_rounds the task reports
    # that tighter bound too (1 round of refinement on 8-node graphs = the degree multiset)
    path = _experiment(tmp_path, name="graph8c", source="graph6", split="all-pairs",
                       folders='["g8"]',
                       training='protocol = "untrained"\nmodels = 2\nwl_rounds = 1')
    details = run_experiment(load_experiment(path), seeds=[0], data_roots=[tmp_path],
                             progress=False).runs[0].details
    networkx = pytest.importorskip("networkx")  # an independent graph6 reader
    degrees = [tuple(sorted(d for _, d in networkx.from_graph6_bytes(line).degree()))
               for line in lines]
    same = sum(a == b for a, b in itertools.combinations(degrees, 2))
    assert details["wl_rounds"] == 1
    assert details["wl_separable_in_rounds"] == details["pairs"] - same
    assert details["wl_separable_in_rounds"] <= details["wl_separable"]


def test_a_model_beyond_1wl_is_flagged(tmp_path: Path, test_models: None) -> None:
    # two triangles / hexagon and the 3-cube / Wagner graph are the 1-WL-equivalent pairs
    graphs = [
        (6, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)]),
        (6, [(i, (i + 1) % 6) for i in range(6)]),
        (8, [(0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4),
             (0, 4), (1, 5), (2, 6), (3, 7)]),
        (8, [(i, (i + 1) % 8) for i in range(8)] + [(i, i + 4) for i in range(4)]),
        (4, [(i, (i + 1) % 4) for i in range(4)]),
        (4, [(0, 1), (1, 2), (2, 3)]),
    ]
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "hand.g6").write_text(
        "\n".join(_graph6(n, edges) for n, edges in graphs) + "\n", encoding="ascii")
    found = {}
    for model in (MPNN, TRIANGLES):
        path = _experiment(tmp_path, name="hand", source="graph6", split="all-pairs",
                           model=model)
        result = run_experiment(load_experiment(path), seeds=[0], data_roots=[tmp_path],
                                progress=False)
        assert result.status == "ok", result.message
        found[model] = result.runs[0].details
    assert found[MPNN]["pairs"] == 15 and found[MPNN]["wl_separable"] == 13
    assert found[MPNN]["separated"] == 13 and found[MPNN]["separated_beyond_wl"] == 0
    # triangle counts separate two triangles from the hexagon (not the triangle-free cube
    # from the triangle-free Wagner graph): one pair beyond 1-WL
    assert found[TRIANGLES]["separated_beyond_wl"] == 1
    assert found[TRIANGLES]["separated"] == 14 and found[TRIANGLES]["undistinguished"] == 1


def test_trained_protocol_stays_under_the_1wl_ceiling(tmp_path: Path,
                                                      test_models: None) -> None:
    root = require_shared_datasets("exp")
    full = read_exp(root / "exp" / "EXP" / "GRAPHSAT.txt")
    _write_graphsat(tmp_path / "EXP", full.subset(torch.arange(80)))
    training = ('protocol = "trained"\nfolds = 4\nepochs = 3\nlr = 0.01\nbatch_size = 16\n'
                'selection = "best_val"')
    path = _experiment(tmp_path, name="exp", source="graphsat", split="given-pairs",
                       training=training, folders='["EXP"]')
    experiment = load_experiment(path)
    assert experiment.metric == "accuracy"
    result = run_experiment(experiment, seeds=[0, 1], data_roots=[tmp_path], progress=False)
    assert result.status == "ok", result.message
    assert [run.details["fold"] for run in result.runs] == [0, 1]
    for run in result.runs:
        # 10 whole pairs per test fold, each 1-WL-equivalent with opposite labels
        assert run.details["test_graphs"] == 20 and run.details["wl_ceiling"] == 50.0
        assert run.test <= run.details["wl_ceiling"]
        assert len(run.curve) == 3 and 1 <= run.selected_epoch <= 3


# ---------------------------------------------------------------------------- schema
def test_invalid_sections_fail_when_the_file_loads(tmp_path: Path, test_models: None) -> None:
    path = _experiment(tmp_path, name="exp", source="graphsat", split="given-pairs",
                       metric="accuracy")
    with pytest.raises(ExperimentError, match=r"does not go with training\.protocol"):
        load_experiment(path)
    path = _experiment(tmp_path, name="exp", source="graphsat", split="given-pairs",
                       training='protocol = "untrained"\nepochs = 3')
    with pytest.raises(ExperimentError, match=r"\['epochs'\] belong to the other protocol"):
        load_experiment(path)
    path = _experiment(tmp_path, name="exp", source="tu", split="given-pairs")
    with pytest.raises(ExperimentError, match="not a expressivity source"):
        load_experiment(path)
    path = _experiment(tmp_path, name="exp", source="graphsat", split="given-pairs",
                       training='protocol = "trained"\nfolds = 2')
    with pytest.raises(ExperimentError, match="folds must be >= 3"):
        load_experiment(path)
    experiment = load_experiment(_experiment(tmp_path, name="exp", source="graphsat",
                                             split="given-pairs"))
    assert experiment.training == ExpressivitySpec("untrained", models=3, epochs=3)
    assert experiment.metric == "separated_pairs"  # the untrained protocol's default


def test_missing_data_skips_and_odd_pairs_fail(tmp_path: Path, test_models: None) -> None:
    path = _experiment(tmp_path, name="hand", source="graph6", split="given-pairs")
    skipped = run_experiment(load_experiment(path), seeds=[0], data_roots=[tmp_path],
                             progress=False)
    assert skipped.status == "skipped" and "hand.g6" in (skipped.message or "")
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand" / "hand.g6").write_text(
        "\n".join(_graph6(3, [(0, 1)]) for _ in range(3)) + "\n", encoding="ascii")
    failed = run_experiment(load_experiment(path), seeds=[0], data_roots=[tmp_path],
                            progress=False)
    assert failed.status == "failed" and "odd" in (failed.message or "")


def test_every_shipped_expressivity_experiment_loads() -> None:
    if "gin" not in model_names("graph_classification"):
        pytest.skip("the registry has no 'gin' graph model, which the shipped expressivity "
                    "experiments name")
    paths = sorted(default_experiments_dir().glob("expressivity-*.toml"))
    experiments = {p.stem: load_experiment(p) for p in paths}
    protocols = {e.id: (e.dataset.name, e.training.protocol) for e in experiments.values()}
    assert protocols["expressivity-exp-untrained"] == ("exp", "untrained")
    assert protocols["expressivity-exp-trained"] == ("exp", "trained")
    assert protocols["expressivity-cexp-trained"] == ("cexp", "trained")
    assert protocols["expressivity-graph8c-untrained"] == ("graph8c", "untrained")
    assert protocols["expressivity-sr25-untrained"] == ("sr251256", "untrained")
    for experiment in experiments.values():
        assert experiment.task == "expressivity"
        assert experiment.model_name in {"gin", "ds", "dss", "swl"}, experiment.id
        assert "expressivity" in experiment.suites
        assert experiment.id == experiment.path.stem  # type: ignore[union-attr]
    sr_names = {e.dataset.name for e in experiments.values() if e.dataset.name.startswith("sr")}
    families = SHARED_DATASETS / "sr-graphs"
    if families.is_dir():  # one experiment per strongly regular family of the data folder
        assert sr_names == {p.stem for p in families.glob("sr*.g6")}


# ---------------------------------------------------------------------------- precision
ROUNDING = "test-expressivity-rounding"


class _SequentialDegreeSum(torch.nn.Module):
    """Per graph, the left-to-right sum over its nodes of 1e8, 1 or -1e8 for degree 3, 2 or 4
    (0 otherwise), in the parameters' dtype: exactly 1 in float64 for any node order, but in
    float32 1e8 + 1 rounds to 1e8, so the order of the nodes decides between 1 and 0."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # carries the dtype

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        degree = batch.adj.rowptr.diff()
        table = torch.tensor([0.0, 0.0, 1.0, 1e8, -1e8], dtype=self.anchor.dtype)
        values = table[degree.clamp(max=4)]
        ptr = batch.ptr.tolist()
        # one rounded addition at a time (cumsum would accumulate float32 in double on CPU)
        sums = torch.stack([functools.reduce(torch.add, values[a:b].unbind())
                            for a, b in itertools.pairwise(ptr)])
        return (sums + self.anchor).unsqueeze(1).expand(-1, self.out_channels)


@pytest.fixture
def rounding_model() -> Iterator[None]:
    register_model(ModelEntry(ROUNDING, ("graph_classification",), {},
                              lambda config, *, in_channels, out_channels, edge_channels:
                              _SequentialDegreeSum(out_channels)))
    yield
    del MODELS[ROUNDING]


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_float64_removes_rounding_separations(tmp_path: Path, rounding_model: None,
                                              precision: str) -> None:
    """Two isomorphic graphs (one node order permuted) that float32 rounding tells apart."""
    first = [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (2, 7)]  # degrees 4, 3, 2 first
    relabel = {0: 2, 1: 0, 2: 1}  # the same graph with node order 3, 2, 4
    second = [(relabel.get(a, a), relabel.get(b, b)) for a, b in first]
    (tmp_path / "iso").mkdir()
    (tmp_path / "iso" / "iso.g6").write_text(f"{_graph6(8, first)}\n{_graph6(8, second)}\n",
                                             encoding="ascii")
    training = f'protocol = "untrained"\nmodels = 1\nprecision = "{precision}"'
    path = _experiment(tmp_path, name="iso", source="graph6", split="given-pairs",
                       model=ROUNDING, training=training, metric="separated_pairs",
                       folders='["iso"]')
    result = run_experiment(load_experiment(path), seeds=[0], data_roots=[tmp_path],
                            progress=False)
    assert result.status == "ok", result.message
    details = result.runs[0].details
    assert details["wl_separable"] == 0 and details["precision"] == precision
    assert details["separated"] == (1 if precision == "float32" else 0)


def test_precision_must_be_a_known_dtype(tmp_path: Path, test_models: None) -> None:
    path = _experiment(tmp_path, name="exp", source="graphsat", split="given-pairs",
                       training='protocol = "untrained"\nprecision = "float16"')
    with pytest.raises(ExperimentError, match=r"precision must be one of \['float32', "
                                              r"'float64'\], got 'float16'"):
        load_experiment(path)
