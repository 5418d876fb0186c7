"""Grade submitted notebooks: run each in a fresh kernel and record every exercise's check.

For each submission the grader

1. copies the notebook into a new temporary folder and runs it there, in a child process
   with a wall-clock limit for the whole notebook, a timeout for each cell, and operating-system
   limits on file size, memory and core dumps (:func:`_limit_resources`);
2. reads the results the exercises' checks logged while it ran (``Question.check`` appends one
   JSON line to the file named by ``BMCOURSE_GRADE_LOG``) and, for the exercises whose check
   never logged, how their cell ended;
3. returns one :class:`GradeRow` per exercise of the chapter: points, a status — ``pass``,
   ``fail``, ``not attempted``, ``error`` or ``timeout`` — and the check's message.

A notebook that crashes, loops forever or kills its kernel is graded like any other: the
exercises it never reached get ``error`` or ``timeout``.

This is not a sandbox. The submitted code runs as the grading user, can read what that user
can read, and could write to the check log itself; the limits keep honest mistakes (an endless
loop, a huge allocation) from hurting the grading run, not a determined attacker. Grade
untrusted work inside a container or a throw-away virtual machine.
"""
from __future__ import annotations

import csv
import importlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import nbformat

from ..exercises.core import GRADE_LOG_VARIABLE, Question
from ..files import atomic_write
from .student import read_notebook

__all__ = ["GradeRow", "grade_notebook", "grade", "write_csv", "chapter_questions"]

STATUSES = ("pass", "fail", "not attempted", "error", "timeout")
_KIND_TO_STATUS = {"correct": "pass", "incorrect": "fail", "unanswered": "not attempted"}
_IMPORT = re.compile(r"^\s*from\s+bmcourse\.exercises\s+import\s+([\w\s,()]+?)\s*(?:#.*)?$"
                     r"|^\s*import\s+bmcourse\.exercises\.(\w+)", re.MULTILINE)


@dataclass
class GradeRow:
    """One student's result on one exercise (one row of the grades CSV)."""
    student: str
    notebook: str
    exercise: str       # e.g. "text.q1"
    title: str
    points: int
    max_points: int
    status: str         # one of STATUSES
    message: str


def chapter_questions(notebook: nbformat.NotebookNode) -> list[tuple[str, str, Question]]:
    """``(module, name, question)`` for every exercise of the modules the notebook imports.

    The list comes from the package, not from the submission, so an exercise whose cell a
    student deleted is still graded (as not attempted).
    """
    modules = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for names, dotted in _IMPORT.findall(cell.source):
            # "text as ex, gan" -> text, gan: the first word of each comma-separated part
            parts = [dotted] if dotted else re.sub(r"[()]", " ", names).split(",")
            for name in (part.split()[0] for part in parts if part.strip()):
                if name not in modules:
                    modules.append(name)
    questions = []
    for name in modules:
        try:
            module = importlib.import_module(f"bmcourse.exercises.{name}")
        except ImportError:
            continue  # "from bmcourse.exercises import Question" and the like
        questions += [(module.__name__, attr, value) for attr, value in vars(module).items()
                      if isinstance(value, Question)]
    return questions


