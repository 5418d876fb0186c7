import math

import pytest
import torch
from torch import nn

from bmcourse.training import (count_parameters, evaluate, fit, load_checkpoint, predict,
                               save_checkpoint)


class Unsafe:
    """An arbitrary object: weights_only loading must refuse to unpickle it."""


def blobs(n=400, seed=0):
    """Three Gaussian blobs in 2-D: an easy, fixed-seed classification problem."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = torch.randint(0, 3, (n,), generator=g)
    x = centres[y] + torch.randn(n, 2, generator=g)
    return x, y


def small_net(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 3))


def test_fit_learns_blobs_and_records_history():
    train, val = blobs(400, 0), blobs(200, 1)
    model = small_net()
    history = fit(model, train, val=val, epochs=5, batch_size=32, device="cpu", progress=False,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    assert history["epoch"] == [1, 2, 3, 4, 5]
    assert all(len(v) == 5 for v in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_acc"][-1] >= 0.95
    assert evaluate(model, val)["acc"] == pytest.approx(history["val_acc"][-1])


def test_fit_accepts_a_dataloader_and_regression_losses():
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x + 0.5
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Linear(1, 1)
    history = fit(model, loader, epochs=60, loss_fn=nn.functional.mse_loss, device="cpu", progress=False,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert math.isnan(history["train_acc"][-1])  # not a classification task
    assert history["train_loss"][-1] < 1e-3
    assert model.weight.item() == pytest.approx(3.0, abs=0.05)


def test_interrupted_fit_resumes_to_the_same_weights(tmp_path):
    train, val = blobs(300, 0), blobs(100, 1)

    def run(checkpoint=None, resume=False, stop_after=None):
        model = small_net(seed=1, dropout=0.2)  # dropout: resuming must restore the RNG too
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.8)

        def interrupt(epoch, history):
            if stop_after is not None and epoch == stop_after:
                raise KeyboardInterrupt

        history = fit(model, train, val=val, epochs=4, batch_size=32, optimizer=optimizer, scheduler=scheduler,
                      device="cpu", progress=False, checkpoint=checkpoint, resume=resume, seed=7,
                      on_epoch_end=interrupt)
        return model, history

    reference, reference_history = run()
    path = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=path, stop_after=2)
    assert load_checkpoint(path)["epoch"] == 2
    resumed, resumed_history = run(checkpoint=path, resume=True)
    assert resumed_history["epoch"] == [1, 2, 3, 4]
    assert resumed_history["train_loss"] == pytest.approx(reference_history["train_loss"], rel=1e-6)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_checkpoint_is_atomic_and_loads_weights_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, weights=torch.ones(3), epoch=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temp file left behind
    assert load_checkpoint(path)["epoch"] == 1

    torch.save({"payload": Unsafe()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="could not be read"):
        load_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(FileNotFoundError, match="Train first"):
        load_checkpoint(tmp_path / "missing.pt")


def test_bad_arguments_raise_clear_errors():
    x, y = blobs(10)
    with pytest.raises(ValueError, match="must match"):
        fit(small_net(), (x, y[:5]), epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="positive whole number"):
        fit(small_net(), (x, y), epochs=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="needs checkpoint"):
        fit(small_net(), (x, y), epochs=1, resume=True, device="cpu", progress=False)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        fit(small_net(), (x, y), epochs=1, steps_per_epoch=0, device="cpu", progress=False)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        fit(small_net(), (x, y), epochs=1, clip_grad_norm=-1.0, device="cpu", progress=False)


def test_diverging_loss_stops_with_advice():
    x, y = blobs(64)
    x[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(small_net(), (x, y), epochs=1, batch_size=64, device="cpu", progress=False)


def test_predict_and_count_parameters():
    model = small_net()
    x, _ = blobs(50)
    out = predict(model, x, batch_size=16)
    assert out.shape == (50, 3) and out.device.type == "cpu"
    torch.testing.assert_close(out, model.eval()(x))
    assert count_parameters(model) == 2 * 32 + 32 + 32 * 3 + 3


# ---------------------------------------------------------------------------- bad input (issue 9, item 8)

@pytest.mark.parametrize("epochs", [2.0, 0, -1, True, "3"])
def test_fit_rejects_epochs_that_are_not_positive_ints(epochs):
    with pytest.raises(ValueError, match="positive whole number"):
        fit(small_net(), blobs(10), epochs=epochs, device="cpu", progress=False)


@pytest.mark.parametrize("batch_size", [0, -4, 1.5])
def test_fit_evaluate_predict_reject_bad_batch_sizes(batch_size):
    x, y = blobs(10)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        fit(small_net(), (x, y), epochs=1, batch_size=batch_size, device="cpu", progress=False)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        evaluate(small_net(), (x, y), batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        predict(small_net(), x, batch_size=batch_size)


def test_fit_on_an_empty_loader_says_so():
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 2),
                                                                       torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no batches"):
        fit(small_net(), empty, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="empty"):
        evaluate(small_net(), empty)


def test_fit_names_the_fix_for_numpy_pairs():
    x, y = blobs(10)
    with pytest.raises(TypeError, match="torch.from_numpy"):
        fit(small_net(), (x.numpy(), y.numpy()), epochs=1, device="cpu", progress=False)


def test_predict_on_no_samples_or_not_a_tensor():
    with pytest.raises(ValueError, match="no samples"):
        predict(small_net(), torch.zeros(0, 2))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        predict(small_net(), [[0.0, 1.0]])


def test_models_without_parameters_evaluate_and_predict():
    model = nn.Flatten()  # no parameters: the device cannot come from them
    x = torch.randn(6, 3)
    y = torch.randint(0, 3, (6,))
    result = evaluate(model, (x, y))
    assert result["loss"] == pytest.approx(nn.functional.cross_entropy(x, y).item(), rel=1e-6)
    assert torch.equal(predict(model, x), x)


# ---------------------------------------------------------------------------- checkpoints (items 3, 4)

def test_fit_refuses_to_overwrite_a_checkpoint_unless_asked(tmp_path):
    path = tmp_path / "run.pt"
    fit(small_net(), blobs(40), epochs=1, device="cpu", progress=False, checkpoint=path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"resume=True.*overwrite=True"):
        fit(small_net(), blobs(40), epochs=1, device="cpu", progress=False, checkpoint=path)
    assert path.read_bytes() == before  # nothing was lost
    fit(small_net(seed=3), blobs(40), epochs=1, device="cpu", progress=False, checkpoint=path,
        overwrite=True)
    assert path.read_bytes() != before
    # resuming a finished run trains no further and returns its history
    history = fit(small_net(), blobs(40), epochs=1, device="cpu", progress=False, checkpoint=path,
                  resume=True)
    assert history["epoch"] == [1]


def test_checkpoint_restores_every_rng_and_the_loss_scaler(tmp_path, monkeypatch):
    """A fake CUDA device and an enabled GradScaler on the CPU: both must round-trip."""
    from bmcourse.training import checkpoint as ckpt
    from bmcourse.training import loop

    cuda_states = [torch.arange(8, dtype=torch.uint8)]
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.update(cuda=states))
    generator = torch.Generator().manual_seed(1)
    state = ckpt.rng_state(generator)
    assert torch.equal(state["cuda"][0], cuda_states[0])
    expected = torch.rand(3, generator=generator)
    ckpt.set_rng_state(state, generator)
    assert torch.equal(torch.rand(3, generator=generator), expected)
    assert torch.equal(restored["cuda"][0], cuda_states[0])
    monkeypatch.undo()

    # fit builds its scaler through _grad_scaler; an enabled CPU scaler exercises the same path
    # that float16 training on CUDA takes.
    scalers = []

    def cpu_scaler(device, amp):
        scalers.append(torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2))
        return scalers[-1]

    monkeypatch.setattr(loop, "_grad_scaler", cpu_scaler)
    path = tmp_path / "scaled.pt"
    fit(small_net(), blobs(64), epochs=2, batch_size=16, device="cpu", progress=False, checkpoint=path)
    saved = load_checkpoint(path)["scaler"]
    assert saved["scale"] > 2.0 ** 8  # it grew, so there is state worth keeping
    reference = small_net()
    fit(reference, blobs(64), epochs=3, batch_size=16, device="cpu", progress=False)
    resumed = small_net()
    fit(resumed, blobs(64), epochs=3, batch_size=16, device="cpu", progress=False, checkpoint=path,
        resume=True)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    # the scale doubles every 2 of the 12 steps: only a restored scaler ends where the reference does
    assert scalers[-1].get_scale() == scalers[-2].get_scale() == 2.0 ** 14


# ---------------------------------------------------------------------------- what language models need

class RandomRows:
    """A batch source that never runs out: random rows of a tensor pair, drawn from the
    loop's generator (like the text chapter's random windows)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def batches(self, batch_size, generator, device):
        if generator is None:  # evaluation: one fixed pass
            yield self.x.to(device), self.y.to(device)
            return
        while True:
            index = torch.randint(0, len(self.x), (batch_size,), generator=generator)
            yield self.x[index].to(device), self.y[index].to(device)


