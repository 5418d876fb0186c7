"""Fetching a data file once: mirrors in order, SHA-256 checked, cached, written atomically.

Every dataset in the course goes through :func:`download`. It returns the cached copy when
its checksum matches and otherwise streams the file from the first mirror that works,
showing a progress bar. A file only ever appears under its final name once its SHA-256 is
right: it is written to a temporary name first (:func:`bmcourse.files.atomic_write`).

When nothing works, the error lists every URL tried with what went wrong, then says what to
do: go online, put the file at an exact path, or point ``BMCOURSE_DATA`` at a copy. A local
disk that cannot take the file (read-only, full, permission denied) is a different problem
with a different fix, so it raises :class:`DiskError`, which names the folder instead of
blaming the network.

Environment variables
---------------------
BMCOURSE_DATA
    The cache folder. Unset: the usual per-user cache folder (see :func:`cache_dir`).
BMCOURSE_OFFLINE
    ``1`` forbids the network: only the cache (and ``file://`` URLs) are used, and a missing
    file fails at once with an explanation instead of waiting for time-outs.
"""
from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Sequence

from ..files import atomic_write, remove_stale_parts, sha256_of
from ..progress import tqdm
from ..runtime import env_flag

__all__ = ["cache_dir", "download", "is_offline", "sha256_of", "DownloadError",
           "DatasetUnavailableError", "DiskError"]

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be fetched; the message lists each URL tried and what to do.

    Attributes
    ----------
    attempts : list of (str, str)
        The same as data: ``(url or path, what went wrong)``, with the technical detail
        (``"gaierror: [Errno -2] Name or service not known"``).
    reason : str
        Why, in a word a message for people can build on: ``"offline"`` (the network was not
        to be used: ``BMCOURSE_OFFLINE=1``, or a loader's ``download=False``), ``"no network"``
        (no server could be reached at all),
        ``"disk"`` (the local copy could not be read or written, see :class:`DiskError`) or
        ``"failed"`` (anything else: HTTP errors, wrong checksums, ...).
    """

    def __init__(self, message: str, attempts=(), reason: str = "failed"):
        super().__init__(message)
        self.attempts = list(attempts)
        self.reason = reason


class DatasetUnavailableError(DownloadError):
    """A dataset is neither cached nor downloadable (offline, mirrors down, bad checksum)."""


class DiskError(DownloadError):
    """The data folder cannot be used: read-only, full, or permission denied.

    A local problem, not a network one: the message names the folder and says how to pick
    another with ``BMCOURSE_DATA``. ``folder`` is that folder, ``problem`` the trouble in
    plain words (``"the disk is full"``) and ``__cause__`` the OSError.
    """

    def __init__(self, message: str, attempts=(), folder=None, problem: str = "a disk error"):
        super().__init__(message, attempts, reason="disk")
        self.folder = Path(folder) if folder is not None else None
        self.problem = problem

    @classmethod
    def from_oserror(cls, err: OSError, folder: Path, action: str, attempts=()) -> "DiskError":
        """Explain ``err``, raised while ``action`` (e.g. "save 'x.gz'") in ``folder``."""
        what, remedy = _DISK_PROBLEMS.get(err.errno, ("a disk error", None))
        explicit = os.environ.get("BMCOURSE_DATA", "").strip()
        now = (f"it is now BMCOURSE_DATA={explicit}" if explicit else
               f"it is not set, so the default folder {_default_cache_dir()} is used")
        lines = [f"Could not {action} in the data folder {folder}: {what} ({err}).",
                 "This is a problem with the local disk, not with the network.",
                 "To fix it, do one of these:",
                 "  - set the environment variable BMCOURSE_DATA to a folder you can write to, "
                 "with a few hundred MB free, and run again",
                 f"    ({now});"]
        if remedy:
            lines.append(f"  - or {remedy.format(folder=folder)}, and run again.")
        return cls("\n".join(lines), attempts, folder, what)


_DISK_PROBLEMS = {  # errno -> (what happened, in plain words; what the user can do about it)
    errno.EROFS: ("the file system is read-only", None),
    errno.ENOSPC: ("the disk is full", "free some space on the disk that holds {folder}"),
    getattr(errno, "EDQUOT", -1): ("the disk quota is used up", "free some of your disk quota"),
    errno.EACCES: ("permission denied", "make {folder} writable for you"),
    errno.EPERM: ("permission denied", "make {folder} writable for you"),
}


def is_offline() -> bool:
    """True when ``BMCOURSE_OFFLINE`` forbids network access."""
    return env_flag("BMCOURSE_OFFLINE")


def cache_dir() -> Path:
    """Return the folder where downloaded datasets are kept (it is not created here).

    ``BMCOURSE_DATA`` when set; otherwise the platform's per-user cache folder:
    ``%LOCALAPPDATA%\\bmcourse`` on Windows, ``~/Library/Caches/bmcourse`` on macOS and
    ``$XDG_CACHE_HOME/bmcourse`` (default ``~/.cache/bmcourse``) elsewhere.
    """
    explicit = os.environ.get("BMCOURSE_DATA", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "bmcourse"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "bmcourse"
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "bmcourse"


_default_cache_dir = cache_dir  # download() has a parameter called cache_dir that hides it


def download(urls: str | Sequence[str], filename: str, sha256: str, *, cache_dir=None,
             progress: bool = True, timeout: float = 30.0) -> Path:
    """Return the path of a verified local copy of a file, downloading it if needed.

    Parameters
    ----------
    urls : str or sequence of str
        Where the file can be fetched, tried in order (``https://``, ``http://`` or
        ``file://``). The first one whose content has the right SHA-256 wins.
    filename : str
        Relative path of the file inside the cache, e.g. ``"mnist/t10k-labels-idx1-ubyte.gz"``.
    sha256 : str
        Expected SHA-256 of the file, 64 hex digits.
    cache_dir : path-like, optional
        Cache folder; default :func:`cache_dir` (``BMCOURSE_DATA`` or the user cache).
    progress : bool
        Show a progress bar while downloading.
    timeout : float
        Seconds to wait for a server before trying the next URL.

    Returns
    -------
    pathlib.Path
        ``cache_dir / filename``, whose SHA-256 equals ``sha256``.

    Raises
    ------
    DownloadError
        If no URL gave the right file. The message lists each URL with its error, and the
        exact path where a copy of the file can be put by hand; ``reason`` says why in a word.
    DiskError
        (a DownloadError) If the cache folder cannot be read or written: read-only, full or
        not permitted. Raised at once, without trying the other URLs.
    ValueError
        If ``sha256`` or ``filename`` is malformed.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}.")
    relative = PurePosixPath(filename)
    if not filename or relative.is_absolute() or ".." in relative.parts or "\\" in filename:
        raise ValueError(
            f"filename must be a relative path inside the cache such as 'mnist/file.gz', "
            f"got {filename!r}."
        )
    root = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    target = root.joinpath(*relative.parts)
    # Orphans of a killed earlier download go now, even if the file is cached meanwhile.
    remove_stale_parts(target)

    problems = []  # (where, what went wrong), reported if nothing works
    try:
        found = sha256_of(target) if target.exists() else None
    except OSError as err:
        raise DiskError.from_oserror(err, target.parent, f"read {filename!r}") from err
    if found == expected:
        return target
    if found is not None:
        problems.append((str(target), f"a file is there but its SHA-256 is {found}"))

    offline = is_offline()
    tried = unreachable = 0  # network URLs tried, and those whose server could not be reached
    for url in urls:
        is_network = urllib.parse.urlsplit(url).scheme.lower() != "file"
        if offline and is_network:
            problems.append((url, "not tried: BMCOURSE_OFFLINE=1 forbids the network"))
            continue
        try:
            _fetch(url, target, expected, progress=progress, timeout=timeout)
            return target
        except _LocalWriteError as err:
            # Every mirror would fail the same way: stop, and blame the disk, not the network.
            problems.append((url, f"could not save it: {err.__cause__}"))
            raise DiskError.from_oserror(err.__cause__, target.parent, f"save {filename!r}",
                                         problems) from err.__cause__
        except _RETRYABLE as err:
            problems.append((url, _describe(err)))
            tried += is_network
            unreachable += is_network and _is_unreachable(err)
    if offline:
        reason = "offline"
    elif tried and unreachable == tried:
        reason = "no network"
    else:
        reason = "failed"
    raise DownloadError(_explain(filename, target, expected, urls, problems, reason),
                        problems, reason)


class _ChecksumMismatch(Exception):
    """The bytes received do not have the expected SHA-256."""


class _ReadError(Exception):
    """Reading from the server failed (its ``__cause__``); not an OSError on purpose."""


class _LocalWriteError(Exception):
    """Writing the local copy failed (its ``__cause__``): a disk problem, not a network one."""


# What makes us move on to the next URL: URLError and time-outs are OSErrors, an unknown URL
# scheme is a ValueError, a connection closed early is an http.client.IncompleteRead.
_RETRYABLE = (OSError, ValueError, http.client.HTTPException, _ChecksumMismatch, _ReadError)


def _fetch(url: str, target: Path, expected: str, *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``target`` through a temporary file, checking its SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": "bmcourse"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        digest = hashlib.sha256()
        # The temporary file is removed by atomic_write if anything below raises, including
        # the checksum check, so a bad download never shows up under the final name.
        try:
            with atomic_write(target) as out, tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=target.name, disable=not progress, leave=False,
            ) as bar:
                for chunk in _chunks(response):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
                found = digest.hexdigest()
                if found != expected:
                    raise _ChecksumMismatch(
                        f"SHA-256 mismatch: got {found}, expected {expected} "
                        "(a corrupt, truncated or different file)"
                    )
        except OSError as err:  # network reads raise _ReadError, so this is the local file
            raise _LocalWriteError() from err


def _chunks(response):
    """The response body in chunks; a failed read raises _ReadError instead of an OSError."""
    while True:
        try:
            chunk = response.read(_CHUNK)
        except OSError as err:
            raise _ReadError() from err
        if not chunk:
            return
        yield chunk


def _is_unreachable(err: BaseException) -> bool:
    """True when ``err`` means the server could not be reached at all (no network)."""
    if isinstance(err, _ReadError):
        return False  # the server was reached; the connection broke during the transfer
    if isinstance(err, urllib.error.HTTPError):
        return False  # a server answered
    if isinstance(err, urllib.error.URLError):
        err = err.reason
    if isinstance(err, (socket.gaierror, TimeoutError, ConnectionRefusedError)):
        return True  # no name resolution (the usual sign of no network), time-out, refusal
    return isinstance(err, OSError) and err.errno in _UNREACHABLE_ERRNOS


_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH,
                       getattr(errno, "EHOSTDOWN", -1)}


