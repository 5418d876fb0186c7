from bmcourse.exercises import Incorrect, Question, expect_close, expect_equal


def make_question():
    return Question("Square of 3", check=lambda a: expect_equal(a, 9), hint="Multiply 3 by itself.",
                    solution="`3 * 3 = 9`")


def test_right_answer_is_truthy():
    feedback = make_question().check(9)
    assert feedback and "Correct" in repr(feedback) and "Correct" in feedback._repr_html_()


def test_wrong_answer_is_friendly_not_a_traceback():
    feedback = make_question().check(6)
    assert not feedback
    assert "Not yet" in repr(feedback) and "6" in feedback.message


def test_placeholder_and_crashing_answers():
    assert "Replace" in make_question().check(...).message

    def learner_function(x):
        return x / 0

    q = Question("Use a function", check=lambda f: expect_close(f(2.0), 4.0), hint="", solution="")
    feedback = q.check(learner_function)
    assert not feedback and "ZeroDivisionError" in feedback.message and "Traceback" not in feedback.message


def test_shape_and_value_messages():
    q = Question("Vector", check=lambda a: expect_close(a, [1.0, 2.0]), hint="h", solution="s")
    assert "shape" in q.check([1.0, 2.0, 3.0]).message
    assert "off by" not in q.check([1.0, 2.5]).message and "differs" in q.check([1.0, 2.5]).message
    assert "NaN" in q.check([float("nan"), 2.0]).message
    assert q.check([1.0, 2.0 + 1e-9])


def test_custom_incorrect_message_hint_and_solution():
    def check(answer):
        if answer != "relu":
            raise Incorrect("Think of the activation that is zero for negative inputs.")

    q = Question("Name it", check=check, hint="Rectified...", solution="ReLU")
    assert q.check("tanh").message.startswith("Think")
    assert q.hint().message == "Rectified..." and not q.hint()
    assert "ReLU" in q.solution()._repr_html_()


def test_as_whole_number_accepts_whole_values_and_rejects_fractions():
    import numpy as np
    import pytest
    import torch

    from bmcourse.exercises import as_whole_number

    for whole in (7, 7.0, "7", " 7.0 ", np.int16(7), np.float32(7.0), torch.tensor(7), torch.tensor([7.0])):
        assert as_whole_number(whole) == 7 and type(as_whole_number(whole)) is int
    assert as_whole_number(2**60 + 1) == 2**60 + 1  # no detour through float
    for wrong, words in ((7.5, "fractional part"), ("7.5", "fractional part"), (float("nan"), "not nan"),
                         (True, "not True"), ("seven", "the text 'seven'"), ([7], "type list"),
                         (torch.tensor([7, 8]), "shape (2,)")):
        with pytest.raises(Incorrect, match="whole number") as raised:
            as_whole_number(wrong, what="the count")
        assert raised.value.args[0].startswith("the count") and words in str(raised.value)


def test_call_answer_turns_non_functions_and_their_errors_into_feedback():
    from bmcourse.exercises import call_answer

    def check(f):
        expect_close(call_answer(f, 2.0, signature="square(x)"), 4.0)

    q = Question("Square", check=check, hint="", solution="")
    assert q.check(lambda x: x * x)
    result_not_function = q.check(4.0)
    assert not result_not_function and "Pass a function, not 4.0 (type float)" in result_not_function.message
    assert "`.check(square)`" in result_not_function.message
    wrong_arity = q.check(lambda: 4.0)
    assert "Calling your square(x) raised TypeError" in wrong_arity.message
    assert "(line" not in wrong_arity.message  # no location inside the checking code
