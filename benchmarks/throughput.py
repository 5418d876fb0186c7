"""Training throughput of the GPT: tokens per second and memory against batch size, float32
against bfloat16 autocast, ``torch.compile`` off and on.

Every setting trains the same model (copied from one initialisation) with AdamW on random token
windows, through :func:`bmcourse.throughput.training_throughput`. The reference is float32
without compilation at the same batch size, measured in the same process; the settings take
turns for ``--rounds`` rounds (so that a busy moment of a shared machine hits all alike) and
each reports the median of its rounds. Compilation happens in an untimed warm-up step.

Printed per batch size and setting: tokens per second, the ratio to the reference, and the
bytes of activations autograd saves for one step (on CUDA also the peak allocated memory).

Usage::

    python benchmarks/throughput.py                          # CPU, 4 layers x 192 channels
    python benchmarks/throughput.py --no-compile --threads 1 # quick, on a shared CPU
    python benchmarks/throughput.py --device cuda --batch-sizes 16,64,256 \\
        --n-layer 6 --n-embd 384 --block-size 256             # a GPU
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics

import torch

from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.runtime import get_device
from bmcourse.throughput import training_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: best)")
    parser.add_argument("--batch-sizes", default="8,32")
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=192)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"load average {os.getloadavg() if hasattr(os, 'getloadavg') else 'n/a'}")

    torch.manual_seed(0)
    config = GPTConfig(n_layer=args.n_layer, n_head=args.n_embd // 64 or 1, n_embd=args.n_embd,
                       block_size=args.block_size, vocab_size=80)
    base = GPT(config)
    print(f"GPT {args.n_layer} layers x {args.n_embd} channels, block {args.block_size}, "
          f"{base.num_parameters():,} parameters")
    settings = [("fp32", False, False), ("bf16", True, False)]
    if not args.no_compile:
        settings += [("fp32 compiled", False, True), ("bf16 compiled", True, True)]

    for batch_size in batch_sizes:
        models = {}
        for name, amp, compiled in settings:
            model = copy.deepcopy(base).to(device)
            models[name] = torch.compile(model) if compiled else model
        results = {name: [] for name, _, _ in settings}
        for round_ in range(args.rounds):
            for name, amp, _ in settings:
                # the first round warms up (compiles) each setting; later rounds only time
                results[name].append(training_throughput(
                    models[name], batch_size, steps=args.steps, warmup=2 if round_ == 0 else 0,
                    amp=amp, vocab_size=80, block_size=args.block_size, device=device))
        reference = statistics.median(r["tokens_per_second"] for r in results["fp32"])
        for name, _, _ in settings:
            speed = statistics.median(r["tokens_per_second"] for r in results[name])
            line = (f"batch {batch_size:>4}  {name:<14} {speed:>10,.0f} tokens/s  "
                    f"{speed / reference:5.2f}x fp32  activations "
                    f"{results[name][-1]['activation_bytes'] / 1e6:7.1f} MB")
            if "peak_bytes" in results[name][-1]:
                line += f"  peak {results[name][-1]['peak_bytes'] / 1e9:.2f} GB"
            print(line, flush=True)
    if hasattr(os, "getloadavg"):
        print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
