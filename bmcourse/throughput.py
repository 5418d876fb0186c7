"""Throughput: tokens per second of a language model's training step, and of generation with
and without a KV cache.

One number decides how long training takes: tokens processed per second. It depends on the batch
(larger batches use the hardware better, until memory runs out), the precision (bfloat16 matrix
products run faster where the hardware has them) and the compiler (``torch.compile`` fuses small
operations). :func:`training_throughput` measures it for one setting by timing real optimizer
steps; compare settings *in the same run*, since a shared machine's speed drifts.
"""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from .memory import saved_activation_bytes
from .training.loop import autocast_for
from .training.recipes.gpt import next_token_loss

__all__ = ["training_throughput", "kv_cache_speedup"]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(model: nn.Module, batch_size: int, *, steps: int = 5, warmup: int = 2,
                        amp: bool = False, vocab_size: int | None = None,
                        block_size: int | None = None, device="cpu") -> dict:
    """Tokens per second of AdamW training steps on random token windows, and their memory.

    Parameters
    ----------
    model : nn.Module
        A language model mapping ``(B, T)`` token ids to ``(B, T, V)`` logits (possibly
        ``torch.compile``-d); it is trained in place.
    batch_size : int
        Windows per step, ``B``.
    steps, warmup : int
        Timed steps; untimed steps before them (compilation, allocator warm-up).
    amp : bool
        bfloat16 autocast on the CPU (bfloat16 or float16 on CUDA), as ``fit(amp=True)``.
    vocab_size, block_size : int, optional
        Default: ``model.config``'s (a :class:`~bmcourse.models.gpt.GPT`).
    device : str or torch.device

    Returns
    -------
    dict
        ``tokens_per_second`` (from the median step time), ``seconds_per_step``,
        ``activation_bytes`` (what autograd saves for one step's backward pass) and, on CUDA,
        ``peak_bytes`` (``torch.cuda.max_memory_allocated``: weights, optimizer and all).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
    if steps < 1 or warmup < 0:
        raise ValueError(f"steps must be >= 1 and warmup >= 0, got steps={steps}, "
                         f"warmup={warmup}.")
    config = getattr(model, "config", None) or getattr(getattr(model, "_orig_mod", None),
                                                        "config", None)
    vocab_size = vocab_size or config.vocab_size
    block_size = block_size or config.block_size
    device = torch.device(device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab_size, (batch_size, block_size), generator=generator).to(device)
    y = torch.randint(0, vocab_size, (batch_size, block_size), generator=generator).to(device)

    def loss():
        with autocast_for(device, amp):
            return next_token_loss(model(x), y)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        _synchronize(device)
        start = time.perf_counter()
        step()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    result = dict(tokens_per_second=batch_size * block_size / seconds, seconds_per_step=seconds,
                  activation_bytes=saved_activation_bytes(loss, exclude=model.parameters()))
    if device.type == "cuda":
        result["peak_bytes"] = torch.cuda.max_memory_allocated(device)
    return result


def kv_cache_speedup(model: nn.Module, prompt: torch.Tensor, new_tokens: int = 500,
                     repeats: int = 5, threads: int | None = None) -> dict:
    """Time greedy generation of ``new_tokens`` tokens without and with the KV cache.

    The same model continues the same prompt both ways. The two take turns, ``repeats`` times,
    after one untimed warm-up each, and the median of each is kept: on a machine shared with
    other jobs the load changes from second to second, and alternating spreads it over both.

    Parameters
    ----------
    model : bmcourse.models.gpt.GPT
        Anything with ``generate(idx, max_new_tokens, temperature=0, use_cache=...)``.
    prompt : torch.LongTensor, shape (B, T)
        On the model's device.
    new_tokens, repeats : int
    threads : int, optional
        CPU threads for the measurement (restored afterwards). A cached step on a CPU is about a
        hundred tiny operations, and splitting each over several threads can cost more than it
        saves: one thread shows what the cache itself buys.

    Returns
    -------
    dict
        ``plain`` and ``cached``: median wall-clock seconds; ``plain_cpu`` and ``cached_cpu``:
        median CPU seconds of this process; ``speedup``: ``plain / cached``; ``same``: whether
        every run generated the same tokens.
    """
    if repeats < 1 or new_tokens < 1:
        raise ValueError(f"repeats and new_tokens must be >= 1, got {repeats} and {new_tokens}.")
    device = prompt.device
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        for use_cache in (False, True):  # first calls pay one-off costs (allocations, kernels)
            model.generate(prompt, min(new_tokens, 32), temperature=0, use_cache=use_cache)
        wall = {False: [], True: []}
        cpu = {False: [], True: []}
        outputs = []
        for _ in range(repeats):
            for use_cache in (False, True):
                _synchronize(device)
                start, start_cpu = time.perf_counter(), time.process_time()
                outputs.append(model.generate(prompt, new_tokens, temperature=0,
                                              use_cache=use_cache))
                _synchronize(device)
                wall[use_cache].append(time.perf_counter() - start)
                cpu[use_cache].append(time.process_time() - start_cpu)
    finally:
        torch.set_num_threads(before)
    plain, cached = statistics.median(wall[False]), statistics.median(wall[True])
    return dict(plain=plain, cached=cached, speedup=plain / cached,
                plain_cpu=statistics.median(cpu[False]), cached_cpu=statistics.median(cpu[True]),
                same=all(torch.equal(out, outputs[0]) for out in outputs))
