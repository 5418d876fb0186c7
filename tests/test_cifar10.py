import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from bmcourse.data import DatasetUnavailableError, cifar10, data_sources, load_cifar10, sha256_of

PER_BATCH = 4
NAMES = [b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship",
         b"truck"]


def make_archive(path, *, skip=(), seed=0):
    """A small tar.gz laid out like cifar-10-python.tar.gz (Python-2 style bytes keys)."""
    rng = np.random.default_rng(seed)
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name, obj):
            data = obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            if name in skip:
                continue
            batch = {b"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8),
                     b"labels": rng.integers(0, 10, PER_BATCH).tolist(),
                     b"batch_label": name.encode()}
            batches[name] = batch
            add(f"cifar-10-batches-py/{name}", batch)
        add("cifar-10-batches-py/batches.meta", {b"label_names": NAMES, b"num_vis": 3072})
        add("cifar-10-batches-py/readme.html", b"<html></html>")
        add("../outside.txt", b"a crafted archive must not write here")
    return batches


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve a fixture archive via file:// URLs (after a dead mirror) with its own checksum."""
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    batches = make_archive(archive)
    monkeypatch.setattr(cifar10, "CIFAR10_URLS", ((tmp_path / "dead.tar.gz").as_uri(),
                                                  archive.as_uri()))
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", sha256_of(archive))
    return batches


def test_loads_the_fixture_archive(data_dir, server, capsys):
    data = load_cifar10()
    assert "CIFAR-10 (20 train / 4 test)" in capsys.readouterr().out
    assert data.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.classes == tuple(n.decode() for n in NAMES)
    # Row layout: 1,024 red values, then green, then blue, each 32x32 row-major.
    first = server["data_batch_1"][b"data"][0]
    assert data.x_train[0, 1, 2, 3].item() == pytest.approx(first[1024 + 2 * 32 + 3] / 255)
    last = server["data_batch_5"][b"data"][-1]
    assert torch.allclose(data.x_train[-1], torch.from_numpy(last).float().view(3, 32, 32) / 255)
    assert data.y_test.tolist() == server["test_batch"][b"labels"]
    assert not (data_dir.parent / "outside.txt").exists()
    assert sorted(p.name for p in (data_dir / "cifar10" / "cifar-10-batches-py").iterdir()) == [
        "batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
        "data_batch_5", "test_batch"]


def test_second_load_uses_the_extracted_cache(data_dir, server, monkeypatch):
    first = load_cifar10(verbose=False)
    monkeypatch.setattr(cifar10, "CIFAR10_URLS", ("https://example.invalid/gone.tar.gz",))
    monkeypatch.setattr(cifar10, "download_file", None)  # any download attempt would fail
    assert data_sources()["cifar10"].startswith("CIFAR-10 (cached")
    again = load_cifar10(download=False, verbose=False)
    assert torch.equal(first.x_test, again.x_test)


def test_offline_and_not_cached_raises(data_dir, no_network):
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10()
    message = str(info.value)
    assert "BMCOURSE_OFFLINE" in message
    assert str(data_dir / "cifar10" / "cifar-10-python.tar.gz") in message
    assert "unavailable" in data_sources()["cifar10"]


def test_download_false_and_not_cached_raises(data_dir, server):
    with pytest.raises(DatasetUnavailableError, match="download=False"):
        load_cifar10(download=False)


def test_wrong_checksum_raises_and_leaves_nothing(data_dir, server, monkeypatch):
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", "0" * 64)
    with pytest.raises(DatasetUnavailableError, match="SHA-256 mismatch"):
        load_cifar10()
    assert not data_dir.exists() or [p for p in data_dir.rglob("*") if p.is_file()] == []


def test_archive_missing_a_batch_leaves_no_partial_folder(data_dir, tmp_path, monkeypatch):
    archive = tmp_path / "broken.tar.gz"
    make_archive(archive, skip=("data_batch_3",))
    monkeypatch.setattr(cifar10, "CIFAR10_URLS", (archive.as_uri(),))
    monkeypatch.setattr(cifar10, "CIFAR10_SHA256", sha256_of(archive))
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar10()
    assert [p.name for p in (data_dir / "cifar10").iterdir()] == ["cifar-10-python.tar.gz"]


def test_device_argument(data_dir, server):
    assert load_cifar10(device="cpu", verbose=False).device == torch.device("cpu")
