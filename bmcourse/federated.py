"""Federated averaging (McMahan et al., 2017): training on data that never leaves its owners.

``K`` clients each hold their own examples. Every round the server sends the current weights
to a random fraction of the clients; each trains a copy for ``E`` local epochs of SGD on its own
data — with :func:`bmcourse.training.fit`, the course's one training loop — and sends its
weights back; the server replaces its weights with the average of theirs, weighted by how many
examples each client holds:

    w ← Σ_k (n_k / n) · w_k,    n = Σ_k n_k over the clients of the round.

With one client, all the data and a single full-batch local step, this is exactly one step of
centralised gradient descent; more local work per round saves communication, and works less
well the more the clients' data differ (non-IID data).

Only weights travel, not data — but weights and their updates can still reveal training
examples. Federated learning is not private by itself: that takes DP-SGD (or DP on the
averaged update) and secure aggregation on top.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .data.batches import check_batch_size, check_pair
from .runtime import get_device
from .training.loop import evaluate, fit

__all__ = ["split_iid", "split_by_label", "average_states", "state_bytes", "fedavg_round",
           "federated_averaging"]


# ---------------------------------------------------------------------------- the clients' data

def _check_clients(num_clients, n) -> None:
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 1:
        raise ValueError(f"num_clients must be a whole number >= 1, got {num_clients!r}.")
    if num_clients > n:
        raise ValueError(f"{num_clients} clients cannot share {n} examples: each needs at least "
                         "one. Use fewer clients.")


def split_iid(n: int, num_clients: int,
              generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Deal ``n`` examples at random to ``num_clients`` clients of (nearly) equal size.

    Returns
    -------
    list of LongTensor
        One index tensor per client; together they hold each index ``0..n-1`` once.
    """
    _check_clients(num_clients, n)
    return list(torch.randperm(n, generator=generator).tensor_split(num_clients))


def split_by_label(labels: torch.Tensor, num_clients: int, shards_per_client: int = 2,
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """McMahan et al.'s non-IID split: sort by label, cut into shards, deal shards to clients.

    With ``shards_per_client=2`` on balanced classes, most clients see only two digits (a
    client may draw two shards of the same digit, or a shard that straddles two).

    Parameters
    ----------
    labels : tensor, (n,)
    num_clients : int
    shards_per_client : int
    generator : torch.Generator, optional

    Returns
    -------
    list of LongTensor
        One index tensor per client; together they hold each index once.
    """
    labels = torch.as_tensor(labels)
    shards = num_clients * shards_per_client
    _check_clients(shards, len(labels))
    by_label = torch.sort(labels.cpu(), stable=True).indices
    pieces = by_label.tensor_split(shards)
    deal = torch.randperm(shards, generator=generator).view(num_clients, shards_per_client)
    return [torch.cat([pieces[s] for s in row.tolist()]) for row in deal]


# ---------------------------------------------------------------------------- the server

def average_states(states: list[dict], weights) -> dict:
    """The weighted average ``Σ_k w_k · state_k / Σ_k w_k`` of ``state_dict``s, key by key.

    Parameters
    ----------
    states : list of dict
        State dicts of the same model.
    weights : sequence of float
        One non-negative weight per state (FedAvg: the clients' example counts), not all zero.

    Returns
    -------
    dict
        Floating-point entries averaged in their own dtype; other entries (integer counters)
        taken from the first state.
    """
    weights = [float(w) for w in weights]
    if not states or len(states) != len(weights):
        raise ValueError(f"Need one weight per state, got {len(states)} states and "
                         f"{len(weights)} weights.")
    if min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"weights must be non-negative and not all zero, got {weights}.")
    keys = states[0].keys()
    if any(state.keys() != keys for state in states):
        raise ValueError("The states have different keys: they must come from the same model.")
    total = sum(weights)
    averaged = {}
    for key in keys:
        first = states[0][key]
        if first.is_floating_point():
            averaged[key] = sum(state[key] * (w / total) for state, w in zip(states, weights))
        else:
            averaged[key] = first.clone()
    return averaged


