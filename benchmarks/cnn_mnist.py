"""Time to 98% held-out MNIST accuracy: the fast CNN against the pytorch/examples recipe.

Both models train in this process, on the same tensors, on the same device, through the same
loop (``bmcourse.training.fit``), and are evaluated on the held-out split after every epoch. The
script prints, for each, the time until held-out accuracy first reached the target, the final
accuracy, and the ratio of the two times (a ratio survives a busy machine better than raw
seconds do). Times are given as wall-clock seconds and as CPU seconds of this process: on a
machine shared with other work, the CPU seconds are the steadier of the two.

The reference re-implements the MNIST example of pytorch/examples
(https://github.com/pytorch/examples/blob/main/mnist/main.py, BSD-3-Clause licence,
Copyright (c) 2017 Pytorch contributors): two 3x3 convolutions (32 and 64 maps), 2x2 max
pooling, dropout 0.25, a 9216→128 dense layer, dropout 0.5, a 128→10 dense layer; inputs
normalised with mean 0.1307 and standard deviation 0.3081; Adadelta with learning rate 1.0,
the learning rate multiplied by 0.7 after every epoch, batches of 64, 14 epochs.

Usage
-----
On the bundled 4,000 / 1,000 sample, on the CPU (the default)::

    python benchmarks/cnn_mnist.py

Full MNIST on a GPU, one epoch of the fast recipe without augmentation (its target there is
99.0% test accuracy after one epoch)::

    python benchmarks/cnn_mnist.py --source full --device cuda --fast-epochs 1 \\
        --fast-batch-size 256 --fast-lr 0.01 --fast-max-shift 0 --ref-epochs 14
"""
from __future__ import annotations

import argparse
import math
import os
import time

import torch
import torch.nn.functional as F
from torch import nn

from bmcourse.data.mnist import MNIST_MEAN, MNIST_STD, load_mnist
from bmcourse.models.cnn import FastMNISTCNN
from bmcourse.training.recipes import train_fast_cnn
from bmcourse.runtime import get_device, seed_everything
from bmcourse.training import count_parameters, fit


