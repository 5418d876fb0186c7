"""Datasets for the course, offline first.

Every loader works without a network: MNIST falls back to a bundled sample of 5,000 real
images, the text corpus is bundled, and downloads (full MNIST, CIFAR-10) are cached,
checksummed and explained when they fail. ``data_sources()`` says what each loader would use.

>>> from bmcourse.data import load_mnist
>>> data = load_mnist()                      # doctest: +SKIP
MNIST: full MNIST (60,000 train / 10,000 test)
"""
from .cifar10 import CIFAR10_CLASSES, cifar10_source, load_cifar10
from .dataset import ImageDataset
from .download import (DatasetUnavailableError, DiskError, DownloadError, cache_dir, download,
                       is_offline, sha256_of)
from .idx import read_idx, write_idx
from .mnist import MNIST_CLASSES, MNIST_MEAN, MNIST_STD, load_mnist, mnist_source
from .text import load_text, text_source

__all__ = [
    "cache_dir", "download", "DownloadError", "DatasetUnavailableError", "DiskError", "is_offline",
    "sha256_of", "read_idx", "write_idx", "ImageDataset", "load_mnist", "load_cifar10",
    "load_text", "data_sources", "MNIST_MEAN", "MNIST_STD", "MNIST_CLASSES", "CIFAR10_CLASSES",
]


def data_sources() -> dict:
    """Say, for each dataset, what its loader would use right now. Never touches the network.

    Returns
    -------
    dict of str to str
        ``{"mnist": ..., "cifar10": ..., "text": ...}``, human-readable.
    """
    return {"mnist": mnist_source(), "cifar10": cifar10_source(), "text": text_source()}
