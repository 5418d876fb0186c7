"""Check, hint and solution for notebook exercises.

A chapter's exercise module defines one :class:`Question` per exercise::

    q1 = Question(
        "Output size of a 5x5 convolution on a 28x28 image, no padding",
        check=lambda answer: expect_equal(answer, 24),
        hint="Each output pixel needs a full 5x5 window inside the image.",
        solution="`28 - 5 + 1 = 24`",
    )

and a learner writes ``q1.check(my_answer)``, ``q1.hint()``, ``q1.solution()``.

The book's own answers are functions whose body sits between nbgrader's solution markers::

    def conv_output_size():
        ### BEGIN SOLUTION
        return 28 - 5 + 1
        ### END SOLUTION


    q1.check(conv_output_size)

so that a student copy (``python -m bmcourse student``) can replace the body with
``raise NotImplementedError()`` and still run top to bottom: a question that expects a value
calls a function it is given, and an answer that raises ``NotImplementedError`` (or is ``...``)
is reported as *not attempted*, not as wrong. Each question is worth ``points`` (default 1),
and when ``BMCOURSE_GRADE_LOG`` names a file, every check appends its result there as one JSON
line for the grader (``python -m bmcourse grade``).

A check never lets a traceback reach the learner: a wrong answer, or code of theirs that
raises, becomes a short message that says what to look at. The result of ``check`` is
truthy only for a correct answer, so tests and graders can use it directly.

Check functions build on :func:`expect_equal` and :func:`expect_close` (compare values),
:func:`as_whole_number` (a count, without ``int()``'s silent truncation) and
:func:`call_answer` (call the learner's function, explaining a non-function or an exception).
"""
from __future__ import annotations

import html
import inspect
import json
import math
import numbers
import os
import sys
import traceback
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["Question", "Incorrect", "Feedback", "expect_equal", "expect_close", "as_whole_number",
           "call_answer"]


class Incorrect(Exception):
    """Raised by a check function to reject an answer; its message is shown to the learner."""


class Feedback:
    """What ``Question.check`` returns: truthy when correct, rendered nicely in Jupyter."""

    _STYLE = {
        "correct": ("#e6f4ea", "#1e7e34", "Correct"),
        "incorrect": ("#fdecea", "#b02a37", "Not yet"),
        "unanswered": ("#f1f3f4", "#5f6368", "Not attempted"),
        "hint": ("#fff8e1", "#8a6d00", "Hint"),
        "solution": ("#e8f0fe", "#1a4fa0", "Solution"),
    }

    def __init__(self, kind: str, title: str, message: str):
        self.kind, self.title, self.message = kind, title, message

    def __bool__(self) -> bool:
        return self.kind == "correct"

    def __repr__(self) -> str:
        label = self._STYLE[self.kind][2]
        return f"{label} — {self.title}: {self.message}" if self.message else f"{label} — {self.title}"

    def _repr_html_(self) -> str:
        background, color, label = self._STYLE[self.kind]
        body = html.escape(self.message).replace("\n", "<br>")
        return (
            f'<div style="background:{background};border-left:4px solid {color};'
            f'padding:0.5em 0.8em;margin:0.3em 0;font-family:sans-serif">'
            f'<b style="color:{color}">{label}</b> — {html.escape(self.title)}'
            + (f"<br>{body}" if body else "")
            + "</div>"
        )


