"""Tiny data sets: the seed's four examples, and two moons that an MLP can fit exactly."""
import numpy as np
import pytest

from bmcourse.autograd import MLP, SGD, SoftmaxCrossEntropy
from bmcourse.toydata import seed_tiny_binary, two_moons


def test_seed_tiny_binary_is_the_seed_data():
    x, y = seed_tiny_binary()
    np.testing.assert_array_equal(x, [[1, 0], [0, 1], [1, 1], [1, 0]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert x.dtype == np.float64 and y.dtype == np.int64


@pytest.mark.parametrize("n", [2, 7, 200])
def test_two_moons_shapes_and_balance(n):
    x, y = two_moons(n, seed=1)
    assert x.shape == (n, 2) and y.shape == (n,)
    assert x.dtype == np.float64 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert (y == 0).sum() == (n + 1) // 2


def test_two_moons_is_reproducible_and_seeded():
    a, b, c = two_moons(50, seed=3), two_moons(50, seed=3), two_moons(50, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])


def test_two_moons_without_noise_lies_on_the_arcs():
    x, y = two_moons(100, noise=0.0)
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert upper[:, 1].min() >= 0 and lower[:, 1].max() <= 0.5


def test_two_moons_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        two_moons(1)
    with pytest.raises(ValueError, match="noise"):
        two_moons(10, noise=-0.1)


def _train(x, y, sizes, steps, lr):
    model = MLP(sizes, activation="tanh", seed=0)
    loss_fn, opt = SoftmaxCrossEntropy(), SGD(model, lr)
    for _ in range(steps):
        loss_fn(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    return model, np.mean(model.forward(x).argmax(1) == y)


def test_numpy_mlp_fits_two_moons_and_a_line_does_not():
    x, y = two_moons(200, noise=0.1, seed=0)
    _, linear_acc = _train(x, y, [2, 2], steps=500, lr=0.5)
    _, mlp_acc = _train(x, y, [2, 16, 16, 2], steps=2000, lr=0.5)
    assert linear_acc < 0.95
    assert mlp_acc == 1.0


def test_numpy_mlp_fits_the_seed_data():
    x, y = seed_tiny_binary()
    _, acc = _train(x, y, [2, 2, 2], steps=300, lr=1.0)
    assert acc == 1.0
