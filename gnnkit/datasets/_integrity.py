"""Integrity checks of dataset files already on disk: size, checksum, a complete last line.

The registry knows the size and SHA-256 (or git blob SHA-1) of most original files
(:mod:`gnnkit.datasets._checksums`). Loading compares every present file's size with the
recorded one -- a ``stat``, done on every load -- and verifies its checksum once: the digest
is cached in memory under ``(resolved path, size, mtime_ns)``, so repeated loads in a process
hash nothing, while a file that is rewritten (new size or modification time) is hashed again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

__all__ = [
    "cached_digest",
    "clear_digest_cache",
    "file_digest",
    "file_problem",
    "git_blob_sha1",
    "incomplete_last_line",
]

def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """``git hash-object`` of a file: SHA-1 of ``b"blob <size>\\0" + content``."""
    path = Path(path)
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_DigestKey = tuple[str, int, int, str]
_DIGESTS: dict[_DigestKey, str] = {}
_LOCK = threading.Lock()


def cached_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of ``path`` (``"sha256"`` or ``"git-sha1"``), computed once per file version.

    The cache key is ``(resolved path, size, mtime_ns, algorithm)``: any rewrite of the file
    that changes its size or modification time makes the next call hash it again.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, algorithm)
    with _LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    if algorithm == "git-sha1":
        digest = git_blob_sha1(path)
    elif algorithm == "sha256":
        digest = file_digest(path)
    else:
        raise ValueError(f"unknown digest algorithm {algorithm!r}; use 'sha256' or 'git-sha1'")
    with _LOCK:
        _DIGESTS[key] = digest
    return digest


def clear_digest_cache() -> None:
    """Forget every cached digest (the next check hashes each file again)."""
    with _LOCK:
        _DIGESTS.clear()


def file_problem(
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    sha256: str | None = None,
    git_sha1: str | None = None,
    verify_digest: bool = True,
) -> str | None:
    """What is wrong with the present file ``path`` compared with the recorded facts, or ``None``.

    The size is always compared (a ``stat``); the checksum only when ``verify_digest`` is true,
    through :func:`cached_digest`. A size mismatch is reported without hashing.
    """
    path = Path(path)
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        kind = "truncated" if actual_size < size else "too long"
        return f"size {actual_size} bytes, the original has {size} ({kind})"
    if not verify_digest:
        return None
    if sha256 is not None:
        actual = cached_digest(path, "sha256")
        if actual != sha256:
            return f"sha256 {actual} differs from the original's {sha256}"
    if git_sha1 is not None:
        actual = cached_digest(path, "git-sha1")
        if actual != git_sha1:
            return f"git blob sha1 {actual} differs from the original's {git_sha1}"
    return None


def incomplete_last_line(content: bytes) -> bool:
    """True when non-empty ``content`` does not end with a newline (its last line is cut)."""
    return bool(content) and not content.endswith(b"\n")
