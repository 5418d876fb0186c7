"""One GAN training step and a small loop around it, for any generator and discriminator.

A GAN step has two halves (Goodfellow et al., 2014):

1. the discriminator ``D`` learns to tell a real batch from generated samples. The samples are
   *detached*, so this half does not compute gradients for the generator;
2. the generator ``G`` learns to make ``D`` call its samples real. ``D``'s parameters are frozen
   during this half: the generator's loss flows *through* ``D`` but must not update it.

The discriminator must return **logits** (no final sigmoid); see :mod:`bmcourse.losses`.
Every GAN in the course trains with this one step. The same code trains the 1-D GAN of the math chapter, the MLP GAN and the DCGAN on MNIST.
"""
from __future__ import annotations

from itertools import islice
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import discriminator_loss, generator_loss
from ..progress import tqdm

__all__ = ["gan_step", "train_gan", "ema_update"]


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def _discriminator_loss(real_logits, fake_logits, real_label: float):
    if real_label == 1.0:
        return discriminator_loss(real_logits, fake_logits)
    # One-sided label smoothing (Salimans et al., 2016): the target for real data is
    # real_label < 1, i.e. binary cross-entropy real_label * softplus(-l) + (1 - real_label) *
    # softplus(l); generated data keeps target 0.
    smoothed = real_label * F.softplus(-real_logits) + (1 - real_label) * F.softplus(real_logits)
    return smoothed.mean() + F.softplus(fake_logits).mean()


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: torch.Tensor,
             sample_noise: Callable[[int, torch.device], torch.Tensor],
             saturating: bool = False, labels: torch.Tensor | None = None,
             real_label: float = 1.0) -> dict:
    """Update the discriminator once, then the generator once, on one batch.

    Parameters
    ----------
    generator : nn.Module
        Maps noise ``z`` of shape ``(N, ...)`` to samples shaped like ``real``.
    discriminator : nn.Module
        Maps a batch of samples to logits of shape ``(N,)`` or ``(N, 1)``.
    opt_g, opt_d : torch.optim.Optimizer
        Optimizers over the generator's and the discriminator's parameters.
    real : torch.Tensor, shape (N, ...)
        A batch of real data, on the device the models live on.
    sample_noise : callable
        ``sample_noise(n, device)`` returns ``n`` noise vectors on ``device``, e.g.
        ``lambda n, device: torch.randn(n, 64, device=device)``.
    saturating : bool
        Use the minimax generator loss instead of the non-saturating one (default).
    labels : torch.Tensor, shape (N,), optional
        Class labels of ``real`` for a class-conditional GAN: then both models are called with
        them, ``generator(z, labels)`` and ``discriminator(x, labels)``, and the generated batch
        has the same labels as the real one.
    real_label : float
        The discriminator's target for real data; below 1 (e.g. 0.9) is one-sided label
        smoothing.

    Returns
    -------
    dict
        Floats: ``d_loss``, ``g_loss``, and ``d_real`` / ``d_fake``, the discriminator's mean
        probability of "real" on the real and on the generated batch before its update.
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label!r}; 0.9 is the usual "
                         "one-sided label smoothing.")
    extra = () if labels is None else (labels,)
    z = sample_noise(real.shape[0], real.device)
    fake = generator(z, *extra)

    # 1. Discriminator: fakes are detached, so no gradient reaches the generator here.
    opt_d.zero_grad(set_to_none=True)
    real_logits = discriminator(real, *extra)
    fake_logits = discriminator(fake.detach(), *extra)
    d_loss = _discriminator_loss(real_logits, fake_logits, real_label)
    d_loss.backward()
    opt_d.step()

    # 2. Generator: score the same fakes with the updated discriminator, whose parameters are
    #    frozen so that the generator's loss cannot train it (or even fill its .grad).
    _set_requires_grad(discriminator, False)
    try:
        opt_g.zero_grad(set_to_none=True)
        g_loss = generator_loss(discriminator(fake, *extra), saturating=saturating)
        g_loss.backward()
        opt_g.step()
    finally:
        _set_requires_grad(discriminator, True)

    return {
        "d_loss": d_loss.item(),
        "g_loss": g_loss.item(),
        "d_real": torch.sigmoid(real_logits.detach()).mean().item(),
        "d_fake": torch.sigmoid(fake_logits.detach()).mean().item(),
    }


@torch.no_grad()
def ema_update(average: nn.Module, model: nn.Module, decay: float) -> None:
    """Move ``average``'s weights towards ``model``'s: ``a <- decay * a + (1 - decay) * w``.

    An exponential moving average of the generator's weights (Yazıcı et al., 2019) smooths
    out the oscillation of adversarial training; its samples are usually better than those
    of the latest weights. Buffers (batch-norm statistics) are copied, not averaged.

    The effective decay warms up as ``min(decay, (1 + t) / (10 + t))`` over the ``t`` updates
    made so far (counted on ``average``): with a fixed 0.999 the average would remember the
    random initial weights for the first thousand or so steps.
    """
    t = getattr(average, "ema_updates", 0)
    decay = min(decay, (1 + t) / (10 + t))
    average.ema_updates = t + 1
    for a, w in zip(average.parameters(), model.parameters()):
        a.lerp_(w, 1.0 - decay)
    for a, w in zip(average.buffers(), model.buffers()):
        a.copy_(w)


def _endless(batches: Iterable):
    """Yield batches forever, starting a new pass (epoch) whenever the iterable runs out."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("The batches iterable yielded nothing; check the dataset or loader.")


