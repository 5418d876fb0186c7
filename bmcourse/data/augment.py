"""Data augmentation on tensors that already sit on the device.

An augmentation here is a function ``augment(x, generator) -> x`` that the training loop
(:func:`bmcourse.training.fit`) applies to every training batch, drawing its randomness from the
loop's own generator, so that a resumed run draws exactly the same shifts as an uninterrupted one.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

__all__ = ["random_shift", "shift_augment"]


def random_shift(images: torch.Tensor, max_shift: int = 2,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Move each image by a random whole number of pixels, filling the border with zeros.

    Parameters
    ----------
    images : tensor, (N, C, H, W)
    max_shift : int
        Each image moves by ``dy, dx`` drawn uniformly from ``-max_shift..max_shift``.
    generator : torch.Generator, optional
        A CPU generator, for reproducible shifts.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)`` on the same device as ``images``.

    Examples
    --------
    >>> dot = torch.zeros(1, 1, 5, 5); dot[0, 0, 2, 2] = 1
    >>> random_shift(dot, 1, torch.Generator().manual_seed(0)).sum().item()
    1.0
    """
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"images must be a tensor of shape (N, C, H, W), got "
                         f"{tuple(getattr(images, 'shape', ()))}.")
    if isinstance(max_shift, bool) or max_shift < 0 or int(max_shift) != max_shift:
        raise ValueError(f"max_shift must be a whole number >= 0, got {max_shift!r}.")
    max_shift = int(max_shift)
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    # A window of the padded image starting at offset (dy, dx); offset max_shift = no move.
    dy = torch.randint(0, 2 * max_shift + 1, (n, 1), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n, 1), generator=generator).to(images.device)
    rows = dy + torch.arange(h, device=images.device)  # (N, H)
    cols = dx + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    windows = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return windows.permute(0, 3, 1, 2).contiguous()


def shift_augment(max_shift: int = 2):
    """An ``augment`` for :func:`bmcourse.training.fit` that shifts images by up to ``max_shift``.

    Examples
    --------
    >>> augment = shift_augment(2)
    >>> augment(torch.zeros(4, 1, 8, 8), torch.Generator()).shape
    torch.Size([4, 1, 8, 8])
    """
    random_shift(torch.zeros(1, 1, 1, 1), max_shift)  # validate now, not in the middle of training
    return functools.partial(_shift, max_shift=max_shift)


def _shift(images, generator, max_shift):
    return random_shift(images, max_shift, generator)
