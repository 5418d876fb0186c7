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


def test_newton_schulz_step():
    a, b, c = 3.4445, -4.775, 2.0315

    def good(x):
        gram = x @ x.T
        return a * x + b * gram @ x + c * gram @ gram @ x

    assert ex.q5.check(good)
    assert "twice" in ex.q5.check(lambda x: a * x + b * (x @ x.T) @ x + c * (x @ x.T) @ x).message
    assert "on the left" in ex.q5.check(lambda x: x.T @ x).message  # 5 x 5
    assert "Only a X" in ex.q5.check(lambda x: a * x).message
    assert not ex.q5.check(lambda x: a * x + b * (x @ x.T) @ x)
    # on a diagonal matrix the step acts on each singular value: s -> a s + b s^3 + c s^5
    s = torch.tensor([0.5, 0.1], dtype=torch.float64)
    torch.testing.assert_close(torch.diagonal(good(torch.diag(s))), a * s + b * s**3 + c * s**5)


def test_solutions_agree_with_the_package():
    from bmcourse.data.tokenizers import BytePairTokenizer
    from bmcourse.metrics import bits_per_character

    tok = BytePairTokenizer.train("aaabdaaabac", 257)
    assert [tok.vocab[i].decode() for i in tok.encode("aaabdaaabac")] == \
        ["aa", "a", "b", "d", "aa", "a", "b", "a", "c"]
    assert math.isclose(bits_per_character(3.2, 1000, 3100), 1.4892, rel_tol=1e-4)
