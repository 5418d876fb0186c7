"""A scalar reverse-mode automatic differentiation engine.

Every number in a computation is a :class:`Value`. Each operation creates a new ``Value`` that
remembers its inputs (its *children* in the graph) and a small function that, given the
gradient of the final result with respect to this value, adds the contribution to the
gradients of its inputs — one application of the chain rule. ``backward()`` visits the graph in
reverse topological order so that each node's gradient is complete before it is passed on.

The idea follows Andrej Karpathy's micrograd; this is our own code, written to be read.

Examples
--------
>>> a, b = Value(2.0), Value(-3.0)
>>> c = a * b + a          # dc/da = b + 1, dc/db = a
>>> c.backward()
>>> a.grad, b.grad
(-2.0, 2.0)
"""
from __future__ import annotations

import math
from typing import Callable

__all__ = ["Value"]


class Value:
    """A scalar that records how it was computed, so gradients can flow back through it.

    Parameters
    ----------
    data : float
        The number itself.
    children : tuple of Value, optional
        The inputs of the operation that produced this value (empty for a leaf).
    op : str, optional
        A short name of that operation, used when drawing the graph.
    label : str, optional
        A name for drawing, e.g. ``"θ11"``.

    Attributes
    ----------
    grad : float
        d(root)/d(self) after ``root.backward()``; 0 before.
    """

    __slots__ = ("data", "grad", "_backward", "_children", "op", "label")

    def __init__(self, data: float, children: tuple = (), op: str = "", label: str = ""):
        if isinstance(data, Value):
            raise TypeError("Value(data) needs a plain number; got a Value. Use it directly instead.")
        try:
            self.data = float(data)
        except (TypeError, ValueError):
            raise TypeError(f"Value needs a real number, got {type(data).__name__}: {data!r}.") from None
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._children = tuple(children)
        self.op = op
        self.label = label

    # ---- arithmetic -----------------------------------------------------------------------

    def __add__(self, other) -> "Value":
        other = _as_value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            # d(a+b)/da = d(a+b)/db = 1: the gradient is passed on unchanged.
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other) -> "Value":
        other = _as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            # Each factor's gradient: the *other* factor times out.grad.
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent) -> "Value":
        if not isinstance(exponent, (int, float)):
            raise TypeError(
                "Value ** exponent supports a constant int or float exponent only; "
                "for a Value exponent write (exponent * base.log()).exp()."
            )
        if self.data == 0 and exponent < 0:
            raise ZeroDivisionError(f"0 ** {exponent} is undefined; keep the base away from 0.")
        if self.data < 0 and not float(exponent).is_integer():
            raise ValueError(
                f"{self.data} ** {exponent}: a negative base needs an integer exponent "
                "(the result would be complex)."
            )
        out = Value(self.data**exponent, (self,), f"**{exponent:g}")

        def _backward():
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> "Value":
        return self * -1

    def __sub__(self, other) -> "Value":
        # Its own node (rather than a + (-1 * b)) keeps drawn graphs small.
        other = _as_value(other)
        out = Value(self.data - other.data, (self, other), "−")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other) -> "Value":
        other = _as_value(other)
        if other.data == 0:
            raise ZeroDivisionError("Division of a Value by zero; the divisor must be non-zero.")
        return self * other**-1

    # Python calls these when the left operand is a plain number: 2 * Value(3.0).
    def __radd__(self, other) -> "Value":
        return self + other

    def __rmul__(self, other) -> "Value":
        return self * other

    def __rsub__(self, other) -> "Value":
        return _as_value(other) - self

    def __rtruediv__(self, other) -> "Value":
        return _as_value(other) / self

    # ---- elementary functions -------------------------------------------------------------

    def exp(self) -> "Value":
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad  # d e^x / dx = e^x, already computed

        out._backward = _backward
        return out

    def log(self) -> "Value":
        if self.data <= 0:
            raise ValueError(
                f"log of {self.data}: the natural logarithm needs a positive input "
                "(clip it, e.g. max(x, 1e-12), or add a small epsilon)."
            )
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1.0 - t * t) * out.grad  # tanh' = 1 - tanh^2

        out._backward = _backward
        return out

    def sigmoid(self) -> "Value":
        """The logistic function σ(x) = 1 / (1 + e^(−x)); its derivative is σ(1 − σ)."""
        # Two branches so that exp never overflows for large |x|.
        if self.data >= 0:
            s = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            s = e / (1.0 + e)
        out = Value(s, (self,), "σ")

        def _backward():
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> "Value":
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward():
            # The derivative at exactly 0 is taken as 0, as in PyTorch.
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    # ---- backpropagation ------------------------------------------------------------------

    def topological_order(self) -> list["Value"]:
        """All values this one depends on (itself included), each after all of its inputs."""
        order: list[Value] = []
        seen: set[int] = set()
        # An explicit stack instead of recursion: deep graphs (long sums) would exceed
        # Python's recursion limit.
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for child in node._children:
                if id(child) not in seen:
                    stack.append((child, False))
        return order

    def backward(self) -> None:
        """Fill ``.grad`` of every value in the graph with d(self)/d(value).

        Every gradient in the graph is reset first, so calling ``backward`` twice gives the same
        result. Within one pass gradients accumulate (``+=``): a value used twice receives a
        contribution from each use, which is exactly what the multivariate chain rule says.
        """
        order = self.topological_order()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0  # d(self)/d(self)
        for node in reversed(order):
            node._backward()

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Value({name}{self.data:.6g}, grad={self.grad:.6g})"


def _as_value(x) -> Value:
    return x if isinstance(x, Value) else Value(x)

