"""Tools for instructors: student copies of the notebooks and a grader.

``python -m bmcourse student NOTEBOOK... -o DIR`` writes copies without solutions
(:mod:`bmcourse.instructor.student`); ``python -m bmcourse grade SUBMISSION... -o grades.csv``
runs submitted notebooks and grades their exercises (:mod:`bmcourse.instructor.grade`).
The book's page "For instructors" walks through both.
"""
from .grade import GradeRow, grade, grade_notebook, write_csv
from .student import student_notebook, write_student_copies

__all__ = ["GradeRow", "grade", "grade_notebook", "write_csv", "student_notebook",
           "write_student_copies"]
