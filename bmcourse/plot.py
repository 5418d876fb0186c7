"""Pictures the chapters share: image grids, training curves, confusion matrices.

Every function draws with matplotlib and returns the ``Figure``, so a notebook shows it and a
script can save it.
"""
from __future__ import annotations

import math
import numbers

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["show_images", "plot_history", "plot_confusion"]


_CHANNELS = (1, 3)  # grey or RGB: what imshow draws


def _to_numpy_images(images) -> tuple[np.ndarray, bool]:
    """Images in any layout show_images accepts -> (N, H, W) or (N, H, W, 3) float array.

    uint8 pixels (0..255) are scaled to [0, 1], the range the other inputs use; the flag
    returned with the array says whether that happened.
    """
    is_tensor = isinstance(images, torch.Tensor)
    if is_tensor:
        pixels = images.detach().cpu()
        # float() also covers dtypes NumPy lacks (bfloat16); uint8 stays so it is scaled below.
        array = (pixels if pixels.dtype == torch.uint8 else pixels.float()).numpy()
    else:
        try:
            array = np.asarray(images)
        except ValueError as err:  # e.g. a ragged list of images of different sizes
            raise ValueError(f"images must be one array of equally sized images: {err}") from None
    scaled = array.dtype == np.uint8
    if scaled:
        array = array / 255.0
    elif array.dtype == bool or np.issubdtype(array.dtype, np.number):
        array = array.astype(float)
    else:
        raise TypeError(f"images must hold numbers (a tensor or array of pixels), got dtype "
                        f"{array.dtype} from {type(images).__name__}.")
    if array.ndim == 3:
        return array, scaled
    if array.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), (N, H, W, C) or (N, H, W); got "
                         f"{array.shape}. For a single image add a batch dimension: images[None].")
    first, last = array.shape[1] in _CHANNELS, array.shape[3] in _CHANNELS
    if first and last and not is_tensor:
        # (N, 3, 5, 3) is three-channel 5x3 images or three-row 5-wide RGB ones; nothing in the
        # numbers says which. A tensor follows PyTorch's (N, C, H, W); an array has no convention.
        raise ValueError(f"images of shape {array.shape} could be (N, C, H, W) or (N, H, W, C): "
                         "dimensions 1 and 3 both look like channels. Pass a torch tensor in "
                         "PyTorch's (N, C, H, W) layout, e.g. torch.as_tensor(images) if the "
                         "channels come first or torch.as_tensor(images).permute(0, 3, 1, 2) if "
                         "they come last.")
    if first:
        array = array.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    elif not last:
        raise ValueError(f"images of shape {array.shape} have neither 1 nor 3 channels in "
                         "dimension 1 (N, C, H, W) or 3 (N, H, W, C); show_images draws grey "
                         "(1 channel) or RGB (3 channels). Show one channel at a time as "
                         "(N, H, W), e.g. images[:, 0].")
    return (array[..., 0] if array.shape[3] == 1 else array), scaled


def show_images(images, titles=None, ncols: int = 8, cmap: str = "gray", size: float = 1.3,
                vmin: float | None = 0.0, vmax: float | None = 1.0, suptitle: str | None = None):
    """Draw a grid of images.

    Parameters
    ----------
    images : tensor or array, shape (N, C, H, W) or (N, H, W, C) with C in {1, 3}, or (N, H, W)
        Pixel values in ``[vmin, vmax]`` (default ``[0, 1]``); pass ``vmin=vmax=None`` to
        let each image use its own range (filters, feature maps). ``uint8`` pixels (0..255,
        as images are stored) are divided by 255 first. Channels-last ``(N, H, W, C)`` is
        recognised when only the last dimension can be channels; when dimensions 1 and 3
        both can (``(N, 3, 5, 3)``), a tensor is read as PyTorch's ``(N, C, H, W)`` and an
        array is refused.
    titles : sequence of str, optional
        One short title per image (a label, a prediction with its probability).
    ncols : int
        Images per row (at least 1).
    size : float
        Width and height of one image, in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For a shape it cannot draw or cannot read unambiguously, a titles list of the wrong
        length, or ``vmin``/``vmax`` beyond 1 for ``uint8`` images.
    TypeError
        For images that are not numbers.
    """
    array, scaled = _to_numpy_images(images)
    n = len(array)
    if n == 0:
        raise ValueError("show_images got no images to draw.")
    if scaled and any(v is not None and v > 1 for v in (vmin, vmax)):
        raise ValueError(f"uint8 images are scaled from 0..255 to [0, 1] before drawing, so "
                         f"vmin={vmin}, vmax={vmax} would draw them almost black; give vmin and vmax in "
                         "[0, 1] (the defaults show the full range).")
    if isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1:
        raise ValueError(f"ncols is the number of images per row, a whole number >= 1; got {ncols!r}.")
    if titles is not None:
        titles = list(titles)
        if len(titles) != n:
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


