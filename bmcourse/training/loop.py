"""One supervised training loop for every model in the course.

``fit`` trains a model for a number of epochs, evaluates it after each one, records a history,
and can save a checkpoint after every epoch so that an interrupted run — even one killed
outright — resumes to exactly the weights an uninterrupted run would have reached.
On a CUDA device it trains in mixed precision (bfloat16 where supported, else float16 with loss
scaling); on CPU and MPS it trains in float32.

Data is either a pair of tensors ``(x, y)`` — moved to the device once and shuffled there every
epoch (:mod:`bmcourse.data.batches`), which is much faster than a DataLoader for data that fits
in memory — or any iterable of ``(x, y)`` batches, such as a ``torch.utils.data.DataLoader``.

What happens to one batch is :func:`train_step`; a variant of training (another way of
computing the update) passes its own ``step`` to ``fit`` instead of copying the loop.
"""
from __future__ import annotations

import itertools
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import check_batch_size, check_pair, num_batches, tensor_batches
from ..progress import WIDGETS, tqdm
from ..runtime import get_device
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state

__all__ = ["fit", "evaluate", "predict", "train_step", "optimizer_step", "autocast_for",
           "History"]

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class History(dict):
    """Per-epoch records of a training run: a dict of equally long lists.

    Keys: ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr`` and
    ``seconds`` (wall time of the epoch, training and evaluation). Accuracies are ``nan`` when
    the task is not classification, validation values ``nan`` when there is no validation data.
    """

    def __init__(self, records: dict | None = None):
        super().__init__({key: list((records or {}).get(key, [])) for key in HISTORY_KEYS})

    def append(self, **values) -> None:
        for key in HISTORY_KEYS:
            self[key].append(values.get(key, math.nan))

    def last(self, key: str) -> float:
        return self[key][-1]

    def __repr__(self) -> str:
        if not self["epoch"]:
            return "History(empty)"
        rows = ["epoch  train_loss  train_acc  val_loss  val_acc  seconds"]
        for i in range(len(self["epoch"])):
            rows.append(f"{self['epoch'][i]:>5}  {self['train_loss'][i]:>10.4f}  {self['train_acc'][i]:>9.4f}"
                        f"  {self['val_loss'][i]:>8.4f}  {self['val_acc'][i]:>7.4f}  {self['seconds'][i]:>7.1f}")
        return "\n".join(rows)


# ---------------------------------------------------------------------------- data and devices

def _batches(data, batch_size: int, device: torch.device, shuffle: bool,
             generator: torch.Generator | None, name: str, augment=None):
    """``(x, y)`` batches on ``device`` from a tensor pair, a batch source or an iterable.

    A *batch source* is any object with a ``batches(batch_size, generator, device)`` method
    (the language-model chapter's random windows are one): it draws from the loop's generator,
    which the checkpoints save, so it resumes exactly; with ``generator=None`` it should yield a
    fixed, finite pass for evaluation.
    """
    pair = check_pair(data, name)
    if pair is not None:
        yield from tensor_batches(*pair, batch_size, shuffle=shuffle, generator=generator,
                                  augment=augment, device=device)
        return
    if augment is not None:
        raise ValueError("augment= works with a (x, y) pair of tensors; a DataLoader applies "
                         "its own transforms.")
    if hasattr(data, "batches"):
        yield from data.batches(batch_size, generator if shuffle else None, device)
        return
    try:
        iterator = iter(data)
    except TypeError:
        raise TypeError(f"{name} must be a pair of tensors (x, y), a batch source or an iterable "
                        f"of (x, y) batches such as a DataLoader, got {type(data).__name__}.") from None
    for batch in iterator:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise ValueError(f"every batch of {name} must be an (x, y) pair, got "
                             f"{type(batch).__name__}.")
        x, y = batch
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _model_device(model: nn.Module, device) -> torch.device:
    """``device`` if given, else where the model's parameters (or buffers) live, else the CPU."""
    if device is not None:
        return torch.device(device)
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")  # a model without parameters, e.g. nn.Flatten()


def _is_classification(outputs: torch.Tensor, targets: torch.Tensor) -> bool:
    return outputs.ndim == 2 and outputs.shape[1] > 1 and targets.ndim == 1 and not targets.is_floating_point()


# ---------------------------------------------------------------------------- precision

