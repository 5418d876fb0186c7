"""Engineering II's exercises accept the right answers and explain common wrong ones."""
import torch

from bmcourse.exercises import engineering2 as ex


def test_quantize_row():
    def right(w):
        scale = w.abs().max() / 127.5
        return torch.clamp(torch.round(w / scale), -128, 127), scale

    def by_127(w):
        scale = w.abs().max() / 127
        return torch.round(w / scale), scale

    assert ex.q1.check(right)
    assert "127" in ex.q1.check(by_127).message
    assert not ex.q1.check(lambda w: (w, 1.0))


def test_csr_bytes():
    def right(weight):
        nnz = int((weight != 0).sum())
        return 4 * nnz + 8 * nnz + 8 * (weight.shape[0] + 1)

    assert ex.q2.check(right)
    assert "dense size" in ex.q2.check(lambda w: 4 * w.numel()).message
    assert "row pointer" in ex.q2.check(lambda w: 12 * int((w != 0).sum())).message


def test_linear_integrated_gradients():
    assert ex.q3.check(lambda w, x, baseline: (x - baseline) * w)
    assert "gradient × input" in ex.q3.check(lambda w, x, baseline: x * w).message
    assert "saliency" in ex.q3.check(lambda w, x, baseline: w.expand_as(x)).message


def test_false_positive_rate_forced_by_a_lower_base_rate():
    assert ex.q4.check(0.05) and ex.q4.check(lambda: 0.05)
    assert "group A" in ex.q4.check(0.2).message
    assert "fraction" in ex.q4.check(5).message
    assert not ex.q4.check(0.06)


def test_clip_rows():
    def right(g, C):
        return g * (C / g.norm(dim=1, keepdim=True)).clamp(max=1.0)

    assert ex.q5.check(right)
    assert "total norm" in ex.q5.check(lambda g, C: g * min(1.0, C / g.norm().item())).message
    assert "entries" in ex.q5.check(lambda g, C: g.clamp(-C, C)).message


def test_fedavg_bytes():
    assert ex.q6.check(133_069_600)
    assert "both directions" in ex.q6.check(133_069_600 // 2).message
    assert "bits" in ex.q6.check(133_069_600 * 8).message
    assert "4 bytes" in ex.q6.check(133_069_600 // 4).message


def test_every_question_is_worth_points_and_checks_its_own_kind_of_answer():
    questions = [getattr(ex, f"q{i}") for i in range(1, 7)]
    assert all(q.points >= 1 for q in questions)
    assert [q.expects for q in questions] == ["function", "function", "function", "value",
                                              "function", "value"]
