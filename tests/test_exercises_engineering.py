"""The engineering chapter's exercises accept the right answers and explain common wrong ones."""
import torch

from bmcourse.exercises import engineering as ex


def test_loss_scale():
    assert ex.q1.check(32)
    assert torch.tensor(1e-9 * 32).half() != 0 and torch.tensor(1e-9 * 16).half() == 0
    assert "smaller power" in ex.q1.check(64).message
    assert "subnormal" in ex.q1.check(2 ** 14).message
    assert "powers of two" in ex.q1.check(30).message
    assert not ex.q1.check(16)


def test_accumulation_steps():
    assert ex.q2.check(5)
    assert "8 × 12" in ex.q2.check(40).message
    assert not ex.q2.check(4)


def test_zero3_memory():
    assert ex.q3.check(3.0)
    assert "whole model" in ex.q3.check(24).message
    assert "ZeRO-1" in ex.q3.check(8.25).message
    assert "gigabytes" in ex.q3.check("lots").message
    assert not ex.q3.check(2.0)
