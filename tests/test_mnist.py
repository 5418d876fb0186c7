import errno
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

import bmcourse.files

from bmcourse.data import (MNIST_MEAN, DatasetUnavailableError, ImageDataset, data_sources,
                           load_mnist, mnist, sha256_of, write_idx)


@pytest.fixture(scope="module")
def sample():
    return load_mnist(source="sample", verbose=False)


def make_full_mnist(folder, n_train=30, n_test=10, seed=0):
    """Write four small IDX files named like full MNIST; return their arrays and hashes."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    files = {}
    for key, (name, _) in mnist.FULL_FILES.items():
        path = write_idx(folder / name, arrays[key])
        files[key] = (name, sha256_of(path))
    return arrays, files


def test_offline_with_empty_cache_falls_back_to_the_sample(data_dir, capsys, no_network):
    data = load_mnist()
    out = capsys.readouterr().out
    assert "bundled MNIST sample" in out and "offline" in out
    assert len(out.strip().splitlines()) == 1
    assert data.source.startswith("bundled MNIST sample")
    assert (len(data.x_train), len(data.x_test)) == (4000, 1000)


def test_sample_never_touches_the_network(data_dir, monkeypatch, no_network):
    monkeypatch.delenv("BMCOURSE_OFFLINE")
    assert len(load_mnist(source="sample", verbose=False).y_train) == 4000


def test_auto_falls_back_when_downloads_fail(data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("BMCOURSE_OFFLINE")
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "empty").as_uri() + "/",))
    data = load_mnist()
    assert data.source.startswith("bundled MNIST sample")
    assert "download failed" in capsys.readouterr().out


def test_no_network_is_said_in_plain_words(data_dir, monkeypatch, capsys):
    monkeypatch.delenv("BMCOURSE_OFFLINE")

    def no_dns(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", no_dns)
    load_mnist()
    out = capsys.readouterr().out
    assert out == "MNIST: no network: using the bundled MNIST sample (4,000 train / 1,000 test)\n"
    with pytest.raises(DatasetUnavailableError) as info:  # the detail is still there
        load_mnist(source="full", verbose=False)
    assert "gaierror: [Errno -2] Name or service not known" in str(info.value)
    assert info.value.reason == "no network" and info.value.attempts


def test_a_read_only_cache_is_blamed_on_the_disk(data_dir, monkeypatch, tmp_path, capsys):
    _, files = make_full_mnist(tmp_path / "server")
    monkeypatch.setattr(mnist, "FULL_FILES", files)
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "server").as_uri() + "/",))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(bmcourse.files.tempfile, "mkstemp", read_only)
    assert load_mnist().source.startswith("bundled MNIST sample")
    out = capsys.readouterr().out
    assert out.startswith(f"MNIST: cannot save full MNIST in {data_dir / 'mnist'} (the file "
                          "system is read-only): using the bundled MNIST sample")
    with pytest.raises(DatasetUnavailableError, match="BMCOURSE_DATA") as info:
        load_mnist(source="full", verbose=False)
    assert "internet" not in str(info.value)


def test_full_offline_raises_a_useful_error(data_dir, no_network):
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(source="full")
    message = str(info.value)
    assert "BMCOURSE_OFFLINE" in message
    assert str(data_dir / "mnist" / "train-images-idx3-ubyte.gz") in message
    assert all(name in message for name, _ in mnist.FULL_FILES.values())
    assert "source='sample'" in message


def test_cached_full_mnist_is_preferred_over_the_sample(data_dir, monkeypatch, capsys,
                                                        no_network):
    arrays, files = make_full_mnist(data_dir / "mnist")
    monkeypatch.setattr(mnist, "FULL_FILES", files)
    assert data_sources()["mnist"].startswith("full MNIST (cached")
    data = load_mnist()
    assert data.source == "full MNIST (30 train / 10 test)"
    assert "full MNIST" in capsys.readouterr().out
    expected = torch.from_numpy(arrays["train_images"]).float().unsqueeze(1) / 255
    assert torch.allclose(data.x_train, expected)
    assert data.y_test.tolist() == arrays["test_labels"].tolist()
    assert load_mnist(source="full", verbose=False).source == data.source


def test_full_mnist_is_downloaded_from_a_mirror(data_dir, monkeypatch, tmp_path):
    _, files = make_full_mnist(tmp_path / "server")
    monkeypatch.setattr(mnist, "FULL_FILES", files)
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "down").as_uri() + "/",
                                           (tmp_path / "server").as_uri() + "/"))
    data = load_mnist(source="full", verbose=False)
    assert len(data.y_train) == 30
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(
        name for name, _ in files.values())


def test_inconsistent_full_files_raise(data_dir, monkeypatch):
    arrays, files = make_full_mnist(data_dir / "mnist")
    path = write_idx(data_dir / "mnist" / files["train_labels"][0], arrays["train_labels"][:-1])
    files["train_labels"] = (path.name, sha256_of(path))
    monkeypatch.setattr(mnist, "FULL_FILES", files)
    with pytest.raises(ValueError, match="30 images but labels of shape"):
        load_mnist(verbose=False)


def test_bad_source_is_rejected():
    with pytest.raises(ValueError, match="'auto', 'full', 'sample'"):
        load_mnist(source="everything")


def test_sample_sizes_balance_and_pixels(sample):
    assert isinstance(sample, ImageDataset) and sample.name == "MNIST"
    assert sample.x_train.shape == (4000, 1, 28, 28) and sample.x_test.shape == (1000, 1, 28, 28)
    assert sample.x_train.dtype == torch.float32 and sample.y_train.dtype == torch.int64
    assert torch.bincount(sample.y_train).tolist() == [400] * 10
    assert torch.bincount(sample.y_test).tolist() == [100] * 10
    assert sample.classes == tuple("0123456789")
    for x in (sample.x_train, sample.x_test):
        assert x.min() == 0 and x.max() == 1
        assert torch.equal(torch.round(x * 255) / 255, x)  # whole grey levels
    # Real digits: mostly black background, mean close to full MNIST's.
    assert abs(sample.x_train.mean().item() - MNIST_MEAN) < 0.01
    assert (sample.x_train == 0).float().mean() > 0.7


def test_sample_train_and_test_do_not_overlap(sample):
    def rows(x):
        return {bytes(r) for r in (x * 255).round().to(torch.uint8).reshape(len(x), -1).numpy()}

    assert rows(sample.x_train).isdisjoint(rows(sample.x_test))


def test_to_device_and_repr(sample):
    moved = load_mnist(source="sample", device="cpu", verbose=False)
    assert moved.device == torch.device("cpu")
    copy = sample.to("cpu")
    assert copy is not sample and torch.equal(copy.y_test, sample.y_test)
    text = repr(sample)
    assert "4,000 train" in text and "1,000 test" in text and "bundled MNIST sample" in text


def test_damaged_bundled_sample_is_reported(monkeypatch, tmp_path):
    for name, _ in mnist.SAMPLE_FILES.values():
        (tmp_path / name).write_bytes((mnist.BUNDLED / name).read_bytes()[:-10])
    monkeypatch.setattr(mnist, "BUNDLED", tmp_path)
    with pytest.raises(DatasetUnavailableError, match="missing or damaged"):
        load_mnist(source="sample", verbose=False)


def test_image_dataset_checks_shapes():
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match="y_test must have shape"):
        ImageDataset(x, y, x, y[:3], classes=("a",), source="test", name="t")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(x[:, 0], y, x, y, classes=("a",), source="test", name="t")