class Question:
    """One exercise: a check function plus a hint and a solution text.

    Parameters
    ----------
    title : str
        A short name shown in every message.
    check : callable
        ``check(answer)`` returns normally for a right answer and raises :class:`Incorrect`
        with a helpful message otherwise. Any other exception it raises is reported as a
        problem with the answer (typically the learner's function failed), not as a crash.
    hint, solution : str
        Text (Markdown is fine) shown by :meth:`hint` and :meth:`solution`.
    points : int
        What the exercise is worth to the grader (default 1).
    expects : {"value", "function"}
        What ``check`` wants. A ``"value"`` question given a function that takes no
        arguments calls it and checks what it returns, so a value can be written as a function with
        its body between solution markers (see the module's docstring).
    """

    def __init__(self, title: str, check: Callable[[Any], None], hint: str, solution: str,
                 points: int = 1, expects: str = "value"):
        if expects not in ("value", "function"):
            raise ValueError(f"expects must be 'value' or 'function', got {expects!r}.")
        if isinstance(points, bool) or not isinstance(points, int) or points < 0:
            raise ValueError(f"points must be a whole number >= 0, got {points!r}.")
        self.title, self._check, self._hint, self._solution = title, check, hint, solution
        self.points, self.expects = points, expects
        # The module that defines the question: the grader's log names it with the title.
        self.module = sys._getframe(1).f_globals.get("__name__", "")

    def check(self, answer: Any) -> Feedback:
        """Check an answer; never raises. Returns a truthy :class:`Feedback` when correct."""
        feedback = self._feedback(answer)
        _log_for_grader(self, feedback)
        return feedback

    def _feedback(self, answer: Any) -> Feedback:
        not_attempted = Feedback("unanswered", self.title, "Replace `raise NotImplementedError()` "
                                 "(or `...`) with your answer, then run the cell again.")
        if answer is Ellipsis or answer is None:
            return not_attempted
        try:
            if self.expects == "value" and _takes_no_arguments(answer):
                answer = answer()
                if answer is Ellipsis or answer is None:
                    return not_attempted
            self._check(answer)
        except NotImplementedError:
            return not_attempted
        except Incorrect as wrong:
            return Feedback("incorrect", self.title, str(wrong))
        except Exception as err:  # the learner's code raised: say where, without a traceback wall
            where = traceback.extract_tb(err.__traceback__)[-1]
            return Feedback(
                "incorrect",
                self.title,
                f"Checking your answer raised {type(err).__name__}: {err} "
                f"(line {where.lineno} of {where.name}). Fix that first, then check again.",
            )
        return Feedback("correct", self.title, "")

    def hint(self) -> Feedback:
        return Feedback("hint", self.title, self._hint)

    def solution(self) -> Feedback:
        return Feedback("solution", self.title, self._solution)

    def __repr__(self) -> str:
        return f"Question({self.title!r}) — use .check(answer), .hint(), .solution()"


def _takes_no_arguments(answer: Any) -> bool:
    """True for a function (not a class) that can be called without arguments."""
    if not callable(answer) or isinstance(answer, type):
        return False
    try:
        signature = inspect.signature(answer)
    except (TypeError, ValueError):  # some built-ins have no signature
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in signature.parameters.values())


GRADE_LOG_VARIABLE = "BMCOURSE_GRADE_LOG"


def _log_for_grader(question: Question, feedback: Feedback) -> None:
    """Append this check's result to the grader's log, when the grader set one up."""
    path = os.environ.get(GRADE_LOG_VARIABLE)
    if not path:
        return
    record = {"module": question.module, "title": question.title, "points": question.points,
              "kind": feedback.kind, "message": feedback.message}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record, ensure_ascii=False) + "\n")


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def expect_equal(answer: Any, expected: Any, what: str = "your answer") -> None:
    """Raise :class:`Incorrect` unless ``answer == expected`` (exactly; shapes must match)."""
    a, e = _as_array(answer), _as_array(expected)
    if a.shape != e.shape:
        raise Incorrect(f"{what} has shape {a.shape}; expected shape {e.shape}.")
    if not np.array_equal(a, e):
        raise Incorrect(f"{what} is {answer!r}, which is not right yet.")


