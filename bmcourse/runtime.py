"""Where code runs and how long it trains: device choice, seeding, quick mode, ``about()``.

Every notebook starts with the same three questions — which device, which seed, how big a
training budget — and this module answers each one in a single place.

Environment variables
---------------------
BMCOURSE_DEVICE
    Force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``; any case). Unset: the best
    available one. Any other name is an error, not silently ignored.
BMCOURSE_QUICK
    ``1`` shrinks every training budget so that all notebooks execute in minutes on a laptop
    CPU. The test command sets it; the book is built without it. See :func:`env_flag` for the
    accepted spellings; any other value is an error.
"""
from __future__ import annotations

import os
import platform
import random
import re
import sys

import numpy as np
import torch

__all__ = ["get_device", "seed_everything", "is_quick", "budget", "about", "env_flag"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """Read an on/off environment variable such as ``BMCOURSE_QUICK``.

    ``1``, ``true``, ``yes``, ``on`` mean on and ``0``, ``false``, ``no``, ``off`` or unset mean
    off, in any case and with surrounding spaces ignored.

    Raises
    ------
    ValueError
        For any other value, naming the variable and the spellings it accepts, rather than
        silently treating a typo as "off".
    """
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is neither on nor off. Set it to 1 (or true, "
                     f"yes, on) to turn it on, or to 0 (or false, no, off) or unset it to turn it off.")


_DEVICE_NAME = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")
_VALID_DEVICES = "'cpu', 'cuda', 'cuda:N' (N counts from 0) or 'mps'"


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CUDA, then Apple MPS, then CPU.

    Parameters
    ----------
    prefer : str or torch.device, optional
        An explicit choice: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``, in any case and
        with surrounding spaces ignored. Overrides everything. Otherwise the environment
        variable ``BMCOURSE_DEVICE`` is used when set (same spellings).

    Raises
    ------
    RuntimeError
        If the name is not one of those ("Unknown device", listing the valid names and where
        the name came from), or if that device is not available on this machine ("not
        available"; for ``cuda:N``, when the machine has N or fewer GPUs).
    """
    if prefer is not None and str(prefer).strip():
        name = str(prefer)
        source, fix = f"get_device({name!r})", "pass {}, or nothing to let bmcourse choose"
    else:
        name = os.environ.get("BMCOURSE_DEVICE", "")
        source = f"BMCOURSE_DEVICE={name!r}"
        fix = "set BMCOURSE_DEVICE to {}, or unset it to let bmcourse choose"
    if not name.strip():
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    # Our own short list rather than torch.device(): torch accepts names such as "meta" or
    # "xpu" that cannot run the course, and its errors do not say where the name came from.
    match = _DEVICE_NAME.fullmatch(name.strip().lower())
    kind = match[1] if match else None
    index = int(match[2]) if match and match[2] is not None else None
    # "mps:0" and "cpu:0" are what tensors there report as their device, so they must round-trip.
    if kind is None or (kind != "cuda" and index not in (None, 0)):
        raise RuntimeError(f"Unknown device in {source}. The devices are {_VALID_DEVICES}: "
                           f"{fix.format('one of them')}.")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}[kind]
    if not available:
        raise RuntimeError(f"{source} asks for {kind}, which is not available here: "
                           f"{fix.format(repr('cpu'))}.")
    if kind == "cuda" and index is not None and index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise RuntimeError(f"{source} asks for GPU {index}, which is not available here: this "
                           f"machine has {count} CUDA device{'s' if count != 1 else ''} "
                           f"(cuda:0 to cuda:{count - 1}); {fix.format(repr('cuda') + ' or one of those')}.")
    return torch.device(kind, index)


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a seeded CPU generator.

    The returned generator is handy for code that needs its own reproducible stream
    (shuffling, noise) independent of other library calls.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


def is_quick() -> bool:
    """True when ``BMCOURSE_QUICK`` asks for small training budgets (tests, CI)."""
    return env_flag("BMCOURSE_QUICK")


def budget(full, quick):
    """Pick a training budget: ``quick`` in quick mode, else ``full``.

    Examples
    --------
    >>> epochs = budget(full=10, quick=1)
    """
    return quick if is_quick() else full


def about(file=None) -> dict:
    """Print (and return) versions, the device, CPU threads and the data sources in use."""
    from . import __version__
    from .data import data_sources

    device = get_device()
    info = {
        "bmcourse": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "cpu threads": torch.get_num_threads(),
        "quick mode": is_quick(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    for name, source in data_sources().items():
        info[f"data: {name}"] = source
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}", file=file or sys.stdout)
    return info