def state_bytes(model: nn.Module | dict) -> int:
    """Bytes of a model's ``state_dict`` (parameters and buffers): what one transfer costs."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return sum(t.numel() * t.element_size() for t in state.values())


def _check_client_data(clients) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if not clients:
        raise ValueError("clients is empty: pass one (x, y) pair of tensors per client.")
    pairs = []
    for k, data in enumerate(clients):
        pair = check_pair(data, f"client {k}'s data")
        if pair is None:
            raise TypeError(f"client {k}'s data must be a pair of tensors (x, y), got "
                            f"{type(data).__name__}.")
        pairs.append(pair)
    return pairs


def fedavg_round(model: nn.Module, clients, *, fraction: float = 0.1, local_epochs: int = 1,
                 batch_size: int = 10, lr: float = 0.1, generator: torch.Generator | None = None,
                 device=None, seed: int = 0) -> list[int]:
    """One round of federated averaging, in place on ``model`` (the server's weights).

    Parameters
    ----------
    model : nn.Module
        The global model; it ends the round holding the clients' weighted average.
    clients : list of (x, y) tensor pairs
        Each client's own data.
    fraction : float
        C in (0, 1]: ``max(1, round(C·K))`` clients, drawn without replacement, take part.
    local_epochs : int
        E: passes each chosen client makes over its data, with ``fit`` and plain SGD.
    batch_size : int
        B, the clients' batch size.
    lr : float
        The clients' SGD learning rate.
    generator : torch.Generator, optional
        Draws the clients of the round.
    device : optional
        Where clients train; default :func:`bmcourse.get_device`.
    seed : int
        Seeds client ``k``'s shuffling as ``seed + k``. (``fit`` also reseeds PyTorch's global
        generator with it, so the round is reproducible whatever ran before.)

    Returns
    -------
    list of int
        The clients that took part, in increasing order.
    """
    clients = _check_client_data(clients)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1] (the share of clients per round), got "
                         f"{fraction!r}.")
    check_batch_size(batch_size)
    chosen_count = max(1, round(fraction * len(clients)))
    chosen = sorted(torch.randperm(len(clients), generator=generator)[:chosen_count].tolist())
    states, sizes = [], []
    for k in chosen:
        local = copy.deepcopy(model)  # the server's weights, sent to client k
        fit(local, clients[k], epochs=local_epochs, batch_size=batch_size,
            optimizer=torch.optim.SGD(local.parameters(), lr=lr), device=device,
            progress=False, seed=seed + k)
        states.append(local.state_dict())
        sizes.append(len(clients[k][0]))
    model.load_state_dict(average_states(states, sizes))
    return chosen


def federated_averaging(model: nn.Module, clients, *, rounds: int, fraction: float = 0.1,
                        local_epochs: int = 1, batch_size: int = 10, lr: float = 0.1,
                        val=None, device=None, seed: int = 0) -> dict:
    """Train ``model`` by FedAvg for ``rounds`` rounds; evaluate on ``val`` after each.

    Parameters are those of :func:`fedavg_round`, plus ``rounds`` and ``val`` (an ``(x, y)``
    pair or batches, as for ``fit``).

    Returns
    -------
    dict of lists, one entry per round
        ``round``; ``clients`` (who took part); ``examples`` (cumulative examples processed
        by clients, counting every local epoch); ``bytes`` (cumulative bytes sent, both
        directions: ``state_bytes(model)`` × 2 × clients of the round); ``val_loss``,
        ``val_acc`` (``nan`` without ``val``).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a whole number >= 1, got {rounds!r}.")
    clients = _check_client_data(clients)
    device = get_device(str(device)) if device is not None else get_device()
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    per_transfer = state_bytes(model)
    history = {key: [] for key in ("round", "clients", "examples", "bytes", "val_loss",
                                   "val_acc")}
    examples = sent = 0
    for r in range(1, rounds + 1):
        chosen = fedavg_round(model, clients, fraction=fraction, local_epochs=local_epochs,
                              batch_size=batch_size, lr=lr, generator=generator, device=device,
                              seed=seed + r * len(clients))
        examples += local_epochs * sum(len(clients[k][0]) for k in chosen)
        sent += 2 * len(chosen) * per_transfer  # weights down to each client and back up
        metrics = evaluate(model, val, device=device) if val is not None else {}
        history["round"].append(r)
        history["clients"].append(chosen)
        history["examples"].append(examples)
        history["bytes"].append(sent)
        history["val_loss"].append(metrics.get("loss", math.nan))
        history["val_acc"].append(metrics.get("acc", math.nan))
    return history
