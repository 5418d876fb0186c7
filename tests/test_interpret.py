"""Attribution methods: against Captum, closed forms, completeness and bad input (float64)."""
import pytest
import torch
from torch import nn

from bmcourse.interpret import (completeness_error, integrated_gradients, occlusion, saliency,
                                smoothgrad)


def small_cnn(seed: int = 0, smooth: bool = False) -> nn.Module:
    """A tiny float64 image classifier (1x8x8 -> 5 classes) with batch norm and dropout, whose
    running statistics are not the identity, so that eval mode visibly matters."""
    torch.manual_seed(seed)
    act = nn.Softplus if smooth else nn.ReLU
    pool = nn.AvgPool2d(2) if smooth else nn.MaxPool2d(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), act(), pool,
                          nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 5)).double()
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


def images(n: int = 3, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, dtype=torch.float64, generator=generator)


@pytest.fixture
def captum_attr():
    return pytest.importorskip("captum.attr")


TARGETS = torch.tensor([0, 3, 4])


# ---------------------------------------------------------------------------- against Captum

def test_integrated_gradients_match_captum_riemann_middle(captum_attr):
    model, x = small_cnn(), images()
    ours = integrated_gradients(model, x, TARGETS, steps=64)
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, target=TARGETS, n_steps=64, method="riemann_middle")
    assert ours.shape == x.shape and ours.dtype == torch.float64
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6)  # target 1e-4; seen ~1e-16


def test_integrated_gradients_with_a_baseline_match_captum(captum_attr):
    model, x = small_cnn(), images()
    baseline = images(seed=7) * 0.3
    ours = integrated_gradients(model, x, 2, baseline=baseline, steps=40, batch_size=16)
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=baseline, target=2, n_steps=40, method="riemann_middle")
    # Captum's midpoints come from a float32 linspace: not all exact for 40 steps.
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-6)


def test_saliency_matches_captum(captum_attr):
    model, x = small_cnn(), images()
    ours = saliency(model, x, TARGETS)
    signed = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(), target=TARGETS,
                                                   abs=False)
    absolute = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(), target=TARGETS)
    assert torch.allclose(ours, signed, rtol=0, atol=1e-12)
    assert torch.allclose(ours.abs(), absolute, rtol=0, atol=1e-12)


def test_smoothgrad_matches_captum_noise_tunnel_with_the_same_noise(captum_attr):
    # Both draw float32 normal noise from the global generator in chunks of (N, batch, ...):
    # with the same seed the noisy inputs, hence the averages, are identical. 10 samples in
    # batches of 4 also exercises the remainder chunk.
    model, x = small_cnn(), images()
    torch.manual_seed(123)
    ours = smoothgrad(model, x, TARGETS, stdev=0.2, samples=10, batch_size=4)
    torch.manual_seed(123)
    tunnel = captum_attr.NoiseTunnel(captum_attr.Saliency(model))
    theirs = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=10, nt_samples_batch_size=4,
                              stdevs=0.2, target=TARGETS, abs=False)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    assert not torch.allclose(ours, saliency(model, x, TARGETS), atol=1e-3)  # noise did act


@pytest.mark.parametrize("window, stride, baseline",
                         [(3, 2, 0.0), (4, 4, 0.5), ((2, 3), (1, 2), 0.0)])
