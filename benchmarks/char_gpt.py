"""Character-level GPT on the bundled Shakespeare: our CPU recipe against nanoGPT's.

Both recipes train in this process, on the same 90/10 split of the bundled corpus, through the
same loop (``bmcourse.training.fit``), and are scored on the same validation windows every
``--eval-interval`` steps (50: the time to the reference's loss is read on this grid): the
whole validation split cut into the reference's non-overlapping 64-character windows. A recipe
with a longer block trains on longer windows but is scored on these 64-character ones (a causal
model with ``block_size >= 64`` reads them as they are), so that a longer context cannot
flatter its loss or its time to the reference's loss; its loss on windows of its own block size
is printed at the end, labelled as such. The two runs are *interleaved*: they take turns, one
evaluation interval at a time (the one behind in training time goes next), resuming exactly
from their checkpoints, so that both see the same machine load — on a shared machine a run done
first and a run done second can see very different CPUs. Validation passes are not counted as
training time.

The reference re-implements nanoGPT's CPU command (https://github.com/karpathy/nanoGPT,
README, MIT licence, Copyright (c) 2022 Andrej Karpathy)::

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False
        --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4
        --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

i.e. :data:`bmcourse.training.recipes.gpt.NANOGPT_CPU`; ours is ``FAST_CPU`` beside it: the same
model, trained with Muon on the blocks' matrices and AdamW on the rest
(:mod:`bmcourse.training.muon`).

Printed: validation loss against training time for both; the time each takes to reach the
reference's final loss and their ratio; tokens per second; model FLOPs utilisation (nanoGPT's
``estimate_mfu`` count, 6N + 12·L·H·Q·T FLOPs per token, PaLM appendix B) against a matmul
peak measured in this run (before and after training, the better of the two: on a shared
machine one measurement can land on a busy second), in the precision each recipe computes in;
and the KV-cache speedup for 500 generated tokens (the median of alternating runs with and
without the cache; with ``--kv-only``, on the shipped model alone, without training).

Usage::

    python benchmarks/char_gpt.py                       # CPU, about 7 minutes on 2 cores
    python benchmarks/char_gpt.py --threads 1           # a CPU shared with other jobs
    python benchmarks/char_gpt.py --device cuda --gpu   # the 6-layer, 384-wide model (GPU)
    python benchmarks/char_gpt.py --kv-only --threads 1 --kv-block-sizes 128 256
                                                        # the KV-cache speedup alone
    python benchmarks/char_gpt.py --ours-block-size 128 --ours-batch-size 8
                                                        # ours with a longer block
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import asdict

import torch

from bmcourse.models.gpt import GPT, GPTConfig, shakespeare_char_gpt
from bmcourse.runtime import get_device, seed_everything
from bmcourse.throughput import kv_cache_speedup
from bmcourse.training.loop import evaluate
from bmcourse.training.recipes.gpt import (FAST_CPU, NANOGPT_CPU, char_data, next_token_loss,
                                           train_language_model)

# nanoGPT's config/train_shakespeare_char.py (GPU): 6 layers, 6 heads, 384 channels, block
# 256, batch 64, dropout 0.2, lr 1e-3 -> 1e-4 over 5,000 steps, warm-up 100. Reaches about 1.47.
NANOGPT_GPU = dict(
    model=dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, bias=False),
    iters=5000, batch_size=64, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,
    betas=(0.9, 0.99), clip_grad_norm=1.0, amp=True,
)


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Best FLOP/s of an n x n matmul in ``dtype`` on ``device`` (a practical peak)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def flops_per_token(model: GPT) -> float:
    """nanoGPT's estimate: 6N for the weights' forward and backward, 12·L·H·Q·T for attention."""
    c = model.config
    return 6 * model.num_parameters() + 12 * c.n_layer * c.n_head * (c.n_embd // c.n_head) * c.block_size


class Run:
    """One recipe's run, advanced one evaluation interval at a time from its checkpoint."""

    def __init__(self, name, settings, vocab_size, train, val, device, folder, eval_interval, seed):
        """``train``: windows of the recipe's own block size; ``val``: the windows every recipe
        is scored on (the reference's block size, at most the recipe's)."""
        if val.block_size > settings["model"]["block_size"]:
            raise ValueError(f"{name}: validation windows of {val.block_size} tokens are longer "
                             f"than its block_size={settings['model']['block_size']}; score every "
                             "recipe on windows no longer than the shortest block.")
        self.name, self.settings, self.train, self.val, self.device = name, settings, train, val, device
        self.options = {k: v for k, v in settings.items() if k != "model"}
        self.eval_interval, self.seed = eval_interval, seed
        self.chunks = self.options["iters"] // eval_interval
        self.path = os.path.join(folder, f"{name}.pt")
        self.vocab_size = vocab_size
        self.model = self._new_model()
        self.times, self.cpu_times, self.losses, self.iters = [0.0], [0.0], [], [0]
        self.losses.append(evaluate(self.model.to(device), val, next_token_loss, device=device)["loss"])

    def _new_model(self):
        seed_everything(self.seed)
        return GPT(GPTConfig(vocab_size=self.vocab_size, **self.settings["model"]))

    @property
    def done(self):
        return len(self.iters) - 1 >= self.chunks

    def advance(self):
        """Train one more interval (resuming exactly), then evaluate it."""
        k = len(self.iters)
        model = self._new_model() if k == 1 else self.model
        cpu = time.process_time()
        history = train_language_model(model, self.train, None, **self.options,
                                       eval_interval=self.eval_interval, device=self.device,
                                       seed=self.seed, progress=False, checkpoint=self.path,
                                       resume=k > 1, overwrite=k == 1, stop_after=k)
        self.cpu_times.append(self.cpu_times[-1] + time.process_time() - cpu)
        self.times.append(self.times[-1] + history.last("seconds"))
        self.iters.append(k * self.eval_interval)
        self.model = model
        self.losses.append(evaluate(model, self.val, next_token_loss, device=self.device)["loss"])

    def time_to(self, target):
        """Training seconds (wall, CPU) at the first evaluation with loss <= target."""
        for t, c, loss in zip(self.times, self.cpu_times, self.losses):
            if loss <= target:
                return t, c
        return math.nan, math.nan


