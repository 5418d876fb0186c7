"""Finite-difference gradient checking: does a ``backward`` agree with the definition of a derivative?

For a scalar function f and a tiny step ε, the central difference

    (f(x + ε) − f(x − ε)) / (2ε)

approximates f'(x) with an error of order ε² — no calculus needed, only two evaluations of f
per input number. That is far too slow to train with, but it is an independent referee for a
hand-written backward pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "relative_error", "GradcheckResult", "check_layer", "check_loss"]


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of d f / d x, one element of ``x`` at a time.

    Parameters
    ----------
    f : callable
        Takes no arguments and returns a float; it must read ``x`` (the same array object),
        which this function perturbs in place and restores.
    x : numpy.ndarray, float64
        Any shape.
    eps : float
        The step ε. 1e-6 balances the truncation error (∝ ε²) against rounding (∝ 1/ε) in float64.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("numerical_gradient needs a float64 NumPy array that f reads; "
                        "convert with x = np.asarray(x, dtype=np.float64) and let f use that array.")
    grad = np.zeros_like(x)
    flat, flat_grad = x.reshape(-1), grad.reshape(-1)  # views: writing to them writes to x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        f_plus = float(f())
        flat[i] = old - eps
        f_minus = float(f())
        flat[i] = old
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """Largest disagreement as a fraction of the largest gradient: max|a − n| / max(|a|, |n|).

    Scaling by the whole tensor (not element by element) keeps gradients that are exactly
    zero, such as ReLU's for negative inputs, from turning rounding noise into huge ratios.
    """
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"A gradient of shape {analytic.shape} cannot match one of shape {numeric.shape}: "
                         "backward must return the shape of what it differentiates.")
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0), 1e-12)
    return float(np.abs(analytic - numeric).max(initial=0.0) / scale)


@dataclass
class GradcheckResult:
    """Relative error of each checked gradient; truthy when all are below ``tol``."""

    errors: dict[str, float] = field(default_factory=dict)
    tol: float = 1e-6

    @property
    def ok(self) -> bool:
        return all(e < self.tol for e in self.errors.values())

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        lines = [f"gradient check ({'passed' if self.ok else 'FAILED'}, tolerance {self.tol:g})"]
        for name, err in self.errors.items():
            lines.append(f"  d/d{name:<6} relative error {err:.2e}  {'ok' if err < self.tol else '<-- wrong'}")
        return "\n".join(lines)


def check_layer(layer, x, seed: int = 0, eps: float = 1e-6, tol: float = 1e-6) -> GradcheckResult:
    """Compare ``layer.backward`` with finite differences, for the input and every parameter.

    A layer's output is an array, so we check the scalar ``L = Σ output · R`` for a fixed
    random ``R``: its gradient with respect to the output is ``R`` itself, which is what we feed
    to ``backward``. A random ``R`` exercises every output element at once.

    Parameters
    ----------
    layer : object with ``forward``, ``backward`` and (optionally) ``params``/``grads`` dicts
    x : array_like, shape (N, features)
    seed : int
        Seed of ``R``.

    Returns
    -------
    GradcheckResult
        Errors under the names ``"x"`` and each parameter's key.
    """
    x = np.array(x, dtype=np.float64)  # a private copy: numerical_gradient perturbs it
    out = np.asarray(layer.forward(x), dtype=np.float64)
    # A generator seeded with a pair, so R never equals an x drawn with default_rng(seed):
    # with R = x, xᵀR would be symmetric and a transposed dL/dW would slip through.
    R = np.random.default_rng([seed, 1]).normal(size=out.shape)
    grad_x = layer.backward(R)
    analytic = {"x": np.array(grad_x, dtype=np.float64)}
    params = getattr(layer, "params", {}) or {}
    for name in params:
        analytic[name] = np.array(layer.grads[name], dtype=np.float64)

    def loss() -> float:
        return float(np.sum(np.asarray(layer.forward(x)) * R))

    result = GradcheckResult(tol=tol)
    result.errors["x"] = relative_error(analytic["x"], numerical_gradient(loss, x, eps))
    for name, value in params.items():
        result.errors[name] = relative_error(analytic[name], numerical_gradient(loss, value, eps))
    return result


def check_loss(loss_layer, pred, target, eps: float = 1e-6, tol: float = 1e-6) -> GradcheckResult:
    """Compare a loss layer's ``backward()`` (dL/dpred) with finite differences.

    Parameters
    ----------
    loss_layer : object with ``forward(pred, target) -> float`` and ``backward() -> array``
    pred : array_like
        Predictions or logits, e.g. (N, C).
    target : array_like
        Whatever ``forward`` expects as the second argument.
    """
    pred = np.array(pred, dtype=np.float64)
    loss_layer.forward(pred, target)
    analytic = loss_layer.backward()
    numeric = numerical_gradient(lambda: loss_layer.forward(pred, target), pred, eps)
    return GradcheckResult({"pred": relative_error(analytic, numeric)}, tol)
