"""Losses of the generative models: the GAN's two players and the VAE's negative ELBO.

Every GAN loss here takes the discriminator's *logits* ``l`` (before the sigmoid,
``D(x) = sigmoid(l)``) rather than probabilities: ``log D = -softplus(-l)`` and
``log(1 - D) = -softplus(l)`` stay finite when ``D`` is within rounding of 0 or 1, where
``torch.log(torch.sigmoid(l))`` returns ``-inf``.

The derivations are in the book chapter "The math of GANs, self-attention and VAEs".
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "optimal_discriminator",
    "gan_value",
    "jensen_shannon",
    "gaussian_kl",
    "reparameterize",
    "VAELoss",
    "vae_loss",
]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the discriminator: real data labelled 1, generated data 0.

    ``-E_x[log D(x)] - E_z[log(1 - D(G(z)))]``: minimising it is maximising the GAN value
    function ``V(D, G)`` over ``D``.

    Parameters
    ----------
    real_logits : torch.Tensor, shape (N,) or (N, 1)
        Discriminator logits on a batch of real data.
    fake_logits : torch.Tensor, shape (M,) or (M, 1)
        Discriminator logits on a batch of generated data.

    Returns
    -------
    torch.Tensor
        A scalar: the two batch means added.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """The generator's loss on discriminator logits of generated data.

    Parameters
    ----------
    fake_logits : torch.Tensor, shape (M,) or (M, 1)
        Discriminator logits on generated data ``G(z)``.
    saturating : bool
        ``False`` (default): the non-saturating loss ``-E[log D(G(z))]``, which gives the
        generator strong gradients exactly when the discriminator rejects its samples.
        ``True``: the minimax loss ``E[log(1 - D(G(z)))]`` of the original value function,
        whose gradient vanishes when ``D(G(z))`` is near 0 — early in training.

    Returns
    -------
    torch.Tensor
        A scalar (batch mean).
    """
    if saturating:
        return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l)) = -softplus(l)
    return F.softplus(-fake_logits).mean()  # -log sigmoid(l) = softplus(-l)


# GAN theory for densities known on a grid (1-D examples), where every integral is a sum.

def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """The discriminator that maximises ``V(D, G)`` for a fixed generator: p_data / (p_data + p_g).

    Parameters
    ----------
    p_data, p_g : torch.Tensor, shape (N,)
        The two densities at the same points.

    Returns
    -------
    torch.Tensor, shape (N,)
        Values in [0, 1]; 1/2 where both densities vanish (any value is optimal there).
    """
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(torch.finfo(total.dtype).tiny), 0.5)


def gan_value(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """V(D, G) = E_data[log D(x)] + E_g[log(1 - D(x))], integrated on an evenly spaced grid.

    Parameters
    ----------
    d : torch.Tensor, shape (N,) or (K, N)
        Discriminator outputs in (0, 1) at the grid points (K candidate discriminators).
    p_data, p_g : torch.Tensor, shape (N,)
        The densities at the grid points.
    dx : float
        Grid spacing.

    Returns
    -------
    torch.Tensor, shape () or (K,)
    """
    # 0 * log 0 counts as 0: where a density is 0, D may be 0 or 1 at no cost. Where a density
    # is merely tiny, D* can round to exactly 0 or 1; clipping by the machine epsilon keeps
    # tiny * log(0) from turning into -inf while changing the sum by far less than rounding.
    eps = torch.finfo(d.dtype).eps
    d = d.clamp(eps, 1 - eps)
    real = torch.where(p_data > 0, p_data * torch.log(d), 0.0)
    fake = torch.where(p_g > 0, p_g * torch.log1p(-d), 0.0)
    return (real + fake).sum(dim=-1) * dx


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """Jensen-Shannon divergence of two densities on an evenly spaced grid, in nats.

    ``JSD(p, q) = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``; it lies in
    ``[0, log 2]``.
    """
    m = (p + q) / 2
    kl_pm = torch.where(p > 0, p * torch.log(p / m), 0.0).sum() * dx
    kl_qm = torch.where(q > 0, q * torch.log(q / m), 0.0).sum() * dx
    return (kl_pm + kl_qm) / 2


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
                logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(mu_p, diag exp(logvar_p))) in closed form, in nats.

    Per dimension: ``0.5 * (log s_p^2 - log s^2 + (s^2 + (mu - mu_p)^2) / s_p^2 - 1)``, summed
    over the last dimension. With the defaults the prior is the standard normal and this is
    ``0.5 * sum(mu^2 + s^2 - 1 - log s^2)``.

    Parameters
    ----------
    mu, logvar : torch.Tensor, shape (..., D)
        Mean and log-variance of the first Gaussian (the encoder's ``q(z|x)``).
    mu_p, logvar_p : torch.Tensor or float, broadcastable to (..., D)
        Mean and log-variance of the second Gaussian (the prior). Default: N(0, I).

    Returns
    -------
    torch.Tensor, shape (...)
        One KL value per leading index (per example).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    mu_p, logvar_p = torch.as_tensor(mu_p, dtype=mu.dtype), torch.as_tensor(logvar_p, dtype=mu.dtype)
    per_dim = 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1.0)
    return per_dim.sum(dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``: a sample from N(mu, sigma^2).

    The randomness sits in ``eps``, which does not depend on the parameters, so gradients flow
    from ``z`` back into ``mu`` and ``logvar`` (the reparameterisation trick). This is the
    *latent sample*; the decoder is a separate network that maps it to data.

    Parameters
    ----------
    mu, logvar : torch.Tensor, shape (..., D)
        The same shape: one noise value is drawn per entry.
    generator : torch.Generator, optional
        For reproducible noise; it must live on the same device as ``mu``.

    Returns
    -------
    torch.Tensor, shape (..., D)

    Raises
    ------
    ValueError
        If ``mu`` and ``logvar`` differ in shape.
    """
    if mu.shape != logvar.shape:
        # Broadcasting would run, but wrongly: with mu (D,) and logvar (B, D) all B samples share
        # one noise draw, so they would be perfectly correlated instead of independent.
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same "
                         "shape (one mean and one log-variance per latent dimension); expand the "
                         "smaller one first, e.g. mu.expand_as(logvar).")
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps


