"""Exercise checks of the backprop chapter: right answers pass; wrong ones get a helpful, falsy reply."""
import numpy as np
import pytest

from bmcourse.autograd import check_layer
from bmcourse.autograd.layers import Layer, softmax
from bmcourse.exercises import backprop as ex


def _incorrect(feedback, *words):
    assert not feedback
    assert feedback.kind == "incorrect"
    for word in words:
        assert word in feedback.message, feedback.message


# q1 ---------------------------------------------------------------------------------------------
def test_q1_right_answer():
    assert ex.q1.check(lambda out, g: g * (1 - out**2))


@pytest.mark.parametrize("wrong,word", [
    (lambda out, g: 1 - out**2, "upstream"),
    (lambda out, g: g * (1 - np.tanh(out) ** 2), "already"),
    (lambda out, g: g * (1 - out), "square"),
    (lambda out, g: (g * (1 - out**2)).ravel(), "shape"),
    (lambda out, g: g, "differs"),
    (lambda out, g: 1 / 0, "ZeroDivisionError"),
    (3.0, "function itself"),
])
def test_q1_wrong_answers(wrong, word):
    _incorrect(ex.q1.check(wrong), word)


# q2 ---------------------------------------------------------------------------------------------
def _ce_grad(logits, targets):
    p = softmax(logits)
    p[np.arange(len(targets)), targets] -= 1
    return p / len(targets)


def test_q2_right_answer():
    assert ex.q2.check(_ce_grad)


@pytest.mark.parametrize("wrong,word", [
    (lambda z, t: _ce_grad(z, t) * len(t), "mean"),
    (lambda z, t: -_ce_grad(z, t), "sign"),
    (lambda z, t: softmax(z) / len(t), "one-hot"),
    (lambda z, t: _ce_grad(z, t)[:, 0], "shape"),
])
def test_q2_wrong_answers(wrong, word):
    _incorrect(ex.q2.check(wrong), word)


# q3 ---------------------------------------------------------------------------------------------
class LeakyReLU(Layer):
    def forward(self, x):
        self._cache = x > 0
        return np.where(self._cache, x, 0.01 * x)

    def backward(self, grad_out):
        return grad_out * np.where(self._cached(), 1.0, 0.01)


class LeakyReLUBadBackward(LeakyReLU):
    def backward(self, grad_out):
        return grad_out * self._cached()  # forgets the 0.01 slope


class LeakyReLUBadForward(LeakyReLU):
    def forward(self, x):
        self._cache = x > 0
        return np.where(self._cache, x, 0.0)


def test_q3_right_answer_class_or_instance():
    assert ex.q3.check(LeakyReLU)
    assert ex.q3.check(LeakyReLU())


def test_q3_wrong_answers():
    _incorrect(ex.q3.check(LeakyReLUBadBackward), "backward")
    _incorrect(ex.q3.check(LeakyReLUBadForward), "forward")
    _incorrect(ex.q3.check(42), "forward(x)")


# q4 ---------------------------------------------------------------------------------------------
def test_q4_the_planted_bug_is_real_and_only_in_W():
    result = check_layer(ex.MysteryLinear(), np.random.default_rng(0).normal(size=(5, 3)))
    assert result.errors["W"] > 0.01
    assert result.errors["b"] < 1e-6 and result.errors["x"] < 1e-6


@pytest.mark.parametrize("answer", ["W", "dW", "dL/dW", " w ", "weights"])
def test_q4_right_answers(answer):
    assert ex.q4.check(answer)


@pytest.mark.parametrize("answer,word", [("b", "passes"), ("x", "passes"), ("z", "name")])
def test_q4_wrong_answers(answer, word):
    _incorrect(ex.q4.check(answer), word)


# q5 ---------------------------------------------------------------------------------------------
def test_q5_matches_torch_and_checks():
    torch = pytest.importorskip("torch")
    theta = torch.arange(1.0, 7.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([1.0, 0.0], dtype=torch.float64)
    h = torch.sigmoid(theta[:4].reshape(2, 2) @ x)
    y_hat = torch.sigmoid(theta[4:] @ h)
    (0.5 * (0.0 - y_hat) ** 2).backward()
    want = theta.grad[0].item()
    assert ex.worked_example_grads(0.0)["11"] == pytest.approx(want, rel=1e-9)
    assert ex.q5.check(want)
    _incorrect(ex.q5.check(-want), "sign")
    _incorrect(ex.q5.check(ex.worked_example_grads(1.0)["11"]), "target 1")
    _incorrect(ex.q5.check("abc"), "one number")
    _incorrect(ex.q5.check(2 * want), "off by")


def test_every_question_has_hint_and_solution():
    for q in [ex.q1, ex.q2, ex.q3, ex.q4, ex.q5]:
        assert q.hint().message and q.solution().message
        assert not q.check(...)