def autocast_for(device: torch.device, amp: bool):
    """The autocast context ``fit`` trains under: bf16 on the CPU, bf16 or fp16 on CUDA, or off."""
    if not amp:
        return torch.autocast(device.type, enabled=False)
    if device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _grad_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    # float16 needs loss scaling to keep small gradients from underflowing; bfloat16 does not
    float16 = amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler("cuda", enabled=float16)


def _resolve_amp(amp: bool | None, device: torch.device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type not in ("cuda", "cpu"):
        raise ValueError(f"amp=True works on CUDA (float16 or bfloat16) and on the CPU "
                         f"(bfloat16), but training runs on {device}. Pass amp=False.")
    return bool(amp)


# ---------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: nn.Module, data, loss_fn: Callable = F.cross_entropy, batch_size: int = 512,
             device: torch.device | str | None = None) -> dict:
    """Mean loss and accuracy of ``model`` on ``data`` (model put in eval mode, then restored).

    Parameters
    ----------
    model : nn.Module
    data : tuple of tensors or iterable of batches
        ``(x, y)``, or an iterable of ``(x, y)`` batches such as a ``DataLoader``.
    loss_fn : callable
        ``loss_fn(outputs, targets)``, a mean over the batch.
    batch_size : int
    device : optional
        Where to compute; default: where the model's parameters are.

    Returns
    -------
    dict
        ``{"loss": float, "acc": float}``; ``acc`` is ``nan`` when outputs are not class scores.
    """
    check_batch_size(batch_size)
    device = _model_device(model, device)
    was_training = model.training
    model.eval()
    total_loss, correct, count, classification = 0.0, 0, 0, True
    try:
        for x, y in _batches(data, batch_size, device, shuffle=False, generator=None,
                             name="evaluation data"):
            outputs = model(x)
            total_loss += loss_fn(outputs.float(), y).item() * len(x)
            count += len(x)
            classification = classification and _is_classification(outputs, y)
            if classification:
                correct += (outputs.argmax(dim=1) == y).sum().item()
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluation data is empty: pass at least one batch.")
    return {"loss": total_loss / count, "acc": correct / count if classification else math.nan}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Model outputs for ``x``, computed in eval mode in batches, returned on the CPU.

    Parameters
    ----------
    model : nn.Module
    x : tensor, (N, ...)
        At least one sample.
    batch_size : int

    Returns
    -------
    torch.Tensor
        ``(N, ...)`` float outputs on the CPU.
    """
    if not torch.is_tensor(x):
        raise TypeError(f"predict needs a tensor of inputs, got {type(x).__name__}; convert with "
                        "torch.as_tensor(x, dtype=torch.float32).")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"predict got no samples (x has shape {tuple(x.shape)}); pass at least "
                         "one, with the batch as the first dimension.")
    check_batch_size(batch_size)
    device = _model_device(model, None)
    was_training = model.training
    model.eval()
    try:
        outputs = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outputs)


# ---------------------------------------------------------------------------- one step

def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss_fn: Callable,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               autocast, clip_grad_norm: float | None = None, accumulate: int = 1,
               update: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step on one batch: forward under ``autocast``, backward, and an update.

    With gradient accumulation, a batch is one of ``accumulate`` micro-batches: its loss is
    divided by ``accumulate`` so that the summed gradients equal those of the mean loss over
    all of them, and the weights change only on the last one (``update=True``).

    Parameters
    ----------
    model : nn.Module
        In training mode.
    x, y : tensor
        One batch, on the model's device.
    loss_fn : callable
        ``loss_fn(outputs, y)``, a mean over the batch.
    optimizer : torch.optim.Optimizer
        Its gradients are zero (or ``None``) when a group of micro-batches starts.
    scaler : torch.amp.GradScaler
        Scales the loss in float16 training (disabled, it passes everything through).
    autocast : context manager
        Mixed precision for the forward pass, or a disabled one.
    clip_grad_norm : float, optional
        Rescale the gradients so that their global L2 norm is at most this (computed on the
        unscaled gradients), which keeps one bad batch from throwing training off.
    accumulate : int
        Micro-batches per update.
    update : bool
        Update the weights after this batch (the last micro-batch of a group).

    Returns
    -------
    loss : torch.Tensor
        The batch's loss (not divided by ``accumulate``), a detached scalar.
    outputs : torch.Tensor
        The model's outputs, detached (for accuracy).

    Raises
    ------
    FloatingPointError
        When the loss is not finite, before it can spoil the weights.
    """
    with autocast:
        outputs = model(x)
        loss = loss_fn(outputs, y)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"The loss became {loss.item()}. Lower the learning rate, or "
                                 "check the inputs for NaN values.")
    scaler.scale(loss / accumulate).backward()
    if update:
        optimizer_step(model, optimizer, scaler, clip_grad_norm)
    return loss.detach(), outputs.detach()


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, clip_grad_norm: float | None = None) -> None:
    """Apply the gradients accumulated so far (clipped, unscaled), then clear them."""
    if clip_grad_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------- the loop

