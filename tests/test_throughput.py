"""Throughput measurement: real steps, and activation memory that grows with the batch."""
import pytest
import torch

from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.throughput import training_throughput


def test_throughput_reports_tokens_per_second_and_linear_activation_memory():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=16))
    small = training_throughput(model, 2, steps=1, warmup=1)
    large = training_throughput(model, 8, steps=1, warmup=0, amp=True)
    assert small["tokens_per_second"] > 0 and large["seconds_per_step"] > 0
    # activations are per token: four times the batch, about four times the bytes (bf16 halves
    # some of them, so allow a wide band)
    assert 1.5 * small["activation_bytes"] < large["activation_bytes"] < 4.5 * small["activation_bytes"]
    with pytest.raises(ValueError, match="batch_size"):
        training_throughput(model, 0)


def test_kv_cache_speedup_times_both_paths_and_checks_the_tokens():
    from bmcourse.models.gpt import GPT, GPTConfig
    from bmcourse.throughput import kv_cache_speedup

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16))
    prompt = torch.randint(11, (1, 5), generator=torch.Generator().manual_seed(1))
    # 40 new tokens outgrow the 16-position block: the cache restarts on the way
    threads = torch.get_num_threads()
    r = kv_cache_speedup(model, prompt, new_tokens=40, repeats=2, threads=1)
    assert torch.get_num_threads() == threads  # restored
    assert r["same"] is True
    assert r["plain"] > 0 and r["cached"] > 0 and r["speedup"] == r["plain"] / r["cached"]
    with pytest.raises(ValueError, match="repeats"):
        kv_cache_speedup(model, prompt, repeats=0)
