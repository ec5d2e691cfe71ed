"""Restricted unpickling of data files (CIFAR's python batches, ``.npy`` object arrays): no file can run code.

``pickle.load`` calls whatever global a file names (``posix.system`` included), so a crafted ``data_batch_1`` or
feature file would execute code when read. :class:`DataUnpickler` resolves only the globals that official data
files need: numpy's array and scalar reconstruction and dtypes, and harmless builtins (``bytes`` written by
Python 3 at protocol 2, sets); containers, strings, bytes and numbers need no global at all. Anything else is
an :class:`UnsafePickleError` naming the global. Checkpoints have their own allowlist (``bench.checkpoint``).
"""
from __future__ import annotations

import codecs
import io
import math
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

try:  # numpy >= 2 moved the pickling helpers to numpy._core; files written by numpy 1 name numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

_NUMPY_CORE = ("numpy.core", "numpy._core")  # the module path in files written by numpy 1 and by numpy 2
# Python 2 module names, as pickle's own fix_imports maps them
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

#: (module, name) → object: everything a CIFAR batch or a numpy array (numeric or object) pickles
DATA_GLOBALS: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 at protocol 2
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"{package}.multiarray", name): getattr(_multiarray, name) for package in _NUMPY_CORE
       for name in ("_reconstruct", "scalar")},
    **{(f"{package}.numeric", "_frombuffer"): _numeric._frombuffer  # type: ignore[attr-defined]
       for package in _NUMPY_CORE},
}
ALLOWED_SUMMARY = "numpy arrays, scalars and dtypes, and plain containers, strings, bytes and numbers"


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickled data file names a global outside the allowlist: it would run code if loaded with ``pickle``.

    A ``ValueError`` too, so the CLI prints it as a user error when no reader turned it into a layout error.
    """

    def __init__(self, module: str, name: str, source: str = "") -> None:
        self.module, self.name, self.source = module, name, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}refused to unpickle the global {module}.{name}: data files may hold only "
                         f"{ALLOWED_SUMMARY}, and a file that names other code is not an official file (it could "
                         "run code when loaded); delete it and download the official file again")


class DataUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only :data:`DATA_GLOBALS` (after Python 2 module renames)."""

    def __init__(self, file: IO[bytes], *, encoding: str = "ASCII", source: str = "") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = DATA_GLOBALS.get((_PY2_MODULES.get(module, module), name))
        if found is None:
            raise UnsafePickleError(module, name, self.source)
        return found


def load_pickle(path: str | Path, *, encoding: str = "ASCII") -> Any:
    """The object pickled in ``path``, read with :class:`DataUnpickler`.

    Raises :class:`UnsafePickleError` for a forbidden global and ``ValueError`` naming the file for a truncated
    or corrupt pickle; ``encoding`` is pickle's (``"bytes"`` keeps Python 2 strings as bytes, as CIFAR's are read).
    """
    with open(path, "rb") as file:
        return _unpickle(file, encoding, str(path))


def loads_pickle(data: bytes, *, encoding: str = "ASCII", source: str = "") -> Any:
    """:func:`load_pickle` on bytes in memory."""
    return _unpickle(io.BytesIO(data), encoding, source)


def _unpickle(file: IO[bytes], encoding: str, source: str) -> Any:
    try:
        return DataUnpickler(file, encoding=encoding, source=source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError) as error:
        raise ValueError(f"{source}: not a readable pickle, the file is truncated or corrupt ({type(error).__name__}: "
                         f"{error})") from error


def read_npy_header(file: IO[bytes], source: str = "") -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of an open ``.npy`` file; ValueError naming ``source`` if the
    magic string or header is not numpy's."""
    try:
        version = np.lib.format.read_magic(file)
        # 3.0 differs from 2.0 only in allowing utf-8 field names; the header's length field is the same
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = reader(file)
    except (ValueError, EOFError, SyntaxError) as error:
        raise ValueError(f"{source}: not a .npy file or a truncated one ({error})") from error
    return tuple(shape), bool(fortran_order), dtype, file.tell()


def npy_shape(path: str | Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header (nothing else read); ValueError if a numeric file is shorter than its
    header promises (truncated copy), so a long job does not fail on it hours later."""
    path = Path(path)
    with open(path, "rb") as file:
        shape, _, dtype, offset = read_npy_header(file, str(path))
    if not dtype.hasobject:
        expected = offset + dtype.itemsize * math.prod(shape)
        size = path.stat().st_size
        if size < expected:
            raise ValueError(f"{path}: truncated .npy file: {size} bytes, but its header ({shape}, {dtype}) needs "
                             f"{expected}")
    return shape, dtype


def load_npy(path: str | Path, *, allow_object: bool = True) -> np.ndarray:
    """The array in a ``.npy`` file; object arrays (``np.save`` of Python objects) are unpickled with
    :class:`DataUnpickler` instead of ``np.load(allow_pickle=True)``.

    ValueError naming the file for a corrupt or truncated file, or for an object array when not ``allow_object``;
    :class:`UnsafePickleError` when an object array names a forbidden global.
    """
    path = Path(path)
    with open(path, "rb") as file:
        shape, _, dtype, _ = read_npy_header(file, str(path))
        if not dtype.hasobject:
            file.seek(0)
            try:
                return np.load(file, allow_pickle=False)
            except (ValueError, EOFError, OSError) as error:
                raise ValueError(f"{path}: corrupt or truncated .npy file ({error})") from error
        if not allow_object:
            raise ValueError(f"{path} holds a pickled object array (dtype {dtype}, shape {shape})")
        # encoding="latin1": what numpy recommends for object arrays written by Python 2; no effect on Python 3 files
        array = _unpickle(file, "latin1", str(path))
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{path}: the pickled payload is a {type(array).__name__}, not an array")
    return array
