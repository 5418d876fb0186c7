"""DP-SGD: per-sample gradients, clipping, noise, Poisson batches and the accountant.

Checked against a Python loop over the batch, against Opacus (GradSampleModule, DPOptimizer,
RDPAccountant) and against closed forms, in float64.
"""
import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bmcourse.models.cnn import dp_mnist_cnn
from bmcourse.privacy import (PoissonBatches, check_private_model, clip_per_sample,
                              epsilon, make_dp_step, noise_multiplier_for,
                              opacus_per_sample_grads, per_sample_grads)
from bmcourse.training import fit


def small_net():
    """Conv, GroupNorm (DP's replacement for batch norm), tanh, pooling, two dense layers."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4), nn.Tanh(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 8), nn.Tanh(), nn.Linear(8, 3),
    ).double()


def batch(n=12, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=generator)
    return x, y


def loop_grads(model, x, y):
    """The definition: one backward pass per example."""
    grads = {name: [] for name, p in model.named_parameters() if p.requires_grad}
    for i in range(len(x)):
        model.zero_grad()
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        for name, p in model.named_parameters():
            if p.requires_grad:
                grads[name].append(p.grad.clone())
    model.zero_grad()
    return {name: torch.stack(g) for name, g in grads.items()}


def max_difference(a, b):
    assert list(a) == list(b)
    return max((a[k] - b[k]).abs().max().item() for k in a)


# ---------------------------------------------------------------------------- per-sample gradients

def test_per_sample_grads_equal_a_python_loop_over_the_batch():
    model = small_net()
    x, y = batch()
    grads = per_sample_grads(model, F.cross_entropy, x, y)
    assert list(grads) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert grads[name].shape == (len(x), *p.shape)
    assert max_difference(grads, loop_grads(model, x, y)) < 1e-6


def test_per_sample_grads_equal_opacus_grad_sample_module():
    pytest.importorskip("opacus")
    model = small_net()
    x, y = batch()
    ours = per_sample_grads(model, F.cross_entropy, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference silences what a learner would see
        theirs = opacus_per_sample_grads(model, F.cross_entropy, x, y)
    assert max_difference(ours, theirs) < 1e-6
    assert max_difference(theirs, loop_grads(model, x, y)) < 1e-6
    assert all(not hasattr(p, "grad_sample") and p.grad is None for p in model.parameters())


def test_per_sample_grads_skip_frozen_parameters_and_leave_the_model_alone():
    model = small_net()
    model[0].requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    x, y = batch(5)
    grads = per_sample_grads(model, F.cross_entropy, x, y)
    assert "0.weight" not in grads and "5.weight" in grads
    assert max_difference(grads, loop_grads(model, x, y)) < 1e-6
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batch_norm_has_no_per_sample_gradients_and_the_error_names_the_fix():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                          nn.Linear(72, 3)).double()
    x, y = batch(4)
    with pytest.raises(ValueError, match="GroupNorm") as error:
        per_sample_grads(model, F.cross_entropy, x, y)
    assert "'1'" in str(error.value) and "BatchNorm2d" in str(error.value)
    with pytest.raises(ValueError, match="GroupNorm"):
        fit(model, PoissonBatches(x, y), epochs=1, batch_size=2, device="cpu", progress=False,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            step=make_dp_step(1.0, 1.0, expected_batch_size=2))
    check_private_model(small_net())  # GroupNorm is fine


def test_per_sample_grads_reject_mismatched_inputs():
    x, y = batch(4)
    with pytest.raises(ValueError, match="same number of examples"):
        per_sample_grads(small_net(), F.cross_entropy, x, y[:3])


# ---------------------------------------------------------------------------- clipping

def test_clipping_bounds_every_norm_and_leaves_short_gradients_alone():
    model = small_net()
    x, y = batch(16)
    grads = per_sample_grads(model, F.cross_entropy, x, y)
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()], 1).norm(dim=1)
    middle = norms.sort().values[7:9]
    C = middle.mean().item()  # half the examples above C, half below
    clipped, reported = clip_per_sample(grads, C)
    assert torch.allclose(reported, norms, rtol=0, atol=1e-12)
    after = torch.stack([g.flatten(1).norm(dim=1) for g in clipped.values()], 1).norm(dim=1)
    assert torch.all(after <= C)
    long = norms > C
    assert long.any() and (~long).any()
    assert torch.allclose(after[long], torch.full_like(after[long], C), rtol=1e-5)
    for name in grads:  # short gradients untouched, long ones only rescaled
        assert torch.equal(clipped[name][~long], grads[name][~long])
        scale = (C / (norms[long] + 1e-6)).view(-1, *[1] * (grads[name].ndim - 1))
        assert torch.allclose(clipped[name][long], grads[name][long] * scale, atol=1e-15)
    with pytest.raises(ValueError, match="positive"):
        clip_per_sample(grads, 0.0)


# ---------------------------------------------------------------------------- the DP-SGD step

def sgd_dp_update(model, x, y, noise_multiplier, C, expected, generator=None, lr=0.5):
    step = make_dp_step(noise_multiplier, C, expected, generator=generator)
    step(model, x, y, loss_fn=F.cross_entropy,
         optimizer=torch.optim.SGD(model.parameters(), lr=lr), scaler=None, autocast=None)
    return model


def test_clipped_update_equals_opacus_dp_optimizer_without_noise():
    pytest.importorskip("opacus")
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    x, y = batch(16)
    C, expected = 2.0, 20  # clips about half of these 16 examples; expected != 16 on purpose
    ours = sgd_dp_update(small_net(), x, y, 0.0, C, expected)

    reference = small_net()
    wrapped = GradSampleModule(reference, loss_reduction="mean")
    optimizer = DPOptimizer(torch.optim.SGD(reference.parameters(), lr=0.5),
                            noise_multiplier=0.0, max_grad_norm=C,
                            expected_batch_size=expected, loss_reduction="mean")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook", category=UserWarning)
        # Opacus's "mean" multiplies grad_sample by the batch size; with loss_reduction="mean"
        # the optimizer then divides the clipped sum by expected_batch_size, as we do.
        F.cross_entropy(wrapped(x), y).backward()
    optimizer.step()
    start = dict(small_net().named_parameters())
    for (name, p), q in zip(ours.named_parameters(), reference.parameters()):
        assert (p - q).abs().max().item() < 1e-6, name
        assert not torch.equal(p, start[name])


def test_noise_has_standard_deviation_sigma_times_c_over_the_expected_batch():
    chi2 = pytest.importorskip("scipy.stats").chi2
    torch.manual_seed(0)
    model = nn.Linear(100, 50).double()
    x, y = torch.randn(8, 100, dtype=torch.float64), torch.randint(0, 50, (8,))
    sigma, C, expected, lr = 1.5, 0.7, 10, 1.0
    clean = sgd_dp_update(copy.deepcopy(model), x, y, 0.0, C, expected, lr=lr)
    generator = torch.Generator().manual_seed(1)
    noise = []
    for _ in range(10):  # 10 steps x 5,050 parameters = 50,500 noise draws
        noisy = sgd_dp_update(copy.deepcopy(model), x, y, sigma, C, expected, generator, lr)
        for p, q in zip(noisy.parameters(), clean.parameters()):
            noise.append((q - p).flatten() / lr)  # the SGD step moved by -(clean + noise)
    noise = torch.cat(noise)
    n, std = len(noise), sigma * C / expected
    # n · s² / std² is chi-squared with n degrees of freedom (the mean is known to be 0):
    # these bounds fail by chance with probability 2e-7.
    statistic = (noise ** 2).sum().item() / std ** 2
    assert chi2.ppf(1e-7, n) < statistic < chi2.isf(1e-7, n)
    assert abs(noise.mean().item()) < 5.5 * std / math.sqrt(n)
    # The same generator seed gives the same noise.
    again = sgd_dp_update(copy.deepcopy(model), x, y, sigma, C, expected,
                          torch.Generator().manual_seed(1), lr)
    first = sgd_dp_update(copy.deepcopy(model), x, y, sigma, C, expected,
                          torch.Generator().manual_seed(1), lr)
    assert all(torch.equal(p, q) for p, q in zip(again.parameters(), first.parameters()))


def test_an_empty_poisson_batch_updates_by_noise_alone():
    model = nn.Linear(3, 2).double()
    before = copy.deepcopy(model)
    step = make_dp_step(1.0, 1.0, expected_batch_size=4, generator=torch.Generator().manual_seed(0))
    loss, outputs = step(model, torch.empty(0, 3, dtype=torch.float64),
                         torch.empty(0, dtype=torch.long), loss_fn=F.cross_entropy,
                         optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    assert loss.item() == 0 and outputs.shape == (0, 2)
    assert not torch.equal(model.weight, before.weight)


def test_dp_step_refuses_fit_options_that_would_break_the_guarantee():
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    step = make_dp_step(1.0, 1.0, expected_batch_size=4)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        fit(nn.Linear(2, 2), (x, y), epochs=1, batch_size=4, step=step, clip_grad_norm=1.0,
            device="cpu", progress=False)
    with pytest.raises(ValueError, match="accumulate"):
        fit(nn.Linear(2, 2), (x, y), epochs=1, batch_size=4, step=step, accumulate=2,
            device="cpu", progress=False)
    for bad in (dict(noise_multiplier=-1.0), dict(max_grad_norm=0.0),
                dict(expected_batch_size=0)):
        arguments = dict(noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=4) | bad
        with pytest.raises(ValueError):
            make_dp_step(**arguments)


def blobs(n=400, seed=0):
    """Two well-separated Gaussian blobs in 2-D: an easy classification."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=generator)
    x = torch.randn(n, 2, generator=generator) + 3.0 * (2.0 * y[:, None] - 1.0)
    return x, y


