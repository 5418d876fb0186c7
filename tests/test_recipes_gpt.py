"""The language-model recipes: schedule, optimizer groups, a short run that learns, exact
resume, and the `char-gpt` recipe writing a checkpoint that the loader accepts."""
import math

import pytest
import torch

import bmcourse.models.gpt as gpt_module
from bmcourse.data.windows import TokenWindows
from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.models.lstm import LSTMLanguageModel
from bmcourse.training.recipes import RECIPES
from bmcourse.training.recipes import gpt as recipes
from bmcourse.training.recipes.gpt import (char_data, nanogpt_optimizer, next_token_loss,
                                           train_language_model, warmup_cosine)

TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, dropout=0.0, bias=False)


def tiny_gpt(vocab_size, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, **TINY))


@pytest.fixture(scope="module")
def data():
    tokenizer, train, val = char_data(block_size=16)
    # a 30,000-character validation slice keeps each evaluation pass short
    return tokenizer, train, TokenWindows(val.tokens[:30_000], 16)


def test_next_token_loss_is_cross_entropy_over_positions():
    logits = torch.randn(2, 5, 7)
    targets = torch.randint(7, (2, 5))
    expected = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).mean()
    torch.testing.assert_close(next_token_loss(logits, targets), expected)
    with pytest.raises(ValueError, match=r"\(B, T, V\)"):
        next_token_loss(logits[0], targets)


def test_schedule_warms_up_then_follows_the_cosine_to_min_lr():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup=10, total=110, min_lr=0.1)
    lrs = []
    for _ in range(111):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(1 / 11) and lrs[9] == pytest.approx(10 / 11)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.1 + 0.5 * (1 + math.cos(math.pi * 0.5)) * 0.9)
    assert lrs[110] == pytest.approx(0.1)


def test_weight_decay_only_on_matrices():
    model = tiny_gpt(10)
    optimizer = nanogpt_optimizer(model, lr=1e-3, weight_decay=0.1)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == \
        model.num_parameters(non_embedding=False)


@pytest.mark.parametrize("amp", [False, True])
def test_a_short_fixed_seed_run_lowers_the_loss(data, amp):
    tokenizer, train, val = data
    model = tiny_gpt(tokenizer.vocab_size)
    history = train_language_model(model, train, val, iters=60, batch_size=16, lr=1e-2,
                                   warmup=5, eval_interval=30, device="cpu", amp=amp,
                                   progress=False)
    assert history["iter"] == [30, 60]
    assert history["val_loss"][-1] < 3.4 < math.log(tokenizer.vocab_size)  # ln 80 = 4.38
    assert history["val_loss"][-1] < history["val_loss"][0]
    assert all(0 < s <= total for s, total in zip(history["train_seconds"], history["seconds"]))


def test_muon_learns_more_per_step_than_adamw_on_the_same_batches(data):
    tokenizer, train, val = data
    options = dict(iters=60, batch_size=16, lr=1e-2, warmup=5, eval_interval=60, device="cpu",
                   progress=False)
    adamw = train_language_model(tiny_gpt(tokenizer.vocab_size), train, val, **options)
    muon = train_language_model(tiny_gpt(tokenizer.vocab_size), train, val, **options,
                                optimizer="muon", muon_lr=0.02)
    assert muon["val_loss"][-1] < adamw["val_loss"][-1] < 3.4


def test_the_optimizer_option_names_the_fix(data):
    tokenizer, train, _ = data
    options = dict(iters=2, batch_size=2, lr=1e-2, eval_interval=2, device="cpu", progress=False)
    with pytest.raises(ValueError, match="muon_lr="):
        train_language_model(tiny_gpt(tokenizer.vocab_size), train, None, **options,
                             optimizer="muon")
    with pytest.raises(ValueError, match="'adamw' or 'muon'"):
        train_language_model(tiny_gpt(tokenizer.vocab_size), train, None, **options,
                             optimizer="sgd")


def test_the_lstm_trains_through_the_same_loop(data):
    tokenizer, train, val = data
    torch.manual_seed(0)
    model = LSTMLanguageModel(tokenizer.vocab_size, n_embd=16, hidden_size=32)
    history = train_language_model(model, train, val, iters=60, batch_size=16, lr=1e-2,
                                   warmup=5, eval_interval=60, device="cpu", progress=False)
    assert history["val_loss"][-1] < 3.4


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_an_interrupted_run_resumes_exactly(data, tmp_path, optimizer):
    tokenizer, train, _ = data
    options = dict(iters=40, batch_size=8, lr=1e-2, warmup=5, eval_interval=20, device="cpu",
                   progress=False, optimizer=optimizer, muon_lr=0.02)
    straight = tiny_gpt(tokenizer.vocab_size)
    train_language_model(straight, train, None, **options)
    path = tmp_path / "run.pt"
    first = tiny_gpt(tokenizer.vocab_size)
    train_language_model(first, train, None, **options, checkpoint=path, stop_after=1)
    resumed = tiny_gpt(tokenizer.vocab_size, seed=123)  # different init: all comes from the file
    history = train_language_model(resumed, train, None, **options, checkpoint=path, resume=True)
    assert history["epoch"] == [1, 2] and math.isnan(history["train_seconds"][0])
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_char_gpt_recipe_writes_a_checkpoint_the_loader_accepts(monkeypatch, tmp_path):
    assert RECIPES["char-gpt"] is recipes.train_char_gpt_checkpoint
    tiny = dict(model=TINY, iters=12, batch_size=4, lr=1e-2, min_lr=1e-3, warmup=2,
                weight_decay=0.1, betas=(0.9, 0.99), clip_grad_norm=1.0, amp=False,
                optimizer="muon", muon_lr=0.02)
    monkeypatch.setattr(recipes, "FAST_CPU", tiny)
    path, info = recipes.train_char_gpt_checkpoint(tmp_path / "char_gpt.pt", progress=False)
    state = torch.load(path, weights_only=True)
    assert state["info"]["config"]["n_embd"] == 16 and len(info["sha256"]) == 64
    monkeypatch.setattr(gpt_module, "CHAR_GPT_PATH", path)
    monkeypatch.setattr(gpt_module, "CHAR_GPT_SHA256", info["sha256"])
    model, tokenizer = gpt_module.shakespeare_char_gpt(device="cpu")
    assert tokenizer.vocab_size == 80 and model.config.vocab_size == 80
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state["model"][name].float())
