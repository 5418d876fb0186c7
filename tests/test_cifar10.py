import errno
import io
import pickle
import shutil
import socket
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from bmcourse import files
from bmcourse.data import DatasetUnavailableError, cifar10, data_sources, load_cifar10, sha256_of

PER_BATCH = 4
NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MEMBERS = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


class _Py2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle wrote the real batches: strings as Python 2 ``str``
    (SHORT_BINSTRING, read back as bytes with encoding="bytes"), protocol 2."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(raw)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj) -> bytes:
    out = io.BytesIO()
    _Py2Pickler(out, protocol=2).dump(obj)
    # The real files name numpy's array rebuilder by its numpy 1 module, as numpy 1 did.
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


class WritesMarker:
    """A planted pickle: loading it with pickle.load runs code that creates ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('code ran')",)


def make_archive(path, *, skip=(), seed=0, replace=None):
    """A small tar.gz laid out like cifar-10-python.tar.gz; ``replace`` maps member -> bytes."""
    rng = np.random.default_rng(seed)
    batches = {}
    replace = replace or {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in MEMBERS[:-1]:
            if name in skip:
                continue
            batch = {"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
                     "labels": rng.integers(0, 10, PER_BATCH).tolist(), "batch_label": name}
            batches[name] = batch
            add(f"cifar-10-batches-py/{name}", replace.get(name) or py2_pickle(batch))
        meta = {"label_names": NAMES, "num_vis": 3072}
        add("cifar-10-batches-py/batches.meta", replace.get("batches.meta") or py2_pickle(meta))
        add("cifar-10-batches-py/readme.html", b"<html></html>")
        add("../outside.txt", b"a crafted archive must not write here")
    return batches


def serve(monkeypatch, archive):
    """Serve ``archive`` via file:// URLs (after a dead mirror), trusting its checksum."""
    monkeypatch.delenv("BMCOURSE_OFFLINE")  # offline, load_cifar10 would not even try
    dead = archive.parent / "dead.tar.gz"
    monkeypatch.setattr(cifar10, "CIFAR10_URLS", (dead.as_uri(), archive.as_uri()))
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", sha256_of(archive))


@pytest.fixture
def server(tmp_path, monkeypatch):
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    batches = make_archive(archive)
    serve(monkeypatch, archive)
    return batches


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "code-ran.txt"


def test_loads_the_fixture_archive(data_dir, server, capsys):
    data = load_cifar10()
    assert "CIFAR-10 (20 train / 4 test)" in capsys.readouterr().out
    assert data.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.classes == tuple(NAMES)
    # Row layout: 1,024 red values, then green, then blue, each 32x32 row-major.
    first = server["data_batch_1"]["data"][0]
    assert data.x_train[0, 1, 2, 3].item() == pytest.approx(first[1024 + 2 * 32 + 3] / 255)
    last = server["data_batch_5"]["data"][-1]
    assert torch.allclose(data.x_train[-1], torch.from_numpy(last).float().view(3, 32, 32) / 255)
    assert data.y_test.tolist() == server["test_batch"]["labels"]
    assert not (data_dir.parent / "outside.txt").exists()
    # The archive and one .npz: no pickle, and nothing extracted under the archive's names.
    assert sorted(p.name for p in (data_dir / "cifar10").iterdir()) == [
        "cifar-10-python.tar.gz", "cifar10.npz"]


def test_second_load_uses_the_converted_cache(data_dir, server, monkeypatch):
    first = load_cifar10(verbose=False)
    (data_dir / "cifar10" / "cifar-10-python.tar.gz").unlink()  # the .npz is enough
    monkeypatch.setattr(cifar10, "download_file", None)  # any download attempt would fail
    assert data_sources()["cifar10"].startswith("CIFAR-10 (cached")
    again = load_cifar10(download=False, verbose=False)
    assert torch.equal(first.x_test, again.x_test) and again.classes == first.classes


def test_offline_and_not_cached_raises(data_dir, no_network):
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10()
    message = str(info.value)
    assert message.startswith("CIFAR-10 is not in the cache, and BMCOURSE_OFFLINE=1 forbids")
    assert "unset BMCOURSE_OFFLINE" in message
    assert str(data_dir / "cifar10" / "cifar-10-python.tar.gz") in message
    assert "BMCOURSE_DATA" in message
    assert "unavailable" in data_sources()["cifar10"]


def test_download_false_and_not_cached_raises(data_dir, server):
    with pytest.raises(DatasetUnavailableError, match="download=False") as info:
        load_cifar10(download=False)
    assert "call load_cifar10() (download=True)" in str(info.value)


@pytest.mark.parametrize("offline", [False, True], ids=["download=False", "BMCOURSE_OFFLINE=1"])
def test_damaged_archive_without_network_says_so_and_never_downloads(
        data_dir, monkeypatch, no_network, offline):
    archive = data_dir / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"the first bytes of an interrupted copy")
    monkeypatch.setattr(cifar10, "download_file", None)  # calling the downloader would fail
    if offline:
        monkeypatch.setenv("BMCOURSE_OFFLINE", "1")
    else:
        monkeypatch.delenv("BMCOURSE_OFFLINE")
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10(download=offline)
    message = str(info.value)
    assert message.startswith(f"The cached CIFAR-10 archive {archive} is damaged or incomplete")
    assert sha256_of(archive) in message and cifar10.CIFAR10_SHA256 in message
    assert f"delete {archive}" in message
    assert ("BMCOURSE_OFFLINE" if offline else "download=False") in message
    assert archive.read_bytes() == b"the first bytes of an interrupted copy"  # left to inspect


