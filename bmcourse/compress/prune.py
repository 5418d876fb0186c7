"""Magnitude pruning through ``torch.nn.utils.prune`` (global unstructured, and whole
convolution channels), sparsity counts, and a timing that shows what zeros in a dense tensor
do not buy."""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.utils import prune

from .quantize import time_calls

__all__ = ["prunable_weights", "sparsity", "layer_sparsity", "prune_global", "prune_channels",
           "make_permanent", "dense_kernel_timing"]

def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every ``nn.Linear`` and ``nn.Conv2d`` in ``model``: what
    ``torch.nn.utils.prune`` takes."""
    pairs = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if not pairs:
        raise ValueError(f"{type(model).__name__} has no nn.Linear or nn.Conv2d layer to prune.")
    return pairs


def layer_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of exactly-zero weights in each ``nn.Linear`` / ``nn.Conv2d`` layer, by name.

    Counts the weights the layer computes with (``module.weight``, the mask already applied),
    so it reads the same before and after :func:`make_permanent`.
    """
    prunable_weights(model)  # raises if there is nothing to count
    return {name: (m.weight == 0).float().mean().item() for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))}


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all ``nn.Linear`` / ``nn.Conv2d`` layers together
    (biases and norms not counted)."""
    zeros = total = 0
    for module, name in prunable_weights(model):
        weight = getattr(module, name)
        zeros += (weight == 0).sum().item()
        total += weight.numel()
    return zeros / total


def _check_amount(amount) -> None:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"amount must be a fraction in [0, 1) or a whole number of weights, got "
                        f"{type(amount).__name__}.")
    if isinstance(amount, float) and not 0.0 <= amount < 1.0:
        raise ValueError(f"amount={amount} must be a fraction in [0, 1) (1.0 would remove every "
                         "weight), or an int counting weights.")
    if isinstance(amount, int) and amount < 0:
        raise ValueError(f"amount={amount} must not be negative.")


def prune_global(model: nn.Module, amount: float) -> nn.Module:
    """Zero the ``amount`` smallest-magnitude weights of all linear and conv layers together.

    Global unstructured L1 pruning (``prune.global_unstructured`` with ``L1Unstructured``):
    one threshold for the whole network, so a layer of large weights loses fewer than a layer
    of small ones. Each pruned layer keeps ``weight_orig`` (trainable) and ``weight_mask``
    (a buffer) and recomputes ``weight = weight_orig * weight_mask`` before every forward,
    so fine-tuning with :func:`bmcourse.training.fit` keeps the zeros. Pruning again prunes
    the remaining weights further (the masks multiply).

    Parameters
    ----------
    model : nn.Module
        Pruned in place.
    amount : float or int
        Fraction in ``[0, 1)`` of the still-unpruned weights to remove, or their number.

    Returns
    -------
    nn.Module
        ``model`` itself.
    """
    _check_amount(amount)
    prune.global_unstructured(prunable_weights(model), pruning_method=prune.L1Unstructured,
                              amount=amount)
    return model


def prune_channels(model: nn.Module, amount: float, norm: float = 2) -> nn.Module:
    """Zero the ``amount`` weakest output channels (whole filters) of every ``nn.Conv2d``.

    Structured pruning (``prune.ln_structured`` along ``dim=0``): in each convolution, the
    filters with the smallest L``norm`` go. A zeroed filter could be cut out of the network,
    making the convolution (and the next one's input) genuinely smaller — unlike scattered
    zeros. (With batch norm after it, the channel still carries the norm's constant shift
    until the filter and its norm are removed together.)

    Parameters
    ----------
    model : nn.Module
        Pruned in place.
    amount : float or int
        Fraction in ``[0, 1)`` of each convolution's output channels, or their number.
    norm : float
        Which norm ranks the filters (1, 2, ``float("inf")``...).

    Returns
    -------
    nn.Module
        ``model`` itself.
    """
    _check_amount(amount)
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise ValueError(f"{type(model).__name__} has no nn.Conv2d layer whose channels could "
                         "be pruned; use prune_global for linear layers.")
    for conv in convolutions:
        prune.ln_structured(conv, "weight", amount=amount, n=norm, dim=0)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Bake every pruning mask into its weight and drop the masks (``prune.remove``), in place.

    Afterwards ``weight`` is an ordinary parameter holding the zeros, the state dict has its
    usual keys again, and further training may move the zeros.
    """
    for module in model.modules():
        for name in [n[:-len("_mask")] for n, _ in module.named_buffers(recurse=False)
                     if n.endswith("_mask")]:
            if prune.is_pruned(module):
                prune.remove(module, name)
    return model


def dense_kernel_timing(n: int = 1024, batch: int = 256, zero_fraction: float = 0.9,
                        repeats: int = 20, seed: int = 0,
                        threads: int | None = 1) -> dict[str, float]:
    """Seconds for ``x @ W.T`` with a dense ``W``, the same ``W`` with zeros, and a sparse ``W``.

    The dense kernel multiplies every entry, zero or not, so ``"dense, 90% zeros"`` takes as
    long as ``"dense"``. Only a sparse format (``"torch.sparse CSR"``), which stores the
    non-zeros with their column indices and multiplies those alone, can profit; whether it
    does depends on the sparsity, the shapes, the threads and the hardware (on one thread of
    the course's CPU, at these default shapes, CSR broke even near 80% zeros; GPUs gain only
    from structured patterns).

    Parameters
    ----------
    n : int
        ``W`` is ``(n, n)``.
    batch : int
        Rows of ``x``, ``(batch, n)``.
    zero_fraction : float
        Fraction of ``W``'s entries set to zero (the smallest in magnitude).
    repeats : int
    seed : int
    threads : int or None
        See :func:`time_calls`.

    Returns
    -------
    dict
        ``{"dense": s, f"dense, {zero_fraction:.0%} zeros": s, "torch.sparse CSR": s}``,
        seconds per product (the fastest of ``repeats``), measured in turns in this process.
    """
    if not 0.0 <= zero_fraction < 1.0:
        raise ValueError(f"zero_fraction must be in [0, 1), got {zero_fraction}.")
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, n, generator=generator)
    x = torch.randn(batch, n, generator=generator)
    pruned = weight.clone()
    smallest = weight.abs().flatten().argsort()[:int(zero_fraction * n * n)]
    pruned.view(-1)[smallest] = 0.0
    with warnings.catch_warnings():
        # PyTorch flags its sparse CSR support as beta; the product used here is supported.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta",
                                category=UserWarning)
        csr = pruned.to_sparse_csr()
    label = f"dense, {zero_fraction:.0%} zeros"
    return time_calls({
        "dense": lambda: x @ weight.T,
        label: lambda: x @ pruned.T,
        "torch.sparse CSR": lambda: (csr @ x.T).T,
    }, repeats=repeats, threads=threads)
