"""Data parallelism with PyTorch's own engine: ``DistributedDataParallel`` launched by torchrun.

Data parallelism runs one copy of the model per process (one per GPU, or here per CPU core).
Every step, each process takes its own slice of the global batch, computes gradients on it, and
the processes *all-reduce* the gradients — every process ends up with their mean — before each
takes the same optimizer step. Their weights therefore stay identical, and equal to those of one
process training on the whole global batch: the mean of the slices' mean gradients is the mean
gradient of the batch (the slices are equally large).

``DistributedDataParallel`` (DDP) does the all-reduce during the backward pass, bucket by bucket,
overlapping communication with computation. ``torchrun`` (``python -m torch.distributed.run``)
starts the processes and tells each its ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and where to meet
(``MASTER_ADDR``/``MASTER_PORT``); ``torch.distributed.init_process_group`` reads those. The
backend is ``gloo`` on CPUs and ``nccl`` on NVIDIA GPUs.

This module is both a library and the script torchrun runs::

    python -m torch.distributed.run --nproc_per_node=2 -m bmcourse.distributed --steps 20 \\
        --out ddp.pt                                      # 2 CPU processes, gloo
    torchrun --nproc_per_node=8 -m bmcourse.distributed --backend nccl --steps 200 --out ddp.pt

:func:`run_ddp_demo` (``python -m bmcourse ddp-demo``) launches the first, trains the same model
on the same global batches in this process, and compares the weights. :func:`allreduce_seconds`
times an all-reduce of growing tensors across the processes. Training itself is the course's one
loop, :func:`bmcourse.training.fit`: DDP is just a wrapper around the model, and the data is a
batch source that hands each process its slice.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .data.text import load_text
from .data.tokenizers import CharTokenizer
from .data.windows import TokenWindows
from .files import atomic_write
from .models.gpt import GPT, GPTConfig
from .training.loop import fit
from .training.recipes.gpt import next_token_loss

__all__ = ["DEMO_CONFIG", "RankSlices", "demo_data", "demo_model", "train_demo", "free_port",
           "torchrun_command", "run_ddp_demo", "allreduce_seconds", "main"]

# A small GPT (about 0.1 M parameters): the demo is about equality of weights, not quality.
DEMO_CONFIG = dict(n_layer=2, n_head=2, n_embd=64, block_size=32, dropout=0.0, bias=False)
DEMO_CHARACTERS = 200_000  # of the bundled Shakespeare: plenty for a few hundred steps


class RankSlices:
    """A batch source that gives each process its slice of the same global batch.

    Every process draws the *global* batch of ``batch_size * world_size`` windows from the same
    generator (``fit`` seeds it identically everywhere), then keeps rows
    ``rank * batch_size`` to ``(rank + 1) * batch_size``. This is what
    ``torch.utils.data.DistributedSampler`` does for a map-style dataset.

    Parameters
    ----------
    source : batch source
        Anything with ``batches(batch_size, generator, device)``, e.g. ``TokenWindows``.
    rank, world_size : int
        This process's index and the number of processes.
    """

    def __init__(self, source, rank: int, world_size: int):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in 0..world_size-1, got rank={rank}, "
                             f"world_size={world_size}.")
        self.source, self.rank, self.world_size = source, rank, world_size

    def batches(self, batch_size: int, generator, device):
        start = self.rank * batch_size
        for x, y in self.source.batches(batch_size * self.world_size, generator, device):
            yield x[start:start + batch_size], y[start:start + batch_size]


def demo_data(block_size: int = DEMO_CONFIG["block_size"]) -> tuple[TokenWindows, int]:
    """Windows of the first 200,000 characters of the bundled Shakespeare, and the vocabulary
    size (80 characters).

    Returns
    -------
    windows : TokenWindows
    vocab_size : int
    """
    text = load_text("shakespeare")
    tokenizer = CharTokenizer(text)  # the whole corpus's alphabet: 80 characters
    return TokenWindows(tokenizer.encode(text[:DEMO_CHARACTERS]), block_size), tokenizer.vocab_size


def demo_model(vocab_size: int, seed: int = 0, **overrides) -> GPT:
    """The demo's GPT (:data:`DEMO_CONFIG`), initialised from ``seed``."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, **{**DEMO_CONFIG, **overrides}))


