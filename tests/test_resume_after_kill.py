"""A run killed with SIGKILL in the middle of an epoch resumes to bit-identical weights.

Each run is a separate Python process, as a real interruption would be: the child trains with a
checkpoint, and in the killed run it sends itself SIGKILL from inside a forward pass, halfway
through an epoch — no ``finally``, no atexit, nothing gets to tidy up. A second process resumes
from the checkpoint; its final weights must equal, bit for bit, those of a third process that
was never interrupted.
"""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)  # the same kernels in every process
    from torch import nn
    from bmcourse.data.mnist import load_mnist
    from bmcourse.training import fit
    from bmcourse.training.recipes import train_fast_cnn

    which, checkpoint, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = 0

    def maybe_die(module, inputs):
        global calls
        if module.training:
            calls += 1
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    data = load_mnist(source="sample", verbose=False)
    if which == "recipe":
        from bmcourse.training.recipes import cnn as recipe
        original = recipe.FastMNISTCNN

        class Watched(original):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.register_forward_pre_hook(maybe_die)

        recipe.FastMNISTCNN = Watched
        small = type(data)(x_train=data.x_train[:512], y_train=data.y_train[:512],
                           x_test=data.x_test[:128], y_test=data.y_test[:128],
                           classes=data.classes, source="subset", name="MNIST")
        model, _ = train_fast_cnn(small, epochs=3, device="cpu", progress=False,
                                  checkpoint=checkpoint, resume=True)
    else:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3),
                              nn.Linear(64, 10))
        model.register_forward_pre_hook(maybe_die)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        fit(model, (data.x_train[:640], data.y_train[:640]), epochs=3, batch_size=64,
            optimizer=optimizer, device="cpu", progress=False, seed=3,
            checkpoint=checkpoint, resume=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out)
""")


def run_child(tmp_path, which, checkpoint, out, kill_at=0):
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-c", CHILD, which, str(checkpoint), str(out), str(kill_at)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("which, kill_at", [("fit", 15), ("recipe", 13)])
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path, which, kill_at):
    # fit: 10 batches an epoch, killed at batch 5 of epoch 2. recipe: 8 batches an epoch
    # (512 images, batch 64), killed at batch 5 of epoch 2, with shifts, dropout and OneCycle.
    reference = run_child(tmp_path, which, tmp_path / "reference.pt", tmp_path / "reference_weights.pt")
    assert reference.returncode == 0, reference.stderr

    checkpoint = tmp_path / "run.pt"
    killed = run_child(tmp_path, which, checkpoint, tmp_path / "never.pt", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoint.exists() and not (tmp_path / "never.pt").exists()
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 1  # died inside epoch 2
    assert not list(tmp_path.glob("*.part"))  # the checkpoint was not caught half-written

    resumed = run_child(tmp_path, which, checkpoint, tmp_path / "resumed_weights.pt")
    assert resumed.returncode == 0, resumed.stderr
    expected = torch.load(tmp_path / "reference_weights.pt", weights_only=True)
    found = torch.load(tmp_path / "resumed_weights.pt", weights_only=True)
    assert expected.keys() == found.keys()
    for name in expected:
        assert torch.equal(expected[name], found[name]), name
