"""Convolutional image classifiers: the seed article's two Keras CNNs and a fast MNIST CNN.

Three models, read top to bottom:

* :func:`seed_mnist_cnn` and :func:`seed_cifar_cnn` translate the Keras ``Sequential`` models of
  seed 002 §5 layer by layer (three 3x3 convolutions, two max-poolings, two dense layers), with
  Keras' default initialisation. They return logits: the seed's final ``softmax`` is folded
  into :func:`torch.nn.functional.cross_entropy`, which is more accurate in floating point.
* :class:`FastMNISTCNN` is a small modern network (batch norm, dropout) trained by
  :func:`train_fast_cnn` with Adam and a one-cycle learning-rate schedule, on data kept on the
  device and shifted by a pixel or two for augmentation.
* :func:`mnist_classifier` hands other chapters a trained :class:`FastMNISTCNN` (the GAN
  chapter scores generated digits with it): the weights shipped with the package, checked by
  SHA-256, or — when they are missing or damaged — a freshly trained one.

:func:`layer_summary` prints what each layer does to the shape, and what it costs in
parameters and multiply-accumulates, like Keras' ``model.summary()``.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..files import sha256_of
from ..data.mnist import MNIST_MEAN, MNIST_STD, load_mnist
from ..runtime import get_device, seed_everything
from ..train import fit, load_checkpoint

__all__ = ["seed_mnist_cnn", "seed_cifar_cnn", "FastMNISTCNN", "random_shift", "ShiftedBatches",
           "train_fast_cnn", "mnist_classifier", "layer_summary", "MNIST_CLASSIFIER_PATH",
           "MNIST_CLASSIFIER_SHA256"]

# Written by scripts/train_mnist_classifier.py, which prints the hash to paste here.
MNIST_CLASSIFIER_PATH = Path(__file__).resolve().parent / "weights" / "mnist_cnn.pt"
MNIST_CLASSIFIER_SHA256 = "22153e8467703840feb25fbc271246f93489844d25a9c22dd2054f2887e9c87f"


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
    """
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(images.shape)}.")
    if max_shift < 0 or int(max_shift) != max_shift:
        raise ValueError(f"max_shift must be a whole number >= 0, got {max_shift!r}.")
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


class ShiftedBatches:
    """Shuffled mini-batches ``(x, y)`` of randomly shifted images, for :func:`bmcourse.train.fit`.

    The tensors stay on their device; every pass (epoch) draws a new order and new shifts.

    Parameters
    ----------
    x : tensor, (N, C, H, W)
    y : tensor, (N,)
    batch_size : int
    max_shift : int
        Passed to :func:`random_shift`.
    seed : int
        Seeds the order and the shifts.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, max_shift: int = 2,
                 seed: int = 0):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match.")
        self.x, self.y, self.batch_size, self.max_shift = x, y, batch_size, max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=self.generator).to(self.x.device)
        for start in range(0, len(self.x), self.batch_size):
            index = order[start:start + self.batch_size]
            yield random_shift(self.x[index], self.max_shift, self.generator), self.y[index]


def train_fast_cnn(data, *, epochs: int = 14, batch_size: int = 64, lr: float = 0.005,
                   max_shift: int = 2, dropout: float = 0.25, label_smoothing: float = 0.1,
                   device=None, seed: int = 0, progress: bool = True, validate: bool = True,
                   on_epoch_end=None):
    """Train a :class:`FastMNISTCNN`: Adam with a one-cycle schedule, data on the device.

    Parameters
    ----------
    data : bmcourse.data.ImageDataset
        MNIST, e.g. from :func:`bmcourse.data.load_mnist`. Trains on the train split and,
        with ``validate=True``, reports accuracy on the test split after every epoch.
    epochs, batch_size : int
    lr : float
        The peak learning rate of the one-cycle schedule (it warms up to it over the first
        30% of the steps, then anneals to almost zero).
    max_shift : int
        Augmentation: random shifts of up to this many pixels (0 turns it off).
    dropout : float
    label_smoothing : float
        Train against targets that put ``1 - label_smoothing`` on the true class and spread
        the rest evenly, which discourages over-confident logits (0 turns it off). Held-out
        loss is always plain cross-entropy.
    device : optional
        Defaults to :func:`bmcourse.get_device`.
    seed : int
        Seeds the initial weights, the order, the shifts and dropout.
    progress : bool
    validate : bool
    on_epoch_end : callable, optional
        Passed to :func:`bmcourse.train.fit`.

    Returns
    -------
    model : FastMNISTCNN
        In eval mode, on ``device``.
    history : bmcourse.train.History
    """
    device = get_device(str(device)) if device is not None else get_device()
    seed_everything(seed)
    model = FastMNISTCNN(dropout=dropout).to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    train = ShiftedBatches(x, y, batch_size, max_shift, seed) if max_shift else (x, y)
    val = (data.x_test.to(device), data.y_test.to(device)) if validate else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * math.ceil(len(x) / batch_size))
    def loss_fn(logits, targets):
        # fit() evaluates under no_grad: score held-out data with plain cross-entropy
        smoothing = label_smoothing if torch.is_grad_enabled() else 0.0
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)

    history = fit(model, train, epochs=epochs, val=val, optimizer=optimizer, batch_size=batch_size,
                  loss_fn=loss_fn,
                  scheduler=scheduler, scheduler_interval="batch", device=device,
                  progress=progress, seed=seed, on_epoch_end=on_epoch_end)
    return model.eval(), history


# ---------------------------------------------------------------------------- the shared classifier

def _shipped_state(path: Path, sha256: str) -> tuple[dict | None, str]:
    """The shipped checkpoint if it exists and matches its hash, else ``None`` and why not."""
    if not path.is_file():
        return None, f"{path} is missing"
    actual = sha256_of(path)
    if actual != sha256:
        return None, f"{path} has SHA-256 {actual[:12]}..., expected {sha256[:12]}..."
    return load_checkpoint(path), ""


def mnist_classifier(device=None, verbose: bool = True) -> FastMNISTCNN:
    """A trained MNIST classifier, frozen and in eval mode, for scoring digits anywhere.

    Loads the weights shipped in ``bmcourse/models/weights/mnist_cnn.pt`` (made by
    ``scripts/train_mnist_classifier.py``) after checking their SHA-256, with
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
    state, problem = _shipped_state(MNIST_CLASSIFIER_PATH, MNIST_CLASSIFIER_SHA256)
    if state is not None:
        model = FastMNISTCNN()
        model.load_state_dict(state["model"])
        info = dict(state["info"], weights="shipped")
    else:
        warnings.warn(f"Shipped MNIST classifier weights not used ({problem}); training a new "
                      "classifier instead. Reinstall bmcourse, or run "
                      "scripts/train_mnist_classifier.py, to restore them.", stacklevel=2)
        data = load_mnist(verbose=verbose)
        model, history = train_fast_cnn(data, device=device, progress=False)
        info = {"data": data.source, "epochs": len(history["epoch"]),
                "test_acc": history.last("val_acc"), "weights": "trained just now"}
    model = model.to(device).eval().requires_grad_(False)
    model.info = info
    if verbose:
        # Two short lines: the data description alone can fill one.
        print(f"MNIST classifier: {info['weights']} weights, "
              f"held-out accuracy {info['test_acc']:.2%}\n  trained on {info['data']}")
    return model


