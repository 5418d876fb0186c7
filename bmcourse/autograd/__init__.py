"""Backpropagation from scratch: a scalar autograd engine, NumPy layers, a gradient checker.

* :mod:`.engine` — :class:`Value`, a scalar that records its computation graph;
* :mod:`.nn` — a small MLP made of ``Value`` objects;
* :mod:`.layers` — array layers with explicit ``forward``/``backward`` and SGD;
* :mod:`.gradcheck` — finite-difference checks of any ``backward``;
* :mod:`.graph` — a picture of a ``Value``'s computation graph (imported on use: matplotlib).
"""
from .engine import Value
from .gradcheck import GradcheckResult, check_layer, check_loss, numerical_gradient, relative_error
from .layers import (MLP, SGD, Linear, MSELoss, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh,
                     sigmoid, softmax)
from .nn import MLP as ScalarMLP

__all__ = [
    "Value", "ScalarMLP",
    "Linear", "Sigmoid", "Tanh", "ReLU", "SoftmaxCrossEntropy", "MSELoss", "Sequential", "MLP", "SGD",
    "sigmoid", "softmax",
    "numerical_gradient", "relative_error", "check_layer", "check_loss", "GradcheckResult",
]
