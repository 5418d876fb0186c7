"""Which input pixels a classifier's score depends on: four attribution methods.

Each method explains one number, the score ``f(x) = model(x)[n, target]`` (a logit for our
classifiers), by giving every input entry an *attribution*: a tensor shaped like ``x``.

* :func:`saliency` — the gradient ``∂f/∂x`` (Simonyan et al., 2014): how the score moves
  when one pixel moves a little. Cheap, but noisy and blind to saturation.
* :func:`smoothgrad` — the gradient averaged over noisy copies of ``x`` (Smilkov et al., 2017).
* :func:`integrated_gradients` — ``(x - x') ⊙ ∫₀¹ ∇f(x' + α(x - x')) dα`` from a baseline
  ``x'`` (Sundararajan et al., 2017). Its attributions add up to ``f(x) - f(x')``
  (*completeness*); :func:`completeness_error` measures how far a finite sum is from that.
* :func:`occlusion` — the drop in the score when a window of pixels is replaced by a baseline
  value (Zeiler & Fergus, 2014): no gradients at all, one forward pass per window position.

All of them put the model in eval mode while they work (dropout off, batch norm with its
running statistics: otherwise one image's attribution would depend on the others in the
batch) and restore its mode afterwards. They compute where the model's parameters live and
return attributions on ``x``'s device, in ``x``'s dtype; for float64 call ``model.double()``.
The results match Captum's ``Saliency``, ``NoiseTunnel``, ``IntegratedGradients``
(``method="riemann_middle"``) and ``Occlusion`` (``tests/test_interpret.py``).
"""
from __future__ import annotations

import contextlib
import itertools
import numbers

import torch
from torch import nn

__all__ = ["saliency", "smoothgrad", "integrated_gradients", "occlusion", "completeness_error"]


# ---------------------------------------------------------------------------- shared checks

@contextlib.contextmanager
def _evaluating(model: nn.Module):
    """Eval mode inside the block, the model's own mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _model_place(model: nn.Module) -> tuple[torch.device, torch.dtype | None]:
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return (torch.device("cpu"), None) if tensor is None else (tensor.device, tensor.dtype)


def _check_x(model: nn.Module, x) -> torch.Tensor:
    """``x`` on the model's device, after checking it is a batch of float inputs."""
    if not torch.is_tensor(x):
        raise TypeError(f"x must be a tensor of inputs (N, ...), got {type(x).__name__}; "
                        "convert with torch.as_tensor(x, dtype=torch.float32).")
    if not x.is_floating_point():
        raise TypeError(f"x must hold floating-point inputs, got {x.dtype}: gradients need "
                        "real numbers. Use x.float() (or x.double() with model.double()).")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch (N, ...), got shape {tuple(x.shape)}; "
                         "add a batch dimension to one input with x[None].")
    device, dtype = _model_place(model)
    if dtype is not None and dtype.is_floating_point and x.dtype != dtype:
        raise TypeError(f"x is {x.dtype} but the model's parameters are {dtype}; make them "
                        f"agree, e.g. model.double() and x.double() for float64.")
    return x.detach().to(device)


def _check_target(target, n: int, device: torch.device) -> torch.Tensor:
    """An int (the same class for every input) or a LongTensor (N,) -> LongTensor (N,)."""
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return torch.full((n,), int(target), dtype=torch.long, device=device)
    if torch.is_tensor(target) and not target.is_floating_point() and target.dtype != torch.bool:
        if target.ndim == 0:
            return target.to(device=device, dtype=torch.long).expand(n)
        if target.shape == (n,):
            return target.to(device=device, dtype=torch.long)
        raise ValueError(f"target must have shape (N,) = ({n},), one class per input, got "
                         f"{tuple(target.shape)}.")
    raise TypeError(f"target must be a class index (int) or a LongTensor of shape ({n},), "
                    f"got {target!r}.")


def _check_baseline(baseline, x: torch.Tensor) -> torch.Tensor:
    """None (zeros), a number, or a tensor shaped like ``x`` or like one input -> like ``x``."""
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if not torch.is_tensor(baseline):
        raise TypeError(f"baseline must be None, a number or a tensor, got "
                        f"{type(baseline).__name__}.")
    if baseline.shape not in (x.shape, x.shape[1:]):
        raise ValueError(f"baseline has shape {tuple(baseline.shape)}; it must match x "
                         f"{tuple(x.shape)} or one input {tuple(x.shape[1:])}.")
    return baseline.detach().to(device=x.device, dtype=x.dtype).expand_as(x)


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    return int(value)