def report_kv_cache(label: str, model: GPT, prompt: torch.Tensor, new_tokens: int = 500,
                    repeats: int = 5) -> None:
    """Print :func:`kv_cache_speedup` for ``model``, with the load average."""
    r = kv_cache_speedup(model, prompt, new_tokens, repeats)
    print(f"{label}: {new_tokens} new tokens (greedy), median of {repeats}: "
          f"{r['plain']:.3f} s without the KV cache, {r['cached']:.3f} s with it: "
          f"{r['plain'] / r['cached']:.2f}x faster ({r['plain_cpu'] / r['cached_cpu']:.2f}x in "
          f"CPU time); identical output: {r['same']}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


def kv_only(device: torch.device, block_sizes: list[int], repeats: int, seed: int) -> None:
    """The KV-cache timing alone: the shipped model, then (untrained, random weights) the same
    architecture with longer blocks. The speed of a step does not depend on the weights."""
    model, tokenizer = shakespeare_char_gpt(device=device)
    prompt = torch.tensor([tokenizer.encode("The AI revolution is")], device=device)
    config = model.config
    report_kv_cache(f"shipped model (block {config.block_size})", model, prompt, repeats=repeats)
    for block in block_sizes:
        seed_everything(seed)
        longer = GPT(GPTConfig(**{**asdict(config), "block_size": block})).to(device).eval()
        report_kv_cache(f"same shape, block {block}, random weights", longer, prompt,
                        repeats=repeats)


def ours_settings(args) -> dict:
    """FAST_CPU, or FAST_CPU with the block size (and batch size) given on the command line."""
    if args.ours_block_size is None:
        if args.ours_batch_size is not None:
            raise ValueError("--ours-batch-size goes with --ours-block-size; FAST_CPU's batch "
                             "is tuned for its own block size.")
        return FAST_CPU
    block = args.ours_block_size
    if block < NANOGPT_CPU["model"]["block_size"]:
        raise ValueError(f"--ours-block-size {block} is shorter than the reference's "
                         f"{NANOGPT_CPU['model']['block_size']}-character validation windows; "
                         "use at least that.")
    tokens = FAST_CPU["batch_size"] * FAST_CPU["model"]["block_size"]
    batch = args.ours_batch_size or max(1, tokens // block)
    print(f"ours: FAST_CPU with block {block}, batch {batch}")
    return {**FAST_CPU, "model": {**FAST_CPU["model"], "block_size": block}, "batch_size": batch}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--eval-interval", type=int, default=50,
                        help="steps between validation passes (default 50); each recipe's time "
                             "to the reference's loss is read at these, so a coarser grid "
                             "overstates it")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (default: its own choice). On a CPU shared "
                             "with other work, 1 thread can be several times faster than 2")
    parser.add_argument("--gpu", action="store_true",
                        help="also train nanoGPT's 6-layer / 384-wide GPU configuration")
    parser.add_argument("--kv-only", action="store_true",
                        help="only time the KV cache, on the shipped model (no training)")
    parser.add_argument("--kv-block-sizes", type=int, nargs="*", default=[],
                        help="with --kv-only, also time untrained models of the shipped shape "
                             "with these block sizes, e.g. 128 256")
    parser.add_argument("--kv-repeats", type=int, default=5,
                        help="alternating timed runs per path for the KV-cache speedup")
    parser.add_argument("--ours-block-size", type=int, default=None, metavar="T",
                        help="train ours with this block size instead of FAST_CPU's (still "
                             "scored on the reference's 64-character windows), e.g. 128")
    parser.add_argument("--ours-batch-size", type=int, default=None, metavar="B",
                        help="with --ours-block-size: windows per step, e.g. 8 for block 128 "
                             "(default: FAST_CPU's tokens per step)")
    args = parser.parse_args()
    ours_recipe = ours_settings(args)  # bad options fail here, before any measurement
    device = get_device(args.device) if args.device else get_device()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {device}, {torch.get_num_threads()} threads, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.kv_only:
        kv_only(device, args.kv_block_sizes, args.kv_repeats, args.seed)
        return
    peaks = {dtype: matmul_peak(dtype, device) for dtype in (torch.float32, torch.bfloat16)}
    for dtype, peak in peaks.items():
        print(f"matmul peak ({str(dtype)[6:]}, 2048x2048): {peak / 1e9:.0f} GFLOP/s")

    # Every recipe is scored on the reference's validation windows (64 characters): see above.
    tokenizer, train, val = char_data(NANOGPT_CPU["model"]["block_size"])
    print(f"validation: {val.num_windows} windows of {val.block_size} characters, for both")
    with tempfile.TemporaryDirectory() as folder:
        runs = []
        for name, settings in (("nanoGPT CPU", NANOGPT_CPU), ("ours", ours_recipe)):
            block = settings["model"]["block_size"]
            tr = char_data(block)[1] if block != train.block_size else train
            runs.append(Run(name, settings, tokenizer.vocab_size, tr, val, device, folder,
                            args.eval_interval, args.seed))
        while not all(run.done for run in runs):
            run = min((r for r in runs if not r.done), key=lambda r: r.times[-1])
            run.advance()
            print(f"  {run.name:<12} iter {run.iters[-1]:>5}  {run.times[-1]:6.1f} s  "
                  f"val loss {run.losses[-1]:.4f}", flush=True)
        ref, ours = runs
        for dtype in peaks:
            peaks[dtype] = max(peaks[dtype], matmul_peak(dtype, device))
            print(f"matmul peak ({str(dtype)[6:]}), the better of before and after training: "
                  f"{peaks[dtype] / 1e9:.0f} GFLOP/s")
        target = ref.losses[-1]
        print(f"\nreference final validation loss: {target:.4f} nats/char")
        print(f"{'recipe':<12} {'iters':>6} {'train s':>8} {'CPU s':>7} {'final val':>9} "
              f"{'s to ref':>9} {'tok/s':>8} {'MFU':>6}")
        timing = {}
        for run in runs:
            seconds, cpu = run.time_to(target)
            timing[run.name] = (seconds, cpu)
            tokens = run.iters[-1] * run.options["batch_size"] * run.settings["model"]["block_size"]
            tok_s = tokens / run.times[-1]
            peak = peaks[torch.bfloat16 if run.options["amp"] else torch.float32]
            mfu = flops_per_token(run.model) * tok_s / peak
            print(f"{run.name:<12} {run.iters[-1]:>6} {run.times[-1]:>8.1f} {run.cpu_times[-1]:>7.1f} "
                  f"{run.losses[-1]:>9.4f} {seconds:>9.1f} {tok_s:>8.0f} {mfu:>6.1%}")
        (t_ref, c_ref), (t_ours, c_ours) = timing["nanoGPT CPU"], timing["ours"]
        print(f"time to the reference's final loss: ours is {t_ref / t_ours:.2f}x sooner "
              f"(wall clock), {c_ref / c_ours:.2f}x (CPU time)")
        within = [loss for t, loss in zip(ours.times, ours.losses) if t <= 180]
        print(f"ours: best validation loss within 3 minutes of training: {min(within):.4f}")
        block = ours.settings["model"]["block_size"]
        if block != val.block_size:
            own = evaluate(ours.model, char_data(block)[2], next_token_loss, device=device)["loss"]
            print(f"ours on windows of its own block size ({block} characters, longer context; "
                  f"not comparable with the table): {own:.4f}")

        prompt = torch.tensor([tokenizer.encode("The AI revolution is")], device=device)
        report_kv_cache("ours", ours.model, prompt, repeats=args.kv_repeats)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.gpu:
        _, tr, va = char_data(NANOGPT_GPU["model"]["block_size"])
        seed_everything(args.seed)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **NANOGPT_GPU["model"]))
        options = {k: v for k, v in NANOGPT_GPU.items() if k != "model"}
        history = train_language_model(model, tr, va, **options, eval_interval=250,
                                       device=device, seed=args.seed)
        print(f"6-layer / 6-head / 384 GPT: final validation loss {history.last('val_loss'):.4f} "
              f"in {sum(history['train_seconds']):.0f} s of training")


if __name__ == "__main__":
    main()
