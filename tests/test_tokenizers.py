"""Tokenizers: our byte-level BPE against Hugging Face `tokenizers`, and round trips."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bmcourse.data.text import load_text
from bmcourse.data.tokenizers import _SPLIT, BytePairTokenizer, CharTokenizer

tokenizers = pytest.importorskip("tokenizers")

MIXED = ("Héllo wörld! 2024年, naïve café — “quotes” and emoji 🙂🙂. Ünïcödé ½ ² _under_score\n"
         "tabs\tand   spaces   \n\n") * 20


@pytest.fixture(scope="module")
def shakespeare():
    text = load_text("shakespeare")
    return text[:150_000], text[-30_000:]


def hf_byte_level_bpe(text, vocab_size):
    """The seed's ByteLevelBPETokenizer, used correctly: train_from_iterator, then .ids."""
    tok = tokenizers.ByteLevelBPETokenizer()  # add_prefix_space=False, like ours
    tok.train_from_iterator([text], vocab_size=vocab_size, min_frequency=1, show_progress=False)
    return tok


def hf_token_bytes(tok):
    """Each HF token id -> the bytes it stands for (HF shows bytes as printable characters)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shown, extra = {}, 0
    for b in range(256):
        if b in printable:
            shown[chr(b)] = b
        else:
            shown[chr(256 + extra)] = b
            extra += 1
    return {i: bytes(shown[c] for c in token) for token, i in tok.get_vocab().items()}


@pytest.mark.parametrize("which", ["shakespeare", "mixed"])
def test_bpe_learns_the_same_merges_as_hugging_face(shakespeare, which):
    text = shakespeare[0] if which == "shakespeare" else MIXED
    vocab_size = 512 if which == "shakespeare" else 300
    ours = BytePairTokenizer.train(text, vocab_size)
    hf = hf_byte_level_bpe(text, vocab_size)
    to_bytes = hf_token_bytes(hf)
    hf_vocab = [to_bytes[i] for i in range(hf.get_vocab_size())]
    assert ours.vocab_size == hf.get_vocab_size() == vocab_size
    # HF numbers the 256 bytes differently; the merged tokens come in the same order.
    assert sorted(hf_vocab[:256]) == ours.vocab[:256]
    assert hf_vocab[256:] == ours.vocab[256:]


def test_bpe_gives_the_same_tokens_as_hugging_face_on_held_out_text(shakespeare):
    train, held_out = shakespeare
    ours = BytePairTokenizer.train(train, 512)
    hf = hf_byte_level_bpe(train, 512)
    to_bytes = hf_token_bytes(hf)
    hf_tokens = [to_bytes[i] for i in hf.encode(held_out).ids]
    our_tokens = [ours.vocab[i] for i in ours.encode(held_out)]
    assert our_tokens == hf_tokens
    assert len(our_tokens) < 0.6 * len(held_out)  # 256 merges already save 40%
    assert hf.decode(hf.encode(held_out).ids) == ours.decode(ours.encode(held_out)) == held_out


def test_a_merge_by_hand():
    # Wikipedia's example "aaabdaaabac": "aa" occurs 4 times (overlaps count); then "aa"+"a"
    # and "a"+"b" tie at 2 and the tie goes to the smaller ids ("ab"); then "aa"+"ab".
    text = "aaabdaaabac"
    tok = BytePairTokenizer.train(text, 256 + 3)
    assert [tok.vocab[256 + i] for i in range(3)] == [b"aa", b"ab", b"aaab"]
    hf = hf_byte_level_bpe(text, 256 + 3)
    to_bytes = hf_token_bytes(hf)
    assert [to_bytes[256 + i] for i in range(3)] == [b"aa", b"ab", b"aaab"]
    assert tok.encode("aaabdaaabac") == [258, ord("d"), 258, ord("a"), ord("c")]


@pytest.fixture(scope="module")
def small_bpe():
    return BytePairTokenizer.train(MIXED + load_text("shakespeare")[:20_000], 400)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bpe_round_trip_on_any_unicode(small_bpe, text):
    ids = small_bpe.encode(text)
    assert all(0 <= i < small_bpe.vocab_size for i in ids)
    assert small_bpe.decode(ids) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_split_pattern_covers_every_character(text):
    assert "".join(_SPLIT.findall(text)) == text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1))
def test_char_round_trip_on_any_unicode(text):
    tok = CharTokenizer(text)
    assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == len(set(text))


def test_char_tokenizer_names_unknown_characters():
    tok = CharTokenizer("abc ")
    with pytest.raises(ValueError, match=r"\['Z', 'é'\]"):
        tok.encode("a Zé")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([7])


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="vocab_size must be"):
        BytePairTokenizer.train("abc", 100)
    with pytest.raises(TypeError, match="decode bytes"):
        BytePairTokenizer().encode(b"bytes")
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")


def test_decode_of_a_cut_character_is_replaced_not_an_error():
    tok = BytePairTokenizer()
    assert tok.decode(list("é".encode()[:1])) == "\ufffd"
