"""Scaling laws, measured: train GPTs of several sizes, fit loss against size with a power law.

Kaplan et al. (2020) found that a language model's test loss falls as a power of its
(non-embedding) parameter count ``N`` when data and compute do not hold it back,
``L(N) = (N_c / N)^α`` with ``α ≈ 0.076``, and likewise in compute. A power law is a straight
line on log-log axes, so :func:`fit_power_law` fits ``log y = log a − α log x`` by least
squares.

:func:`run_scaling_experiment` trains each size of :data:`SCALING_SIZES` (or any list) on the
bundled corpus with the text chapter's recipe and records its validation loss over training,
its parameters and its training FLOPs; :func:`compute_frontier` keeps, at every compute budget,
the best loss any size reached. ``python -m bmcourse train scaling-gpt`` writes the full
experiment to :data:`SCALING_RESULTS_PATH`, and :func:`load_scaling_results` reads it back
after checking its SHA-256.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import sha256_of

__all__ = ["PowerLaw", "fit_power_law", "SCALING_SIZES", "scaling_config",
           "run_scaling_experiment", "compute_frontier", "SCALING_RESULTS_PATH",
           "SCALING_RESULTS_SHA256", "load_scaling_results"]

SCALING_RESULTS_PATH = Path(__file__).resolve().parent / "data" / "bundled" / "scaling_char_gpt.json"
# Printed by `python -m bmcourse train scaling-gpt` (bmcourse/training/recipes/scaling.py).
SCALING_RESULTS_SHA256 = "c3abb194b58125abcf22681754c389c4728ff68a11e0ba5959f5f5a809f6fbef"

# (n_layer, n_embd): widths from 16 to 96 channels, heads of 16 channels each: two orders of
# magnitude of non-embedding parameters (3 thousand to 0.44 million), all with the char GPT's
# block size, so every size sees the same tokens. (The char GPT's 128 channels would double
# the experiment's time on a laptop CPU.)
SCALING_SIZES = ((1, 16), (1, 32), (2, 32), (2, 48), (3, 64), (4, 96))


@dataclass(frozen=True)
class PowerLaw:
    """``y = coefficient · x^(−exponent)``: a straight line of slope ``−exponent`` on log-log axes.

    Attributes
    ----------
    coefficient, exponent : float
    r2 : float
        Fraction of the variance of ``log y`` the fit explains.
    """
    coefficient: float
    exponent: float
    r2: float = float("nan")

    def __call__(self, x):
        return self.coefficient * np.asarray(x, dtype=float) ** (-self.exponent)

    def __str__(self) -> str:
        return f"{self.coefficient:.3g} · x^(−{self.exponent:.3f})"


def fit_power_law(x, y) -> PowerLaw:
    """Least-squares fit of ``y = a · x^(−α)`` in log-log space.

    Parameters
    ----------
    x, y : array-like, shape (n,)
        Positive numbers, at least two distinct ``x``; e.g. parameters and validation loss.

    Returns
    -------
    PowerLaw

    Examples
    --------
    >>> fit_power_law([1, 10, 100], [2.0, 1.0, 0.5]).exponent  # halves per decade
    0.30102999566398...
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of equal length, got shapes {x.shape} and {y.shape}.")
    if (x <= 0).any() or (y <= 0).any() or not np.isfinite(np.concatenate([x, y])).all():
        raise ValueError("A power law is fitted on log-log axes: every x and y must be a finite "
                         "positive number. Drop zero, negative or nan points first.")
    if len(np.unique(x)) < 2:
        raise ValueError("Need at least two distinct x values to fit a slope.")
    log_x, log_y = np.log(x), np.log(y)
    slope, intercept = np.polyfit(log_x, log_y, 1)
    residual = log_y - (slope * log_x + intercept)
    spread = ((log_y - log_y.mean()) ** 2).sum()
    r2 = 1 - (residual ** 2).sum() / spread if spread > 0 else float("nan")
    return PowerLaw(float(math.exp(intercept)), float(-slope), float(r2))


def scaling_config(n_layer: int, n_embd: int, vocab_size: int, block_size: int = 64,
                   head_size: int = 16):
    """The GPTConfig of one size in the experiment: heads of ``head_size`` channels, no bias,
    no dropout (nanoGPT's small-data defaults, as the text chapter's model)."""
    from .models.gpt import GPTConfig

    if n_embd % head_size:
        raise ValueError(f"n_embd={n_embd} must be a multiple of head_size={head_size}.")
    return GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer,
                     n_head=n_embd // head_size, n_embd=n_embd, dropout=0.0, bias=False)


