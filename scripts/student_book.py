"""Lay out the student edition's sources: the book with every solution removed.

    python scripts/student_book.py OUT [--execute cache|force|off]

writes into OUT a copy of the book whose notebooks are student copies
(``python -m bmcourse student``: solution cells, marked solution code and ``{solution}``
directives removed, checks kept), then `jupyter-book build OUT` builds it (see the Makefile's
``book-student`` and ``student-check`` targets). The instructor page is left out, and so are
the Colab badge and launch buttons: they would open the instructor's notebooks, answers
included. Students get the notebooks from the edition's download buttons or from the
instructor (see the instructor page).
"""
import argparse
import pathlib
import re
import shutil
import sys

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bmcourse.instructor.student import read_notebook, student_notebook  # noqa: E402
from bmcourse.files import atomic_write  # noqa: E402

INSTRUCTOR_ONLY = {"book/instructor"}
# Markdown between these comments (a link to the instructor page) is left out of the edition.
_INSTRUCTOR_BLOCK = re.compile(r"<!-- instructor-only -->.*?<!-- /instructor-only -->\n?", re.S)
_BADGE = re.compile(r"\n*\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\)\n*")


def student_toc() -> dict:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        part["chapters"] = [c for c in part["chapters"] if c["file"] not in INSTRUCTOR_ONLY]
    toc["parts"] = [part for part in toc["parts"] if part["chapters"]]
    return toc


def student_config(execute: str) -> dict:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["title"] += " (student edition)"
    config["execute"]["execute_notebooks"] = execute
    config["launch_buttons"] = {"notebook_interface": "jupyterlab"}  # no Colab, no Binder
    local = config.get("sphinx", {}).get("local_extensions") or {}
    for name, path in local.items():
        local[name] = str((ROOT / path).resolve())
    return config


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--execute", default="cache", choices=["cache", "force", "auto", "off"])
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out == ROOT or ROOT.is_relative_to(out):
        parser.error(f"{out} holds the instructor's sources; choose a folder inside _build/.")
    book = out / "book"
    book.mkdir(parents=True, exist_ok=True)
    # Static files and pages are copied afresh; the notebooks are rewritten only when they
    # change, so that the execution cache (keyed on their code) keeps working between builds.
    shutil.rmtree(book / "_static", ignore_errors=True)
    shutil.copytree(ROOT / "book" / "_static", book / "_static")
    for path in (ROOT / "book").iterdir():
        if path.suffix == ".bib":
            shutil.copyfile(path, book / path.name)
        elif path.suffix == ".md" and f"book/{path.stem}" not in INSTRUCTOR_ONLY:
            text = _INSTRUCTOR_BLOCK.sub("", path.read_text(encoding="utf-8"))
            (book / path.name).write_text(text, encoding="utf-8")
        elif path.suffix == ".ipynb":
            notebook, _ = student_notebook(read_notebook(path), path.name)
            first = notebook.cells[0]
            first.source = _BADGE.sub("\n", first.source).strip("\n")
            text = nbformat.writes(notebook).encode("utf-8")
            target = book / path.name
            if not target.exists() or target.read_bytes() != text:
                with atomic_write(target) as handle:
                    handle.write(text)
    for name, content in (("_toc.yml", student_toc()), ("_config.yml", student_config(args.execute))):
        with atomic_write(out / name) as handle:
            handle.write(yaml.safe_dump(content, sort_keys=False, allow_unicode=True).encode())
    print(f"student edition sources in {out}")


if __name__ == "__main__":
    main()
