"""The GPT: shapes, parameter count, causality, fused = written-out attention, KV cache,
sampling filters, and the shipped character-level model."""

import pytest
import torch

from bmcourse.models.gpt import (GPT, GPTConfig, KVCache, filter_logits, sample_next_token,
                                 shakespeare_char_gpt)

SMALL = dict(block_size=16, vocab_size=11, n_layer=2, n_head=2, n_embd=16)


def small_gpt(seed=0, dtype=torch.float32, **overrides):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**SMALL, **overrides})).to(dtype).eval()


def tokens(B, T, V=11, seed=1):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_logits_have_one_row_per_position():
    assert small_gpt()(tokens(3, 7)).shape == (3, 7, 11)


@pytest.mark.parametrize("bias", [False, True])
def test_parameter_count_matches_the_closed_form(bias):
    V, T, L, C = 11, 16, 2, 16
    model = small_gpt(bias=bias)
    # per block: 12 C^2 weights (qkv 3C^2, proj C^2, MLP 8C^2) + two LayerNorms
    per_block = 12 * C * C + 2 * C + (2 * C + 3 * C + C + 4 * C + C if bias else 0)
    expected = V * C + T * C + L * per_block + C + (C if bias else 0)  # + final LayerNorm
    assert model.num_parameters(non_embedding=False) == expected
    assert model.num_parameters() == expected - T * C
    assert model.lm_head.weight is model.wte.weight  # weight tying: stored once


def test_nanogpt_shakespeare_config_has_its_10_65M_parameters():
    config = GPTConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65)
    assert GPT(config).num_parameters() == 10_646_784  # nanoGPT prints "10.65M"


@pytest.mark.parametrize("use_fused", [True, False])
def test_a_future_token_never_changes_an_earlier_logit(use_fused):
    model = small_gpt(use_fused=use_fused, dtype=torch.float64)
    x = tokens(2, 12)
    changed = x.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 11
    a, b = model(x), model(changed)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_fused_kernel_and_written_out_attention_agree():
    fused = small_gpt(use_fused=True, dtype=torch.float64)
    plain = small_gpt(use_fused=False, dtype=torch.float64)
    plain.load_state_dict(fused.state_dict())
    x = tokens(3, 16)
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("use_fused", [True, False])
def test_cached_logits_match_the_uncached_path(use_fused):
    # Chunks of 6, 1, 4 and 4 tokens: a first causal block, a single query with no mask, and
    # chunks whose queries sit after the cached keys.
    model = small_gpt(dtype=torch.float64, use_fused=use_fused)
    x = tokens(2, 15)
    full = model(x)
    cache = KVCache(2)
    pieces = [model(x[:, :6], cache), model(x[:, 6:7], cache), model(x[:, 7:11], cache),
              model(x[:, 11:], cache)]
    assert len(cache) == 15
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-10)


def test_the_cache_writes_every_step_into_one_buffer_per_layer():
    model = small_gpt(dtype=torch.float64)
    x = tokens(2, 12)
    whole = KVCache(2)
    with torch.no_grad():
        model(x, whole)
        steps = KVCache(2)
        model(x[:, :5], steps)
        addresses = [k.data_ptr() for k in steps.keys] + [v.data_ptr() for v in steps.values]
        for t in range(5, 12):
            model(x[:, t:t + 1], steps)
    assert len(steps) == 12
    # Same memory as after the first call: nothing was reallocated or concatenated.
    assert [k.data_ptr() for k in steps.keys] + [v.data_ptr() for v in steps.values] == addresses
    for layer in range(2):
        assert steps.keys[layer].shape == (2, 2, 12, 8)  # (B, n_head, T_seen, head_size)
        torch.testing.assert_close(steps.keys[layer], whole.keys[layer], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(steps.values[layer], whole.values[layer], rtol=1e-12,
                                   atol=1e-12)


def test_a_cached_sequence_cannot_outgrow_the_block():
    model = small_gpt()
    cache = KVCache(2)
    with torch.no_grad():
        model(tokens(1, 10), cache)
        with pytest.raises(ValueError, match="17 tokens is longer than block_size=16"):
            model(tokens(1, 7), cache)
        assert len(cache) == 10  # the refused call stored nothing
        model(tokens(1, 6), cache)
    assert len(cache) == 16


def test_generate_returns_an_ordinary_tensor_and_restores_training_mode():
    model = small_gpt().train()
    out = model.generate(tokens(1, 4), 10, temperature=0)
    assert model.training
    # generate runs under torch.inference_mode, but hands back a tensor that can be edited
    # and trained on like any other.
    assert not out.is_inference() and not out.requires_grad
    out[0, 0] = 3
    model(out[:, :16]).sum().backward()
    assert model.wte.weight.grad is not None


@pytest.mark.parametrize("prompt_length", [3, 20])
def test_greedy_generation_is_identical_with_and_without_the_cache(prompt_length):
    # 60 new tokens on a 16-token block: the context slides several times, and a prompt longer
    # than the block is cropped.
    model = small_gpt()
    prompt = tokens(2, prompt_length)
    cached = model.generate(prompt, 60, temperature=0, use_cache=True)
    plain = model.generate(prompt, 60, temperature=0, use_cache=False)
    assert cached.shape == (2, prompt_length + 60)
    assert torch.equal(cached, plain)
    assert torch.equal(cached[:, :prompt_length], prompt)


def test_greedy_is_the_argmax_of_the_model():
    model = small_gpt()
    prompt = tokens(1, 5)
    out = model.generate(prompt, 1, temperature=0)
    assert out[0, -1] == model(prompt)[0, -1].argmax()


def test_sampling_is_reproducible_with_a_generator():
    model = small_gpt()
    prompt = tokens(2, 4)
    a = model.generate(prompt, 30, top_k=5, generator=torch.Generator().manual_seed(7))
    b = model.generate(prompt, 30, top_k=5, generator=torch.Generator().manual_seed(7),
                       use_cache=False)
    assert torch.equal(a, b)


def test_top_k_keeps_exactly_k_tokens():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    for k in (1, 5, 50):
        kept = filter_logits(logits, top_k=k).isfinite()
        assert (kept.sum(-1) == k).all()
        top = logits.topk(k, dim=-1).indices
        assert kept.gather(-1, top).all()


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(1)) * 2
    probs = logits.softmax(-1)
    for p in (0.1, 0.5, 0.9, 0.99, 1.0):
        kept = filter_logits(logits, top_p=p).isfinite()
        for row in range(len(logits)):
            sorted_probs = probs[row].sort(descending=True).values
            # the smallest n whose top-n mass reaches p
            n = int((sorted_probs.cumsum(0) < p).sum()) + 1
            n = min(n, len(sorted_probs))
            assert kept[row].sum() == n
            assert probs[row][kept[row]].min() >= sorted_probs[n - 1]  # the most likely ones
            assert probs[row][kept[row]].sum() >= p - 1e-6