def train_demo(model: nn.Module, data, *, steps: int, batch_size: int, rank: int = 0,
               world_size: int = 1, lr: float = 1e-3, seed: int = 0, device="cpu"):
    """``steps`` AdamW steps of ``model`` on global batches of ``batch_size`` windows.

    Parameters
    ----------
    model : nn.Module
        A plain model (one process) or a ``DistributedDataParallel`` wrapper (one of
        ``world_size`` processes).
    data : batch source
        Windows to draw from; process ``rank`` trains on its slice of each global batch.
    steps : int
    batch_size : int
        The *global* batch: each of the ``world_size`` processes takes
        ``batch_size // world_size`` windows.
    lr : float
    seed : int
        Seeds the batch order (identical in every process).

    Returns
    -------
    History
    """
    if batch_size % world_size:
        raise ValueError(f"The global batch of {batch_size} does not split evenly over "
                         f"{world_size} processes; pick a multiple of {world_size}.")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    return fit(model, RankSlices(data, rank, world_size), epochs=1, steps_per_epoch=steps,
               batch_size=batch_size // world_size, optimizer=optimizer,
               loss_fn=next_token_loss, device=device, amp=False, progress=False, seed=seed)


# ---------------------------------------------------------------------------- launching

def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_command(nproc: int, script_args: list[str], port: int | None = None) -> list[str]:
    """The torchrun command line that runs this module in ``nproc`` processes on this machine.

    Parameters
    ----------
    nproc : int
        Processes (``--nproc_per_node``).
    script_args : list of str
        Arguments for :func:`main` (e.g. ``["--steps", "20", "--out", "w.pt"]``).
    port : int, optional
        Where the processes meet on 127.0.0.1; default: a free port.

    Returns
    -------
    list of str
        For ``subprocess.run``: ``python -m torch.distributed.run ... -m bmcourse.distributed``.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be a whole number >= 1 (processes to start), got {nproc!r}.")
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
            "--nnodes=1", "--master_addr=127.0.0.1", f"--master_port={port or free_port()}",
            "-m", "bmcourse.distributed", *script_args]


def _run_torchrun(nproc: int, script_args: list[str], timeout: float) -> str:
    env = dict(os.environ)
    # One machine: gloo talks over the loopback interface only (never the network).
    env.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
    # Each process computes with one thread, as torchrun sets by default for several processes
    # (said here, to silence its warning): two processes on two cores do not oversubscribe.
    env.setdefault("OMP_NUM_THREADS", "1")
    command = torchrun_command(nproc, script_args)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"torchrun did not finish within {timeout:.0f} s: {' '.join(command)}. "
                           "Pass a larger timeout or fewer steps.") from None
    if done.returncode != 0:
        raise RuntimeError(f"torchrun failed (exit status {done.returncode}): {' '.join(command)}"
                           f"\n{done.stderr[-3000:]}")
    return done.stdout


def run_ddp_demo(nproc: int = 2, steps: int = 20, batch_size: int = 16, lr: float = 1e-3,
                 seed: int = 0, timeout: float = 300.0, verbose: bool = True) -> dict:
    """Train the demo GPT with DDP in ``nproc`` processes (torchrun, gloo) and in this process
    alone on the same global batches; compare the weights.

    Parameters
    ----------
    nproc : int
        Processes torchrun starts.
    steps : int
        Optimizer steps.
    batch_size : int
        Global batch (windows of 32 characters), split evenly over the processes.
    lr, seed : float, int
    timeout : float
        Seconds before the launch is abandoned.
    verbose : bool
        Print what happens, ending with the line ``max |w_ddp - w_single| = <number>``.

    Returns
    -------
    dict
        ``max_abs_diff`` (largest weight difference), ``ddp_seconds`` (wall time of the torchrun
        launch, start-up included), ``single_seconds`` (training alone, one thread), ``ddp_loss`` and ``single_loss`` (mean
        training loss over the steps, in nats per character).
    """
    if batch_size % nproc:
        raise ValueError(f"batch_size={batch_size} does not split evenly over nproc={nproc} "
                         f"processes; pick a multiple of {nproc}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}.")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "ddp_weights.pt"
        args = ["--steps", str(steps), "--batch-size", str(batch_size), "--lr", str(lr),
                "--seed", str(seed), "--out", str(out)]
        start = time.perf_counter()
        log = _run_torchrun(nproc, args, timeout)
        ddp_seconds = time.perf_counter() - start
        result = torch.load(out, weights_only=True)
    if verbose:
        print(log.strip())
    data, vocab_size = demo_data()
    single = demo_model(vocab_size, seed)
    # One thread, as each worker has: the same conditions, and no threads fighting over cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        history = train_demo(single, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
        single_seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    max_abs_diff = max((single.state_dict()[name] - weight).abs().max().item()
                       for name, weight in result["weights"].items())
    if verbose:
        print(f"one process,  {steps} steps of {batch_size} windows: "
              f"mean loss {history.last('train_loss'):.4f}")
        print(f"max |w_ddp - w_single| = {max_abs_diff:.3g}")
    return dict(max_abs_diff=max_abs_diff, ddp_seconds=ddp_seconds, single_seconds=single_seconds,
                ddp_loss=result["loss"], single_loss=history.last("train_loss"))


def allreduce_seconds(nproc: int = 2, sizes=(10_000, 100_000, 1_000_000, 10_000_000),
                      repeats: int = 5, timeout: float = 300.0) -> dict[int, float]:
    """Median seconds of one ``all_reduce`` (sum) of a float32 tensor across ``nproc`` gloo
    processes on this machine, for each tensor size.

    Parameters
    ----------
    nproc : int
    sizes : sequence of int
        Elements per tensor (4 bytes each): a model of that many parameters all-reduces a
        tensor this large every step.
    repeats : int
        Timed all-reduces per size (after one untimed warm-up).

    Returns
    -------
    dict
        Size to median seconds (rank 0's clock, after a barrier).
    """
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ValueError(f"sizes must be positive whole numbers of elements, got {sizes!r}.")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "allreduce.json"
        _run_torchrun(nproc, ["--allreduce", ",".join(map(str, sizes)), "--repeats",
                              str(repeats), "--out", str(out)], timeout)
        return {int(size): seconds for size, seconds in json.loads(out.read_text()).items()}


# ---------------------------------------------------------------------------- the workers

def _time_allreduce(sizes: list[int], repeats: int) -> dict[int, float]:
    times = {}
    for size in sizes:
        tensor = torch.ones(size)
        dist.all_reduce(tensor)  # warm-up: buffers, connections
        samples = []
        for _ in range(repeats):
            dist.barrier()  # start together, so one clock measures the exchange
            start = time.perf_counter()
            dist.all_reduce(tensor)
            samples.append(time.perf_counter() - start)
        times[size] = sorted(samples)[len(samples) // 2]
    return times


def main(argv: list[str] | None = None) -> None:
    """The worker torchrun starts in every process (see the module's docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bmcourse.distributed",
                                     description="DDP demo worker; launch it with torchrun.")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16, help="global batch")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    parser.add_argument("--allreduce", default=None,
                        help="comma-separated tensor sizes: time all-reduce instead of training")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True, help="where rank 0 writes its results")
    args = parser.parse_args(argv)
    if "RANK" not in os.environ:
        parser.error("RANK is not set: start this script with torchrun, e.g. "
                     "torchrun --nproc_per_node=2 -m bmcourse.distributed --out ddp.pt")

    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cpu")
    if args.backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(args.backend)  # reads MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    try:
        if args.allreduce:
            times = _time_allreduce([int(n) for n in args.allreduce.split(",")], args.repeats)
            if rank == 0:
                with atomic_write(args.out, "w") as handle:
                    json.dump(times, handle)
            return
        data, vocab_size = demo_data()
        model = demo_model(vocab_size, args.seed).to(device)
        # DDP broadcasts rank 0's weights at construction, then all-reduces gradients (mean)
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None)
        history = train_demo(ddp_model, data, steps=args.steps, batch_size=args.batch_size,
                             rank=rank, world_size=world_size, lr=args.lr, seed=args.seed,
                             device=device)
        # Each rank's mean loss over its own slices; their mean is the global batch's.
        loss = torch.tensor([history.last("train_loss")], device=device)
        dist.all_reduce(loss)
        loss = loss.item() / world_size
        if rank == 0:
            print(f"DDP, {world_size} processes ({args.backend}), {args.steps} steps of "
                  f"{args.batch_size} windows: mean loss {loss:.4f}")
            weights = {name: w.detach().cpu() for name, w in model.state_dict().items()}
            with atomic_write(args.out) as handle:
                torch.save({"weights": weights, "loss": loss}, handle)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
