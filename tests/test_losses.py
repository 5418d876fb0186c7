"""GAN and VAE losses: closed forms against direct computation and Monte-Carlo estimates."""
import math

import pytest
import torch
import torch.nn.functional as F

from bmcourse.losses import (discriminator_loss, gan_value, gaussian_kl, generator_loss,
                             jensen_shannon, optimal_discriminator, reparameterize,
                             vae_loss)


def test_discriminator_loss_is_binary_cross_entropy():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(7, 1, generator=g), torch.randn(5, 1, generator=g)
    expected = (F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real))
                + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros_like(fake)))
    torch.testing.assert_close(discriminator_loss(real, fake), expected)


def test_generator_losses_match_their_formulas_and_stay_finite():
    logits = torch.tensor([-3.0, 0.0, 2.0], dtype=torch.float64)
    d = torch.sigmoid(logits)
    torch.testing.assert_close(generator_loss(logits), (-torch.log(d)).mean())
    torch.testing.assert_close(generator_loss(logits, saturating=True), torch.log(1 - d).mean())
    # D(G(z)) rounds to 0 in float32 here; the logit form still gives the right, finite loss.
    far = torch.tensor([-200.0])
    assert generator_loss(far).item() == pytest.approx(200.0)
    assert torch.isfinite(generator_loss(far, saturating=True))


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    logits = torch.tensor([-8.0], requires_grad=True)  # the discriminator is sure: fake
    (g_sat,) = torch.autograd.grad(generator_loss(logits, saturating=True), logits)
    (g_ns,) = torch.autograd.grad(generator_loss(logits), logits)
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l), d/dl -log sigmoid(l) = -(1 - sigmoid(l))
    assert g_sat.item() == pytest.approx(-torch.sigmoid(torch.tensor(-8.0)).item(), rel=1e-5)
    assert g_ns.item() == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-8.0))).item(), rel=1e-5)
    assert abs(g_ns.item()) > 1000 * abs(g_sat.item())


def test_gaussian_kl_matches_monte_carlo_within_its_error():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, math.log(0.25), math.log(2.0)]], dtype=torch.float64)
    mu_p, logvar_p = torch.tensor(0.3, dtype=torch.float64), torch.tensor(math.log(1.5), dtype=torch.float64)
    n = 200_000
    z = reparameterize(mu.expand(n, 3), logvar.expand(n, 3), generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(mu_p, (0.5 * logvar_p).exp())
    log_ratio = (q.log_prob(z) - p.log_prob(z)).sum(-1)  # one sample of log q/p per draw
    estimate, stderr = log_ratio.mean().item(), (log_ratio.std() / math.sqrt(n)).item()
    closed = gaussian_kl(mu, logvar, mu_p, logvar_p).item()
    assert abs(closed - estimate) < 4 * stderr
    torch.testing.assert_close(gaussian_kl(mu, logvar, mu_p, logvar_p),
                               torch.distributions.kl_divergence(q, p).sum(-1))


def test_gaussian_kl_is_zero_only_at_the_prior():
    zero = torch.zeros(2, 4)
    torch.testing.assert_close(gaussian_kl(zero, zero), torch.zeros(2))
    assert (gaussian_kl(zero + 0.1, zero) > 0).all() and (gaussian_kl(zero, zero - 0.1) > 0).all()
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 3))


def test_reparameterize_has_the_right_moments_and_gradients():
    g = torch.Generator().manual_seed(1)
    mu = torch.full((100_000, 1), 2.0, requires_grad=True)
    logvar = torch.full((100_000, 1), math.log(9.0), requires_grad=True)
    z = reparameterize(mu, logvar, generator=g)
    assert z.mean().item() == pytest.approx(2.0, abs=0.05)
    assert z.std().item() == pytest.approx(3.0, abs=0.05)
    z.mean().backward()
    assert mu.grad.sum().item() == pytest.approx(1.0)  # dz/dmu = 1 for every sample
    assert torch.isfinite(logvar.grad).all()