# ---------------------------------------------------------------------------- layer table

def layer_summary(model: nn.Module, input_shape: tuple, verbose: bool = True) -> list[dict]:
    """What every layer of a chain-shaped model does: output shape, parameters, cost.

    Runs one zero input through ``model`` (in eval mode) and records, for each leaf module in
    the order it runs: its output shape, its own parameter count, its multiply-accumulates
    (MACs; convolutions and linear layers only — the others cost little), and, for layers up to
    the last convolution or pooling, the receptive field: the side of the input patch that one
    output pixel can see.

    Parameters
    ----------
    model : nn.Module
    input_shape : tuple
        One input without the batch dimension, e.g. ``(1, 28, 28)``.
    verbose : bool
        Print the table.

    Returns
    -------
    list of dict
        Keys ``name``, ``layer``, ``output_shape``, ``params``, ``macs``, ``receptive_field``
        (``None`` where it does not apply). One FLOP count is ``2 * macs``.
    """
    rows, hooks = [], []
    jump, field = 1, 1  # distance in input pixels between neighbouring outputs; window side

    def record(name):
        def hook(module, inputs, output):
            nonlocal jump, field
            macs, receptive = 0, None
            if isinstance(module, nn.Conv2d):
                macs = output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
            elif isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
                stride = module.stride if isinstance(module.stride, int) else module.stride[0]
                field, jump = field + (kernel - 1) * jump, jump * stride
            if output.ndim == 4:
                receptive = field
            rows.append({"name": name, "layer": type(module).__name__,
                         "output_shape": tuple(output.shape[1:]),
                         "params": sum(p.numel() for p in module.parameters(recurse=False)),
                         "macs": macs, "receptive_field": receptive})
        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        device = next(model.parameters(), torch.empty(0)).device  # CPU for parameter-free models
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    if verbose:
        print(f"{'layer':<18}{'output shape':>16}{'params':>10}{'MACs':>12}{'RF':>5}")
        for row in rows:
            shape = "x".join(str(s) for s in row["output_shape"])
            field_text = "" if row["receptive_field"] is None else str(row["receptive_field"])
            print(f"{row['name'] + ' ' + row['layer']:<18.18}{shape:>16}{row['params']:>10,}"
                  f"{row['macs']:>12,}{field_text:>5}")
        print(f"{'total':<18}{'':>16}{sum(r['params'] for r in rows):>10,}"
              f"{sum(r['macs'] for r in rows):>12,}")
    return rows
