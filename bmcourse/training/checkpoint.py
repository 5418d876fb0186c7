"""Checkpoints: everything a training run needs to continue as if it had never stopped.

A checkpoint is a plain dict of tensors, numbers, strings and state dicts, written atomically
(:func:`bmcourse.files.atomic_write`) and read back with ``torch.load(weights_only=True)``,
which refuses to unpickle arbitrary objects: a checkpoint from elsewhere cannot run code.

Bit-identical resumption needs more than weights and optimizer state. Every source of
randomness the run draws from is saved too: the loop's own generator (shuffling and
augmentation), PyTorch's global CPU generator (dropout, weight init) and, where present, the
CUDA and MPS generators; and so is the ``GradScaler``'s loss scale in float16 training.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..files import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state"]


def save_checkpoint(path: str | os.PathLike, **state) -> Path:
    """Save a dict of tensors, state dicts and plain values atomically (temp file, then rename).

    Examples
    --------
    >>> save_checkpoint("run.pt", model=model.state_dict(), epoch=3)   # doctest: +SKIP
    """
    path = Path(path)
    with atomic_write(path) as handle:
        torch.save(state, handle)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, safely (``weights_only=True``).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a checkpoint that loads without running code (corrupt, truncated, or
        holding arbitrary Python objects).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first, or check the path.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ValueError(f"Checkpoint {path} could not be read ({err}). It may be corrupt or from "
                         "another program: delete it to start training afresh.") from err


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The state of every random generator a training run draws from, as tensors.

    Parameters
    ----------
    generator : torch.Generator, optional
        The loop's own generator (shuffling, augmentation).

    Returns
    -------
    dict
        ``torch`` (global CPU), and where present ``generator``, ``cuda`` (one per device) and
        ``mps``: byte tensors that :func:`set_rng_state` puts back.
    """
    state = {"torch": torch.get_rng_state()}
    if generator is not None:
        state["generator"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Put back the generator states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if "mps" in state and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"].cpu())
