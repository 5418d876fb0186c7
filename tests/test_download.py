import errno
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bmcourse import files
from bmcourse.data import DiskError, DownloadError, cache_dir, download

CONTENT = b"the right bytes\n" * 1000
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def mirrors(tmp_path):
    """Two local 'servers': one with a corrupted copy of the file, one with the right one."""
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "file.bin").write_bytes(CONTENT[:-1] + b"!")
    (good / "file.bin").write_bytes(CONTENT)
    return {"bad": (bad / "file.bin").as_uri(), "good": (good / "file.bin").as_uri(),
            "missing": (tmp_path / "nowhere" / "file.bin").as_uri()}


def files_under(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_cache_dir_follows_bmcourse_data(monkeypatch, tmp_path):
    monkeypatch.setenv("BMCOURSE_DATA", str(tmp_path / "here"))
    assert cache_dir() == tmp_path / "here"


@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {"XDG_CACHE_HOME": "/xdg"}, "/xdg/bmcourse"),
    ("linux", {}, "{home}/.cache/bmcourse"),
    ("darwin", {}, "{home}/Library/Caches/bmcourse"),
    ("win32", {"LOCALAPPDATA": "/appdata"}, "/appdata/bmcourse"),
])
def test_cache_dir_default_per_platform(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.delenv("BMCOURSE_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "platform", platform)
    assert cache_dir() == Path(expected.format(home=tmp_path))


def test_downloads_a_file_url_into_the_cache(data_dir, mirrors):
    path = download(mirrors["good"], "sub/file.bin", SHA, progress=False)
    assert path == data_dir / "sub" / "file.bin"
    assert path.read_bytes() == CONTENT
    assert files_under(data_dir) == ["sub/file.bin"]


def test_explicit_cache_dir_argument_wins(data_dir, mirrors, tmp_path):
    path = download([mirrors["good"]], "file.bin", SHA, cache_dir=tmp_path / "elsewhere",
                    progress=False)
    assert path == tmp_path / "elsewhere" / "file.bin"
    assert not data_dir.exists()


def test_cached_file_is_returned_without_fetching(data_dir, mirrors, no_network):
    (data_dir / "sub").mkdir(parents=True)
    (data_dir / "sub" / "file.bin").write_bytes(CONTENT)
    path = download(["https://example.invalid/file.bin"], "sub/file.bin", SHA, progress=False)
    assert path.read_bytes() == CONTENT


def test_wrong_checksum_leaves_no_file_and_next_mirror_is_tried(data_dir, mirrors):
    path = download([mirrors["bad"], mirrors["missing"], mirrors["good"]], "file.bin", SHA,
                    progress=False)
    assert path.read_bytes() == CONTENT
    assert files_under(data_dir) == ["file.bin"]  # no temporary file left behind


def test_all_mirrors_bad_raises_and_leaves_nothing(data_dir, mirrors):
    with pytest.raises(DownloadError) as info:
        download([mirrors["bad"], mirrors["missing"]], "sub/file.bin", SHA, progress=False)
    message = str(info.value)
    assert mirrors["bad"] in message and "SHA-256 mismatch" in message
    assert mirrors["missing"] in message
    assert str(data_dir / "sub" / "file.bin") in message  # where to put the file by hand
    assert SHA in message
    assert [where for where, _ in info.value.attempts] == [mirrors["bad"], mirrors["missing"]]
    assert not data_dir.exists() or files_under(data_dir) == []


def test_offline_fails_at_once_without_network(data_dir, monkeypatch, no_network):
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    urls = ["https://a.example/file.bin", "http://b.example/file.bin"]
    with pytest.raises(DownloadError) as info:
        download(urls, "file.bin", SHA, progress=False)
    message = str(info.value)
    assert "BMCOURSE_OFFLINE" in message
    assert all(url in message for url in urls)
    assert str(data_dir / "file.bin") in message
    assert "BMCOURSE_DATA" in message


def test_offline_still_allows_file_urls(data_dir, mirrors, monkeypatch):
    monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    assert download(mirrors["good"], "file.bin", SHA, progress=False).read_bytes() == CONTENT


def test_corrupted_cached_file_is_replaced(data_dir, mirrors):
    data_dir.mkdir(parents=True)
    (data_dir / "file.bin").write_bytes(b"half a fi")
    path = download(mirrors["good"], "file.bin", SHA, progress=False)
    assert path.read_bytes() == CONTENT


def test_corrupted_cached_file_is_reported_when_nothing_else_works(data_dir, mirrors):
    data_dir.mkdir(parents=True)
    (data_dir / "file.bin").write_bytes(b"half a fi")
    with pytest.raises(DownloadError, match="a file is there but its SHA-256 is"):
        download(mirrors["bad"], "file.bin", SHA, progress=False)
    assert (data_dir / "file.bin").read_bytes() == b"half a fi"  # left for the user to inspect


def test_progress_bar_does_not_break_download(data_dir, mirrors):
    assert download(mirrors["good"], "file.bin", SHA, progress=True).read_bytes() == CONTENT


@pytest.mark.parametrize("filename", ["", "/abs/file.bin", "../escape.bin", "a/../../b"])
def test_rejects_filenames_outside_the_cache(data_dir, mirrors, filename):
    with pytest.raises(ValueError, match="relative path"):
        download(mirrors["good"], filename, SHA, progress=False)


def test_rejects_malformed_checksum(data_dir, mirrors):
    with pytest.raises(ValueError, match="64 hexadecimal"):
        download(mirrors["good"], "file.bin", "abc123", progress=False)


def test_orphans_of_a_killed_download_are_removed_on_the_next_attempt(data_dir, mirrors):
    # A writer that gets killed halfway, as by a kernel restart: it cannot clean up.
    data_dir.mkdir()
    code = textwrap.dedent(f"""
        import importlib.util, os, signal
        spec = importlib.util.spec_from_file_location("files", {files.__file__!r})
        files = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(files)
        with files.atomic_write({str(data_dir / "file.bin")!r}) as out:
            out.write(b"half a fi")
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == -signal.SIGKILL
    orphans = [p.name for p in data_dir.iterdir()]
    assert len(orphans) == 1 and re.fullmatch(r"\.file\.bin\..*\.part", orphans[0])
    assert f"-{os.getpid()}." not in orphans[0]
    download(mirrors["good"], "file.bin", SHA, progress=False)
    assert files_under(data_dir) == ["file.bin"]


def test_a_download_in_progress_elsewhere_keeps_its_temporary_file(data_dir, mirrors):
    data_dir.mkdir()
    # Kept: a live process on this machine (our parent), writers that cannot be probed (another
    # machine, an older bmcourse) seen recently, and another file's temporary file.
    alive = data_dir / f".file.bin.{files._host()}-{os.getppid()}.abcd_123.part"
    elsewhere = data_dir / ".file.bin.other-machine-1.abcdefgh.part"
    recent = data_dir / ".file.bin.q1w2e3r4.part"
    other_file = data_dir / ".other.bin.x-1.abcdefgh.part"
    # Removed: an unprobeable writer silent for longer than files.STALE_AFTER_S.
    silent = data_dir / ".file.bin.z9y8x7w6.part"
    for path in (alive, elsewhere, recent, other_file, silent):
        path.write_bytes(b"in progress")
    long_ago = os.path.getmtime(silent) - files.STALE_AFTER_S - 60
    os.utime(silent, (long_ago, long_ago))
    download(mirrors["good"], "file.bin", SHA, progress=False)
    assert all(p.exists() for p in (alive, elsewhere, recent, other_file))
    assert not silent.exists()


@pytest.mark.parametrize("where, err, problem", [
    ("mkstemp", OSError(errno.EROFS, "Read-only file system"), "the file system is read-only"),
    ("fsync", OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    ("mkstemp", PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
])
def test_disk_errors_are_reported_as_disk_errors(data_dir, mirrors, monkeypatch, where, err,
                                                 problem):
    def fail(*args, **kwargs):
        raise err

    monkeypatch.setattr(files.tempfile if where == "mkstemp" else files.os, where, fail)
    with pytest.raises(DiskError) as info:
        download([mirrors["good"], mirrors["good"]], "sub/file.bin", SHA, progress=False)
    message = str(info.value)
    assert message.startswith(f"Could not save 'sub/file.bin' in the data folder "
                              f"{data_dir / 'sub'}: {problem}")
    assert "not with the network" in message and "internet" not in message
    assert f"BMCOURSE_DATA={data_dir}" in message
    assert info.value.reason == "disk" and info.value.folder == data_dir / "sub"
    assert len(info.value.attempts) == 1  # the second mirror would fail the same way
    assert files_under(data_dir) == []


def test_unreachable_servers_mean_no_network(data_dir, monkeypatch):
    monkeypatch.delenv("BMCOURSE_OFFLINE")
    errors = iter([urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
                   urllib.error.URLError(OSError(101, "Network is unreachable"))])

    def unreachable(*args, **kwargs):
        raise next(errors)

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    with pytest.raises(DownloadError) as info:
        download(["https://a.example/f", "https://b.example/f"], "f", SHA, progress=False)
    assert info.value.reason == "no network"
    assert "No network: none of the servers could be reached." in str(info.value)
    assert "gaierror: [Errno -2] Name or service not known" in info.value.attempts[0][1]


def test_a_server_that_answers_is_not_no_network(data_dir, mirrors, monkeypatch):
    monkeypatch.delenv("BMCOURSE_OFFLINE")
    with pytest.raises(DownloadError) as info:
        download([mirrors["bad"]], "f", SHA, progress=False)
    assert info.value.reason == "failed"
