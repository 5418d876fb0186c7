"""bmcourse.compress: int8 quantization against torch.ao, pruning masks by hand, and the
distillation loss against its closed form."""
import copy
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from bmcourse import compress
from bmcourse.models.cnn import student_cnn
from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.models.mlp import mnist_mlp
from bmcourse.training import fit


def _torch_int8(linear: nn.Linear):
    """torch.ao's per-channel int8 weight of a linear layer: int8 values, scales, zero points."""
    quantized = compress.torch_dynamic_int8(nn.Sequential(linear))[0]
    weight = quantized.weight()
    return weight.int_repr(), weight.q_per_channel_scales(), weight.q_per_channel_zero_points()


def _linear(seed, n_in, n_out, zero_row=False, bf16=False):
    torch.manual_seed(seed)
    linear = nn.Linear(n_in, n_out)
    with torch.no_grad():
        if zero_row:
            linear.weight[1] = 0.0  # a pruned neuron
        if bf16:  # few distinct values: many exact ties when rounding
            linear.weight.copy_(linear.weight.bfloat16().float())
    return linear


# ---------------------------------------------------------------------------- quantization

@pytest.mark.parametrize("seed, n_in, n_out, zero_row, bf16", [
    (0, 64, 48, False, False), (1, 7, 3, True, False), (2, 128, 384, False, True),
    (3, 300, 10, True, True)])
def test_int8_values_and_scales_equal_torch_ao(seed, n_in, n_out, zero_row, bf16):
    linear = _linear(seed, n_in, n_out, zero_row, bf16)
    q, scale = compress.quantize_per_channel(linear.weight)
    ref_q, ref_scale, ref_zero = _torch_int8(linear)
    assert q.dtype == torch.int8 and torch.equal(q, ref_q)
    assert torch.equal(scale.double(), ref_scale)  # ao keeps the float32 scales as float64
    assert torch.equal(ref_zero, torch.zeros_like(ref_zero))  # symmetric: no zero point


def test_hand_case_rounding_and_clamping():
    # max |w| = 127.5 / 64, so the scale is exactly 1/64 and w / scale = 64 w:
    # -127.5 -> -128 (half to even), 64, 127.5 -> 128 clamped to 127, 32.5 -> 32, 33.5 -> 34;
    # a row of zeros gets the scale eps, not 0
    weight = torch.tensor([[-127.5, 64, 127.5, 32.5, 33.5], [0, 0, 0, 0, 0]]) / 64
    q, scale = compress.quantize_per_channel(weight)
    assert q.tolist() == [[-128, 64, 127, 32, 34], [0, 0, 0, 0, 0]]
    assert scale[0].item() == 1 / 64
    assert scale[1].item() == torch.finfo(torch.float32).eps


def test_dequantized_weights_within_half_a_step():
    weight = _linear(4, 50, 20).weight.detach()
    q, scale = compress.quantize_per_channel(weight)
    error = (compress.dequantize(q, scale) - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-6 * weight.abs().max()).all()


def test_int8_linear_output_within_closed_form_bound():
    linear = _linear(5, 40, 30)
    x = torch.randn(16, 40, generator=torch.Generator().manual_seed(0))
    layer = compress.Int8Linear.from_linear(linear)
    # |y - y_int8|_j = |sum_i (w_ji - s_j q_ji) x_i| <= s_j / 2 * sum_i |x_i|
    bound = layer.scale[None, :] / 2 * x.abs().sum(dim=1, keepdim=True)
    error = (layer(x) - linear(x)).abs()
    assert (error <= bound + 1e-5).all()
    assert error.max() > 0  # it really is a different layer


