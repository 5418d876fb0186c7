"""The scalar engine's gradients match torch.autograd in float64 (tolerance 1e-6)."""
import math
import random

import numpy as np
import pytest
import torch

from bmcourse.autograd import ScalarMLP, Value

TOL = 1e-6


def _torch(x):
    return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)


def _compare(fn, *inputs):
    """Run fn on Values and on float64 tensors; compare outputs and input gradients."""
    vs = [Value(x) for x in inputs]
    ts = [_torch(x) for x in inputs]
    out_v, out_t = fn(*vs), fn(*ts)
    out_v.backward()
    out_t.backward()
    assert out_v.data == pytest.approx(out_t.item(), abs=TOL, rel=TOL)
    for v, t in zip(vs, ts):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, abs=TOL, rel=TOL)


rng = random.Random(0)
RANDOM = [rng.uniform(-3, 3) for _ in range(5)]
EDGE = [0.0, -0.0, 1e-8, -1e-8, 40.0, -40.0]

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "radd": lambda a, b: 2.5 + a * b,
    "rsub": lambda a, b: 2.5 - a * b,
    "rmul": lambda a, b: -1.5 * a + b,
    "rtruediv": lambda a, b: 3.0 / (a * a + 1) + b,
    "same value twice": lambda a, b: a * a + a * b + b,
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("a,b", [(RANDOM[0], RANDOM[1]), (RANDOM[2], RANDOM[3]), (0.0, 2.0), (-1.5, 0.25)])
def test_binary_operations_match_torch(name, a, b):
    _compare(BINARY[name], a, b)