def run_scaling_experiment(sizes=SCALING_SIZES, *, iters: int = 400, batch_size: int = 16,
                           eval_interval: int = 50, lr: float = 3e-3, block_size: int = 64,
                           val_tokens: int | None = 16384,
                           device=None, seed: int = 0, progress: bool = False,
                           corpus: str = "shakespeare") -> list[dict]:
    """Train one GPT per size on the same tokens and record its validation loss as it trains.

    Every size gets the text chapter's fast recipe (AdamW, warm-up and cosine decay, clipping)
    with the same number of steps, batch and context, so they all see ``D = iters · batch_size
    · block_size`` tokens; only the width and depth change.

    Parameters
    ----------
    sizes : sequence of (n_layer, n_embd)
    iters, batch_size, eval_interval, lr, block_size :
        The training budget and recipe (``iters`` a multiple of ``eval_interval``).
    val_tokens : int or None
        Validate on the first ``val_tokens`` characters of the validation split (``None``: all
        of it, about 100,000); a fixed slice keeps the frequent evaluations cheap.
    device, seed, progress :
        As for :func:`bmcourse.training.recipes.gpt.train_language_model`.
    corpus : str
        A bundled corpus of :func:`bmcourse.data.text.load_text`.

    Returns
    -------
    list of dict
        One per size: ``n_layer``, ``n_embd``, ``n_head``, ``parameters`` (all),
        ``non_embedding`` (Kaplan's ``N``), ``tokens_per_step``, ``flops_per_token`` (exact
        matmul FLOPs of training, see :func:`bmcourse.sizing.gpt_training_flops`),
        ``steps`` and ``val_loss`` (nats per character at each evaluation), ``seconds``.
    """
    from .runtime import seed_everything
    from .sizing import gpt_parameter_breakdown, gpt_training_flops
    from .models.gpt import GPT
    from .data.windows import TokenWindows
    from .training.recipes.gpt import char_data, train_language_model

    if not sizes:
        raise ValueError("sizes is empty: give at least one (n_layer, n_embd).")
    tokenizer, train, val = char_data(block_size, corpus=corpus)
    if val_tokens is not None:
        val = TokenWindows(val.tokens[:val_tokens], block_size)
    results = []
    for n_layer, n_embd in sizes:
        config = scaling_config(n_layer, n_embd, tokenizer.vocab_size, block_size)
        seed_everything(seed)
        model = GPT(config)
        start = time.perf_counter()
        history = train_language_model(model, train, val, iters=iters, batch_size=batch_size,
                                       lr=lr, warmup=max(1, iters // 30),
                                       eval_interval=eval_interval, device=device, seed=seed,
                                       progress=progress)
        parts = gpt_parameter_breakdown(config)
        results.append({
            "n_layer": n_layer, "n_embd": n_embd, "n_head": config.n_head,
            "parameters": parts["total"], "non_embedding": parts["non_embedding"],
            "tokens_per_step": batch_size * block_size,
            "flops_per_token": gpt_training_flops(config, block_size) / block_size,
            "steps": list(history["iter"]), "val_loss": [float(v) for v in history["val_loss"]],
            "seconds": time.perf_counter() - start,
        })
    return results


def compute_frontier(results: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The compute-efficient frontier: for each evaluation of each size, in order of compute,
    the lowest loss reached by any size with at most that much compute.

    Returns
    -------
    flops, loss : np.ndarray, shape (k,)
        Points where the frontier improves, training FLOPs (exact count) and loss.
    """
    points = sorted((step * r["tokens_per_step"] * r["flops_per_token"], loss)
                    for r in results for step, loss in zip(r["steps"], r["val_loss"]))
    flops, losses, best = [], [], math.inf
    for compute, loss in points:
        if loss < best:
            best = loss
            flops.append(compute)
            losses.append(loss)
    return np.array(flops), np.array(losses)


def load_scaling_results(path: str | Path = SCALING_RESULTS_PATH,
                         sha256: str | None = None) -> dict:
    """The shipped scaling experiment, after checking the file's SHA-256.

    Returns
    -------
    dict
        ``results`` (a list as :func:`run_scaling_experiment` returns) and ``settings`` (the
        budget, the command, the machine's torch version and wall time).

    Raises
    ------
    RuntimeError
        If the file is missing or does not match its hash.
    """
    path = Path(path)
    sha256 = SCALING_RESULTS_SHA256 if sha256 is None else sha256
    fix = ("Reinstall bmcourse, or rerun `python -m bmcourse train scaling-gpt` and record the "
           "printed SHA-256 in bmcourse.scaling.SCALING_RESULTS_SHA256.")
    if not path.is_file():
        raise RuntimeError(f"The scaling results {path} are missing. {fix}")
    actual = sha256_of(path)
    if actual != sha256:
        raise RuntimeError(f"{path} has SHA-256 {actual[:12]}..., expected {sha256[:12]}...: the "
                           f"file was changed or is damaged. {fix}")
    return json.loads(path.read_text(encoding="utf-8"))