def _check_fit_arguments(epochs, batch_size, scheduler_interval, checkpoint, resume, overwrite,
                         steps_per_epoch, clip_grad_norm, accumulate):
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(f"accumulate must be a whole number >= 1 (micro-batches per update), "
                         f"got {accumulate!r}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive whole number (an int), got {epochs!r}.")
    if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool)
                                        or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1):
        raise ValueError(f"steps_per_epoch must be None or a whole number >= 1, got {steps_per_epoch!r}.")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"clip_grad_norm must be None or a positive number, got {clip_grad_norm!r}.")
    check_batch_size(batch_size)
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from.")
    if checkpoint is not None and not resume and not overwrite and Path(checkpoint).exists():
        raise FileExistsError(f"A checkpoint already exists at {checkpoint}. Pass resume=True to "
                              "continue that run, or overwrite=True to start afresh and replace it.")


def fit(model: nn.Module, train, *, epochs: int, val=None, optimizer: torch.optim.Optimizer | None = None,
        loss_fn: Callable = F.cross_entropy, batch_size: int = 64, scheduler=None,
        scheduler_interval: str = "epoch", device: torch.device | str | None = None,
        amp: bool | None = None, augment: Callable | None = None,
        steps_per_epoch: int | None = None, clip_grad_norm: float | None = None,
        accumulate: int = 1,
        checkpoint: str | os.PathLike | None = None, resume: bool = False, overwrite: bool = False,
        progress: bool = True, seed: int = 0, on_epoch_end: Callable | None = None,
        step: Callable = train_step) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; evaluate on ``val`` after each.

    Parameters
    ----------
    model : nn.Module
        Moved to ``device``. Its outputs and the targets go to ``loss_fn(outputs, targets)``.
    train, val : tuple of tensors or iterable of batches
        ``(x, y)`` with ``x`` of shape ``(N, ...)`` and ``y`` of shape ``(N, ...)``, or an
        iterable of such batches (a ``DataLoader``). ``val`` is optional.
    epochs : int
        Total number of epochs, counting those already done when resuming.
    optimizer : torch.optim.Optimizer, optional
        Defaults to ``Adam(model.parameters(), lr=1e-3)``.
    loss_fn : callable
        ``loss_fn(outputs, targets)``; also scores ``val`` (under ``torch.no_grad``).
    batch_size : int
        Samples per batch for a tensor pair (a DataLoader brings its own).
    scheduler : learning-rate scheduler, optional
        Stepped after every epoch, or after every batch with ``scheduler_interval="batch"``
        (what ``OneCycleLR`` needs).
    device : optional
        Defaults to :func:`bmcourse.get_device` (CUDA, then MPS, then CPU).
    amp : bool, optional
        Mixed precision: float16 with loss scaling or bfloat16 on CUDA, bfloat16 on the CPU.
        ``None`` (default) turns it on for CUDA only (``amp=True`` opts in on a CPU with fast
        bfloat16, such as one with AVX-512 BF16 or AMX).
    augment : callable, optional
        ``augment(x_batch, generator)`` returns an augmented training batch, e.g.
        :func:`bmcourse.data.augment.shift_augment`. Its randomness must come from
        ``generator`` (checkpointed with the run). Tensor pairs only.
    steps_per_epoch : int, optional
        End each epoch after this many batches: an iteration budget of
        ``epochs * steps_per_epoch`` steps, evaluated every ``steps_per_epoch``. Needed for a
        batch source that never runs out, such as random windows of a text.
    clip_grad_norm : float, optional
        Clip the global gradient norm to this value at every update (see :func:`train_step`).
    accumulate : int
        Gradient accumulation: update the weights once every ``accumulate`` batches, with the
        mean gradient over them — the update of one batch ``accumulate`` times larger, in the
        memory of one small batch (exactly so for models without batch norm, whose statistics
        see only the micro-batch). A batch-interval scheduler steps once per update; an epoch
        that ends mid-group updates with what it has.
    checkpoint : path, optional
        Where to save model, optimizer, scheduler, loss scaler, history and every random
        generator's state after each epoch (atomically).
    resume : bool
        Load ``checkpoint`` first, if it exists, and continue from the epoch after it: a run
        killed at any point and resumed ends with the same weights, bit for bit on the CPU,
        as one that was never interrupted.
    overwrite : bool
        Allow replacing an existing ``checkpoint`` when not resuming (refused otherwise, so
        that a finished run is never lost by accident).
    seed : int
        Seeds the shuffling order and augmentation and, on a fresh start, PyTorch's global
        generator (which dropout uses).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, history)`` after each epoch's checkpoint is written.
    step : callable
        What happens to one batch: :func:`train_step` (the default) or a variant with the same
        signature.

    Returns
    -------
    History

    Examples
    --------
    >>> x, y = torch.randn(256, 2), torch.randint(0, 2, (256,))
    >>> history = fit(torch.nn.Linear(2, 2), (x, y), epochs=2, progress=False, device="cpu")
    >>> history["epoch"]
    [1, 2]
    """
    _check_fit_arguments(epochs, batch_size, scheduler_interval, checkpoint, resume, overwrite,
                         steps_per_epoch, clip_grad_norm, accumulate)
    device = get_device(str(device)) if device is not None else get_device()
    amp = _resolve_amp(amp, device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = _grad_scaler(device, amp)
    generator = torch.Generator().manual_seed(seed)
    history, first_epoch = History(), 1

    if resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        history = History(state["history"])
        first_epoch = state["epoch"] + 1
        set_rng_state(state["rng"], generator)
    else:
        torch.manual_seed(seed)

    steps = num_batches(train, batch_size)
    if steps_per_epoch is not None:
        steps = min(steps, steps_per_epoch) if steps is not None else steps_per_epoch
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        model.train()
        total_loss, correct, count, classification = 0.0, 0, 0, True
        batches = _batches(train, batch_size, device, shuffle=True, generator=generator,
                           name="train", augment=augment)
        if steps_per_epoch is not None:
            batches = itertools.islice(batches, steps_per_epoch)
        # A text bar in a notebook (no ipywidgets) or a log would store every refresh as a line:
        # there tqdm's disable=None turns it off, leaving the one summary line per epoch.
        bar = tqdm(batches, total=steps, desc=f"epoch {epoch}/{epochs}", leave=False,
                   disable=True if not progress else (False if WIDGETS else None))
        optimizer.zero_grad(set_to_none=True)
        pending = 0  # micro-batches whose gradients have not been applied yet
        for x, y in bar:
            pending += 1
            update = pending == accumulate
            loss, outputs = step(model, x, y, loss_fn=loss_fn, optimizer=optimizer, scaler=scaler,
                                 autocast=autocast_for(device, amp), clip_grad_norm=clip_grad_norm,
                                 accumulate=accumulate, update=update)
            if update:
                pending = 0
                if scheduler is not None and scheduler_interval == "batch":
                    scheduler.step()
            total_loss += loss.item() * len(x)
            count += len(x)
            classification = classification and _is_classification(outputs, y)
            if classification:
                correct += (outputs.argmax(dim=1) == y).sum().item()
            bar.set_postfix(loss=f"{total_loss / count:.4f}")
        if pending:
            optimizer_step(model, optimizer, scaler, clip_grad_norm)
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()
        if count == 0:
            raise ValueError("The training data yielded no batches: check that the dataset or "
                             "DataLoader is not empty (and that a DataLoader with drop_last=True "
                             "has at least batch_size samples).")
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        val_metrics = evaluate(model, val, loss_fn, device=device) if val is not None else {}
        history.append(epoch=epoch, train_loss=total_loss / count,
                       train_acc=correct / count if classification else math.nan,
                       val_loss=val_metrics.get("loss", math.nan), val_acc=val_metrics.get("acc", math.nan),
                       lr=lr, seconds=time.perf_counter() - start)
        if progress:
            message = f"epoch {epoch}/{epochs}  train loss {history.last('train_loss'):.4f}"
            if val is not None:
                message += f"  val loss {history.last('val_loss'):.4f}"
                if not math.isnan(history.last("val_acc")):
                    message += f"  val acc {history.last('val_acc'):.2%}"
            tqdm.write(message)
        if checkpoint is not None:
            state = dict(model=model.state_dict(), optimizer=optimizer.state_dict(), epoch=epoch,
                         history=dict(history), rng=rng_state(generator))
            if scheduler is not None:
                state["scheduler"] = scheduler.state_dict()
            if scaler.is_enabled():
                state["scaler"] = scaler.state_dict()
            save_checkpoint(checkpoint, **state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
