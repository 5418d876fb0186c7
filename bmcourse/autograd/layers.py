"""Neural-network layers on NumPy arrays, each with an explicit ``forward`` and ``backward``.

The contract every layer follows:

* ``forward(x)`` computes the output and keeps what ``backward`` will need (the cache);
* ``backward(grad_out)`` receives dL/d(output), with the output's shape, stores the gradients of
  the layer's own parameters in ``self.grads`` and returns dL/d(input), with the input's shape.

A batch is a 2-D array of shape (N, features): row ``n`` is example ``n``. Everything is
``float64`` so that gradients can be checked against finite differences and ``torch.autograd``
to many digits.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "Linear", "Sigmoid", "Tanh", "ReLU", "SoftmaxCrossEntropy", "MSELoss",
    "Sequential", "MLP", "SGD", "sigmoid", "softmax",
]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1 / (1 + e^(−z)), elementwise, without overflow for large |z|."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))  # always in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of an (N, C) array; subtracting the row maximum avoids overflow."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


class Layer:
    """Base class: parameters in ``self.params``, their gradients in ``self.grads`` (same keys)."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward; run forward first.")
        return self._cache

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


def _as_batch(x, n_features: int | None, who: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{who} expects a batch of shape (N, features); got shape {x.shape}. "
                         "Use x.reshape(1, -1) for a single example.")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{who} expects {n_features} features per example, got {x.shape[1]}.")
    return x


class Linear(Layer):
    """``y = x @ W + b`` with ``W`` of shape (n_in, n_out) and ``b`` of shape (n_out,).

    Backward, for a batch ``x`` (N, n_in) and upstream gradient ``g = dL/dy`` (N, n_out):
    ``dL/dW = xᵀ g`` (n_in, n_out), ``dL/db = Σ_n g[n]`` (n_out,), ``dL/dx = g Wᵀ`` (N, n_in).

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    rng : numpy.random.Generator, optional
        Source of the initial weights: normal with standard deviation 1/√n_in, so that the
        pre-activations start with roughly unit variance; biases start at zero.
    """

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator | None = None):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.params["W"] = rng.normal(0.0, n_in**-0.5, size=(n_in, n_out))
        self.params["b"] = np.zeros(n_out)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        x = _as_batch(x, self.params["W"].shape[0], "Linear")
        self._cache = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out):
        x = self._cached()
        self.grads["W"] = x.T @ grad_out
        # b was broadcast to every row, so its gradient sums the rows.
        self.grads["b"] = grad_out.sum(axis=0)
        return grad_out @ self.params["W"].T


class Sigmoid(Layer):
    """σ(x) elementwise; backward multiplies by σ(x)(1 − σ(x)), computed from the saved output."""

    def forward(self, x):
        out = sigmoid(x)
        self._cache = out
        return out

    def backward(self, grad_out):
        s = self._cached()
        return grad_out * s * (1.0 - s)


class Tanh(Layer):
    """tanh(x) elementwise; backward multiplies by 1 − tanh(x)²."""

    def forward(self, x):
        out = np.tanh(np.asarray(x, dtype=np.float64))
        self._cache = out
        return out

    def backward(self, grad_out):
        t = self._cached()
        return grad_out * (1.0 - t * t)


class ReLU(Layer):
    """max(x, 0) elementwise; the gradient passes where x > 0 and is 0 elsewhere (also at 0)."""

    def forward(self, x):
        x = np.asarray(x, dtype=np.float64)
        self._cache = x > 0
        return np.where(self._cache, x, 0.0)

    def backward(self, grad_out):
        return grad_out * self._cached()