def _scores(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The explained numbers ``model(x)[n, target[n]]``, shape (N,)."""
    out = model(x)
    if out.ndim != 2:
        raise ValueError(f"the model must return class scores (N, K), got shape "
                         f"{tuple(out.shape)}; wrap it to return the scores to explain.")
    if target.min() < 0 or target.max() >= out.shape[1]:
        raise ValueError(f"target must lie in 0..{out.shape[1] - 1} (the model has "
                         f"{out.shape[1]} outputs), got {int(target.min())}..{int(target.max())}.")
    return out.gather(1, target[:, None]).squeeze(1)


def _gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``∂ model(x)[n, target[n]] / ∂ x[n]`` for every n, shape like ``x``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        # In eval mode inputs do not interact, so the gradient of the sum holds each input's
        # own gradient. autograd.grad leaves the parameters' .grad untouched.
        (grad,) = torch.autograd.grad(_scores(model, x, target).sum(), x)
    return grad


# ---------------------------------------------------------------------------- the methods

def saliency(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Gradient of the target score with respect to the input (a saliency map).

    Parameters
    ----------
    model : nn.Module
        Returns class scores ``(N, K)``.
    x : torch.Tensor, shape (N, ...)
        Float inputs, e.g. images ``(N, 1, 28, 28)`` with pixels in ``[0, 1]``.
    target : int or torch.LongTensor of shape (N,)
        The class whose score is explained, for all inputs or one per input.

    Returns
    -------
    torch.Tensor, shape like ``x``
        ``∂ f_target / ∂ x``, in score units per input unit (signed; Simonyan et al. and
        Captum's ``Saliency`` show its absolute value).
    """
    with _evaluating(model):
        inputs = _check_x(model, x)
        target = _check_target(target, len(inputs), inputs.device)
        return _gradients(model, inputs, target).to(x.device)


def smoothgrad(model: nn.Module, x: torch.Tensor, target, stdev: float = 0.15,
               samples: int = 32, batch_size: int = 32,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """The gradient averaged over noisy copies of each input (SmoothGrad).

    ``(1/S) Σ_s ∇f(x + ε_s)`` with ``ε_s ~ N(0, stdev²)`` drawn independently per entry.

    Parameters
    ----------
    model, x, target
        As for :func:`saliency`.
    stdev : float
        Standard deviation of the noise, in input units (0.15 is 15% of a [0, 1] pixel
        range, in the 10–20% that Smilkov et al. recommend). ``0`` gives :func:`saliency`.
    samples : int
        Noisy copies per input.
    batch_size : int
        Noisy copies of each input evaluated in one pass (a pass holds ``N * batch_size``
        inputs); lower it if memory runs out.
    generator : torch.Generator, optional
        For reproducible noise; default the global generator.

    Returns
    -------
    torch.Tensor, shape like ``x``

    Notes
    -----
    The noise is drawn in float32, on the generator's device, in chunks of ``(N,
    batch_size, ...)``, whatever ``x``'s dtype and device: one seed gives the same noise in
    float32 and float64, on CPU and GPU — and the same noise as Captum's ``NoiseTunnel``
    with ``nt_samples_batch_size=batch_size``, which draws it that way.
    """
    if not stdev >= 0:
        raise ValueError(f"stdev must be >= 0 (input units), got {stdev!r}.")
    samples, batch_size = _check_count(samples, "samples"), _check_count(batch_size, "batch_size")
    with _evaluating(model):
        inputs = _check_x(model, x)
        target = _check_target(target, len(inputs), inputs.device)
        n, shape = len(inputs), inputs.shape[1:]
        total = torch.zeros_like(inputs)
        for start in range(0, samples, batch_size):
            k = min(batch_size, samples - start)
            where = generator.device if generator is not None else inputs.device
            noise = stdev * torch.randn((n, k, *shape), generator=generator, device=where)
            noisy = (inputs[:, None] + noise.to(inputs)).flatten(0, 1)
            grads = _gradients(model, noisy, target.repeat_interleave(k))
            total += grads.view(n, k, *shape).sum(dim=1)
        return (total / samples).to(x.device)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target, baseline=None,
                         steps: int = 64, batch_size: int = 32) -> torch.Tensor:
    """Integrated gradients from a baseline, by the midpoint rule.

    ``IG(x) = (x - x') ⊙ ∫₀¹ ∇f(x' + α (x - x')) dα``, the integral replaced by
    ``(1/m) Σ_k ∇f(x' + α_k (x - x'))`` at the midpoints ``α_k = (k + 1/2) / m``.

    Parameters
    ----------
    model, x, target
        As for :func:`saliency`.
    baseline : None, float or torch.Tensor
        The reference input ``x'`` whose score the attributions start from: all zeros (a
        black image) by default; a number, a tensor shaped like ``x``, or like one input.
    steps : int
        Number of points ``m`` on the straight path from ``x'`` to ``x``.
    batch_size : int
        Path points of each input evaluated in one pass (``N * batch_size`` inputs).

    Returns
    -------
    torch.Tensor, shape like ``x``
        In score units; each input's attributions sum to about ``f(x) - f(x')``.

    Notes
    -----
    For a model linear in ``x`` the gradient is constant and the result is exactly
    ``(x - x') ⊙ w``. For a ReLU network the gradient is piecewise constant along the path:
    the midpoint sum is exact on every step where no ReLU or max-pool switches and errs only
    on the steps where one does, so the error shrinks as ``steps`` grows;
    :func:`completeness_error` measures it.
    """
    steps, batch_size = _check_count(steps, "steps"), _check_count(batch_size, "batch_size")
    with _evaluating(model):
        inputs = _check_x(model, x)
        target = _check_target(target, len(inputs), inputs.device)
        base = _check_baseline(baseline, inputs)
        n, shape = len(inputs), inputs.shape[1:]
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        total = torch.zeros_like(inputs)
        for chunk in alphas.split(batch_size):
            a = chunk.to(inputs).view(1, -1, *[1] * len(shape))  # (1, k, 1, ...)
            path = (base[:, None] + a * (inputs - base)[:, None]).flatten(0, 1)
            grads = _gradients(model, path, target.repeat_interleave(len(chunk)))
            total += grads.view(n, len(chunk), *shape).sum(dim=1)
        return ((inputs - base) * total / steps).to(x.device)


def occlusion(model: nn.Module, x: torch.Tensor, target, window=4, stride=2, baseline=0.0,
              batch_size: int = 64) -> torch.Tensor:
    """Drop of the target score when a window of pixels is replaced by a baseline.

    Every position of a ``window`` slid over the image by ``stride`` (all channels at once)
    gives the drop ``f(x) - f(x with the window occluded)``; each pixel gets the average
    drop over the windows that cover it.

    Parameters
    ----------
    model, target
        As for :func:`saliency`.
    x : torch.Tensor, shape (N, C, H, W)
        Images.
    window, stride : int or (int, int)
        Height and width of the window and of its steps (``stride <= window``, so that every
        pixel is covered). Windows that would cross the right or bottom edge are cut there.
    baseline : float or torch.Tensor
        The value put in place of the occluded pixels (0 = black); a tensor shaped like
        ``x`` or like one image.
    batch_size : int
        Window positions evaluated in one pass (``N * batch_size`` images).

    Returns
    -------
    torch.Tensor, shape like ``x``
        In score units; positive where hiding the pixels lowers the score.
    """
    if not torch.is_tensor(x) or x.ndim != 4:
        raise ValueError(f"occlusion slides a window over images (N, C, H, W), got "
                         f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}.")
    (h, w), (sh, sw) = _pair(window, "window"), _pair(stride, "stride")
    H, W = x.shape[2:]
    if h > H or w > W or sh > h or sw > w:
        raise ValueError(f"need window <= image ({H}, {W}) and stride <= window, got window "
                         f"({h}, {w}) and stride ({sh}, {sw}).")
    batch_size = _check_count(batch_size, "batch_size")
    with _evaluating(model), torch.no_grad():
        inputs = _check_x(model, x)
        target = _check_target(target, len(inputs), inputs.device)
        base = _check_baseline(baseline, inputs)
        # One boolean mask (1, H, W) per window position; the last row and column of
        # positions may run past the edge (slicing cuts them), as in Captum.
        masks = []
        for top in range(0, H - h + sh, sh):
            for left in range(0, W - w + sw, sw):
                mask = torch.zeros(1, H, W, dtype=torch.bool, device=inputs.device)
                mask[:, top:top + h, left:left + w] = True
                masks.append(mask)
        masks = torch.stack(masks)  # (P, 1, H, W)
        full = _scores(model, inputs, target)
        total = torch.zeros_like(inputs)
        for chunk in masks.split(batch_size):
            k = len(chunk)
            hidden = torch.where(chunk[None], base[:, None], inputs[:, None])  # (N, k, C, H, W)
            scores = _scores(model, hidden.flatten(0, 1), target.repeat_interleave(k))
            drop = (full[:, None] - scores.view(-1, k)).view(-1, k, 1, 1, 1)
            total += (drop * chunk[None]).sum(dim=1)
        return (total / masks.sum(dim=0)).to(x.device)


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}.")
    return _check_count(pair[0], name), _check_count(pair[1], name)


