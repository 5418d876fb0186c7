from bmcourse.exercises import Incorrect, Question, call_answer, expect_close, expect_equal


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

    q = Question("Square", check=check, hint="", solution="", expects="function")
    assert q.check(lambda x: x * x)
    result_not_function = q.check(4.0)
    assert not result_not_function and "Pass a function, not 4.0 (type float)" in result_not_function.message
    assert "`.check(square)`" in result_not_function.message
    wrong_arity = q.check(lambda: 4.0)
    assert "Calling your square(x) raised TypeError" in wrong_arity.message
    assert "(line" not in wrong_arity.message  # no location inside the checking code


# --- Student copies and the grader: values as functions, "not attempted", points, the log ------

def test_a_value_question_calls_a_function_without_arguments():
    q = make_question()

    def answer():
        return 3 * 3

    assert q.check(answer) and not q.check(lambda: 8)
    assert q.points == 1 and Question("t", check=lambda a: None, hint="", solution="", points=3).points == 3


def test_an_unanswered_student_copy_is_not_attempted_not_wrong():
    def answer():
        raise NotImplementedError()

    feedback = make_question().check(answer)
    assert not feedback and feedback.kind == "unanswered" and "Not attempted" in repr(feedback)

    def top_k(logits, k):
        raise NotImplementedError()

    def check(f):
        expect_equal(call_answer(f, [3, 1], 1, signature="top_k(logits, k)"), [3])

    q = Question("Top k", check=check, hint="", solution="", expects="function")
    assert q.check(top_k).kind == "unanswered"
    # Any other exception in the learner's function is still reported as a problem to fix.
    assert q.check(lambda logits, k: 1 / 0).kind == "incorrect"


def test_a_function_question_passes_the_function_itself():
    seen = []
    q = Question("f", check=lambda f: seen.append(f), hint="", solution="", expects="function")

    def zero_arguments():
        return 1

    q.check(zero_arguments)
    assert seen == [zero_arguments]


def test_bad_points_or_expects_are_refused():
    import pytest

    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="points"):
            Question("t", check=lambda a: None, hint="", solution="", points=bad)
    with pytest.raises(ValueError, match="expects"):
        Question("t", check=lambda a: None, hint="", solution="", expects="number")


def test_every_check_is_logged_for_the_grader(tmp_path, monkeypatch):
    import json

    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("BMCOURSE_GRADE_LOG", str(log))
    q = make_question()
    q.check(6)
    q.check(9)
    q.check(...)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["incorrect", "correct", "unanswered"]
    assert records[0]["module"] == __name__ and records[0]["title"] == "Square of 3"
    assert records[0]["points"] == 1 and "6" in records[0]["message"]
