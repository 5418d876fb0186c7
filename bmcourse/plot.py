"""Pictures the chapters share: image grids, training curves, confusion matrices.

Every function draws with matplotlib and returns the ``Figure``, so a notebook shows it and a
script can save it.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_images", "plot_history", "plot_confusion"]


def _to_numpy_images(images) -> np.ndarray:
    """(N, C, H, W) or (N, H, W) tensor/array -> (N, H, W) or (N, H, W, 3) float array."""
    array = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, float)
    if array.ndim == 4:
        if array.shape[1] == 1:
            array = array[:, 0]
        elif array.shape[1] == 3:
            array = array.transpose(0, 2, 3, 1)
        else:
            raise ValueError(f"images have {array.shape[1]} channels; show_images draws 1 (grey) or 3 (RGB).")
    elif array.ndim != 3:
        raise ValueError(f"images must have shape (N, C, H, W) or (N, H, W); got {array.shape}.")
    return array


def show_images(images, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.3,
                vmin: float | None = 0.0, vmax: float | None = 1.0, suptitle: str | None = None):
    """Draw a grid of images.

    Parameters
    ----------
    images : tensor or array, shape (N, C, H, W) with C in {1, 3}, or (N, H, W)
        Pixel values in ``[vmin, vmax]`` (default ``[0, 1]``); pass ``vmin=vmax=None`` to
        let each image use its own range (filters, feature maps).
    titles : sequence of str, optional
        One short title per image (a label, a prediction with its probability).
    ncols : int
        Images per row.
    size : float
        Width and height of one image, in inches.
    """
    array = _to_numpy_images(images)
    n = len(array)
    if n == 0:
        raise ValueError("show_images got no images to draw.")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles; pass one title per image.")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    title_lines = max(str(t).count("\n") + 1 for t in titles) if titles is not None else 0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(ncols * size, nrows * size * (1 + 0.25 * title_lines)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(array[i], cmap=cmap if array[i].ndim == 2 else None, vmin=vmin, vmax=vmax)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, metrics=("loss", "acc"), title: str | None = None):
    """Training and validation curves, one panel per metric, against the epoch number.

    ``history`` is the :class:`bmcourse.train.History` returned by ``fit`` (or any dict with
    ``epoch`` and ``train_<metric>``/``val_<metric>`` lists). Panels with no finite values are
    left out.
    """
    panels = [m for m in metrics
              if any(np.isfinite(history.get(f"{split}_{m}", [np.nan])).any() for split in ("train", "val"))]
    if not panels:
        raise ValueError(f"history has no finite values for {metrics}; did training run?")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    labels = {"loss": "loss", "acc": "accuracy"}
    for ax, metric in zip(axes.flat, panels):
        for split, style in (("train", "-o"), ("val", "-s")):
            values = history.get(f"{split}_{metric}")
            if values is not None and np.isfinite(values).any():
                ax.plot(history["epoch"], values, style, label=split, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(labels.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix, classes=None, normalize: bool = False, title: str | None = None):
    """Draw a confusion matrix: row = true class, column = predicted class.

    Parameters
    ----------
    matrix : (K, K) tensor or array of counts
    classes : sequence of K names, optional
    normalize : bool
        Show each row as fractions of that true class instead of counts.
    """
    counts = matrix.cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix is square (K, K); got shape {counts.shape}.")
    k = counts.shape[0]
    classes = list(classes) if classes is not None else [str(i) for i in range(k)]
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    fig, ax = plt.subplots(figsize=(0.5 * k + 2, 0.5 * k + 1.5))
    image = ax.imshow(values, cmap="Blues")
    threshold = values.max() / 2
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if values[i, j] > threshold else "black")
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
