"""Downloads, the registry and the ``gnnkit datasets`` CLI (cache.py, registry.py, cli.py).

Everything runs against a local HTTP server on 127.0.0.1 (a thread in this process) that
serves ../shared/datasets -- the same layout as gnnkit's cache -- and can be told to cut a
response short, corrupt it, or ignore ``Range``. No test touches the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from gnnkit.datasets import (
    ChecksumError,
    DatasetFileError,
    DownloadError,
    MissingDatasetFileError,
    dataset_status,
    download,
    get_spec,
    load,
    read_geomgcn,
    read_planetoid,
)
from gnnkit.datasets.cache import data_home, fetch, file_digest, git_blob_sha1
from gnnkit.datasets.registry import Archive, _fetch_archive

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
CORA_ALLX = "planetoid-cora/ind.cora.allx"
# SOURCE.txt of planetoid-cora: git blob of ind.cora.allx
CORA_ALLX_BLOB = "44d53b1fece343538e45592caac521d73c6f98d6"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves files under ``root`` with Range support and scripted faults."""

    root: Path = DATA
    extra: dict[str, bytes] = {}  # noqa: RUF012 - per-server state, set by the fixture
    truncate_next: set[str] = set()  # noqa: RUF012
    corrupt: set[str] = set()  # noqa: RUF012
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = []  # noqa: RUF012

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = self.path.lstrip("/")
        self.requests.append((path, self.headers.get("Range")))
        if path in self.extra:
            body = self.extra[path]
        else:
            file = self.root / path
            if not file.is_file():
                self.send_error(404, "not found")
                return
            body = file.read_bytes()
        if path in self.corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        requested = self.headers.get("Range")
        if requested and not self.ignore_range:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416, "range not satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if path in self.truncate_next:
            self.truncate_next.discard(path)
            payload = payload[: len(payload) // 2]  # then the connection closes
        self.wfile.write(payload)


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    if not DATA.is_dir():
        pytest.skip("shared datasets folder not present")
    handler = type("Handler", (_Handler,), {"extra": {}, "truncate_next": set(),
                                            "corrupt": set(), "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- fetch
def test_fetch_verifies_and_renames_atomically(server, tmp_path: Path) -> None:
    url, handler = server
    original = DATA / CORA_ALLX
    dest = tmp_path / "allx"
    fetch(f"{url}/{CORA_ALLX}", dest, sha256=_sha256(original), size=original.stat().st_size,
          progress=False)
    assert dest.read_bytes() == original.read_bytes()
    assert not dest.with_name("allx.part").exists()
    assert handler.requests == [(CORA_ALLX, None)]


def test_truncated_download_keeps_part_and_resumes_with_range(server, tmp_path: Path) -> None:
    url, handler = server
    original = DATA / CORA_ALLX
    dest, part = tmp_path / "allx", tmp_path / "allx.part"
    handler.truncate_next.add(CORA_ALLX)
    with pytest.raises(DownloadError, match="run again to resume"):
        fetch(f"{url}/{CORA_ALLX}", dest, sha256=_sha256(original), retries=0, progress=False)
    assert not dest.exists()  # a partial file never looks complete
    half = original.stat().st_size // 2
    assert part.stat().st_size == half
    fetch(f"{url}/{CORA_ALLX}", dest, sha256=_sha256(original), progress=False)
    assert dest.read_bytes() == original.read_bytes()
    assert handler.requests[-1] == (CORA_ALLX, f"bytes={half}-")
    assert not part.exists()


def test_dropped_connection_is_retried_within_one_call(server, tmp_path: Path) -> None:
    url, handler = server
    original = DATA / CORA_ALLX
    handler.truncate_next.add(CORA_ALLX)
    dest = fetch(f"{url}/{CORA_ALLX}", tmp_path / "allx", git_sha1=CORA_ALLX_BLOB,
                 progress=False)
    assert dest.read_bytes() == original.read_bytes()
    assert [r for _, r in handler.requests] == [None, f"bytes={original.stat().st_size // 2}-"]


def test_corrupted_download_is_rejected_and_removed(server, tmp_path: Path) -> None:
    url, handler = server
    handler.corrupt.add(CORA_ALLX)
    dest = tmp_path / "allx"
    with pytest.raises(ChecksumError, match="corrupted: sha256") as info:
        fetch(f"{url}/{CORA_ALLX}", dest, sha256=_sha256(DATA / CORA_ALLX), progress=False)
    assert info.value.path == dest
    assert not dest.exists() and not tmp_path.joinpath("allx.part").exists()
    with pytest.raises(ChecksumError, match="git blob sha1"):
        fetch(f"{url}/{CORA_ALLX}", dest, git_sha1=CORA_ALLX_BLOB, progress=False)


def test_server_ignoring_range_restarts_from_zero(server, tmp_path: Path) -> None:
    url, handler = server
    handler.ignore_range = True
    original = DATA / CORA_ALLX
    part = tmp_path / "allx.part"
    part.write_bytes(b"stale bytes of another attempt")
    fetch(f"{url}/{CORA_ALLX}", tmp_path / "allx", sha256=_sha256(original), progress=False)
    assert (tmp_path / "allx").read_bytes() == original.read_bytes()
    assert handler.requests[0][1] == f"bytes={len(b'stale bytes of another attempt')}-"


def test_complete_part_file_is_verified_without_refetching(server, tmp_path: Path) -> None:
    url, handler = server
    original = DATA / CORA_ALLX
    (tmp_path / "allx.part").write_bytes(original.read_bytes())
    fetch(f"{url}/{CORA_ALLX}", tmp_path / "allx", sha256=_sha256(original),
          size=original.stat().st_size, progress=False)
    assert handler.requests == []


def test_http_errors_name_the_url(server, tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(DownloadError, match=r"nope\.txt: HTTP 404"):
        fetch(f"{url}/nope.txt", tmp_path / "nope.txt", progress=False)


def test_progress_bar_goes_to_stderr(server, tmp_path: Path, capsys) -> None:
    url, _ = server
    fetch(f"{url}/{CORA_ALLX}", tmp_path / "allx", progress=True, label="allx")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "allx [##############################]" in captured.err and "MB/s" in captured.err


def test_digests_match_independent_tools() -> None:
    path = DATA / CORA_ALLX
    if not path.exists():
        pytest.skip("shared datasets folder not present")
    assert git_blob_sha1(path) == CORA_ALLX_BLOB  # the id SOURCE.txt lists
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- registry
def test_registry_checksums_match_the_shared_files() -> None:
    from shared_data import require_shared_datasets

    names = ("cora", "pubmed", "texas", "chameleon", "gowalla", "ogbl-ddi", "zinc", "exp")
    shared = require_shared_datasets(*(get_spec(name).folder for name in names))
    checked = 0
    for name in names:
        spec = get_spec(name)
        for remote in spec.files:
            path = shared / spec.folder / remote.path
            if remote.sha256 is None or not path.exists():
                continue
            assert remote.size == path.stat().st_size
            assert remote.sha256 == _sha256(path)
            checked += 1
    assert checked >= 40


def test_download_dataset_from_a_local_http_mirror(server, tmp_path: Path) -> None:
    url, handler = server
    folder = download("texas", home=tmp_path, mirror=url, progress=False)
    assert folder == tmp_path / "geomgcn-texas"
    assert dataset_status("texas", tmp_path) == "complete"
    assert not list(folder.glob("*.part"))
    assert load("texas", tmp_path).equal(read_geomgcn(DATA / "geomgcn-texas", "texas"))
    count = len(handler.requests)
    download("texas", home=tmp_path, mirror=url, progress=False)  # verified, nothing refetched
    assert len(handler.requests) == count


def test_load_with_download_fetches_dependencies(server, tmp_path: Path) -> None:
    url, _ = server
    graph = load("cora-geomgcn", tmp_path, mirror=url, progress=False)
    assert graph.train_mask.shape == (2708, 10)
    assert dataset_status("cora", tmp_path) == "complete"
    assert torch.equal(graph.x, read_planetoid(DATA / "planetoid-cora", "cora").x)


def test_download_from_an_offline_directory(tmp_path: Path) -> None:
    if not DATA.is_dir():
        pytest.skip("shared datasets folder not present")
    download("cornell", home=tmp_path, mirror=DATA)
    assert dataset_status("cornell", tmp_path) == "complete"
    # a file missing in the mirror is named
    with pytest.raises(MissingDatasetFileError, match=r"ind\.pubmed\.allx"):
        download("pubmed", home=tmp_path, mirror=DATA)


def test_corrupt_file_in_cache_is_refetched(server, tmp_path: Path) -> None:
    url, _ = server
    download("cornell", home=tmp_path, mirror=url, progress=False)
    edges = tmp_path / "geomgcn-cornell" / "out1_graph_edges.txt"
    edges.write_text("node_id\tnode_id\n0\t1\n")
    download("cornell", home=tmp_path, mirror=url, progress=False)
    assert edges.read_bytes() == (DATA / "geomgcn-cornell" / "out1_graph_edges.txt").read_bytes()


def test_load_without_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GNNKIT_DATA", str(tmp_path))
    assert data_home() == tmp_path
    with pytest.raises(MissingDatasetFileError, match="gnnkit datasets download texas"):
        load("texas")
    with pytest.raises(KeyError, match="known"):
        load("no-such-dataset")


def test_load_cora_offline_uses_the_bundle(tmp_path: Path, monkeypatch) -> None:
    import urllib.request

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("GNNKIT_DATA", str(tmp_path / "empty"))
    graph = load("cora")
    assert graph.metadata["source"] == "bundled:cora.npz"
    assert graph.num_nodes == 2708


def test_root_may_be_the_dataset_folder_itself() -> None:
    if not DATA.is_dir():
        pytest.skip("shared datasets folder not present")
    assert load("cornell", DATA / "geomgcn-cornell").num_nodes == 183


# ---------------------------------------------------------------------------- archives
def _zip_folder(folder: Path, top: str, corrupt: str | None = None,
                evil: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "SOURCE.txt":
                data = path.read_bytes()
                relative = path.relative_to(folder).as_posix()
                if relative == corrupt:
                    data = data[:-1] + bytes([data[-1] ^ 1])
                bundle.writestr(f"{top}/{relative}", data)
        if evil:
            bundle.writestr("../escape.txt", b"x")
    return buffer.getvalue()


def test_archive_download_extracts_verifies_and_moves(server, tmp_path: Path) -> None:
    url, handler = server
    handler.extra["freesolv.zip"] = _zip_folder(DATA / "ogbg-molfreesolv", "freesolv")
    spec = dataclasses.replace(
        get_spec("ogbg-molfreesolv"),
        archive=Archive(url=f"{url}/freesolv.zip", top_folder="freesolv", verify_members=True),
    )
    _fetch_archive(spec, tmp_path, False, lambda message: None)
    assert dataset_status("ogbg-molfreesolv", tmp_path) == "complete"
    assert len(load("ogbg-molfreesolv", tmp_path)) == 642
    assert not (tmp_path / ".downloads" / "ogbg-molfreesolv.zip").exists()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".ogbg")]
    assert leftovers == []


def test_archive_with_a_corrupted_member_is_rejected(server, tmp_path: Path) -> None:
    url, handler = server
    handler.extra["bad.zip"] = _zip_folder(DATA / "ogbg-molfreesolv", "freesolv",
                                           corrupt="raw/edge.csv.gz")
    spec = dataclasses.replace(
        get_spec("ogbg-molfreesolv"),
        archive=Archive(url=f"{url}/bad.zip", top_folder="freesolv", verify_members=True),
    )
    with pytest.raises(ChecksumError, match=r"edge\.csv\.gz: sha256"):
        _fetch_archive(spec, tmp_path, False, lambda message: None)
    assert not (tmp_path / "ogbg-molfreesolv").exists()


def test_zip_slip_is_refused(server, tmp_path: Path) -> None:
    url, handler = server
    handler.extra["evil.zip"] = _zip_folder(DATA / "graph8c", "graph8c", evil=True)
    spec = dataclasses.replace(
        get_spec("graph8c"),
        archive=Archive(url=f"{url}/evil.zip", top_folder="graph8c", verify_members=False),
    )
    with pytest.raises(DatasetFileError, match="unsafe member path"):
        _fetch_archive(spec, tmp_path / "home", False, lambda message: None)
    assert not (tmp_path / "escape.txt").exists()


# ---------------------------------------------------------------------------- CLI
def _cli(*argv: str) -> tuple[int, str]:
    from gnnkit.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["datasets", *argv])
    return code, out.getvalue()


def test_cli_download_list_info(server, tmp_path: Path) -> None:
    url, _ = server
    code, out = _cli("download", "texas", "--root", str(tmp_path), "--mirror", url,
                     "--no-progress")
    assert code == 0 and "texas: complete" in out
    code, out = _cli("list", "--root", str(tmp_path))
    assert code == 0
    assert any(line.split()[:3] == ["texas", "geom-gcn", "complete"] for line in out.splitlines())
    assert any(line.split()[:3] == ["cora", "planetoid", "bundled"] for line in out.splitlines())
    code, out = _cli("info", "texas", "--root", str(tmp_path), "--load")
    assert code == 0
    assert "present out1_graph_edges.txt" in out and "sha256:" in out
    assert "Graph(name='Texas'" in out


def test_cli_failures_return_nonzero(tmp_path: Path, capsys) -> None:
    code, _ = _cli("download", "no-such-dataset", "--root", str(tmp_path))
    assert code == 1
    assert "unknown dataset" in capsys.readouterr().err
    code, _ = _cli("info", "no-such-dataset")
    assert code == 2
    if DATA.is_dir():
        code, _ = _cli("download", "pubmed", "--root", str(tmp_path), "--mirror", str(DATA))
        assert code == 1
        assert "ind.pubmed.allx" in capsys.readouterr().err