def test_no_network_message_is_whole_and_keeps_the_detail(data_dir, monkeypatch):
    monkeypatch.delenv("BMCOURSE_OFFLINE")

    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_dns)
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10(verbose=False)
    lines = str(info.value).splitlines()
    assert lines[0] == "CIFAR-10 is not in the cache and there is no network to download it."
    assert lines[1] == "What you can do:"
    assert "internet connection" in lines[2]
    assert any(str(data_dir / "cifar10" / "cifar-10-python.tar.gz") in line for line in lines)
    assert "gaierror" not in "\n".join(lines[:lines.index("What was tried:")])
    assert info.value.reason == "no network"
    assert "gaierror" in info.value.attempts[0][1]  # the technical detail, kept


def test_wrong_checksum_raises_and_leaves_nothing(data_dir, server, monkeypatch):
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", "0" * 64)
    with pytest.raises(DatasetUnavailableError, match="SHA-256 mismatch"):
        load_cifar10()
    assert not data_dir.exists() or [p for p in data_dir.rglob("*") if p.is_file()] == []


def test_archive_missing_a_batch_leaves_no_partial_file(data_dir, tmp_path, monkeypatch):
    archive = tmp_path / "broken.tar.gz"
    make_archive(archive, skip=("data_batch_3",))
    serve(monkeypatch, archive)
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar10()
    assert [p.name for p in (data_dir / "cifar10").iterdir()] == ["cifar-10-python.tar.gz"]


def test_pickles_planted_in_the_old_extracted_folder_are_never_loaded(data_dir, server, marker):
    legacy = data_dir / "cifar10" / "cifar-10-batches-py"  # what older versions unpickled
    legacy.mkdir(parents=True)
    for name in MEMBERS:
        (legacy / name).write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10(download=False)
    assert f"{legacy}, from an older bmcourse, is no longer read" in str(info.value)
    assert load_cifar10(verbose=False).classes == tuple(NAMES)  # from the verified archive
    assert not marker.exists()


def test_a_planted_pickle_inside_the_archive_runs_nothing(data_dir, tmp_path, monkeypatch,
                                                          marker):
    # Even an archive that passes the checksum (say, a wrong constant) cannot run code.
    archive = tmp_path / "evil.tar.gz"
    make_archive(archive, replace={"data_batch_2": pickle.dumps(WritesMarker(marker))})
    serve(monkeypatch, archive)
    with pytest.raises(ValueError) as info:
        load_cifar10()
    message = str(info.value)
    assert "cifar-10-batches-py/data_batch_2 asks to call builtins.exec" in message
    assert "nothing was executed" in message and "delete" in message
    assert not marker.exists()
    assert not (data_dir / "cifar10" / "cifar10.npz").exists()


def test_a_planted_cache_file_runs_nothing(data_dir, marker):
    converted = data_dir / "cifar10" / "cifar10.npz"
    converted.parent.mkdir(parents=True)
    converted.write_bytes(pickle.dumps(WritesMarker(marker)))  # a pickle posing as the .npz
    with pytest.raises(ValueError, match="not a valid CIFAR-10 cache file") as info:
        load_cifar10(download=False)
    assert f"{converted} is not a valid" in str(info.value) and "Delete it" in str(info.value)
    # An .npz whose array holds a pickled object is refused the same way.
    with open(converted, "wb") as out:
        np.savez(out, x_train=np.array([WritesMarker(marker)], dtype=object))
    with pytest.raises(ValueError, match="nothing in it was unpickled"):
        load_cifar10(download=False)
    assert not marker.exists()


@pytest.mark.parametrize("change, problem", [
    ({"y_train": np.full(20, 10)}, "y_train must be in 0-9"),
    ({"x_test": np.zeros((4, 32, 32, 3), np.uint8)}, r"x_test must be \(N, 3, 32, 32\) uint8"),
    ({"y_test": np.zeros(3, np.int64)}, r"y_test must be \(4,\) int64"),
    ({"classes": np.array(["a", "b"])}, "classes must be 10 names"),
])
def test_damaged_cache_file_is_reported(data_dir, server, change, problem):
    load_cifar10(verbose=False)
    converted = data_dir / "cifar10" / "cifar10.npz"
    with np.load(converted) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(change)
    with open(converted, "wb") as out:
        np.savez(out, **arrays)
    with pytest.raises(ValueError, match=problem) as info:
        load_cifar10(verbose=False)
    assert "Delete it" in str(info.value)


def test_a_full_disk_is_reported_as_a_disk_error(data_dir, server, tmp_path, monkeypatch):
    archive = data_dir / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "server" / "cifar-10-python.tar.gz", archive)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.tempfile, "mkstemp", disk_full)
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10()
    message = str(info.value)
    assert message.startswith("CIFAR-10 could not be saved in the cache.")
    assert f"in the data folder {archive.parent}: the disk is full" in message
    assert "BMCOURSE_DATA" in message and "internet" not in message
    assert info.value.reason == "disk"


def test_device_argument(data_dir, server):
    assert load_cifar10(device="cpu", verbose=False).device == torch.device("cpu")
