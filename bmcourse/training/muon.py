"""Muon for a network's hidden matrices and AdamW for the rest, as one optimizer.

Muon (Keller Jordan et al., 2024, https://kellerjordan.github.io/posts/muon/) is SGD with
Nesterov momentum plus one step: before a weight matrix moves, its update ``M = U S Vᵀ`` is
replaced by (roughly) its orthogonal part ``U Vᵀ``. A raw gradient of a matrix is dominated by a
few large singular directions; orthogonalising gives every direction a step of the same size,
so the rare directions learn too. ``U Vᵀ`` comes from a few Newton–Schulz iterations, matrix
products only (no SVD): for the text chapter's GPT on a CPU they add about a fifth to each step,
and save far more steps than that.

Muon is for the 2-D weights *inside* the network. Embeddings, the output layer, LayerNorm gains
and biases keep AdamW: Jordan's own ``MuonWithAuxAdam`` (MIT licence) splits the parameters the
same way, and this class follows its shape, one optimizer whose parameter groups say which rule
they use, so that a learning-rate schedule, a checkpoint and ``fit`` see a single optimizer.

The Muon update is ``torch.optim.Muon``'s (momentum, Nesterov, the quintic coefficients, the
``sqrt(max(1, rows/cols))`` learning-rate scale and decoupled weight decay), and the AdamW update
is ``torch.optim.AdamW``'s; ``tests/test_muon.py`` checks both against PyTorch. One setting is
new: ``ns_dtype``, the precision of the Newton–Schulz products. PyTorch always uses bfloat16,
fast on a GPU and on a CPU with AVX-512 BF16; on a CPU without it, bfloat16 products are
emulated, and float32 is the faster choice (picked by default).
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["newton_schulz", "MuonAdamW", "muon_param_groups"]

# The quintic iteration's coefficients, tuned by Jordan for a steep slope at zero. They trade
# exactness for speed: singular values land in a band around 1 (between 0.6 and 1.25 in
# tests/test_muon.py) rather than on 1, which trains as well.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(matrix: torch.Tensor, steps: int = 5, coefficients=NS_COEFFICIENTS,
                  eps: float = 1e-7, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Approximately orthogonalise ``matrix``: ``U S Vᵀ`` becomes about ``U Vᵀ``.

    Parameters
    ----------
    matrix : torch.Tensor, shape (m, n) or (batch, m, n)
        One matrix, or a stack of same-shaped matrices done together (fewer, larger products).
    steps : int
        Newton–Schulz iterations.
    coefficients : (a, b, c)
        Each iteration maps ``X`` to ``a X + b (X Xᵀ) X + c (X Xᵀ)² X``, which applies the
        odd polynomial ``a s + b s³ + c s⁵`` to every singular value ``s`` and leaves the
        singular vectors alone.
    eps : float
        Guards the first normalisation against a zero matrix.
    dtype : torch.dtype
        Precision of the products.

    Returns
    -------
    torch.Tensor, the shape of ``matrix``, in ``dtype``

    Examples
    --------
    >>> q = newton_schulz(torch.randn(64, 16, generator=torch.Generator().manual_seed(0)))
    >>> s = torch.linalg.svdvals(q)
    >>> bool(s.min() > 0.6 and s.max() < 1.25)
    True
    """
    if matrix.ndim not in (2, 3):
        raise ValueError(f"newton_schulz orthogonalises a matrix (or a stack of them), got a "
                         f"tensor of shape {tuple(matrix.shape)}; reshape it to 2-D or leave it "
                         "to AdamW.")
    a, b, c = coefficients
    x = matrix.to(dtype)
    single = x.ndim == 2
    if single:
        x = x[None]
    tall = x.shape[-2] > x.shape[-1]
    if tall:  # iterate on the wide side: X Xᵀ is then the smaller Gram matrix
        x = x.mT
    # Frobenius norm >= spectral norm, so every singular value starts at most 1.
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.mT
        poly = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)  # b G + c G²
        x = torch.baddbmm(x, poly, x, beta=a)                    # a X + (b G + c G²) X
    if tall:
        x = x.mT
    return x[0] if single else x


