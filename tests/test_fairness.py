"""Per-group rates: hand-made cases with known answers, Wilson against SciPy, bad input."""
import math

import numpy as np
import pytest
import torch

from bmcourse.fairness import (Rate, binary_group_rates, group_error_rates, rate_gap,
                               wilson_interval)


def test_wilson_interval_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for events, trials in [(0, 10), (2, 100), (12, 1000), (7, 7), (3, 9)]:
        for confidence in (0.9, 0.95):
            expected = stats.binomtest(events, trials).proportion_ci(confidence, method="wilson")
            low, high = wilson_interval(events, trials, confidence)
            assert low == pytest.approx(expected.low, abs=1e-12)
            assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_interval_closed_form_with_no_events():
    # With 0 events the upper end is z^2 / (n + z^2).
    z = 1.959963984540054
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z * z / (10 + z * z), rel=1e-12))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_group_error_rates_count_each_group():
    y_true = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    y_pred = torch.tensor([0, 1, 2, 0, 4, 5, 0, 0, 8, 9])  # wrong at 3, 6, 7
    groups = ["b", "b", "b", "b", "a", "a", "a", "a", "a", "a"]
    rates = group_error_rates(y_true, y_pred, groups)
    assert list(rates) == ["b", "a"]  # order of first appearance
    assert (rates["b"].events, rates["b"].trials) == (1, 4)
    assert (rates["a"].events, rates["a"].trials) == (2, 6)
    assert rates["a"].rate == pytest.approx(1 / 3)
    assert rates["a"].stderr == pytest.approx(math.sqrt(1 / 3 * 2 / 3 / 6))
    assert (rates["a"].low, rates["a"].high) == wilson_interval(2, 6)
    gap = rate_gap(rates)
    assert gap["difference"] == pytest.approx(1 / 3 - 1 / 4)
    assert gap["ratio"] == pytest.approx(4 / 3)
    assert (gap["highest"], gap["lowest"]) == ("a", "b")


def test_binary_group_rates_by_hand():
    #               group x: TP TP FP TN FN      group y: TP FN TN TN
    y_true = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0])
    groups = np.array(["x"] * 5 + ["y"] * 4)
    rates = binary_group_rates(y_true, y_pred, groups)
    counts = {g: {k: (r.events, r.trials) for k, r in v.items()} for g, v in rates.items()}
    assert counts["x"] == {"prevalence": (3, 5), "selection": (3, 5), "fpr": (1, 2),
                           "fnr": (1, 3), "ppv": (2, 3)}
    assert counts["y"] == {"prevalence": (2, 4), "selection": (1, 4), "fpr": (0, 2),
                           "fnr": (1, 2), "ppv": (1, 1)}
    assert rate_gap({g: r["fpr"] for g, r in rates.items()})["ratio"] == math.inf


def test_rates_obey_chouldechovas_identity():
    # FPR = p / (1 - p) * (1 - PPV) / PPV * (1 - FNR) in every group: with different base
    # rates p, equal PPV forces unequal FPR or FNR.
    rng = np.random.default_rng(0)
    y_true = rng.random(400) < np.repeat([0.2, 0.5], 200)
    y_pred = np.where(rng.random(400) < 0.8, y_true, ~y_true)
    groups = np.repeat(["low", "high"], 200)
    for r in binary_group_rates(y_true, y_pred, groups).values():
        p, ppv, fnr = r["prevalence"].rate, r["ppv"].rate, r["fnr"].rate
        assert r["fpr"].rate == pytest.approx(p / (1 - p) * (1 - ppv) / ppv * (1 - fnr))


def test_rate_gap_of_equal_zero_rates_has_no_ratio():
    gap = rate_gap({"a": Rate(0, 5, 0.0, 0.5), "b": Rate(0, 3, 0.0, 0.6), "c": Rate(0, 0, 0, 1)})
    assert gap["difference"] == 0 and math.isnan(gap["ratio"])


def test_rate_prints_count_and_interval():
    assert str(Rate(1, 4, *wilson_interval(1, 4))) == "25.0% (1/4, 4.6%–69.9%)"


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="one entry per example"):
        group_error_rates([0, 1], [0, 1, 1], ["a", "b"])
    with pytest.raises(ValueError, match="argmax"):
        group_error_rates([0, 1], torch.zeros(2, 3), ["a", "b"])
    with pytest.raises(ValueError, match="No examples"):
        group_error_rates([], [], [])
    with pytest.raises(ValueError, match="yes/no"):
        binary_group_rates([0, 2], [0, 1], ["a", "a"])
    with pytest.raises(ValueError, match="cannot exceed"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 4, confidence=95)
    with pytest.raises(ValueError, match="whole number"):
        wilson_interval(1.5, 4)
    with pytest.raises(TypeError, match="pick one rate"):
        rate_gap(binary_group_rates([0, 1], [0, 1], ["a", "a"]))
    with pytest.raises(ValueError, match="No group"):
        rate_gap({"a": Rate(0, 0, 0.0, 1.0)})
