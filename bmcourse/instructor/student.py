"""Student copies of the book's notebooks: the exercises stay, the solutions go.

Three things mark a solution in an instructor's notebook, the conventions nbgrader uses
(so the notebooks can also be taken into nbgrader):

* a code cell tagged ``solution`` (a worked demonstration that uses the answer) is removed;
* in a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are
  replaced by ``# YOUR CODE HERE`` and ``raise NotImplementedError()``, at the markers'
  indentation (the book writes every answer as a function, so a student copy still runs top
  to bottom and the checks report "not attempted");
* in a Markdown cell, a ``{solution}`` directive (``:::{solution} label`` … ``:::``) is removed.

Everything else is kept, checks included; outputs are cleared. Making a student copy of a
student copy changes nothing.
"""
from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path

import nbformat

from ..files import atomic_write

__all__ = ["BEGIN", "END", "SOLUTION_TAG", "read_notebook", "student_notebook",
           "write_student_copies", "solution_lines"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_TAG = "solution"
# A MyST directive fence: three or more colons or backticks, then {solution}.
_SOLUTION_FENCE = re.compile(r"^(\s*)(:{3,}|`{3,})\{solution\}")


def read_notebook(path) -> nbformat.NotebookNode:
    """Read a notebook (format 4). Cells without ids (older minor formats) are fine here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=nbformat.validator.MissingIDFieldWarning)
        return nbformat.read(path, as_version=4)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _replace_markers(source: str, where: str) -> tuple[str, list[str]]:
    """The source with every marked block replaced, and the lines that were removed."""
    kept, removed, inside = [], [], None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside is not None:
                raise ValueError(f"{where}, line {number}: a second {BEGIN!r} before {END!r}. "
                                 "Close each solution block before opening the next.")
            inside = line[: len(line) - len(line.lstrip())]
            kept += [inside + "# YOUR CODE HERE", inside + "raise NotImplementedError()"]
        elif marker == END:
            if inside is None:
                raise ValueError(f"{where}, line {number}: {END!r} without {BEGIN!r} before it.")
            inside = None
        elif inside is not None:
            removed.append(line)
        else:
            kept.append(line)
    if inside is not None:
        raise ValueError(f"{where}: {BEGIN!r} is never closed by {END!r}. Add the end marker.")
    return "\n".join(kept), removed


def _drop_solution_directives(source: str) -> tuple[str, list[str]]:
    """The Markdown without its {solution} directives, and the lines that were removed."""
    kept, removed, closing = [], [], None
    for line in source.split("\n"):
        if closing is None:
            match = _SOLUTION_FENCE.match(line)
            if match:
                closing = match.group(2)
                removed.append(line)
            else:
                kept.append(line)
        else:
            removed.append(line)
            if line.strip() == closing:
                closing = None
    # A directive left open runs to the end of the cell, as MyST reads it.
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n"), removed


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook"):
    """A student copy of ``notebook`` (which is left unchanged) and the solution lines it lost.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
    name : str
        Used in error messages.

    Returns
    -------
    student : nbformat.NotebookNode
    removed : list of str
        Every source line taken out (solution cells, marked blocks, solution directives).

    Raises
    ------
    ValueError
        For unbalanced solution markers, naming the cell and line.
    """
    student = copy.deepcopy(notebook)
    cells, removed = [], []
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index}"
        if SOLUTION_TAG in _tags(cell):
            removed += cell.source.split("\n")
            continue
        if cell.cell_type == "code":
            new_source, lost = _replace_markers(cell.source, where)
            if lost:
                # The exercise cell is now the student's to fill in: show it, unfolded.
                tags = [t for t in _tags(cell) if t != "hide-cell"]
                cell.metadata["tags"] = tags
                if not tags:
                    del cell.metadata["tags"]
            cell.source, cell.outputs, cell.execution_count = new_source, [], None
            removed += lost
        elif cell.cell_type == "markdown":
            cell.source, lost = _drop_solution_directives(cell.source)
            removed += lost
        cells.append(cell)
    student.cells = cells
    student.metadata.setdefault("bmcourse", {})["edition"] = "student"
    return student, removed


def solution_lines(notebook: nbformat.NotebookNode) -> list[str]:
    """The source lines a student copy of ``notebook`` leaves out."""
    return student_notebook(notebook)[1]


def write_student_copies(notebooks, out_dir) -> list[Path]:
    """Write a student copy of each notebook into ``out_dir`` (created); return their paths.

    Refuses (``ValueError``) to write a copy over any of the source notebooks, or two copies
    to one name.
    """
    sources = [Path(p) for p in notebooks]
    if not sources:
        raise ValueError("Name at least one notebook to make a student copy of.")
    out_dir = Path(out_dir)
    targets = [out_dir / source.name for source in sources]
    resolved_sources = {source.resolve() for source in sources}
    for source, target in zip(sources, targets):
        if not source.is_file():
            raise FileNotFoundError(f"No notebook at {source}.")
        if source.suffix != ".ipynb":
            raise ValueError(f"{source} is not a notebook (.ipynb).")
        if target.resolve() in resolved_sources:
            raise ValueError(f"Refusing to write the student copy of {source} over a source "
                             f"notebook ({target}). Choose another output folder with -o.")
    if len({t.name for t in targets}) != len(targets):
        raise ValueError("Two notebooks have the same file name; their student copies would "
                         "overwrite each other. Make copies of each group separately.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, targets):
        notebook = read_notebook(source)
        student, _ = student_notebook(notebook, name=str(source))
        with atomic_write(target) as handle:
            handle.write(nbformat.writes(student).encode("utf-8"))
    return targets
