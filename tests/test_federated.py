"""Federated averaging: client splits, the weighted average, the round, bytes sent."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bmcourse.federated import (average_states, fedavg_round, federated_averaging,
                                split_by_label, split_iid, state_bytes)


def test_average_states_is_the_example_weighted_mean():
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor(0.0), "count": torch.tensor(3)}
    b = {"w": torch.tensor([5.0, -2.0]), "b": torch.tensor(4.0), "count": torch.tensor(7)}
    mean = average_states([a, b], [100, 300])
    assert torch.equal(mean["w"], torch.tensor([4.0, -1.0]))  # (1·a + 3·b) / 4
    assert torch.equal(mean["b"], torch.tensor(3.0))
    assert torch.equal(mean["count"], torch.tensor(3))  # integer counters: the first state's
    with pytest.raises(ValueError, match="one weight per state"):
        average_states([a, b], [1])
    with pytest.raises(ValueError, match="same model"):
        average_states([a, {"w": a["w"]}], [1, 1])
    with pytest.raises(ValueError, match="not all zero"):
        average_states([a, b], [0, 0])


def linear_problem(n=12, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=generator)
    torch.manual_seed(seed)
    return nn.Linear(4, 3).double(), x, y


def gradient_step(model, x, y, lr):
    """One step of full-batch gradient descent on the mean cross-entropy, by hand."""
    model = copy.deepcopy(model)
    F.cross_entropy(model(x), y).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return model


def test_one_client_with_all_data_and_one_local_step_is_centralised_sgd():
    model, x, y = linear_problem()
    expected = gradient_step(model, x, y, lr=0.3)
    fedavg_round(model, [(x, y)], fraction=1.0, local_epochs=1, batch_size=len(x), lr=0.3,
                 device="cpu")
    for p, q in zip(model.parameters(), expected.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)


def test_a_round_of_single_full_batch_steps_is_one_step_on_all_the_data():
    # Σ (n_k / n) (w - lr ∇L_k) = w - lr ∇L: with one gradient step per client, FedAvg is
    # gradient descent on the pooled data, however unequal the clients.
    model, x, y = linear_problem(n=12)
    expected = gradient_step(model, x, y, lr=0.3)
    clients = [(x[:3], y[:3]), (x[3:], y[3:])]
    chosen = fedavg_round(model, clients, fraction=1.0, local_epochs=1, batch_size=9, lr=0.3,
                          device="cpu")
    assert chosen == [0, 1]
    for p, q in zip(model.parameters(), expected.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)


def test_splits_give_every_example_to_exactly_one_client():
    labels = torch.arange(10).repeat_interleave(40)  # 10 digits x 40 examples, sorted
    labels = labels[torch.randperm(400, generator=torch.Generator().manual_seed(0))]
    for parts in (split_iid(400, 10, torch.Generator().manual_seed(1)),
                  split_by_label(labels, 10, 2, torch.Generator().manual_seed(1))):
        assert len(parts) == 10 and all(len(p) == 40 for p in parts)
        assert torch.equal(torch.cat(parts).sort().values, torch.arange(400))
    iid = split_iid(400, 10, torch.Generator().manual_seed(1))
    non_iid = split_by_label(labels, 10, 2, torch.Generator().manual_seed(1))
    assert all(len(set(labels[p].tolist())) >= 5 for p in iid)
    assert all(len(set(labels[p].tolist())) <= 2 for p in non_iid)  # shards of one digit
    assert any(len(set(labels[p].tolist())) == 2 for p in non_iid)
    with pytest.raises(ValueError, match="fewer clients"):
        split_iid(5, 6)


def test_bytes_sent_are_the_state_dict_both_ways_for_each_client_of_a_round():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert state_bytes(model) == 4 * (4 * 8 + 8 + 8 * 3 + 3)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 4, generator=generator), torch.randint(0, 3, (60,), generator=generator)
    clients = [(x[i::6], y[i::6]) for i in range(6)]  # 6 clients of 10 examples
    history = federated_averaging(model, clients, rounds=3, fraction=0.5, local_epochs=2,
                                  batch_size=5, lr=0.1, val=(x, y), device="cpu")
    assert history["round"] == [1, 2, 3]
    assert all(len(chosen) == 3 for chosen in history["clients"])
    assert history["bytes"] == [r * 2 * 3 * state_bytes(model) for r in (1, 2, 3)]
    assert history["examples"] == [r * 3 * 10 * 2 for r in (1, 2, 3)]
    assert len(history["val_acc"]) == 3


def test_federated_averaging_learns_a_separable_problem_and_is_reproducible():
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (400,), generator=generator)
    x = torch.randn(400, 2, generator=generator) + 3.0 * (2.0 * y[:, None] - 1.0)
    clients = [(x[p], y[p]) for p in split_by_label(y, 4, 1, generator)]  # one class each

    def run():
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        history = federated_averaging(model, clients, rounds=5, fraction=0.5, lr=0.1,
                                      batch_size=20, val=(x, y), device="cpu", seed=3)
        return model, history

    model, history = run()
    again, _ = run()
    assert history["val_acc"][-1] > 0.95
    assert torch.equal(model.weight, again.weight)


@pytest.mark.parametrize("bad", [dict(fraction=0.0), dict(fraction=1.5), dict(batch_size=0)])
def test_fedavg_round_rejects_bad_settings(bad):
    model, x, y = linear_problem()
    with pytest.raises(ValueError):
        fedavg_round(model, [(x, y)], device="cpu", **bad)
    with pytest.raises(TypeError, match="pair of tensors"):
        fedavg_round(model, [x], device="cpu")
    with pytest.raises(ValueError, match="rounds"):
        federated_averaging(model, [(x, y)], rounds=0)