def dp_fit(epochs, checkpoint=None, resume=False, seed=0):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    x, y = blobs()
    history = fit(model, PoissonBatches(x, y), epochs=epochs, batch_size=40, val=(x, y),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5),
                  step=make_dp_step(1.0, 1.0, expected_batch_size=40), device="cpu",
                  progress=False, seed=seed, checkpoint=checkpoint, resume=resume,
                  overwrite=checkpoint is not None and not resume)
    return model, history


def test_a_short_fixed_seed_dp_run_lowers_the_loss():
    x, y = blobs()
    torch.manual_seed(0)
    untrained = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    start = F.cross_entropy(untrained(x), y).item()
    model, history = dp_fit(epochs=3)
    assert history["val_loss"][-1] < 0.5 * start
    assert history["val_acc"][-1] > 0.95
    again, _ = dp_fit(epochs=3)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    other, _ = dp_fit(epochs=3, seed=1)
    assert not torch.equal(model[0].weight, other[0].weight)


def test_dp_training_resumes_to_the_same_weights(tmp_path):
    path = tmp_path / "dp.pt"
    straight, _ = dp_fit(epochs=2)
    dp_fit(epochs=1, checkpoint=path)  # "interrupted" after one epoch
    resumed, history = dp_fit(epochs=2, checkpoint=path, resume=True)
    assert history["epoch"] == [1, 2]
    assert all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))


