"""The IDX file format of MNIST: a tiny header, then a raw big-endian array.

Layout (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS")::

    bytes 0-1   0x00 0x00                 magic: always two zero bytes
    byte  2     data type code            0x08 uint8, 0x09 int8, 0x0B int16,
                                          0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions n
    4*n bytes   each dimension, big-endian unsigned 32-bit
    the rest    the values, big-endian, C order (last dimension fastest)

MNIST images are ``(N, 28, 28)`` uint8 and labels ``(N,)`` uint8. Files are usually
gzip-compressed; :func:`read_idx` recognises gzip by its first two bytes, whatever the name.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..files import atomic_write

__all__ = ["read_idx", "write_idx"]

# type code -> big-endian numpy dtype
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array.

    Parameters
    ----------
    path : path-like
        An ``.idx``/``-ubyte`` file, optionally gzip-compressed.

    Returns
    -------
    numpy.ndarray
        Native byte order, shape from the header: ``(N, 28, 28)`` uint8 for MNIST images,
        ``(N,)`` uint8 for labels.

    Raises
    ------
    ValueError
        If the file is not IDX or is damaged: bad magic number, unknown type code, no
        dimensions, or a data length that does not match the dimensions (truncated or with
        trailing bytes). The message names the file and suggests deleting it so that it is
        downloaded again.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise _bad(path, f"it looks gzip-compressed but does not decompress ({err})") from err

    if len(raw) < 4:
        raise _bad(path, f"it has {len(raw)} bytes, fewer than the 4-byte IDX header")
    zero, code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00":
        raise _bad(path, f"bad magic number 0x{raw[:4].hex()}: an IDX file starts with two "
                         "zero bytes")
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise _bad(path, f"unknown data type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise _bad(path, "the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _bad(path, f"the header declares {ndim} dimensions but the file ends after "
                         f"{len(raw)} bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise _bad(path, f"truncated: shape {shape} needs {expected:,} bytes of data, "
                         f"found {found:,}")
    if found > expected:
        raise _bad(path, f"{found - expected:,} unexpected bytes after the data of shape "
                         f"{shape}")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native, writable copy


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an array as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The file is written atomically, and the gzip header carries no timestamp or name, so the
    same array always gives the same bytes (and the same SHA-256).

    Parameters
    ----------
    path : path-like
        Destination, e.g. ``train-images-idx3-ubyte.gz``.
    array : numpy.ndarray
        At least one dimension; dtype one of uint8, int8, int16, int32, float32, float64.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; convert to one of "
                         f"{sorted(str(d) for d in codes)} first.")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got an array of shape {array.shape}.")
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_DTYPES[codes[native]]).tobytes()
    path = Path(path)
    with atomic_write(path) as out:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0,
                               compresslevel=9) as gz:
                gz.write(payload)
        else:
            out.write(payload)
    return path


def _bad(path: Path, problem: str) -> ValueError:
    return ValueError(f"{path} is not a valid IDX file: {problem}. If it was downloaded, "
                      "delete it so that it is fetched again.")
