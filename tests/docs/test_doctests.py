"""The ``Examples:`` sections of gnnkit.sparse run, and their printed results are exact."""

from __future__ import annotations

import doctest
import importlib

import pytest

# Every op documented with an example; a docstring that loses its example fails here.
DOCUMENTED = {
    "gnnkit.sparse.ops": [
        "spmm",
        "sddmm",
        "edge_softmax",
        "segment",
        "scatter",
        "intersect_rows",
        "intersect_aggregate",
        "difference_rows",
        "difference_aggregate",
        "spspmm",
    ],
    "gnnkit.sparse.structural": [
        "gcn_degree",
        "block_gcn_norm",
        "coalesce",
        "transpose",
        "add_self_loops",
        "remove_self_loops",
        "to_undirected",
        "select_rows",
        "select_cols",
        "remove_edges",
        "edge_entries",
        "k_hop",
        "induced_subgraph",
        "block_diag",
        "gcn_norm",
        "gcn_norm_split",
        "row_normalize",
        "sym_normalize",
        "bipartite_normalize",
    ],
    "gnnkit.sparse.matrix": ["SparseMatrix", "SparseMatrix.keep_entries"],
}


def _run(module_name: str) -> dict[str, doctest.TestResults]:
    """Run each docstring test of ``module_name``; results keyed by the object's name."""
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder()
    results: dict[str, doctest.TestResults] = {}
    for test in finder.find(module):
        if not test.examples:
            continue
        runner = doctest.DocTestRunner(verbose=False)
        runner.run(test)
        results[test.name.removeprefix(module_name + ".")] = runner.summarize(verbose=False)
    return results


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_sparse_examples_pass(module_name: str) -> None:
    results = _run(module_name)
    failed = {name: r.failed for name, r in results.items() if r.failed}
    assert not failed, f"doctest failures in {module_name}: {failed} (run with -s for details)"
    missing = [name for name in DOCUMENTED[module_name] if results.get(name, (0, 0))[1] == 0]
    assert not missing, f"{module_name}: no runnable example for {missing}"


def test_every_public_sparse_op_has_an_example() -> None:
    """A new public function of gnnkit.sparse's op modules must come with an example."""
    import gnnkit.sparse.ops as ops
    import gnnkit.sparse.structural as structural

    for module in (ops, structural):
        documented = set(DOCUMENTED[module.__name__])
        public = {name for name in module.__all__ if callable(getattr(module, name))}
        assert public <= documented, f"{module.__name__}: add examples for {public - documented}"
