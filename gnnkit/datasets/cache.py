"""Resumable, verified, atomic downloads into the data cache, with no third-party dependency.

* **Where**: ``$GNNKIT_DATA``, or ``~/.cache/gnnkit`` when unset (:func:`data_home`); each
  dataset lives in its own folder there, in the same layout as its original release.
* **Atomic**: bytes go to ``<file>.part``; only after the size and checksum match is the file
  renamed to its final name (``os.replace``), so a file with its final name is always complete
  and verified. A failed checksum deletes the ``.part`` file.
* **Resumable**: an existing ``.part`` is continued with an HTTP ``Range`` request; a server
  that ignores ``Range`` (status 200) makes the download restart from byte 0. A connection
  that drops mid-file is retried (and resumed) up to ``retries`` times; if it still fails, the
  ``.part`` file is kept so that the next call resumes it.
* **Verified**: SHA-256, or the git blob SHA-1 when only that is known (the id that
  SOURCE.txt files and GitHub trees list for files we have never seen).
* **Progress** goes to stderr (a one-line bar, redrawn at most 5 times a second); it is off when
  stderr is not a terminal unless asked for. Nothing ever prompts.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import urllib.response
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import IO

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._integrity import file_digest, file_problem, git_blob_sha1

__all__ = [
    "ChecksumError",
    "DownloadError",
    "data_home",
    "fetch",
    "file_digest",
    "git_blob_sha1",
]

_CHUNK = 1 << 16
_USER_AGENT = "gnnkit-datasets/0.1 (+https://github.com/gnnkit)"


class DownloadError(OSError):
    """A download failed (HTTP error, connection lost after all retries)."""


class ChecksumError(DatasetFileError):
    """Downloaded bytes do not have the expected size or digest; the partial file is deleted."""


def data_home() -> Path:
    """The data cache: ``$GNNKIT_DATA`` if set, else ``~/.cache/gnnkit``."""
    configured = os.environ.get("GNNKIT_DATA")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gnnkit"


def verify_file(
    path: Path, *, sha256: str | None = None, git_sha1: str | None = None, size: int | None = None
) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the expected size and digests (the
    comparison is :func:`gnnkit.datasets._integrity.file_problem`'s, shared with loading)."""
    problem = file_problem(path, size=size, sha256=sha256, git_sha1=git_sha1)
    if problem is not None:
        raise ChecksumError(path, problem)


class _Progress:
    """A dependency-free one-line progress bar on a text stream."""

    def __init__(self, label: str, total: int | None, stream: IO[str] | None) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.start = self.last = time.monotonic()

    def update(self, done: int, *, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        speed = done / max(now - self.start, 1e-6) / 1e6
        if self.total:
            filled = int(30 * min(done / self.total, 1.0))
            bar = "#" * filled + "." * (30 - filled)
            text = f"{self.label} [{bar}] {done / 1e6:7.1f}/{self.total / 1e6:.1f} MB"
        else:
            text = f"{self.label} {done / 1e6:7.1f} MB"
        self.stream.write(f"\r{text} {speed:6.1f} MB/s" + ("\n" if final else ""))
        self.stream.flush()


def _open(url: str, offset: int, timeout: float) -> urllib.response.addinfourl:
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _copy_response(
    response: urllib.response.addinfourl, part: Path, offset: int, progress: _Progress
) -> None:
    """Append/write the body to ``part``; raise ``HTTPException`` if it ends early."""
    status = getattr(response, "status", None) or response.getcode() or 200
    resumed = offset > 0 and status == 206
    if resumed:
        content_range = response.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            raise HTTPException(f"server answered Range {offset}- with {content_range!r}")
    else:
        offset = 0  # the server sent the whole file
    length = response.headers.get("Content-Length")
    expected = int(length) if length is not None else None
    if expected is not None and progress.total is None:
        progress.total = offset + expected
    received = 0
    with open(part, "ab" if resumed else "wb") as out:
        while True:
            block = response.read(_CHUNK)
            if not block:
                break
            out.write(block)
            received += len(block)
            progress.update(offset + received)
    if expected is not None and received < expected:
        raise HTTPException(f"connection closed after {received} of {expected} bytes")


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    git_sha1: str | None = None,
    size: int | None = None,
    progress: bool | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    label: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (resumable, verified, atomic); return ``dest``.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        dest: final path; the download is staged in ``dest + ".part"``.
        sha256, git_sha1, size: expected facts; any given one is checked before the rename.
        progress: draw a progress bar on stderr (default: only if stderr is a terminal).
        retries: further attempts after a dropped connection, each resuming the ``.part``.
        timeout: socket timeout in seconds.
        label: text shown before the progress bar (default: the file name).
        log: receives one-line notices (e.g. "no checksum known"); default: ignore.

    Raises:
        DownloadError: HTTP 4xx/5xx, or still incomplete after ``retries`` attempts (the
            ``.part`` file is kept for a later resume).
        ChecksumError: size or digest mismatch (the ``.part`` file is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(label or dest.name, size, sys.stderr if show else None)
    last_error: BaseException | None = None
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            part.unlink()
            offset = 0
        if size is not None and offset == size:
            break  # a previous attempt already received everything; verify below
        try:
            with _open(url, offset, timeout) as response:
                _copy_response(response, part, offset, bar)
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:  # nothing left to send: the .part is complete
                break
            if 400 <= error.code < 500:
                raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
            last_error = error
        except (urllib.error.URLError, HTTPException, OSError) as error:
            last_error = error
        else:
            break
        if attempt < retries:
            time.sleep(min(0.1 * 2**attempt, 2.0))
    else:
        raise DownloadError(
            f"{url}: download incomplete after {retries + 1} attempt(s) ({last_error}); "
            f"partial data kept in {part}, run again to resume"
        ) from last_error
    bar.update(part.stat().st_size, final=True)
    try:
        verify_file(part, sha256=sha256, git_sha1=git_sha1, size=size)
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        raise ChecksumError(dest, f"download from {url} corrupted: {error.problem}") from None
    if sha256 is None and git_sha1 is None and log is not None:
        log(f"note: no checksum known for {url}; sha256 {file_digest(part)}")
    os.replace(part, dest)
    return dest


def copy_verified(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    git_sha1: str | None = None,
    size: int | None = None,
) -> Path:
    """Copy a local file into the cache with the same staging/verification as :func:`fetch`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(source, part)
    try:
        verify_file(part, sha256=sha256, git_sha1=git_sha1, size=size)
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        raise ChecksumError(dest, f"copy of {source} corrupted: {error.problem}") from None
    os.replace(part, dest)
    return dest