def muon_param_groups(model: nn.Module, lr: float, muon_lr: float, weight_decay: float = 0.1,
                      hidden: str = "blocks.") -> list[dict]:
    """Split ``model``'s parameters the usual way for :class:`MuonAdamW`.

    Muon takes every 2-D weight whose name starts with ``hidden`` (a transformer's blocks);
    AdamW takes the rest, with weight decay on matrices and embeddings but not on gains and
    biases (as nanoGPT's ``configure_optimizers``). The groups come in that order: AdamW's
    first, so that ``param_groups[0]["lr"]`` is ``lr``, which a schedule such as
    :func:`~bmcourse.training.recipes.gpt.warmup_cosine` reads as its peak.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    muon = [p for name, p in named if p.ndim == 2 and name.startswith(hidden)]
    if not muon:
        raise ValueError(f"No 2-D parameter of the model has a name starting with {hidden!r}; "
                         "pass hidden= the prefix of its hidden layers (e.g. 'blocks.').")
    chosen = {id(p) for p in muon}
    rest = [p for _, p in named if id(p) not in chosen]
    return [dict(params=[p for p in rest if p.ndim >= 2], use_muon=False, lr=lr,
                 weight_decay=weight_decay),
            dict(params=[p for p in rest if p.ndim < 2], use_muon=False, lr=lr, weight_decay=0.0),
            dict(params=muon, use_muon=True, lr=muon_lr, weight_decay=weight_decay)]


def _fast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the hardware multiplies it natively (a CUDA GPU, a CPU with AVX-512
    BF16), float32 elsewhere, where bfloat16 products would be emulated and slow."""
    if device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu":
        native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        return torch.bfloat16 if native() else torch.float32
    return torch.float32


class MuonAdamW(torch.optim.Optimizer):
    """Muon on the groups with ``use_muon=True``, AdamW on the others.

    Parameters
    ----------
    param_groups : list of dict
        Each with ``params`` and ``use_muon`` (see :func:`muon_param_groups`), and optionally
        its own ``lr`` and ``weight_decay``.
    lr : float
        Default learning rate. Muon's is usually larger than AdamW's (0.02 is common): its
        steps are normalised, so their size is set by the rate alone.
    weight_decay : float
        Decoupled, as in AdamW: ``p -= lr * weight_decay * p``.
    momentum, nesterov, ns_steps, ns_dtype :
        Muon's settings; ``ns_dtype=None`` picks bfloat16 on a CUDA GPU or a CPU with native
        bfloat16 products (AVX-512 BF16), float32 elsewhere.
    betas, eps :
        AdamW's.
    """

    def __init__(self, param_groups, lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 ns_dtype: torch.dtype | None = None, betas=(0.9, 0.99), eps: float = 1e-8):
        param_groups = list(param_groups)
        for group in param_groups:
            if not isinstance(group, dict) or "use_muon" not in group:
                raise ValueError("MuonAdamW takes parameter groups (dicts), each with "
                                 "use_muon=True or False; muon_param_groups(model, ...) makes them.")
            if group["use_muon"]:
                for p in group["params"]:
                    if p.ndim != 2:
                        raise ValueError(f"Muon updates matrices; a parameter of shape "
                                         f"{tuple(p.shape)} is in a use_muon group. Put it in an "
                                         "AdamW group (use_muon=False).")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}.")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_steps=ns_steps, ns_dtype=ns_dtype, betas=betas, eps=eps)
        super().__init__(param_groups, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["use_muon"]:
                self._muon(group)
            else:
                self._adamw(group)
        return loss

    def _muon(self, group):
        lr, mu = group["lr"], group["momentum"]
        # Momentum first, then the updates of same-shaped matrices (a transformer has several of
        # each shape: one per block) orthogonalised together, tall ones turned on their side.
        by_shape: dict[tuple, list] = {}
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            buf = state["momentum_buffer"]
            buf.lerp_(p.grad, 1 - mu)
            update = p.grad.lerp(buf, mu) if group["nesterov"] else buf
            wide = update if p.shape[0] <= p.shape[1] else update.T
            by_shape.setdefault((tuple(wide.shape), p.device), []).append((p, wide))
        for (_, device), items in by_shape.items():
            dtype = group["ns_dtype"] or _fast_dtype(device)
            ortho = newton_schulz(torch.stack([wide for _, wide in items]), group["ns_steps"],
                                  dtype=dtype)
            for (p, _), o in zip(items, ortho):
                o = o if p.shape[0] <= p.shape[1] else o.T
                p.mul_(1 - lr * group["weight_decay"])
                # A tall matrix's orthogonal update has smaller entries; this evens them out.
                p.add_(o.to(p.dtype), alpha=-lr * math.sqrt(max(1.0, p.shape[0] / p.shape[1])))

    def _adamw(self, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "step" not in state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            step = state["step"].item()
            state["exp_avg"].lerp_(p.grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** step)).add_(group["eps"])
            p.mul_(1 - lr * group["weight_decay"])
            p.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1 ** step))
