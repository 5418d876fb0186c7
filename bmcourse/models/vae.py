"""A variational autoencoder for 28x28 digits (Kingma & Welling, 2014), and the shipped one.

:class:`VAE` is the fully connected model of the original paper and of the pytorch/examples
VAE: ``784 -> 400 -> (mu, log sigma^2)`` in 20 dimensions, and ``20 -> 400 -> 784`` back.
``VAE(latent_dim=2)`` is the variant whose latent space can be drawn on a page.

The decoder outputs Bernoulli **logits** per pixel, which is what
:func:`bmcourse.losses.vae_loss` takes; :meth:`VAE.decode` turns them into pixels in
``[0, 1]``. How the model is trained is in :mod:`bmcourse.training.recipes.vae`.
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses import reparameterize
from ..runtime import get_device
from .weights import WEIGHTS_DIR, load_shipped

__all__ = ["VAE", "pretrained_vae", "VAE_PATH", "VAE_SHA256"]

# Written by `python -m bmcourse train vae-mnist`, which prints the hash to paste here.
VAE_PATH = WEIGHTS_DIR / "vae_mnist.pt"
VAE_SHA256 = "e9f18887d74fe8aef379edec04e87f1bedb4e18a8dc82651bac06bd4b392071e"


class VAE(nn.Module):
    """Fully connected VAE: Gaussian encoder ``q(z|x)``, Bernoulli decoder ``p(x|z)``.

    Parameters
    ----------
    hidden : int
        Width of the one hidden layer on each side (400 in the paper).
    latent_dim : int
        Dimensions of ``z`` (20 in the paper; 2 for a latent map).

    Notes
    -----
    Images are ``(N, 1, 28, 28)`` with pixels in ``[0, 1]``, read as probabilities of a
    black-and-white pixel being on.
    """

    def __init__(self, hidden: int = 400, latent_dim: int = 20):
        super().__init__()
        self.hidden, self.latent_dim = hidden, latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 28 * 28), nn.Unflatten(1, (1, 28, 28)))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z|x)``, each ``(N, latent_dim)``, for images ``(N, 1, 28, 28)``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"x must have shape (N, 1, 28, 28), got {tuple(x.shape)}; reshape flat "
                             "vectors with x.view(-1, 1, 28, 28).")
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits ``(N, 1, 28, 28)`` of ``p(x|z)`` for codes ``(N, latent_dim)``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities ``(N, 1, 28, 28)`` in ``[0, 1]`` (the mean of ``p(x|z)``)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, mu, logvar)``: the decoding of one sample ``z ~ q(z|x)`` and ``q``'s parameters.

        It samples in eval mode too: the one-sample estimate of the ELBO needs ``z ~ q``
        (decoding ``mu`` instead would not give a bound). :meth:`reconstruct` decodes ``mu``.
        """
        mu, logvar = self.encode(x)
        return self.decode_logits(reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``(N, 1, 28, 28)`` in ``[0, 1]``: decode the mean code of each image."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images ``(n, 1, 28, 28)`` in ``[0, 1]``: decode ``z ~ N(0, I)``."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.decode(z)


def pretrained_vae(device=None) -> VAE:
    """The 20-dimensional VAE shipped with bmcourse, in eval mode and frozen.

    Loads ``bmcourse/models/weights/vae_mnist.pt`` (made by ``python -m bmcourse train
    vae-mnist``) after checking its SHA-256, with ``weights_only=True``. Use ``encode(x)``,
    ``decode(z)`` and ``reconstruct(x)`` on images ``(N, 1, 28, 28)`` in ``[0, 1]``.

    Raises
    ------
    FileNotFoundError
        When the shipped file is missing or does not match its hash.
    """
    device = get_device(str(device)) if device is not None else get_device()
    state, problem = load_shipped(VAE_PATH, VAE_SHA256)
    if state is None:
        raise FileNotFoundError(f"Shipped VAE not usable ({problem}). Reinstall bmcourse, or run "
                                "`python -m bmcourse train vae-mnist` and record the printed "
                                "SHA-256 in bmcourse/models/vae.py.")
    model = VAE(**state["config"])
    model.load_state_dict(state["model"])
    model.info = dict(state["info"])
    return model.to(device).eval().requires_grad_(False)
