"""The VAE: shapes, its loss against a hand-computed ELBO, training through fit, the shipped model."""
import math

import pytest
import torch

from bmcourse.data import load_mnist
from bmcourse.losses import vae_loss
from bmcourse.models.vae import VAE, pretrained_vae
from bmcourse.training.recipes.vae import negative_elbo, train_vae


def test_shapes_and_ranges():
    torch.manual_seed(0)
    model = VAE()
    x = torch.rand(5, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (5, 20)
    assert model.decode(mu).shape == x.shape
    reconstruction = model.reconstruct(x)
    assert 0 <= reconstruction.min() and reconstruction.max() <= 1
    assert VAE(latent_dim=2).sample(3).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="view"):
        model.encode(torch.rand(5, 784))
    with pytest.raises(ValueError, match=r"\(N, 20\)"):
        model.decode(torch.zeros(5, 2))


def test_vae_loss_matches_a_hand_computed_elbo():
    # One 2-pixel "image", a 1-D latent: every term written out with math.log / math.exp.
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    logits = torch.tensor([[2.0, -1.0]], dtype=torch.float64)  # decoder output for the sample z
    mu = torch.tensor([[0.5]], dtype=torch.float64)
    logvar = torch.tensor([[math.log(0.25)]], dtype=torch.float64)
    p = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))]  # pixel-on probabilities
    reconstruction = -(math.log(p[0]) + math.log(1 - p[1]))  # -log p(x|z), Bernoulli
    kl = 0.5 * (0.5 ** 2 + 0.25 - 1 - math.log(0.25))  # KL(N(0.5, 0.25) || N(0, 1))
    loss = vae_loss(logits, x, mu, logvar)
    assert loss.reconstruction.item() == pytest.approx(reconstruction, rel=1e-12)
    assert loss.kl.item() == pytest.approx(kl, rel=1e-12)
    assert loss.total.item() == pytest.approx(reconstruction + kl, rel=1e-12)


def test_negative_elbo_is_reproducible_and_training_lowers_it():
    data = load_mnist(source="sample", verbose=False)
    data.x_train, data.y_train = data.x_train[:600], data.y_train[:600]
    data.x_test, data.y_test = data.x_test[:300], data.y_test[:300]
    model, history = train_vae(data, epochs=2, device="cpu", progress=False, seed=0)
    assert history["test_loss"][-1] < history["test_loss"][0] < 400
    assert history["test_loss"][-1] == pytest.approx(
        history["test_reconstruction"][-1] + history["test_kl"][-1])
    first = negative_elbo(model, data.x_test, seed=1)
    assert negative_elbo(model, data.x_test, seed=1) == first
    untrained = negative_elbo(VAE(), data.x_test)
    assert first["total"] < untrained["total"] - 100


def test_pretrained_vae_reconstructs_held_out_digits():
    data = load_mnist(source="sample", verbose=False)
    model = pretrained_vae("cpu")
    x = data.x_test[:200]
    mu, logvar = model.encode(x)
    assert mu.shape == (200, 20) and logvar.shape == (200, 20)
    error = (model.reconstruct(x) - x).abs().mean().item()
    assert error < 0.1
    assert not any(p.requires_grad for p in model.parameters())
    assert model.info["test_neg_elbo"] < 130
