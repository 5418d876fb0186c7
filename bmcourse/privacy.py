"""Differentially private training: per-sample gradients, DP-SGD and its privacy accountant.

DP-SGD (Abadi et al., 2016) changes one step of stochastic gradient descent so that no single
training example can move the weights much, and then hides that bounded influence in noise:

1. sample a batch: every example joins independently with probability ``q`` (Poisson sampling,
   :class:`PoissonBatches`);
2. compute each example's own gradient ``g_i`` (:func:`per_sample_grads`, with ``torch.func``);
3. clip each one to norm at most ``C``: ``g_i · min(1, C / ||g_i||)``, the norm taken over all
   parameters together (:func:`clip_per_sample`);
4. add Gaussian noise ``N(0, (σC)² I)`` to their sum and divide by the *expected* batch size
   ``qN`` (:func:`make_dp_step`, a ``step=`` for :func:`bmcourse.training.fit`).

How much privacy ``T`` such steps spend — the ``(ε, δ)`` of differential privacy — is computed by
Opacus's Rényi-DP accountant (:func:`epsilon`, and :func:`noise_multiplier_for` for the inverse),
whose analysis of the sampled Gaussian mechanism assumes exactly this Poisson sampling.

Opacus (``pip install opacus``) is needed only for the accountant and for the reference
functions the tests and the book compare against; it is imported when first used.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from .data.batches import check_batch_size, check_pair

__all__ = ["per_sample_grads", "clip_per_sample", "make_dp_step", "PoissonBatches", "epsilon",
           "noise_multiplier_for", "check_private_model",
           "opacus_per_sample_grads"]

# Opacus's clipping factor is C / (norm + 1e-6): the 1e-6 keeps a zero gradient from dividing
# by zero. We use the same so that our update matches Opacus's to rounding error.
_NORM_EPS = 1e-6


# ---------------------------------------------------------------------------- the model



def check_private_model(model: nn.Module) -> None:
    """Raise if ``model`` mixes the examples of a batch, so that it has no per-sample gradients.

    Batch norm normalises each example with statistics of the whole batch: one example's
    output, and so its gradient, depends on the others, and its influence cannot be clipped.

    Raises
    ------
    ValueError
        Naming the first batch-norm layer and the fix (as Opacus's ``ModuleValidator`` does).
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            raise ValueError(
                f"Layer {name!r} ({type(module).__name__}) normalises each example with the "
                "statistics of its whole batch, so an example's gradient depends on the other "
                "examples and cannot be clipped on its own: DP-SGD has no per-sample gradients "
                "for it. Replace it with nn.GroupNorm (opacus.validators.ModuleValidator.fix("
                "model) does this), nn.LayerNorm, or no normalisation.")


# ---------------------------------------------------------------------------- per-sample gradients

def _check_batch(x, y) -> None:
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and "
                        f"{type(y).__name__}; convert with torch.as_tensor.")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must hold the same number of examples along their first "
                         f"dimension, got shapes {tuple(x.shape)} and {tuple(y.shape)}.")


def _per_sample(model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor):
    """Per-sample gradients, losses ``(N,)`` and outputs ``(N, ...)``, in one vectorised pass."""
    check_private_model(model)
    _check_batch(x, y)
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    # Frozen parameters and buffers enter as constants: gradients only for what trains.
    constants = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    constants.update(dict(model.named_buffers()))

    def loss_of_one(params, x_i, y_i):
        # vmap hands us one example without its batch dimension; the model expects a batch.
        outputs = functional_call(model, (params, constants), (x_i.unsqueeze(0),))
        return loss_fn(outputs, y_i.unsqueeze(0)), outputs.squeeze(0)

    # randomness="different": dropout draws a fresh mask for every example, as in a batch.
    per_example = vmap(grad_and_value(loss_of_one, has_aux=True), in_dims=(None, 0, 0),
                       randomness="different")
    grads, (losses, outputs) = per_example(params, x, y)
    return grads, losses, outputs


