"""CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes (Krizhevsky, 2009).

The "python version" archive (163 MB) holds six pickled batches of 10,000 images each,
``data_batch_1`` ... ``data_batch_5`` for training and ``test_batch``, plus
``batches.meta`` with the class names. Each batch is a dict with ``b"data"``, a
``(10000, 3072)`` uint8 array (1,024 red, then green, then blue values, row-major), and
``b"labels"``, a list of 10,000 integers in 0-9.

A pickle can run any code when it is loaded, so the cache holds no pickle we read back.
:func:`load_cifar10` downloads the archive once and checks its SHA-256, reads the seven batch
files straight out of it through an unpickler that builds nothing but numpy arrays, lists,
dicts, numbers and strings (:mod:`bmcourse.data.safe_pickle`), and saves them once as
``cifar10.npz`` (written atomically), which later calls load with ``allow_pickle=False`` and
check. The ``cifar-10-batches-py`` folder that older versions extracted is never read.

Only the archive's own SHA-256 is published (the per-file checksums that torchvision lists
are MD5 and cover the same bytes), so each batch file is trusted because it comes out of the
verified archive, and is still read with the restricted unpickler in case that trust is
misplaced. There is no bundled fallback: without a cached copy and without the network,
:class:`DatasetUnavailableError` says how to get the data.
"""
from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..files import atomic_write, sha256_of
from .dataset import ImageDataset
from .download import (DatasetUnavailableError, DiskError, DownloadError, cache_dir,
                       is_offline)
from .download import download as download_file  # load_cifar10 has a `download` argument
from .safe_pickle import UnsafePickleError, safe_loads

__all__ = ["load_cifar10", "cifar10_source", "CIFAR10_CLASSES"]

CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
# SHA-256 of cifar-10-python.tar.gz (170,498,071 bytes) as used by Keras and torchvision's
# dataset definitions (MD5 c58f30108f718f92721af3b95e74349a on the CIFAR page).
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_FOLDER = "cifar-10-batches-py"  # folder inside the archive (and what older versions extracted)
_NPZ = "cifar10.npz"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test", "classes")


def load_cifar10(device=None, download: bool = True, verbose: bool = True) -> ImageDataset:
    """Load CIFAR-10, downloading and converting it into the cache the first time.

    Parameters
    ----------
    device : torch.device or str, optional
        Put the tensors there; default CPU. The full dataset is 737 MB as float32.
    download : bool
        Allow downloading the 163 MB archive when it is not cached. With ``False``, or with
        ``BMCOURSE_OFFLINE=1``, the network is never used.
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
        no network, wrong checksum, or a cache folder that cannot be written). The message
        says what went wrong and what to do; ``attempts`` keeps the technical detail.
    ValueError
        When a cached file is damaged or is not what it claims to be; the message names the
        file and says to delete it. Nothing in it is executed.
    """
    root = cache_dir() / "cifar10"
    converted = root / _NPZ
    if not converted.is_file():
        archive = _verified_archive(root, allow_network=download and not is_offline())
        try:
            _convert(archive, converted)
        except DiskError as err:
            raise DatasetUnavailableError(_unavailable(
                root, "CIFAR-10 could not be saved in the cache.", err), reason="disk") from err
    arrays = _load_converted(converted)
    dataset = ImageDataset(
        x_train=_to_tensor(arrays["x_train"]), y_train=torch.from_numpy(arrays["y_train"]),
        x_test=_to_tensor(arrays["x_test"]), y_test=torch.from_numpy(arrays["y_test"]),
        classes=tuple(str(name) for name in arrays["classes"]), name="CIFAR-10",
        source=f"CIFAR-10 ({len(arrays['y_train']):,} train / {len(arrays['y_test']):,} test)",
    )
    if device is not None:
        dataset = dataset.to(device)
    if verbose:
        print(f"CIFAR-10: {dataset.source}, cached in {root}")
    return dataset