class VAELoss(NamedTuple):
    """The negative ELBO and its two parts, each averaged over the batch (nats per example)."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             likelihood: str = "bernoulli", beta: float = 1.0) -> VAELoss:
    """Negative ELBO of a VAE with a standard-normal prior, per example, averaged over the batch.

    ``-ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))``, estimated with one sample ``z`` (the one
    the decoder turned into ``recon``). Sums run over every pixel and latent dimension, so the
    numbers are nats per example, comparable across batch sizes and with published results.

    Parameters
    ----------
    recon : torch.Tensor, shape (B, ...)
        Decoder output for ``z ~ q(z|x)``: **logits** for ``likelihood="bernoulli"`` (pixels in
        [0, 1]), means for ``likelihood="gaussian"`` (unit variance, constant term dropped).
    x : torch.Tensor, same shape as ``recon``
        The data.
    mu, logvar : torch.Tensor, shape (B, D)
        The encoder's Gaussian ``q(z|x)``.
    likelihood : {"bernoulli", "gaussian"}
    beta : float
        Weight of the KL term (1 is the ELBO; other values give a beta-VAE).

    Returns
    -------
    VAELoss
        ``(total, reconstruction, kl)``, scalars; minimise ``total``.

    Raises
    ------
    ValueError
        If the shapes do not fit together as above (including batch sizes that differ between
        ``x`` and ``mu``), or for an unknown ``likelihood``.
    """
    if recon.shape != x.shape:
        raise ValueError(f"recon {tuple(recon.shape)} and x {tuple(x.shape)} must have the same "
                         "shape; reshape the decoder output to the data's shape.")
    if x.ndim < 2:
        raise ValueError(f"x and recon need a batch dimension and at least one value per example, "
                         f"shape (B, ...); got {tuple(x.shape)}. For one example use x[None], for "
                         "one value per example x[:, None].")
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must both have "
                         "shape (B, D), one row per example; flatten a larger latent with "
                         "mu.flatten(1) and logvar.flatten(1).")
    if len(mu) != len(x):
        # Both terms are averaged over their own batch, so a mismatch would not fail anywhere; it
        # would add the KL of one batch to the reconstruction of another.
        raise ValueError(f"x has {len(x)} examples but mu and logvar have {len(mu)} rows; pass the "
                         "encoder outputs of the same batch that recon reconstructs.")
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(recon, x, reduction="none")
    elif likelihood == "gaussian":
        nll = 0.5 * (recon - x) ** 2
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
    reconstruction = nll.flatten(1).sum(dim=1).mean()
    kl = gaussian_kl(mu, logvar).mean()
    return VAELoss(reconstruction + beta * kl, reconstruction, kl)
