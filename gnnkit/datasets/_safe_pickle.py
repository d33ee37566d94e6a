"""Loading the pickles that benchmark datasets ship in, without arbitrary code execution.

Unpickling runs whatever callable a pickle names, so a downloaded pickle is code. The Planetoid
``ind.*`` files (Python 2 pickles of numpy arrays, ``scipy.sparse.csr_matrix`` and a
``defaultdict`` of adjacency lists) and OGB's ``split/*/*.pt`` files (legacy ``torch.save``
pickles of dicts of numpy arrays) only need a handful of constructors. :class:`SafeUnpickler`
resolves exactly those and refuses every other global, so a tampered file fails with
:class:`DatasetFileError` instead of running code. The allowed names are:

* numpy array reconstruction: ``numpy.core.multiarray._reconstruct`` (and numpy 2's
  ``numpy._core`` spelling), ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy.core.multiarray.scalar``;
* ``_codecs.encode`` (protocol-2 pickles store bytes through it);
* ``scipy.sparse`` matrix classes (``csr``, ``csc``, ``coo``; old and new module paths),
  mapped to :class:`PickledSparseMatrix`, an inert stand-in that only stores the arrays
  (scipy is not needed and none of its code runs);
* ``collections.defaultdict``, ``collections.OrderedDict`` and the builtins ``list``,
  ``dict``, ``set``, ``tuple``, ``int``, ``float``, ``object``.

OGB's newer zip-format ``.pt`` files are read with ``torch.load(weights_only=True)``, allowing
the same numpy globals (PyTorch's own restricted unpickler), see :func:`load_torch_file`.
"""

from __future__ import annotations

import builtins
import collections
import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from gnnkit.datasets._errors import DatasetFileError
from gnnkit.datasets._io import require_file
from gnnkit.sparse.index import index_from_ptr

__all__ = ["PickledSparseMatrix", "SafeUnpickler", "load_pickle", "load_torch_file"]


def _numpy_multiarray() -> Any:
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    return multiarray


class PickledSparseMatrix:
    """Stand-in for a pickled ``scipy.sparse`` matrix: holds its state, runs nothing.

    Unpickling a ``scipy.sparse.csr_matrix`` calls ``cls.__new__`` and then sets the
    instance ``__dict__`` (``data``, ``indices``, ``indptr``, ``_shape``; ``row``/``col`` for
    COO). This class receives that state instead, so reading Planetoid files needs neither
    scipy nor trust in scipy's unpickling path. :meth:`toarray` densifies it.
    """

    format = "csr"

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("sparse-matrix state must be a dict")
        self.state = state

    @property
    def shape(self) -> tuple[int, int]:
        shape = self.state.get("_shape", self.state.get("shape"))
        if shape is None or len(shape) != 2:
            raise ValueError(f"pickled {self.format} matrix has no valid shape")
        return int(shape[0]), int(shape[1])

    def toarray(self) -> np.ndarray:
        """Dense ``(rows, cols)`` array; duplicate entries are summed, as scipy does."""
        rows, cols = self.shape
        state = self.state
        data = np.asarray(state["data"])
        dense = np.zeros((rows, cols), dtype=data.dtype)
        if self.format == "coo":
            row, col = np.asarray(state["row"]), np.asarray(state["col"])
        else:
            indptr = np.asarray(state["indptr"], dtype=np.int64)
            minor = np.asarray(state["indices"], dtype=np.int64)
            major_len = rows if self.format == "csr" else cols
            if indptr.shape != (major_len + 1,) or indptr[-1] != data.size:
                raise ValueError(f"pickled {self.format} matrix has an inconsistent indptr")
            # Numpy in, numpy out. Checked: a decreasing indptr must raise ValueError (what
            # the Planetoid reader turns into a "malformed sparse matrix" error).
            major = index_from_ptr(indptr)
            row, col = (major, minor) if self.format == "csr" else (minor, major)
        if row.size and (row.min() < 0 or row.max() >= rows or col.min() < 0
                         or col.max() >= cols):
            raise ValueError(f"pickled {self.format} matrix has indices outside {self.shape}")
        np.add.at(dense, (row, col), data)
        return dense