def train_gan(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
              opt_d: torch.optim.Optimizer, batches: Iterable,
              sample_noise: Callable[[int, torch.device], torch.Tensor], steps: int,
              saturating: bool = False, callback: Callable[[int], None] | None = None,
              every: int = 100, progress: bool = False, conditional: bool = False,
              real_label: float = 1.0, ema: nn.Module | None = None,
              ema_decay: float = 0.999) -> dict:
    """Run :func:`gan_step` for ``steps`` batches and return the history.

    Parameters
    ----------
    batches : iterable
        Real batches, re-iterated when exhausted: a ``DataLoader`` (a batch may be a tensor or
        an ``(images, labels)`` pair; labels are ignored) or any iterable of tensors.
        Each batch is moved to the generator's device.
    steps : int
        Number of GAN steps (batches).
    callback : callable, optional
        ``callback(step)`` is called after every ``every`` steps and after the last one, e.g.
        to save samples; ``step`` counts from 1.
    progress : bool
        Show a tqdm progress bar with the latest losses.
    conditional : bool
        Batches are ``(images, labels)`` pairs and the models take the labels (a
        class-conditional GAN); otherwise labels are ignored.
    ema : nn.Module, optional
        A copy of the generator (``copy.deepcopy(generator)``) that tracks the exponential
        moving average of its weights, updated after every step with :func:`ema_update`.
    ema_decay : float
    Other parameters are those of :func:`gan_step`.

    Returns
    -------
    dict of lists
        ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``: one entry per step.
    """
    for name, value in (("steps", steps), ("every", every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    device = next(generator.parameters()).device
    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    generator.train()
    discriminator.train()
    stream = islice(_endless(batches), steps)
    if progress:
        stream = tqdm(stream, total=steps, desc="GAN")
    for step, batch in enumerate(stream, start=1):
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        labels = None
        if conditional:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise ValueError("conditional=True needs (images, labels) batches.")
            labels = batch[1].to(device)
        stats = gan_step(generator, discriminator, opt_g, opt_d, real.to(device), sample_noise,
                         saturating=saturating, labels=labels, real_label=real_label)
        if ema is not None:
            ema_update(ema, generator, ema_decay)
        for key, value in stats.items():
            history[key].append(value)
        if progress:
            stream.set_postfix(d_loss=f"{stats['d_loss']:.3f}", g_loss=f"{stats['g_loss']:.3f}")
        if callback is not None and (step % every == 0 or step == steps):
            callback(step)
    return history
