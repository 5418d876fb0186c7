"""The one batch iterator: mini-batches of an in-memory tensor pair, shuffled on the device.

MNIST, CIFAR-10 and the course's toy sets fit in (GPU) memory, so slicing two tensors by a
shuffled index is all a training loop needs — much faster than a ``DataLoader``, which collates
one sample at a time. The order (and any augmentation) draws from one ``torch.Generator``,
whose state the training loop saves in its checkpoints: that is what makes resuming exact.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

__all__ = ["check_pair", "check_batch_size", "tensor_batches", "num_batches"]


def check_pair(data, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Return ``(x, y)`` if ``data`` is a pair of tensors, ``None`` if it is something else.

    Raises
    ------
    TypeError
        For a pair of NumPy arrays (say how to convert them).
    ValueError
        For a pair of different lengths, or an empty pair.
    """
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        return None
    x, y = data
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        if any(type(t).__module__ == "numpy" for t in (x, y)):
            raise TypeError(f"{name} is a pair of NumPy arrays; pass tensors instead, e.g. "
                            "(torch.from_numpy(x).float(), torch.from_numpy(y)).")
        return None
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}; they must match.")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: pass at least one sample.")
    return x, y


def check_batch_size(batch_size) -> int:
    """``batch_size`` as an int, or a ValueError that says what a batch size must be."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
    return batch_size


def tensor_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                   generator: torch.Generator | None = None,
                   augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                   device: torch.device | str | None = None) -> Iterator:
    """Yield ``(x_batch, y_batch)`` pairs covering every sample once.

    Parameters
    ----------
    x : tensor, (N, ...)
    y : tensor, (N, ...)
    batch_size : int
        The last batch holds the remainder (``N % batch_size`` samples) when there is one.
    shuffle : bool
        Draw a new order from ``generator``; otherwise keep the order of ``x``.
    generator : torch.Generator, optional
        A CPU generator for the order and the augmentation.
    augment : callable, optional
        ``augment(x_batch, generator)`` returns the augmented batch (same shape).
    device : optional
        Move the batches there (a no-op when the tensors are already on it).

    Examples
    --------
    >>> x, y = torch.arange(5.0), torch.arange(5)
    >>> [len(yb) for _, yb in tensor_batches(x, y, 2, shuffle=False)]
    [2, 2, 1]
    """
    check_batch_size(batch_size)
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(x.device)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        xb, yb = x.index_select(0, index), y.index_select(0, index)
        if device is not None:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        if augment is not None:
            xb = augment(xb, generator)
        yield xb, yb


def num_batches(data, batch_size: int) -> int | None:
    """Batches per pass over ``data`` (a tensor pair or a sized iterable); ``None`` if unknown."""
    pair = check_pair(data, "data")
    if pair is not None:
        return math.ceil(len(pair[0]) / batch_size)
    try:
        return len(data)
    except TypeError:
        return None
