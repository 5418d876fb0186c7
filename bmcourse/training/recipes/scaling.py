"""The concepts chapter's recipe: the scaling experiment, run once and shipped as JSON.

``python -m bmcourse train scaling-gpt`` trains every size of
:data:`bmcourse.scaling.SCALING_SIZES` on the bundled Shakespeare and writes the measured
losses to :data:`bmcourse.scaling.SCALING_RESULTS_PATH`; the chapter loads that file (checking
its SHA-256) because the experiment takes longer than a book build may.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from ...files import atomic_write, sha256_of
from ...scaling import SCALING_RESULTS_PATH, SCALING_SIZES, run_scaling_experiment
from .registry import recipe

__all__ = ["train_scaling_gpt"]


@recipe("scaling-gpt")
def train_scaling_gpt(out: str | Path = SCALING_RESULTS_PATH, *, iters: int = 400,
                      device: str = "cpu", seed: int = 0,
                      progress: bool = True) -> tuple[Path, dict]:
    """Run the scaling experiment (six GPT sizes, same tokens) and write its results as JSON.

    Returns
    -------
    path : pathlib.Path
    info : dict
        Includes ``sha256``, to record in ``bmcourse.scaling.SCALING_RESULTS_SHA256``.
    """
    start = time.perf_counter()
    results = run_scaling_experiment(SCALING_SIZES, iters=iters, device=device, seed=seed,
                                     progress=progress)
    settings = {"iters": iters, "batch_size": 16, "block_size": 64, "eval_interval": 50,
                "val_tokens": 16384, "lr": 3e-3, "seed": seed, "device": device,
                "corpus": "bundled Shakespeare, first 90% of characters (validation: the first "
                          "16,384 characters of the last 10%)",
                "command": f"python -m bmcourse train scaling-gpt --iters {iters} --seed {seed}",
                "torch": torch.__version__, "machine": platform.machine(),
                "wall_seconds": round(time.perf_counter() - start, 1)}
    for result in results:
        result["seconds"] = round(result["seconds"], 1)
    out = Path(out)
    with atomic_write(out, "w") as handle:
        json.dump({"settings": settings, "results": results}, handle, indent=1)
    return out, {"sha256": sha256_of(out), "record_in": "bmcourse/scaling.py (SCALING_RESULTS_SHA256)",
                 "wall_seconds": settings["wall_seconds"]}
