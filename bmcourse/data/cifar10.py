"""CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes (Krizhevsky, 2009).

The "python version" archive (163 MB) holds six pickled batches of 10,000 images each,
``data_batch_1`` ... ``data_batch_5`` for training and ``test_batch``, plus
``batches.meta`` with the class names. Each batch is a dict with ``b"data"``, a
``(10000, 3072)`` uint8 array (1,024 red, then green, then blue values, row-major), and
``b"labels"``, a list of 10,000 integers in 0-9.

:func:`load_cifar10` downloads the archive once (SHA-256 checked), extracts just those seven
files into the cache, and returns tensors. There is no bundled fallback: offline and without
a cached copy it raises :class:`DatasetUnavailableError` saying how to get the data.
"""
from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .download import DatasetUnavailableError, DownloadError, cache_dir, is_offline
from .download import download as download_file  # load_cifar10 has a `download` argument

__all__ = ["load_cifar10", "cifar10_source", "CIFAR10_CLASSES"]

CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
# SHA-256 of cifar-10-python.tar.gz as published by torchvision's dataset definitions
# (MD5 c58f30108f718f92721af3b95e74349a on the CIFAR page).
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_MEMBERS = _TRAIN_BATCHES + ("test_batch", "batches.meta")
_FOLDER = "cifar-10-batches-py"  # folder inside the archive, and inside our cache


def load_cifar10(device=None, download: bool = True, verbose: bool = True) -> ImageDataset:
    """Load CIFAR-10, downloading and extracting it into the cache the first time.

    Parameters
    ----------
    device : torch.device or str, optional
        Put the tensors there; default CPU. The full dataset is 737 MB as float32.
    download : bool
        Allow downloading the 163 MB archive when it is not cached.
    verbose : bool
        Print one line saying where the data came from.

    Returns
    -------
    ImageDataset
        ``x_train`` ``(50000, 3, 32, 32)`` float32 in ``[0, 1]``, ``y_train`` ``(50000,)``
        int64; ``x_test`` ``(10000, 3, 32, 32)``, ``y_test`` ``(10000,)``; class names in
        ``classes``.

    Raises
    ------
    DatasetUnavailableError
        When the data is not cached and cannot be downloaded (offline, ``download=False``,
        mirrors unreachable or wrong checksum). The message says what to do.
    """
    root = cache_dir() / "cifar10"
    extracted = root / _FOLDER
    if not extracted.is_dir():
        archive = root / CIFAR10_ARCHIVE
        if not download and not archive.is_file():
            raise DatasetUnavailableError(
                f"CIFAR-10 is not cached in {root} and download=False. Call "
                f"load_cifar10(download=True), or put {CIFAR10_ARCHIVE} "
                f"(SHA-256 {CIFAR10_SHA256}) at {archive}."
            )
        try:
            archive = download_file(list(CIFAR10_URLS), f"cifar10/{CIFAR10_ARCHIVE}",
                                    CIFAR10_SHA256)
        except DownloadError as err:
            raise DatasetUnavailableError(f"CIFAR-10 is not available.\n{err}") from err
        _extract(archive, extracted)

    batches = {name: _read_batch(extracted / name) for name in _MEMBERS[:-1]}
    meta = _unpickle(extracted / "batches.meta")
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n)
                    for n in _key(meta, "label_names", extracted / "batches.meta"))
    # Join the uint8 batches before converting: one float32 copy instead of two.
    x_train = _to_tensor(np.concatenate([batches[name][0] for name in _TRAIN_BATCHES]))
    y_train = torch.from_numpy(np.concatenate([batches[name][1] for name in _TRAIN_BATCHES]))
    x_test = _to_tensor(batches["test_batch"][0])
    y_test = torch.from_numpy(batches["test_batch"][1])
    dataset = ImageDataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=classes,
        name="CIFAR-10", source=f"CIFAR-10 ({len(y_train):,} train / {len(y_test):,} test)",
    )
    if device is not None:
        dataset = dataset.to(device)
    if verbose:
        print(f"CIFAR-10: {dataset.source}, cached in {root}")
    return dataset


def cifar10_source() -> str:
    """Say what ``load_cifar10()`` would use now, without touching the network."""
    root = cache_dir() / "cifar10"
    if (root / _FOLDER).is_dir() or (root / CIFAR10_ARCHIVE).is_file():
        return f"CIFAR-10 (cached in {root})"
    if is_offline():
        return "CIFAR-10 unavailable: offline and not cached"
    return f"CIFAR-10, downloaded (163 MB) to {root} on first use"


def _extract(archive: Path, destination: Path) -> None:
    """Copy the seven batch files out of the archive into ``destination``, atomically.

    Only the known members are read, and each is written under a name chosen here, so a
    crafted archive cannot write outside the cache (no ``extractall``). The files go to a
    temporary folder that is renamed at the end: ``destination`` exists only when complete.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for name in _MEMBERS:
                try:
                    member = tar.getmember(f"{_FOLDER}/{name}")
                except KeyError:
                    raise ValueError(f"{archive} has no {_FOLDER}/{name}; delete it so that "
                                     "it is downloaded again.") from None
                if not member.isfile():
                    raise ValueError(f"{archive}: {member.name} is not a regular file.")
                with tar.extractfile(member) as src, open(tmp / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        os.replace(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unpickle(path: Path) -> dict:
    # pickle can run code, but these files come from an archive whose SHA-256 was checked.
    # The batches were pickled by Python 2: encoding="bytes" keeps their keys as bytes.
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="bytes")


def _key(batch: dict, key: str, path: Path):
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise ValueError(f"{path} has no {key!r} entry; delete the folder {path.parent} so that "
                     "it is extracted again.")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one batch file."""
    batch = _unpickle(path)
    data = np.asarray(_key(batch, "data", path), dtype=np.uint8)
    labels = np.asarray(_key(batch, "labels", path), dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"{path}: expected data (N, 3072) and N labels, got data "
                         f"{data.shape} and {len(labels)} labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: labels must be in 0-9, found {labels.min()}..{labels.max()}.")
    return data.reshape(-1, 3, 32, 32), labels


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 3, 32, 32)`` -> float32 in [0, 1]."""
    return torch.from_numpy(images).float().div_(255.0)
