"""Sizing: parameter counts, FLOPs and memory in closed form, each checked against PyTorch."""
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bmcourse.models.cnn import seed_mnist_cnn
from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.sizing import (BYTES_PER_PARAMETER, count_parameters, gpt_activation_bytes,
                             gpt_forward_flops, gpt_matmul_parameters, gpt_parameter_breakdown,
                             gpt_parameter_count, gpt_training_flops, gpus_needed,
                             inference_flops_per_token, layer_summary, measure_flops,
                             measure_saved_activation_bytes, memory_bytes, training_flops)


def test_count_parameters_trainable_and_all():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2 + 2
    model[0].requires_grad_(False)
    assert count_parameters(model) == 4 * 2 + 2
    assert count_parameters(model, trainable_only=False) == 26


def test_layer_summary_counts_match_pytorch():
    model = seed_mnist_cnn()
    rows = layer_summary(model, (1, 28, 28), verbose=False)
    assert sum(r["params"] for r in rows) == count_parameters(model)
    x = torch.rand(1, 1, 28, 28)
    for row, layer in zip(rows, model):
        x = layer(x)
        assert row["output_shape"] == tuple(x.shape[1:])
    first = rows[0]  # 32 output maps of 26x26, each pixel a 1x3x3 dot product
    assert first["macs"] == 32 * 26 * 26 * 9


def test_layer_summary_receptive_field_matches_the_gradient():
    # The receptive field is the patch of input pixels an output pixel depends on: the
    # nonzero region of the gradient of that pixel with respect to the input. Average pooling
    # and positive weights keep every path alive (max pooling and ReLU would prune some).
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3), nn.AvgPool2d(2),
                          nn.Conv2d(2, 2, 3))  # the seed model's convolutions and poolings
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    rows = layer_summary(model, (1, 28, 28), verbose=False)
    x = torch.rand(1, 1, 28, 28, requires_grad=True)
    model(x)[0, 0, 1, 1].backward()
    hit = (x.grad[0, 0].abs() > 0).nonzero()
    sides = (hit.max(dim=0).values - hit.min(dim=0).values + 1).tolist()
    assert sides == [rows[-1]["receptive_field"]] * 2 == [18, 18]


# ---------------------------------------------------------------------------- GPT closed forms

GPT2_SMALL = dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768, bias=True)
GPT2_XL = dict(vocab_size=50257, block_size=1024, n_layer=48, n_head=25, n_embd=1600, bias=True)
GPT3_175B = dict(vocab_size=50257, block_size=2048, n_layer=96, n_head=96, n_embd=12288, bias=True)


def _meta_count(config):
    with torch.device("meta"):  # shapes only: no memory for 175 billion numbers
        return count_parameters(GPT(config))


@pytest.mark.parametrize("shape, expected", [(GPT2_SMALL, 124_439_808), (GPT2_XL, 1_557_611_200),
                                             (GPT3_175B, 174_604_259_328)])
def test_published_gpt_sizes_match_the_instantiated_model(shape, expected):
    config = GPTConfig(**shape)
    assert gpt_parameter_count(config) == _meta_count(config) == expected


def test_closed_form_count_matches_random_configurations():
    rng = random.Random(0)
    for _ in range(12):
        n_head = rng.randint(1, 4)
        config = GPTConfig(vocab_size=rng.randint(2, 300), block_size=rng.randint(1, 200),
                           n_layer=rng.randint(1, 5), n_head=n_head,
                           n_embd=n_head * rng.randint(1, 24), bias=rng.random() < 0.5)
        model = GPT(config)
        assert gpt_parameter_count(config) == count_parameters(model)
        untied = gpt_parameter_count(config, tied=False)
        assert untied == count_parameters(model) + config.vocab_size * config.n_embd
        parts = gpt_parameter_breakdown(config)
        blocks = sum(count_parameters(block) for block in model.blocks)
        assert parts["attention"] + parts["mlp"] + parts["norms"] - count_parameters(model.ln_f) == blocks
        assert gpt_parameter_count(config, non_embedding=True) == parts["total"] - (
            model.wte.weight.numel() + model.wpe.weight.numel())


def _next_token_loss(logits, idx):
    return F.cross_entropy(logits.flatten(0, 1), idx.flatten())


