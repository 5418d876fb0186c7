"""Activation memory: measuring what the backward pass keeps, and trading it for compute.

To compute gradients, autograd saves tensors during the forward pass — a layer's input for its
weight gradient, an attention's probabilities, a GELU's input — and holds them until the backward
pass has used them. For a transformer these *activations* grow with batch size × sequence
length × width × layers and, at large batches, dwarf the weights.

:func:`saved_activation_bytes` measures them with ``torch.autograd.graph.saved_tensors_hooks``
(every tensor autograd saves passes through the hook). :func:`checkpoint_blocks` applies
*activation checkpointing* (``torch.utils.checkpoint``) to a model's blocks: a checkpointed
block saves only its input, and its forward pass runs a second time during the backward pass
to recreate what it needs — about one extra forward pass of compute for a memory cost of one
tensor per block. The gradients are the same (bit for bit, when the recomputation runs the
same kernels as the first pass; dropout replays the same random numbers).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterable

import torch
import torch.utils.checkpoint
from torch import nn

__all__ = ["saved_activation_bytes", "checkpoint_blocks", "remove_checkpointing",
           "checkpointed"]


def saved_activation_bytes(forward: Callable[[], torch.Tensor],
                           exclude: Iterable[torch.Tensor] = ()) -> int:
    """Bytes of the tensors autograd saves for the backward pass while ``forward()`` runs.

    Each storage is counted once (a tensor saved by two operations, or views of one tensor,
    take memory once). Tensors in ``exclude`` — typically the model's parameters, which exist
    anyway — are not counted.

    Parameters
    ----------
    forward : callable
        Runs a forward pass with gradients enabled and returns its output (e.g. the loss);
        the output is then dropped, freeing the graph.
    exclude : iterable of torch.Tensor
        E.g. ``model.parameters()``.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> layer = torch.nn.Linear(1000, 10)
    >>> x = torch.randn(32, 1000)
    >>> saved_activation_bytes(lambda: layer(x).sum(), exclude=layer.parameters())
    128000
    """
    excluded = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in excluded and key != 0:
            storages[key] = storage.nbytes()
        return tensor

    if not torch.is_grad_enabled():
        raise RuntimeError("saved_activation_bytes needs gradients enabled; call it outside "
                           "torch.no_grad().")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = forward()
    if not (torch.is_tensor(output) and output.requires_grad):
        raise ValueError("forward() must return a tensor that requires grad (e.g. the loss); "
                         "otherwise autograd saved nothing for a backward pass.")
    del output
    return sum(storages.values())


def _checkpointed_forward(block: nn.Module, original: Callable, *args, **kwargs):
    # Checkpoint only when a backward pass can follow: in evaluation and generation (no grad,
    # or with a KV cache, which the block writes into) run the plain forward.
    if not torch.is_grad_enabled() or kwargs.get("cache") is not None or (
            len(args) > 1 and args[1] is not None):
        return original(*args, **kwargs)
    return torch.utils.checkpoint.checkpoint(original, *args, use_reentrant=False, **kwargs)


def checkpoint_blocks(blocks: Iterable[nn.Module]) -> None:
    """Turn on activation checkpointing for every module in ``blocks`` (in place).

    Each block's ``forward`` is replaced, on the instance, by one that runs the original under
    ``torch.utils.checkpoint.checkpoint`` (non-reentrant) whenever gradients are on. The
    parameters and ``state_dict`` do not change, so checkpoints and optimizers are unaffected.

    Parameters
    ----------
    blocks : iterable of nn.Module
        E.g. ``model.blocks`` of a :class:`bmcourse.models.gpt.GPT`.
    """
    blocks = list(blocks)
    if not blocks or not all(isinstance(b, nn.Module) for b in blocks):
        raise TypeError("checkpoint_blocks needs an iterable of nn.Module blocks, e.g. "
                        "model.blocks.")
    for block in blocks:
        if "forward" in vars(block):
            continue  # already checkpointed
        original = type(block).forward.__get__(block)
        block.forward = functools.partial(_checkpointed_forward, block, original)


def remove_checkpointing(blocks: Iterable[nn.Module]) -> None:
    """Undo :func:`checkpoint_blocks`: the blocks run their class's plain ``forward`` again."""
    for block in blocks:
        vars(block).pop("forward", None)


@contextlib.contextmanager
def checkpointed(blocks: Iterable[nn.Module]):
    """``with checkpointed(model.blocks): ...`` checkpoints the blocks inside the block only."""
    blocks = list(blocks)
    checkpoint_blocks(blocks)
    try:
        yield blocks
    finally:
        remove_checkpointing(blocks)