def test_vae_loss_is_per_example_sum_over_pixels_averaged_over_batch():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 1, 4, 4, generator=g)
    logits = torch.randn(3, 1, 4, 4, generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    total, rec, kl = vae_loss(logits, x, mu, logvar)
    torch.testing.assert_close(rec, F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 3)
    kl_direct = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / 3  # Kingma & Welling, app. B
    torch.testing.assert_close(kl, kl_direct)
    torch.testing.assert_close(total, rec + kl)
    torch.testing.assert_close(vae_loss(logits, x, mu, logvar, beta=0.5).total, rec + 0.5 * kl)
    gauss = vae_loss(logits, x, mu, logvar, likelihood="gaussian").reconstruction
    torch.testing.assert_close(gauss, 0.5 * ((logits - x) ** 2).sum() / 3)
    with pytest.raises(ValueError, match="likelihood"):
        vae_loss(logits, x, mu, logvar, likelihood="poisson")
    with pytest.raises(ValueError, match="same"):
        vae_loss(logits.flatten(1), x, mu, logvar)


@pytest.mark.parametrize("mu_shape, logvar_shape", [((2,), (5, 2)), ((5, 1), (5, 2)), ((5, 2), (2,))])
def test_reparameterize_refuses_to_broadcast(mu_shape, logvar_shape):
    # With mu (2,) and logvar (5, 2) the five "samples" would share one noise draw.
    with pytest.raises(ValueError, match="must have the same shape.*expand"):
        reparameterize(torch.zeros(mu_shape), torch.zeros(logvar_shape))


def test_vae_loss_rejects_latents_of_another_batch():
    g = torch.Generator().manual_seed(3)
    x, logits = torch.rand(4, 6, generator=g), torch.randn(4, 6, generator=g)
    mu, logvar = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    with pytest.raises(ValueError, match="x has 4 examples but mu and logvar have 3 rows"):
        vae_loss(logits, x, mu, logvar)
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        vae_loss(logits, x, mu[0], logvar[0])  # a single (D,) latent for a batch of 4
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        vae_loss(logits, x, torch.randn(4, 2), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        vae_loss(logits[0], x[0], mu[:1], logvar[:1])  # one example without its batch dimension


def grid_densities():
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    normal = lambda m, s: torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    p_data = 0.5 * normal(-2.0, 0.5) + 0.5 * normal(2.0, 0.5)
    p_g = normal(0.5, 1.5)
    dx = (x[1] - x[0]).item()
    # Normalise on the grid so that each density sums to exactly 1, as the identities assume.
    return x, p_data / (p_data.sum() * dx), p_g / (p_g.sum() * dx), dx


def test_optimal_discriminator_maximises_the_value_function_on_a_grid():
    x, p_data, p_g, dx = grid_densities()
    d_star = optimal_discriminator(p_data, p_g)
    # Pointwise brute force: for each x, the D(x) among 999 candidates with the largest integrand.
    candidates = torch.linspace(0.001, 0.999, 999, dtype=torch.float64)[:, None]
    integrand = p_data * torch.log(candidates) + p_g * torch.log1p(-candidates)
    best = candidates[integrand.argmax(dim=0), 0]
    assert (best - d_star).abs().max().item() <= 0.001  # within one candidate step
    # And no perturbation of D* does better on the whole value function.
    g = torch.Generator().manual_seed(0)
    others = (d_star + 0.05 * torch.randn(50, x.numel(), generator=g, dtype=torch.float64)).clamp(1e-6, 1 - 1e-6)
    assert (gan_value(others, p_data, p_g, dx) < gan_value(d_star, p_data, p_g, dx)).all()


def test_value_at_optimal_discriminator_is_minus_log4_plus_twice_jsd():
    x, p_data, p_g, dx = grid_densities()
    v = gan_value(optimal_discriminator(p_data, p_g), p_data, p_g, dx)
    jsd = jensen_shannon(p_data, p_g, dx)
    assert 0 < jsd.item() < math.log(2)
    torch.testing.assert_close(v, -math.log(4) + 2 * jsd)
    # p_g = p_data: D* = 1/2 everywhere and the value is exactly -log 4.
    torch.testing.assert_close(optimal_discriminator(p_data, p_data), torch.full_like(x, 0.5))
    torch.testing.assert_close(jensen_shannon(p_data, p_data, dx), torch.tensor(0.0, dtype=torch.float64))


def test_gan_value_stays_finite_when_one_density_underflows_relative_to_the_other():
    x, p_data, _, dx = grid_densities()
    # One bump only: far left, p_g is ~1e-56 while p_data is ~1e-14, so D* rounds to exactly 1.
    p_g = torch.exp(-0.5 * ((x - 2.0) / 0.5) ** 2)
    p_g = p_g / (p_g.sum() * dx)
    d_star = optimal_discriminator(p_data, p_g)
    assert (d_star == 1).any()
    v = gan_value(d_star, p_data, p_g, dx)
    torch.testing.assert_close(v, -math.log(4) + 2 * jensen_shannon(p_data, p_g, dx))
