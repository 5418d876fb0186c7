"""Convolutional image classifiers: the seed article's two Keras CNNs, a fast MNIST CNN, and
two small ones for engineering II.

The models, read top to bottom (how they are trained lives in :mod:`bmcourse.training`):

* :func:`seed_mnist_cnn` and :func:`seed_cifar_cnn` translate the Keras ``Sequential`` models of
  seed 002 §5 layer by layer (three 3x3 convolutions, two max-poolings, two dense layers), with
  Keras' default initialisation. They return logits: the seed's final ``softmax`` is folded
  into :func:`torch.nn.functional.cross_entropy`, which is more accurate in floating point.
* :class:`FastMNISTCNN` is a small modern network (batch norm, dropout), trained by
  :func:`bmcourse.training.recipes.train_fast_cnn`.
* :func:`mnist_classifier` hands other chapters a trained :class:`FastMNISTCNN` (the GAN
  chapter scores generated digits with it): the weights shipped with the package, checked by
  SHA-256, or — when they are missing or damaged — a freshly trained one.
* :func:`student_cnn` (a tiny network to distil into) and :func:`dp_mnist_cnn` (no batch norm,
  so it has per-sample gradients for DP-SGD) serve the compression and privacy sections.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from ..data.mnist import MNIST_MEAN, MNIST_STD, load_mnist
from ..runtime import get_device
from .weights import WEIGHTS_DIR, load_shipped

__all__ = ["seed_mnist_cnn", "seed_cifar_cnn", "FastMNISTCNN", "mnist_classifier",
           "MNIST_CLASSIFIER_PATH", "MNIST_CLASSIFIER_SHA256", "student_cnn", "dp_mnist_cnn"]

# Written by `python -m bmcourse train mnist-classifier`, which prints the hash to paste here.
MNIST_CLASSIFIER_PATH = WEIGHTS_DIR / "mnist_cnn.pt"
MNIST_CLASSIFIER_SHA256 = "43a4e3675538ec92b8ec2935458c0d7e05a1e01c52988852d1713f3d971351b5"


# ---------------------------------------------------------------------------- the seed's models

def _keras_init(module: nn.Module) -> None:
    """Keras' defaults: Glorot-uniform weights and zero biases (PyTorch's differ)."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def _seed_cnn(in_channels: int, image_size: int) -> nn.Sequential:
    # Valid (unpadded) 3x3 convolutions shrink the side by 2, poolings halve it (rounding down).
    side = ((image_size - 2) // 2 - 2) // 2 - 2
    model = nn.Sequential(
        nn.Conv2d(in_channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * side * side, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )
    model.apply(_keras_init)
    return model


def seed_mnist_cnn() -> nn.Sequential:
    """The seed's MNIST CNN (002 §5.2), in PyTorch: 93,322 parameters.

    ``Conv 32@3x3 → pool → Conv 64@3x3 → pool → Conv 64@3x3 → Dense 64 → Dense 10``, all
    ReLU. The article's text says "two convolutional layers"; its code has three.

    Input ``(N, 1, 28, 28)`` pixels in ``[0, 1]``; output ``(N, 10)`` logits.
    """
    return _seed_cnn(in_channels=1, image_size=28)


def seed_cifar_cnn() -> nn.Sequential:
    """The seed's CIFAR-10 CNN (002 §5.2, second script), in PyTorch: 122,570 parameters.

    The same layers as :func:`seed_mnist_cnn` on 3-channel 32x32 images, so the last
    feature map is 4x4 instead of 3x3. Input ``(N, 3, 32, 32)`` in ``[0, 1]``; output
    ``(N, 10)`` logits.
    """
    return _seed_cnn(in_channels=3, image_size=32)


# ---------------------------------------------------------------------------- the fast model

class FastMNISTCNN(nn.Module):
    """A small, fast MNIST CNN: 215,250 parameters, 1.24 million multiply-accumulates per image.

    Its layers follow a published recipe that reaches about 99% test accuracy after one epoch
    of full MNIST on a GPU (not yet measured with this implementation; see
    ``benchmarks/cnn_mnist.py``). ``Conv 24@5x5 → BN → ReLU → pool → Conv 32@3x3 → BN →
    ReLU → pool → Dense 800→256 → ReLU → dropout → Dense 256→10``. Batch norm lets a large
    learning rate work from the first step; the convolutions need no bias because batch norm
    adds its own.

    Parameters
    ----------
    dropout : float
        Dropout probability before the last layer (regularises the large dense layer).

    Notes
    -----
    Inputs are pixels in ``[0, 1]``, shape ``(N, 1, 28, 28)``; the model normalises them
    with the MNIST mean and standard deviation itself, so callers never have to.
    """

    def __init__(self, dropout: float = 0.25):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 24, 5, bias=False), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 5 * 5, 256), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(256, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 256 activations before the last layer, ``(N, 256)``: an embedding of each digit."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"FastMNISTCNN expects images of shape (N, 1, 28, 28), got "
                             f"{tuple(x.shape)}. Reshape flat vectors with x.view(-1, 1, 28, 28).")
        return self.body((x - MNIST_MEAN) / MNIST_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 10)`` for images ``(N, 1, 28, 28)`` with pixels in ``[0, 1]``."""
        return self.head(self.features(x))


# ---------------------------------------------------------------------------- the shared classifier

def mnist_classifier(device=None, verbose: bool = True) -> FastMNISTCNN:
    """A trained MNIST classifier, frozen and in eval mode, for scoring digits anywhere.

    Loads the weights shipped in ``bmcourse/models/weights/mnist_cnn.pt`` (made by
    ``python -m bmcourse train mnist-classifier``) after checking their SHA-256, with
    ``weights_only=True``. If they are missing or do not match, it warns and trains a new
    :class:`FastMNISTCNN` on :func:`bmcourse.data.load_mnist` instead (under a minute on a
    laptop CPU with the bundled sample).

    Parameters
    ----------
    device : optional
        Defaults to :func:`bmcourse.get_device`.
    verbose : bool
        Print one line saying where the weights came from and how accurate they are.

    Returns
    -------
    FastMNISTCNN
        Takes ``(N, 1, 28, 28)`` pixels in ``[0, 1]``; ``model(x)`` gives logits ``(N, 10)``
        and ``model.features(x)`` 256-dimensional embeddings. ``model.info`` is a dict
        describing the training data and held-out accuracy.
    """
    device = get_device(str(device)) if device is not None else get_device()
    state, problem = load_shipped(MNIST_CLASSIFIER_PATH, MNIST_CLASSIFIER_SHA256)
    if state is not None:
        model = FastMNISTCNN()
        model.load_state_dict(state["model"])
        info = dict(state["info"], weights="shipped")
    else:
        warnings.warn(f"Shipped MNIST classifier weights not used ({problem}); training a new "
                      "classifier instead. Reinstall bmcourse, or run "
                      "`python -m bmcourse train mnist-classifier`, to restore them.", stacklevel=2)
        from ..training import recipes  # only on this fallback path: models don't train
        data = load_mnist(verbose=verbose)
        model, history = recipes.train_fast_cnn(data, device=device, progress=False)
        info = {"data": data.source, "epochs": len(history["epoch"]),
                "test_acc": history.last("val_acc"), "weights": "trained just now"}
    model = model.to(device).eval().requires_grad_(False)
    model.info = info
    if verbose:
        # Two short lines: the data description alone can fill one.
        print(f"MNIST classifier: {info['weights']} weights, "
              f"held-out accuracy {info['test_acc']:.2%}\n  trained on {info['data']}")
    return model


def student_cnn(width: int = 8) -> nn.Sequential:
    """A tiny MNIST CNN to distil into: 5,386 parameters at ``width=8`` (the shipped
    classifier, :class:`~bmcourse.models.cnn.FastMNISTCNN`, has 215,250).

    ``Conv w@5x5 → ReLU → pool → Conv 2w@3x3 → ReLU → pool → Dense 50w→10``. Input
    ``(N, 1, 28, 28)`` pixels in ``[0, 1]``; output ``(N, 10)`` logits.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a whole number >= 1, got {width!r}.")
    return nn.Sequential(
        nn.Conv2d(1, width, 5), nn.ReLU(), nn.MaxPool2d(2),           # 24x24 -> 12x12
        nn.Conv2d(width, 2 * width, 3), nn.ReLU(), nn.MaxPool2d(2),   # 10x10 -> 5x5
        nn.Flatten(), nn.Linear(2 * width * 5 * 5, 10),
    )

def dp_mnist_cnn() -> nn.Sequential:
    """A small MNIST CNN for DP-SGD and federated averaging: 26,010 parameters, no batch norm.

    The layers of Opacus's MNIST example (``SampleConvNet``): ``Conv 16@8x8/2 → pool 2/1 →
    Conv 32@4x4/2 → pool 2/1 → Dense 512→32 → Dense 32→10``, with tanh instead of its ReLU:
    bounded activations train better under clipping (Papernot et al., 2021; on the bundled
    digits at ε = 2 after 5 epochs, 89.6% against 84.5%). Few parameters help DP-SGD: noise is
    added to every one of them.

    Input ``(N, 1, 28, 28)`` pixels in ``[0, 1]``; output ``(N, 10)`` logits.
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Conv2d(16, 32, 4, stride=2), nn.Tanh(), nn.MaxPool2d(2, 1),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 32), nn.Tanh(),
        nn.Linear(32, 10),
    )
