"""Error rates per group, with the uncertainty their counts leave.

A classifier can be accurate overall and still err more often on some group of inputs.
Measuring that takes three things this module provides:

* :func:`group_error_rates` — for each group, how many of its examples the classifier gets
  wrong, out of how many, as a :class:`Rate` with a Wilson interval (Wilson, 1927);
* :func:`binary_group_rates` — for a yes/no task, the rates that fairness criteria compare:
  prevalence (base rate), selection rate, false-positive and false-negative rates, and the
  precision (positive predictive value) of a "yes";
* :func:`rate_gap` — the largest minus the smallest rate, and their ratio.

A rate from few examples is a rough estimate: 2 errors in 100 is consistent with a true rate
anywhere from about 0.6% to 7%. The interval says so; a gap between two groups whose
intervals overlap widely says little. Which groups to compare, and which rate should be equal
across them, are choices this code cannot make: equal false-positive and false-negative
rates and equal precision cannot all hold when the groups' base rates differ (Chouldechova,
2017; Kleinberg et al., 2017), unless the classifier makes no errors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch

__all__ = ["Rate", "wilson_interval", "group_error_rates", "binary_group_rates", "rate_gap"]


def wilson_interval(events: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``events / trials``.

    Unlike the textbook ``p ± z·sqrt(p(1-p)/n)``, it stays inside ``[0, 1]`` and does not
    shrink to a point when ``events`` is 0 or ``trials``: 0 errors in 100 still allows a
    rate up to about 3.7% (at 95%).

    Parameters
    ----------
    events, trials : int
        ``0 <= events <= trials``.
    confidence : float
        In ``(0, 1)``.

    Returns
    -------
    (low, high) : tuple of float
        ``(0.0, 1.0)`` when ``trials`` is 0: no data, no information.
    """
    events, trials = _count(events, "events"), _count(trials, "trials")
    if events > trials:
        raise ValueError(f"events ({events}) cannot exceed trials ({trials}).")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), e.g. 0.95, got {confidence!r}.")
    if trials == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, n = events / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Exact at the ends (the formula gives them up to rounding).
    return (0.0 if events == 0 else centre - half), (1.0 if events == trials else centre + half)


@dataclass(frozen=True)
class Rate:
    """``events`` out of ``trials``, with a confidence interval ``[low, high]``.

    ``rate`` is ``events / trials`` (``nan`` for no trials) and ``stderr`` its binomial
    standard error ``sqrt(p (1 - p) / n)``.
    """
    events: int
    trials: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.events / self.trials if self.trials else math.nan

    @property
    def stderr(self) -> float:
        p = self.rate
        return math.sqrt(p * (1 - p) / self.trials) if self.trials else math.nan

    def __str__(self) -> str:
        return (f"{self.rate:.1%} ({self.events}/{self.trials}, "
                f"{self.low:.1%}–{self.high:.1%})")


def _rate(events, trials, confidence) -> Rate:
    events, trials = int(events), int(trials)
    return Rate(events, trials, *wilson_interval(events, trials, confidence))


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}.")
    return int(value)


def _as_labels(values, name: str) -> np.ndarray:
    array = values.detach().cpu().numpy() if torch.is_tensor(values) else np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one label per example, shape (N,), got {array.shape}. "
                         "Pass predicted labels (scores.argmax(1)), not scores.")
    return array


