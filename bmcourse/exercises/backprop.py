"""Exercises for the chapter "Backpropagation by hand".

``from bmcourse.exercises import backprop as ex``, then ``ex.q1.check(...)`` and so on.
``MysteryLinear`` is the layer with a planted bug for question 4.
"""
from __future__ import annotations

import numpy as np

from ..autograd.engine import Value
from ..autograd.gradcheck import check_layer
from ..autograd.layers import Linear, softmax
from .core import Incorrect, Question, expect_close

__all__ = ["q1", "q2", "q3", "q4", "q5", "MysteryLinear", "worked_example_grads"]


# ---- q1: tanh backward ---------------------------------------------------------------------

def _check_tanh_backward(fn) -> None:
    if not callable(fn):
        raise Incorrect("Pass your function itself: ex.q1.check(tanh_backward).")
    rng = np.random.default_rng(11)
    x = rng.normal(scale=1.5, size=(4, 3))
    out, grad_out = np.tanh(x), rng.normal(size=(4, 3))
    got = np.asarray(fn(out.copy(), grad_out.copy()), dtype=np.float64)
    want = grad_out * (1 - out**2)
    if got.shape != want.shape:
        raise Incorrect(f"tanh_backward returned shape {got.shape}; it must return the shape of "
                        f"grad_out, {want.shape}.")
    if np.allclose(got, 1 - out**2):
        raise Incorrect("That is the local derivative 1 − tanh². The chain rule multiplies it by "
                        "the upstream gradient grad_out.")
    if np.allclose(got, grad_out * (1 - np.tanh(out) ** 2)):
        raise Incorrect("`out` already is tanh(x): use 1 − out², not 1 − tanh(out)².")
    if np.allclose(got, grad_out * (1 - out)):
        raise Incorrect("Close: the derivative of tanh is 1 − tanh², so square `out`.")
    expect_close(got, want, "tanh_backward(out, grad_out)")


q1 = Question(
    "tanh backward",
    check=_check_tanh_backward,
    hint="Differentiate tanh = sinh/cosh with the quotient rule and write the result in terms of "
         "tanh itself; then apply the chain rule: multiply by grad_out.",
    solution="d tanh(x)/dx = 1 − tanh(x)², so\n\n"
             "def tanh_backward(out, grad_out):\n    return grad_out * (1 - out ** 2)",
    expects="function",
)


# ---- q2: softmax cross-entropy gradient ----------------------------------------------------

def _check_ce_grad(fn) -> None:
    if not callable(fn):
        raise Incorrect("Pass your function itself: ex.q2.check(ce_grad).")
    rng = np.random.default_rng(12)
    logits, targets = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    got = np.asarray(fn(logits.copy(), targets.copy()), dtype=np.float64)
    onehot = np.eye(4)[targets]
    want = (softmax(logits) - onehot) / 5
    if got.shape != want.shape:
        raise Incorrect(f"ce_grad returned shape {got.shape}; the gradient with respect to the "
                        f"logits has their shape {want.shape}.")
    if np.allclose(got, want * 5):
        raise Incorrect("That is the gradient of the summed loss. The loss is a mean over the "
                        "N examples: divide by N.")
    if np.allclose(got, -want):
        raise Incorrect("The sign is flipped: it is probabilities minus the one-hot targets.")
    if np.allclose(got, softmax(logits) / 5) or np.allclose(got, softmax(logits)):
        raise Incorrect("Subtract 1 at each row's target class (the one-hot vector).")
    expect_close(got, want, "ce_grad(logits, targets)")


q2 = Question(
    "softmax cross-entropy gradient",
    check=_check_ce_grad,
    hint="Write the loss of one row as −z_t + log Σ_j e^{z_j} and differentiate with respect to "
         "z_k: the first term gives −1 when k = t, the second gives softmax(z)_k. Then average.",
    solution="def ce_grad(logits, targets):\n"
             "    n = len(targets)\n"
             "    p = softmax(logits)\n"
             "    p[np.arange(n), targets] -= 1\n"
             "    return p / n",
    expects="function",
)


# ---- q3: gradient-check the learner's own layer ---------------------------------------------

def _check_leaky_relu(layer_class) -> None:
    layer = layer_class() if isinstance(layer_class, type) else layer_class
    if not (hasattr(layer, "forward") and hasattr(layer, "backward")):
        raise Incorrect("Pass a layer (or its class) with forward(x) and backward(grad_out) methods.")
    x = np.random.default_rng(13).normal(size=(6, 3))
    x[0, 0] = 1e-3  # near, but not at, the kink
    out = np.asarray(layer.forward(x.copy()), dtype=np.float64)
    want = np.where(x > 0, x, 0.01 * x)
    if out.shape != x.shape:
        raise Incorrect(f"forward returned shape {out.shape} for an input of shape {x.shape}.")
    if not np.allclose(out, want):
        raise Incorrect("forward is not right yet: LeakyReLU(x) = x for x > 0 and 0.01·x otherwise.")
    result = check_layer(layer, x)
    if not result:
        raise Incorrect("forward is right but backward disagrees with finite differences "
                        f"(relative error {result.errors['x']:.2g}). Its slope is 1 where x > 0, "
                        "0.01 elsewhere, times grad_out.")


