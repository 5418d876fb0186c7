"""The GAN chapter's recipes: train a digit GAN, judge it, and write the shipped generator.

* :class:`DigitJudge` scores generated digits with the CNN chapter's classifier (classifier
  Inception Score, Fréchet distance on its features, digit histogram);
* :func:`train_digit_gan` trains any generator/discriminator pair on MNIST with
  :func:`bmcourse.training.gan.train_gan` and scores it every ``eval_every`` steps;
* :func:`train_conditional_dcgan` is our recipe: a small class-conditional DCGAN with a
  spectrally normalised projection discriminator and an EMA of the generator;
* :func:`train_gan_mnist` (``python -m bmcourse train gan-mnist``) writes the shipped
  generator.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from ...files import sha256_of
from ...metrics import calibrate_temperature, score_digits
from ...models.cnn import mnist_classifier
from ...models.gan import GENERATOR_PATH, DCGANDiscriminator, DCGANGenerator
from ...progress import tqdm
from ...runtime import get_device, seed_everything
from ..checkpoint import save_checkpoint
from ..gan import train_gan
from .registry import recipe

__all__ = ["DigitJudge", "train_digit_gan", "train_conditional_dcgan", "train_gan_mnist"]


class DigitJudge:
    """Scores generated digits with the MNIST classifier, against real held-out digits.

    The classifier was trained with label smoothing, so its raw probabilities are deliberately
    unsure (about 0.91 on the right digit) and would cap the Inception Score of *real* digits
    near 6. The judge first calibrates a temperature on the held-out digits
    (:func:`bmcourse.metrics.calibrate_temperature`), then scores with ``logits / T``.

    Parameters
    ----------
    data : bmcourse.data.ImageDataset
        MNIST; its test split is the real reference.
    device : optional
    classifier : optional
        Defaults to :func:`bmcourse.models.cnn.mnist_classifier`.

    Attributes
    ----------
    temperature : float
    real : dict
        The real held-out digits' own scores (``is``, ``histogram``).
    """

    def __init__(self, data, device=None, classifier=None):
        device = get_device(str(device)) if device is not None else get_device()
        self.classifier = classifier or mnist_classifier(device, verbose=False)
        x_test = data.x_test.to(device)
        with torch.no_grad():
            logits = torch.cat([self.classifier(chunk) for chunk in x_test.split(500)])
        self.temperature = calibrate_temperature(logits, data.y_test)
        self.real = score_digits(x_test, self.classifier, temperature=self.temperature)
        self.real_features = self.real.pop("features")

    def __call__(self, images: torch.Tensor) -> dict:
        """``is``, ``fd`` and ``histogram`` of images ``(N, 1, 28, 28)`` in ``[0, 1]``."""
        scores = score_digits(images, self.classifier, self.real_features, self.temperature)
        scores.pop("features")
        return scores


def _endless_batches(x, y, batch_size, generator):
    """Shuffled ``(x, y)`` batches forever, a new order every pass, drawn from ``generator``.

    Only full batches: a small last batch would give batch norm noisy statistics.
    """
    if len(x) < batch_size:
        raise ValueError(f"batch_size {batch_size} is larger than the {len(x)} training images.")
    while True:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            index = order[i:i + batch_size]
            yield x[index], y[index]


@torch.no_grad()
def generate(generator, n: int, z_dim: int, device, seed: int = 1234, conditional: bool = False,
             batch_size: int = 500) -> torch.Tensor:
    """``n`` samples in ``[0, 1]`` from fixed noise (labels 0-9 in turn if conditional)."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, z_dim, generator=rng).to(device)
    labels = torch.arange(n, device=device) % 10 if conditional else None
    was_training = generator.training
    generator.eval()
    try:
        images = torch.cat([generator(z[i:i + batch_size],
                                      *(() if labels is None else (labels[i:i + batch_size],)))
                            for i in range(0, n, batch_size)])
    finally:
        generator.train(was_training)
    return (images + 1) / 2