def cifar10_source() -> str:
    """Say what ``load_cifar10()`` would use now, without touching the network."""
    root = cache_dir() / "cifar10"
    if (root / _NPZ).is_file() or (root / CIFAR10_ARCHIVE).is_file():
        return f"CIFAR-10 (cached in {root})"
    if is_offline():
        return "CIFAR-10 unavailable: offline and not cached"
    return f"CIFAR-10, downloaded (163 MB) to {root} on first use"


def _verified_archive(root: Path, allow_network: bool) -> Path:
    """The cached archive once its SHA-256 is right, downloading it only if allowed."""
    archive = root / CIFAR10_ARCHIVE
    if allow_network:
        try:
            return download_file(list(CIFAR10_URLS), f"cifar10/{CIFAR10_ARCHIVE}",
                                 CIFAR10_SHA256)
        except DownloadError as err:
            summary = {"no network": "CIFAR-10 is not in the cache and there is no network "
                                     "to download it.",
                       "disk": "CIFAR-10 could not be saved in the cache."
                       }.get(err.reason, "CIFAR-10 is not in the cache and could not be "
                                         "downloaded.")
            raise DatasetUnavailableError(_unavailable(root, summary, err), err.attempts,
                                          err.reason) from err

    # Local only: decide from what is on disk, and never call the downloader.
    why = ("BMCOURSE_OFFLINE=1 forbids the network" if is_offline()
           else "load_cifar10 was called with download=False")
    allow = ("unset BMCOURSE_OFFLINE (or set it to 0) and call load_cifar10()" if is_offline()
             else "call load_cifar10() (download=True)")
    if not archive.is_file():
        raise DatasetUnavailableError(_unavailable(
            root, f"CIFAR-10 is not in the cache, and {why}.",
            fixes=[f"{allow} to download it (163 MB, once);"]), reason="offline")
    try:
        found = sha256_of(archive)
    except OSError as err:
        disk = DiskError.from_oserror(err, root, f"read {CIFAR10_ARCHIVE}")
        raise DatasetUnavailableError(_unavailable(
            root, "The cached CIFAR-10 archive cannot be read.", disk), reason="disk") from err
    if found != CIFAR10_SHA256:
        raise DatasetUnavailableError(_unavailable(
            root, f"The cached CIFAR-10 archive {archive} is damaged or incomplete (its SHA-256 "
                  f"is {found}), and {why}.",
            fixes=[f"delete {archive}, then {allow} to download it again;"]), reason="offline")
    return archive


def _unavailable(root: Path, summary: str, err: DownloadError | None = None,
                 fixes=()) -> str:
    """A whole message: what is wrong, what the reader can do, then what was tried."""
    if isinstance(err, DiskError):
        lines = [summary, str(err)]  # names the folder, and how to choose another one
    else:
        lines = [summary, "What you can do:"]
        if err is not None:
            lines.append("  - check the internet connection (and any proxy) and run again;")
        lines += [f"  - {fix}" for fix in fixes]
        lines += [f"  - or download {CIFAR10_URLS[0]} yourself and put it at",
                  f"      {root / CIFAR10_ARCHIVE}",
                  f"    (SHA-256 {CIFAR10_SHA256});",
                  f"  - or set BMCOURSE_DATA to a folder that holds cifar10/{CIFAR10_ARCHIVE}.",
                  "Everything in the course that does not use CIFAR-10 works without it."]
    if (root / _FOLDER).is_dir():
        lines.append(f"Note: {root / _FOLDER}, from an older bmcourse, is no longer read "
                     "(pickled files can run code); you can delete it.")
    if err is not None and err.attempts:
        lines.append("What was tried:")
        lines += [f"  - {where}: {what}" for where, what in err.attempts]
    return "\n".join(lines)