def per_sample_grads(model: nn.Module, loss_fn: Callable, x: torch.Tensor,
                     y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gradient of each example's own loss, for every trainable parameter.

    ``torch.func.grad`` differentiates the loss of one example through
    ``functional_call(model, params, ...)``; ``vmap`` maps that over the batch, which runs it
    as batched operations rather than a Python loop.

    Parameters
    ----------
    model : nn.Module
        Without batch norm (see :func:`check_private_model`).
    loss_fn : callable
        ``loss_fn(outputs, targets)`` on a batch of one example, e.g. ``F.cross_entropy``.
    x : tensor, (N, ...)
        Inputs, on the model's device.
    y : tensor, (N, ...)
        Targets.

    Returns
    -------
    dict of str to tensor
        ``{name: (N, *param.shape)}`` for each parameter with ``requires_grad``, in the order
        of ``model.named_parameters()``: ``[name][i]`` is ``∂ loss_fn(model(x[i:i+1]),
        y[i:i+1]) / ∂ param``.

    Raises
    ------
    ValueError
        For a model with batch norm, or ``x`` and ``y`` of different lengths.

    Examples
    --------
    >>> model = torch.nn.Linear(3, 2)
    >>> grads = per_sample_grads(model, torch.nn.functional.cross_entropy,
    ...                          torch.randn(5, 3), torch.randint(0, 2, (5,)))
    >>> grads["weight"].shape
    torch.Size([5, 2, 3])
    """
    grads, _, _ = _per_sample(model, loss_fn, x, y)
    return grads


def clip_per_sample(grads: dict[str, torch.Tensor],
                    max_grad_norm: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Scale each example's gradient to norm at most ``max_grad_norm``, all parameters jointly.

    Example ``i``'s norm is ``||g_i|| = sqrt(sum over parameters of ||g_i[param]||²)``; its
    gradient is multiplied by ``min(1, C / (||g_i|| + 1e-6))`` (Opacus's factor), so that
    gradients shorter than ``C`` are left exactly as they are.

    Parameters
    ----------
    grads : dict of str to tensor
        Per-sample gradients ``{name: (N, ...)}``, as :func:`per_sample_grads` returns them.
    max_grad_norm : float
        The clipping norm ``C`` > 0.

    Returns
    -------
    clipped : dict of str to tensor
        Same shapes as ``grads``.
    norms : tensor, (N,)
        Each example's gradient norm before clipping.
    """
    if not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be a positive number, got {max_grad_norm!r}.")
    if not grads:
        raise ValueError("grads is empty: the model has no trainable parameters.")
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()], dim=1).norm(dim=1)
    factor = (max_grad_norm / (norms + _NORM_EPS)).clamp(max=1.0)
    clipped = {name: g * factor.view(-1, *[1] * (g.ndim - 1)) for name, g in grads.items()}
    return clipped, norms


# ---------------------------------------------------------------------------- the DP-SGD step

def make_dp_step(noise_multiplier: float, max_grad_norm: float, expected_batch_size: int,
                 generator: torch.Generator | None = None) -> Callable:
    """A DP-SGD step for :func:`bmcourse.training.fit` (``fit(..., step=make_dp_step(...))``).

    The step sets every parameter's gradient to
    ``(sum_i clip_C(g_i) + N(0, (σC)² I)) / expected_batch_size`` and lets the optimizer
    apply it. Dividing by the *expected* batch size ``qN``, not by the batch's actual size,
    matters: the actual size depends on who is in the batch, and would itself leak.

    Parameters
    ----------
    noise_multiplier : float
        σ >= 0: the noise's standard deviation in units of ``max_grad_norm``.
    max_grad_norm : float
        C > 0: each example's gradient is clipped to this L2 norm.
    expected_batch_size : int
        ``qN``: the ``batch_size`` passed to ``fit`` with a :class:`PoissonBatches` source.
    generator : torch.Generator, optional
        Where the noise comes from, on the parameters' device. Default: that device's global
        generator, which ``fit`` seeds on a fresh start and saves in its checkpoints, so a
        resumed run draws exactly the noise an uninterrupted one would have. (A seeded
        pseudo-random generator is right for teaching and for reproducible experiments; a
        deployment must draw noise no one can predict, as Opacus's ``secure_mode`` does.)

    Returns
    -------
    callable
        ``step(model, x, y, *, loss_fn, optimizer, scaler, autocast, clip_grad_norm,
        accumulate, update) -> (loss, outputs)``, the signature of
        :func:`bmcourse.training.train_step`. It computes in the parameters' dtype whatever
        ``autocast`` says (clipping needs accurate norms), and refuses fit's
        ``clip_grad_norm`` and ``accumulate`` (clipping is per example here; accumulate by
        raising ``batch_size``).

    Examples
    --------
    >>> step = make_dp_step(noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=256)
    >>> # fit(model, PoissonBatches(x, y), batch_size=256, epochs=5, step=step,
    >>> #     optimizer=torch.optim.SGD(model.parameters(), lr=0.25))
    """
    if isinstance(noise_multiplier, bool) or not (isinstance(noise_multiplier, (int, float))
                                                  and noise_multiplier >= 0):
        raise ValueError(f"noise_multiplier must be a number >= 0, got {noise_multiplier!r}.")
    if not (isinstance(max_grad_norm, (int, float)) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be a positive number, got {max_grad_norm!r}.")
    check_batch_size(expected_batch_size)
    noise_std = noise_multiplier * max_grad_norm

    def dp_sgd_step(model, x, y, *, loss_fn, optimizer, scaler=None, autocast=None,
                    clip_grad_norm=None, accumulate=1, update=True):
        if clip_grad_norm is not None:
            raise ValueError("DP-SGD clips every example's gradient itself (max_grad_norm); "
                             "do not also pass clip_grad_norm to fit.")
        if accumulate != 1 or not update:
            raise ValueError("The DP-SGD step updates after every batch: leave fit's "
                             "accumulate at 1 and raise batch_size instead.")
        params = [p for p in model.parameters() if p.requires_grad]
        if len(x) == 0:  # a Poisson batch can be empty: the update is then noise alone
            summed = [torch.zeros_like(p) for p in params]
            with torch.no_grad():
                outputs = model(x)
            loss = torch.zeros((), device=outputs.device)
        else:
            grads, losses, outputs = _per_sample(model, loss_fn, x, y)
            clipped, _ = clip_per_sample(grads, max_grad_norm)
            summed = [g.sum(dim=0) for g in clipped.values()]
            loss = losses.mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The loss became {loss.item()}. Lower the learning "
                                         "rate, or check the inputs for NaN values.")
        for p, total in zip(params, summed):
            noise = torch.normal(0.0, noise_std, size=p.shape, generator=generator,
                                 device=p.device, dtype=p.dtype) if noise_std > 0 else 0.0
            p.grad = (total + noise) / expected_batch_size
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach(), outputs.detach()

    dp_sgd_step.noise_multiplier = noise_multiplier
    dp_sgd_step.max_grad_norm = max_grad_norm
    dp_sgd_step.expected_batch_size = expected_batch_size
    return dp_sgd_step


