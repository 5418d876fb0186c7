"""The instructor edition: student copies without solutions, and the grader."""
import csv
import pathlib
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bmcourse.cli import main
from bmcourse.instructor import grade_notebook, student_notebook, write_student_copies
from bmcourse.instructor.student import BEGIN, END, read_notebook

BOOK = pathlib.Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def _text(notebook) -> str:
    return "\n".join(cell.source for cell in notebook.cells)


# --- Student copies ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_answer_cell_marks_its_solution(path):
    # The convention the student copies rely on: each check in a folded answer cell follows a
    # solution between markers, inside a function, so that the unanswered copy still runs.
    notebook = read_notebook(path)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and ".check(" in cell.source and \
                "hide-cell" in cell.metadata.get("tags", []):
            assert BEGIN in cell.source and END in cell.source, f"{path.name} cell {index}"
            begin = next(line for line in cell.source.split("\n") if BEGIN in line)
            assert begin.startswith("    "), f"{path.name} cell {index}: markers outside a function"


def _solution_regions(notebook) -> list[str]:
    """The solutions' lines, found independently of the code under test."""
    lines = []
    for cell in notebook.cells:
        source = cell.source.split("\n")
        if "solution" in cell.metadata.get("tags", []):
            lines += source
            continue
        inside = False
        for line in source:
            if line.strip() in (BEGIN, END) or line.lstrip().startswith(":::{solution}"):
                inside = line.strip() != END
            elif inside:
                if cell.cell_type == "markdown" and line.strip() == ":::":
                    inside = False
                else:
                    lines.append(line)
    return [line.strip() for line in lines if len(line.strip()) >= 6]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_student_copy_contains_none_of_the_solutions(path):
    teacher = read_notebook(path)
    student, _ = student_notebook(teacher, path.name)
    solutions = _solution_regions(teacher)
    assert solutions, f"{path.name}: no solution was found"
    teacher_lines = [line.strip() for line in _text(teacher).split("\n")]
    student_lines = [line.strip() for line in _text(student).split("\n")]
    # A solution line may also occur outside the solutions (in the exercise's own text, say):
    # the copy may keep those occurrences, and no more.
    leaked = [line for line in set(solutions) if student_lines.count(line)
              > teacher_lines.count(line) - solutions.count(line)]
    assert not leaked, f"{path.name}: solution lines left in the student copy: {leaked[:3]}"
    text = _text(student)
    assert "{solution}" not in text and BEGIN not in text and END not in text
    assert all(not cell.get("outputs") for cell in student.cells if cell.cell_type == "code")
    # The exercises and their checks stay.
    assert text.count("{exercise}") == _text(teacher).count("{exercise}")
    checks = [c.source.count(".check(") for c in teacher.cells
              if "solution" not in c.metadata.get("tags", [])]
    assert text.count(".check(") == sum(checks) > 0


def test_markers_become_a_not_implemented_body_at_their_indentation():
    notebook = new_notebook(cells=[
        new_code_cell(f"def f(x):\n    {BEGIN}\n    y = x + 1\n    return y\n    {END}\n\n\nq.check(f)",
                      metadata={"tags": ["hide-cell"]}),
        new_code_cell("print('demo')", metadata={"tags": ["hide-cell", "solution"]}),
        new_markdown_cell(":::{exercise}\n:label: e\nAdd one.\n:::\n\n:::{solution} e\n"
                          ":class: dropdown\nReturn `x + 1`.\n:::\n\nAfter."),
    ])
    student, removed = student_notebook(notebook)
    assert student.cells[0].source == ("def f(x):\n    # YOUR CODE HERE\n    raise "
                                       "NotImplementedError()\n\n\nq.check(f)")
    assert "tags" not in student.cells[0].metadata  # the exercise cell is shown, not folded
    assert len(student.cells) == 2 and "print('demo')" in removed
    assert student.cells[1].source == ":::{exercise}\n:label: e\nAdd one.\n:::\n\nAfter."
    assert "    y = x + 1" in removed and "Return `x + 1`." in removed
    assert notebook.cells[0].source.count(BEGIN) == 1  # the instructor's notebook is untouched
    again, removed_again = student_notebook(student)
    assert again == student and removed_again == []  # idempotent


@pytest.mark.parametrize("source, problem", [
    (f"{BEGIN}\nx = 1", "never closed"),
    (f"x = 1\n{END}", "without"),
    (f"{BEGIN}\n{BEGIN}\n{END}", "second"),
])
def test_unbalanced_markers_are_reported_with_the_cell(source, problem):
    with pytest.raises(ValueError, match=problem) as err:
        student_notebook(new_notebook(cells=[new_code_cell(source)]), "hw.ipynb")
    assert "hw.ipynb, cell 0" in str(err.value)