def test_quantized_model_matches_quantize_dynamic():
    torch.manual_seed(0)
    model = mnist_mlp(hidden=(64, 32), dropout=0.0).eval()
    ours, theirs = compress.quantize_linears(model), compress.torch_dynamic_int8(model)
    ours_layers = [m for m in ours.modules() if isinstance(m, compress.Int8Linear)]
    their_layers = [m for m in theirs.modules() if m._get_name() == "DynamicQuantizedLinear"]
    assert len(ours_layers) == len(their_layers) == 3
    for mine, reference in zip(ours_layers, their_layers):
        assert torch.equal(mine.weight_int8, reference.weight().int_repr())
        assert torch.equal(mine.scale.double(), reference.weight().q_per_channel_scales())
    # The dynamic kernel also rounds each layer's input to 7 bits (x86 reduce_range); with
    # the input of a single layer rounded the same way, the two layers agree to float rounding.
    x = torch.rand(8, 784, generator=torch.Generator().manual_seed(1))
    first_ours, first_theirs = ours_layers[0], their_layers[0]
    z = (x - model.mean) / model.std
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scale, zero = torch._choose_qparams_per_tensor(z, True)
        z_rounded = torch.fake_quantize_per_tensor_affine(z, scale, zero, 0, 127)
    assert torch.allclose(first_ours(z_rounded), first_theirs(z), atol=1e-4, rtol=1e-5)
    # Whole models: both close to float32, and to each other.
    reference = model(x)
    assert (ours(x) - reference).abs().max() < 0.02 * reference.abs().max()
    assert (theirs(x) - reference).abs().max() < 0.05 * reference.abs().max()
    assert torch.equal(ours(x).argmax(1), reference.argmax(1))


def test_quantize_linears_on_gpt_keeps_tied_embedding_float():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    quantized = compress.quantize_linears(model)
    assert isinstance(quantized.lm_head, compress.Int8Linear)
    assert quantized.wte.weight.dtype == torch.float32
    assert isinstance(model.lm_head, nn.Linear)  # the original is untouched
    idx = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(quantized(idx), model(idx), atol=0.05)


def test_int8_model_is_about_four_times_smaller_on_disk():
    model = mnist_mlp()
    ratio = compress.saved_bytes(model) / compress.saved_bytes(compress.quantize_linears(model))
    assert 3.5 < ratio < 4.0