# ---------------------------------------------------------------------------- Poisson sampling

class PoissonBatches:
    """Poisson-sampled batches of a tensor pair: a batch source for :func:`bmcourse.training.fit`.

    Each batch takes every example independently with probability ``q = batch_size / N``, so
    batch sizes vary around ``batch_size`` (binomially) and an example may sit in several
    batches of an epoch or in none. This is the sampling the RDP accountant's analysis of
    DP-SGD assumes. The usual shuffled fixed-size batches (every example exactly once per
    epoch) are *not* covered by that analysis: the ε it reports is then only an estimate, and
    it can understate the real privacy loss (Chua et al., 2024).

    One pass yields ``round(N / batch_size)`` batches (``N`` examples in expectation); ``fit``'s
    ``steps_per_epoch`` can set another number. Randomness comes from ``fit``'s generator,
    which its checkpoints save. With ``generator=None`` (evaluation) a pass yields every
    example once, in order.

    Parameters
    ----------
    x : tensor, (N, ...)
    y : tensor, (N, ...)

    Examples
    --------
    >>> source = PoissonBatches(torch.randn(1000, 3), torch.randint(0, 2, (1000,)))
    >>> sizes = [len(xb) for xb, _ in source.batches(100, torch.Generator().manual_seed(0), "cpu")]
    >>> len(sizes), source.sample_rate(100)
    (10, 0.1)
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        pair = check_pair((x, y), "PoissonBatches(x, y)")
        if pair is None:
            raise TypeError(f"PoissonBatches needs two tensors x and y, got {type(x).__name__} "
                            f"and {type(y).__name__}.")
        self.x, self.y = pair
        self._on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def num_examples(self) -> int:
        # Deliberately not __len__: fit would read a length as a number of batches.
        return len(self.x)

    def sample_rate(self, batch_size: int) -> float:
        """``q = batch_size / N``, the probability that an example joins a batch."""
        check_batch_size(batch_size)
        if batch_size > self.num_examples:
            raise ValueError(f"An expected batch size of {batch_size} exceeds the "
                             f"{self.num_examples} examples: the sample rate would be above 1. "
                             "Use a smaller batch_size.")
        return batch_size / self.num_examples

    def batches_per_pass(self, batch_size: int) -> int:
        """Batches in one pass, ``round(N / batch_size)``: the accountant's steps per epoch."""
        return max(1, round(1 / self.sample_rate(batch_size)))

    def _pair_on(self, device):
        key = str(device)
        if key not in self._on_device:  # move the data once, then gather batches there
            self._on_device[key] = (self.x.to(device), self.y.to(device))
        return self._on_device[key]

    def batches(self, batch_size: int, generator: torch.Generator | None, device):
        """Yield ``(x, y)`` batches on ``device``: Poisson samples, or one ordered pass.

        Parameters
        ----------
        batch_size : int
            The expected batch size ``qN``.
        generator : torch.Generator or None
            A CPU generator: ``round(N / batch_size)`` Poisson batches. ``None``: every
            example once, in order, in batches of ``batch_size``.
        device : torch.device or str
        """
        q = self.sample_rate(batch_size)
        x, y = self._pair_on(device)
        if generator is None:
            for start in range(0, len(x), batch_size):
                yield x[start:start + batch_size], y[start:start + batch_size]
            return
        for _ in range(self.batches_per_pass(batch_size)):
            chosen = torch.rand(len(x), generator=generator) < q
            index = chosen.nonzero().squeeze(1).to(x.device)
            yield x.index_select(0, index), y.index_select(0, index)

    def __repr__(self) -> str:
        return f"PoissonBatches({self.num_examples:,} examples)"