def _limit_resources(memory_bytes: int | None, file_bytes: int) -> None:
    """Run in the child before it starts: limits that its kernel inherits (Unix only)."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _run(notebook: Path, workdir: Path, env: dict, cell_timeout: float, time_limit: float,
         memory_bytes: int | None, file_bytes: int) -> tuple[dict, bool]:
    """Execute in a child process; return the cell statuses and whether the time limit hit."""
    status_path = workdir.parent / "cells.json"
    command = [sys.executable, "-m", "bmcourse.instructor.execute", str(notebook),
               str(status_path), "--workdir", str(workdir), "--cell-timeout", str(cell_timeout),
               "--time-limit", str(time_limit)]
    def preexec():
        _limit_resources(memory_bytes, file_bytes)
    child = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=preexec if os.name == "posix" else None)
    timed_out = False
    try:
        _, stderr = child.communicate(timeout=time_limit + 60)  # + kernel start and shutdown
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(child.pid, signal.SIGKILL)  # the child and the kernel it started
        _, stderr = child.communicate()
    try:
        status = json.loads(status_path.read_text())
    except (OSError, ValueError):
        reason = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        status = {"cells": [], "kernel_died": False, "failed": reason[0]}
    return status, timed_out


def grade_notebook(path, student: str | None = None, cell_timeout: float = 120,
                   time_limit: float = 900, quick: bool = True,
                   memory_bytes: int | None = 8 * 2**30, file_bytes: int = 2**30) -> list[GradeRow]:
    """Run one submitted notebook and grade every exercise of its chapter.

    Parameters
    ----------
    path : path
        The submitted ``.ipynb``; it is copied, never changed.
    student : str, optional
        Defaults to the file name without ``.ipynb``.
    cell_timeout, time_limit : float
        Seconds allowed for one cell, and for the whole notebook.
    quick : bool
        Run with ``BMCOURSE_QUICK=1`` (small training budgets), the default for grading.
    memory_bytes, file_bytes : int
        Address-space and file-size limits for the run (``None``: no memory limit).

    Returns
    -------
    list of GradeRow
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No submission at {path}.")
    try:
        notebook = read_notebook(path)
    except Exception as err:  # not JSON, or not a notebook: grade it as an error, do not stop
        return [GradeRow(student or path.stem, path.name, "", "", 0, 0, "error",
                         f"Could not read the notebook: {err}")]
    student = student or path.stem
    questions = chapter_questions(notebook)
    if not questions:
        return [GradeRow(student, path.name, "", "", 0, 0, "error",
                         "The notebook imports no exercise module (from bmcourse.exercises "
                         "import ...), so there is nothing to grade.")]
    with tempfile.TemporaryDirectory(prefix="bmcourse-grade-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        copy = workdir / path.name
        shutil.copyfile(path, copy)
        log = Path(tmp) / "checks.jsonl"
        env = dict(os.environ, **{GRADE_LOG_VARIABLE: str(log), "BMCOURSE_OFFLINE": "1",
                                  "MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
        env["BMCOURSE_QUICK"] = "1" if quick else "0"
        status, timed_out = _run(copy, workdir, env, cell_timeout, time_limit, memory_bytes,
                                 file_bytes)
        records = {}
        if log.exists():
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                    records[(record["module"], record["title"])] = record  # the last check counts
                except (ValueError, KeyError, TypeError):
                    continue
    rows = []
    for module, name, question in questions:
        record = records.get((module, question.title))
        exercise = f"{module.rsplit('.', 1)[-1]}.{name}"
        if record is not None and record.get("kind") in _KIND_TO_STATUS:
            state, message = _KIND_TO_STATUS[record["kind"]], str(record.get("message", ""))
        else:
            state, message = _unlogged(notebook, name, status, timed_out)
        rows.append(GradeRow(student, path.name, exercise, question.title,
                             question.points if state == "pass" else 0, question.points,
                             state, message))
    return rows


def _unlogged(notebook, name: str, status: dict, timed_out: bool) -> tuple[str, str]:
    """Status of an exercise whose check logged nothing, from how its cell ended."""
    if "failed" in status:
        return "error", f"The notebook could not be run: {status['failed']}"
    call = re.compile(rf"\.{name}\.check\(")
    cells = status.get("cells", [])
    ends = [cells[i] for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and call.search(cell.source) and i < len(cells)]
    for end in ends:
        if end["status"] == "timeout":
            return "timeout", end["error"]
        if end["status"] == "error":
            if end["error"].startswith("NotImplementedError"):
                return "not attempted", "The answer still raises NotImplementedError."
            return "error", end["error"]
    if ends and all(end["status"] == "not run" for end in ends):
        if timed_out:
            return "timeout", "The notebook ran past its time limit before this check."
        if status.get("kernel_died"):
            return "error", "The kernel died before this check ran."
        return "timeout", "The notebook stopped before this check ran."
    return "not attempted", "No check of this exercise ran."


def grade(submissions, by_folder: bool = False, **options) -> list[GradeRow]:
    """Grade several notebooks; the student is the file name, or its folder's with
    ``by_folder=True``. ``options`` go to :func:`grade_notebook`."""
    rows = []
    for path in map(Path, submissions):
        rows += grade_notebook(path, student=path.parent.name if by_folder else None, **options)
    return rows


def write_csv(rows: list[GradeRow], path) -> None:
    """Write the rows, with a header, to ``path`` (atomically)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f.name for f in fields(GradeRow)])
    writer.writerows(astuple(row) for row in rows)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))