def test_sampling_never_draws_a_filtered_token():
    logits = torch.randn(1, 20, generator=torch.Generator().manual_seed(2))
    allowed = set(logits[0].topk(3).indices.tolist())
    g = torch.Generator().manual_seed(0)
    draws = {int(sample_next_token(logits, 1.5, top_k=3, generator=g)) for _ in range(200)}
    assert draws <= allowed and len(draws) == 3


def test_attention_weights_are_causal_distributions():
    model = small_gpt()
    logits, weights = model(tokens(2, 9), need_weights=True)
    assert len(weights) == 2 and weights[0].shape == (2, 2, 9, 9)
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(2, 2, 9))
    assert torch.all(weights[0].triu(1) == 0)
    torch.testing.assert_close(logits, model(tokens(2, 9)))


def test_bad_input_is_explained():
    model = small_gpt()
    with pytest.raises(ValueError, match="longer than block_size"):
        model(tokens(1, 17))
    with pytest.raises(ValueError, match="LongTensor"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="lie in 0..10"):
        model(torch.tensor([[11]]))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="top_k"):
        filter_logits(torch.zeros(3), top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(torch.zeros(3), top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(tokens(1, 2), 1, temperature=-1)
    # generate checks the prompt once, up front (its steps skip forward's checks)
    with pytest.raises(ValueError, match="lie in 0..10"):
        model.generate(torch.tensor([[3, 11]]), 1, use_cache=True)
    with pytest.raises(ValueError, match="LongTensor"):
        model.generate(torch.zeros(1, 3), 1)


# ---------------------------------------------------------------------------- shipped model

def test_shipped_character_gpt_loads_and_predicts_shakespeare():
    from bmcourse.data.text import load_text
    from bmcourse.data.windows import TokenWindows, train_val_split
    from bmcourse.training.loop import evaluate
    from bmcourse.training.recipes.gpt import next_token_loss

    model, tokenizer = shakespeare_char_gpt(device="cpu")
    assert not model.training
    ids = tokenizer.encode("ROMEO:\nWhat light")
    assert tokenizer.decode(ids) == "ROMEO:\nWhat light"
    x = torch.tensor([ids])
    assert tokenizer.vocab_size == model.config.vocab_size == 80
    assert model(x).shape == (1, len(ids), 80)
    assert len(ids) <= model.config.block_size
    with pytest.raises(ValueError, match="'@'"):
        tokenizer.encode("email@host")
    _, val_text = train_val_split(load_text("shakespeare"), 0.1)
    val = TokenWindows(tokenizer.encode(val_text[:20_000]), model.config.block_size)
    loss = evaluate(model, val, next_token_loss, device="cpu")["loss"]
    assert loss < 2.0  # a unigram model scores about 3.3 nats; the shipped one far better
    out = model.generate(x, 20, temperature=0)
    assert out.shape == (1, len(ids) + 20)


def test_a_damaged_checkpoint_is_refused(monkeypatch, tmp_path):
    import bmcourse.models.gpt as gpt

    bad = tmp_path / "char_gpt.pt"
    bad.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(gpt, "CHAR_GPT_PATH", bad)
    with pytest.raises(RuntimeError, match="SHA-256"):
        gpt.shakespeare_char_gpt(device="cpu")
