"""Held-out negative ELBO after equal epochs: our VAE recipe against pytorch/examples' VAE.

Both use the same model (784 -> 400 -> 20 Gaussian encoder, 20 -> 400 -> 784 Bernoulli decoder,
``bmcourse.models.vae.VAE``), train in this process on the same digits through the same loop
(``bmcourse.training.fit`` with ``bmcourse.training.recipes.vae.vae_step``), and are scored the
same way after every epoch: the negative ELBO of the held-out digits, one latent sample per
image with a fixed seed, summed binary cross-entropy plus KL, in nats per image.

The reference re-implements the VAE example of pytorch/examples
(https://github.com/pytorch/examples/blob/main/vae/main.py, BSD-3-Clause licence,
Copyright (c) 2017 Pytorch contributors): Adam with learning rate 1e-3, batches of 128,
10 epochs; its README reports a test loss of about 105.6 per image on full MNIST.
Our recipe (``bmcourse.training.recipes.vae.train_vae``) changes only the optimisation:
batches of 64 and a one-cycle schedule peaking at 1e-2.

Usage
-----
::

    python benchmarks/vae_mnist.py                                  # bundled sample, CPU
    python benchmarks/vae_mnist.py --source full --device cuda      # full MNIST (Colab)
"""
from __future__ import annotations

import argparse
import os
import time

from bmcourse.data.mnist import load_mnist
from bmcourse.runtime import get_device
from bmcourse.training.recipes.vae import train_vae


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="sample", choices=("auto", "full", "sample"))
    parser.add_argument("--device", default=None, help="default: bmcourse.get_device()")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    device = get_device(args.device) if args.device else get_device()
    data = load_mnist(source=args.source)
    print(f"device {device}, load average at start {os.getloadavg()[0]:.1f}")
    runs = {
        "ours (batch 64, one-cycle 1e-2)": dict(),
        "reference (pytorch/examples)": dict(batch_size=128, lr=1e-3, schedule=False),
    }
    results = {}
    for name, settings in runs.items():
        start = time.perf_counter()
        _, history = train_vae(data, epochs=args.epochs, device=device, seed=args.seed,
                               progress=False, **settings)
        results[name] = (history, time.perf_counter() - start)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print(f"held-out negative ELBO (nats per image) after each of {args.epochs} epochs:")
    for name, (history, seconds) in results.items():
        curve = " ".join(f"{v:.1f}" for v in history["test_loss"])
        print(f"  {name}: {curve}")
        print(f"    final {history['test_loss'][-1]:.2f} = reconstruction "
              f"{history['test_reconstruction'][-1]:.2f} + KL {history['test_kl'][-1]:.2f}; "
              f"{seconds:.0f} s")
    (ours, _), (reference, _) = results.values()
    print(f"difference (reference - ours): {reference['test_loss'][-1] - ours['test_loss'][-1]:.2f} nats")


if __name__ == "__main__":
    main()