UNARY = {
    "neg": lambda a: -a,
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "exp": lambda a: a.exp(),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("a", RANDOM + EDGE)
def test_unary_operations_match_torch(name, a):
    _compare(UNARY[name], a)


@pytest.mark.parametrize("a", [0.3, 1.0, 2.7, 1e-6, 50.0])
def test_log_and_fractional_powers_on_positive_inputs(a):
    _compare(lambda x: x.log(), a)
    _compare(lambda x: x**0.5, a)
    _compare(lambda x: x**-1.5, a)


def test_exp_of_large_input_relative():
    v = Value(40.0)
    out = v.exp()
    out.backward()
    assert v.grad == pytest.approx(math.exp(40.0), rel=1e-12)


def test_sigmoid_does_not_overflow_at_extremes():
    for x, expected in [(-800.0, 0.0), (800.0, 1.0)]:
        v = Value(x)
        out = v.sigmoid()
        out.backward()
        assert out.data == expected
        assert v.grad == 0.0


def test_relu_gradient_is_zero_at_zero_and_for_negatives():
    for x in [0.0, -2.0]:
        v = Value(x)
        v.relu().backward()
        assert v.grad == 0.0
    v = Value(2.0)
    v.relu().backward()
    assert v.grad == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_log_outside_domain_raises_clear_error(bad):
    with pytest.raises(ValueError, match="positive"):
        Value(bad).log()


def test_other_domain_errors():
    with pytest.raises(ZeroDivisionError, match="non-zero"):
        Value(1.0) / 0.0
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(ValueError, match="integer exponent"):
        Value(-2.0) ** 0.5
    with pytest.raises(TypeError, match="constant"):
        Value(2.0) ** Value(2.0)
    with pytest.raises(TypeError, match="real number"):
        Value("abc")


def test_composite_expression_matches_torch():
    # A deep, branching expression where values are reused several times.
    def f(a, b):
        c = a + b
        d = a * b + b**3
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
        e = c - d
        f = e**2
        g = f / 2.0
        g = g + 10.0 / f
        return (g.tanh() + g.sigmoid() * (a * a + 1).log()).exp()

    _compare(f, -4.0, 2.0)
    _compare(f, 0.7, -1.3)


def test_backward_twice_gives_same_gradients():
    a, b = Value(1.5), Value(-0.5)
    out = (a * b).tanh() + a
    out.backward()
    first = (a.grad, b.grad)
    out.backward()
    assert (a.grad, b.grad) == first


def test_backward_on_a_long_chain_does_not_hit_recursion_limit():
    x = Value(1.0)
    total = x
    for _ in range(5000):
        total = total + x
    total.backward()
    assert x.grad == 5001.0


def test_scalar_mlp_gradients_match_torch():
    net = ScalarMLP([3, 4, 4, 1], activation="tanh", seed=1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    y = rng.normal(size=5)
    loss = sum(((net(list(row))[0] - t) ** 2 for row, t in zip(X, y)), Value(0.0)) / len(y)
    loss.backward()

    weights = [(np.array(W), np.array(b)) for W, b in _weights(net)]
    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in weights]
    h = torch.tensor(X)
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = torch.tanh(h)
    torch_loss = ((h[:, 0] - torch.tensor(y)) ** 2).mean()
    torch_loss.backward()

    assert loss.data == pytest.approx(torch_loss.item(), rel=TOL)
    for (dW, db), (W, b) in zip(net.get_grads(), params):
        np.testing.assert_allclose(dW, W.grad.numpy(), atol=TOL, rtol=TOL)
        np.testing.assert_allclose(db, b.grad.numpy(), atol=TOL, rtol=TOL)


def _weights(net):
    out = []
    for layer in net.layers:
        W = [[n.w[i].data for n in layer.neurons] for i in range(len(layer.neurons[0].w))]
        out.append((W, [n.b.data for n in layer.neurons]))
    return out


def test_scalar_mlp_set_weights_round_trip_and_validation():
    net = ScalarMLP([2, 3, 1], seed=0)
    W1, b1 = np.arange(6.0).reshape(2, 3), np.array([0.1, 0.2, 0.3])
    W2, b2 = np.ones((3, 1)), np.array([-1.0])
    net.set_weights([(W1, b1), (W2, b2)])
    assert _weights(net) == [(W1.tolist(), b1.tolist()), (W2.tolist(), b2.tolist())]
    with pytest.raises(ValueError, match="shape"):
        net.set_weights([(W1.T, b1), (W2, b2)])
    with pytest.raises(ValueError, match="expects 2 inputs"):
        net([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="activation"):
        ScalarMLP([2, 1], activation="swish")


def test_draw_graph_places_every_value_right_of_its_inputs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bmcourse.autograd.graph import _columns, draw_graph

    a, b = Value(2.0, label="a"), Value(-1.0, label="b")
    out = ((a * b).tanh() + a).sigmoid()
    out.backward()
    columns = _columns(out)
    for node in out.topological_order():
        for child in node._children:
            assert columns[id(child)] < columns[id(node)]
    ax = draw_graph(out)
    n_values = len(out.topological_order())
    n_ops = sum(1 for v in out.topological_order() if v._children)
    assert len(ax.patches) == n_values + n_ops  # one box per value, one circle per operation
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "a  data 2" in texts and f"grad {a.grad:.4g}" in texts
    plt.close(ax.figure)


def test_draw_graph_vertical_puts_inputs_above_the_values_they_feed():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bmcourse.autograd.graph import draw_graph

    a, b = Value(2.0, label="a"), Value(-1.0, label="b")
    m = a * b
    m.label = "m"
    out = (m.tanh() + a).sigmoid()
    out.label = "out"
    out.backward()
    ax = draw_graph(out, vertical=True)
    height_of = {t.get_text().split("  ")[0]: t.get_position()[1]
                 for t in ax.texts if "data" in t.get_text()}
    assert height_of["a"] > height_of["m"] > height_of["out"]
    assert height_of["b"] > height_of["m"]
    n_values = len(out.topological_order())
    n_ops = sum(1 for v in out.topological_order() if v._children)
    assert len(ax.patches) == n_values + n_ops
    width, height = ax.figure.get_size_inches()
    assert height > width  # a deep graph grows down the page, not across it
    plt.close(ax.figure)


def test_draw_graph_rejects_bad_input():
    from bmcourse.autograd.graph import draw_graph

    with pytest.raises(TypeError, match="needs a Value"):
        draw_graph(3.0)
    big = sum((Value(float(i)) for i in range(200)), Value(0.0))
    with pytest.raises(ValueError, match="smaller expression"):
        draw_graph(big)
