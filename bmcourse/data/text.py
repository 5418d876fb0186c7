"""Bundled text corpora for the language-model chapters.

``"shakespeare"``: nine whole plays from Project Gutenberg (public domain), 1,156,590
characters of plain ASCII, about the size of the usual "tiny Shakespeare" (1,115,394). See
``bundled/NOTICE.md`` for the plays and how ``scripts/make_text_corpus.py`` made it.
"""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

from .download import sha256_of

__all__ = ["load_text", "text_source", "CORPORA"]

_BUNDLED = Path(__file__).resolve().parent / "bundled"
# name -> (file in bundled/, SHA-256 printed by scripts/make_text_corpus.py, description)
CORPORA = {
    "shakespeare": (
        "shakespeare.txt.gz",
        "98c92543f7707e8523cb1fa11146e2ea476a9bc0533a3854837236ef9d9cf3be",
        "nine Shakespeare plays from Project Gutenberg (public domain)",
    ),
}


@functools.lru_cache(maxsize=None)
def load_text(name: str = "shakespeare") -> str:
    """Return a bundled corpus as one string (no network, no download).

    Parameters
    ----------
    name : str
        One of ``CORPORA``: ``"shakespeare"``.

    Returns
    -------
    str
        The whole corpus, lines separated by ``"\\n"``. For ``"shakespeare"``: 1,156,590
        ASCII characters, plays separated by two blank lines.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled corpus, or its file is damaged.
    """
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}; the bundled ones are {sorted(CORPORA)}.")
    filename, sha256, _ = CORPORA[name]
    path = _BUNDLED / filename
    if not path.is_file() or sha256_of(path) != sha256:
        raise ValueError(f"The bundled corpus {path} is missing or damaged. Reinstall bmcourse, "
                         "or rebuild it with scripts/make_text_corpus.py.")
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def text_source(name: str = "shakespeare") -> str:
    """Describe a bundled corpus (for ``bmcourse.about()``), without reading it."""
    return f"bundled: {CORPORA[name][2]}"
