"""GAN models for 28x28 digits: the seed articles' listings, and the corrected models.

Read top to bottom:

* the seeds' three GAN listings translated faithfully (``article_*``), defects included, so the
  chapter can run them and show what goes wrong (listed in ``book/errata.md``);
* :class:`MLPGenerator` / :class:`MLPDiscriminator`: seed 000's fully connected GAN, corrected;
* :class:`DCGANGenerator` / :class:`DCGANDiscriminator`: the convolutional GAN that seed 003
  intends (transposed convolutions and batch norm), for 28x28 images;
* the class-conditional variants of both (``num_classes=10``): the generator embeds the label
  and appends it to the noise, the discriminator adds a *projection* term (Miyato & Koyama,
  2018), the inner product of a label embedding with its features;
* :func:`sample_digits`: digits from the generator shipped with the package.

Generators map noise ``z`` of shape ``(N, z_dim)`` to images ``(N, 1, 28, 28)`` in ``[-1, 1]``
(a ``tanh`` output, as the seeds' ``x / 127.5 - 1`` data); discriminators return **logits**
``(N,)``, as :mod:`bmcourse.losses` expects. How they are trained is in
:mod:`bmcourse.training.gan` and :mod:`bmcourse.training.recipes.gan`.
"""
from __future__ import annotations


import torch
from torch import nn

from ..runtime import get_device
from .weights import WEIGHTS_DIR, load_shipped

__all__ = ["article_mlp_generator", "article_mlp_discriminator", "article_002_generator",
           "article_002_discriminator", "article_conv_generator", "article_conv_discriminator",
           "MLPGenerator", "MLPDiscriminator", "DCGANGenerator", "DCGANDiscriminator",
           "MinibatchStdDev", "build_generator", "pretrained_generator", "sample_digits",
           "GENERATOR_PATH",
           "GENERATOR_SHA256"]

# Written by `python -m bmcourse train gan-mnist`, which prints the hash to paste here.
GENERATOR_PATH = WEIGHTS_DIR / "gan_mnist.pt"
GENERATOR_SHA256 = "71dc403b939be9f01f7d43d8d8325956c5cc25ef1882dfb6b59bfbabb86fb1ee"


# ---------------------------------------------------------------------------- the seeds' listings

class KerasDense(nn.Linear):
    """Keras ``Dense``: a linear layer on the **last** axis of a channels-last tensor.

    ``nn.Linear`` does the same, which is the point: on an image ``(N, 28, 28, 1)`` it maps
    every pixel separately, it does not flatten the image first.
    """


class KerasReshape(nn.Module):
    """Keras ``Reshape(shape)``: ``(N, ...) -> (N, *shape)``; fails when the sizes differ."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), *self.shape)


def article_mlp_generator(z_dim: int = 100) -> nn.Sequential:
    """Seed 000 §5.2's generator: Dense 128-256-512-1024 with LeakyReLU(0.01), tanh, 28x28x1.

    Translated layer by layer (``Flatten`` after the 1024-unit layer does nothing to a flat
    vector and is kept); channels last, as in Keras: ``(N, z_dim) -> (N, 28, 28, 1)``.
    """
    return nn.Sequential(
        nn.Linear(z_dim, 128), nn.LeakyReLU(0.01),
        nn.Linear(128, 256), nn.LeakyReLU(0.01),
        nn.Linear(256, 512), nn.LeakyReLU(0.01),
        nn.Linear(512, 1024), nn.LeakyReLU(0.01),
        nn.Flatten(),
        nn.Linear(1024, 28 * 28), nn.Tanh(),
        KerasReshape(28, 28, 1),
    )


def article_mlp_discriminator() -> nn.Sequential:
    """Seed 000 §5.2's discriminator: Flatten, Dense 512-256-128 with LeakyReLU(0.01), sigmoid.

    ``(N, 28, 28, 1) -> (N, 1)`` **probabilities** (the seed's final sigmoid is kept).
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512), nn.LeakyReLU(0.01),
        nn.Linear(512, 256), nn.LeakyReLU(0.01),
        nn.Linear(256, 128), nn.LeakyReLU(0.01),
        nn.Linear(128, 1), nn.Sigmoid(),
    )


def article_002_generator(noise_dim: int = 100) -> nn.Sequential:
    """Seed 002 (second version) §3.2.3's generator: Dense layers between Reshapes.

    ``Dense(128*7*7) -> Reshape(7, 7, 128) -> Dense(256*4*4) -> Reshape(4, 4, 256) -> ...``.
    Keras' ``Dense`` acts on the last axis, so the second Dense turns ``(7, 7, 128)`` into
    ``(7, 7, 4096)``, which ``Reshape(4, 4, 256)`` cannot hold: calling this model raises
    ``RuntimeError``, as building it in Keras raises ``ValueError``. Each
    ``Dense(activation="relu")`` is followed by a LeakyReLU, as in the seed.
    """
    return nn.Sequential(
        KerasDense(noise_dim, 128 * 7 * 7), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasReshape(7, 7, 128),
        KerasDense(128, 256 * 4 * 4), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasReshape(4, 4, 256),
        KerasDense(256, 512 * 2 * 2), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasReshape(2, 2, 512),
        KerasDense(512, 1), nn.Sigmoid(),
    )