def test_occlusion_matches_captum(captum_attr, window, stride, baseline):
    model, x = small_cnn(), images()
    ours = occlusion(model, x, TARGETS, window=window, stride=stride, baseline=baseline,
                     batch_size=5)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    theirs = captum_attr.Occlusion(model).attribute(
        x, sliding_window_shapes=(1, *pair(window)), strides=(1, *pair(stride)),
        baselines=baseline, target=TARGETS)
    # Captum returns float32 (its format_result calls .float()), hence the tolerance.
    assert torch.allclose(ours, theirs.double(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- closed forms

def test_integrated_gradients_of_a_linear_model_are_input_times_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).double()
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    baseline = torch.randn(3, 4, dtype=torch.float64)  # one baseline for every input
    target = torch.tensor([0, 1, 2, 3, 1])
    ig = integrated_gradients(model, x, target, baseline=baseline, steps=3)
    weight = model[1].weight[target].view(5, 3, 4)
    assert torch.allclose(ig, (x - baseline) * weight, rtol=0, atol=1e-12)
    assert completeness_error(model, x, ig, target, baseline).max() < 1e-12


def test_smoothgrad_without_noise_is_the_gradient():
    model, x = small_cnn(), images()
    # (g + g + g) / 3 may differ from g in the last bit
    assert torch.allclose(smoothgrad(model, x, TARGETS, stdev=0.0, samples=3),
                          saliency(model, x, TARGETS), rtol=1e-13, atol=0)


def test_saliency_is_the_autograd_gradient_of_the_eval_mode_score():
    model, x = small_cnn(), images(n=1)
    inputs = x.clone().requires_grad_()
    model(inputs)[0, 2].backward()
    assert torch.allclose(saliency(model, x, 2), inputs.grad, rtol=0, atol=1e-14)


def test_integrated_gradients_are_complete_on_a_smooth_model():
    # Softplus and average pooling: the path integrand is smooth, so the midpoint rule's error
    # falls like 1/steps^2.
    model, x = small_cnn(smooth=True), images()
    coarse = completeness_error(model, x, integrated_gradients(model, x, TARGETS, steps=8), TARGETS)
    fine = completeness_error(model, x, integrated_gradients(model, x, TARGETS, steps=64), TARGETS)
    assert fine.max() < 1e-4
    assert (fine < coarse / 10).all()


def test_default_steps_leave_under_one_percent_on_the_shipped_classifier():
    # The chapter's figure (median about 0.2% with 64 midpoint steps); the odd digit whose
    # score barely differs from the black baseline's can be far off, hence the median.
    from bmcourse.data import load_mnist
    from bmcourse.models.cnn import mnist_classifier

    model = mnist_classifier(device="cpu", verbose=False)
    data = load_mnist(source="sample", verbose=False)
    x, y = data.x_test[:16], data.y_test[:16]
    error = completeness_error(model, x, integrated_gradients(model, x, y), y)
    assert error.median() < 0.01


def test_completeness_error_is_relative_to_the_score_difference():
    model, x = small_cnn(), images()
    ig = integrated_gradients(model, x, TARGETS)
    with torch.no_grad():
        difference = (model(x) - model(torch.zeros_like(x))).gather(1, TARGETS[:, None])[:, 0]
    shifted = ig.clone()
    shifted[:, 0, 0, 0] += 0.1 * difference  # 10% too much in one pixel
    error = completeness_error(model, x, shifted, TARGETS)
    expected = (ig.flatten(1).sum(1) + 0.1 * difference - difference).abs() / difference.abs()
    assert torch.allclose(error, expected, rtol=1e-12)


# ---------------------------------------------------------------------------- targets and modes

def test_target_as_int_tensor_or_zero_dim_tensor_agree():
    model, x = small_cnn(), images()
    as_int = integrated_gradients(model, x, 3, steps=8)
    assert torch.equal(as_int, integrated_gradients(model, x, torch.tensor([3, 3, 3]), steps=8))
    assert torch.equal(as_int, integrated_gradients(model, x, torch.tensor(3), steps=8))
    per_input = integrated_gradients(model, x, TARGETS, steps=8)
    assert torch.equal(per_input[1], as_int[1]) and not torch.equal(per_input[0], as_int[0])


def test_eval_mode_is_used_and_the_training_mode_restored():
    model, x = small_cnn(), images()
    methods = (saliency, smoothgrad, integrated_gradients, occlusion)
    in_eval_mode = {}
    for method in methods:
        torch.manual_seed(0)  # SmoothGrad's noise
        in_eval_mode[method] = method(model, x, TARGETS)
    model.train()  # dropout on, batch statistics: the methods must switch both off
    for method in methods:
        torch.manual_seed(0)
        assert torch.equal(method(model, x, TARGETS), in_eval_mode[method]), method.__name__
        assert model.training
    assert all(p.grad is None for p in model.parameters())  # parameters' gradients untouched


def test_float32_inputs_give_float32_attributions():
    model, x = small_cnn().float(), images().float()
    ig = integrated_gradients(model, x, TARGETS, steps=16)
    assert ig.dtype == torch.float32 and ig.shape == x.shape


# ---------------------------------------------------------------------------- bad input

def test_bad_targets_are_explained():
    model, x = small_cnn(), images()
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        integrated_gradients(model, x, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="lie in 0..4"):
        saliency(model, x, 5)
    with pytest.raises(TypeError, match="class index"):
        saliency(model, x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="class index"):
        saliency(model, x, True)


def test_bad_baselines_steps_and_inputs_are_explained():
    model, x = small_cnn(), images()
    with pytest.raises(ValueError, match="baseline has shape"):
        integrated_gradients(model, x, 0, baseline=torch.zeros(1, 7, 7, dtype=torch.float64))
    for steps in (0, -3, 2.5):
        with pytest.raises(ValueError, match="steps must be a whole number"):
            integrated_gradients(model, x, 0, steps=steps)
    with pytest.raises(ValueError, match="samples"):
        smoothgrad(model, x, 0, samples=0)
    with pytest.raises(ValueError, match="stdev"):
        smoothgrad(model, x, 0, stdev=-0.1)
    with pytest.raises(TypeError, match="model.double"):
        saliency(model, x.float(), 0)
    with pytest.raises(TypeError, match="floating-point"):
        saliency(model, (x * 255).long(), 0)
    with pytest.raises(ValueError, match="stride <= window"):
        occlusion(model, x, 0, window=2, stride=3)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        occlusion(model, x[:, 0], 0)
    with pytest.raises(ValueError, match="shaped like x"):
        completeness_error(model, x, x[:2], 0)