def train_digit_gan(generator, discriminator, data, *, steps: int, batch_size: int = 64,
                    lr_g: float = 2e-4, lr_d: float = 2e-4, betas=(0.5, 0.999),
                    conditional: bool = False, ema_decay: float | None = None,
                    real_label: float = 1.0, saturating: bool = False, judge=None,
                    eval_every: int = 500, eval_samples: int = 1000, stop_at_is: float | None = None,
                    time_limit: float | None = None, on_eval=None, seed: int = 0, device=None,
                    progress: bool = True) -> dict:
    """Train a GAN on MNIST digits and score it every ``eval_every`` steps.

    Pixels are scaled to ``[-1, 1]`` (the generators end in tanh); the data stays on the
    device. Every evaluation draws ``eval_samples`` digits from the same fixed noise.

    Parameters
    ----------
    generator, discriminator : nn.Module
        Taking ``(z)`` and ``(x)``, or ``(z, labels)`` and ``(x, labels)`` with
        ``conditional=True``. ``generator.z_dim`` gives the noise width.
    data : bmcourse.data.ImageDataset
    steps : int
        GAN steps (one discriminator and one generator update each).
    batch_size : int
    lr_g, lr_d : float
        Adam learning rates.
    betas : tuple of float
        Adam's betas; ``beta1 = 0.5`` is the DCGAN setting.
    ema_decay : float, optional
        Keep an exponential moving average of the generator and evaluate (and return) it.
    real_label, saturating :
        Passed to :func:`bmcourse.training.gan.gan_step`.
    judge : DigitJudge, optional
        Scores the samples; built from ``data`` when missing.
    eval_every, eval_samples : int
    stop_at_is : float, optional
        Stop at the first evaluation with classifier IS at least this.
    time_limit : float, optional
        Stop at the first evaluation after this many seconds of training.
    on_eval : callable, optional
        ``on_eval(step, generator, scores)`` after every evaluation, e.g. to keep a sample grid
        (``generator`` is the EMA copy when there is one).
    seed : int
    device : optional
    progress : bool

    Returns
    -------
    dict
        ``generator`` (the EMA copy when ``ema_decay`` is set), ``discriminator``,
        ``history`` (per-step ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``) and ``evals``
        (dict of lists: ``step``, ``seconds`` of training so far, ``is``, ``fd``,
        ``histogram``).
    """
    device = get_device(str(device)) if device is not None else get_device()
    rng = seed_everything(seed)
    judge = judge or DigitJudge(data, device)
    generator, discriminator = generator.to(device), discriminator.to(device)
    ema = copy.deepcopy(generator).requires_grad_(False) if ema_decay else None
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    x = data.x_train.to(device) * 2 - 1
    y = data.y_train.to(device)
    batches = _endless_batches(x, y, batch_size, rng)
    z_dim = generator.z_dim
    noise_rng = torch.Generator(device=device).manual_seed(seed + 1)

    def sample_noise(n, where):
        return torch.randn(n, z_dim, device=where, generator=noise_rng)

    history = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    evals = {"step": [], "seconds": [], "is": [], "fd": [], "histogram": []}
    trained_seconds, done = 0.0, 0
    bar = tqdm(total=steps, desc="GAN", disable=not progress)
    while done < steps:
        chunk = min(eval_every, steps - done)
        start = time.perf_counter()
        part = train_gan(generator, discriminator, opt_g, opt_d, batches, sample_noise, chunk,
                         saturating=saturating, conditional=conditional, real_label=real_label,
                         ema=ema, ema_decay=ema_decay or 0.999)
        trained_seconds += time.perf_counter() - start
        done += chunk
        for key in history:
            history[key] += part[key]
        scores = judge(generate(ema or generator, eval_samples, z_dim, device,
                                conditional=conditional))
        for key, value in (("step", done), ("seconds", trained_seconds), ("is", scores["is"]),
                           ("fd", scores["fd"]), ("histogram", scores["histogram"])):
            evals[key].append(value)
        if on_eval is not None:
            on_eval(done, ema or generator, scores)
        bar.update(chunk)
        bar.set_postfix(IS=f"{scores['is']:.2f}", FD=f"{scores['fd']:.1f}")
        if (stop_at_is is not None and scores["is"] >= stop_at_is) or \
                (time_limit is not None and trained_seconds >= time_limit):
            break
    bar.close()
    return {"generator": ema or generator, "discriminator": discriminator, "history": history,
            "evals": evals}