class SoftmaxCrossEntropy(Layer):
    """Mean cross-entropy of softmax(logits) against integer class labels.

    ``forward(logits, targets)`` takes logits (N, C) and labels (N,) in ``0..C-1`` and returns
    the scalar loss ``−(1/N) Σ_n log softmax(logits)[n, targets[n]]``.
    ``backward()`` returns dL/dlogits = (softmax(logits) − onehot(targets)) / N, shape (N, C):
    softmax and the logarithm simplify each other, so the gradient is just "probability minus
    truth".
    """

    def forward(self, logits, targets):
        logits = _as_batch(logits, None, "SoftmaxCrossEntropy")
        targets = np.asarray(targets)
        n, c = logits.shape
        if targets.shape != (n,):
            raise ValueError(f"targets must have shape ({n},) — one class index per row of logits; "
                             f"got {targets.shape}.")
        if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0 or targets.max() >= c:
            raise ValueError(f"targets must be integer class indices in 0..{c - 1}; got {targets[:5]}...")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self._cache = (np.exp(log_probs), targets)
        return float(-log_probs[np.arange(n), targets].mean())

    def backward(self, grad_out: float = 1.0):
        probs, targets = self._cached()
        n = len(targets)
        grad = probs.copy()
        grad[np.arange(n), targets] -= 1.0
        return grad_out * grad / n

    def __call__(self, logits, targets):
        return self.forward(logits, targets)


class MSELoss(Layer):
    """Mean squared error ``mean((pred − target)²)`` over all elements, like ``torch.nn.MSELoss``.

    With ``half=True`` the loss is ``½ mean((pred − target)²)``: the ½ cancels the 2 of the
    derivative, the convention of the chapter's worked example.
    ``backward()`` returns dL/dpred = (2 or 1) · (pred − target) / pred.size, shape of ``pred``.
    """

    def __init__(self, half: bool = False):
        super().__init__()
        self.factor = 0.5 if half else 1.0

    def forward(self, pred, target):
        pred = np.asarray(pred, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        if pred.shape != target.shape:
            raise ValueError(f"pred has shape {pred.shape} but target has shape {target.shape}; "
                             "reshape one of them (broadcasting here would silently be wrong).")
        diff = pred - target
        self._cache = diff
        return float(self.factor * np.mean(diff**2))

    def backward(self, grad_out: float = 1.0):
        diff = self._cached()
        return grad_out * 2.0 * self.factor * diff / diff.size

    def __call__(self, pred, target):
        return self.forward(pred, target)


class Sequential(Layer):
    """Layers applied one after another; backward visits them in reverse order."""

    def __init__(self, *layers: Layer):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def parameters(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(param, grad)`` pairs of every layer, in order, as they are now.

        ``backward`` replaces the gradient arrays, so call this again after each backward pass.
        """
        return [(layer.params[k], layer.grads[k]) for layer in self.layers for k in layer.params]

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(repr(layer) for layer in self.layers) + ")"


_ACTIVATION_LAYERS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}


def MLP(sizes: list[int], activation: str = "tanh", seed: int = 0) -> Sequential:
    """A multilayer perceptron: Linear layers with ``activation`` between them, logits out.

    Parameters
    ----------
    sizes : list of int
        Widths including the input, e.g. ``[2, 16, 16, 2]`` maps (N, 2) to (N, 2).
    activation : {"sigmoid", "tanh", "relu"}
    seed : int
        Seed of the initial weights.
    """
    if activation not in _ACTIVATION_LAYERS:
        raise ValueError(f"Unknown activation {activation!r}; choose one of {list(_ACTIVATION_LAYERS)}.")
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two positive integers, got {sizes!r}.")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(n_in, n_out, rng))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATION_LAYERS[activation]())
    return Sequential(*layers)


class SGD:
    """Plain stochastic gradient descent: ``p ← p − lr · dL/dp`` for every parameter.

    Parameters
    ----------
    model : Sequential
        Each layer's ``params`` and ``grads`` are read at every step, so the gradients of the
        latest backward pass are the ones used.
    lr : float
        Learning rate (step size), positive.
    """

    def __init__(self, model: Sequential, lr: float = 0.1):
        if not lr > 0:
            raise ValueError(f"The learning rate must be positive, got {lr}.")
        self.model, self.lr = model, lr

    def step(self) -> None:
        for layer in self.model.layers:
            for k in layer.params:
                layer.params[k] -= self.lr * layer.grads[k]  # in place: the layer keeps its array
