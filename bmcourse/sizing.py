"""How big a model is: parameters, and what each layer does to the shape and costs.

:func:`count_parameters` counts scalars; :func:`layer_summary` prints a per-layer table like
Keras' ``model.summary()``, with multiply-accumulates and receptive fields.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["count_parameters", "layer_summary"]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``.

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_summary(model: nn.Module, input_shape: tuple, verbose: bool = True) -> list[dict]:
    """What every layer of a chain-shaped model does: output shape, parameters, cost.

    Runs one zero input through ``model`` (in eval mode) and records, for each leaf module in
    the order it runs: its output shape, its own parameter count, its multiply-accumulates
    (MACs; convolutions and linear layers only — the others cost little), and, for layers up to
    the last convolution or pooling, the receptive field: the side of the input patch that one
    output pixel can see.

    Parameters
    ----------
    model : nn.Module
    input_shape : tuple
        One input without the batch dimension, e.g. ``(1, 28, 28)``.
    verbose : bool
        Print the table.

    Returns
    -------
    list of dict
        Keys ``name``, ``layer``, ``output_shape``, ``params``, ``macs``, ``receptive_field``
        (``None`` where it does not apply). One FLOP count is ``2 * macs``.
    """
    rows, hooks = [], []
    jump, field = 1, 1  # distance in input pixels between neighbouring outputs; window side

    def record(name):
        def hook(module, inputs, output):
            nonlocal jump, field
            macs, receptive = 0, None
            if isinstance(module, nn.Conv2d):
                macs = output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
            elif isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
                stride = module.stride if isinstance(module.stride, int) else module.stride[0]
                field, jump = field + (kernel - 1) * jump, jump * stride
            if output.ndim == 4:
                receptive = field
            rows.append({"name": name, "layer": type(module).__name__,
                         "output_shape": tuple(output.shape[1:]),
                         "params": sum(p.numel() for p in module.parameters(recurse=False)),
                         "macs": macs, "receptive_field": receptive})
        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        device = next(model.parameters(), torch.empty(0)).device  # CPU for parameter-free models
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    if verbose:
        print(f"{'layer':<18}{'output shape':>16}{'params':>10}{'MACs':>12}{'RF':>5}")
        for row in rows:
            shape = "x".join(str(s) for s in row["output_shape"])
            field_text = "" if row["receptive_field"] is None else str(row["receptive_field"])
            print(f"{row['name'] + ' ' + row['layer']:<18.18}{shape:>16}{row['params']:>10,}"
                  f"{row['macs']:>12,}{field_text:>5}")
        print(f"{'total':<18}{'':>16}{sum(r['params'] for r in rows):>10,}"
              f"{sum(r['macs'] for r in rows):>12,}")
    return rows
