"""The built book in a real browser (pytest-playwright driving Debian's `chromium`), offline.

Every request that leaves 127.0.0.1 is aborted and counted as a failure, so these tests also prove
that the pages read the same without a network. Skipped, with the reason, when Chromium or the
built book is missing (`apt-get install chromium`; `make book-check` or `make book`). The last test
follows a learner: it starts JupyterLab the way `make lab` does and runs the quickstart's first
cells in it.
"""
import contextlib
import functools
import http.server
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from conftest import chromium_path

pytestmark = pytest.mark.site

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/bmcourse/bmcourse/blob/main/book/{}.ipynb"
PAGES = ["search", "genindex", "book/intro", "book/setup", "book/errata", "book/glossary",
         "book/references"] + [f"book/{name}" for name in NOTEBOOKS]
WIDTH = 1280  # the viewport the overflow checks use (a laptop screen)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at the system Chromium (no `playwright install`)."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set BMCOURSE_CHROMIUM)")
    return {**browser_type_launch_args, "executable_path": path, "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": WIDTH, "height": 900}}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(site):
    """The built book over HTTP on 127.0.0.1, as GitHub Pages serves it."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class Watch:
    """Console errors, page errors, failed and blocked requests of one page."""

    def __init__(self, page, allowed_prefixes):
        self.problems, self.blocked = [], set()
        self.allowed = tuple(allowed_prefixes)
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: r.url not in self.blocked
                and self.problems.append(f"failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.allowed) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.add(url)
            self.problems.append(f"external request (blocked): {url}")
            route.abort()


def settle(page):
    """Wait for MathJax to typeset and mermaid to draw, where the page has them."""
    page.wait_for_load_state("load")
    if page.evaluate("() => !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"):
        page.evaluate("() => MathJax.startup.promise")
    if page.locator("pre.mermaid").count():
        page.wait_for_function(
            "() => [...document.querySelectorAll('pre.mermaid')].every(el => el.querySelector('svg'))",
            timeout=30_000)


def open_page(page, server, name):
    watch = Watch(page, [server])
    page.goto(f"{server}{name}.html")
    settle(page)
    page.wait_for_timeout(200)  # late console messages
    return watch


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_offline_without_errors(page, server, name):
    watch = open_page(page, server, name)
    assert not watch.problems, f"{name}.html:\n" + "\n".join(watch.problems)


@pytest.mark.parametrize("name", ["book/intro", "book/errata"] + [f"book/{n}" for n in NOTEBOOKS])
def test_equations_are_rendered(page, server, name):
    open_page(page, server, name)
    maths = page.locator("article .math, article span.math, article div.math")
    if maths.count() == 0:
        pytest.skip(f"{name} has no equations")
    unrendered = page.evaluate(
        """() => [...document.querySelectorAll('article .math')]
                 .filter(el => !el.querySelector('mjx-container'))
                 .map(el => el.textContent.slice(0, 60))""")
    assert not unrendered, f"equations left as LaTeX on {name}: {unrendered[:5]}"
    raw = page.evaluate(
        r"""() => {
            const article = document.querySelector('article').cloneNode(true);
            article.querySelectorAll('pre, code, mjx-container, .highlight, script, style, mjx-assistive-mml')
                   .forEach(el => el.remove());
            const text = article.innerText;
            return ['$$', '\\(', '\\[', '\\frac', '\\mathbb'].filter(s => text.includes(s));
        }""")
    assert not raw, f"raw LaTeX visible on {name}: {raw}"


@pytest.mark.parametrize("name", ["book/intro"] + [f"book/{n}" for n in NOTEBOOKS])
def test_mermaid_diagrams_render_to_svg_and_fit_the_column(page, server, name):
    open_page(page, server, name)
    count = page.locator("pre.mermaid").count()
    if count == 0:
        pytest.skip(f"{name} has no diagrams")
    report = page.evaluate(
        """() => [...document.querySelectorAll('pre.mermaid')].map(el => {
               const svg = el.querySelector('svg');
               const column = el.closest('article').getBoundingClientRect().width;
               return {svg: !!svg, nodes: svg ? svg.querySelectorAll('g.node, g.nodes > g').length : 0,
                       width: svg ? svg.getBoundingClientRect().width : 0, column,
                       scrolls: el.scrollWidth > el.clientWidth + 1,
                       error: !!el.querySelector('.error-icon, .error-text')};
           })""")
    for i, d in enumerate(report):
        assert d["svg"] and not d["error"], f"diagram {i} on {name} did not render: {d}"
        assert d["width"] <= d["column"] + 1 and not d["scrolls"], f"diagram {i} on {name} is wider than the text: {d}"


def test_the_front_page_opens_the_intro(page, server):
    watch = Watch(page, [server])
    page.goto(f"{server}index.html")
    page.wait_for_url("**/book/intro.html")
    settle(page)
    assert not watch.problems, watch.problems


def test_search_finds_a_chapter_by_a_term_in_it(page, server):
    watch = Watch(page, [server])
    page.goto(f"{server}search.html?q=micrograd")
    page.wait_for_selector("#search-results li a", timeout=30_000)
    links = page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.getAttribute('href'))")
    assert any("book/backprop.html" in href for href in links), links
    assert not watch.problems, watch.problems


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_badge_points_at_the_pages_notebook_and_shows(page, server, name):
    open_page(page, server, name=f"book/{name}")
    badges = page.evaluate(
        """() => [...document.querySelectorAll('article a[href^="https://colab.research.google.com/github/"]')]
                 .filter(a => a.querySelector('img'))
                 .map(a => ({href: a.href, src: a.querySelector('img').src,
                             shown: a.querySelector('img').naturalWidth > 0}))""")
    assert badges, f"no Colab badge on book/{name}.html"
    for badge in badges:
        assert badge["href"] == COLAB.format(name)
        assert badge["src"].startswith(server) and badge["shown"], badge


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS])
def test_solutions_are_collapsed_and_open_on_click(page, server, name):
    open_page(page, server, f"book/{name}")
    solutions = page.locator("article .solution")
    if solutions.count() == 0:
        pytest.skip(f"book/{name} has no exercises")
    for i in range(solutions.count()):
        solution = solutions.nth(i)
        body = solution.locator(".solution-content, section, .toggle-details__container, div.toggle").first
        assert not body.is_visible(), f"solution {i} on {name} is open before a click"
        # The title holds a link to the exercise: click the toggle button, not the title's middle.
        solution.locator("button.toggle-button").first.click()
        body.wait_for(state="visible", timeout=5_000)
    # Answer cells: neither the code nor its output (e.g. the green "Correct") shows until opened.
    visible = page.evaluate(
        r"""() => [...document.querySelectorAll('article div.cell')]
                 .filter(c => /\bq\d+\.check\(/.test(c.querySelector('.cell_input')?.textContent || ''))
                 .flatMap(c => [...c.querySelectorAll('.cell_input, .cell_output')])
                 .filter(el => el.checkVisibility() && el.innerText.trim())
                 .map(el => el.innerText.slice(0, 80))""")
    assert not visible, f"exercise answers visible on book/{name}: {visible}"


@pytest.mark.parametrize("name", [f"book/{n}" for n in NOTEBOOKS] + ["book/intro", "book/setup"])
def test_nothing_is_cut_or_scrolls_sideways(page, server, name):
    """Code, outputs and diagrams fit the text column of a 1280-pixel-wide window."""
    open_page(page, server, name)
    wide = page.evaluate(
        """() => {
            const found = [];
            for (const pre of document.querySelectorAll('article pre')) {
                if (pre.closest('.mermaid') || pre.classList.contains('mermaid')) continue;
                if (pre.scrollWidth > pre.clientWidth + 1) {
                    const lines = pre.innerText.split('\\n');
                    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
                    const kind = pre.closest('.cell_output') ? 'output' : 'code';
                    found.push(`${kind}: ${longest.length} characters: ${longest.trim().slice(0, 70)}`);
                }
            }
            return found;
        }""")
    assert not wide, f"{name}: lines wider than the column:\n" + "\n".join(wide)


# --- The learner's path: JupyterLab as `make lab` starts it -------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """`make lab` on a copy of book/ (so nothing is saved into the real notebooks), headless."""
    if not (ROOT / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("no .venv with JupyterLab: run `make test` (or `make lab`) once")
    notebooks = tmp_path / "book"
    shutil.copytree(ROOT / "book", notebooks, ignore=shutil.ignore_patterns("_static", ".ipynb_checkpoints"))
    settings = tmp_path / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # figures show inline, as in `make lab`
    env = {**env, "BMCOURSE_QUICK": "1", "BMCOURSE_OFFLINE": "1",
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "IPYTHONDIR": str(tmp_path / "ipython")}
    args = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
            f"--ServerApp.port_retries=0 --IdentityProvider.token={token} "
            "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "lab",
         f"LAB_DIR={notebooks}", f"LAB_ARGS={args}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}api/status?token={token}", timeout=2)
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base, token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_quickstart_runs_in_jupyterlab(page, lab):
    base, token = lab
    watch = Watch(page, [base, base.replace("http", "ws")])
    page.goto(f"{base}lab/tree/quickstart.ipynb?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # The kernel is ready when the status bar says so ("Python 3 (bmcourse) | Idle").
    page.wait_for_function(
        "() => /\\|\\s*Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')",
        timeout=90_000)
    first = 8  # title, setup, about(), the data, a grid of digits
    # Into the setup cell's editor, out to command mode, then Shift+Enter through cells 1..7.
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-content").click()
    page.keyboard.press("Escape")
    for _ in range(first - 1):
        page.keyboard.press("Shift+Enter")
    code = page.locator(".jp-Notebook .jp-CodeCell")
    page.wait_for_function(
        """(n) => { const prompts = [...document.querySelectorAll('.jp-Notebook .jp-Cell')].slice(0, n)
                       .filter(c => c.classList.contains('jp-CodeCell'))
                       .map(c => c.querySelector('.jp-InputPrompt').textContent.trim());
                    return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)); }""",
        arg=first, timeout=180_000)
    errors = page.locator(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                          " .jp-Notebook .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.all_inner_texts()
    outputs = " ".join(code.nth(i).inner_text() for i in range(min(4, code.count())))
    assert "train (4000, 1, 28, 28)" in outputs or "train (60000, 1, 28, 28)" in outputs, outputs[-500:]
    assert code.nth(3).locator("img").count() >= 1, "the grid of digits did not show"
    # The only thing the notebook itself asks the network for is the Colab badge in its first cell.
    external = [p for p in watch.problems
                if p.startswith("external") and "colab.research.google.com/assets/" not in p]
    assert not external, external
