"""A small multilayer perceptron built from scalar :class:`~bmcourse.autograd.engine.Value` objects.

Slow on purpose: every weight, every product and every sum is its own Python object, so the
whole computation graph can be inspected and drawn. :mod:`bmcourse.autograd.layers` does the
same computation with NumPy arrays.
"""
from __future__ import annotations

import random

from .engine import Value

__all__ = ["Neuron", "Layer", "MLP"]

_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")


class Neuron:
    """One unit: ``activation(w · x + b)``.

    Parameters
    ----------
    n_inputs : int
        Length of the input list.
    activation : {"sigmoid", "tanh", "relu", "linear"}
    rng : random.Random
        Source of the initial weights, uniform in ±1/√n_inputs.
    """

    def __init__(self, n_inputs: int, activation: str = "tanh", rng: random.Random | None = None):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; choose one of {_ACTIVATIONS}.")
        rng = rng or random.Random(0)
        scale = n_inputs**-0.5
        self.w = [Value(rng.uniform(-scale, scale)) for _ in range(n_inputs)]
        self.b = Value(0.0)
        self.activation = activation

    def __call__(self, x: list) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron expects {len(self.w)} inputs, got {len(x)}.")
        z = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return z if self.activation == "linear" else getattr(z, self.activation)()

    def parameters(self) -> list[Value]:
        return self.w + [self.b]


class Layer:
    """``n_outputs`` neurons that all read the same inputs."""

    def __init__(self, n_inputs: int, n_outputs: int, activation: str = "tanh",
                 rng: random.Random | None = None):
        rng = rng or random.Random(0)
        self.neurons = [Neuron(n_inputs, activation, rng) for _ in range(n_outputs)]

    def __call__(self, x: list) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """A multilayer perceptron on lists of numbers.

    Parameters
    ----------
    sizes : list of int
        Layer widths including the input, e.g. ``[2, 16, 16, 1]``.
    activation : str
        Activation of the hidden layers.
    output_activation : str
        Activation of the last layer (``"linear"`` gives logits).
    seed : int
        Seed of the initial weights.

    Examples
    --------
    >>> net = MLP([2, 4, 1], seed=0)
    >>> out = net([1.0, -1.0])[0]      # a Value
    >>> out.backward()                  # fills p.grad for p in net.parameters()
    """

    def __init__(self, sizes: list[int], activation: str = "tanh", output_activation: str = "linear",
                 seed: int = 0):
        if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive integers, got {sizes!r}.")
        for name in (activation, output_activation):
            if name not in _ACTIVATIONS:
                raise ValueError(f"Unknown activation {name!r}; choose one of {_ACTIVATIONS}.")
        rng = random.Random(seed)
        self.sizes = list(sizes)
        self.layers = [
            Layer(n_in, n_out, activation if i < len(sizes) - 2 else output_activation, rng)
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    def __call__(self, x) -> list[Value]:
        x = list(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def set_weights(self, weights) -> None:
        """Copy weights in from arrays, one ``(W, b)`` pair per layer.

        ``W`` has shape (n_inputs, n_outputs) and ``b`` shape (n_outputs,), the layout of
        :class:`bmcourse.autograd.layers.Linear`, so both MLPs can start from the same point.
        """
        if len(weights) != len(self.layers):
            raise ValueError(f"Expected {len(self.layers)} (W, b) pairs, got {len(weights)}.")
        for layer, (W, b) in zip(self.layers, weights):
            n_in, n_out = len(layer.neurons[0].w), len(layer.neurons)
            if len(W) != n_in or any(len(row) != n_out for row in W) or len(b) != n_out:
                raise ValueError(f"A layer of shape ({n_in}, {n_out}) got W of another shape.")
            for j, neuron in enumerate(layer.neurons):
                for i, w in enumerate(neuron.w):
                    w.data = float(W[i][j])
                neuron.b.data = float(b[j])

    def get_grads(self) -> list[tuple[list[list[float]], list[float]]]:
        """The ``.grad`` of every parameter, as ``(dW, db)`` nested lists in ``set_weights`` layout."""
        grads = []
        for layer in self.layers:
            dW = [[n.w[i].grad for n in layer.neurons] for i in range(len(layer.neurons[0].w))]
            grads.append((dW, [n.b.grad for n in layer.neurons]))
        return grads
