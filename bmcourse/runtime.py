"""Where code runs and how long it trains: device choice, seeding, quick mode, ``about()``.

Every notebook starts with the same three questions — which device, which seed, how big a
training budget — and this module answers each one in a single place.

Environment variables
---------------------
BMCOURSE_DEVICE
    Force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``). Unset: the best available one.
BMCOURSE_QUICK
    ``1`` shrinks every training budget so that all notebooks execute in minutes on a laptop
    CPU. The test command sets it; the book is built without it.
"""
from __future__ import annotations

import os
import platform
import random
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


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on: CUDA, then Apple MPS, then CPU.

    Parameters
    ----------
    prefer : str, optional
        An explicit choice (``"cpu"``, ``"cuda"``, ``"mps"``...). Overrides everything.
        Otherwise the environment variable ``BMCOURSE_DEVICE`` is used when set.

    Raises
    ------
    RuntimeError
        If the requested device is not available on this machine.
    """
    name = prefer or os.environ.get("BMCOURSE_DEVICE", "").strip()
    if not name:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise RuntimeError(
            f"Unknown device {name!r}. Use 'cpu', 'cuda', 'cuda:N' or 'mps' "
            "(check BMCOURSE_DEVICE)."
        ) from err
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise RuntimeError(
            f"Device {name!r} was requested but is not available here. "
            "Unset BMCOURSE_DEVICE to let bmcourse choose, or pick 'cpu'."
        )
    return device


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