def _history_column(history, key: str, length: int | None) -> np.ndarray | None:
    """``history[key]`` as a 1-D float array (None when absent), checked against ``length``."""
    values = history.get(key)
    if values is None:
        return None
    try:
        column = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"history[{key!r}] must be a list of numbers, one per epoch; got "
                        f"{type(values).__name__} {str(values)[:60]}.") from None
    if column.ndim != 1:
        raise ValueError(f"history[{key!r}] must be a flat list with one number per epoch; got "
                         f"shape {column.shape}.")
    if length is not None and len(column) != length:
        raise ValueError(f"history[{key!r}] has {len(column)} values but history['epoch'] has "
                         f"{length}; record every metric once per epoch (History.append does).")
    return column


def plot_history(history, metrics=("loss", "acc"), title: str | None = None):
    """Training and validation curves, one panel per metric, against the epoch number.

    Parameters
    ----------
    history : History or dict
        The ``History`` returned by ``fit``, or any dict with an ``epoch`` list and
        ``train_<metric>`` / ``val_<metric>`` lists of the same length.
    metrics : str or sequence of str
        The metrics to draw, e.g. ``("loss", "acc")`` or ``"loss"``. Panels with no finite
        values are left out.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``history`` is not a mapping of lists of numbers, or a metric name is not a string.
    ValueError
        If the lists differ in length, ``epoch`` is missing, or nothing finite is left to draw.
    """
    if not (hasattr(history, "get") and hasattr(history, "keys")):
        raise TypeError(f"plot_history takes the History that fit() returns (or a dict of lists: "
                        f"epoch, train_loss, val_loss, ...), got {type(history).__name__}.")
    if isinstance(metrics, str):
        metrics = (metrics,)  # plot_history(h, "loss"), not the letters l, o, s, s
    metrics = tuple(metrics)
    if not all(isinstance(m, str) for m in metrics):
        raise TypeError(f"metrics must be names such as 'loss' or 'acc', got {metrics!r}.")
    epochs = _history_column(history, "epoch", None)
    if epochs is None:
        raise ValueError(f"history has no 'epoch' list (its keys: {sorted(map(str, history.keys()))}); "
                         "add one with the epoch number of each record: 1, 2, 3, ...")
    curves = {}  # metric -> [(split, values)] with at least one finite value
    for metric in metrics:
        for split in ("train", "val"):
            values = _history_column(history, f"{split}_{metric}", len(epochs))
            if values is not None and np.isfinite(values).any():
                curves.setdefault(metric, []).append((split, values))
    if not curves:
        raise ValueError(f"history has no finite values for {list(metrics)} (looked for "
                         f"train_<metric> and val_<metric>); did training run?")
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.2), squeeze=False)
    labels = {"loss": "loss", "acc": "accuracy"}
    for ax, (metric, splits) in zip(axes.flat, curves.items()):
        for split, values in splits:
            ax.plot(epochs, values, "-o" if split == "train" else "-s", label=split, markersize=4)
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
        E.g. from :func:`bmcourse.metrics.confusion_matrix`. Non-negative; fractions are
        shown with two decimals, whole counts as integers.
    classes : sequence of K names, optional
        Anything printable (``range(10)``, ``["cat", "dog"]``); default ``0..K-1``.
    normalize : bool
        Show each row as fractions of that true class instead of counts.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``matrix`` does not hold numbers.
    ValueError
        If it is not square ``(K, K)`` with ``K >= 1``, holds negative or non-finite values, or
        ``classes`` does not have ``K`` names.
    """
    counts = matrix.detach().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if counts.dtype == object or not (counts.dtype == bool or np.issubdtype(counts.dtype, np.number)):
        raise TypeError(f"matrix must hold numbers (counts), got dtype {counts.dtype}; pass the "
                        "tensor that bmcourse.metrics.confusion_matrix returns.")
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"a confusion matrix is square (K, K) with K >= 1; got shape {counts.shape}. "
                         "Build it with bmcourse.metrics.confusion_matrix(outputs, targets).")
    counts = counts.astype(float)
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("a confusion matrix holds counts, which are finite and >= 0; this one has "
                         "negative, NaN or infinite entries.")
    k = counts.shape[0]
    classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(classes) != k:
        raise ValueError(f"got {len(classes)} class names for a {k}x{k} matrix; pass one per row.")
    totals = counts.sum(axis=1, keepdims=True)
    # A class with no samples has an all-zero row: leave it at 0 rather than divide by 0.
    values = counts / np.where(totals > 0, totals, 1) if normalize else counts
    whole = np.array_equal(values, np.round(values))
    fig, ax = plt.subplots(figsize=(0.5 * k + 2, 0.5 * k + 1.5))
    image = ax.imshow(values, cmap="Blues")
    threshold = values.max() / 2
    for i in range(k):
        for j in range(k):
            text = f"{int(values[i, j])}" if whole and not normalize else f"{values[i, j]:.2f}"
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
