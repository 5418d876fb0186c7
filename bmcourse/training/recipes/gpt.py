"""The text-generation chapter's recipes: language models on random windows of a corpus.

Everything trains through the one loop, :func:`bmcourse.training.fit`: a language model's data
is a :class:`~bmcourse.data.windows.TokenWindows` batch source (random windows, forever), its
budget is ``iters`` steps counted as ``epochs * steps_per_epoch`` (an "epoch" here is simply
the stretch between two validation passes), and the schedule, gradient clipping and bfloat16
autocast are ``fit``'s options.

Two recipes for the character-level GPT on the bundled Shakespeare:

* :data:`NANOGPT_CPU` — the reference: nanoGPT's CPU command from its README (Karpathy,
  MIT licence), re-implemented here: 4 layers, 4 heads, 128 channels, block 64, batch 12,
  AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices), 100 warm-up steps, cosine decay
  to 1e-4, gradient clipping at 1, dropout 0, 2,000 iterations, float32.
* :data:`FAST_CPU` — ours, the shipped model's recipe: the same layers with a 128-character
  block, trained with Muon on the blocks' matrices (:mod:`bmcourse.training.muon`) and AdamW on
  the rest, 800 steps of 8 windows; tuned for the wall clock of a small CPU (see
  ``benchmarks/char_gpt.py``).

``python -m bmcourse train char-gpt`` runs :func:`train_char_gpt_checkpoint`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...data.text import load_text
from ...data.tokenizers import CharTokenizer
from ...data.windows import TokenWindows, train_val_split
from ...files import sha256_of
from ...models.gpt import CHAR_GPT_PATH, GPT, GPTConfig, config_dict
from ...runtime import get_device, seed_everything
from ..checkpoint import save_checkpoint
from ..loop import evaluate, fit
from ..muon import MuonAdamW, muon_param_groups
from .registry import recipe

__all__ = ["next_token_loss", "nanogpt_optimizer", "warmup_cosine", "char_data",
           "train_language_model", "NANOGPT_CPU", "FAST_CPU", "train_char_gpt_checkpoint"]

# nanoGPT's CPU command (README, "I only have a macbook"): the model and the optimisation.
NANOGPT_CPU = dict(
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, bias=False),
    iters=2000, batch_size=12, lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1,
    betas=(0.9, 0.99), clip_grad_norm=1.0, amp=False, optimizer="adamw",
)
# Ours: the same layers with a 128-character block; Muon for the blocks' matrices (AdamW, at 6x
# the reference's learning rate, for the rest), 8 windows of 128 (the reference's 12 x 64 plus a
# third), a shorter schedule. benchmarks/char_gpt.py measures it.
FAST_CPU = dict(
    model=dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0, bias=False),
    iters=800, batch_size=8, lr=6e-3, min_lr=6e-4, warmup=40, weight_decay=0.1,
    betas=(0.9, 0.99), clip_grad_norm=1.0, amp=False, optimizer="muon", muon_lr=0.02,
)


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of next-token predictions, in nats per token.

    Parameters
    ----------
    logits : torch.Tensor, shape (B, T, V)
    targets : torch.LongTensor, shape (B, T)
    """
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"Expected logits (B, T, V) and targets (B, T), got {tuple(logits.shape)} "
                         f"and {tuple(targets.shape)}.")
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())


def nanogpt_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1,
                      betas=(0.9, 0.99)) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and embeddings only (not biases or LayerNorm
    gains), as nanoGPT's ``configure_optimizers``."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    # fused=True runs the whole update in one kernel per step (much less Python overhead for a
    # model with dozens of small tensors); available on CPU and CUDA.
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused)