# ---------------------------------------------------------------------------- Poisson batches

def test_poisson_batches_have_the_expected_size_and_are_reproducible():
    n, batch_size = 1000, 100
    source = PoissonBatches(torch.arange(n).float().unsqueeze(1), torch.arange(n))
    assert source.sample_rate(batch_size) == 0.1
    generator = torch.Generator().manual_seed(0)
    sizes, counts = [], torch.zeros(n)
    for _ in range(20):  # 20 passes of round(1 / q) = 10 batches
        batches = list(source.batches(batch_size, generator, "cpu"))
        assert len(batches) == 10
        for xb, yb in batches:
            assert torch.equal(xb.squeeze(1).long(), yb)  # pairs stay together
            assert len(set(yb.tolist())) == len(yb)     # no example twice in a batch
            sizes.append(len(yb))
            counts[yb] += 1
    total = sum(sizes)  # Binomial(200 * 1000, 0.1): mean 20,000, sd 134
    assert abs(total - 20_000) < 5.5 * math.sqrt(200 * n * 0.1 * 0.9)
    assert len(set(sizes)) > 5  # sizes vary, unlike shuffled fixed-size batches
    assert counts.min() > 0 and counts.max() > 20 * 10 * 0.1  # some appear more than average

    def draws(seed):
        return [yb for yb_pass in range(2) for _, yb in
                source.batches(batch_size, torch.Generator().manual_seed(seed), "cpu")]
    assert all(torch.equal(a, b) for a, b in zip(draws(3), draws(3)))
    assert not all(len(a) == len(b) and torch.equal(a, b) for a, b in zip(draws(3), draws(4)))
    ordered = torch.cat([yb for _, yb in source.batches(batch_size, None, "cpu")])
    assert torch.equal(ordered, torch.arange(n))  # evaluation: everything once, in order


