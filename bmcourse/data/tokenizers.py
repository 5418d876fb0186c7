"""Tokenizers: text to integer ids and back. Character-level, and byte-level BPE from scratch.

A language model reads a sequence of integers from a fixed vocabulary. The simplest vocabulary
is the set of characters of the corpus (:class:`CharTokenizer`): short ids, long sequences. Byte
pair encoding (Sennrich et al., 2016; byte-level as in GPT-2, Radford et al., 2019) starts from
the 256 byte values, so it can encode *any* text, and then repeatedly merges the most frequent
adjacent pair of tokens into a new token, so that common words become one token
(:class:`BytePairTokenizer`, after Karpathy's minbpe).

Our BPE is built to agree with Hugging Face ``tokenizers`` configured as byte-level BPE
(``ByteLevelBPETokenizer``, i.e. ``pre_tokenizers.ByteLevel(add_prefix_space=False)`` and a
``BpeTrainer`` whose initial alphabet is the 256 bytes): trained on the same text with the same
vocabulary size it learns the same merges in the same order (``tests/test_tokenizers.py``).
Two details exist only for that agreement:

* ties between equally frequent pairs go to the pair Hugging Face would pick (the one whose
  token ids are smallest in *its* numbering, which lists the 256 bytes in the order of the
  printable characters GPT-2 uses to display them);
* Python's ``re`` has no ``\\p{L}`` (any letter) or ``\\p{N}`` (any number), so the GPT-2 split
  pattern below uses ``[^\\W\\d_]`` and ``\\d``. They differ from Unicode's classes only for
  numeric symbols that are not decimal digits (``½``, ``²``, ``Ⅻ``), which we count as letters:
  on text with those, the ids (never the round trip) can differ from Hugging Face's.
"""
from __future__ import annotations

import re
from collections import Counter

__all__ = ["CharTokenizer", "BytePairTokenizer", "GPT2_SPLIT_PATTERN"]

# GPT-2's pre-tokenizer: a text is cut into chunks (contractions, words with their leading
# space, numbers, runs of punctuation, whitespace) and merges never cross a chunk boundary, so
# "dog." and "dog!" share the token " dog". Every character falls into some alternative.
GPT2_SPLIT_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+"
                      r"|\s+(?!\S)|\s+")
_SPLIT = re.compile(GPT2_SPLIT_PATTERN)


class CharTokenizer:
    """One id per character of a fixed alphabet, in sorted order.

    Parameters
    ----------
    alphabet : str
        Every character the tokenizer knows (e.g. a whole corpus: duplicates are dropped).

    Examples
    --------
    >>> tok = CharTokenizer("hello world")
    >>> tok.encode("hello"), tok.decode(tok.encode("hello"))
    ([3, 2, 4, 4, 5], 'hello')
    """

    def __init__(self, alphabet: str):
        if not isinstance(alphabet, str) or not alphabet:
            raise ValueError("CharTokenizer needs a non-empty string of characters, e.g. the "
                             "training text: CharTokenizer(text).")
        self.chars = "".join(sorted(set(alphabet)))
        self.ids = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; raises ``ValueError`` naming unknown characters."""
        try:
            return [self.ids[c] for c in text]
        except KeyError:
            unknown = sorted(set(text) - set(self.chars))
            raise ValueError(f"Characters not in the vocabulary: {unknown!r}. This tokenizer "
                             f"knows only {self.chars!r}; remove or replace the others "
                             "(a byte-level BPE tokenizer can encode any text).") from None

    def decode(self, ids) -> str:
        """The text of a list (or 1-D tensor) of ids."""
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.chars)]
        if bad:
            raise ValueError(f"Ids outside the vocabulary 0..{len(self.chars) - 1}: {bad[:10]}.")
        return "".join(self.chars[i] for i in ids)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def _printable_byte_order() -> list[int]:
    """The 256 bytes in the order Hugging Face numbers them (used only to break ties).

    GPT-2 shows each byte as a printable character: the printable ones as themselves, the
    others as characters from U+0100 on. Hugging Face's trainer numbers the bytes by those
    characters' code points.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    shown, extra = {}, 0
    for b in range(256):
        if b in printable:
            shown[b] = b
        else:
            shown[b], extra = 256 + extra, extra + 1
    return sorted(range(256), key=shown.__getitem__)


