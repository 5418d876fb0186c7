"""Floating-point formats for training, shown with numbers: what float16 and bfloat16 keep and lose.

A float stores a sign, an exponent and a mantissa. The exponent's bits set the *range* (the largest
and smallest magnitudes), the mantissa's bits the *precision* (the gap between neighbouring
numbers, relative to their size):

========  ========  ========  ==============  ==================  ==========
format    exponent  mantissa  largest         smallest normal     epsilon
========  ========  ========  ==============  ==================  ==========
float32   8 bits    23 bits   3.4e38          1.2e-38             1.2e-7
float16   5 bits    10 bits   65504           6.1e-5              9.8e-4
bfloat16  8 bits    7 bits    3.4e38          1.2e-38             7.8e-3
========  ========  ========  ==============  ==================  ==========

(:func:`format_table` computes these from ``torch.finfo``.) bfloat16 keeps float32's range and
gives up precision; float16 keeps more precision but its range is narrow, so small gradients
*underflow*: they round to zero. Mixed-precision training therefore keeps float32 *master*
weights, runs the matrix products in the 16-bit format under ``torch.autocast``, and with float16
multiplies the loss by a large *loss scale* before the backward pass (``torch.amp.GradScaler``) so
that the gradients stay representable, dividing it out again in float32 before the update.

:func:`flushed_to_zero` and :func:`autocast_gradients` show the underflow and the scaler fixing it;
:func:`autocast_policy` probes which operations autocast runs in 16 bits and which it keeps in
float32.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FORMATS", "format_table", "round_trip", "flushed_to_zero", "autocast_gradients",
           "autocast_policy", "check_low_precision_dtype"]

FORMATS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def check_low_precision_dtype(dtype) -> torch.dtype:
    """``dtype`` as a ``torch.dtype`` if it is float16 or bfloat16, else a ``ValueError``."""
    if isinstance(dtype, str):
        dtype = FORMATS.get(dtype, dtype)
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be torch.float16 or torch.bfloat16 (or their names), got "
                         f"{dtype!r}.")
    return dtype


def format_table() -> list[dict]:
    """Bits, range and precision of float32, float16 and bfloat16, from ``torch.finfo``.

    Returns
    -------
    list of dict
        One row per format with keys ``name``, ``bits``, ``exponent_bits``, ``mantissa_bits``,
        ``max`` (largest finite value), ``smallest_normal``, ``smallest_subnormal`` (the
        smallest positive value at all: anything below about half of it rounds to zero) and
        ``eps`` (the gap between 1 and the next number: relative precision).
    """
    rows = []
    for name, dtype in FORMATS.items():
        info = torch.finfo(dtype)
        mantissa_bits = int(round(-torch.log2(torch.tensor(info.eps)).item()))
        rows.append(dict(
            name=name, bits=info.bits, exponent_bits=info.bits - 1 - mantissa_bits,
            mantissa_bits=mantissa_bits, max=info.max, smallest_normal=info.smallest_normal,
            # the smallest subnormal: the smallest normal divided by 2 ** mantissa_bits
            smallest_subnormal=info.smallest_normal * 2.0 ** -mantissa_bits, eps=info.eps))
    return rows


def round_trip(values, dtype) -> torch.Tensor:
    """``values`` stored in ``dtype`` and read back as float64: what the format keeps.

    Parameters
    ----------
    values : sequence of float or tensor
    dtype : torch.dtype or str
        ``float32``, ``float16`` or ``bfloat16``.

    Returns
    -------
    torch.Tensor, float64, same shape as ``values``
        Overflow shows as ``inf``, underflow as ``0``, lost digits as rounding.
    """
    if isinstance(dtype, str):
        if dtype not in FORMATS:
            raise ValueError(f"Unknown format {dtype!r}; pick one of {sorted(FORMATS)}.")
        dtype = FORMATS[dtype]
    return torch.as_tensor(values, dtype=torch.float64).to(dtype).double()


def flushed_to_zero(values: torch.Tensor, dtype, scale: float = 1.0) -> float:
    """Fraction of the nonzero ``values`` that become zero when ``values * scale`` is stored in
    ``dtype``.

    Parameters
    ----------
    values : torch.Tensor
        E.g. float32 gradients.
    dtype : torch.dtype or str
        float16 or bfloat16.
    scale : float
        A loss scale: multiplying before the cast is what ``GradScaler`` does.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    dtype = check_low_precision_dtype(dtype)
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}.")
    nonzero = values[values != 0].double()
    if nonzero.numel() == 0:
        raise ValueError("values has no nonzero entries: nothing can flush to zero.")
    stored = (nonzero * scale).to(dtype)
    return (stored == 0).double().mean().item()


