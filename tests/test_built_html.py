"""The built book, read as HTML files: what every reader gets, checked without a browser.

Runs on the site `make book-check` builds (notebooks executed in quick mode) or on `make book`'s
(`make site-tests SITE=_build/html`); skipped when no book has been built. The browser checks are in
tests/test_browser.py.
"""
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest
import yaml
from bs4 import BeautifulSoup

pytestmark = pytest.mark.site

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
COLAB = "https://colab.research.google.com/github/bmcourse/bmcourse/blob/main/book/{}.ipynb"
# Text that must never reach a page: warnings and tracebacks from the kernel, pip or Python.
NOISE = re.compile(
    r"\w+Warning: |^WARNING|^Warning:|is ignored: it is neither a file nor a directory"
    r"|Kernel is running over TCP|frozen modules|Debugger warning|PYDEVD_|Traceback \(most recent call",
    re.MULTILINE)


def toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


def soup(site, page):
    return BeautifulSoup((site / f"{page}.html").read_text(encoding="utf-8"), "html.parser")


def html_files(site):
    return sorted(p for p in site.rglob("*.html")
                  if not {"_static", "_sources", "_images", "reports"} & set(p.relative_to(site).parts))


def is_local(url):
    return not re.match(r"^(?:[a-z][a-z0-9+.-]*:)?//", url or "", re.IGNORECASE) or url.startswith("file:")


def test_every_page_of_the_toc_was_built(site):
    missing = [page for page in toc_pages() if not (site / f"{page}.html").is_file()]
    assert not missing, f"pages in _toc.yml missing from {site}: {missing}"