# ---------------------------------------------------------------------------- checking IG

def completeness_error(model: nn.Module, x: torch.Tensor, attributions: torch.Tensor, target,
                       baseline=None) -> torch.Tensor:
    """How far attributions are from adding up to the score difference, relatively.

    ``|Σ_i a_i - (f(x) - f(x'))| / |f(x) - f(x')|`` for each input: 0 for exact integrated
    gradients, whatever the model. (Captum's "convergence delta" is the numerator.)

    Parameters
    ----------
    model, x, target, baseline
        As for :func:`integrated_gradients`.
    attributions : torch.Tensor, shape like ``x``

    Returns
    -------
    torch.Tensor, shape (N,)
        Relative errors on ``x``'s device (``inf`` or ``nan`` where ``f(x) = f(x')``).
    """
    if not torch.is_tensor(attributions) or attributions.shape != x.shape:
        raise ValueError(f"attributions must be shaped like x {tuple(x.shape)}, got "
                         f"{tuple(getattr(attributions, 'shape', ()))}.")
    with _evaluating(model), torch.no_grad():
        inputs = _check_x(model, x)
        target = _check_target(target, len(inputs), inputs.device)
        base = _check_baseline(baseline, inputs)
        difference = _scores(model, inputs, target) - _scores(model, base, target)
        total = attributions.detach().to(inputs).flatten(1).sum(dim=1)
        return ((total - difference).abs() / difference.abs()).to(x.device)
