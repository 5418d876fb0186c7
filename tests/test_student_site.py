"""The student edition as built (`make student-check` or `make book-student`): no solutions.

Skipped when no student edition has been built. $BMCOURSE_STUDENT_SITE names its HTML folder.
"""
import os
import pathlib
import re

import pytest
from bs4 import BeautifulSoup

from bmcourse.instructor.student import read_notebook

pytestmark = pytest.mark.site

ROOT = pathlib.Path(__file__).resolve().parent.parent
CANDIDATES = [ROOT / "_build" / "student-check" / "_build" / "html",
              ROOT / "_build" / "student" / "_build" / "html"]
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))


@pytest.fixture(scope="module")
def student_site():
    if os.environ.get("BMCOURSE_STUDENT_SITE"):
        candidates = [pathlib.Path(os.environ["BMCOURSE_STUDENT_SITE"]).resolve()]
    else:
        candidates = CANDIDATES
    site = next((c for c in candidates if (c / "book" / "intro.html").is_file()), None)
    if site is None:
        pytest.skip("no student edition built: run `make student-check` or `make book-student`")
    return site


def page(site, name):
    return BeautifulSoup((site / "book" / f"{name}.html").read_text(encoding="utf-8"),
                         "html.parser")


def test_the_instructor_page_is_left_out(student_site):
    assert not (student_site / "book" / "instructor.html").exists()
    assert "(student edition)" in page(student_site, "intro").title.text


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_has_its_exercises_unanswered_and_no_solution(student_site, chapter):
    html = page(student_site, chapter)
    main = html.select_one("main") or html
    assert main.select(".exercise"), f"{chapter}: the exercises are missing"
    assert not main.select(".solution"), f"{chapter}: a solution block reached the page"
    text = main.get_text("\n")
    assert "BEGIN SOLUTION" not in text
    assert "colab.research.google.com" not in str(html), f"{chapter}: a link to the answers"
    # Every check ran and said "Not attempted": the student copy ran from top to bottom.
    checks = sum(cell.source.count(".check(") for cell in
                 read_notebook(ROOT / "book" / f"{chapter}.ipynb").cells
                 if cell.cell_type == "code" and "solution" not in cell.metadata.get("tags", []))
    assert len(re.findall(r"Not attempted", text)) == checks, chapter
    assert "raise NotImplementedError()" in text