def article_002_discriminator() -> nn.Sequential:
    """Seed 002 (second version) §3.2.3's discriminator: Dense layers on the image, no Flatten.

    Input ``(N, 28, 28, 1)``; every Dense maps each pixel on its own, so the output is
    ``(N, 28, 28, 1)``: one "probability" per pixel instead of one per image.
    """
    return nn.Sequential(
        KerasDense(1, 512), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasDense(512, 256), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasDense(256, 128), nn.ReLU(), nn.LeakyReLU(0.3),
        KerasDense(128, 1), nn.Sigmoid(),
    )


def article_conv_generator(z_dim: int = 100) -> nn.Sequential:
    """Seed 003 §5.2's generator: Dense -> 7x7x128 -> two stride-2 transposed convolutions.

    Keras' ``Conv2DTranspose(128, 5, strides=2, padding="same")`` doubles the side; in PyTorch
    that is ``padding=2, output_padding=1``. The last layer is the seed's
    ``Conv2D(3, 7, activation="tanh")``: **three** channels, ``(N, 3, 28, 28)``.
    """
    return nn.Sequential(
        nn.Linear(z_dim, 7 * 7 * 128), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 128, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(128, 128, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
        nn.Conv2d(128, 3, 7, padding=3), nn.Tanh(),
    )


def _keras_same(kernel: int, stride: int, side: int) -> nn.ZeroPad2d:
    """The zero padding of Keras' ``padding="same"`` (the extra pixel goes right and below)."""
    out = -(-side // stride)
    total = max((out - 1) * stride + kernel - side, 0)
    return nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2))


def article_conv_discriminator() -> nn.Sequential:
    """Seed 003 §5.2's discriminator as it would run if its LeakyReLU lines were dropped.

    The seed writes ``x = layers.LeakyReLU(alpha=0.01)``, which binds the *layer object* to
    ``x`` without applying it; the next ``Conv2D(...)(x)`` then fails. What remains is
    ``Conv 64@3 -> Conv 128@4/2 -> Conv 256@4/2 -> Conv 512@4/2``, all ReLU, and a last
    ``Conv2D(1, 4, padding="same", activation="sigmoid")``. Input ``(N, 1, 28, 28)``; output
    ``(N, 1, 4, 4)``: sixteen probabilities per image.
    """
    return nn.Sequential(
        nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(),
        _keras_same(4, 2, 28), nn.Conv2d(64, 128, 4, stride=2), nn.ReLU(),
        _keras_same(4, 2, 14), nn.Conv2d(128, 256, 4, stride=2), nn.ReLU(),
        _keras_same(4, 2, 7), nn.Conv2d(256, 512, 4, stride=2), nn.ReLU(),
        _keras_same(4, 1, 4), nn.Conv2d(512, 1, 4), nn.Sigmoid(),
    )


# ---------------------------------------------------------------------------- shared pieces

def _check_labels(labels, n: int, num_classes: int, who: str):
    if num_classes == 0:
        if labels is not None:
            raise ValueError(f"this {who} is unconditional (num_classes=0) but got labels; build "
                             "it with num_classes=10 to condition on digits.")
        return None
    if labels is None:
        raise ValueError(f"this {who} is conditional (num_classes={num_classes}): pass labels, "
                         f"an int tensor of shape ({n},).")
    if labels.shape != (n,) or labels.is_floating_point():
        raise ValueError(f"labels must be integer class indices of shape ({n},), got "
                         f"{tuple(labels.shape)} {labels.dtype}.")
    return labels

def _generator_input(generator: nn.Module, z: torch.Tensor, labels) -> torch.Tensor:
    """Check the noise ``(N, z_dim)`` and, for a conditional generator, append the label embedding."""
    if z.ndim != 2 or z.shape[1] != generator.z_dim:
        raise ValueError(f"z must have shape (N, {generator.z_dim}), got {tuple(z.shape)}.")
    labels = _check_labels(labels, len(z), generator.num_classes, "generator")
    if labels is not None:
        z = torch.cat([z, generator.embed(labels)], dim=1)
    return z

