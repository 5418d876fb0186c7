"""Files the course trusts: written atomically, identified by SHA-256.

Two promises live here, in one place: a file only ever appears under its final name complete
(:func:`atomic_write`), and a file the package did not write itself is used only once its
SHA-256 matches the expected one (:func:`sha256_of`, :func:`matches_sha256`).

A writer that is killed (Ctrl-C twice, a kernel restart, an out-of-memory kill) cannot remove
its temporary file, so :func:`atomic_write` removes such orphans beside its target before it
writes, taking care never to touch the temporary file of a writer that is still running.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write", "sha256_of", "matches_sha256", "remove_stale_parts"]

# A temporary file whose writer cannot be identified (another machine on a shared folder,
# Windows, or a name from an older bmcourse) counts as abandoned only when nobody has written
# to it for this long. A live writer appends at least every few seconds (downloads give up
# after a 30 s time-out), so a day of silence cannot be a writer that is still at work.
STALE_AFTER_S = 24 * 3600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    # Letters, digits and "-" only, so that the temporary name can be parsed back.
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds.

    A crash, an exception or a full disk inside the ``with`` block leaves ``path`` untouched
    (the old file, or nothing) and removes the temporary file. The temporary file is named
    ``.{name}.{host}-{pid}.{random}.part``; temporary files for the same ``path`` left by a
    writer that was killed are removed first (see :func:`remove_stale_parts`).

    Examples
    --------
    >>> with atomic_write("model.pt") as f:          # doctest: +SKIP
    ...     torch.save(model.state_dict(), f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}-{os.getpid()}.", suffix=".part",
                               dir=path.parent)
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


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files that a killed writer of ``path`` left behind; return them.

    Only files named like :func:`atomic_write`'s temporary files for this very ``path`` are
    considered. One written on this machine is removed when the process that wrote it (its
    PID is in the name) no longer exists: a download running in another notebook or terminal
    keeps its file. (The host name in the file name keeps machines sharing a folder apart; two
    containers that share a host name but not a PID namespace are the one set-up this rule
    cannot tell apart.) Otherwise (another machine sharing the folder, Windows, or the older
    ``.{name}.{random}.part`` names) a file is removed only once it has not been written to
    for :data:`STALE_AFTER_S` seconds. Failures are ignored: this is housekeeping, and must
    never stop the write that follows.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.)?"
                         r"[a-z0-9_]{8}\.part")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        try:
            if match["pid"] is not None and match["host"] == _host() and _can_probe_pids():
                stale = not _pid_alive(int(match["pid"]))
            else:
                stale = time.time() - candidate.stat().st_mtime > STALE_AFTER_S
            if stale:
                candidate.unlink()
                removed.append(candidate)
        except OSError:  # renamed or removed meanwhile by its writer, or not ours to remove
            continue
    return removed


def _can_probe_pids() -> bool:
    # On Windows os.kill(pid, 0) does not probe: it terminates the process. Use the age rule.
    return sys.platform != "win32"


def _pid_alive(pid: int) -> bool:
    """True when a process with this PID exists (a reused PID errs on the side of keeping)."""
    if pid == os.getpid():
        return True  # another thread of this process may be writing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except (OSError, OverflowError):
        return True  # cannot tell (or no real PID): keep the file
    return True


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
