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