def test_iteration_budget_on_an_endless_batch_source_resumes_exactly(tmp_path):
    source = RandomRows(*blobs(200))
    seen = []

    def run(checkpoint=None, resume=False, stop_after=None):
        model = small_net(seed=2, dropout=0.1)

        def interrupt(epoch, history):
            if epoch == stop_after:
                raise KeyboardInterrupt

        history = fit(model, source, val=source, epochs=3, steps_per_epoch=7, batch_size=16,
                      device="cpu", progress=False, checkpoint=checkpoint, resume=resume,
                      on_epoch_end=interrupt, seed=4,
                      optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
        seen.append(history)
        return model

    reference = run()
    assert reference is not None and seen[0]["epoch"] == [1, 2, 3]
    assert seen[0]["val_acc"][-1] > 0.9
    with pytest.raises(KeyboardInterrupt):
        run(checkpoint=tmp_path / "lm.pt", stop_after=1)
    resumed = run(checkpoint=tmp_path / "lm.pt", resume=True)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_steps_per_epoch_bounds_a_finite_pair_too():
    calls = []

    def counting_loss(outputs, targets):
        if torch.is_grad_enabled():
            calls.append(len(targets))
        return nn.functional.cross_entropy(outputs, targets)

    fit(small_net(), blobs(100), epochs=2, batch_size=10, steps_per_epoch=3, loss_fn=counting_loss,
        device="cpu", progress=False)
    assert calls == [10] * 6


def test_gradient_clipping_bounds_the_update():
    # Plain SGD with lr 1 moves the parameters by exactly the (clipped) gradient.
    x, y = blobs(32)
    model = small_net()
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    fit(model, (x * 100, y), epochs=1, batch_size=32, clip_grad_norm=0.01, device="cpu",
        progress=False, optimizer=torch.optim.SGD(model.parameters(), lr=1.0))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert (after - before).norm().item() == pytest.approx(0.01, rel=1e-4)


def test_amp_on_the_cpu_trains_in_bfloat16():
    dtypes = []
    model = small_net()
    model[0].register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    history = fit(model, blobs(200), epochs=3, batch_size=32, amp=True, device="cpu", progress=False,
                  optimizer=torch.optim.Adam(model.parameters(), lr=1e-2))
    assert torch.bfloat16 in dtypes  # training forward passes ran under bfloat16 autocast
    assert model[0].weight.dtype == torch.float32  # the weights themselves stay float32
    assert history["train_loss"][-1] < history["train_loss"][0]


# ---------------------------------------------------------------------------- gradient accumulation

def test_accumulated_micro_batches_give_the_update_of_one_large_batch():
    # No dropout or batch norm: then 4 micro-batches of 16 must equal one batch of 64. The same
    # seed gives the same permutation for both batch sizes, so the samples line up exactly.
    x, y = blobs(256, 3)
    weights = []
    for batch_size, accumulate in ((64, 1), (16, 4)):
        model = small_net(seed=5).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
        fit(model, (x.double(), y), epochs=3, batch_size=batch_size, accumulate=accumulate,
            optimizer=optimizer, scheduler=scheduler, scheduler_interval="batch",
            device="cpu", progress=False, seed=1)
        weights.append([p.detach().clone() for p in model.parameters()])
    for large, accumulated in zip(*weights):
        torch.testing.assert_close(accumulated, large, rtol=1e-12, atol=1e-12)
    assert not torch.equal(weights[0][0], small_net(seed=5).double()[0].weight)  # it trained


def test_a_partial_group_at_the_end_of_an_epoch_is_applied():
    updates = []
    model = small_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    optimizer.register_step_post_hook(lambda *args: updates.append(1))
    fit(model, blobs(50), epochs=2, batch_size=10, accumulate=3, optimizer=optimizer,
        device="cpu", progress=False)
    assert len(updates) == 2 * 2  # 5 batches an epoch: one full group of 3, then a group of 2


@pytest.mark.parametrize("accumulate", [0, 2.0, True])
def test_accumulate_must_be_a_whole_number(accumulate):
    with pytest.raises(ValueError, match="accumulate must be a whole number"):
        fit(small_net(), blobs(10), epochs=1, accumulate=accumulate, device="cpu", progress=False)
