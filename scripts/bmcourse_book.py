"""Sphinx extension for the bmcourse book (loaded from _config.yml: sphinx.local_extensions).

It keeps the published pages self-contained, so that they read the same offline:

* mermaid: pages with a diagram load the vendored ``_static/mermaid/mermaid.min.js`` and
  ``mermaid-init.js``, two classic scripts, in place of sphinxcontrib-mermaid's ES-module script
  (which imports mermaid from a CDN, or from a local file that a ``file://`` page may not import).
  sphinxcontrib-mermaid still parses the ``mermaid`` directive. Pages without a diagram load nothing.
* the Open-in-Colab badge: the notebooks link the badge image on colab.research.google.com (so it
  shows on GitHub and in Colab); the book serves ``book/_static/colab-badge.svg`` instead.
* a clean console: duplicate inline scripts dropped, and the theme's light/dark mode set.
* references: the list is labelled author-year ("Goodfellow et al., 2014"), the same form the text
  cites with ``bibtex_reference_style: author_year``, and sorted by author, year and title.
"""
from __future__ import annotations

import collections

from docutils import nodes

COLAB_BADGE_REMOTE = "https://colab.research.google.com/assets/colab-badge.svg"
COLAB_BADGE_LOCAL = "/book/_static/colab-badge.svg"  # relative to the source folder (repo root)
MERMAID_SCRIPTS = ("mermaid/mermaid.min.js", "mermaid/mermaid-init.js")


def serve_colab_badge_locally(app, doctree):
    # Runs before Sphinx's image collector (priority 500), which then copies the local file to
    # _images/ like any other figure.
    for image in doctree.findall(nodes.image):
        if image.get("uri") == COLAB_BADGE_REMOTE:
            image["uri"] = COLAB_BADGE_LOCAL
            image.setdefault("alt", "Open in Colab")


def tidy_scripts(app, pagename, templatename, context, doctree):
    # Runs after sphinxcontrib-mermaid's own html-page-context handler (priority 500).
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    theirs = [js for js in scripts
              if js.attributes.get("type") == "module" and "mermaid" in js.attributes.get("body", "")]
    for js in theirs:
        scripts.remove(js)
    if theirs:
        for filename in MERMAID_SCRIPTS:
            app.add_js_file(filename, priority=510)
    drop_duplicate_inline_scripts(scripts)


def drop_duplicate_inline_scripts(scripts):
    # Jupyter Book 1.x sets up sphinx-thebe and sphinx-togglebutton twice, so their inline scripts
    # appear twice, and the second `const THEBE_JS_URL` is a console error on every page.
    seen, unique = set(), []
    for js in scripts:
        key = (str(js.filename or ""), js.attributes.get("body", ""), js.attributes.get("type", ""))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def default_theme_mode(app, config):
    # An empty mode makes the theme log "Got invalid theme mode" to the console on every page.
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "auto")
    config.html_context = context


def _register_author_year_style():
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    def last_names(entry):
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        return ["".join(p.prelast_names + p.last_names) if p.last_names else str(p) for p in persons]

    class AuthorYearLabels(BaseLabelStyle):
        """'Last', 'Last and Other' or 'Last et al.', then ', year' (a, b, ... when two clash)."""

        def format_labels(self, sorted_entries):
            entries = list(sorted_entries)
            labels = []
            for entry in entries:
                names = [n.replace("{", "").replace("}", "") for n in last_names(entry)]
                if not names:
                    who = entry.fields.get("title", entry.key).replace("{", "").replace("}", "")
                elif len(names) == 1:
                    who = names[0]
                elif len(names) == 2:
                    who = f"{names[0]} and {names[1]}"
                else:
                    who = f"{names[0]} et al."
                labels.append(f"{who}, {entry.fields.get('year', 'n.d.')}")
            counts = collections.Counter(labels)
            seen = collections.Counter()
            for label in labels:
                if counts[label] > 1:
                    seen[label] += 1
                    yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
                else:
                    yield label

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = "bmcourse_author_year"
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.labels", "bmcourse_author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "bmcourse_author_year", AuthorYearStyle)

    # Citations in the text: "(Goodfellow et al., 2014)" and "Goodfellow et al. (2014)", round
    # brackets as author-year citations usually have (sphinxcontrib-bibtex's default is square).
    import dataclasses

    import sphinxcontrib.bibtex.plugin
    from sphinxcontrib.bibtex.style.referencing import BracketStyle
    from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

    def round_brackets():
        return BracketStyle(left="(", right=")")

    @dataclasses.dataclass
    class RoundAuthorYear(AuthorYearReferenceStyle):
        bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_textual: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_author: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_label: BracketStyle = dataclasses.field(default_factory=round_brackets)
        bracket_year: BracketStyle = dataclasses.field(default_factory=round_brackets)

    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", "bmcourse_author_year_round", RoundAuthorYear)


def _note_written_page(app, pagename, templatename, context, doctree):
    app.env.bmcourse_written_pages = getattr(app.env, "bmcourse_written_pages", set())
    app.env.bmcourse_written_pages.add(pagename)


def complete_sitemap(app, exception):
    """List every page in sitemap.xml, not only the pages this (incremental) build rewrote.

    sphinx-sitemap collects pages as they are written; `make book` rebuilds only what changed,
    so without this the sitemap of a second build would hold just the changed pages.
    """
    if exception is not None or app.builder.format != "html":
        return
    import sphinx_sitemap

    written = getattr(app.env, "bmcourse_written_pages", set())
    for docname in sorted(app.env.found_docs - written):
        sphinx_sitemap.add_html_link(app, docname, None, {}, None)


def setup(app):
    _register_author_year_style()
    app.connect("doctree-read", serve_colab_badge_locally, priority=400)
    app.connect("config-inited", default_theme_mode)
    app.connect("html-page-context", tidy_scripts, priority=600)
    app.connect("html-page-context", _note_written_page)
    app.connect("build-finished", complete_sitemap, priority=400)  # before sphinx-sitemap's (500)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
