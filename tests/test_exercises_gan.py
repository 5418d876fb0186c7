"""The GAN chapter's exercises accept the reference answers and explain typical mistakes."""
import torch

from bmcourse.exercises import gan as ex


def test_transposed_convolution_side():
    assert ex.q1.check(14)
    assert "output_padding" in ex.q1.check(13).message
    assert not ex.q1.check(3)


def test_generator_gradients():
    assert ex.q2.check(lambda d: (d, 1 - d))
    assert "swapped" in ex.q2.check(lambda d: (1 - d, d)).message
    assert not ex.q2.check(lambda d: (1 / (1 - d), 1 / d))
    assert not ex.q2.check(42)  # not a function


def test_inception_score_function():
    def inception_score(p):
        marginal = p.mean(dim=0, keepdim=True)
        kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(dim=1)
        return kl.mean().exp().item()

    def naive(p):  # 0 * log 0 gives nan for classes no sample uses
        marginal = p.mean(dim=0, keepdim=True)
        return (p * (p.log() - marginal.log())).sum(dim=1).mean().exp().item()

    assert ex.q3.check(inception_score)
    assert "nan" in ex.q3.check(naive).message
    assert "exponential" in ex.q3.check(lambda p: torch.log(torch.tensor(inception_score(p)))
                                        .item()).message


def test_frechet_distance_in_one_dimension():
    assert ex.q4.check(2.0)
    assert "standard deviations" in ex.q4.check(4.0).message
    for question in (ex.q1, ex.q2, ex.q3, ex.q4):
        assert question.hint().message and question.solution().message