def test_quantization_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        compress.quantize_per_channel(torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        compress.quantize_per_channel(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        compress.quantize_per_channel(torch.tensor([[1.0, math.nan]]))
    layer = compress.Int8Linear.from_linear(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="4 features"):
        layer(torch.ones(1, 5))
    with pytest.raises(ValueError, match="no nn.Linear"):
        compress.quantize_linears(nn.Sequential(nn.Conv2d(1, 1, 3)))
    with pytest.raises(TypeError, match="nn.Module"):
        compress.quantize_linears(torch.ones(2, 2))


# ---------------------------------------------------------------------------- pruning

def _two_layers():
    a, b = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        a.weight.copy_(torch.tensor([[0.1, -0.2], [0.3, 0.4]]))
        b.weight.copy_(torch.tensor([[5.0, -6.0], [7.0, 8.0]]))
    return nn.Sequential(a, b)


def test_global_pruning_uses_one_threshold_for_all_layers():
    model = compress.prune_global(_two_layers(), 0.5)
    assert model[0].weight.tolist() == [[0.0, 0.0], [0.0, 0.0]]  # the four smallest are all in a
    assert model[1].weight.tolist() == [[5.0, -6.0], [7.0, 8.0]]
    assert compress.sparsity(model) == 0.5
    assert compress.layer_sparsity(model) == {"0": 1.0, "1": 0.0}


def test_layerwise_pruning_differs_from_global():
    model = _two_layers()
    for layer in model:
        prune.l1_unstructured(layer, "weight", amount=0.5)
    assert model[0].weight.tolist() == [[0.0, 0.0], [pytest.approx(0.3), pytest.approx(0.4)]]
    assert model[1].weight.tolist() == [[0.0, 0.0], [7.0, 8.0]]


def test_pruning_again_prunes_the_remaining_weights():
    model = compress.prune_global(_two_layers(), 0.5)
    compress.prune_global(model, 0.5)  # half of the 4 survivors: 5 and -6
    assert model[1].weight.tolist() == [[0.0, 0.0], [7.0, 8.0]]
    assert compress.sparsity(model) == 0.75


def test_channel_pruning_removes_whole_filters_by_norm():
    def conv():
        layer = nn.Conv2d(1, 3, 2, bias=False)
        with torch.no_grad():
            filters = torch.tensor([[3.0, 0, 0, 0], [1, 1, 1, 1], [4, 4, 0, 0]])
            layer.weight.copy_(filters.view(3, 1, 2, 2))
        return nn.Sequential(layer)

    # L2 norms 3, 2, 5.7: the all-ones filter goes; L1 norms 3, 4, 8: the first one goes
    by_l2 = compress.prune_channels(conv(), 1, norm=2)[0].weight.flatten(1)
    assert by_l2.abs().sum(1).tolist() == [3.0, 0.0, 8.0]
    by_l1 = compress.prune_channels(conv(), 1, norm=1)[0].weight.flatten(1)
    assert by_l1.abs().sum(1).tolist() == [0.0, 4.0, 8.0]
    # 4 zeros in the pruned filter, plus the 3 + 2 zeros the others already had
    assert compress.layer_sparsity(compress.prune_channels(conv(), 1))["0"] == 9 / 12


def test_make_permanent_keeps_the_zeros_and_drops_the_masks():
    model = compress.prune_global(_two_layers(), 3)
    before = [layer.weight.clone() for layer in model]
    compress.make_permanent(model)
    assert sorted(model.state_dict()) == ["0.weight", "1.weight"]
    assert all(torch.equal(layer.weight, w) for layer, w in zip(model, before))
    assert compress.sparsity(model) == 3 / 8
    assert not any(prune.is_pruned(layer) for layer in model)


def test_fine_tuning_with_fit_keeps_the_masks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    compress.prune_global(model, 0.7)
    zeros = [layer.weight == 0 for layer in (model[0], model[2])]
    before = [layer.weight.clone() for layer in (model[0], model[2])]
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    fit(model, (x, y), epochs=2, batch_size=16, device="cpu", progress=False)
    for layer, mask, old in zip((model[0], model[2]), zeros, before):
        assert torch.equal(layer.weight == 0, mask)  # exactly the same zeros ...
        assert not torch.equal(layer.weight, old)     # ... while the rest trained
    assert compress.sparsity(model) == round(0.7 * 144) / 144  # prune rounds the count


def test_pruning_bad_input():
    for amount, error in [(1.0, ValueError), (-0.1, ValueError), (-2, ValueError),
                          ("half", TypeError), (True, TypeError)]:
        with pytest.raises(error, match="amount"):
            compress.prune_global(_two_layers(), amount)
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        compress.prune_channels(_two_layers(), 0.5)
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d"):
        compress.sparsity(nn.Sequential(nn.ReLU()))


def test_time_calls_restores_threads_and_checks_input():
    threads = torch.get_num_threads()
    calls = []
    seconds = compress.time_calls({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                  repeats=2, warmup=1, threads=1)
    assert calls == ["a", "b"] * 3  # in turns, warm-up included
    assert set(seconds) == {"a", "b"} and all(s >= 0 for s in seconds.values())
    assert torch.get_num_threads() == threads
    with pytest.raises(TypeError, match="zero-argument"):
        compress.time_calls({"a": 1})
    with pytest.raises(ValueError, match="repeats"):
        compress.time_calls({"a": lambda: None}, repeats=0)


def test_dense_kernel_timing_names_and_checks():
    times = compress.dense_kernel_timing(n=32, batch=4, repeats=1)
    assert list(times) == ["dense", "dense, 90% zeros", "torch.sparse CSR"]
    assert all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="zero_fraction"):
        compress.dense_kernel_timing(zero_fraction=1.0)
    assert list(compress.dense_kernel_timing(n=8, batch=2, zero_fraction=0.0, repeats=1)) == [
        "dense", "dense, 0% zeros", "torch.sparse CSR"]


# ---------------------------------------------------------------------------- distillation

def _logits(seed, n=5, k=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * 3


def test_distillation_loss_closed_forms():
    s, t, y = _logits(0), _logits(1), torch.tensor([0, 1, 2, 3, 0])
    # equal logits: the KL term is 0, whatever the temperature
    equal = compress.distillation_loss(s, s, y, temperature=3.0, alpha=0.0)
    assert equal.item() == pytest.approx(0, abs=1e-12)
    assert compress.distillation_loss(s, s, y, alpha=0.25).item() == pytest.approx(
        0.25 * F.cross_entropy(s.float(), y).item(), rel=1e-6)
    # alpha = 1: plain cross-entropy
    assert torch.equal(compress.distillation_loss(s, t, y, alpha=1.0),
                       F.cross_entropy(s.float(), y))


def test_distillation_loss_against_manual_computation():
    s, t, y = _logits(2), _logits(3), torch.tensor([3, 1, 2, 0, 0])
    T, alpha = 2.5, 0.3
    p_t, log_p_s = torch.softmax(t / T, 1), torch.log_softmax(s / T, 1)
    kl = (p_t * (p_t.log() - log_p_s)).sum(1).mean()
    ce = -torch.log_softmax(s, 1)[torch.arange(5), y].mean()
    expected = alpha * ce + (1 - alpha) * T ** 2 * kl
    loss = compress.distillation_loss(s, t, y, T, alpha)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_t_squared_keeps_the_soft_gradient_scale():
    # d/dz_s [T^2 KL(p_t || p_s)] = T (softmax(z_s/T) - softmax(z_t/T)) / N, so for large T the
    # gradient tends to (z_s - z_t) / (K N) (centred logits): independent of T
    t, y, n, k = _logits(5), torch.zeros(5, dtype=torch.long), 5, 4
    s = _logits(4).requires_grad_(True)
    for T in (1.0, 4.0, 20.0):
        grad, = torch.autograd.grad(compress.distillation_loss(s, t, y, T, alpha=0.0), s)
        p_s, p_t = torch.softmax(s.detach().float() / T, 1), torch.softmax(t.float() / T, 1)
        expected = T * (p_s - p_t) / n
        assert torch.allclose(grad.double(), expected.double(), atol=1e-6)
    centred = lambda z: z - z.mean(1, keepdim=True)
    grad, = torch.autograd.grad(compress.distillation_loss(s, t, y, 200.0, alpha=0.0), s)
    limit = (centred(s.detach()) - centred(t)) / (k * n)
    assert torch.allclose(grad.double(), limit, rtol=0.05, atol=1e-4)


def test_distillation_bad_input():
    s, y = torch.zeros(3, 4), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="shape"):
        compress.distillation_loss(s, torch.zeros(3, 5), y)
    with pytest.raises(ValueError, match="targets"):
        compress.distillation_loss(s, s, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        compress.distillation_step(nn.Identity(), temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        compress.distillation_loss(s, s, y, alpha=1.5)


def _toy_task():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    teacher = nn.Linear(8, 3)
    with torch.no_grad():
        teacher.weight.copy_(torch.randn(3, 8, generator=g))
        teacher.bias.zero_()
    return x, teacher(x).argmax(1), teacher.requires_grad_(False)


def test_distillation_with_alpha_one_trains_exactly_like_labels():
    x, y, teacher = _toy_task()
    torch.manual_seed(1)
    plain = nn.Linear(8, 3)
    student = copy.deepcopy(plain)
    fit(plain, (x, y), epochs=2, batch_size=32, device="cpu", progress=False)
    fit(student, (x, y), epochs=2, batch_size=32, device="cpu", progress=False,
        step=compress.distillation_step(teacher, alpha=1.0))
    assert torch.equal(plain.weight, student.weight)


def test_short_distillation_run_lowers_the_loss():
    x, y, teacher = _toy_task()
    torch.manual_seed(2)
    student = nn.Linear(8, 3)

    def loss():
        with torch.no_grad():
            return compress.distillation_loss(student(x), teacher(x), y).item()

    before = loss()
    history = fit(student, (x, y), epochs=5, batch_size=32, val=(x, y), device="cpu",
                  optimizer=torch.optim.Adam(student.parameters(), lr=0.05), progress=False,
                  step=compress.distillation_step(teacher))
    assert loss() < 0.5 * before
    # fit's validation is still plain cross-entropy on the labels
    plain = F.cross_entropy(student(x), y).item()
    assert history.last("val_loss") == pytest.approx(plain, rel=1e-5)


def test_student_and_mlp_shapes():
    x = torch.rand(2, 1, 28, 28)
    student = student_cnn()
    assert sum(p.numel() for p in student.parameters()) == 5386
    assert student(x).shape == (2, 10)
    mlp = mnist_mlp()
    assert sum(p.numel() for p in mlp.parameters()) == 269_322
    assert mlp(x).shape == (2, 10)
    with pytest.raises(ValueError, match="784 inputs"):
        mlp(torch.rand(2, 1, 14, 14))
    with pytest.raises(ValueError, match="width"):
        student_cnn(0)
    with pytest.raises(ValueError, match="hidden"):
        mnist_mlp(hidden=())
