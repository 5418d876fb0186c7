"""Time to classifier Inception Score 8.0: our conditional DCGAN against a classic MLP GAN.

Both GANs train in this process, on the same digits, on the same device, through the same step
(``bmcourse.training.gan.train_gan``), and are scored by the same judge every few hundred steps:
1,000 samples from fixed noise, scored with the CNN chapter's MNIST classifier (classifier
Inception Score with a temperature calibrated on held-out digits, Fréchet distance on its
256 penultimate features against the held-out digits, and the digit histogram). These are
MNIST-classifier analogues of IS and FID, not the Inception-v3 numbers of the literature.

The script prints, for each recipe, the training time (wall-clock and CPU seconds of this
process, evaluation excluded) until the IS first reached the target, the ratio of the two
times, and the final IS, FD and digit histogram. A recipe that does not reach the target within
its time limit is reported as "not reached"; the ratio is then a lower bound.

Our recipe (``bmcourse.training.recipes.gan.train_conditional_dcgan``): a class-conditional
DCGAN, width 32, spectral norm and a projection term in the discriminator, an EMA of the
generator's weights, Adam 2e-4 with betas (0.5, 0.999), batch 64, non-saturating loss.

The reference re-implements the MLP GAN of Erik Linder-Norén's PyTorch-GAN collection
(https://github.com/eriklindernoren/PyTorch-GAN/blob/master/implementations/gan/gan.py, MIT
licence): generator 100 -> 128 -> 256 -> 512 -> 1024 -> 784 with batch norm (momentum 0.8 in
its notation, 0.2 in PyTorch's) after every hidden layer but the first and LeakyReLU(0.2), tanh
output; discriminator 784 -> 512 -> 256 -> 1 with LeakyReLU(0.2); Adam 2e-4, betas (0.5, 0.999),
batch 64, binary cross-entropy. (Its discriminator ends in a sigmoid; ours returns the logit
and the loss applies the sigmoid, the same function computed stably.)

Usage
-----
On the bundled 4,000 / 1,000 sample, on the CPU (the default; up to about 25 minutes)::

    python benchmarks/gan_mnist.py
    python benchmarks/gan_mnist.py --threads 1 --steps 2000   # a busy shared machine

Full MNIST on a GPU (Colab)::

    python benchmarks/gan_mnist.py --source full --device cuda --steps 20000 --target 9.0
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from bmcourse.data.mnist import load_mnist
from bmcourse.models.gan import MLPDiscriminator, MLPGenerator
from bmcourse.runtime import get_device
from bmcourse.training.recipes.gan import DigitJudge, train_conditional_dcgan, train_digit_gan


def timed(run_recipe, target: float) -> dict:
    """Run a recipe with an ``on_eval`` hook that records CPU time, and find the target."""
    cpu_start = time.process_time()
    cpu = []
    run = run_recipe(on_eval=lambda step, generator, scores: cpu.append(time.process_time() - cpu_start))
    evals = run["evals"]
    hit = next((i for i, score in enumerate(evals["is"]) if score >= target), None)
    return {"evals": evals, "cpu": cpu, "hit": hit}


def report(name: str, result: dict, target: float) -> None:
    evals, hit = result["evals"], result["hit"]
    if hit is None:
        when = f"not reached in {evals['seconds'][-1]:.0f} s ({evals['step'][-1]} steps)"
    else:
        when = (f"{evals['seconds'][hit]:.0f} s wall, {result['cpu'][hit]:.0f} s CPU "
                f"(step {evals['step'][hit]})")
    histogram = " ".join(f"{100 * v:.0f}" for v in evals["histogram"][-1])
    print(f"{name}: IS >= {target}: {when}")
    print(f"  final (step {evals['step'][-1]}, {evals['seconds'][-1]:.0f} s): IS "
          f"{evals['is'][-1]:.2f}, FD {evals['fd'][-1]:.1f}, digits 0-9 (%): {histogram}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="sample", choices=("auto", "full", "sample"))
    parser.add_argument("--device", default=None, help="default: bmcourse.get_device()")
    parser.add_argument("--target", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=4000, help="our recipe's steps")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="training seconds after which each recipe stops")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: PyTorch's); on a busy shared machine 1 "
                             "avoids oversubscription stalls")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device) if args.device else get_device()
    data = load_mnist(source=args.source)
    judge = DigitJudge(data, device)
    print(f"device {device}, {torch.get_num_threads()} threads, load average at start "
          f"{os.getloadavg()[0]:.1f}")
    print(f"real held-out digits: IS {judge.real['is']:.2f} (temperature {judge.temperature:.3f})")
    common = dict(judge=judge, eval_every=args.eval_every, time_limit=args.time_limit,
                  seed=args.seed, device=device, progress=False)

    ours = timed(lambda **hook: train_conditional_dcgan(data, steps=args.steps, **common, **hook),
                 args.target)
    reference = timed(lambda **hook: train_digit_gan(
        MLPGenerator(100, hidden=(128, 256, 512, 1024), batch_norm=True),
        MLPDiscriminator(hidden=(512, 256)), data, steps=10**7, batch_size=64, lr_g=2e-4,
        lr_d=2e-4, betas=(0.5, 0.999), stop_at_is=args.target, **common, **hook), args.target)

    print(f"load average at end {os.getloadavg()[0]:.1f}")
    report("ours (conditional DCGAN)", ours, args.target)
    report("reference (MLP GAN, PyTorch-GAN)", reference, args.target)
    if ours["hit"] is not None:
        ours_s = ours["evals"]["seconds"][ours["hit"]]
        if reference["hit"] is not None:
            ratio = reference["evals"]["seconds"][reference["hit"]] / ours_s
            print(f"ratio (reference / ours, wall): {ratio:.1f}x")
        else:
            print(f"ratio (reference / ours, wall): > {reference['evals']['seconds'][-1] / ours_s:.1f}x "
                  "(the reference did not reach the target)")


if __name__ == "__main__":
    main()
