"""Build the site with ``mkdocs build --strict`` and check the rendered API reference."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
pytest.importorskip(
    "mkdocstrings", reason="mkdocstrings is not installed (pip install -e '.[docs]')"
)
pytest.importorskip("pymdownx", reason="pymdown-extensions is not installed")

ROOT = Path(__file__).resolve().parents[2]
# RST markup that must not survive into the rendered pages.
RAW = re.compile(r":(?:class|func|data|mod|meth|attr|math|exc|obj):`|\.\. math::|``")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("site")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    # measured ~15 s on the 2-core dev machine; a large regression means something is wrong
    assert elapsed < 120, f"docs build took {elapsed:.0f} s"
    yield out
    shutil.rmtree(out, ignore_errors=True)


def _api_pages(site: Path) -> dict[str, str]:
    return {
        p.parent.name: p.read_text(encoding="utf-8") for p in (site / "api").glob("*/index.html")
    }


def _text(page: str) -> str:
    """Visible text of the docstrings (code blocks keep RST samples legitimately)."""
    page = re.sub(r"<pre.*?</pre>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", "", page)


def test_every_public_package_has_a_page(site: Path) -> None:
    pages = _api_pages(site)
    for name in ["sparse", "nn", "models", "train", "datasets", "metrics", "bench"]:
        assert name in pages, f"no API page for gnnkit.{name}"


def test_every_public_module_is_rendered(site: Path) -> None:
    """Each importable public module of gnnkit has an anchor in the API reference."""
    ids = set()
    for page in [*_api_pages(site).values(), (site / "api" / "index.html").read_text("utf-8")]:
        ids |= set(re.findall(r'id="(gnnkit[\w.]*)"', page))
    package = ROOT / "gnnkit"
    modules = []
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        modules.append(".".join(parts))
    missing = sorted(m for m in modules if m not in ids)
    assert not missing, f"public modules missing from docs/api/*.md: {missing}"


def test_no_raw_rst_markup(site: Path) -> None:
    for name, page in _api_pages(site).items():
        hits = RAW.findall(_text(page))
        assert not hits, f"api/{name}: raw RST markup left: {hits[:5]}"


def test_math_is_arithmatex(site: Path) -> None:
    pages = _api_pages(site)
    blocks = sum(len(re.findall(r'<div class="arithmatex">\\\[', page)) for page in pages.values())
    assert blocks >= 10, f"only {blocks} display-math blocks rendered"
    # one known equation, from GCNConv's docstring
    assert "\\hat{\\mathbf{D}}^{-1/2}" in pages["nn"]


def test_known_cross_references_are_links(site: Path) -> None:
    pages = _api_pages(site)
    # gnnkit.models.GCN's docstring says :class:`~gnnkit.nn.GCNConv` (an alias of the class)
    assert re.search(
        r'<a class="autorefs[^"]*"[^>]*href="\.\./nn/#gnnkit\.nn\.conv\.gcn\.GCNConv"',
        pages["models"],
    ), "GCNConv reference in gnnkit.models is not a link"
    # gnnkit.sparse.ops: segment's docstring refers to :func:`spmm` in its own module
    assert 'href="#gnnkit.sparse.ops.spmm"' in pages["sparse"]
    # a short name resolved relative to the module, across pages (linkpred → LinkEncoder)
    assert 'href="#gnnkit.nn.linkpred.encoder.LinkEncoder"' in pages["nn"]


def test_sparse_examples_are_rendered(site: Path) -> None:
    """The doctest examples appear on the page as code (highlighting markup stripped)."""
    text = html.unescape(re.sub(r"<[^>]+>", "", _api_pages(site)["sparse"]))
    assert ">>> spmm(A, X).tolist()" in text
    assert "[[13.0, 16.0], [1.0, 2.0], [0.0, 0.0]]" in text
