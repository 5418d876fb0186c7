import numpy as np
import pytest
import torch

from bmcourse.exercises import quickstart as ex


def test_accuracy_check_accepts_a_correct_function():
    assert ex.q1.check(lambda logits, labels: (logits.argmax(1) == labels).float().mean())


def test_accuracy_check_rejects_common_mistakes():
    count_not_fraction = ex.q1.check(lambda logits, labels: (logits.argmax(1) == labels).sum())
    assert not count_not_fraction and "between 0 and 1" in count_not_fraction.message
    wrong_dim = ex.q1.check(lambda logits, labels: (logits.argmax(0)[: len(labels)] == labels).float().mean())
    assert not wrong_dim
    crashes = ex.q1.check(lambda logits: logits)
    assert not crashes and "TypeError" in crashes.message


def test_parameter_count():
    assert ex.q2.check(15690)
    assert not ex.q2.check(15680)
    assert torch.nn.Linear(1568, 10).weight.numel() + 10 == 15690


def test_accuracy_check_asks_for_a_function_when_given_something_else():
    logits, labels = torch.randn(5, 3), torch.randint(0, 3, (5,))
    for not_a_function in (0.5, (logits.argmax(1) == labels).float().mean(), "accuracy"):
        feedback = ex.q1.check(not_a_function)
        assert not feedback and feedback.message.startswith("Pass a function")
        assert "def accuracy(logits, labels)" in feedback.message and ".check(accuracy)" in feedback.message


def test_accuracy_check_names_the_learners_failing_line():
    def accuracy(logits, labels):
        return (logits.argmax(1) == labels).float().mean() / 0.0 + undefined_name  # noqa: F821

    feedback = ex.q1.check(accuracy)
    assert not feedback
    assert "Calling your accuracy(logits, labels) raised NameError" in feedback.message
    assert "of accuracy)" in feedback.message and "_check_accuracy" not in feedback.message


@pytest.mark.parametrize("returned, expected_words", [
    (None, "returned None (type NoneType)"),
    ("0.5", "returned '0.5' (type str)"),
    ([0.5], "returned [0.5] (type list)"),
    (True, "returned True (type bool)"),
    (np.zeros(50), "array of shape (50,)"),
    (float("nan"), "nan"),
])
def test_accuracy_check_explains_a_wrong_return_type(returned, expected_words):
    feedback = ex.q1.check(lambda logits, labels: returned)
    assert not feedback and expected_words in feedback.message
    assert "_check_accuracy" not in feedback.message  # about the answer, not the checker


def test_accuracy_check_accepts_numpy_and_tensor_numbers():
    assert ex.q1.check(lambda logits, labels: (logits.argmax(1) == labels).float().mean().numpy())
    assert ex.q1.check(lambda logits, labels: np.float64((logits.argmax(1) == labels).float().mean()))


def test_parameter_count_rejects_a_fraction_instead_of_truncating_it():
    truncated = ex.q2.check(15690.9)
    assert not truncated and "whole number" in truncated.message and "15690.9" in truncated.message
    assert not ex.q2.check("15690.5")
    assert ex.q2.check(15690.0) and ex.q2.check(np.int64(15690)) and ex.q2.check(torch.tensor(15690))
    assert not ex.q2.check(float("inf"))
