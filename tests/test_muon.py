"""Muon + AdamW: Newton–Schulz against the SVD, both updates against PyTorch's optimizers,
the usual parameter split, a checkpoint round trip and clear errors."""
import io

import pytest
import torch

from bmcourse.models.gpt import GPT, GPTConfig
from bmcourse.training.muon import MuonAdamW, muon_param_groups, newton_schulz


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(48, 16), (16, 48), (32, 32)])
def test_newton_schulz_keeps_the_singular_vectors_and_evens_the_values(shape):
    # A matrix with known singular vectors and values spread 20-fold.
    k = min(shape)
    u, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=gen(0), dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=gen(1), dtype=torch.float64))
    s = torch.logspace(0, -1.3, k, dtype=torch.float64)
    g = u @ torch.diag(s) @ v.T
    vh = v.T
    q = newton_schulz(g, dtype=torch.float64)
    assert q.shape == g.shape
    # Uᵀ Q V is diagonal: the iteration acts on the singular values alone.
    core = u.T @ q @ vh.T
    off = core - torch.diag(torch.diagonal(core))
    assert off.abs().max() < 1e-10
    values = torch.diagonal(core)
    # From singular values spread 20-fold to a band around 1.
    assert values.min() > 0.6 and values.max() < 1.25


def test_newton_schulz_refuses_a_vector():
    with pytest.raises(ValueError, match="reshape it to 2-D or leave it to AdamW"):
        newton_schulz(torch.randn(5))


def run_steps(optimizer, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        optimizer.step()


def random_grads(shapes, steps=4, seed=1):
    g = gen(seed)
    return [[torch.randn(*s, generator=g) for s in shapes] for _ in range(steps)]


def test_the_muon_update_is_torch_optim_muons():
    shapes = [(24, 8), (8, 24), (16, 16)]
    ours = [torch.randn(*s, generator=gen(2)) for s in shapes]
    theirs = [p.clone() for p in ours]
    ours = [p.requires_grad_() for p in ours]
    theirs = [p.requires_grad_() for p in theirs]
    grads = random_grads(shapes)
    # PyTorch multiplies in bfloat16; in that precision the two must agree.
    run_steps(MuonAdamW([dict(params=ours, use_muon=True)], lr=0.02, weight_decay=0.1,
                        ns_dtype=torch.bfloat16), ours, grads)
    run_steps(torch.optim.Muon(theirs, lr=0.02, weight_decay=0.1), theirs, grads)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_the_adamw_update_is_torch_optim_adamws():
    shapes = [(10, 4), (4,)]
    ours = [torch.randn(*s, generator=gen(3)).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    grads = random_grads(shapes, steps=6)
    run_steps(MuonAdamW([dict(params=ours, use_muon=False)], lr=1e-2, weight_decay=0.1,
                        betas=(0.9, 0.99)), ours, grads)
    run_steps(torch.optim.AdamW(theirs, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.99)), theirs,
              grads)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))


def test_the_split_gives_the_blocks_matrices_to_muon_and_the_rest_to_adamw():
    model = tiny_gpt()
    decayed, plain, muon = muon_param_groups(model, lr=1e-3, muon_lr=0.02)
    assert [g["use_muon"] for g in (decayed, plain, muon)] == [False, False, True]
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in muon["params"]) == sorted(
        n for n, p in model.named_parameters() if n.startswith("blocks.") and p.ndim == 2)
    assert {names[id(p)] for p in decayed["params"]} == {"wte.weight", "wpe.weight"}
    assert plain["weight_decay"] == 0.0 and all(p.ndim == 1 for p in plain["params"])
    everything = [p for g in (decayed, plain, muon) for p in g["params"]]
    assert len(everything) == len({id(p) for p in everything}) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="hidden="):
        muon_param_groups(model, lr=1e-3, muon_lr=0.02, hidden="layers.")


def test_a_checkpointed_optimizer_takes_the_same_next_step():
    x = torch.randint(11, (4, 8), generator=gen(4))

    def step(model, optimizer):
        optimizer.zero_grad()
        model(x).logsumexp(-1).mean().backward()
        optimizer.step()

    a = tiny_gpt()
    opt_a = MuonAdamW(muon_param_groups(a, lr=1e-3, muon_lr=0.02))
    for _ in range(3):
        step(a, opt_a)
    buffer = io.BytesIO()
    torch.save({"model": a.state_dict(), "optimizer": opt_a.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    b = tiny_gpt()
    b.load_state_dict(state["model"])
    opt_b = MuonAdamW(muon_param_groups(b, lr=1e-3, muon_lr=0.02))
    opt_b.load_state_dict(state["optimizer"])
    step(a, opt_a)
    step(b, opt_b)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name


def test_bad_groups_say_what_to_do():
    with pytest.raises(ValueError, match="use_muon"):
        MuonAdamW([torch.zeros(3, 3, requires_grad=True)])
    with pytest.raises(ValueError, match="AdamW group"):
        MuonAdamW([dict(params=[torch.zeros(3, requires_grad=True)], use_muon=True)])
