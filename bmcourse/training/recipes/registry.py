"""The named recipes behind ``python -m bmcourse train NAME``.

Each chapter's recipe module registers the function that writes its shipped checkpoint with
``@recipe("name")``. Such a function takes keyword arguments only (``out``, ``device``,
``seed``, ...) and returns ``(path, info)`` where ``info["sha256"]`` is the hash the loading
code must record.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["RECIPES", "recipe"]

RECIPES: dict[str, Callable] = {}


def recipe(name: str):
    """Register the decorated function as ``python -m bmcourse train <name>``."""
    def register(function: Callable) -> Callable:
        if name in RECIPES:
            raise ValueError(f"two recipes are called {name!r}; give one another name.")
        RECIPES[name] = function
        return function
    return register