def test_pages_load_nothing_from_other_hosts(site):
    external = []
    for path in html_files(site):
        page = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in [("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
                          ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")]:
            external += [f"{path.name}: <{tag} {attr}={el[attr]}>" for el in page.find_all(tag)
                         if el.get(attr) and not is_local(el[attr])]
        for link in page.find_all("link", href=True):
            rel = set(link.get("rel", []))
            if rel & {"stylesheet", "preload", "modulepreload", "icon", "prefetch"} and not is_local(link["href"]):
                external.append(f"{path.name}: <link rel={sorted(rel)} href={link['href']}>")
        for script in page.find_all("script", src=False):
            imports = re.findall(r"""\bimport\s*(?:[\w{}\s,*]+from\s*)?\(?\s*["']([^"']+)""", script.string or "")
            external += [f"{path.name}: inline script imports {url}" for url in imports if not is_local(url)]
    assert not external, "pages would fetch from the network:\n" + "\n".join(external)


def test_mathjax_and_mermaid_are_served_with_the_book(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert (site / "_static" / "mermaid" / "mermaid.min.js").stat().st_size > 1_000_000
    intro = soup(site, "book/intro")
    sources = [s.get("src", "") for s in intro.find_all("script")]
    assert any("_static/mermaid/mermaid.min.js" in s for s in sources)
    assert any("_static/mathjax/tex-chtml.js" in s for s in sources + [
        s.get("src", "") for s in soup(site, "book/math").find_all("script")])
    assert not [s for s in intro.find_all("script", type="module")], "ES-module scripts do not run from file://"


def test_executed_cells_show_no_warnings_or_stderr(site):
    found = []
    for page in toc_pages():
        html = soup(site, page)
        for output in html.select("div.cell_output .output"):
            classes = set(output.get("class", []))
            text = output.get_text()
            if "stderr" in classes or "traceback" in classes or "error" in classes:
                found.append(f"{page}: {sorted(classes)} output: {text.strip()[:120]!r}")
            elif NOISE.search(text):
                found.append(f"{page}: {NOISE.search(text).group(0)!r} in {text.strip()[:160]!r}")
    assert not found, "executed cells show warnings or stderr:\n" + "\n".join(found)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_colab_badge_links_the_pages_own_notebook_and_its_image_is_local(site, name):
    html = soup(site, f"book/{name}")
    article = html.select_one("article") or html
    badges = [a for a in article.find_all("a", href=True)
              if a["href"].startswith("https://colab.research.google.com/github/") and a.find("img")]
    assert badges, f"book/{name}.html has no Open-in-Colab badge"
    for badge in badges:
        assert badge["href"] == COLAB.format(name), f"badge on {name} points at {badge['href']}"
        src = badge.find("img")["src"]
        assert is_local(src), f"the badge image on {name} comes from the network: {src}"
        assert (site / "book" / src).resolve().is_file(), f"badge image {src} is missing"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_launch_buttons_and_ipynb_download(site, name):
    html = soup(site, f"book/{name}")
    hrefs = [a.get("href", "") for a in html.find_all("a")]
    assert any(h.startswith("https://colab.research.google.com/github/bmcourse/bmcourse/blob/main/book/"
                            f"{name}.ipynb") for h in hrefs), "no Colab launch button"
    assert any(h.startswith("https://mybinder.org/v2/gh/bmcourse/bmcourse/main?urlpath=lab/tree/book/"
                            f"{name}.ipynb") for h in hrefs), "no Binder (JupyterLab) launch button"
    assert any(h.endswith(f"_sources/book/{name}.ipynb") for h in hrefs), "no .ipynb download"
    assert (site / "_sources" / "book" / f"{name}.ipynb").is_file()


def test_sitemap_lists_every_page(site):
    tree = ET.parse(site / "sitemap.xml")
    urls = {el.text for el in tree.iter() if el.tag.endswith("loc")}
    base = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"]
    missing = [p for p in toc_pages() if f"{base}{p}.html" not in urls]
    assert not missing, f"sitemap.xml lacks {missing}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercise_answers_and_their_outputs_are_folded(site, name):
    """An answer cell (it calls a check) shows neither its code nor its output until opened."""
    html = soup(site, f"book/{name}")
    leaks = []
    for cell in html.select("div.cell"):
        source = cell.select_one("div.cell_input")
        if source is None or not re.search(r"\bq\d+\.check\(", source.get_text()):
            continue
        for part in [source] + cell.select("div.cell_output"):
            if part.find_parent("details") is None:
                kind = "code" if part is source else "output"
                leaks.append(f"{kind}: {part.get_text(' ', strip=True)[:90]!r}")
    assert not leaks, f"book/{name}.html shows exercise answers outside a fold:\n" + "\n".join(leaks)


@pytest.mark.parametrize("page", toc_pages())
def test_every_image_has_alt_text(site, page):
    html = soup(site, page)
    missing = []
    for img in html.find_all("img"):
        alt = (img.get("alt") or "").strip()
        if not alt or alt == img.get("src") or re.fullmatch(r"[\w./-]+\.(png|jpe?g|svg|gif)", alt):
            missing.append(img.get("src"))
    assert not missing, f"{page}: {len(missing)} images without alt text: {missing[:5]}"


def test_glossary_marks_chinese_terms_and_names_cjk_fonts(site):
    html = soup(site, "book/glossary")
    unmarked = []
    for text in html.find_all(string=re.compile(r"[\u3400-\u9fff]")):
        if text.find_parent(attrs={"lang": re.compile(r"^zh", re.IGNORECASE)}) is None:
            unmarked.append(text.strip())
    assert not unmarked, f"Chinese text without lang=\"zh-Hans\": {unmarked[:5]}"
    assert html.find(attrs={"lang": "zh-Hans"}) is not None
    css = (site / "_static" / "bmcourse.css").read_text()
    assert ":lang(zh-Hans)" in css and "Noto Sans CJK SC" in css and "sans-serif" in css
    assert any("bmcourse.css" in link.get("href", "") for link in html.find_all("link"))


@pytest.mark.parametrize("name", ["errata", *NOTEBOOKS])
def test_chinese_quotes_are_marked_zh_hans_on_every_page(site, name):
    # Screen readers and font fallback need to know which text is Chinese.
    html = soup(site, f"book/{name}")
    unmarked = [text.strip()[:40] for text in html.find_all(string=re.compile(r"[\u3400-\u9fff]"))
                if text.find_parent(attrs={"lang": re.compile(r"^zh", re.IGNORECASE)}) is None
                and text.find_parent(["script", "style", "pre", "code"]) is None]
    assert not unmarked, f"{name}: Chinese text without lang=\"zh-Hans\": {unmarked[:5]}"


def test_references_are_author_year_like_the_citations(site):
    refs = soup(site, "book/references")
    labels = {}
    for entry in refs.select("div.citation"):
        label = entry.select_one(".label").get_text(strip=True).strip("[]")
        labels[entry["id"]] = label
    assert labels, "no labelled entries in the references list"
    alpha = [label for label in labels.values() if re.fullmatch(r"[A-Z][A-Za-z+]{1,6}\d{2}[a-z]?", label)]
    assert not alpha, f"alpha labels in the references: {alpha}"
    assert all(re.search(r", (\d{4}[a-z]?|n\.d\.)$", label) for label in labels.values()), labels
    cited = 0
    for name in NOTEBOOKS:
        for citation in soup(site, f"book/{name}").select("span.bibtex-citation"):
            target = citation.find("a", href=re.compile(r"references\.html#"))["href"].split("#")[1]
            # "(Goodfellow et al., 2014)" or "Goodfellow et al. (2014)" -> "Goodfellow et al., 2014"
            text = re.sub(r"[\[\]()]", "", citation.get_text()).strip()
            text = re.sub(r",?\s+(\d{4}[a-z]?)$", r", \1", re.sub(r"\s+", " ", text))
            assert text == labels[target], f"{name}: the text cites {text!r}, the list says {labels[target]!r}"
            cited += 1
    assert cited, "no citations found in the chapters"