_TIE_RANK = {b: rank for rank, b in enumerate(_printable_byte_order())}


def _merge(symbols: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every occurrence of ``pair`` in ``symbols``, left to right, by ``new_id``."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


class BytePairTokenizer:
    """Byte-level byte pair encoding: train, encode, decode.

    Token ids ``0..255`` are the bytes of the UTF-8 encoding; id ``256 + i`` is the ``i``-th
    merge. Build one with :meth:`train`.

    Attributes
    ----------
    merges : list of (int, int)
        The merged pairs in the order they were learned; ``merges[i]`` made token ``256 + i``.
    vocab : list of bytes
        ``vocab[id]`` is the byte string of token ``id``.
    """

    def __init__(self, merges: list[tuple[int, int]] = ()):
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._chunk_ids: dict[str, list[int]] = {}  # text repeats its words: encode each once

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def train(cls, text: str, vocab_size: int, verbose: bool = False) -> "BytePairTokenizer":
        """Learn ``vocab_size - 256`` merges from ``text``.

        Parameters
        ----------
        text : str
        vocab_size : int
            At least 256 (the bytes). Training stops early if no pair occurs any more.

        Returns
        -------
        BytePairTokenizer
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(f"vocab_size must be a whole number >= 256 (the 256 bytes come "
                             f"first), got {vocab_size!r}.")
        # Merges never cross chunk boundaries, so train on the distinct chunks with their counts:
        # Shakespeare's 1.16M characters have only about 30,000 distinct chunks.
        chunk_counts = Counter(_SPLIT.findall(text))
        words = [tuple(chunk.encode("utf-8")) for chunk in chunk_counts]
        counts = list(chunk_counts.values())
        pair_counts: Counter = Counter()
        where: dict[tuple[int, int], set[int]] = {}  # pair -> words that (may) contain it
        for w, (symbols, count) in enumerate(zip(words, counts)):
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] += count
                where.setdefault(pair, set()).add(w)

        def tie_rank(token: int) -> int:
            return _TIE_RANK[token] if token < 256 else token

        merges = []
        for new_id in range(256, vocab_size):
            if not pair_counts:
                break
            # The most frequent pair; among equals, the one Hugging Face picks (see module doc).
            pair = max(pair_counts, key=lambda p: (pair_counts[p], -tie_rank(p[0]), -tie_rank(p[1])))
            merges.append(pair)
            # Re-count only the words that contain the pair: remove their old pairs, merge,
            # add their new pairs.
            for w in where.pop(pair):
                symbols = words[w]
                merged = _merge(symbols, pair, new_id)
                if merged == symbols:
                    continue
                for old in zip(symbols, symbols[1:]):
                    pair_counts[old] -= counts[w]
                    if pair_counts[old] == 0:
                        del pair_counts[old]
                for new in zip(merged, merged[1:]):
                    pair_counts[new] += counts[w]
                    where.setdefault(new, set()).add(w)
                words[w] = merged
            if verbose:
                print(f"merge {new_id - 255}: {pair} -> {new_id}")
        return cls(merges)

    def _encode_chunk(self, data: bytes) -> list[int]:
        symbols = tuple(data)
        while len(symbols) >= 2:
            # Apply the earliest-learned merge that occurs, as training did.
            pair = min(zip(symbols, symbols[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            symbols = _merge(symbols, pair, 256 + self.ranks[pair])
        return list(symbols)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (any Unicode string)."""
        if not isinstance(text, str):
            raise TypeError(f"encode needs a str, got {type(text).__name__}; decode bytes with "
                            "data.decode('utf-8') first.")
        ids = []
        for chunk in _SPLIT.findall(text):
            if chunk not in self._chunk_ids:
                self._chunk_ids[chunk] = self._encode_chunk(chunk.encode("utf-8"))
            ids.extend(self._chunk_ids[chunk])
        return ids

    def decode(self, ids) -> str:
        """The text of a list (or 1-D tensor) of ids.

        Bytes that do not form valid UTF-8 (a sampled sequence can cut a character in half)
        become U+FFFD, as in Hugging Face's byte-level decoder.
        """
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.vocab)]
        if bad:
            raise ValueError(f"Ids outside the vocabulary 0..{len(self.vocab) - 1}: {bad[:10]}.")
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"BytePairTokenizer(vocab_size={self.vocab_size})"