# Our recipe's settings, measured on the bundled 4,000 digits (see benchmarks/gan_mnist.py).
DCGAN_CONFIG = {"kind": "dcgan", "z_dim": 64, "width": 32, "num_classes": 10}


def train_conditional_dcgan(data, *, steps: int = 3000, batch_size: int = 64, width: int = 32,
                            z_dim: int = 64, lr: float = 2e-4, ema_decay: float = 0.999,
                            minibatch_std: bool = False, **kwargs) -> dict:
    """Our recipe: a class-conditional DCGAN with spectral norm, projection and generator EMA.

    Conditioning on the digit makes every digit appear by construction (labels are drawn in
    proportion to the data); spectral norm keeps the discriminator's gradients informative;
    the EMA of the generator smooths the oscillation of adversarial training. Adam
    ``(lr, betas=(0.5, 0.999))``, non-saturating loss.

    Parameters
    ----------
    data : bmcourse.data.ImageDataset
    steps, batch_size, width, z_dim : int
    lr : float
    ema_decay : float
    minibatch_std : bool
        Give the discriminator a minibatch standard-deviation feature (against the generator
        ignoring its noise within a digit).
    **kwargs
        Passed to :func:`train_digit_gan` (``judge``, ``eval_every``, ``stop_at_is``, ...).

    Returns
    -------
    dict
        As :func:`train_digit_gan`, plus ``config`` (what :func:`bmcourse.models.gan.build_generator`
        needs).
    """
    config = dict(DCGAN_CONFIG, z_dim=z_dim, width=width)
    generator = DCGANGenerator(z_dim=z_dim, width=width, num_classes=10)
    discriminator = DCGANDiscriminator(width=width, num_classes=10, spectral_norm=True,
                                       minibatch_std=minibatch_std)
    run = train_digit_gan(generator, discriminator, data, steps=steps, batch_size=batch_size,
                          lr_g=lr, lr_d=lr, conditional=True, ema_decay=ema_decay, **kwargs)
    return dict(run, config=config)


@recipe("gan-mnist")
def train_gan_mnist(out: str | Path = GENERATOR_PATH, *, source: str = "auto", device: str = "cpu",
                    seed: int = 0, steps: int = 4000, progress: bool = True) -> tuple[Path, dict]:
    """Train the conditional DCGAN that bmcourse ships and write its generator to ``out``.

    What ``python -m bmcourse train gan-mnist`` runs. The checkpoint holds the EMA generator's
    float32 state dict, its ``config`` and an ``info`` dict (data, steps, final classifier IS
    and FD), all loadable with ``torch.load(..., weights_only=True)``.

    Returns
    -------
    path : pathlib.Path
    info : dict
        Includes ``sha256``, the hash to record in ``bmcourse.models.gan.GENERATOR_SHA256``,
        and ``history``, the scores at every evaluation.
    """
    from ...data.mnist import load_mnist

    data = load_mnist(source=source)
    run = train_conditional_dcgan(data, steps=steps, seed=seed, device=device, progress=progress)
    evals = run["evals"]
    info = {"data": data.source, "steps": evals["step"][-1], "seed": seed,
            "classifier_is": float(evals["is"][-1]), "fd": float(evals["fd"][-1]),
            "command": f"python -m bmcourse train gan-mnist --source {source} --seed {seed}"}
    state = {name: t.detach().cpu() for name, t in run["generator"].state_dict().items()}
    path = save_checkpoint(out, generator=state, config=run["config"], info=info)
    return path, dict(info, sha256=sha256_of(path), history=evals,
                      record_in="bmcourse/models/gan.py (GENERATOR_SHA256)")