q3 = Question(
    "a LeakyReLU layer that passes the gradient check",
    check=_check_leaky_relu,
    hint="Save in forward what backward needs (the mask x > 0). Run "
         "bmcourse.autograd.check_layer(LeakyReLU(), x) yourself until every error is tiny.",
    solution="class LeakyReLU(Layer):\n"
             "    def forward(self, x):\n"
             "        self._cache = x > 0\n"
             "        return np.where(self._cache, x, 0.01 * x)\n\n"
             "    def backward(self, grad_out):\n"
             "        return grad_out * np.where(self._cached(), 1.0, 0.01)",
    expects="function",
)


# ---- q4: find the planted bug ----------------------------------------------------------------

class MysteryLinear(Linear):
    """A square Linear layer whose backward has exactly one planted bug. Find it with check_layer."""

    def __init__(self, n: int = 3, rng: np.random.Generator | None = None):
        super().__init__(n, n, rng if rng is not None else np.random.default_rng(7))

    def backward(self, grad_out):
        x = self._cached()
        # The bug: this is (xᵀ g)ᵀ. Shapes cannot reveal it, because the layer is square.
        self.grads["W"] = grad_out.T @ x
        self.grads["b"] = grad_out.sum(axis=0)
        return grad_out @ self.params["W"].T


def _check_bug(answer) -> None:
    name = str(answer).strip().lower()
    for prefix in ("dl/d", "d"):  # accept "W", "dW" and "dL/dW"
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
            break
    name = {"weights": "w", "weight": "w", "bias": "b", "input": "x", "inputs": "x"}.get(name, name)
    if name not in {"w", "b", "x"}:
        raise Incorrect('Answer with the name of the wrong gradient: "W", "b" or "x".')
    if name != "w":
        raise Incorrect(f"The gradient with respect to {answer!r} passes the check; look at the "
                        "relative errors that check_layer prints.")


q4 = Question(
    "the planted bug in MysteryLinear",
    check=_check_bug,
    hint="print(check_layer(ex.MysteryLinear(), x)) for a random x of shape (5, 3) and read which "
         "gradient is flagged. Then compare the line that computes it with dL/dW = xᵀ g.",
    solution='"W": the layer computes gᵀx, the transpose of xᵀg. Because the layer is square the '
             "shapes agree and nothing crashes — only a gradient check (or torch) reveals it.",
)


# ---- q5: the worked example with another target ------------------------------------------------

def worked_example_grads(target: float) -> dict[str, float]:
    """dL/dθ of the chapter's worked example (θ = 1..6, x = [1, 0], L = ½(y − ŷ)²) for a target."""
    theta = {k: Value(v) for k, v in zip(["11", "12", "21", "22", "31", "32"], range(1, 7))}
    x1, x2 = 1.0, 0.0
    h1 = (theta["11"] * x1 + theta["12"] * x2).sigmoid()
    h2 = (theta["21"] * x1 + theta["22"] * x2).sigmoid()
    y_hat = (theta["31"] * h1 + theta["32"] * h2).sigmoid()
    loss = 0.5 * (target - y_hat) ** 2
    loss.backward()
    return {k: v.grad for k, v in theta.items()}


def _check_q5(answer) -> None:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Answer with one number: dL/dθ11 for target y = 0.") from None
    want = worked_example_grads(0.0)["11"]
    if np.isclose(value, worked_example_grads(1.0)["11"], rtol=1e-3, atol=0):
        raise Incorrect("That is the gradient for target 1, the chapter's example. Set y = 0.")
    if np.isclose(value, -want, rtol=1e-3):
        raise Incorrect("Right size, wrong sign: with y = 0 the output is far too high, so "
                        "increasing θ11 (which increases ŷ) increases the loss.")
    expect_close(value, want, "dL/dθ11", rtol=1e-3, atol=0)


q5 = Question(
    "dL/dθ11 of the worked example when the target is 0",
    check=_check_q5,
    hint="Rebuild the example with Value objects, change y to 0, call loss.backward() and read "
         "θ11.grad; or reuse the chain-rule table with (ŷ − y) = ŷ.",
    solution="With y = 0, δ3 = (ŷ − 0)·ŷ(1 − ŷ), then dL/dθ11 = δ3·θ31·h1(1 − h1)·x1. "
             "`ex.worked_example_grads(0.0)['11']` computes it with the engine.",
)
