# Two commands do everything on a fresh machine:
#   make book   build the HTML book into _build/html (executes every notebook, full budgets)
#   make test   unit tests + every notebook in quick mode + a book build with warnings as errors
# Both create .venv and install the pinned dependencies (requirements.txt) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test unit notebooks book-check lab benchmarks clean help

help:
	@echo "make book    build the book into _build/html (full training budgets)"
	@echo "make test    unit tests, notebooks in quick mode, book build with -W"
	@echo "make lab     open JupyterLab on the book"
	@echo "make benchmarks  run the performance scripts in benchmarks/"

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (bmcourse)" > /dev/null
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all
	@echo "Book built: open _build/html/index.html"

test: unit notebooks book-check

unit: $(STAMP)
	$(BIN)/python -m pytest tests

notebooks: $(STAMP)
	BMCOURSE_QUICK=1 BMCOURSE_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest --nbmake --nbmake-timeout=600 -p no:cacheprovider book

# The notebooks were just executed by nbmake; this build checks the book itself (markup,
# references, toc) with warnings as errors, without executing them a second time.
book-check: $(STAMP)
	mkdir -p _build
	$(BIN)/python scripts/book_config.py --execute off > _build/_config.check.yml
	$(BIN)/jupyter-book build . -W -n --keep-going --all --config _build/_config.check.yml --path-output _build/check

lab: $(STAMP)
	$(BIN)/jupyter lab book

benchmarks: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf _build .jupyter_cache
