"""Files the course trusts: written atomically, identified by SHA-256.

Two promises live here, in one place: a file only ever appears under its final name complete
(:func:`atomic_write`), and a file the package did not write itself is used only once its
SHA-256 matches the expected one (:func:`sha256_of`, :func:`matches_sha256`).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "sha256_of", "matches_sha256"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds.

    A crash, an exception or a full disk inside the ``with`` block leaves ``path`` untouched
    (the old file, or nothing) and removes the temporary file.

    Examples
    --------
    >>> with atomic_write("model.pt") as f:          # doctest: +SKIP
    ...     torch.save(model.state_dict(), f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks so that large files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches_sha256(path: str | os.PathLike, sha256: str) -> bool:
    """True when ``path`` is a regular file whose SHA-256 is ``sha256`` (hex, any case)."""
    path = Path(path)
    return path.is_file() and sha256_of(path) == sha256.strip().lower()
