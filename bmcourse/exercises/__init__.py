"""Exercise checks for the chapters: ``from bmcourse.exercises import quickstart as ex``.

Each chapter has a module here defining ``q1``, ``q2``, ... as :class:`Question` objects.
"""
from .core import (Feedback, Incorrect, Question, as_whole_number, call_answer, expect_close,
                   expect_equal)

__all__ = ["Question", "Incorrect", "Feedback", "expect_equal", "expect_close", "as_whole_number",
           "call_answer"]
