"""MNIST handwritten digits: the full dataset when it can be had, else a bundled real sample.

Full MNIST (LeCun, Cortes and Burges; 60,000 training and 10,000 test images of 28x28 grey
pixels) is about 11 MB to download. The package also ships 5,000 real MNIST images (4,000
train / 1,000 test, 400 / 100 per digit, made by ``scripts/make_mnist_sample.py``), so that
every chapter runs offline. :func:`load_mnist` uses the full dataset when it is cached or
downloadable, otherwise the sample, and prints one line saying which, in plain words ("no
network: using the bundled MNIST sample"). The technical detail of a failed download goes to
the ``bmcourse.data.mnist`` logger, and ``load_mnist(source="full")`` raises it in full.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .dataset import ImageDataset
from .download import (DatasetUnavailableError, DiskError, DownloadError, cache_dir, download,
                       is_offline, sha256_of)
from .idx import read_idx

__all__ = ["load_mnist", "mnist_source", "MNIST_MEAN", "MNIST_STD", "MNIST_CLASSES"]

# Mean and standard deviation of the pixels (scaled to [0, 1]) of the full training set:
# the usual constants for normalising MNIST inputs.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

# Mirrors of the original files, tried in order (yann.lecun.com itself often refuses).
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# SHA-256 of the original files, as listed by TensorFlow Datasets
# (tensorflow_datasets/url_checksums/mnist.txt) and by torchvision-based projects.
FULL_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
# The bundled sample, written by scripts/make_mnist_sample.py (which prints these hashes).
BUNDLED = Path(__file__).resolve().parent / "bundled"
SAMPLE_FILES = {
    "train_images": ("mnist-sample-train-images-idx3-ubyte.gz",
                     "dad0a3168b56c349b8cd041a6d21040cea354396d1b0c1f0f482f0484b2dd093"),
    "train_labels": ("mnist-sample-train-labels-idx1-ubyte.gz",
                     "585e8c6a4b92dd60f3c6e492c7cbc347933bb145531928aa168ed063f9314a00"),
    "test_images": ("mnist-sample-t10k-images-idx3-ubyte.gz",
                    "5399b0d9de8753890b73cdb7ac06d25b9c9a65e519f4bb7f85c8601896cab331"),
    "test_labels": ("mnist-sample-t10k-labels-idx1-ubyte.gz",
                    "9da7761398938d704575fa57212a4d2bcb74535b96ca9d6a30efc9fbf40318a2"),
}
_SOURCES = ("auto", "full", "sample")
_log = logging.getLogger(__name__)


def load_mnist(source: str = "auto", device=None, verbose: bool = True) -> ImageDataset:
    """Load MNIST as tensors, from the full dataset if possible, else the bundled sample.

    Parameters
    ----------
    source : {"auto", "full", "sample"}
        ``"auto"``: full MNIST when cached or downloadable, otherwise the bundled sample.
        ``"full"``: full MNIST or an error. ``"sample"``: the bundled sample, never the network.
    device : torch.device or str, optional
        Put the tensors there (e.g. ``bmcourse.get_device()``); default CPU.
    verbose : bool
        Print one line saying which data is used (and why, in plain words, when falling back).

    Returns
    -------
    ImageDataset
        ``x_train`` ``(N, 1, 28, 28)`` float32 in ``[0, 1]``, ``y_train`` ``(N,)`` int64 digits,
        the same for test; N = 60,000 / 10,000 for full MNIST, 4,000 / 1,000 for the sample.
        ``source`` says which was used.

    Raises
    ------
    DatasetUnavailableError
        ``source="full"`` when full MNIST is neither cached nor downloadable; the message
        lists what was tried and where to put the files by hand.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}.")
    reason = ""
    dataset = None
    if source in ("auto", "full"):
        try:
            dataset = _load_full()
        except DownloadError as err:
            if source == "full":
                folder = cache_dir() / "mnist"
                needed = "\n".join(f"  {name}  SHA-256 {sha}" for name, sha in FULL_FILES.values())
                raise DatasetUnavailableError(
                    f"Full MNIST is not available.\n{err}\n"
                    f"Full MNIST consists of these four files in {folder} (from {MIRRORS[0]}):\n"
                    f"{needed}\n"
                    "Or call load_mnist(source='sample') for the bundled 5,000-image sample.",
                    err.attempts, err.reason,
                ) from err
            reason = _why_not_full(err)
            _log.info("Full MNIST is not used: %s\n%s", reason, err)
    if dataset is None:
        dataset = _load_sample()
    if device is not None:
        dataset = dataset.to(device)
    if verbose:
        print(f"MNIST: {reason}: using the {dataset.source}" if reason else
              f"MNIST: {dataset.source}")
    return dataset


