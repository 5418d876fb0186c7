"""The text chapter's exercises accept the right answers and explain the common wrong ones."""
import math

import torch

from bmcourse.exercises import text as ex


def test_top_k():
    def good(logits, k):
        return logits.masked_fill(logits < torch.topk(logits, k).values[-1], float("-inf"))

    assert ex.q1.check(good)
    assert "exactly k" in ex.q1.check(lambda logits, k: logits).message
    assert not ex.q1.check(lambda logits, k: torch.softmax(logits, -1))
    assert "raised" in ex.q1.check(lambda logits, k: 1 / 0).message


def test_parameter_count():
    assert ex.q2.check(804_096)
    assert "tying" in ex.q2.check(804_096 + 65 * 128).message
    assert "position" in ex.q2.check(804_096 - 64 * 128).message
    assert not ex.q2.check(804_096.5)


def test_one_merge():
    assert ex.q3.check(["aa", "a", "b", "d", "aa", "a", "b", "a", "c"])
    assert "left to right" in ex.q3.check(["a", "aa", "b", "d", "a", "aa", "b", "a", "c"]).message
    assert "overlapping" in ex.q3.check(["a", "a", "ab", "d", "a", "a", "ab", "a", "c"]).message
    assert "list of strings" in ex.q3.check("aa").message


def test_bits_per_character():
    assert ex.q4.check(3.2 * 1000 / (3100 * math.log(2)))
    assert "per *token*" in ex.q4.check(3.2 / math.log(2)).message
    assert "ln 2" in ex.q4.check(3.2 * 1000 / 3100).message


def test_solutions_agree_with_the_package():
    from bmcourse.data.tokenizers import BytePairTokenizer
    from bmcourse.metrics import bits_per_character

    tok = BytePairTokenizer.train("aaabdaaabac", 257)
    assert [tok.vocab[i].decode() for i in tok.encode("aaabdaaabac")] == \
        ["aa", "a", "b", "d", "aa", "a", "b", "a", "c"]
    assert math.isclose(bits_per_character(3.2, 1000, 3100), 1.4892, rel_tol=1e-4)