# ---------------------------------------------------------------------------- the accountant

def _opacus(what: str):
    try:
        import opacus  # noqa: F401  (checked here so the message can say how to install it)
    except ImportError:
        raise ImportError(f"{what} uses Opacus: pip install opacus") from None
    return opacus


@contextmanager
def _quiet_orders():
    """Silence Opacus's "Optimal order is the largest (smallest) alpha" warning.

    At very small (very large) ε the best Rényi order is the last (first) one Opacus tries:
    the ε it reports is then a little loose, but still a valid upper bound, which the warning
    would alarm a learner about.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the (largest|smallest) alpha",
                                category=UserWarning)
        yield


def _check_accounting(sample_rate, steps, delta) -> None:
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1] (batch size / examples), got "
                         f"{sample_rate!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}.")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), and well below 1 / (number of examples), "
                         f"got {delta!r}.")


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of DP-SGD after ``steps`` steps, from Opacus's Rényi-DP accountant.

    The accountant bounds the Rényi divergence of the sampled Gaussian mechanism at many
    orders α (Mironov et al., 2019), adds it up over the steps, and converts the total into
    an ``(ε, δ)`` guarantee, keeping the best order.

    Parameters
    ----------
    noise_multiplier : float
        σ >= 0 (σ = 0 means no privacy: ε is infinite).
    sample_rate : float
        q in (0, 1]: the Poisson sampling probability, ``batch_size / N``.
    steps : int
        Number of DP-SGD steps taken.
    delta : float
        δ in (0, 1); choose it well below ``1 / N``.

    Returns
    -------
    float
        ε, an upper bound on the privacy loss (a guarantee, not a measurement).
    """
    _check_accounting(sample_rate, steps, delta)
    if not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}.")
    if noise_multiplier == 0:
        return math.inf
    _opacus("epsilon()")
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    # One entry (σ, q, steps) stands for `steps` identical steps, as Opacus's own
    # get_noise_multiplier fills it; calling accountant.step() `steps` times is the same.
    accountant.history = [(float(noise_multiplier), float(sample_rate), steps)]
    with _quiet_orders():
        return float(accountant.get_epsilon(delta=delta))


def noise_multiplier_for(target_epsilon: float, sample_rate: float, steps: int, delta: float,
                         tolerance: float = 0.01) -> float:
    """The noise multiplier σ that makes ``steps`` DP-SGD steps spend at most ``target_epsilon``.

    A bisection over σ with Opacus's ``get_noise_multiplier`` (RDP accountant): the returned
    σ gives ``epsilon(σ, ...)`` between ``target_epsilon - tolerance`` and ``target_epsilon``.

    Parameters
    ----------
    target_epsilon : float
        > 0.
    sample_rate, steps, delta
        As for :func:`epsilon`.
    tolerance : float
        How far below the target the reached ε may stay.

    Returns
    -------
    float
    """
    _check_accounting(sample_rate, steps, delta)
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon must be positive, got {target_epsilon!r}.")
    _opacus("noise_multiplier_for()")
    from opacus.accountants.utils import get_noise_multiplier

    with _quiet_orders():
        return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                          sample_rate=sample_rate, steps=steps,
                                          accountant="rdp", epsilon_tolerance=tolerance))


# ---------------------------------------------------------------------------- the reference

def opacus_per_sample_grads(model: nn.Module, loss_fn: Callable, x: torch.Tensor,
                            y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample gradients computed by Opacus's ``GradSampleModule`` (backward hooks).

    The independent reference :func:`per_sample_grads` is checked against: same arguments,
    same result layout. ``loss_fn`` must average over the batch (``reduction="mean"``).
    ``model`` is wrapped for the call and left as it was.
    """
    _opacus("opacus_per_sample_grads()")
    from opacus import GradSampleModule

    check_private_model(model)
    _check_batch(x, y)
    wrapped = GradSampleModule(model, loss_reduction="mean")
    try:
        with warnings.catch_warnings():
            # The hooks fire on module outputs because the inputs need no gradient: expected
            # here, and PyTorch's warning about it says nothing a learner needs.
            warnings.filterwarnings("ignore", message="Full backward hook is firing",
                                    category=UserWarning)
            loss_fn(wrapped(x), y).backward()
        return {name: p.grad_sample.detach().clone()
                for name, p in model.named_parameters() if p.requires_grad}
    finally:
        wrapped.cleanup()  # removes the hooks and the .grad_sample attributes
        for p in model.parameters():
            p.grad = None
