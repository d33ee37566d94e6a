"""Unit tests of the build-time RST → Markdown docstring translator (docs/_ext)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("griffe", reason="griffe (installed with the [docs]/[test] extras) is needed")

_PATH = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "rst_docstrings.py"
_spec = importlib.util.spec_from_file_location("rst_docstrings", _PATH)
assert _spec is not None and _spec.loader is not None
rst = importlib.util.module_from_spec(_spec)
sys.modules["rst_docstrings"] = rst
_spec.loader.exec_module(rst)

KNOWN = {"SparseMatrix": "gnnkit.sparse.matrix.SparseMatrix", "spmm": "gnnkit.sparse.ops.spmm"}


def resolve(role: str, target: str) -> str | None:
    return KNOWN.get(target.rsplit(".", 1)[-1])


def convert(text: str) -> str:
    return rst.rst_to_markdown(text, resolve)


def test_roles_become_optional_autorefs_or_code() -> None:
    out = convert("Uses :class:`~gnnkit.sparse.SparseMatrix` and :func:`spmm`, not :func:`nope`.")
    assert '<autoref identifier="gnnkit.sparse.matrix.SparseMatrix" optional>`SparseMatrix`' in out
    assert '<autoref identifier="gnnkit.sparse.ops.spmm" optional>`spmm()`</autoref>' in out
    assert "`nope()`" in out and 'autoref identifier="nope' not in out
    assert ":class:" not in out and ":func:" not in out


def test_explicit_title_and_no_link_forms() -> None:
    assert "`the matrix`</autoref>" in convert(":class:`the matrix <SparseMatrix>`")
    assert convert(":class:`!SparseMatrix`") == "`SparseMatrix`"


def test_literals_and_literal_inside_role_text() -> None:
    assert convert("``x[i]`` and ``a`b``") == "`x[i]` and `` a`b ``"
    # a role quoted inside a literal stays literal text, as in RST
    assert convert("``:class:`X```") == "`:class:`X``" or ":class:" in convert("``:class:`X```")


def test_math_block_and_inline() -> None:
    out = convert("Text:\n\n.. math::\n    a = b\n\n    c = d\n\nafter :math:`x^2`.")
    assert "$$\na = b\n$$" in out and "$$\nc = d\n$$" in out  # one equation per chunk
    assert r"\(x^2\)" in out and ".. math::" not in out


def test_literal_block_becomes_fence() -> None:
    out = convert("Example::\n\n    x = 1\n    y = 2\n\nDone.")
    assert out.startswith("Example:\n\n```\nx = 1\ny = 2\n```")
    assert out.rstrip().endswith("Done.")


def test_literal_block_in_list_item_is_nested() -> None:
    out = convert("1. First.\n2. Per user::\n\n       R = 1\n\n3. Last.")
    assert "2. Per user:\n\n    ```\n    R = 1\n    ```" in out


def test_doctest_and_fences_untouched() -> None:
    text = "Examples:\n    >>> f(``x``)\n    ``x``\n\n```\n:class:`X`\n```"
    assert convert(text) == text


def test_wrapped_parameter_names_are_joined() -> None:
    out = convert("Args:\n    a, b,\n    c: shared text.\n    d: other.")
    assert "    a, b, c: shared text." in out


def test_directives() -> None:
    out = convert(".. note::\n    Careful.\n\n.. code-block:: python\n\n    x = 1")
    assert "Note:\n    Careful." in out and "```python\nx = 1\n```" in out
