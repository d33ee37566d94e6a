"""Smoke tests of ``benchmarks/graph_level.py`` on a tiny synthetic ZINC-format dataset.

They keep the benchmark script runnable (imports, the equal-work checks, the report writers);
they time nothing and assert no speed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    name = "gnnkit_benchmarks_graph_level"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "graph_level.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_tiny_zinc(root: Path, num_graphs: int = 24, seed: int = 0) -> None:
    """ZINC-subset text files of small random molecules (a path plus a few ring bonds), with
    one single-atom graph without bonds; graphs split 2/3 train, the rest val/test."""
    g = torch.Generator().manual_seed(seed)
    nodes, edges, labels = [], [], []
    for graph in range(num_graphs):
        n = 1 if graph == 3 else int(torch.randint(3, 9, (1,), generator=g))
        # atoms listed in a shuffled order, as the reader allows
        for node in torch.randperm(n, generator=g).tolist():
            nodes.append(f"{graph} {node} {int(torch.randint(0, 28, (1,), generator=g))}")
        bonds = {(k, k + 1) for k in range(n - 1)}
        if n >= 5:
            bonds.add((0, n - 1))
        for u, v in sorted(bonds):
            edges.append(f"{graph} {u} {v} {int(torch.randint(1, 4, (1,), generator=g))}")
        labels.append(f"{graph} {float(torch.randn(1, generator=g)):.6f}")
    train = num_graphs * 2 // 3
    val = (num_graphs - train) // 2
    splits = [{"test": list(range(train + val, num_graphs)),
               "model_selection": [{"train": list(range(train)),
                                    "validation": list(range(train, train + val))}]}]
    root.mkdir(parents=True, exist_ok=True)
    (root / "ZINC_Nodes.txt").write_text("\n".join(nodes) + "\n")
    (root / "ZINC_Edges.txt").write_text("\n".join(edges) + "\n")
    (root / "ZINC_Labels.txt").write_text("\n".join(labels) + "\n")
    (root / "ZINC_splits.json").write_text(json.dumps(splits))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zinc-tiny")
    write_tiny_zinc(root)
    return root


def test_missing_dataset_skips_with_a_message(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load_script()
    out = tmp_path / "report.md"
    assert bench.main(["--data-root", str(tmp_path / "absent"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "ZINC_Nodes.txt" in err
    assert not out.exists()


def test_batch_sketch_builds_collates_batches(tiny_root: Path) -> None:
    bench = _load_script()
    from gnnkit.data import collate
    from gnnkit.datasets import read_zinc

    train = read_zinc(tiny_root).split("train")
    for batch in bench.shuffled_batches(len(train), 5, seed=1):
        assert bench.equal_batches(bench.batch_from_indices(train, batch),
                                   collate([train[i] for i in batch]))
    # the loader that fetches whole batches yields what the collate loader yields
    for ours, sketch in zip(bench.gnnkit_loader(train, 5, 3), bench.sketch_loader(train, 5, 3),
                            strict=True):
        assert bench.equal_batches(ours, sketch)


def test_gnnkit_and_pyg_models_do_equal_work(tiny_root: Path) -> None:
    pytest.importorskip("torch_geometric")
    bench = _load_script()
    from gnnkit.datasets import read_zinc

    train = read_zinc(tiny_root).split("train")
    ours, theirs = bench.build_models(0, width=8, layers=2, with_pyg=True)
    pyg_dataset = bench.pyg_in_memory(train.to_pyg_list())()
    check = bench.check_equal_work(ours, theirs, next(iter(bench.gnnkit_loader(train, 6, 0))),
                                   next(iter(bench.pyg_loader(pyg_dataset, 6, 0))))
    assert check["same_graphs"] and check["loss_allclose"] and check["grads_allclose"]


def test_script_runs_end_to_end(tiny_root: Path, tmp_path: Path) -> None:
    bench = _load_script()
    out, raw = tmp_path / "report.md", tmp_path / "raw.json"
    previous = torch.get_num_threads()
    code = bench.main(["--data-root", str(tiny_root), "--collate-batch-sizes", "4,8",
                       "--repeats", "2", "--workers", "0", "--loader-passes", "2",
                       "--batch-size", "4", "--threads", "1", "--epoch-repeats", "1",
                       "--max-batches", "3", "--width", "8", "--layers", "2",
                       "--profile-batches", "2", "--top", "4", "--out", str(out),
                       "--json", str(raw)])
    torch.set_num_threads(previous)
    assert code == 0
    result = json.loads(raw.read_text())
    with_pyg = result["pyg_version"] is not None
    variants = {row["variant"] for row in result["collate"]}
    assert {"gnnkit collate", "gnnkit dataset[i] + collate", bench.SKETCH} <= variants
    assert ("PyG from_data_list" in variants) == with_pyg
    assert all(row["graphs_per_s"] > 0 for row in result["collate"])
    libraries = {row["library"] for row in result["epoch"]["rows"]}
    assert {"gnnkit", bench.SKETCH_EPOCH} <= libraries and ("PyG" in libraries) == with_pyg
    for row in result["epoch"]["rows"]:
        assert row["batches"] == 3 and row["median_data_s"] >= 0
    if with_pyg:
        assert result["epoch"]["equal_work"]["loss_allclose"]
    assert result["profile"]["scope_ms"] and result["profile"]["operators"]
    report = out.read_text()
    for heading in ("## Machine", "## Collate throughput", "## DataLoader pass",
                    "## One GIN training epoch", "## Where gnnkit's epoch time goes"):
        assert heading in report