def _sparse_stand_ins() -> dict[tuple[str, str], Any]:
    classes: dict[tuple[str, str], Any] = {}
    for kind in ("csr", "csc", "coo"):
        stand_in = type(f"Pickled{kind.upper()}Matrix", (PickledSparseMatrix,), {"format": kind})
        for cls_name in (f"{kind}_matrix", f"{kind}_array"):
            # Python-2-era pickles say scipy.sparse.csr, newer ones scipy.sparse._csr
            for module in ("scipy.sparse", f"scipy.sparse.{kind}", f"scipy.sparse._{kind}"):
                classes[(module, cls_name)] = stand_in
    return classes


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray = _numpy_multiarray()
    allowed: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    import codecs

    allowed[("_codecs", "encode")] = codecs.encode
    for module in ("builtins", "__builtin__"):
        for name in ("list", "dict", "set", "tuple", "int", "float", "object"):
            allowed[(module, name)] = getattr(builtins, name)
    allowed[("collections", "defaultdict")] = collections.defaultdict
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed.update(_sparse_stand_ins())
    # numpy >= 1.25 pickles dtypes by class (numpy.dtypes.Int64DType ...)
    dtypes_module = getattr(np, "dtypes", None)
    if dtypes_module is not None:
        for name in dir(dtypes_module):
            if name.endswith("DType"):
                allowed[("numpy.dtypes", name)] = getattr(dtypes_module, name)
    return allowed


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only an allow-list of globals.

    Any other ``module.name`` raises :class:`pickle.UnpicklingError`; persistent ids (used by
    ``torch.save`` for tensor storages) are refused as well.
    """

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if SafeUnpickler._allowed is None:
            SafeUnpickler._allowed = _allowed_globals()
        try:
            return SafeUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle global {module}.{name}: not on gnnkit's allow-list of "
                "numpy/scipy/collections constructors"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(
            "refusing persistent id (a torch tensor storage); gnnkit reads only pickles of "
            "numpy arrays here"
        )


def _unpickle(path: Path, handle: Any) -> Any:
    try:
        return SafeUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DatasetFileError(path, f"cannot unpickle safely: {error}") from error


def load_pickle(path: str | os.PathLike[str], why: str = "") -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler` (``latin1`` for Python 2 pickles).

    Raises:
        MissingDatasetFileError: the file is absent.
        DatasetFileError: the file is truncated, malformed, or names a forbidden global.
    """
    path = require_file(path, why)
    with open(path, "rb") as handle:
        return _unpickle(path, handle)


# torch.save's legacy (non-zip) format: five pickles in a row -- magic number, protocol
# version, system info, the object, then the list of storage keys (empty for pure numpy).
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def _numpy_safe_globals() -> list[Any]:
    multiarray = _numpy_multiarray()
    found = [multiarray._reconstruct, np.ndarray, np.dtype, multiarray.scalar]
    dtypes_module = getattr(np, "dtypes", None)
    if dtypes_module is not None:
        found += [getattr(dtypes_module, n) for n in dir(dtypes_module) if n.endswith("DType")]
    return found


def load_torch_file(path: str | os.PathLike[str], why: str = "") -> Any:
    """Load a ``.pt`` file holding numpy arrays/dicts (OGB splits) without arbitrary code.

    * Legacy format (a stream of pickles, what OGB's releases hold): read with
      :class:`SafeUnpickler` -- no torch needed, tensors refused.
    * Zip format (``torch.save`` >= 1.6): ``torch.load(weights_only=True)`` with numpy's array
      constructors added to PyTorch's own allow-list.

    Raises:
        MissingDatasetFileError: the file is absent.
        DatasetFileError: not a torch file, truncated, or containing forbidden globals.
    """
    path = require_file(path, why)
    if zipfile.is_zipfile(path):
        import torch

        try:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises plain pickle/RuntimeErrors; name the file
            raise DatasetFileError(path, f"cannot load safely: {error}") from error
    content = path.read_bytes()
    handle = io.BytesIO(content)
    header = _unpickle(path, handle)
    if header != _LEGACY_TORCH_MAGIC:
        raise DatasetFileError(path, "not a torch.save file (bad magic number)")
    _unpickle(path, handle)  # protocol version
    _unpickle(path, handle)  # sys info (endianness, type sizes)
    obj = _unpickle(path, handle)
    storage_keys = _unpickle(path, handle)
    if storage_keys:
        raise DatasetFileError(path, "holds tensor storages; expected numpy arrays only")
    if handle.tell() != len(content):
        raise DatasetFileError(path, "trailing bytes after the torch.save payload")
    return obj