def warmup_cosine(optimizer, warmup: int, total: int, min_lr: float):
    """nanoGPT's schedule, stepped every iteration: linear warm-up over ``warmup`` steps, then
    cosine decay to ``min_lr`` at step ``total``.

    ``min_lr`` is the first parameter group's final rate; every group's rate follows the same
    factor (with Muon, its rate ends ``min_lr / lr`` times its peak as well)."""
    lr = optimizer.param_groups[0]["lr"]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return (min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)) / lr

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def char_data(block_size: int, val_fraction: float = 0.1, corpus: str = "shakespeare"):
    """The bundled corpus, character-tokenized and split 90/10 (contiguously) into windows.

    Returns
    -------
    tokenizer : CharTokenizer
        Its alphabet is the whole corpus's (80 characters for the bundled Shakespeare).
    train, val : TokenWindows
    """
    text = load_text(corpus)
    tokenizer = CharTokenizer(text)
    train_text, val_text = train_val_split(text, val_fraction)
    return (tokenizer, TokenWindows(tokenizer.encode(train_text), block_size),
            TokenWindows(tokenizer.encode(val_text), block_size))


class _TimedSource:
    """A batch source that adds the time spent consuming it (an evaluation pass) to a clock."""

    def __init__(self, source):
        self.source, self.seconds = source, 0.0

    def batches(self, batch_size, generator, device):
        start = time.perf_counter()
        yield from self.source.batches(batch_size, generator, device)
        self.seconds += time.perf_counter() - start


def train_language_model(model: nn.Module, train: TokenWindows, val: TokenWindows | None = None, *,
                         iters: int, batch_size: int, lr: float, min_lr: float | None = None,
                         warmup: int = 100, weight_decay: float = 0.1, betas=(0.9, 0.99),
                         clip_grad_norm: float | None = 1.0, amp: bool = False,
                         optimizer: str = "adamw", muon_lr: float | None = None,
                         eval_interval: int = 100, device=None, seed: int = 0,
                         progress: bool = True, checkpoint=None, resume: bool = False,
                         overwrite: bool = False, stop_after: int | None = None):
    """Train a next-token model on random windows with AdamW (or Muon) and a warm-up + cosine
    schedule.

    Parameters
    ----------
    model : nn.Module
        ``model(idx)`` maps ``(B, T)`` ids to ``(B, T, V)`` logits (a GPT or an LSTM model).
    train, val : TokenWindows
        Random training windows; validation is one pass over all of ``val``'s windows.
    iters : int
        Optimisation steps in the whole schedule (a multiple of ``eval_interval``).
    batch_size : int
    lr, min_lr : float
        Peak and final learning rate (``min_lr`` defaults to ``lr / 10``).
    warmup : int
    weight_decay, betas :
        AdamW's, see :func:`nanogpt_optimizer`.
    clip_grad_norm : float or None
    amp : bool
        bfloat16 autocast (on the CPU too).
    optimizer : {"adamw", "muon"}
        ``"adamw"``: :func:`nanogpt_optimizer`. ``"muon"``: :class:`~bmcourse.training.muon.MuonAdamW`,
        Muon with learning rate ``muon_lr`` on the 2-D weights of ``model.blocks`` and AdamW
        with ``lr`` on the rest; the schedule scales both.
    muon_lr : float, optional
        Needed with ``optimizer="muon"`` (0.02 is Muon's usual value).
    eval_interval : int
        Steps between validation passes: one ``fit`` epoch.
    device, seed, progress, checkpoint, resume, overwrite :
        Passed to :func:`bmcourse.training.fit`.
    stop_after : int, optional
        Run only the first ``stop_after`` evaluation intervals of the schedule (with
        ``checkpoint`` and ``resume``, a later call carries on exactly).

    Returns
    -------
    history : bmcourse.training.History
        One row per evaluation interval, plus ``history["iter"]`` (steps done) and
        ``history["train_seconds"]`` (each interval's wall time without its validation pass;
        ``nan`` for intervals restored from ``checkpoint``).
    """
    if iters % eval_interval:
        raise ValueError(f"iters={iters} must be a multiple of eval_interval={eval_interval}.")
    device = get_device(str(device)) if device is not None else get_device()
    model.to(device)
    if optimizer == "adamw":
        optimizer = nanogpt_optimizer(model, lr, weight_decay, betas)
    elif optimizer == "muon":
        if muon_lr is None:
            raise ValueError("optimizer='muon' needs muon_lr= (Muon's learning rate, e.g. 0.02).")
        # AdamW's groups come first, so the schedule below reads lr as the peak.
        optimizer = MuonAdamW(muon_param_groups(model, lr, muon_lr, weight_decay), betas=betas)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'muon', got {optimizer!r}.")
    scheduler = warmup_cosine(optimizer, warmup, iters, lr / 10 if min_lr is None else min_lr)
    timed_val = _TimedSource(val) if val is not None else None
    epochs = iters // eval_interval
    evals_seconds = []

    def record_eval_time(epoch, history):
        evals_seconds.append(timed_val.seconds if timed_val is not None else 0.0)

    history = fit(model, train, epochs=epochs if stop_after is None else min(epochs, stop_after),
                  val=timed_val, optimizer=optimizer, loss_fn=next_token_loss,
                  batch_size=batch_size, scheduler=scheduler, scheduler_interval="batch",
                  device=device, amp=amp, steps_per_epoch=eval_interval,
                  clip_grad_norm=clip_grad_norm, checkpoint=checkpoint, resume=resume,
                  overwrite=overwrite, progress=progress, seed=seed, on_epoch_end=record_eval_time)
    # Training time only: each epoch's wall time less its validation pass. Epochs restored
    # from a checkpoint (resume) ran in an earlier call: their split is unknown (nan).
    done_before = len(history["epoch"]) - len(evals_seconds)
    eval_each = [b - a for a, b in zip([0.0] + evals_seconds[:-1], evals_seconds)]
    history["train_seconds"] = [math.nan] * done_before + [
        seconds - evaluation for seconds, evaluation in zip(history["seconds"][done_before:], eval_each)]
    history["iter"] = [epoch * eval_interval for epoch in history["epoch"]]
    return history