def _describe(err: BaseException) -> str:
    if isinstance(err, _ReadError):
        return "connection broken during the transfer: " + _describe(err.__cause__)
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"{type(err.reason).__name__}: {err.reason}"
    if isinstance(err, _ChecksumMismatch):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _explain(filename, target, expected, urls, problems, reason) -> str:
    first = {"offline": "BMCOURSE_OFFLINE=1 is set, so the network was not used.",
             "no network": "No network: none of the servers could be reached."}
    lines = [f"Could not get {filename!r}."]
    if reason in first:
        lines.append(first[reason])
    lines.append("What was tried:")
    lines += [f"  - {where}: {what}" for where, what in problems]
    if not urls:
        lines.append("  - no URL was given")
    lines.append("To fix it, do one of these:")
    if reason == "offline":
        lines.append("  - allow downloads: unset BMCOURSE_OFFLINE (or set it to 0) and run again;")
    else:
        lines.append("  - check the internet connection (or proxy) and run again;")
    lines.append("  - download the file yourself from one of the URLs above and put it at")
    lines.append(f"      {target}")
    lines.append(f"    (its SHA-256 must be {expected});")
    if problems and problems[0][0] == str(target):
        lines.append(f"  - or delete the damaged {target}, then run again with the network;")
    lines.append("  - or set BMCOURSE_DATA to a folder that already holds "
                 f"{PurePosixPath(filename)}.")
    return "\n".join(lines)