def test_flop_formula_equals_flop_counter_forward_and_backward():
    rng = random.Random(1)
    for bias in (False, True):
        config = GPTConfig(vocab_size=rng.randint(10, 90), block_size=48, n_layer=rng.randint(1, 3),
                           n_head=2, n_embd=2 * rng.randint(4, 20), bias=bias, use_fused=False)
        B, T = rng.randint(1, 3), rng.randint(2, 48)
        measured = measure_flops(GPT(config), torch.randint(0, config.vocab_size, (B, T)),
                                 _next_token_loss)
        assert measured["forward"] == gpt_forward_flops(config, T, B)
        assert measured["forward"] + measured["backward"] == gpt_training_flops(config, T, B)


def test_six_n_d_is_within_ten_percent_for_the_char_gpt_but_not_for_long_contexts():
    # The text chapter's shape: attention's 12·L·T·C per token is about 8% of 6N at T = 64.
    short = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, use_fused=False)
    B, T = 2, 64
    measured = measure_flops(GPT(short), torch.randint(0, 65, (B, T)), _next_token_loss)
    total = measured["forward"] + measured["backward"]
    rule = training_flops(gpt_parameter_count(short), B * T)
    assert abs(rule - total) / total < 0.10
    # At T = 1024 the same width spends more FLOPs in attention than in all the weights.
    long = GPTConfig(vocab_size=65, block_size=1024, n_layer=4, n_head=4, n_embd=128)
    exact = gpt_training_flops(long, 1024)
    assert training_flops(gpt_parameter_count(long, non_embedding=True), 1024) < 0.5 * exact


def test_one_generated_token_costs_two_n_plus_attention_over_the_cache():
    from bmcourse.models.gpt import KVCache

    config = GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=32, use_fused=False)
    model = GPT(config).eval()
    cache, seen = KVCache(config.n_layer), 10
    with torch.no_grad():
        model(torch.randint(0, 65, (1, seen)), cache)
        flops = measure_flops(lambda idx: model(idx, cache), torch.zeros(1, 1, dtype=torch.long))
    attention = 4 * config.n_layer * (seen + 1) * config.n_embd
    assert flops["forward"] == inference_flops_per_token(gpt_matmul_parameters(config)) + attention


def test_bytes_per_parameter_follow_zero_accounting():
    assert sum(BYTES_PER_PARAMETER["mixed precision training, Adam"].values()) == 16
    assert sum(BYTES_PER_PARAMETER["fp32 training, Adam"].values()) == 16
    assert memory_bytes(1.5e9, "mixed precision training, Adam") == 24e9  # GPT-2 XL: 24 GB
    assert gpus_needed(7e9, "mixed precision training, Adam") == 2     # 112 GB on 80 GB GPUs
    assert gpus_needed(70e9, "mixed precision training, Adam") == 14   # 1.12 TB
    assert gpus_needed(70e9, "bf16 inference") == 2
    with pytest.raises(ValueError, match="Unknown regime"):
        memory_bytes(1e9, "fp8 training")
    with pytest.raises(ValueError, match="gpu_gb"):
        gpus_needed(1e9, "bf16 inference", gpu_gb=0)


@pytest.mark.parametrize("fused", [True, False])
def test_activation_formula_equals_saved_tensor_bytes(fused):
    rng = random.Random(2)
    for _ in range(4):
        n_head = rng.randint(1, 4)
        config = GPTConfig(vocab_size=rng.randint(5, 90), block_size=64, n_layer=rng.randint(1, 3),
                           n_head=n_head, n_embd=8 * n_head * rng.randint(1, 3),
                           bias=rng.random() < 0.5, use_fused=fused)
        B, T = rng.randint(1, 3), rng.randint(2, 64)
        idx = torch.randint(0, config.vocab_size, (B, T))
        measured = measure_saved_activation_bytes(GPT(config), idx, _next_token_loss)
        assert measured == gpt_activation_bytes(config, T, B)


def test_sizing_rejects_bad_input_with_a_fix():
    with pytest.raises(TypeError, match="GPTConfig"):
        gpt_parameter_count({"n_layer": 2})
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8)
    with pytest.raises(ValueError, match="seq_len"):
        gpt_forward_flops(config, 0)
    with pytest.raises(ValueError, match="dropout=0"):
        gpt_activation_bytes(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1,
                                       n_embd=8, dropout=0.1), 8)