def _check(y_true, y_pred, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    groups = _as_labels(groups, "groups")
    if not len(y_true) == len(y_pred) == len(groups):
        raise ValueError(f"y_true, y_pred and groups must have one entry per example; got "
                         f"{len(y_true)}, {len(y_pred)} and {len(groups)}.")
    if len(y_true) == 0:
        raise ValueError("No examples: pass at least one.")
    return y_true, y_pred, groups


def _group_names(groups: np.ndarray) -> list:
    """The distinct groups in the order they first appear (the caller's order)."""
    return list(dict.fromkeys(groups.tolist()))


def group_error_rates(y_true, y_pred, groups, confidence: float = 0.95) -> dict:
    """The fraction of each group's examples that the classifier gets wrong.

    Parameters
    ----------
    y_true, y_pred : tensor or array, shape (N,)
        True and predicted labels.
    groups : sequence, tensor or array, shape (N,)
        Each example's group (any hashable label: ints, strings).
    confidence : float
        Of the Wilson intervals.

    Returns
    -------
    dict
        ``{group: Rate}`` in the order the groups first appear; ``Rate.events`` is the
        number of errors, ``Rate.trials`` the group's size.

    Examples
    --------
    >>> rates = group_error_rates([0, 1, 1, 0], [0, 1, 0, 0], ["a", "a", "b", "b"])
    >>> rates["b"].events, rates["b"].trials
    (1, 2)
    """
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    wrong = y_true != y_pred
    return {g: _rate(wrong[groups == g].sum(), (groups == g).sum(), confidence)
            for g in _group_names(groups)}


def binary_group_rates(y_true, y_pred, groups, confidence: float = 0.95) -> dict:
    """The rates of a yes/no classifier that fairness criteria compare, per group.

    Parameters
    ----------
    y_true, y_pred : tensor or array of bool or 0/1, shape (N,)
        True and predicted answers (1 = yes, positive).
    groups : sequence, tensor or array, shape (N,)
    confidence : float

    Returns
    -------
    dict
        ``{group: {name: Rate}}`` with names

        * ``"prevalence"`` — true yeses among all (the base rate);
        * ``"selection"`` — predicted yeses among all (equal across groups: demographic
          parity);
        * ``"fpr"`` — false positives among the true noes;
        * ``"fnr"`` — false negatives among the true yeses (equal FPR and FNR: equalised
          odds, Hardt et al., 2016);
        * ``"ppv"`` — true yeses among the predicted yeses (precision; equal across groups:
          predictive parity).
    """
    y_true, y_pred, groups = _check(y_true, y_pred, groups)
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isin(values, (0, 1)).all():
            raise ValueError(f"{name} must hold yes/no answers (bool or 0/1) for a binary task; "
                             f"found {sorted(set(values.tolist()) - {0, 1})[:5]}. For a "
                             "class c of a multi-class task pass (labels == c).")
    y_true, y_pred = y_true.astype(bool), y_pred.astype(bool)
    rates = {}
    for g in _group_names(groups):
        t, p = y_true[groups == g], y_pred[groups == g]
        rates[g] = {
            "prevalence": _rate(t.sum(), len(t), confidence),
            "selection": _rate(p.sum(), len(p), confidence),
            "fpr": _rate((p & ~t).sum(), (~t).sum(), confidence),
            "fnr": _rate((~p & t).sum(), t.sum(), confidence),
            "ppv": _rate((p & t).sum(), p.sum(), confidence),
        }
    return rates


def rate_gap(rates: dict) -> dict:
    """How far apart the groups' rates are.

    Parameters
    ----------
    rates : dict
        ``{group: Rate}``, e.g. from :func:`group_error_rates`, or
        ``{g: r["fpr"] for g, r in binary_group_rates(...).items()}``. Groups without
        trials are skipped.

    Returns
    -------
    dict
        ``difference`` (highest minus lowest rate), ``ratio`` (highest over lowest; ``inf``
        when only the lowest is 0, ``nan`` when both are), ``highest`` and ``lowest``
        (their groups).
    """
    if not isinstance(rates, dict) or not all(isinstance(r, Rate) for r in rates.values()):
        raise TypeError("rates must be a dict {group: Rate}, e.g. from group_error_rates; for "
                        "binary_group_rates pick one rate: {g: r['fpr'] for g, r in ...}.")
    measured = {g: r.rate for g, r in rates.items() if r.trials > 0}
    if not measured:
        raise ValueError("No group has any examples: nothing to compare.")
    highest, lowest = max(measured, key=measured.get), min(measured, key=measured.get)
    hi, lo = measured[highest], measured[lowest]
    ratio = hi / lo if lo > 0 else (math.inf if hi > 0 else math.nan)
    return {"difference": hi - lo, "ratio": ratio, "highest": highest, "lowest": lowest}
