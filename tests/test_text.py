import re

import pytest

from bmcourse.data import data_sources, load_text

TITLES = ["HAMLET, PRINCE OF DENMARK", "MACBETH", "ROMEO AND JULIET", "THE TRAGEDY OF KING LEAR",
          "OTHELLO, THE MOOR OF VENICE", "JULIUS CAESAR", "A MIDSUMMER NIGHT'S DREAM",
          "THE TEMPEST", "THE MERCHANT OF VENICE"]


@pytest.fixture(scope="module")
def text():
    return load_text("shakespeare")


def test_about_one_megabyte_of_text(text):
    assert isinstance(text, str)
    assert 1_000_000 < len(text) < 1_300_000  # "tiny Shakespeare" has 1,115,394 characters
    assert load_text() == text


def test_whole_plays_in_order(text):
    starts = [text.find(f"\n\n\n{title}\n\nby William Shakespeare\n") for title in TITLES[1:]]
    assert text.startswith(TITLES[0] + "\n\nby William Shakespeare\n")
    assert all(s > 0 for s in starts) and starts == sorted(starts)
    assert text.count("by William Shakespeare") == len(TITLES)
    assert len(re.findall(r"^ACT (I|1)\b", text, re.M)) == len(TITLES)
    assert "So sore as keeping safe Nerissa's ring." in text[-100:]  # the last play's end


def test_clean_plain_text(text):
    assert set(text) <= set(map(chr, range(32, 127))) | {"\n"}
    assert len(set(text)) < 100
    assert not re.search(r"gutenberg|\bebooks?\b|\be-?texts?\b|copyright", text, re.I)
    assert not re.search(r" +\n", text)  # no trailing spaces
    assert "\n\n\n\n" not in text  # at most two blank lines in a row
    assert "\r" not in text and text.endswith("\n")


def test_unknown_corpus_is_rejected():
    with pytest.raises(ValueError, match="'shakespeare'"):
        load_text("tinystories")


def test_data_sources_mention_the_corpus():
    assert "Shakespeare" in data_sources()["text"]