def _discriminator_logits(discriminator: nn.Module, x: torch.Tensor, labels) -> torch.Tensor:
    """``head(body(x))``, plus the projection term of the label for a conditional discriminator."""
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"x must have shape (N, 1, 28, 28), got {tuple(x.shape)}.")
    labels = _check_labels(labels, len(x), discriminator.num_classes, "discriminator")
    h = discriminator.body(x)
    logits = discriminator.head(h).squeeze(1)
    return logits if labels is None else logits + discriminator.project(h, labels)




class MinibatchStdDev(nn.Module):
    """Append one feature: the average standard deviation of the features across the batch.

    Karras et al. (2018). A collapsed generator makes every sample alike, so the spread of a
    generated batch is smaller than a real one's; with this feature the discriminator can see
    it, and the generator is pushed to vary its samples. ``(N, C, H, W) -> (N, C + 1, H, W)``,
    or ``(N, C) -> (N, C + 1)`` for flat features.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.std(dim=0, unbiased=False).mean()  # one number for the whole batch
        return torch.cat([x, spread.expand(len(x), 1, *x.shape[2:])], dim=1)


class _Projection(nn.Module):
    """The conditional discriminator's label term ``<embed(y), h>`` (projection discriminator)."""

    def __init__(self, num_classes: int, features: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels) * h).sum(dim=1)


# ---------------------------------------------------------------------------- the MLP GAN

