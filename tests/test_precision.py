"""Floating-point formats and mixed precision: the numbers the engineering chapter shows."""
import math

import pytest
import torch
import torch.nn.functional as F

from bmcourse import fit
from bmcourse.data.windows import TokenWindows
from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.precision import (autocast_policy, flushed_to_zero, format_table, autocast_gradients,
                                round_trip)
from bmcourse.training.recipes.gpt import next_token_loss


def test_format_table_gives_the_known_bits_range_and_precision():
    rows = {row["name"]: row for row in format_table()}
    assert [rows[n]["mantissa_bits"] for n in ("float32", "float16", "bfloat16")] == [23, 10, 7]
    assert [rows[n]["exponent_bits"] for n in ("float32", "float16", "bfloat16")] == [8, 5, 8]
    assert rows["float16"]["max"] == 65504
    assert rows["float16"]["smallest_subnormal"] == 2.0 ** -24
    assert rows["bfloat16"]["eps"] == 2.0 ** -7
    # bfloat16 has float32's range: the same smallest normal number
    assert rows["bfloat16"]["smallest_normal"] == rows["float32"]["smallest_normal"]


def test_round_trip_shows_overflow_underflow_and_rounding():
    fp16 = round_trip([70000.0, 1e-8, 1 + 2 ** -12], "float16")
    bf16 = round_trip([70000.0, 1e-8, 1 + 2 ** -12], torch.bfloat16)
    assert math.isinf(fp16[0]) and fp16[1] == 0 and fp16[2] == 1.0
    assert bf16[0] == pytest.approx(70000, rel=2 ** -7) and bf16[1] == pytest.approx(1e-8, rel=2 ** -7)
    with pytest.raises(ValueError, match="Unknown format"):
        round_trip([1.0], "float8")


def test_loss_scaling_keeps_small_gradients_from_flushing_to_zero():
    gradients = torch.logspace(-10, -3, 100)
    assert flushed_to_zero(gradients, torch.float16) > 0.3
    assert flushed_to_zero(gradients, torch.float16, scale=2.0 ** 16) == 0
    assert flushed_to_zero(gradients, torch.bfloat16) == 0
    with pytest.raises(ValueError, match="float16 or torch.bfloat16"):
        flushed_to_zero(gradients, torch.float64)
    with pytest.raises(ValueError, match="no nonzero"):
        flushed_to_zero(torch.zeros(3), torch.float16)


def _small_loss_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
    x, y = torch.randn(64, 16), torch.randn(64, 1)
    return model, x, y, lambda out, target: 1e-6 * F.mse_loss(out, target)


def test_fp16_autocast_loses_small_gradients_and_grad_scaler_restores_them():
    model, x, y, loss_fn = _small_loss_model()
    model.zero_grad()
    loss_fn(model(x), y).backward()
    reference = [p.grad.clone() for p in model.parameters()]
    plain = autocast_gradients(model, x, y, loss_fn)
    scaled = autocast_gradients(model, x, y, loss_fn, loss_scale=2.0 ** 16)
    assert (plain[0] == 0).all(), "the first layer's weight gradient should flush to zero"
    for got, want in zip(scaled, reference):
        torch.testing.assert_close(got, want, rtol=0.01, atol=0.01 * want.abs().max().item())
    bf16 = autocast_gradients(model, x, y, loss_fn, dtype=torch.bfloat16)
    assert all((g != 0).any() for g in bf16)


def test_autocast_runs_matmuls_in_bfloat16_and_losses_in_float32_on_cpu():
    policy = autocast_policy("cpu", torch.bfloat16)
    assert policy["matmul"] == policy["linear"] == "lower precision"
    assert policy["cross_entropy"] == "float32"
    assert policy["relu"] == "follows input"


def test_bf16_autocast_on_cpu_trains_a_gpt_like_float32():
    tokens = torch.arange(2000) % 7  # a periodic text: easy to learn
    losses = {}
    for amp in (False, True):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=7, block_size=16, n_layer=1, n_head=2, n_embd=32))
        history = fit(model, TokenWindows(tokens, 16), epochs=3, steps_per_epoch=12,
                      batch_size=8, loss_fn=next_token_loss, amp=amp, device="cpu",
                      optimizer=torch.optim.AdamW(model.parameters(), lr=3e-3), progress=False)
        losses[amp] = history["train_loss"]
    assert losses[True][-1] < 0.5 * losses[True][0]
    assert losses[True][-1] == pytest.approx(losses[False][-1], rel=0.1, abs=0.05)
