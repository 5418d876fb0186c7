"""Fetching a data file once: mirrors in order, SHA-256 checked, cached, written atomically.

Every dataset in the course goes through :func:`download`. It returns the cached copy when
its checksum matches and otherwise streams the file from the first mirror that works,
showing a progress bar. A file only ever appears under its final name once its SHA-256 is
right: it is written to a temporary name first (:func:`bmcourse.files.atomic_write`).

When nothing works, the error lists every URL tried with what went wrong, then says what to
do: go online, put the file at an exact path, or point ``BMCOURSE_DATA`` at a copy.

Environment variables
---------------------
BMCOURSE_DATA
    The cache folder. Unset: the usual per-user cache folder (see :func:`cache_dir`).
BMCOURSE_OFFLINE
    ``1`` forbids the network: only the cache (and ``file://`` URLs) are used, and a missing
    file fails at once with an explanation instead of waiting for time-outs.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Sequence

from ..files import atomic_write, sha256_of
from ..progress import tqdm
from ..runtime import env_flag

__all__ = ["cache_dir", "download", "is_offline", "sha256_of", "DownloadError",
           "DatasetUnavailableError"]

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be fetched; the message lists each URL tried and what to do.

    ``attempts`` holds the same as data: a list of ``(url or path, what went wrong)``.
    """

    def __init__(self, message: str, attempts=()):
        super().__init__(message)
        self.attempts = list(attempts)


class DatasetUnavailableError(DownloadError):
    """A dataset is neither cached nor downloadable (offline, mirrors down, bad checksum)."""


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
        exact path where a copy of the file can be put by hand.
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

    problems = []  # (where, what went wrong), reported if nothing works
    if target.exists():
        found = sha256_of(target)
        if found == expected:
            return target
        problems.append((str(target), f"a file is there but its SHA-256 is {found}"))

    offline = is_offline()
    for url in urls:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if offline and scheme != "file":
            problems.append((url, "not tried: BMCOURSE_OFFLINE=1 forbids the network"))
            continue
        try:
            _fetch(url, target, expected, progress=progress, timeout=timeout)
            return target
        except _RETRYABLE as err:
            problems.append((url, _describe(err)))
    raise DownloadError(_explain(filename, target, expected, urls, problems, offline), problems)


class _ChecksumMismatch(Exception):
    """The bytes received do not have the expected SHA-256."""


# What makes us move on to the next URL: URLError and time-outs are OSErrors, an unknown URL
# scheme is a ValueError, a connection closed early is an http.client.IncompleteRead.
_RETRYABLE = (OSError, ValueError, http.client.HTTPException, _ChecksumMismatch)


def _fetch(url: str, target: Path, expected: str, *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into ``target`` through a temporary file, checking its SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": "bmcourse"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        digest = hashlib.sha256()
        # The temporary file is removed by atomic_write if anything below raises, including
        # the checksum check, so a bad download never shows up under the final name.
        with atomic_write(target) as out, tqdm(
            total=total, unit="B", unit_scale=True, unit_divisor=1024,
            desc=target.name, disable=not progress, leave=False,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
            found = digest.hexdigest()
            if found != expected:
                raise _ChecksumMismatch(
                    f"SHA-256 mismatch: got {found}, expected {expected} "
                    "(a corrupt, truncated or different file)"
                )


def _describe(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return f"{type(err.reason).__name__}: {err.reason}"
    if isinstance(err, _ChecksumMismatch):
        return str(err)
    return f"{type(err).__name__}: {err}"


def _explain(filename, target, expected, urls, problems, offline) -> str:
    lines = [f"Could not get {filename!r}."]
    if offline:
        lines.append("BMCOURSE_OFFLINE=1 is set, so the network was not used.")
    lines.append("What was tried:")
    lines += [f"  - {where}: {what}" for where, what in problems]
    if not urls:
        lines.append("  - no URL was given")
    lines.append("To fix it, do one of these:")
    if offline:
        lines.append("  - allow downloads: unset BMCOURSE_OFFLINE (or set it to 0) and run again;")
    else:
        lines.append("  - check the internet connection (or proxy) and run again;")
    lines.append("  - download the file yourself from one of the URLs above and put it at")
    lines.append(f"      {target}")
    lines.append(f"    (its SHA-256 must be {expected});")
    lines.append("  - or set BMCOURSE_DATA to a folder that already holds "
                 f"{PurePosixPath(filename)}.")
    return "\n".join(lines)
