"""The finite-difference checker agrees with right backward passes and catches wrong ones."""
import numpy as np
import pytest

from bmcourse.autograd import (Linear, MSELoss, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh, check_layer,
                               check_loss, numerical_gradient, relative_error)
from bmcourse.autograd.layers import Layer


def test_numerical_gradient_of_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-7)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored after perturbing


@pytest.mark.parametrize("layer", [Linear(4, 3, np.random.default_rng(0)), Sigmoid(), Tanh(), ReLU()])
def test_correct_layers_pass(layer):
    x = np.random.default_rng(1).normal(size=(5, 4))
    result = check_layer(layer, x)
    assert result.ok, result
    assert set(result.errors) == {"x", *getattr(layer, "params", {})}


def test_correct_losses_pass():
    rng = np.random.default_rng(2)
    assert check_loss(SoftmaxCrossEntropy(), rng.normal(size=(6, 4)), rng.integers(0, 4, 6))
    assert check_loss(MSELoss(half=True), rng.normal(size=(6, 1)), rng.normal(size=(6, 1)))


class SigmoidMissingFactor(Sigmoid):
    """A typical slip: forgetting the (1 - s) factor."""

    def backward(self, grad_out):
        return grad_out * self._cached()


class LinearBiasNotSummed(Linear):
    """A typical slip: averaging the bias gradient over the batch instead of summing it."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.grads["b"] = grad_out.mean(axis=0)
        return dx


class LinearWrongTranspose(Linear):
    """dL/dx computed with W instead of Wᵀ (only runs because the layer is square)."""

    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out @ self.params["W"]


def test_wrong_backward_passes_are_caught_and_named():
    x = np.random.default_rng(3).normal(size=(5, 3))
    assert not check_layer(SigmoidMissingFactor(), x)

    result = check_layer(LinearBiasNotSummed(3, 2), x)
    assert not result.ok
    assert result.errors["b"] > 0.1 and result.errors["W"] < 1e-6 and result.errors["x"] < 1e-6
    assert "wrong" in repr(result)

    result = check_layer(LinearWrongTranspose(3, 3, np.random.default_rng(4)), x)
    assert result.errors["x"] > 0.01 and result.errors["W"] < 1e-6


def test_wrong_loss_gradient_is_caught():
    class MSEWithoutTwo(MSELoss):
        def backward(self, grad_out=1.0):
            return super().backward(grad_out) / 2

    rng = np.random.default_rng(5)
    assert not check_loss(MSEWithoutTwo(), rng.normal(size=(4, 1)), rng.normal(size=(4, 1)))


def test_wrong_shape_is_reported():
    class FlattensGradient(Layer):
        def forward(self, x):
            self._cache = x
            return 2 * x

        def backward(self, grad_out):
            return (2 * grad_out).reshape(-1)

    with pytest.raises(ValueError, match="shape"):
        check_layer(FlattensGradient(), np.ones((2, 3)))


def test_relative_error_and_input_validation():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([1.0, 1e-12])) < 1e-11
    assert relative_error(np.array([2.0]), np.array([1.0])) == pytest.approx(0.5)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.ones(3, dtype=np.int64))


def test_transposed_weight_gradient_is_caught_even_for_inputs_drawn_with_the_same_seed():
    class TransposedW(Linear):
        def backward(self, grad_out):
            dx = super().backward(grad_out)
            self.grads["W"] = self.grads["W"].T  # right shape only because the layer is square
            return dx

    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(5, 3))
        assert check_layer(TransposedW(3, 3), x, seed=seed).errors["W"] > 0.01
