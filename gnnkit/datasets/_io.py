"""Small, strict readers for the numeric text tables that dataset formats are made of.

All readers go through numpy's C parser (``np.loadtxt``), which reads a million-line table in
about a tenth of a second, and turn every parse failure into a :class:`DatasetFileError`
naming the file.
"""

from __future__ import annotations

import gzip
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gnnkit.datasets._errors import (
    DamagedDatasetFileError,
    DatasetFileError,
    MissingDatasetFileError,
)
from gnnkit.datasets._integrity import incomplete_last_line

__all__ = [
    "check_index_range",
    "check_last_line",
    "read_auto_table",
    "read_int_lists",
    "read_table",
    "require_file",
    "require_files",
]


def require_file(path: str | os.PathLike[str], why: str = "") -> Path:
    """Return ``path`` as a :class:`Path`, raising :class:`MissingDatasetFileError` if absent."""
    path = Path(path)
    if not path.is_file():
        raise MissingDatasetFileError(path, why)
    return path


def require_files(paths: Sequence[Path], why: str = "") -> None:
    """Check that every path exists; the error names the first missing one."""
    for path in paths:
        require_file(path, why)


def _open_text_bytes(path: Path) -> bytes:
    """Whole file content, transparently gunzipped when the name ends in ``.gz``."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:  # gzip raises EOFError on a truncated stream
        raise DatasetFileError(path, f"cannot read file ({error})") from error


def check_last_line(path: Path, content: bytes, remedy: str = "") -> None:
    """Raise :class:`DamagedDatasetFileError` if ``content`` (of ``path``) ends mid-line.

    For formats whose files always end with a newline, a missing final newline means the
    file was cut short (an interrupted download or copy); ``remedy`` says how to get it back.
    """
    if incomplete_last_line(content):
        last = content[content.rfind(b"\n") + 1:][:40].decode("ascii", errors="replace")
        raise DamagedDatasetFileError(
            path, f"the last line {last!r} is incomplete (the file does not end with a "
                  "newline, as this format always does)", remedy,
        )


def read_table(
    path: str | os.PathLike[str],
    *,
    num_columns: int | None,
    dtype: type | np.dtype = np.int64,
    delimiter: str | None = ",",
    skip_header: int = 0,
    why: str = "",
    final_newline: bool = False,
    remedy: str = "",
) -> np.ndarray:
    """Read a rectangular numeric table (``.csv``, ``.csv.gz``, ``.txt``) into a 2-D array.

    Args:
        path: the file; a ``.gz`` suffix means gzip-compressed.
        num_columns: the required number of columns, or ``None`` to accept any constant count.
        dtype: numpy dtype of the result (``int64`` rejects non-integer cells).
        delimiter: column separator; ``None`` means any whitespace.
        skip_header: number of leading lines to skip.
        why: what the file is for (used in the missing-file message).
        final_newline: the format always ends files with a newline; a file that does not is
            reported as truncated (:class:`DamagedDatasetFileError`, message ending with
            ``remedy``).
        remedy: how to get a good copy (e.g. the re-download command).

    Returns:
        An array of shape ``(rows, num_columns)``; an empty file gives ``(0, num_columns)``.

    Raises:
        MissingDatasetFileError: the file does not exist.
        DatasetFileError: a row has the wrong number of columns, a cell is not a number, or the
            gzip stream is truncated. The message names the file and, when numpy reports it,
            the row.
    """
    path = require_file(path, why)
    content = _open_text_bytes(path)
    if final_newline:
        check_last_line(path, content, remedy)
    if not content.strip():
        return np.zeros((0, num_columns or 0), dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "Empty input file" must not pass silently
            table = np.loadtxt(
                io.BytesIO(content),
                delimiter=delimiter,
                dtype=dtype,
                ndmin=2,
                skiprows=skip_header,
                comments=None,
            )
    except (ValueError, UserWarning) as error:
        raise DatasetFileError(path, f"malformed table: {error}") from error
    if num_columns is not None and table.shape[1] != num_columns:
        raise DatasetFileError(
            path, f"expected {num_columns} column(s) per row, found {table.shape[1]}"
        )
    return table


_FLOAT_MARKERS = (b".", b"e", b"E", b"n", b"N", b"i", b"I")


def read_auto_table(
    path: str | os.PathLike[str], *, num_columns: int | None, why: str = ""
) -> np.ndarray:
    """Read a comma-separated numeric table, inferring the dtype the way OGB does.

    Integer-only content gives ``int64``; anything with a decimal point, exponent, ``nan`` or
    an empty cell (a missing label, read as NaN) gives ``float32`` -- the same outcome as
    OGB's ``pandas.read_csv(...).values`` followed by its int/float cast.
    """
    path = require_file(path, why)
    content = _open_text_bytes(path)
    missing = b",," in content or b"\n," in content or b",\n" in content or (
        content.startswith(b",") or content.rstrip(b"\n").endswith(b",")
    )
    if not missing and not any(marker in content for marker in _FLOAT_MARKERS):
        return read_table(path, num_columns=num_columns, dtype=np.int64, why=why)
    if not missing:
        return read_table(path, num_columns=num_columns, dtype=np.float32, why=why)
    lines = content.decode("ascii", errors="replace").splitlines()
    rows = []
    for line_number, line in enumerate(lines, start=1):
        cells = line.split(",")
        if num_columns is not None and len(cells) != num_columns:
            raise DatasetFileError(
                path, f"line {line_number}: expected {num_columns} column(s), found {len(cells)}"
            )
        try:
            rows.append([float(cell) if cell.strip() else np.nan for cell in cells])
        except ValueError as error:
            raise DatasetFileError(path, f"line {line_number}: not a number ({error})") from error
    if len({len(row) for row in rows}) > 1:
        raise DatasetFileError(path, "rows have different numbers of columns")
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def read_int_lists(
    path: str | os.PathLike[str], *, why: str = "", final_newline: bool = False,
    remedy: str = "",
) -> list[np.ndarray]:
    """Read a whitespace-separated file of integer rows of varying length.

    Returns one int64 array per non-empty line, in file order (used by the LightGCN
    ``user item item ...`` format). A non-integer token raises :class:`DatasetFileError` with
    the 1-based line number; with ``final_newline``, a file whose last line lacks its newline
    raises :class:`DamagedDatasetFileError` (see :func:`read_table`).
    """
    path = require_file(path, why)
    content = _open_text_bytes(path)
    if final_newline:
        check_last_line(path, content, remedy)
    text = content.decode("ascii", errors="replace")
    rows: list[np.ndarray] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            rows.append(np.array(tokens, dtype=np.int64))
        except ValueError as error:
            raise DatasetFileError(path, f"line {line_number}: not integers ({error})") from error
    return rows


def check_index_range(
    path: str | os.PathLike[str], what: str, index: np.ndarray | Tensor, low: int, high: int
) -> None:
    """Raise :class:`DatasetFileError` unless every entry of ``index`` lies in ``[low, high)``."""
    if isinstance(index, Tensor):
        index = index.detach().cpu().numpy()
    if index.size == 0:
        return
    smallest, largest = int(index.min()), int(index.max())
    if smallest < low or largest >= high:
        bad = smallest if smallest < low else largest
        raise DatasetFileError(
            path, f"{what} out of range: found {bad}, valid range is [{low}, {high - 1}]"
        )


def as_long_tensor(array: np.ndarray) -> Tensor:
    """``torch.int64`` tensor sharing nothing with ``array`` (a fresh contiguous copy)."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).clone()


def unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted unique values of a 1-D integer array.

    A sort-based ``np.unique``: numpy >= 2.3's hash-based default is several times slower on
    the million-entry edge keys the readers build.
    """
    ordered = np.sort(keys, kind="stable")
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(unique_sorted(keys), inverse)`` with ``unique[inverse] == keys``."""
    unique = unique_sorted(keys)
    return unique, np.searchsorted(unique, keys)


def isin_sorted(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``values`` occur in the sorted unique array ``sorted_unique``."""
    if sorted_unique.size == 0:
        return np.zeros(values.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_unique, values), sorted_unique.size - 1)
    return sorted_unique[position] == values
