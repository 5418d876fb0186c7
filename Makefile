# Two commands do everything on a fresh machine:
#   make book   build the HTML book into _build/html (executes every notebook, full budgets)
#   make test   unit tests + every notebook in quick mode + a book build with warnings as errors,
#               the student edition built and executed, then the built pages checked in Chromium
#               when it is installed
#   make book-student   the student edition (solutions removed) into _build/student/_build/html
# Both create .venv and install the pinned dependencies (requirements.txt) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The book check's site, read by the site tests (tests/test_built_html.py, tests/test_browser.py).
CHECK_SITE := _build/check/_build/html

# Quiet kernels: no debugpy "frozen modules" note in executed cells.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book book-student test unit notebooks book-check student-check site-tests lab benchmarks clean help

help:
	@echo "make book    build the book into _build/html (full training budgets; re-runs only changed notebooks)"
	@echo "make book-student  the student edition: solutions removed (see the instructor page)"
	@echo "make test    unit tests, notebooks in quick mode, book builds with -W (both editions), site tests"
	@echo "make lab     open JupyterLab on the book"
	@echo "make benchmarks  run the performance scripts in benchmarks/"

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (bmcourse)" > /dev/null
	touch $(STAMP)

# Execution cache (_build/.jupyter_cache): a notebook runs again only when its code changes, or
# when bmcourse/ or the pins change (scripts/book_cache.py clears the cache then).
book: $(STAMP)
	$(BIN)/python scripts/book_cache.py _build
	$(BIN)/jupyter-book build .
	@echo "Book built: open _build/html/index.html"

test: unit notebooks book-check student-check site-tests

unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not site"

notebooks: $(STAMP)
	BMCOURSE_QUICK=1 BMCOURSE_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider book

# A book build with warnings as errors. It executes the notebooks in quick mode, offline, with its
# own cache (_build/check/_build/.jupyter_cache, never mixed with the full-mode one), so that the
# site tests see real outputs (figures too: no MPLBACKEND=Agg here, which would hide them).
book-check: $(STAMP)
	mkdir -p _build/check/_build
	$(BIN)/python scripts/book_config.py --execute cache > _build/_config.check.yml
	$(BIN)/python scripts/book_cache.py $(CHECK_SITE)/..
	BMCOURSE_QUICK=1 BMCOURSE_OFFLINE=1 $(BIN)/jupyter-book build . -W -n --keep-going --all --config _build/_config.check.yml --path-output _build/check

# The student edition (scripts/student_book.py): student copies of the notebooks, no solutions,
# no instructor page. `book-student` executes them with the full budgets (its own cache);
# `student-check` in quick mode with warnings as errors, which proves that every student copy
# runs top to bottom with its exercises unanswered.
STUDENT_SRC := _build/student-src
book-student: $(STAMP)
	$(BIN)/python scripts/student_book.py $(STUDENT_SRC)
	$(BIN)/python scripts/book_cache.py _build/student/_build
	$(BIN)/jupyter-book build $(STUDENT_SRC) --path-output _build/student
	@echo "Student edition built: open _build/student/_build/html/index.html"

student-check: $(STAMP)
	$(BIN)/python scripts/student_book.py $(STUDENT_SRC)-check
	$(BIN)/python scripts/book_cache.py _build/student-check/_build
	BMCOURSE_QUICK=1 BMCOURSE_OFFLINE=1 $(BIN)/jupyter-book build $(STUDENT_SRC)-check -W -n --keep-going --all --path-output _build/student-check

# The built pages: static checks always; browser checks when Chromium is installed (skipped, with
# the reason, when not). SITE=_build/html checks the full build instead.
SITE ?= $(CHECK_SITE)
STUDENT_SITE ?= _build/student-check/_build/html
site-tests: $(STAMP)
	BMCOURSE_SITE=$(SITE) BMCOURSE_STUDENT_SITE=$(STUDENT_SITE) $(BIN)/python -m pytest tests -m site

LAB_DIR  ?= book
LAB_ARGS ?=
# Jupyter refuses to run as root (containers, CI) unless told to.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_DIR) $(LAB_ROOT) $(LAB_ARGS)

benchmarks: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf _build .jupyter_cache