def test_student_command_writes_copies_and_refuses_to_overwrite_sources(tmp_path, capsys):
    source = tmp_path / "src" / "quickstart.ipynb"
    source.parent.mkdir()
    source.write_bytes((BOOK / "quickstart.ipynb").read_bytes())
    assert main(["student", str(source), "-o", str(tmp_path / "out")]) == 0
    copy = tmp_path / "out" / "quickstart.ipynb"
    first = copy.read_bytes()
    assert BEGIN not in first.decode() and "raise NotImplementedError()" in first.decode()
    assert main(["student", str(copy), "-o", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "quickstart.ipynb").read_bytes() == first  # idempotent
    before = source.read_bytes()
    assert main(["student", str(source), "-o", str(source.parent)]) == 2
    assert "Refusing" in capsys.readouterr().err and source.read_bytes() == before
    with pytest.raises(ValueError, match="same file name"):
        other = tmp_path / "other" / "quickstart.ipynb"
        other.parent.mkdir()
        other.write_bytes(before)
        write_student_copies([source, other], tmp_path / "both")


# --- The grader -------------------------------------------------------------------------------

def _with_answer_cell(path, old, new, out):
    """A copy of the notebook at ``path`` with one answer line changed (a planted answer)."""
    notebook = read_notebook(path)
    hits = [cell for cell in notebook.cells if old in cell.source]
    assert len(hits) == 1
    hits[0].source = hits[0].source.replace(old, new)
    nbformat.write(notebook, out)
    return out


def _statuses(rows):
    return {row.exercise: row.status for row in rows}


def test_grading_the_instructors_notebook_gives_full_marks_and_a_planted_error_fails_it(tmp_path):
    rows = grade_notebook(BOOK / "quickstart.ipynb", cell_timeout=120, time_limit=300)
    assert _statuses(rows) == {"quickstart.q1": "pass", "quickstart.q2": "pass"}
    assert sum(r.points for r in rows) == sum(r.max_points for r in rows) == 2

    wrong = _with_answer_cell(BOOK / "quickstart.ipynb", "return 10 * 32 * 7 * 7 + 10",
                              "return 10 * 32 * 7 * 7", tmp_path / "alice.ipynb")
    rows = grade_notebook(wrong, cell_timeout=120, time_limit=300)
    assert _statuses(rows) == {"quickstart.q1": "pass", "quickstart.q2": "fail"}
    failed = next(r for r in rows if r.status == "fail")
    assert failed.student == "alice" and failed.points == 0 and failed.message
    assert "15690" not in failed.message  # the message does not give the answer away


def _exercise_notebook(*answer_cells):
    return new_notebook(cells=[new_code_cell("from bmcourse.exercises import quickstart as ex"),
                               *map(new_code_cell, answer_cells)],
                        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                 "language": "python"}})


def test_a_looping_cell_times_out_and_the_rest_is_still_graded(tmp_path):
    path = tmp_path / "bob.ipynb"
    nbformat.write(_exercise_notebook(
        "def accuracy(logits, labels):\n    while True:\n        pass\n\n\nex.q1.check(accuracy)",
        "def linear_parameters():\n    return 10 * 32 * 7 * 7 + 10\n\n\nex.q2.check(linear_parameters)",
    ), path)
    start = time.monotonic()
    rows = grade_notebook(path, cell_timeout=4, time_limit=60)
    assert time.monotonic() - start < 60
    assert _statuses(rows) == {"quickstart.q1": "timeout", "quickstart.q2": "pass"}


def test_a_notebook_over_its_time_limit_is_stopped(tmp_path):
    path = tmp_path / "carol.ipynb"
    nbformat.write(_exercise_notebook("import time\ntime.sleep(3)", "time.sleep(3)",
                                      "ex.q1.check(lambda logits, labels: 0.0)"), path)
    rows = grade_notebook(path, cell_timeout=60, time_limit=4)
    assert _statuses(rows) == {"quickstart.q1": "timeout", "quickstart.q2": "not attempted"}


def test_a_crashing_notebook_is_graded_as_an_error(tmp_path):
    path = tmp_path / "dave.ipynb"
    nbformat.write(_exercise_notebook(
        "ex.q2.check(lambda: 15690)",
        "import os\nos._exit(1)  # the kernel dies",
        "ex.q1.check(lambda logits, labels: 0.0)",
    ), path)
    rows = grade_notebook(path, cell_timeout=60, time_limit=120)
    assert _statuses(rows) == {"quickstart.q1": "error", "quickstart.q2": "pass"}
    assert "kernel died" in next(r for r in rows if r.status == "error").message


def test_grade_command_writes_one_row_per_student_and_exercise(tmp_path):
    student_copy = write_student_copies([BOOK / "quickstart.ipynb"], tmp_path / "eve")[0]
    broken = tmp_path / "frank.ipynb"
    broken.write_text("{ not json")
    out = tmp_path / "grades.csv"
    assert main(["grade", str(student_copy), str(broken), "-o", str(out), "--by-folder"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["student"], r["exercise"], r["status"]) for r in rows] == [
        ("eve", "quickstart.q1", "not attempted"), ("eve", "quickstart.q2", "not attempted"),
        (tmp_path.name, "", "error")]
    assert main(["grade", str(tmp_path / "missing.ipynb"), "-o", str(out)]) == 2
    assert main(["grade", str(broken), "-o", str(out), "--time-limit", "0"]) == 2


def test_the_chapters_exercises_come_from_the_modules_the_notebook_imports():
    from bmcourse.instructor.grade import chapter_questions

    notebook = new_notebook(cells=[new_code_cell(
        "from bmcourse.exercises import text as ex, (gan)\nimport bmcourse.exercises.math\n"
        "from bmcourse.exercises import Question")])
    modules = {module for module, _, _ in chapter_questions(notebook)}
    assert modules == {"bmcourse.exercises.text", "bmcourse.exercises.gan",
                       "bmcourse.exercises.math"}
