"""Tiny data sets made with NumPy, for chapters that train small models by hand.

* :func:`seed_tiny_binary` — the four-example binary classification set of seed 001 §5.2;
* :func:`two_moons` — two interleaving half circles, a 2-D problem no straight line separates.
"""
from __future__ import annotations

import numpy as np

__all__ = ["seed_tiny_binary", "two_moons"]


def seed_tiny_binary() -> tuple[np.ndarray, np.ndarray]:
    """The data set of seed 001 §5.2, exactly as printed there.

    Returns
    -------
    x : numpy.ndarray, shape (4, 2), float64
        ``[[1, 0], [0, 1], [1, 1], [1, 0]]`` — note the first and last rows are the same point.
    y : numpy.ndarray, shape (4,), int64
        ``[0, 1, 1, 0]``: the label equals the second feature.
    """
    x = np.array([[1, 0], [0, 1], [1, 1], [1, 0]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return x, y


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles with Gaussian noise, classes balanced.

    Class 0 is the upper arc ``(cos t, sin t)``, class 1 the lower arc
    ``(1 − cos t, 0.5 − sin t)``, for ``t`` uniform in [0, π].

    Parameters
    ----------
    n : int
        Number of points in all; class 0 gets ``ceil(n / 2)``.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate (non-negative).
    seed : int
        Seed of the NumPy generator; the same seed gives the same points.

    Returns
    -------
    x : numpy.ndarray, shape (n, 2), float64
    y : numpy.ndarray, shape (n,), int64
        Labels 0 and 1, in shuffled order.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer of at least 2 (one point per class), got {n!r}.")
    if not noise >= 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise!r}.")
    rng = np.random.default_rng(seed)
    n0 = (int(n) + 1) // 2
    n1 = int(n) - n0
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, size=(int(n), 2))
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = rng.permutation(int(n))
    return x[order], y[order]
