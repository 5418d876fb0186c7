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
