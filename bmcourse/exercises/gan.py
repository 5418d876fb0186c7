"""Exercises of the GAN and VAE chapter (``book/gan.ipynb``)."""
import math

import torch

from ..metrics import inception_score as _inception_score
from .core import Incorrect, Question, as_whole_number, call_answer, expect_close


def _check_transposed_side(answer):
    side = as_whole_number(answer, what="the output side")
    if side == 13:
        raise Incorrect("Close: Keras' 'same' adds output_padding=1, one extra row and column.")
    if side == 15:
        raise Incorrect("Subtract the padding on both sides: - 2p, not - p.")
    if side == 3:
        raise Incorrect("That is a normal (strided) convolution's formula; a transposed one "
                        "grows the image: (n - 1)·s - 2p + k + output_padding.")
    expect_close(side, 14, what="the output side")


q1 = Question(
    "Output side of nn.ConvTranspose2d(128, 128, 5, stride=2, padding=2, output_padding=1) on 7x7",
    check=_check_transposed_side,
    hint="A transposed convolution inverts the shape rule of a convolution: "
         "n_out = (n - 1)·s - 2p + k + output_padding.",
    solution="(7 - 1)·2 - 2·2 + 5 + 1 = 14: seed 003's Conv2DTranspose(..., strides=2, "
             "padding='same') doubles the side, 7 → 14 → 28.",
)


def _reference_gradients(d):
    return d, 1.0 - d  # |d/dl log(1 - sigmoid(l))| = sigmoid(l); |d/dl -log sigmoid(l)| = 1 - sigmoid(l)


def _check_gradients(function):
    for d in (0.001, 0.3, 0.9):
        result = call_answer(function, d, signature="generator_gradients(d)")
        try:
            minimax, non_saturating = (float(v) for v in result)
        except (TypeError, ValueError):
            raise Incorrect("Return two numbers: (minimax gradient size, non-saturating gradient "
                            "size).") from None
        want = _reference_gradients(d)
        if math.isclose(minimax, want[1], rel_tol=1e-3) and math.isclose(non_saturating, want[0],
                                                                         rel_tol=1e-3):
            raise Incorrect("The two are swapped: the minimax loss is the one that saturates "
                            "when D(G(z)) is near 0.")
        if math.isclose(abs(minimax), 1 / (1 - d), rel_tol=1e-3):
            raise Incorrect("That is the derivative with respect to D, not to the logit l; "
                            "multiply by dD/dl = D(1 - D).")
        expect_close(abs(minimax), want[0], rtol=1e-3, what=f"the minimax gradient at D = {d}")
        expect_close(abs(non_saturating), want[1], rtol=1e-3,
                     what=f"the non-saturating gradient at D = {d}")


q2 = Question(
    "Gradient sizes of the two generator losses with respect to the discriminator's logit",
    check=_check_gradients,
    hint="With D = sigmoid(l), dD/dl = D(1 - D). Differentiate log(1 - D) and -log D with "
         "respect to l.",
    solution="d/dl log(1 - sigmoid(l)) = -sigmoid(l) = -D and d/dl [-log sigmoid(l)] = "
             "-(1 - D): sizes `(d, 1 - d)`. At D(G(z)) = 0.001 the minimax loss passes on a "
             "thousandth of the gradient the non-saturating one does.",
    expects="function",
)


def _check_inception_score(function):
    g = torch.Generator().manual_seed(0)
    three_and_seven = torch.eye(10)[torch.tensor([3, 7] * 5)]  # classes nobody uses: p(y) = 0
    for probabilities in (torch.eye(10).repeat(3, 1), torch.full((8, 10), 0.1), three_and_seven,
                          torch.softmax(torch.randn(50, 10, generator=g) * 3, dim=1)):
        got = call_answer(function, probabilities.clone(), signature="inception_score(p)")
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Incorrect("Return one number (a float), the score.") from None
        if math.isnan(got):
            raise Incorrect("Your score is nan: where p(y) = 0, p(y|x) = 0 too, and 0 · log 0 "
                            "must count as 0 (torch.xlogy(p, q) computes p · log q that way).")
        want = _inception_score(probabilities.double().clamp_min(1e-300).log())
        if math.isclose(got, math.log(want), rel_tol=1e-4, abs_tol=1e-6) and want != 1:
            raise Incorrect("You returned the mean KL divergence; the score is its exponential.")
        expect_close(got, want, rtol=1e-4, what="the Inception Score")


q3 = Question(
    "The Inception Score from a matrix of class probabilities",
    check=_check_inception_score,
    hint="p(y) is the column mean of p(y|x). For each row take KL(p(y|x) || p(y)) = "
         "sum_y p(y|x) (log p(y|x) - log p(y)); average over rows; exponentiate. Treat "
         "0 · log 0 as 0 (torch.xlogy helps).",
    solution="```python\ndef inception_score(p):\n    marginal = p.mean(dim=0, keepdim=True)\n"
             "    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(dim=1)\n"
             "    return kl.mean().exp().item()\n```",
    expects="function",
)


def _check_frechet_1d(answer):
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Give one number.") from None
    if math.isclose(value, 4.0, rel_tol=1e-6):
        raise Incorrect("Compare standard deviations, not variances: (sigma_1 - sigma_2)^2.")
    if math.isclose(value, 1.0, rel_tol=1e-6):
        raise Incorrect("The spreads differ too: add (sigma_1 - sigma_2)^2.")
    expect_close(value, 2.0, rtol=1e-6, what="the Fréchet distance")


q4 = Question(
    "Fréchet distance between N(0, 1) and N(1, 4) (variance 4)",
    check=_check_frechet_1d,
    hint="In one dimension the formula |m1 - m2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) becomes "
         "(m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.",
    solution="(0 - 1)^2 + (1 - 2)^2 = 2.",
)
