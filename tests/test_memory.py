"""Activation memory: measured saved tensors, and checkpointing that changes memory, not gradients."""
import pytest
import torch

from bmcourse.memory import (checkpoint_blocks, checkpointed, remove_checkpointing,
                             saved_activation_bytes)
from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.training.recipes.gpt import next_token_loss


def _gpt(dropout=0.1):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=3, n_head=2, n_embd=32,
                         dropout=dropout))


def _batch():
    generator = torch.Generator().manual_seed(1)
    return (torch.randint(0, 11, (4, 16), generator=generator),
            torch.randint(0, 11, (4, 16), generator=generator))


def test_saved_bytes_of_a_linear_layer_are_its_input():
    layer, x = torch.nn.Linear(1000, 10), torch.randn(32, 1000)
    assert saved_activation_bytes(lambda: layer(x).sum(), exclude=layer.parameters()) == 32 * 1000 * 4


def test_saved_bytes_need_a_differentiable_output_and_gradients_on():
    with pytest.raises(ValueError, match="requires grad"):
        saved_activation_bytes(lambda: torch.ones(3))
    with torch.no_grad(), pytest.raises(RuntimeError, match="gradients enabled"):
        saved_activation_bytes(lambda: torch.ones(3, requires_grad=True).sum())


def test_checkpointed_blocks_save_less_and_give_identical_gradients():
    model, (x, y) = _gpt(), _batch()

    def loss():
        return next_token_loss(model(x), y)

    def gradients():
        torch.manual_seed(2)  # the same dropout masks in both runs
        model.zero_grad()
        loss().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain_bytes = saved_activation_bytes(loss, exclude=model.parameters())
    plain = gradients()
    with checkpointed(model.blocks):
        checkpointed_bytes = saved_activation_bytes(loss, exclude=model.parameters())
        with_checkpoints = gradients()
    assert checkpointed_bytes < plain_bytes / 3
    for a, b in zip(plain, with_checkpoints):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # and the context manager put the plain forward back
    assert saved_activation_bytes(loss, exclude=model.parameters()) == plain_bytes


def test_checkpointing_keeps_the_state_dict_and_generation_working():
    model = _gpt(dropout=0.0)
    keys = list(model.state_dict())
    checkpoint_blocks(model.blocks)
    checkpoint_blocks(model.blocks)  # twice is harmless
    assert list(model.state_dict()) == keys
    out = model.generate(torch.zeros(1, 1, dtype=torch.long), max_new_tokens=5)
    assert out.shape == (1, 6)
    remove_checkpointing(model.blocks)
    assert all("forward" not in vars(block) for block in model.blocks)


def test_checkpoint_blocks_rejects_what_is_not_a_module_list():
    with pytest.raises(TypeError, match="model.blocks"):
        checkpoint_blocks([lambda x: x])
