"""A multilayer perceptron classifier: the plainest network, and the one quantization fits best.

Almost all of an MLP's weights sit in ``nn.Linear`` layers, so int8 quantization of those
layers (:mod:`bmcourse.compress`) shrinks the whole model about fourfold. How it is trained
lives in :mod:`bmcourse.training` (``fit``); the model knows nothing about training.
"""
from __future__ import annotations

import torch
from torch import nn

from ..data.mnist import MNIST_MEAN, MNIST_STD

__all__ = ["MLPClassifier", "mnist_mlp"]


class MLPClassifier(nn.Module):
    """Images flattened, then ``Dense → ReLU`` layers and a final ``Dense`` to class logits.

    Parameters
    ----------
    in_features : int
        Inputs per sample after flattening (784 for a 28x28 image).
    hidden : tuple of int
        Width of each hidden layer.
    classes : int
    dropout : float
        Dropout probability after each hidden layer (0 turns it off).
    mean, std : float
        The inputs are standardised with these first, ``(x - mean) / std``, so callers pass
        raw pixels in ``[0, 1]``.
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...] = (256, 256), classes: int = 10,
                 dropout: float = 0.0, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        if not hidden or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                             for w in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of layer widths >= 1, got "
                             f"{hidden!r}.")
        self.in_features, self.mean, self.std = in_features, mean, std
        layers, width = [nn.Flatten()], in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` for inputs ``(N, ...)`` with ``in_features`` values each."""
        if x.ndim < 2 or x.shape[1:].numel() != self.in_features:
            raise ValueError(f"MLPClassifier expects {self.in_features} inputs per sample, got "
                             f"shape {tuple(x.shape)}.")
        return self.layers((x - self.mean) / self.std)


def mnist_mlp(hidden: tuple[int, ...] = (256, 256), dropout: float = 0.1) -> MLPClassifier:
    """An MLP for 28x28 MNIST digits: 784 → 256 → 256 → 10 by default (269,322 parameters).

    Input ``(N, 1, 28, 28)`` pixels in ``[0, 1]`` (normalised inside with the MNIST mean and
    standard deviation); output ``(N, 10)`` logits.
    """
    return MLPClassifier(28 * 28, hidden, classes=10, dropout=dropout, mean=MNIST_MEAN,
                         std=MNIST_STD)