def expect_close(answer: Any, expected: Any, what: str = "your answer", rtol: float = 1e-4,
                 atol: float = 1e-6) -> None:
    """Raise :class:`Incorrect` unless ``answer`` matches ``expected`` numerically."""
    try:
        a = _as_array(answer).astype(np.float64)
    except (TypeError, ValueError):
        raise Incorrect(f"{what} should be a number or an array of numbers, got {type(answer).__name__}.")
    e = _as_array(expected).astype(np.float64)
    if a.shape != e.shape:
        raise Incorrect(f"{what} has shape {a.shape}; expected shape {e.shape}.")
    if not np.all(np.isfinite(a)):
        raise Incorrect(f"{what} contains NaN or infinity.")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        if a.size == 1:
            raise Incorrect(f"{what} is {a.item():.6g}; that is off by {worst:.3g}.")
        raise Incorrect(f"{what} differs from the expected values by up to {worst:.3g}.")


def as_whole_number(answer: Any, what: str = "your answer") -> int:
    """Return ``answer`` as an ``int``; raise :class:`Incorrect` unless it is a whole number.

    Accepts ints, NumPy integers, one-element tensors or arrays, numeric strings, and floats
    with nothing after the point (``15690.0``). ``int()`` alone would truncate ``15690.9`` to
    ``15690`` and so accept a wrong answer.
    """
    value = answer
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if (value.numel() if isinstance(value, torch.Tensor) else value.size) != 1:
            raise Incorrect(f"{what} should be one whole number, got an array of shape "
                            f"{tuple(value.shape)}.")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            try:
                value = float(value.strip())
            except ValueError:
                raise Incorrect(f"{what} should be a whole number, got the text {answer!r}.") from None
    if isinstance(value, bool):  # True is an int in Python, but never a count
        raise Incorrect(f"{what} should be a whole number, not {value}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not isinstance(value, numbers.Real):
        raise Incorrect(f"{what} should be a whole number, got {_shown(answer)}.")
    if not math.isfinite(value):
        raise Incorrect(f"{what} should be a whole number, not {value}.")
    if not float(value).is_integer():
        raise Incorrect(f"{what} should be a whole number, and {value!r} has a fractional part: "
                        "recheck the arithmetic rather than rounding.")
    return int(value)


def _shown(value: Any) -> str:
    """A short description of a wrong answer for a message: its repr (cut) and its type."""
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} (type {type(value).__name__})"


_EXERCISES_DIR = os.path.dirname(os.path.abspath(__file__))


def _learner_location(err: BaseException) -> str:
    """' (line N of name)' for the innermost frame outside these checks, or '' if none."""
    frames = [frame for frame in traceback.extract_tb(err.__traceback__)
              if os.path.dirname(os.path.abspath(frame.filename)) != _EXERCISES_DIR]
    return f" (line {frames[-1].lineno} of {frames[-1].name})" if frames else ""


def call_answer(function: Any, *args: Any, signature: str, call: str | None = None) -> Any:
    """Call the learner's ``function(*args)`` and return its result.

    Parameters
    ----------
    function : Any
        What the learner passed to ``check``; it should be a function.
    *args
        The arguments to call it with.
    signature : str
        How the exercise defines the function, e.g. ``"accuracy(logits, labels)"``.
    call : str, optional
        This particular call, e.g. ``"shift_image(image, dy=1, dx=0)"``; default ``signature``.

    Raises
    ------
    Incorrect
        If ``function`` is not callable (typically its result was passed instead of the function
        itself), or if calling it raised; the message names the call and the line that failed.
    """
    name = signature.split("(")[0]
    if not callable(function):
        raise Incorrect(f"Pass a function, not {_shown(function)}: define "
                        f"`def {signature}: ...`, then check the function itself with "
                        f"`.check({name})`, without calling it.")
    try:
        return function(*args)
    except (Incorrect, NotImplementedError):
        raise  # NotImplementedError: an unanswered student copy, reported as "not attempted"
    except Exception as err:
        raise Incorrect(f"Calling your {call or signature} raised {type(err).__name__}: {err}"
                        f"{_learner_location(err)}. Fix that first, then check again.") from None