def autocast_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                   dtype=torch.float16, loss_scale: float | None = None,
                   device_type: str = "cpu") -> list[torch.Tensor]:
    """Parameter gradients of one backward pass run under 16-bit autocast, optionally with a
    ``torch.amp.GradScaler`` (its gradients are unscaled before they are returned).

    The model's weights stay float32 (the master copy); autocast runs the matrix products in
    ``dtype``, so the gradients flowing back through the activations are 16-bit numbers: the
    ones too small for the format become zero, and the weights they belong to stop learning.

    Parameters
    ----------
    model : nn.Module
        float32 parameters; its gradients are overwritten.
    x, y : torch.Tensor
        One batch.
    loss_fn : callable
        ``loss_fn(model(x), y)``, a scalar.
    dtype : torch.dtype
        float16 or bfloat16.
    loss_scale : float, optional
        Initial scale of a ``GradScaler`` (e.g. ``2.0 ** 16``, its default); ``None``: no scaler.
    device_type : str
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    list of torch.Tensor
        One float32 gradient per parameter (zeros where nothing reached it).
    """
    dtype = check_low_precision_dtype(dtype)
    scaler = torch.amp.GradScaler(device_type, init_scale=loss_scale or 1.0,
                                  enabled=loss_scale is not None)
    model.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    if scaler.is_enabled():
        # unscale_ needs an optimizer: a throwaway SGD holds the parameters (it never steps)
        scaler.unscale_(torch.optim.SGD(model.parameters(), lr=0.0))
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()
            for p in model.parameters()]


def _probe_ops(device) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Operations to probe, each a function of one (8, 16) tensor on ``device``."""
    targets = torch.zeros(8, dtype=torch.long, device=device)
    weight = torch.randn(16, 16, generator=torch.Generator().manual_seed(1)).to(device)
    return {
        "matmul": lambda t: t @ weight.to(t.dtype),
        "linear": lambda t: F.linear(t, weight.to(t.dtype)),
        "conv1d": lambda t: F.conv1d(t.T[None], weight.to(t.dtype)[:, :, None]),
        "relu": F.relu,
        "gelu": F.gelu,
        "softmax": lambda t: F.softmax(t, dim=-1),
        "log_softmax": lambda t: F.log_softmax(t, dim=-1),
        "layer_norm": lambda t: F.layer_norm(t, (16,)),
        "exp": torch.exp,
        "sum": torch.sum,
        "cross_entropy": lambda t: F.cross_entropy(t, targets),
        "mse_loss": lambda t: F.mse_loss(t, torch.zeros_like(t)),
    }


def autocast_policy(device_type: str = "cpu", dtype=torch.bfloat16) -> dict[str, str]:
    """What ``torch.autocast`` does to each of a few common operations, found by running them.

    Each operation runs twice under autocast: on a float32 input (does autocast *lower* it to
    ``dtype``?) and on a ``dtype`` input (does autocast *raise* it to float32?).

    Parameters
    ----------
    device_type : str
        ``"cpu"`` or ``"cuda"`` (each has its own lists).
    dtype : torch.dtype
        float16 or bfloat16.

    Returns
    -------
    dict
        Operation name to ``"lower precision"`` (run in ``dtype``: the matrix products),
        ``"float32"`` (always run in float32: reductions and losses where 16 bits lose too much)
        or ``"follows input"`` (runs in whatever precision arrives).
    """
    dtype = check_low_precision_dtype(dtype)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, generator=generator, device="cpu").to(device_type)
    policy = {}
    for name, op in _probe_ops(x.device).items():
        with torch.autocast(device_type, dtype=dtype):
            from_float32 = op(x).dtype
            from_low = op(x.to(dtype)).dtype
        if from_float32 == dtype:
            policy[name] = "lower precision"
        elif from_low == torch.float32:
            policy[name] = "float32"
        else:
            policy[name] = "follows input"
    return policy
