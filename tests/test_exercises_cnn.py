import torch
from torch import nn

from bmcourse.exercises import cnn as ex


def test_output_shape():
    truth = tuple(nn.Conv2d(3, 16, 5, stride=2, padding=1)(torch.zeros(1, 3, 32, 32)).shape[1:])
    assert ex.q1.check(truth)
    assert ex.q1.check([16, 15, 15])
    one_sided_padding = ex.q1.check((16, 14, 14))
    assert not one_sided_padding and "n + 2p" in one_sided_padding.message
    assert not ex.q1.check((3, 15, 15))
    assert not ex.q1.check((1, 16, 15, 15))
    assert not ex.q1.check(15)


def test_parameter_count():
    truth = sum(p.numel() for p in nn.Conv2d(64, 128, 3).parameters())
    assert ex.q2.check(truth)
    no_bias = ex.q2.check(64 * 128 * 9)
    assert not no_bias and "bias" in no_bias.message
    assert not ex.q2.check("many")


def test_receptive_field():
    assert ex.q3.check(7)
    summed = ex.q3.check(9)
    assert not summed and "k - 1" in summed.message


def shift_right(image, dy, dx):
    _, h, w = image.shape
    out = torch.zeros_like(image)
    out[:, max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        image[:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def test_shift_accepts_a_correct_function_and_matches_random_shift_windows():
    assert ex.q4.check(shift_right)
    # the same result as padding and cropping a window, the way bmcourse's random_shift works
    image = torch.rand(1, 5, 5)
    padded = nn.functional.pad(image, (2, 2, 2, 2))
    assert torch.equal(shift_right(image, 1, -2), padded[:, 1:6, 4:9])


def test_shift_rejects_common_mistakes():
    rolled = ex.q4.check(lambda image, dy, dx: torch.roll(image, (dy, dx), dims=(1, 2)))
    assert not rolled and "wraps" in rolled.message
    backwards = ex.q4.check(lambda image, dy, dx: shift_right(image, -dy, -dx))
    assert not backwards and "wrong way" in backwards.message
    flat = ex.q4.check(lambda image, dy, dx: image.flatten())
    assert not flat and "shape" in flat.message
    crashes = ex.q4.check(lambda image: image)
    assert not crashes and "TypeError" in crashes.message


def test_fractional_answers_are_rejected_not_truncated():
    assert not ex.q1.check((16, 15.5, 15)) and ex.q1.check((16.0, 15.0, 15.0))
    assert not ex.q1.check("16, 15, 15")
    fractional = ex.q2.check(73856.7)
    assert not fractional and "whole number" in fractional.message
    assert ex.q2.check(73856.0)
    assert not ex.q3.check(7.2) and ex.q3.check(7.0)


def test_shift_asks_for_a_function_when_given_something_else():
    image = torch.rand(1, 6, 7)
    for not_a_function in (shift_right(image, 1, 0), 0.5):
        feedback = ex.q4.check(not_a_function)
        assert not feedback and feedback.message.startswith("Pass a function")
        assert "def shift_image(image, dy, dx)" in feedback.message


def test_shift_names_the_call_that_raised_and_the_wrong_return_type():
    def shift_image(image, dy, dx):
        if dy < 0:
            raise IndexError("negative shift")
        return shift_right(image, dy, dx)

    raised = ex.q4.check(shift_image)
    assert not raised
    assert "shift_image(image, dy=-1, dx=2) raised IndexError: negative shift" in raised.message
    assert "of shift_image)" in raised.message
    none = ex.q4.check(lambda image, dy, dx: None)
    assert not none and "NoneType" in none.message and "zeros_like" in none.message
    double = ex.q4.check(lambda image, dy, dx: shift_right(image, dy, dx).double())
    assert not double and "torch.float64 for a torch.float32 image" in double.message
