"""Classifier Inception Score, Fréchet distance, digit histogram and temperature calibration:
closed forms, known cases and the MNIST classifier on real digits."""
import math

import pytest
import torch

from bmcourse.data import load_mnist
from bmcourse.metrics import (calibrate_temperature, digit_histogram, frechet_distance,
                              gaussian_frechet_distance, inception_score, score_digits)
from bmcourse.models.cnn import mnist_classifier


@pytest.fixture(scope="module")
def judge():
    data = load_mnist(source="sample", verbose=False)
    classifier = mnist_classifier("cpu", verbose=False)
    with torch.no_grad():
        logits = classifier(data.x_test)
    temperature = calibrate_temperature(logits, data.y_test)
    real = score_digits(data.x_train[:1000], classifier, temperature=temperature)
    return data, classifier, temperature, real["features"]


def test_inception_score_of_known_distributions():
    confident = torch.eye(10).repeat(20, 1) * 50  # 200 samples, 20 per class, all certain
    assert inception_score(confident) == pytest.approx(10.0, rel=1e-9)
    assert inception_score(torch.zeros(100, 10)) == pytest.approx(1.0)  # all uniform
    one_class = torch.zeros(100, 10)
    one_class[:, 3] = 50.0
    assert inception_score(one_class) == pytest.approx(1.0)  # confident but one mode
    half = torch.eye(10)[:2].repeat(50, 1) * 50  # confident, two classes evenly
    assert inception_score(half) == pytest.approx(2.0, rel=1e-9)


def test_inception_score_equals_exp_mutual_information():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 5, generator=g, dtype=torch.float64) * 2
    p = logits.softmax(1)
    marginal = p.mean(0)
    expected = math.exp((p * (p.log() - marginal.log())).sum(1).mean().item())
    assert inception_score(logits) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_equals_closed_form_for_two_gaussians():
    # Diagonal covariances commute: FD = |m1 - m2|^2 + sum (s1 - s2)^2.
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, -1.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([3.0, 1.0, 0.5])
    expected = ((m1 - m2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    fd = gaussian_frechet_distance(m1, torch.diag(s1 ** 2), m2, torch.diag(s2 ** 2))
    assert fd == pytest.approx(expected.item(), rel=1e-10)
    # Non-commuting 2x2 covariances: for A = C1 C2 (positive eigenvalues),
    # Tr(A^(1/2)) = sqrt(Tr A + 2 sqrt(det A)).
    c1 = torch.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    c2 = torch.tensor([[1.0, -0.3], [-0.3, 0.5]], dtype=torch.float64)
    a = c1 @ c2
    root_trace = math.sqrt(torch.trace(a) + 2 * math.sqrt(torch.det(a)))
    mean_gap = torch.tensor([0.5, -1.0], dtype=torch.float64)
    expected = (mean_gap ** 2).sum() + torch.trace(c1) + torch.trace(c2) - 2 * root_trace
    fd = gaussian_frechet_distance(mean_gap, c1, torch.zeros(2), c2)
    assert fd == pytest.approx(expected.item(), rel=1e-10)
    assert gaussian_frechet_distance(mean_gap, c1, mean_gap, c1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_samples_approaches_the_closed_form():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(200_000, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0])
    b = torch.randn(200_000, 2, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0])
    # |(0,0)-(1,0)|^2 + (1-1)^2 + (2-1)^2 = 2
    assert frechet_distance(a, b) == pytest.approx(2.0, abs=0.03)


def test_real_digits_score_near_the_ceiling_and_noise_near_one(judge):
    data, classifier, temperature, real_features = judge
    assert temperature < 1  # the label-smoothed classifier is under-confident
    real = score_digits(data.x_test, classifier, real_features, temperature)
    noise = score_digits(torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                         classifier, real_features, temperature)
    assert 9.0 <= real["is"] <= 10.0
    assert noise["is"] == pytest.approx(1.0, abs=0.1)
    assert real["fd"] < noise["fd"] / 20  # FD(real, real) small next to FD(real, noise)
    assert real["histogram"].min() > 0.08 and real["histogram"].max() < 0.12


def test_calibrate_temperature_recovers_a_known_temperature():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(20_000, 10, generator=g) * 3
    labels = torch.multinomial((logits / 0.5).softmax(1), 1, generator=g).squeeze(1)
    assert calibrate_temperature(logits, labels) == pytest.approx(0.5, rel=0.05)


def test_digit_histogram_counts_fractions():
    hist = digit_histogram(torch.tensor([0, 0, 1, 9]))
    assert hist.tolist() == [0.5, 0.25] + [0.0] * 7 + [0.25]
    assert digit_histogram(torch.eye(10)).tolist() == [0.1] * 10


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        inception_score(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="num_classes"):
        digit_histogram(torch.tensor([0, 12]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_digits(torch.full((2, 1, 28, 28), -1.0), torch.nn.Linear(1, 1))
