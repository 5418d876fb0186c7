"""The power-law fit, the scaling experiment's records and the shipped results' checksum."""
import json
import math

import numpy as np
import pytest

from bmcourse.files import sha256_of
from bmcourse.models.gpt import GPT
from bmcourse.scaling import (SCALING_RESULTS_PATH, SCALING_RESULTS_SHA256, SCALING_SIZES,
                              compute_frontier, fit_power_law, load_scaling_results,
                              run_scaling_experiment, scaling_config)
from bmcourse.sizing import count_parameters


def test_fit_recovers_a_known_power_law_through_noise():
    rng = np.random.default_rng(0)
    n = np.logspace(3, 6, 12)
    loss = 40.0 * n ** -0.076 * np.exp(rng.normal(0, 0.002, n.shape))
    law = fit_power_law(n, loss)
    assert law.exponent == pytest.approx(0.076, abs=0.005)
    assert law.coefficient == pytest.approx(40.0, rel=0.1)
    assert law.r2 > 0.99
    assert law(1e4) == pytest.approx(40.0 * 1e4 ** -0.076, rel=0.01)


def test_fit_rejects_points_it_cannot_take_the_log_of():
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 10, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="two distinct"):
        fit_power_law([5, 5], [1, 2])
    with pytest.raises(ValueError, match="equal length"):
        fit_power_law([1, 2, 3], [1, 2])


def test_frontier_keeps_only_improvements_in_order_of_compute():
    results = [{"steps": [1, 2, 3], "val_loss": [3.0, 2.5, 2.4], "tokens_per_step": 10,
                "flops_per_token": 1.0},
               {"steps": [1, 2, 3], "val_loss": [2.9, 2.0, 1.5], "tokens_per_step": 10,
                "flops_per_token": 4.0}]
    flops, loss = compute_frontier(results)
    assert list(flops) == [10, 20, 30, 80, 120]
    assert list(loss) == [3.0, 2.5, 2.4, 2.0, 1.5]


def test_every_size_is_a_valid_gpt_with_the_counted_parameters():
    for n_layer, n_embd in SCALING_SIZES:
        config = scaling_config(n_layer, n_embd, vocab_size=80)
        assert config.n_embd // config.n_head == 16
    with pytest.raises(ValueError, match="multiple of head_size"):
        scaling_config(1, 20, vocab_size=80)


def test_a_tiny_experiment_trains_and_records_what_it_measured():
    results = run_scaling_experiment([(1, 16), (1, 32)], iters=20, eval_interval=10,
                                     val_tokens=1024, device="cpu")
    assert [r["n_embd"] for r in results] == [16, 32]
    for r in results:
        model = GPT(scaling_config(r["n_layer"], r["n_embd"], vocab_size=80))
        assert r["parameters"] == count_parameters(model)
        assert r["steps"] == [10, 20]
        assert all(math.isfinite(v) for v in r["val_loss"])
        assert r["val_loss"][-1] < math.log(80)  # better than guessing uniformly
    json.dumps(results)  # what the recipe writes must be plain JSON


def test_shipped_results_load_only_with_their_checksum(tmp_path):
    shipped = load_scaling_results()
    assert sha256_of(SCALING_RESULTS_PATH) == SCALING_RESULTS_SHA256
    assert len(shipped["results"]) >= 5
    copy = tmp_path / "results.json"
    copy.write_text(SCALING_RESULTS_PATH.read_text() + " ")
    with pytest.raises(RuntimeError, match="SHA-256"):
        load_scaling_results(copy)
    with pytest.raises(RuntimeError, match="missing"):
        load_scaling_results(tmp_path / "absent.json")
