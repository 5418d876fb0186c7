"""An image-classification dataset held in memory: four tensors and a few labels.

MNIST and CIFAR-10 are small enough to live entirely in (GPU) memory, so a dataset here is
just tensors; a training loop slices them instead of going through a ``DataLoader``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

__all__ = ["ImageDataset"]


@dataclass
class ImageDataset:
    """Train and test images with integer labels, all as tensors on one device.

    Attributes
    ----------
    x_train : torch.Tensor
        ``(N, C, H, W)`` float32 pixels in ``[0, 1]``.
    y_train : torch.Tensor
        ``(N,)`` int64 class indices in ``[0, len(classes))``.
    x_test, y_test : torch.Tensor
        The same for the test split, ``(M, C, H, W)`` and ``(M,)``.
    classes : tuple of str
        Class names; ``classes[y]`` names label ``y``.
    source : str
        Where the data came from, for people, e.g.
        ``"bundled MNIST sample (4,000 train / 1,000 test)"``.
    name : str
        Short dataset name, e.g. ``"MNIST"``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    source: str
    name: str

    def __post_init__(self):
        self.classes = tuple(self.classes)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4:
                raise ValueError(f"x_{split} must have shape (N, C, H, W), got {tuple(x.shape)}.")
            if y.shape != (len(x),):
                raise ValueError(f"y_{split} must have shape ({len(x)},) to match x_{split}, "
                                 f"got {tuple(y.shape)}.")

    @property
    def device(self) -> torch.device:
        """The device the tensors are on."""
        return self.x_train.device

    def to(self, device) -> "ImageDataset":
        """Return a copy with all four tensors on ``device`` (this one is unchanged)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device), y_train=self.y_train.to(device),
            x_test=self.x_test.to(device), y_test=self.y_test.to(device),
        )

    def __repr__(self) -> str:
        image = "x".join(str(s) for s in self.x_train.shape[1:])
        return (f"ImageDataset({self.name}: {len(self.x_train):,} train / "
                f"{len(self.x_test):,} test images of {image}, {len(self.classes)} classes, "
                f"on {self.device}; source: {self.source})")
