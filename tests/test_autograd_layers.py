"""Every NumPy layer's backward matches torch.autograd in float64 (tolerance 1e-6)."""
import numpy as np
import pytest
import torch

from bmcourse.autograd import (MLP, SGD, Linear, MSELoss, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh,
                               sigmoid, softmax)

TOL = 1e-6


def _inputs(seed, shape=(6, 4)):
    x = np.random.default_rng(seed).normal(scale=2.0, size=shape)
    x[0, :] = 0.0  # edge values: zeros, and very large magnitudes
    x[1, 0], x[1, 1] = 50.0, -50.0
    return x


def _check_elementwise(layer, torch_fn, x):
    g = np.random.default_rng(1).normal(size=x.shape)
    out = layer.forward(x)
    dx = layer.backward(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layer,torch_fn", [(Sigmoid, torch.sigmoid), (Tanh, torch.tanh), (ReLU, torch.relu)])
def test_activations_match_torch(layer, torch_fn, seed):
    _check_elementwise(layer(), torch_fn, _inputs(seed))


def test_relu_gradient_at_zero_and_negative_is_zero():
    relu = ReLU()
    relu.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_matches_torch(seed):
    rng = np.random.default_rng(seed)
    layer = Linear(4, 3, rng)
    layer.params["b"][:] = rng.normal(size=3)
    x = _inputs(seed)
    g = rng.normal(size=(6, 3))
    out = layer.forward(x)
    dx = layer.backward(g)

    xt = torch.tensor(x, requires_grad=True)
    W = torch.tensor(layer.params["W"], requires_grad=True)
    b = torch.tensor(layer.params["b"], requires_grad=True)
    yt = xt @ W + b
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(layer.grads["W"], W.grad.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(layer.grads["b"], b.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_cross_entropy_matches_torch(seed):
    rng = np.random.default_rng(seed)
    logits = _inputs(seed, (6, 5))
    logits[2] = 1000.0  # a row that would overflow a naive exp
    targets = rng.integers(0, 5, size=6)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, targets)
    grad = loss_fn.backward()

    lt = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(lt, torch.tensor(targets))
    torch_loss.backward()
    assert np.isfinite(loss)
    assert loss == pytest.approx(torch_loss.item(), rel=TOL, abs=TOL)
    np.testing.assert_allclose(grad, lt.grad.numpy(), atol=TOL, rtol=TOL)
    np.testing.assert_allclose(softmax(logits), torch.softmax(lt, 1).detach().numpy(), atol=TOL)


@pytest.mark.parametrize("half", [False, True])
def test_mse_matches_torch(half):
    rng = np.random.default_rng(3)
    pred, target = _inputs(3, (5, 2)), rng.normal(size=(5, 2))
    target[0] = pred[0]  # zero error on some elements
    loss_fn = MSELoss(half=half)
    loss = loss_fn.forward(pred, target)
    grad = loss_fn.backward()
    pt = torch.tensor(pred, requires_grad=True)
    torch_loss = torch.nn.functional.mse_loss(pt, torch.tensor(target)) * (0.5 if half else 1.0)
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=TOL)
    np.testing.assert_allclose(grad, pt.grad.numpy(), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_whole_mlp_matches_torch(activation):
    model = MLP([2, 8, 8, 3], activation=activation, seed=4)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 2)), rng.integers(0, 3, size=10)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn(model.forward(x), y)
    model.backward(loss_fn.backward())

    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    linears = [layer for layer in model.layers if isinstance(layer, Linear)]
    params = [(torch.tensor(l.params["W"], requires_grad=True), torch.tensor(l.params["b"], requires_grad=True))
              for l in linears]
    h = torch.tensor(x)
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = act(h)
    torch_loss = torch.nn.functional.cross_entropy(h, torch.tensor(y))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=TOL)
    for layer, (W, b) in zip(linears, params):
        np.testing.assert_allclose(layer.grads["W"], W.grad.numpy(), atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.grads["b"], b.grad.numpy(), atol=TOL, rtol=TOL)


def test_sgd_step_moves_against_the_gradient_and_lowers_the_loss():
    model = MLP([2, 4, 2], seed=0)
    x, y = np.random.default_rng(0).normal(size=(8, 2)), np.array([0, 1] * 4)
    loss_fn = SoftmaxCrossEntropy()
    before = loss_fn(model.forward(x), y)
    model.backward(loss_fn.backward())
    W = model.layers[0].params["W"]
    expected = W - 0.1 * model.layers[0].grads["W"]
    SGD(model, lr=0.1).step()
    np.testing.assert_allclose(model.layers[0].params["W"], expected)
    assert model.layers[0].params["W"] is W  # updated in place
    assert loss_fn(model.forward(x), y) < before


def test_sigmoid_function_is_stable_and_symmetric():
    z = np.array([-1000.0, -1.0, 0.0, 1.0, 1000.0])
    s = sigmoid(z)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s + sigmoid(-z), 1.0)
    assert s[2] == 0.5


def test_bad_input_raises_clear_errors():
    layer = Linear(3, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="3 features"):
        layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match="reshape"):
        layer.forward(np.ones(3))
    with pytest.raises(ValueError, match="class indices"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="one class index per row"):
        SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="shape"):
        MSELoss().forward(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match="activation"):
        MLP([2, 2], activation="swish")
    with pytest.raises(ValueError, match="positive"):
        SGD(MLP([2, 2]), lr=0.0)
