"""One supervised training loop for every model in the course.

``fit`` trains a model for a number of epochs, evaluates it after each one, records a history,
and can save a checkpoint after every epoch so that an interrupted run resumes where it stopped.
On a CUDA device it trains in mixed precision (bfloat16 where supported, else float16 with loss
scaling); on CPU and MPS it trains in float32.

Data is either a pair of tensors ``(x, y)`` — moved to the device once and shuffled there every
epoch, which is much faster than a DataLoader for data that fits in memory — or any iterable of
``(x, y)`` batches, such as a ``torch.utils.data.DataLoader``.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .files import atomic_write
from .progress import WIDGETS, tqdm
from .runtime import get_device

__all__ = ["fit", "evaluate", "predict", "count_parameters", "History",
           "save_checkpoint", "load_checkpoint"]

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


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---------------------------------------------------------------------------- data handling

def _check_pair(data, name: str):
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(torch.is_tensor(t) for t in data)):
        return None
    x, y = data
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}; they must match.")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: pass at least one sample.")
    return x, y


def _batches(data, batch_size: int, device: torch.device, shuffle: bool,
             generator: torch.Generator | None, name: str) -> Iterable:
    """Yield ``(x, y)`` batches on ``device`` from a tensor pair or an iterable of batches."""
    pair = _check_pair(data, name)
    if pair is None:
        for x, y in data:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return
    x, y = pair
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    order = order.to(x.device)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield x.index_select(0, index).to(device, non_blocking=True), y.index_select(0, index).to(device, non_blocking=True)


def _num_batches(data, batch_size: int) -> int | None:
    pair = _check_pair(data, "data")
    if pair is not None:
        return math.ceil(len(pair[0]) / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def _is_classification(outputs: torch.Tensor, targets: torch.Tensor) -> bool:
    return outputs.ndim == 2 and outputs.shape[1] > 1 and targets.ndim == 1 and not targets.is_floating_point()


# ---------------------------------------------------------------------------- precision

def _autocast(device: torch.device, amp: bool):
    if not amp:
        return torch.autocast(device.type, enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _resolve_amp(amp: bool | None, device: torch.device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, but training runs on {device}. "
                         "Leave amp=None to enable it automatically on CUDA.")
    return amp


# ---------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: nn.Module, data, loss_fn: Callable = F.cross_entropy, batch_size: int = 512,
             device: torch.device | str | None = None) -> dict:
    """Mean loss and accuracy of ``model`` on ``data`` (model put in eval mode, then restored).

    Returns
    -------
    dict
        ``{"loss": float, "acc": float}``; ``acc`` is ``nan`` when outputs are not class scores.
    """
    device = torch.device(device) if device else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, count, classification = 0.0, 0, 0, True
    for x, y in _batches(data, batch_size, device, shuffle=False, generator=None, name="evaluation data"):
        outputs = model(x)
        total_loss += loss_fn(outputs.float(), y).item() * len(x)
        count += len(x)
        classification = classification and _is_classification(outputs, y)
        if classification:
            correct += (outputs.argmax(dim=1) == y).sum().item()
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluation data is empty: pass at least one batch.")
    return {"loss": total_loss / count, "acc": correct / count if classification else math.nan}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Model outputs for ``x`` (any leading batch size), computed in eval mode, returned on the CPU."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = [model(x[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outputs)


# ---------------------------------------------------------------------------- checkpoints

def save_checkpoint(path: str | os.PathLike, **state) -> Path:
    """Save a dict of tensors, state dicts and plain values atomically (temp file, then rename)."""
    path = Path(path)
    with atomic_write(path) as handle:
        torch.save(state, handle)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, safely (``weights_only=True``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first, or check the path.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"Checkpoint {path} could not be read ({err}). It may be corrupt or from "
                         "another program: delete it to start training afresh.") from err


# ---------------------------------------------------------------------------- the loop

def fit(model: nn.Module, train, *, epochs: int, val=None, optimizer: torch.optim.Optimizer | None = None,
        loss_fn: Callable = F.cross_entropy, batch_size: int = 64, scheduler=None,
        scheduler_interval: str = "epoch", device: torch.device | str | None = None,
        amp: bool | None = None, checkpoint: str | os.PathLike | None = None, resume: bool = False,
        progress: bool = True, seed: int = 0, on_epoch_end: Callable | None = None) -> History:
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
    scheduler : learning-rate scheduler, optional
        Stepped after every epoch, or after every batch with ``scheduler_interval="batch"``
        (what ``OneCycleLR`` needs).
    device : optional
        Defaults to :func:`bmcourse.get_device` (CUDA, then MPS, then CPU).
    amp : bool, optional
        Mixed precision. ``None`` (default) turns it on for CUDA only.
    checkpoint : path, optional
        Where to save model, optimizer, scheduler, history and random state after every epoch
        (atomically). With ``resume=True`` an existing checkpoint is loaded first and training
        continues from the next epoch, reproducing the uninterrupted run.
    seed : int
        Seeds the shuffling order (and, on a fresh start, PyTorch's global generator, which
        dropout uses).
    on_epoch_end : callable, optional
        Called as ``on_epoch_end(epoch, history)`` after each epoch's checkpoint is written.

    Returns
    -------
    History
    """
    if epochs < 1 or int(epochs) != epochs:
        raise ValueError(f"epochs must be a positive whole number, got {epochs!r}.")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from.")
    device = get_device(str(device)) if device is not None else get_device()
    amp = _resolve_amp(amp, device)
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    # float16 needs loss scaling to keep small gradients from underflowing; bfloat16 does not
    scaler = torch.amp.GradScaler("cuda", enabled=amp and not torch.cuda.is_bf16_supported())
    shuffle_generator = torch.Generator().manual_seed(seed)
    history, first_epoch = History(), 1

    if resume and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        history = History(state["history"])
        first_epoch = state["epoch"] + 1
        shuffle_generator.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
    else:
        torch.manual_seed(seed)

    steps = _num_batches(train, batch_size)
    for epoch in range(first_epoch, epochs + 1):
        start = time.perf_counter()
        model.train()
        total_loss, correct, count, classification = 0.0, 0, 0, True
        batches = _batches(train, batch_size, device, shuffle=True, generator=shuffle_generator, name="train")
        # A text bar in a notebook (no ipywidgets) or a log would store every refresh as a line:
        # there tqdm's disable=None turns it off, leaving the one summary line per epoch.
        bar = tqdm(batches, total=steps, desc=f"epoch {epoch}/{epochs}", leave=False,
                   disable=True if not progress else (False if WIDGETS else None))
        for x, y in bar:
            with _autocast(device, amp):
                outputs = model(x)
                loss = loss_fn(outputs, y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The loss became {loss.item()} in epoch {epoch}. Lower the "
                                         "learning rate, or check the inputs for NaN values.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()
            total_loss += loss.item() * len(x)
            count += len(x)
            classification = classification and _is_classification(outputs, y)
            if classification:
                correct += (outputs.argmax(dim=1) == y).sum().item()
            bar.set_postfix(loss=f"{total_loss / count:.4f}")
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
                         history=dict(history), shuffle_rng=shuffle_generator.get_state(),
                         torch_rng=torch.get_rng_state())
            if scheduler is not None:
                state["scheduler"] = scheduler.state_dict()
            save_checkpoint(checkpoint, **state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
    return history