def _convert(archive: Path, destination: Path) -> None:
    """Read the seven batch files out of the verified archive and save them as one .npz.

    Only the known members are read, into memory; nothing from the archive is written to
    disk under a name it chooses. The .npz appears only complete (atomic_write).
    """
    with tarfile.open(archive, "r:gz") as tar:
        def batch(name):
            return _read_batch(_load_member(tar, archive, name), f"{archive}: {name}")

        train = [batch(name) for name in _TRAIN_BATCHES]
        x_test, y_test = batch("test_batch")
        meta = _load_member(tar, archive, "batches.meta")
    names = _entry(meta, "label_names", f"{archive}: batches.meta")
    if not isinstance(names, list) or len(names) != 10:
        raise ValueError(f"{archive}: batches.meta must list 10 class names; delete the archive "
                         "so that it is downloaded again.")
    classes = np.array([n.decode("ascii") if isinstance(n, bytes) else str(n) for n in names])
    try:
        with atomic_write(destination) as out:
            np.savez(out, x_train=np.concatenate([x for x, _ in train]),
                     y_train=np.concatenate([y for _, y in train]),
                     x_test=x_test, y_test=y_test, classes=classes)
    except OSError as err:
        raise DiskError.from_oserror(err, destination.parent, f"save {_NPZ}") from err


def _load_member(tar: tarfile.TarFile, archive: Path, name: str):
    try:
        member = tar.getmember(f"{_FOLDER}/{name}")
    except KeyError:
        raise ValueError(f"{archive} has no {_FOLDER}/{name}; delete it so that it is "
                         "downloaded again.") from None
    if not member.isfile():
        raise ValueError(f"{archive}: {member.name} is not a regular file; delete the archive "
                         "so that it is downloaded again.")
    with tar.extractfile(member) as handle:
        data = handle.read()
    try:
        # The batches were pickled by Python 2: encoding="bytes" keeps their keys as bytes.
        return safe_loads(data, encoding="bytes")
    except UnsafePickleError as err:
        problem = str(err)
    except Exception as err:  # a damaged pickle fails in many ways
        problem = f"is not a readable pickle ({type(err).__name__}: {err})"
    raise ValueError(f"{archive}: {member.name} {problem}. This is not the published CIFAR-10 "
                     f"archive: delete {archive} and download it again.")


def _entry(batch, key: str, where: str):
    if isinstance(batch, dict):
        for candidate in (key.encode(), key):
            if candidate in batch:
                return batch[candidate]
    raise ValueError(f"{where} has no {key!r} entry; delete the archive so that it is "
                     "downloaded again.")


def _read_batch(batch, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one unpickled batch."""
    data = _entry(batch, "data", where)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise ValueError(f"{where}: 'data' must be a uint8 array, got {type(data).__name__}.")
    labels = np.asarray(_entry(batch, "labels", where), dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise ValueError(f"{where}: expected data (N, 3072) and N labels, got data "
                         f"{data.shape} and labels {labels.shape}.")
    _check_labels(labels, where)
    return data.reshape(-1, 3, 32, 32), labels


def _check_labels(labels: np.ndarray, where: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels must be in 0-9, found {labels.min()}..{labels.max()}.")


def _load_converted(path: Path) -> dict:
    """The arrays of ``cifar10.npz``, loaded without pickle and checked."""
    def bad(problem):
        return ValueError(f"{path} is not a valid CIFAR-10 cache file: {problem}. Delete it; "
                          "load_cifar10() then rebuilds it from the archive.")

    try:
        # allow_pickle=False: a file holding pickled data is refused before anything runs.
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
        with loaded as npz:
            missing = sorted(set(_NPZ_KEYS) - set(npz.files))
            arrays = {key: npz[key] for key in _NPZ_KEYS if key not in missing}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise bad(f"it is not an archive of plain arrays, or it is damaged ({err}); nothing "
                  "in it was unpickled") from err
    if missing:
        raise bad(f"it lacks {missing}")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
            raise bad(f"x_{split} must be (N, 3, 32, 32) uint8, got {x.shape} {x.dtype}")
        if y.dtype != np.int64 or y.shape != (len(x),):
            raise bad(f"y_{split} must be ({len(x)},) int64, got {y.shape} {y.dtype}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise bad(f"y_{split} must be in 0-9, found {y.min()}..{y.max()}")
    if arrays["classes"].dtype.kind != "U" or arrays["classes"].shape != (10,):
        raise bad(f"classes must be 10 names, got {arrays['classes'].shape} "
                  f"{arrays['classes'].dtype}")
    return arrays


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 3, 32, 32)`` -> float32 in [0, 1]."""
    return torch.from_numpy(images).float().div_(255.0)
