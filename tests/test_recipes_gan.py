"""The GAN and VAE recipes: registered for the CLI, and a short fixed-seed GAN run that learns."""
import pytest
import torch

from bmcourse.data import load_mnist
from bmcourse.models.gan import MLPDiscriminator, MLPGenerator
from bmcourse.training.recipes import RECIPES
from bmcourse.training.recipes.gan import DigitJudge, generate, train_digit_gan


def test_recipes_are_registered():
    assert {"gan-mnist", "vae-mnist"} <= set(RECIPES)


@pytest.fixture(scope="module")
def data_and_judge():
    data = load_mnist(source="sample", verbose=False)
    return data, DigitJudge(data, "cpu")


def test_a_short_conditional_gan_run_raises_the_inception_score(data_and_judge):
    data, judge = data_and_judge
    torch.manual_seed(0)
    generator = MLPGenerator(32, hidden=(128, 256), num_classes=10)
    discriminator = MLPDiscriminator((256, 128), num_classes=10)
    start = judge(generate(generator, 500, 32, "cpu", conditional=True))
    snapshots = []
    run = train_digit_gan(generator, discriminator, data, steps=300, batch_size=64, lr_g=1e-3,
                          lr_d=1e-3, conditional=True, judge=judge, eval_every=150,
                          eval_samples=500, seed=0, device="cpu", progress=False,
                          on_eval=lambda step, g, scores: snapshots.append(step))
    assert snapshots == [150, 300] and run["evals"]["step"] == [150, 300]
    assert len(run["history"]["d_loss"]) == 300
    assert run["evals"]["is"][-1] > start["is"] + 1.0
    assert run["evals"]["fd"][-1] < start["fd"]


def test_train_digit_gan_stops_at_the_target(data_and_judge):
    data, judge = data_and_judge
    run = train_digit_gan(MLPGenerator(16, hidden=(64,)), MLPDiscriminator((64,)), data, steps=100,
                          judge=judge, eval_every=20, eval_samples=200, stop_at_is=1.0,
                          device="cpu", progress=False)
    assert run["evals"]["step"] == [20]


def test_ema_update_warms_up_then_averages():
    from bmcourse.training.gan import ema_update

    model, average = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(average.weight)
    torch.nn.init.ones_(model.weight)
    ema_update(average, model, decay=0.999)  # first update: decay min(0.999, 1/10) = 0.1
    assert average.weight.item() == pytest.approx(0.9)
    for _ in range(5000):
        ema_update(average, model, decay=0.999)
    assert average.weight.item() == pytest.approx(1.0, abs=1e-6)


def test_conditional_step_passes_labels_and_label_smoothing_changes_only_d_loss():
    from bmcourse.training.gan import gan_step

    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, x, labels):
            seen.append(labels)
            return self.linear(x).squeeze(1) + labels.float()

    torch.manual_seed(0)
    generator, discriminator = torch.nn.Linear(2, 2), Recorder()
    labels = torch.tensor([0, 1, 1, 0])

    class Conditional(torch.nn.Module):  # the generator ignores labels but must accept them
        def __init__(self):
            super().__init__()
            self.g = generator

        def forward(self, z, labels):
            seen.append(labels)
            return self.g(z)

    opt_g = torch.optim.SGD(generator.parameters(), lr=0.0)
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.0)
    noise = lambda n, device: torch.ones(n, 2)  # noqa: E731
    real = torch.ones(4, 2)
    plain = gan_step(Conditional(), discriminator, opt_g, opt_d, real, noise, labels=labels)
    assert len(seen) == 4 and all(torch.equal(s, labels) for s in seen)
    smooth = gan_step(Conditional(), discriminator, opt_g, opt_d, real, noise, labels=labels,
                      real_label=0.9)
    assert smooth["g_loss"] == pytest.approx(plain["g_loss"])
    assert smooth["d_loss"] != pytest.approx(plain["d_loss"])
    with pytest.raises(ValueError, match="real_label"):
        gan_step(Conditional(), discriminator, opt_g, opt_d, real, noise, labels=labels,
                 real_label=1.5)