def mnist_source() -> str:
    """Say which MNIST data ``load_mnist()`` would use now, without touching the network."""
    folder = cache_dir() / "mnist"
    if all(_cached(folder / name, sha) for name, sha in FULL_FILES.values()):
        return f"full MNIST (cached in {folder})"
    if is_offline():
        return "bundled sample, 4,000 train / 1,000 test (offline)"
    return (f"full MNIST, downloaded (11 MB) to {folder} on first use; "
            "the bundled sample if that fails")


def _why_not_full(err: DownloadError) -> str:
    """One plain phrase for the one-line message; the detail stays in ``err``."""
    if err.reason == "offline":
        return "offline (BMCOURSE_OFFLINE=1)"
    if err.reason == "no network":
        return "no network"
    if isinstance(err, DiskError):
        return f"cannot save full MNIST in {err.folder} ({err.problem})"
    return "full MNIST download failed (load_mnist(source='full') says why)"


def _cached(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def _load_full() -> ImageDataset:
    """Full MNIST from the cache, downloading missing files; raises DownloadError."""
    paths = {}
    for key, (name, sha256) in FULL_FILES.items():
        # Stops at the first file that cannot be had: no point trying the other three.
        paths[key] = download([mirror + name for mirror in MIRRORS], f"mnist/{name}", sha256)
    return _from_idx(paths, "MNIST", "full MNIST ({train:,} train / {test:,} test)")


def _load_sample() -> ImageDataset:
    paths = {}
    for key, (name, sha256) in SAMPLE_FILES.items():
        path = BUNDLED / name
        if not _cached(path, sha256):
            raise DatasetUnavailableError(
                f"The bundled MNIST sample {path} is missing or damaged. Reinstall bmcourse, "
                "or rebuild it with scripts/make_mnist_sample.py."
            )
        paths[key] = path
    return _from_idx(paths, "MNIST", "bundled MNIST sample ({train:,} train / {test:,} test)")


def _from_idx(paths: dict, name: str, source: str) -> ImageDataset:
    """Read the four IDX files, check they fit together, and convert to tensors."""
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        where = f"{paths[f'{split}_images']} and {paths[f'{split}_labels']}"
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f"{paths[f'{split}_images']}: expected (N, 28, 28) uint8 images, "
                             f"got {images.shape} {images.dtype}.")
        if labels.shape != (len(images),):
            raise ValueError(f"{where} do not match: {len(images)} images but labels of "
                             f"shape {labels.shape}.")
        if labels.size and labels.max() > 9:
            raise ValueError(f"{paths[f'{split}_labels']}: labels must be digits 0-9, found "
                             f"{int(labels.max())}.")
    x = {split: torch.from_numpy(arrays[f"{split}_images"]).unsqueeze(1).float().div_(255.0)
         for split in ("train", "test")}
    y = {split: torch.from_numpy(arrays[f"{split}_labels"].astype(np.int64))
         for split in ("train", "test")}
    return ImageDataset(
        x_train=x["train"], y_train=y["train"], x_test=x["test"], y_test=y["test"],
        classes=MNIST_CLASSES, name=name,
        source=source.format(train=len(y["train"]), test=len(y["test"])),
    )
