"""Errors raised by the dataset readers.

Every error names the file and the problem, so that a truncated download or a hand-edited
file is diagnosed from the message alone.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DamagedDatasetFileError", "DatasetFileError", "MissingDatasetFileError"]


class MissingDatasetFileError(FileNotFoundError):
    """A file that a dataset reader needs is absent.

    ``path`` is the missing file; the message also says what the file is needed for.
    """

    def __init__(self, path: str | os.PathLike[str], why: str = "") -> None:
        self.path = Path(path)
        message = f"dataset file missing: {self.path}"
        if why:
            message += f" ({why})"
        super().__init__(message)

    def __str__(self) -> str:  # FileNotFoundError's own __str__ would print errno fields
        return str(self.args[0])


class DatasetFileError(ValueError):
    """A dataset file exists but its content is malformed or inconsistent.

    ``path`` is the offending file and ``problem`` a human-readable description.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DamagedDatasetFileError(DatasetFileError):
    """A dataset file is truncated or altered: wrong size or checksum, or an incomplete line.

    ``path`` is the damaged file, ``problem`` what is wrong with it and ``remedy`` how to get
    a good copy back (usually the ``gnnkit datasets download NAME --force`` command).
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, remedy: str = "") -> None:
        self.remedy = remedy or "replace it with a fresh copy of the original release"
        super().__init__(path, f"{problem}; the file is damaged (truncated or altered): "
                               f"{self.remedy}")
        self.problem = problem
