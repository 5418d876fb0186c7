"""The book's structure: every page in the table of contents exists, and every chapter notebook
opens the same way (title + Colab badge, then the Colab-only setup cell) and carries no outputs."""
import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP_CELL = (
    "# Setup: installs bmcourse in Google Colab; does nothing elsewhere.\n"
    "import sys\n"
    'if "google.colab" in sys.modules:\n'
    '    %pip install -q "bmcourse @ git+https://github.com/bmcourse/bmcourse"'
)


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def resolve(entry):
    for suffix in (".md", ".ipynb"):
        if (ROOT / (entry + suffix)).exists():
            return ROOT / (entry + suffix)
    raise AssertionError(f"{entry} is in _toc.yml but neither {entry}.md nor {entry}.ipynb exists")


NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def test_every_toc_entry_exists_and_every_notebook_is_listed():
    pages = {resolve(entry) for entry in toc_files()}
    missing = [nb.name for nb in NOTEBOOKS if nb not in pages]
    assert not missing, f"notebooks not in _toc.yml (they would not be in the book): {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_title_badge_and_setup_cell(path):
    cells = json.loads(path.read_text())["cells"]
    first, second = cells[0], cells[1]
    title = "".join(first["source"])
    assert first["cell_type"] == "markdown" and title.startswith("# ")
    badge = f"https://colab.research.google.com/github/bmcourse/bmcourse/blob/main/book/{path.name}"
    assert badge in title, f"{path.name}: the first cell needs the Open-in-Colab badge linking to {badge}"
    assert second["cell_type"] == "code" and "".join(second["source"]).strip() == SETUP_CELL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    with_outputs = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and c.get("outputs")]
    assert not with_outputs, f"{path.name}: cells {with_outputs} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_answer_cells_are_folded_in_the_book(path):
    # `hide-cell` folds the code *and its output* under one "Show code cell content" toggle;
    # `hide-input` would fold only the code and leave the printed answer and the green "Correct"
    # banner on the page.
    cells = json.loads(path.read_text())["cells"]
    shown = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
             and re.search(r"\bq\d+\.check\(", "".join(c["source"]))
             and "hide-cell" not in c.get("metadata", {}).get("tags", [])]
    assert not shown, (f"{path.name}: cells {shown} call a check (they hold an answer) but are not "
                       "tagged hide-cell (which folds the code and its output together)")


# Widest code line that fits the book's text column without scrolling, in characters: measured in
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_cell_that_draws_a_figure_gives_it_alt_text(path):
    # The site tests catch a figure without alt text only after a book build; this catches the
    # usual cause (a drawing moved to a new cell without its metadata) at once.
    draws = re.compile(r"plt\.show\(\)|show_images\(|\.imshow\(")
    cells = json.loads(path.read_text())["cells"]
    missing = [i for i, c in enumerate(cells) if c["cell_type"] == "code"
               and draws.search("".join(c["source"]))
               and not c.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt")]
    assert not missing, f"{path.name}: cells {missing} draw a figure without mystnb alt text"


# Chromium with the book's theme (14 px monospace, 8.43 px a character): 77 at a 1280-pixel-wide
# window, the narrowest that keeps the sidebar (85 at 1024, 89 at 1440 and wider).
# tests/test_browser.py checks the built pages themselves.
CODE_WIDTH = 77


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path):
    cells = json.loads(path.read_text())["cells"]
    wide = [(i, len(line), line.strip()[:50]) for i, c in enumerate(cells) if c["cell_type"] == "code"
            for line in "".join(c["source"]).splitlines() if len(line) > CODE_WIDTH]
    # Code shown in prose (```bash, ```python blocks) is drawn the same way; mermaid is a diagram.
    for i, c in enumerate(cells):
        if c["cell_type"] != "markdown":
            continue
        for language, block in re.findall(r"```(\w*)\n(.*?)```", "".join(c["source"]), flags=re.S):
            if language != "mermaid" and not language.startswith("{"):
                wide += [(i, len(line), line.strip()[:50]) for line in block.splitlines()
                         if len(line) > CODE_WIDTH]
    assert not wide, f"{path.name}: code lines over {CODE_WIDTH} characters (cell, length, start): {wide}"


def test_every_label_in_the_book_is_unique():
    # A section target `(name)=` and an exercise `:label: name` share one namespace: a clash
    # is a duplicate ID, and sphinx-exercise then crashes the build.
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "book").glob("*.md"))]
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts += ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    labels = []
    for text in texts:
        labels += re.findall(r"^\(([A-Za-z0-9_-]+)\)=\s*$", text, flags=re.M)
        labels += re.findall(r"^:label:\s*([A-Za-z0-9_-]+)\s*$", text, flags=re.M)
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    assert not duplicates, f"labels used more than once: {duplicates}"