class MLPGenerator(nn.Module):
    """Seed 000's fully connected generator, corrected: ``z -> 128 -> 256 -> 512 -> 1024 -> 784``.

    With ``batch_norm=True`` each hidden layer after the first is batch-normalised, the classic
    MLP GAN of the PyTorch-GAN collection (Linder-Norén); LeakyReLU(0.2) everywhere.

    Parameters
    ----------
    z_dim : int
    hidden : tuple of int
    batch_norm : bool
    num_classes : int
        0: unconditional. Otherwise ``forward(z, labels)`` appends a learned label embedding
        (``z_dim`` wide) to the noise.
    """

    def __init__(self, z_dim: int = 100, hidden=(128, 256, 512, 1024), batch_norm: bool = True,
                 num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        layers, width = [], z_dim * (2 if num_classes else 1)
        for i, out in enumerate(hidden):
            layers.append(nn.Linear(width, out))
            if batch_norm and i > 0:
                layers.append(nn.BatchNorm1d(out, momentum=0.2))  # PyTorch-GAN's setting
            layers.append(nn.LeakyReLU(0.2))
            width = out
        layers += [nn.Linear(width, 28 * 28), nn.Tanh(), nn.Unflatten(1, (1, 28, 28))]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in ``[-1, 1]`` from noise ``(N, z_dim)``."""
        return self.net(_generator_input(self, z, labels))


class MLPDiscriminator(nn.Module):
    """Seed 000's fully connected discriminator, corrected: ``784 -> 512 -> 256 -> 128 -> 1`` logits.

    LeakyReLU(0.2), no final sigmoid (the losses take logits). ``hidden=(512, 256)`` gives the
    PyTorch-GAN reference discriminator.

    Parameters
    ----------
    hidden : tuple of int
    num_classes : int
        0: unconditional; otherwise ``forward(x, labels)`` adds a projection term.
    minibatch_std : bool
        Append :class:`MinibatchStdDev` to the last hidden layer (against mode collapse).
    """

    def __init__(self, hidden=(512, 256, 128), num_classes: int = 0, minibatch_std: bool = False):
        super().__init__()
        self.num_classes = num_classes
        layers, width = [nn.Flatten()], 28 * 28
        for out in hidden:
            layers += [nn.Linear(width, out), nn.LeakyReLU(0.2)]
            width = out
        if minibatch_std:
            layers.append(MinibatchStdDev())
            width += 1
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)
        self.project = _Projection(num_classes, width) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N,)`` for images ``(N, 1, 28, 28)``."""
        return _discriminator_logits(self, x, labels)


# ---------------------------------------------------------------------------- the DCGAN

class DCGANGenerator(nn.Module):
    """A DCGAN generator for 28x28: ``z -> 7x7 -> 14x14 -> 28x28`` by transposed convolutions.

    ``Linear(z -> 2w·7·7) -> BN -> ReLU -> ConvT(2w -> w, 4, stride 2) -> BN -> ReLU ->
    ConvT(w -> 1, 4, stride 2) -> tanh`` (Radford et al., 2016): each stride-2 transposed
    convolution doubles the side; batch norm everywhere except the output keeps the
    activations in range. The seed 003 generator's idea with one channel and batch norm.

    Parameters
    ----------
    z_dim : int
    width : int
        ``w``: channels of the 14x14 map (the 7x7 map has ``2w``).
    num_classes : int
        0: unconditional. Otherwise ``forward(z, labels)`` appends a label embedding to ``z``.
    """

    def __init__(self, z_dim: int = 64, width: int = 64, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.embed = nn.Embedding(num_classes, z_dim) if num_classes else None
        self.net = nn.Sequential(
            nn.Linear(z_dim * (2 if num_classes else 1), 2 * width * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * width, 7, 7)), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(N, 1, 28, 28)`` in ``[-1, 1]`` from noise ``(N, z_dim)``."""
        return self.net(_generator_input(self, z, labels))


class DCGANDiscriminator(nn.Module):
    """A DCGAN discriminator for 28x28: two stride-2 convolutions, then one logit.

    ``Conv(1 -> w, 4, stride 2) -> LeakyReLU -> Conv(w -> 2w, 4, stride 2) -> LeakyReLU ->
    Linear(2w·7·7 -> 1)``. No batch norm: with spectral norm (Miyato et al., 2018) each
    layer's largest singular value is divided out, which bounds how sharply ``D`` can change
    and keeps its gradients useful to the generator.

    Parameters
    ----------
    width : int
    num_classes : int
        0: unconditional; otherwise ``forward(x, labels)`` adds a projection term.
    spectral_norm : bool
    minibatch_std : bool
        Insert :class:`MinibatchStdDev` before the last convolution (against mode collapse).
    """

    def __init__(self, width: int = 64, num_classes: int = 0, spectral_norm: bool = True,
                 minibatch_std: bool = False):
        super().__init__()
        self.num_classes = num_classes
        norm = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        self.body = nn.Sequential(
            norm(nn.Conv2d(1, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            *([MinibatchStdDev()] if minibatch_std else []),
            norm(nn.Conv2d(width + int(minibatch_std), 2 * width, 4, stride=2, padding=1)),
            nn.LeakyReLU(0.2), nn.Flatten(),
        )
        self.head = norm(nn.Linear(2 * width * 7 * 7, 1))
        self.project = _Projection(num_classes, 2 * width * 7 * 7) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(N,)`` for images ``(N, 1, 28, 28)``."""
        return _discriminator_logits(self, x, labels)


# ---------------------------------------------------------------------------- the shipped generator

def build_generator(config: dict) -> nn.Module:
    """A generator from the ``config`` dict a GAN recipe stores in its checkpoint."""
    kinds = {"dcgan": DCGANGenerator, "mlp": MLPGenerator}
    config = dict(config)
    kind = config.pop("kind")
    if kind not in kinds:
        raise ValueError(f"unknown generator kind {kind!r}; expected one of {sorted(kinds)}.")
    return kinds[kind](**config)


def pretrained_generator(device=None) -> nn.Module:
    """The conditional DCGAN generator shipped with bmcourse, in eval mode and frozen.

    Loads ``bmcourse/models/weights/gan_mnist.pt`` (made by ``python -m bmcourse train
    gan-mnist``) after checking its SHA-256, with ``weights_only=True``; the weights are the
    exponential moving average of the generator's weights over training.

    Raises
    ------
    FileNotFoundError
        When the shipped file is missing or does not match its hash; the message says how to
        make it again.
    """
    device = get_device(str(device)) if device is not None else get_device()
    state, problem = load_shipped(GENERATOR_PATH, GENERATOR_SHA256)
    if state is None:
        raise FileNotFoundError(f"Shipped GAN generator not usable ({problem}). Reinstall bmcourse, "
                                "or run `python -m bmcourse train gan-mnist` and record the "
                                "printed SHA-256 in bmcourse/models/gan.py.")
    generator = build_generator(state["config"])
    generator.load_state_dict(state["generator"])
    generator.info = dict(state["info"])
    return generator.to(device).eval().requires_grad_(False)


@torch.no_grad()
def sample_digits(n: int, labels=None, device=None, seed: int = 0) -> torch.Tensor:
    """``n`` generated digits from the shipped generator, as pixels in ``[0, 1]``.

    Parameters
    ----------
    n : int
        How many, at least 1.
    labels : int, sequence of int or tensor (n,), optional
        The digit of each sample (one int: all the same digit). Default: drawn uniformly from
        0-9 with ``seed``.
    device : optional
        Where to compute; defaults to :func:`bmcourse.get_device`.
    seed : int
        Seeds the noise (and the labels when drawn): the same call gives the same digits.

    Returns
    -------
    torch.Tensor
        ``(n, 1, 28, 28)`` float32 on ``device``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}.")
    generator = pretrained_generator(device)
    device = next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.z_dim, generator=rng)
    if labels is None:
        labels = torch.randint(0, 10, (n,), generator=rng)
    labels = torch.as_tensor(labels, dtype=torch.long).cpu()
    if labels.ndim == 0:
        labels = labels.expand(n)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"labels must be one digit or {n} digits in 0-9, got shape "
                         f"{tuple(labels.shape)}.")
    images = generator(z.to(device), labels.to(device) if generator.num_classes else None)
    return (images + 1) / 2
