"""The generic GAN step: what it updates, what it leaves alone, and that it learns."""
import pytest
import torch
from torch import nn

from bmcourse.training.gan import gan_step, train_gan


def tiny_gan(seed=0, z_dim=2):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(z_dim, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    D = nn.Sequential(nn.Linear(1, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    return G, D


def noise(n, device):
    return torch.randn(n, 2, device=device)


def test_discriminator_step_never_touches_the_generator():
    G, D = tiny_gan()
    g_before = [p.detach().clone() for p in G.parameters()]
    d_before = [p.detach().clone() for p in D.parameters()]
    opt_d = torch.optim.SGD(D.parameters(), lr=0.1)
    # An optimizer with lr=0 for G: any change of G must come from a bug, not from its step.
    opt_g = torch.optim.SGD(G.parameters(), lr=0.0)
    stats = gan_step(G, D, opt_g, opt_d, torch.randn(8, 1), noise)
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))


def test_generator_step_does_not_update_or_fill_the_discriminator():
    G, D = tiny_gan()
    opt_g = torch.optim.SGD(G.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(D.parameters(), lr=0.0)  # freeze D's own step
    d_before = [p.detach().clone() for p in D.parameters()]
    g_before = [p.detach().clone() for p in G.parameters()]
    gan_step(G, D, opt_g, opt_d, torch.randn(8, 1), noise)
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert all(p.requires_grad for p in D.parameters())  # unfrozen again afterwards


def test_generator_gradient_is_the_gradient_of_its_loss_alone():
    G, D = tiny_gan()
    G_copy, D_copy = tiny_gan()
    opt_d = torch.optim.SGD(D.parameters(), lr=0.05)
    opt_g = torch.optim.SGD(G.parameters(), lr=0.0)
    torch.manual_seed(5)
    real = torch.randn(8, 1)
    z = torch.randn(8, 2)
    gan_step(G, D, opt_g, opt_d, real, lambda n, device: z)
    # Reference: update D by hand on detached fakes, then differentiate -log D(G(z)) w.r.t. G.
    opt_d2 = torch.optim.SGD(D_copy.parameters(), lr=0.05)
    fake = G_copy(z)
    d_loss = (nn.functional.softplus(-D_copy(real)).mean()
              + nn.functional.softplus(D_copy(fake.detach())).mean())
    d_loss.backward()
    opt_d2.step()
    g_loss = nn.functional.softplus(-D_copy(fake)).mean()
    expected = torch.autograd.grad(g_loss, list(G_copy.parameters()))
    for p, e in zip(G.parameters(), expected):
        torch.testing.assert_close(p.grad, e)
    # D's .grad holds the gradient of D's loss only: the generator half did not add to it.
    for p, ref in zip(D.parameters(), D_copy.parameters()):
        torch.testing.assert_close(p.grad, ref.grad)


def test_train_gan_learns_a_shifted_gaussian():
    G, D = tiny_gan(seed=1)
    opt_g = torch.optim.Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=5e-3, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    data = [(3.0 + 0.5 * torch.randn(128, 1, generator=gen), torch.zeros(128)) for _ in range(20)]
    calls = []
    history = train_gan(G, D, opt_g, opt_d, data, noise, steps=300, callback=calls.append, every=100)
    assert calls == [100, 200, 300]  # the loader (20 batches) was re-iterated
    assert len(history["d_loss"]) == 300
    with torch.no_grad():
        x = G(torch.randn(4000, 2))
    assert x.mean().item() == pytest.approx(3.0, abs=0.3)
    assert x.std().item() == pytest.approx(0.5, abs=0.25)


def test_train_gan_rejects_bad_arguments():
    G, D = tiny_gan()
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        train_gan(G, D, opt_g, opt_d, [torch.randn(4, 1)], noise, steps=0)
    with pytest.raises(ValueError, match="nothing"):
        train_gan(G, D, opt_g, opt_d, [], noise, steps=3)


@pytest.mark.parametrize("bad", [{"every": 0}, {"every": -5}, {"every": 2.5}, {"steps": 0}, {"steps": 3.0}])
def test_train_gan_rejects_bad_step_counts_with_a_message(bad):
    G, D = tiny_gan()
    options = dict(steps=5, every=1)
    options.update(bad)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1"):
        train_gan(G, D, torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters()),
                  [torch.randn(8, 1)], noise, **options)
