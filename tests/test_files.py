import os
import re
import subprocess
import sys

import pytest

from bmcourse import files
from bmcourse.files import atomic_write, remove_stale_parts


@pytest.fixture(scope="module")
def dead_pid():
    """The PID of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def orphan(folder, name, pid, age_s=0.0):
    path = folder / f".{name}.{files._host()}-{pid}.abcdefgh.part"
    path.write_bytes(b"half")
    if age_s:
        then = path.stat().st_mtime - age_s
        os.utime(path, (then, then))
    return path


def test_the_temporary_name_says_which_process_writes_it(tmp_path):
    with atomic_write(tmp_path / "out.bin") as handle:
        handle.write(b"x")
        (temporary,) = [p.name for p in tmp_path.iterdir()]
    assert re.fullmatch(rf"\.out\.bin\.{re.escape(files._host())}-{os.getpid()}\.[a-z0-9_]{{8}}"
                        r"\.part", temporary)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_the_next_write_removes_what_a_dead_writer_left(tmp_path, dead_pid):
    left = orphan(tmp_path, "out.bin", dead_pid)
    mine = orphan(tmp_path, "out.bin", os.getpid())  # this process: maybe another thread
    with atomic_write(tmp_path / "out.bin") as handle:
        handle.write(b"whole")
    assert not left.exists() and mine.exists()
    assert (tmp_path / "out.bin").read_bytes() == b"whole"


def test_without_a_pid_probe_only_long_silent_files_go(tmp_path, dead_pid, monkeypatch):
    monkeypatch.setattr(files.sys, "platform", "win32")  # where os.kill(pid, 0) would kill

    def must_not_kill(*args):
        raise AssertionError("os.kill must not be called on Windows")

    monkeypatch.setattr(files.os, "kill", must_not_kill)
    recent = orphan(tmp_path, "out.bin", dead_pid)
    silent = orphan(tmp_path, "out.bin", dead_pid + 1, age_s=files.STALE_AFTER_S + 60)
    assert remove_stale_parts(tmp_path / "out.bin") == [silent]
    assert recent.exists()


def test_remove_stale_parts_tolerates_a_missing_folder(tmp_path):
    assert remove_stale_parts(tmp_path / "nowhere" / "out.bin") == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    path = tmp_path / "shared.txt"
    with atomic_write(path, "w") as f:
        f.write("hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
