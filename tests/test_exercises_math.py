"""Exercises of the math chapter: right answers pass, typical wrong ones get a useful message."""
import math

import pytest
import torch

from bmcourse.exercises import math as ex


def assert_wrong(feedback, *words):
    assert not feedback
    for word in words:
        assert word in feedback.message, feedback.message


def test_q1_optimal_discriminator():
    assert ex.q1.check(lambda x: torch.sigmoid(2 - 2 * x))
    pdf = lambda x, m: torch.exp(-0.5 * (x - m) ** 2)
    assert ex.q1.check(lambda x: pdf(x, 0) / (pdf(x, 0) + pdf(x, 2)))
    assert_wrong(ex.q1.check(lambda x: torch.sigmoid(2 * x - 2)), "real")
    assert_wrong(ex.q1.check(lambda x: pdf(x, 0) / pdf(x, 2)), "cannot exceed 1")
    assert_wrong(ex.q1.check(lambda x: torch.full_like(x, 0.5)), "D*(x)")
    assert_wrong(ex.q1.check(0.5), "function")
    assert_wrong(ex.q1.check(lambda x: x.sum()), "shape")


def test_q2_causal_mask():
    assert ex.q2.check(lambda T: torch.ones(T, T, dtype=torch.bool).tril())
    assert ex.q2.check(lambda T: torch.arange(T)[:, None] >= torch.arange(T)[None, :])
    assert_wrong(ex.q2.check(lambda T: torch.ones(T, T).tril()), "bool")
    assert_wrong(ex.q2.check(lambda T: torch.ones(T, T, dtype=torch.bool).triu()), "transpose")
    assert_wrong(ex.q2.check(lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1)), "itself")
    assert_wrong(ex.q2.check(lambda T: ~torch.ones(T, T, dtype=torch.bool).tril()), "blocked")
    assert_wrong(ex.q2.check(lambda T: torch.ones(T, T + 1, dtype=torch.bool)), "shape")


def test_q3_gaussian_kl():
    assert ex.q3.check(lambda m, s: 0.5 * (m ** 2 + s ** 2 - 1 - math.log(s ** 2)))
    assert_wrong(ex.q3.check(lambda m, s: m ** 2 + s ** 2 - 1 - math.log(s ** 2)), "1/2")
    assert_wrong(ex.q3.check(lambda m, s: 0.5 * (m ** 2 + s - 1 - math.log(s))), "variance")
    assert_wrong(ex.q3.check(lambda m, s: -0.5 * (m ** 2 + s ** 2 - 1 - math.log(s ** 2))), "sign")
    assert_wrong(ex.q3.check(lambda m, s: 1 / 0), "ZeroDivisionError")


def test_q4_dot_product_variance():
    assert ex.q4.check(64)
    assert_wrong(ex.q4.check(8), "standard deviation")
    assert_wrong(ex.q4.check(1), "64")
    assert_wrong(ex.q4.check("lots"), "number")
    assert not ex.q4.check(32)


def test_q5_cross_entropy():
    assert ex.q5.check(-0.5 * math.log(0.2))
    assert ex.q5.check(0.805)
    assert_wrong(ex.q5.check(0.693), "seed")
    assert_wrong(ex.q5.check(1.609), "average")
    assert_wrong(ex.q5.check(0.349), "natural")


@pytest.mark.parametrize("q", [ex.q1, ex.q2, ex.q3, ex.q4, ex.q5])
def test_every_question_has_hint_and_solution_and_rejects_placeholders(q):
    assert q.hint().message and q.solution().message
    assert not q.check(...)