def _build_char_gpt(recipe_settings: dict, vocab_size: int, use_fused: bool = True) -> GPT:
    return GPT(GPTConfig(vocab_size=vocab_size, use_fused=use_fused, **recipe_settings["model"]))


@recipe("char-gpt")
def train_char_gpt_checkpoint(out: str | Path = CHAR_GPT_PATH, *, device: str = "cpu",
                              seed: int = 0, progress: bool = True) -> tuple[Path, dict]:
    """Train the character-level GPT that bmcourse ships and write it to ``out``.

    What ``python -m bmcourse train char-gpt`` runs: :data:`FAST_CPU` on the bundled
    Shakespeare (90/10 split), on the CPU in under two minutes. The checkpoint holds the
    state dict in bfloat16 (about 1.6 MB) and an ``info`` dict (config, alphabet, validation
    loss, command), all loadable with ``weights_only=True``.

    Returns
    -------
    path : pathlib.Path
    info : dict
        Includes ``sha256``, to record in ``bmcourse.models.gpt.CHAR_GPT_SHA256``.
    """
    settings = FAST_CPU
    device = get_device(str(device))
    seed_everything(seed)
    tokenizer, train, val = char_data(settings["model"]["block_size"])
    model = _build_char_gpt(settings, tokenizer.vocab_size)
    options = {k: v for k, v in settings.items() if k != "model"}
    history = train_language_model(model, train, val, **options, eval_interval=options["iters"] // 8,
                                   device=device, seed=seed, progress=progress)
    # Shipped in bfloat16 (half the size; float32 would pass 3 MB); the validation loss is
    # measured with the rounded weights, as the loader will see them.
    state = {name: tensor.detach().cpu().to(torch.bfloat16) for name, tensor in model.state_dict().items()}
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    val_loss = evaluate(model, val, next_token_loss, device=device)["loss"]
    info = {"config": config_dict(model.config), "alphabet": tokenizer.chars,
            "iters": settings["iters"], "val_loss": float(val_loss), "seed": seed,
            "data": "bundled Shakespeare, first 90% of characters (validation: last 10%)",
            "command": f"python -m bmcourse train char-gpt --seed {seed}"}
    path = save_checkpoint(out, model=state, info=info)
    return path, dict(info, sha256=sha256_of(path), history=history,
                      record_in="bmcourse/models/gpt.py (CHAR_GPT_SHA256)")
