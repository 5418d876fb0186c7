"""Exercises of the chapter "The math of GANs, self-attention and VAEs".

Use in the notebook as ``from bmcourse.exercises import math as ex``, then ``ex.q1.check(...)``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .core import Incorrect, Question, expect_close

__all__ = ["q1", "q2", "q3", "q4", "q5"]


# q1 — the optimal discriminator for p_data = N(0, 1) and p_g = N(2, 1)

def _normal_pdf(x: torch.Tensor, mean: float) -> torch.Tensor:
    return torch.exp(-0.5 * (x - mean) ** 2) / math.sqrt(2 * math.pi)


def _check_d_star(d_star) -> None:
    if not callable(d_star):
        raise Incorrect("Pass a function d_star(x) that takes a tensor of points and returns D*(x).")
    x = torch.linspace(-3.0, 5.0, 81, dtype=torch.float64)
    got = torch.as_tensor(d_star(x.clone()), dtype=torch.float64)
    p_data, p_g = _normal_pdf(x, 0.0), _normal_pdf(x, 2.0)
    if got.shape != x.shape:
        raise Incorrect(f"d_star(x) should return one value per point, shape {tuple(x.shape)}; "
                        f"got shape {tuple(got.shape)}.")
    if torch.allclose(got, p_g / (p_data + p_g), atol=1e-6):
        raise Incorrect("That is the probability of 'generated'. D(x) is the probability that x is "
                        "*real*: the data density goes in the numerator.")
    if torch.allclose(got, p_data / p_g, atol=1e-6):
        raise Incorrect("A probability cannot exceed 1: divide by p_data + p_g, not by p_g.")
    expect_close(got, p_data / (p_data + p_g), what="D*(x) on a grid from -3 to 5", atol=1e-5)


q1 = Question(
    "The optimal discriminator for p_data = N(0, 1), p_g = N(2, 1)",
    check=_check_d_star,
    hint="D*(x) = p_data(x) / (p_data(x) + p_g(x)). Divide numerator and denominator by p_data(x) "
         "and simplify the ratio of the two Gaussian densities: the normalising constants cancel.",
    solution="`p_g/p_data = exp(-(x-2)^2/2 + x^2/2) = exp(2x - 2)`, so "
             "`D*(x) = 1 / (1 + exp(2x - 2)) = sigmoid(2 - 2x)`: "
             "`def d_star(x): return torch.sigmoid(2 - 2 * x)`. It equals 1/2 at x = 1, halfway "
             "between the two means, where the densities are equal.",
    expects="function",
)


# q2 — a causal mask

def _check_causal(make_mask) -> None:
    if not callable(make_mask):
        raise Incorrect("Pass a function causal(T) that returns a (T, T) boolean tensor.")
    for T in (1, 2, 5):
        got = torch.as_tensor(make_mask(T))
        want = torch.ones(T, T, dtype=torch.bool).tril()
        if got.shape != (T, T):
            raise Incorrect(f"causal({T}) has shape {tuple(got.shape)}; expected ({T}, {T}).")
        if got.dtype != torch.bool:
            raise Incorrect(f"causal({T}) has dtype {got.dtype}; use a bool tensor "
                            "(True = may attend), e.g. with `.bool()` or `dtype=torch.bool`.")
        if T > 1 and torch.equal(got, want.T):
            raise Incorrect("Row i should be query i: it may see keys 0..i. Your mask lets the first "
                            "position see the whole future — transpose it (tril, not triu).")
        if torch.equal(got, want.tril(-1)):
            raise Incorrect("Every position must be allowed to attend to itself: keep the diagonal "
                            "(otherwise the first row is entirely blocked).")
        if torch.equal(got, ~want):
            raise Incorrect("True means 'may attend' here; you returned the blocked positions.")
        if not torch.equal(got, want):
            raise Incorrect(f"causal({T}) is not right yet: row i must be True exactly in columns 0..i.")


q2 = Question(
    "Implement a causal mask",
    check=_check_causal,
    hint="Start from a (T, T) tensor of ones; keep the part on and below the diagonal.",
    solution="`def causal(T): return torch.ones(T, T, dtype=torch.bool).tril()` — "
             "`torch.tril` keeps row i's columns 0..i.",
    expects="function",
)


# q3 — KL(N(mu, sigma^2) || N(0, 1))

_KL_CASES = [(0.0, 1.0), (1.0, 0.5), (-2.0, 3.0), (0.3, 0.1)]


def _kl(mu: float, sigma: float) -> float:
    return 0.5 * (mu ** 2 + sigma ** 2 - 1.0 - math.log(sigma ** 2))


def _check_kl(kl) -> None:
    if not callable(kl):
        raise Incorrect("Pass a function kl(mu, sigma) that returns a number.")
    got = np.array([float(kl(m, s)) for m, s in _KL_CASES])
    want = np.array([_kl(m, s) for m, s in _KL_CASES])
    if np.allclose(got, 2 * want, rtol=1e-4, atol=1e-8):
        raise Incorrect("Your values are twice too large: the factor 1/2 in front is missing.")
    wrong_sigma = np.array([0.5 * (m ** 2 + s - 1 - math.log(s)) for m, s in _KL_CASES])
    if np.allclose(got, wrong_sigma, rtol=1e-4, atol=1e-8):
        raise Incorrect("You used sigma where the formula has the variance sigma^2.")
    if np.allclose(got, -want, rtol=1e-4, atol=1e-8):
        raise Incorrect("A KL divergence is never negative: check the sign.")
    expect_close(got, want, what="kl(mu, sigma) on the test cases", atol=1e-8)


q3 = Question(
    "The KL divergence of N(mu, sigma^2) from N(0, 1)",
    check=_check_kl,
    hint="KL(q || p) = E_q[log q(z) - log p(z)]. Write out both log-densities; "
         "E_q[(z - mu)^2] = sigma^2 and E_q[z^2] = mu^2 + sigma^2.",
    solution="`def kl(mu, sigma): return 0.5 * (mu**2 + sigma**2 - 1 - math.log(sigma**2))`. "
             "It is 0 only for mu = 0, sigma = 1.",
    expects="function",
)


# q4 — the variance of a dot product

def _check_variance(answer) -> None:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Answer with a single number.")
    if math.isclose(value, 8.0):
        raise Incorrect("8 is the standard deviation. The question asks for the variance.")
    if math.isclose(value, 1.0):
        raise Incorrect("1 is the variance of each term q_i k_i; the dot product adds 64 of them.")
    expect_close(value, 64.0, what="the variance of q . k")


q4 = Question(
    "The variance of q . k for d_k = 64",
    check=_check_variance,
    hint="Each term q_i k_i has mean 0 and variance E[q_i^2] E[k_i^2] = 1; the terms are "
         "independent, and variances of independent terms add.",
    solution="`64`: d_k terms of variance 1. Its standard deviation, 8, is what dividing by "
             "sqrt(d_k) cancels, bringing the scores back to unit variance.",
)


# q5 — the seed's cross-entropy example, computed correctly

def _check_cross_entropy(answer) -> None:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Answer with a single number.")
    if math.isclose(value, math.log(2), rel_tol=1e-2):
        raise Incorrect("0.693 = ln 2 is the seed's number, and it is not what the formula gives.")
    if math.isclose(value, -math.log(0.2), rel_tol=1e-2):
        raise Incorrect("That is the sum; the formula averages over the n = 2 entries.")
    if math.isclose(value, -0.5 * math.log10(0.2), rel_tol=1e-2):
        raise Incorrect("Use the natural logarithm (np.log), as PyTorch does.")
    expect_close(value, -0.5 * math.log(0.2), what="the cross-entropy", rtol=1e-3)


q5 = Question(
    "The seed's cross-entropy example: y = [0, 1], y_hat = [0.8, 0.2]",
    check=_check_cross_entropy,
    hint="Only the term with y_i = 1 survives: -(1/2) * log(0.2).",
    solution="`-(1/2) * (0 * log 0.8 + 1 * log 0.2) = 0.805` (natural log). The seed prints 0.693.",
)