def test_poisson_batches_reject_a_batch_larger_than_the_data():
    source = PoissonBatches(torch.zeros(10, 2), torch.zeros(10))
    with pytest.raises(ValueError, match="sample rate"):
        next(source.batches(11, torch.Generator(), "cpu"))
    with pytest.raises(TypeError, match="two tensors"):
        PoissonBatches([1, 2], [0, 1])


# ---------------------------------------------------------------------------- the accountant

def test_epsilon_matches_opacus_rdp_accountant_stepped_one_step_at_a_time():
    pytest.importorskip("opacus")
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    for _ in range(300):
        accountant.step(noise_multiplier=1.1, sample_rate=0.01)
    assert epsilon(1.1, 0.01, 300, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5),
                                                          rel=1e-12)


def test_epsilon_grows_with_steps_and_shrinks_with_noise():
    pytest.importorskip("opacus")
    by_steps = [epsilon(1.0, 0.05, steps, 1e-5) for steps in (1, 10, 100, 1000)]
    assert all(a < b for a, b in zip(by_steps, by_steps[1:]))
    by_noise = [epsilon(sigma, 0.05, 100, 1e-5) for sigma in (0.7, 1.0, 2.0, 4.0)]
    assert all(a > b for a, b in zip(by_noise, by_noise[1:]))
    assert epsilon(1.0, 0.05, 100, 1e-6) > epsilon(1.0, 0.05, 100, 1e-5)  # smaller δ costs ε
    assert epsilon(0.0, 0.05, 100, 1e-5) == math.inf


def test_noise_multiplier_for_inverts_epsilon_like_opacus():
    pytest.importorskip("opacus")
    from opacus.accountants.utils import get_noise_multiplier

    sigma = noise_multiplier_for(3.0, sample_rate=0.064, steps=80, delta=1e-5)
    assert 3.0 - 0.01 <= epsilon(sigma, 0.064, 80, 1e-5) <= 3.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order", category=UserWarning)
        assert sigma == get_noise_multiplier(target_epsilon=3.0, target_delta=1e-5,
                                             sample_rate=0.064, steps=80)


@pytest.mark.parametrize("bad", [dict(sample_rate=0.0), dict(sample_rate=1.5), dict(steps=0),
                                 dict(steps=2.5), dict(delta=0.0), dict(delta=1.0)])
def test_accountant_rejects_bad_input(bad):
    arguments = dict(noise_multiplier=1.0, sample_rate=0.01, steps=10, delta=1e-5) | bad
    with pytest.raises(ValueError):
        epsilon(**arguments)


def test_the_chapter_model_has_no_batch_norm_and_26010_parameters():
    model = dp_mnist_cnn()
    check_private_model(model)
    assert sum(p.numel() for p in model.parameters()) == 26_010
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
