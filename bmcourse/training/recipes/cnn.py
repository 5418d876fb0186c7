"""The CNN chapter's recipe: the fast MNIST CNN, and the classifier the package ships."""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ...data.augment import shift_augment
from ...files import sha256_of
from ...models.cnn import MNIST_CLASSIFIER_PATH, FastMNISTCNN
from ...runtime import get_device, seed_everything
from ..checkpoint import save_checkpoint
from ..loop import fit
from .registry import recipe

__all__ = ["train_fast_cnn", "train_mnist_classifier"]


def train_fast_cnn(data, *, epochs: int = 14, batch_size: int = 64, lr: float = 0.005,
                   max_shift: int = 2, dropout: float = 0.25, label_smoothing: float = 0.1,
                   device=None, seed: int = 0, progress: bool = True, validate: bool = True,
                   checkpoint=None, resume: bool = False, overwrite: bool = False,
                   on_epoch_end=None):
    """Train a :class:`~bmcourse.models.cnn.FastMNISTCNN`: Adam with a one-cycle schedule.

    The data stays on the device; every epoch draws a new order and new random shifts from
    the loop's generator, so a run resumed from ``checkpoint`` ends with the same weights as
    one that was never interrupted.

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
        ``ε``: train against targets that mix the one-hot label with the uniform distribution,
        ``(1 - ε) · onehot + ε / K``. Over ``K = 10`` digits, ``ε = 0.1`` puts 0.91 on the true
        digit and 0.01 on each other one, which discourages over-confident logits (0 turns it
        off). Held-out loss is always plain cross-entropy.
    device : optional
        Defaults to :func:`bmcourse.get_device`.
    seed : int
        Seeds the initial weights, the order, the shifts and dropout.
    progress, validate : bool
    checkpoint, resume, overwrite, on_epoch_end :
        Passed to :func:`bmcourse.training.fit`.

    Returns
    -------
    model : FastMNISTCNN
        In eval mode, on ``device``.
    history : bmcourse.training.History
    """
    device = get_device(str(device)) if device is not None else get_device()
    seed_everything(seed)
    model = FastMNISTCNN(dropout=dropout).to(device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    val = (data.x_test.to(device), data.y_test.to(device)) if validate else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * math.ceil(len(x) / batch_size))

    def loss_fn(logits, targets):
        # fit() evaluates under no_grad: score held-out data with plain cross-entropy
        smoothing = label_smoothing if torch.is_grad_enabled() else 0.0
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)

    history = fit(model, (x, y), epochs=epochs, val=val, optimizer=optimizer, batch_size=batch_size,
                  loss_fn=loss_fn, scheduler=scheduler, scheduler_interval="batch", device=device,
                  augment=shift_augment(max_shift) if max_shift else None,
                  checkpoint=checkpoint, resume=resume, overwrite=overwrite,
                  progress=progress, seed=seed, on_epoch_end=on_epoch_end)
    return model.eval(), history


@recipe("mnist-classifier")
def train_mnist_classifier(out: str | Path = MNIST_CLASSIFIER_PATH, *, source: str = "auto",
                           device: str = "cpu", seed: int = 0, epochs: int = 14,
                           progress: bool = True) -> tuple[Path, dict]:
    """Train the MNIST classifier that bmcourse ships and write its checkpoint to ``out``.

    What ``python -m bmcourse train mnist-classifier`` runs. The checkpoint holds the model's
    float32 state dict (about 0.87 MB) and a small ``info`` dict (training data, epochs,
    held-out accuracy, seed), both loadable with ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    out : path
        Where to write the checkpoint (atomically); default: the shipped file.
    source : {"auto", "full", "sample"}
        Passed to :func:`bmcourse.data.load_mnist`.
    device : str
        ``"cpu"`` (default) gives the same bits on every run; a GPU is faster but not bitwise
        reproducible.
    seed, epochs : int
    progress : bool

    Returns
    -------
    path : pathlib.Path
    info : dict
        Includes ``sha256``, the hash to record in ``MNIST_CLASSIFIER_SHA256``.
    """
    from ...data.mnist import load_mnist

    data = load_mnist(source=source)
    model, history = train_fast_cnn(data, epochs=epochs, device=device, seed=seed, progress=progress)
    info = {"data": data.source, "epochs": len(history["epoch"]),
            "test_acc": float(history.last("val_acc")), "seed": seed,
            "command": f"python -m bmcourse train mnist-classifier --source {source} --seed {seed}"}
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    path = save_checkpoint(out, model=state, info=info)
    return path, dict(info, sha256=sha256_of(path), history=history,
                      record_in="MNIST_CLASSIFIER_SHA256 in bmcourse/models/cnn.py")
