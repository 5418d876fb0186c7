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
import math
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


def read_idx(path: str | os.PathLike, *, max_bytes: int = 1 << 31) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array.

    The file is read as a stream: the header first, then exactly the number of bytes it
    declares, plus one to detect trailing data. A crafted or damaged file therefore costs no
    more memory than the data it really holds (a small "gzip bomb" that expands to gigabytes
    is stopped one byte after its declared size).

    Parameters
    ----------
    path : path-like
        An ``.idx``/``-ubyte`` file, optionally gzip-compressed.
    max_bytes : int
        Refuse headers that declare more data than this (default 2 GiB; full MNIST's training
        images are 47 MB).

    Returns
    -------
    numpy.ndarray
        Native byte order, shape from the header: ``(N, 28, 28)`` uint8 for MNIST images,
        ``(N,)`` uint8 for labels.

    Raises
    ------
    ValueError
        If the file is not IDX or is damaged: bad magic number, unknown type code, no
        dimensions, a declared size above ``max_bytes``, or a data length that does not match
        the dimensions (truncated or with trailing bytes). The message names the file and
        suggests deleting it so that it is downloaded again.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            return _read_stream(stream, path, compressed, os.fstat(raw.fileno()).st_size,
                                max_bytes)
        except (OSError, EOFError, zlib.error) as err:
            if not compressed:
                raise
            raise _bad(path, f"it looks gzip-compressed but does not decompress ({err})") from err


def _read_stream(stream, path: Path, compressed: bool, file_size: int, max_bytes: int):
    head = _read_up_to(stream, 4)
    if len(head) < 4:
        raise _bad(path, f"it has {len(head)} bytes, fewer than the 4-byte IDX header")
    zero, code, ndim = head[0:2], head[2], head[3]
    if zero != b"\x00\x00":
        raise _bad(path, f"bad magic number 0x{head.hex()}: an IDX file starts with two "
                         "zero bytes")
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        raise _bad(path, f"unknown data type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise _bad(path, "the header declares 0 dimensions")
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise _bad(path, f"the header declares {ndim} dimensions but the file ends after "
                         f"{4 + len(dims)} bytes")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = _DTYPES[code]
    # Python integers: a product of up to 255 dimensions of up to 2**32 - 1 cannot overflow.
    expected = math.prod(shape) * dtype.itemsize
    if expected > max_bytes:
        raise _bad(path, f"the header declares shape {shape}, {expected:,} bytes of data, more "
                         f"than max_bytes={max_bytes:,} (pass a larger max_bytes if it is real)")
    data = _read_up_to(stream, expected + 1)
    if len(data) < expected:
        raise _bad(path, f"truncated: shape {shape} needs {expected:,} bytes of data, "
                         f"found {len(data):,}")
    if len(data) > expected:
        # Uncompressed, the file size gives the exact excess; compressed, we stop reading.
        extra = f"{file_size - 4 - 4 * ndim - expected:,}" if not compressed else "more"
        raise _bad(path, f"{extra} unexpected bytes after the data of shape {shape}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: data is a bytearray
    return array.astype(dtype.newbyteorder("="), copy=False)  # native byte order


def _read_up_to(stream, size: int) -> bytearray:
    """Read ``size`` bytes, fewer only at the end of the file; memory grows with what comes."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(size - len(buffer), 1 << 20))
        if not chunk:
            break
        buffer += chunk
    return buffer


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
