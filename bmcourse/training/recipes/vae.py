"""The VAE chapter's recipe: train the MNIST VAE through the one loop, and ship it.

The VAE trains through :func:`bmcourse.training.fit` with its own ``step``
(:func:`vae_step`): the model returns ``(logits, mu, logvar)`` rather than one tensor, and the
loss needs the input itself, :func:`bmcourse.losses.vae_loss`.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ...files import sha256_of
from ...losses import vae_loss
from ...models.vae import VAE, VAE_PATH
from ...runtime import get_device, seed_everything
from ..checkpoint import save_checkpoint
from ..loop import fit, optimizer_step
from .registry import recipe

__all__ = ["vae_step", "negative_elbo", "train_vae", "train_vae_mnist"]


def vae_step(model, x, y, *, loss_fn, optimizer, scaler, autocast, clip_grad_norm=None,
             accumulate: int = 1, update: bool = True):
    """One VAE step for :func:`bmcourse.training.fit` (``step=vae_step``); labels ``y`` unused.

    The same contract as :func:`bmcourse.training.train_step` (gradient accumulation
    included), with the VAE's loss: the negative ELBO of the batch,
    ``vae_loss(logits, x, mu, logvar).total`` in nats per image (``loss_fn`` is not used).
    Returns the detached loss and the reconstruction logits.
    """
    with autocast:
        logits, mu, logvar = model(x)
        loss = vae_loss(logits.float(), x, mu.float(), logvar.float()).total
    if not torch.isfinite(loss):
        raise FloatingPointError(f"The VAE loss became {loss.item()}; lower the learning rate.")
    scaler.scale(loss / accumulate).backward()
    if update:
        optimizer_step(model, optimizer, scaler, clip_grad_norm)
    return loss.detach(), logits.detach()


@torch.no_grad()
def negative_elbo(model: VAE, x: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> dict:
    """Held-out negative ELBO in nats per image, one ``z ~ q(z|x)`` per image.

    Parameters
    ----------
    model : VAE
    x : torch.Tensor, shape (N, 1, 28, 28)
        Pixels in ``[0, 1]``.
    batch_size, seed : int
        ``seed`` fixes the latent samples, so the number is reproducible.

    Returns
    -------
    dict
        ``total``, ``reconstruction`` and ``kl``: floats, nats per image.
    """
    device = next(model.parameters()).device
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    sums = {"total": 0.0, "reconstruction": 0.0, "kl": 0.0}
    try:
        for chunk in x.split(batch_size):
            chunk = chunk.to(device)
            logits, mu, logvar = model(chunk)
            loss = vae_loss(logits, chunk, mu, logvar)
            for key in sums:
                sums[key] += getattr(loss, key).item() * len(chunk)
    finally:
        torch.set_rng_state(state)
    return {key: value / len(x) for key, value in sums.items()}


def train_vae(data, *, latent_dim: int = 20, hidden: int = 400, epochs: int = 10,
              batch_size: int = 64, lr: float = 1e-2, schedule: bool = True, device=None,
              seed: int = 0, progress: bool = True) -> tuple[VAE, dict]:
    """Train a :class:`~bmcourse.models.vae.VAE` with Adam; our recipe adds a one-cycle schedule.

    Parameters
    ----------
    data : bmcourse.data.ImageDataset
        MNIST; trains on the train split, reports the held-out negative ELBO of the test split
        after every epoch.
    latent_dim, hidden, epochs, batch_size : int
    lr : float
        Adam's learning rate; with ``schedule=True`` the peak of a one-cycle schedule.
    schedule : bool
        ``False`` with ``batch_size=128, lr=1e-3`` is the pytorch/examples recipe.
    device : optional
    seed : int
    progress : bool

    Returns
    -------
    model : VAE
    history : dict of lists
        ``epoch``, ``train_loss`` (mean negative ELBO of the epoch's batches), ``test_loss``,
        ``test_reconstruction``, ``test_kl`` (nats per image) and ``seconds``.
    """
    device = get_device(str(device)) if device is not None else get_device()
    seed_everything(seed)
    model = VAE(hidden=hidden, latent_dim=latent_dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(data.x_train) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps) \
        if schedule else None
    x_test = data.x_test.to(device)
    records = {"test_loss": [], "test_reconstruction": [], "test_kl": []}

    def score_epoch(epoch, history):
        model.eval()
        scores = negative_elbo(model, x_test, seed=seed)
        model.train()
        for key in ("total", "reconstruction", "kl"):
            records["test_loss" if key == "total" else f"test_{key}"].append(scores[key])

    history = fit(model, (data.x_train.to(device), data.y_train.to(device)), epochs=epochs,
                  optimizer=optimizer, batch_size=batch_size, scheduler=scheduler,
                  scheduler_interval="batch", device=device, step=vae_step, seed=seed,
                  progress=progress, on_epoch_end=score_epoch)
    result = {"epoch": history["epoch"], "train_loss": history["train_loss"],
              "seconds": history["seconds"], **records}
    return model.eval(), result


@recipe("vae-mnist")
def train_vae_mnist(out: str | Path = VAE_PATH, *, source: str = "auto", device: str = "cpu",
                    seed: int = 0, epochs: int = 30, progress: bool = True) -> tuple[Path, dict]:
    """Train the 20-dimensional VAE that bmcourse ships and write it to ``out``.

    What ``python -m bmcourse train vae-mnist`` runs. The checkpoint holds the float32 state
    dict, the ``config`` and an ``info`` dict (data, epochs, held-out negative ELBO), loadable
    with ``torch.load(..., weights_only=True)``.

    Returns
    -------
    path : pathlib.Path
    info : dict
        Includes ``sha256``, the hash to record in ``bmcourse.models.vae.VAE_SHA256``.
    """
    from ...data.mnist import load_mnist

    data = load_mnist(source=source)
    model, history = train_vae(data, epochs=epochs, device=device, seed=seed, progress=progress)
    config = {"hidden": model.hidden, "latent_dim": model.latent_dim}
    info = {"data": data.source, "epochs": epochs, "seed": seed,
            "test_neg_elbo": float(history["test_loss"][-1]),
            "command": f"python -m bmcourse train vae-mnist --source {source} --seed {seed}"}
    state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    path = save_checkpoint(out, model=state, config=config, info=info)
    return path, dict(info, sha256=sha256_of(path), history=history,
                      record_in="bmcourse/models/vae.py (VAE_SHA256)")