class ExamplesNet(nn.Module):
    """The network of pytorch/examples' ``mnist/main.py`` (returns logits, not log-softmax)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = (x - MNIST_MEAN) / MNIST_STD  # the example's transforms.Normalize
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(self.dropout2(x))


class Stopwatch:
    """An ``on_epoch_end`` callback: wall and CPU seconds since it was made, and accuracy, per epoch.

    CPU time (all threads of this process) is printed beside wall time because on a shared
    machine other programs stretch the wall time but not the work this process does.
    """

    def __init__(self, name: str):
        self.name, self.wall, self.cpu, self.acc = name, [], [], []
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()

    def __call__(self, epoch, history):
        self.wall.append(time.perf_counter() - self._wall0)
        self.cpu.append(time.process_time() - self._cpu0)
        self.acc.append(history.last("val_acc"))
        print(f"  {self.name:<9} epoch {epoch:>2}  held-out acc {self.acc[-1]:.2%}  "
              f"({self.wall[-1]:.1f} s wall, {self.cpu[-1]:.1f} s CPU so far)", flush=True)

    def time_to(self, target: float, clock: str = "wall") -> float:
        """Seconds until held-out accuracy first reached ``target`` (inf if it never did)."""
        for seconds, acc in zip(getattr(self, clock), self.acc):
            if acc >= target:
                return seconds
        return math.inf


def train_reference(data, epochs: int, device, seed: int = 0, on_epoch_end=None):
    """The pytorch/examples recipe: Adadelta(lr=1.0), StepLR(step_size=1, gamma=0.7), batch 64."""
    seed_everything(seed)
    model = ExamplesNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train = (data.x_train.to(device), data.y_train.to(device))
    val = (data.x_test.to(device), data.y_test.to(device))
    history = fit(model, train, epochs=epochs, val=val, optimizer=optimizer, batch_size=64,
                  scheduler=scheduler, device=device, progress=False, seed=seed,
                  on_epoch_end=on_epoch_end)
    return model, history


def warm_up(device):
    """Run both models once so that one-off start-up costs (kernels, thread pools) are not timed."""
    x = torch.rand(64, 1, 28, 28, device=device)
    for model in (FastMNISTCNN().to(device), ExamplesNet().to(device)):
        model(x).sum().backward()


def _seconds(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:.1f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="sample", choices=("sample", "full", "auto"),
                        help="MNIST data: the bundled sample (default) or full MNIST")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--target", type=float, default=0.98, help="held-out accuracy to reach")
    parser.add_argument("--fast-epochs", type=int, default=14)
    parser.add_argument("--fast-batch-size", type=int, default=64)
    parser.add_argument("--fast-lr", type=float, default=0.005)
    parser.add_argument("--fast-max-shift", type=int, default=2)
    parser.add_argument("--ref-epochs", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (default: its own choice); 1 avoids "
                             "threads waiting on each other when other programs share the CPU")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    device = get_device(args.device)
    data = load_mnist(source=args.source, device=device)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, "
          f"load average at start {os.getloadavg()[0]:.2f}")
    warm_up(device)

    print(f"fast CNN: {args.fast_epochs} epochs, batch {args.fast_batch_size}, Adam + one-cycle "
          f"(peak lr {args.fast_lr}), shifts up to {args.fast_max_shift} px")
    fast = Stopwatch("fast")
    fast_model, _ = train_fast_cnn(
        data, epochs=args.fast_epochs, batch_size=args.fast_batch_size, lr=args.fast_lr,
        max_shift=args.fast_max_shift, device=device, seed=args.seed, progress=False,
        on_epoch_end=fast)
    print(f"reference (pytorch/examples): {args.ref_epochs} epochs, batch 64, Adadelta lr 1.0, "
          "StepLR 0.7")
    ref = Stopwatch("reference")
    ref_model, _ = train_reference(data, args.ref_epochs, device, seed=args.seed, on_epoch_end=ref)

    print(f"\nload average at end {os.getloadavg()[0]:.2f}; data: {data.source}")
    target = format(args.target, ".1%")
    print(f"{'model':<28}{'params':>9}{'to ' + target + ' wall':>16}{'(CPU)':>13}"
          f"{'final acc':>11}{'total wall':>12}")
    for name, model, watch in (("fast CNN", fast_model, fast),
                               ("pytorch/examples reference", ref_model, ref)):
        print(f"{name:<28}{count_parameters(model):>9,}{_seconds(watch.time_to(args.target)):>16}"
              f"{_seconds(watch.time_to(args.target, 'cpu')):>13}{watch.acc[-1]:>11.2%}"
              f"{watch.wall[-1]:>11.1f}s")
    for clock in ("wall", "cpu"):
        fast_time, ref_time = fast.time_to(args.target, clock), ref.time_to(args.target, clock)
        if math.isinf(fast_time):
            print(f"ratio ({clock}): the fast CNN did not reach {target}")
        elif math.isinf(ref_time):
            print(f"ratio ({clock}): the reference did not reach {target} in {args.ref_epochs} "
                  f"epochs; the fast CNN was more than {getattr(ref, clock)[-1] / fast_time:.1f}x sooner")
        else:
            print(f"ratio ({clock}): the fast CNN reached {target} {ref_time / fast_time:.1f}x sooner")
    # When the reference never gets to the target, compare at the best accuracy it did reach.
    best = max(ref.acc)
    if best < args.target and not math.isinf(fast.time_to(best)):
        print(f"at the reference's best held-out accuracy, {best:.1%}: reference "
              f"{ref.time_to(best):.1f} s wall / {ref.time_to(best, 'cpu'):.1f} s CPU, fast CNN "
              f"{fast.time_to(best):.1f} s / {fast.time_to(best, 'cpu'):.1f} s; ratio "
              f"{ref.time_to(best) / fast.time_to(best):.1f}x wall, "
              f"{ref.time_to(best, 'cpu') / fast.time_to(best, 'cpu'):.1f}x CPU")


if __name__ == "__main__":
    main()
