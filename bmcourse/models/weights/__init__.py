"""The checkpoints shipped inside the package, and the one way to load them.

Each ``.pt`` file here was written by a ``python -m bmcourse train ...`` command, which prints
its SHA-256; the model module that owns it records that hash. A file is loaded only when its
hash matches, and then with ``weights_only=True``: a swapped or damaged file is reported,
never executed.
"""
from __future__ import annotations

from pathlib import Path

from ...files import sha256_of
from ...training.checkpoint import load_checkpoint

__all__ = ["WEIGHTS_DIR", "load_shipped"]

WEIGHTS_DIR = Path(__file__).resolve().parent


def load_shipped(path: Path, sha256: str) -> tuple[dict | None, str]:
    """A shipped checkpoint if it exists and matches its hash, else ``None`` and why not.

    Returns
    -------
    state : dict or None
        The checkpoint, loaded with ``weights_only=True``.
    problem : str
        Empty when ``state`` is not ``None``; otherwise what is wrong, for a message.
    """
    path = Path(path)
    if not path.is_file():
        return None, f"{path} is missing"
    actual = sha256_of(path)
    if actual != sha256:
        return None, f"{path} has SHA-256 {actual[:12]}..., expected {sha256[:12]}..."
    return load_checkpoint(path), ""
