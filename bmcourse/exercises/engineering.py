"""Exercises of the engineering chapter (``book/engineering.ipynb``): training past one device."""
import torch

from .core import Incorrect, Question, as_whole_number, expect_equal


def _smallest_fp16_loss_scale(gradient: float) -> int:
    """The smallest power of two ``s`` for which ``gradient * s`` is not zero in float16."""
    scale = 1
    while torch.tensor(gradient * scale, dtype=torch.float64).to(torch.float16) == 0:
        scale *= 2
    return scale


def _check_loss_scale(answer):
    scale = as_whole_number(answer, what="the loss scale")
    expected = _smallest_fp16_loss_scale(1e-9)
    if scale == expected * 2:
        raise Incorrect("That works, but a smaller power of two works too: a value rounds to "
                        "float16's smallest subnormal once it exceeds half of it.")
    if scale == 2 ** 14 or scale == 2 ** 15:
        raise Incorrect("Zero is reached below the smallest *subnormal* (2**-24), not below the "
                        "smallest normal number (2**-14).")
    if scale < 1 or scale & (scale - 1):
        raise Incorrect("GradScaler's scales are powers of two (so scaling loses no mantissa "
                        "bits); give one, e.g. 2**10.")
    expect_equal(scale, expected, what="the smallest loss scale")


q1 = Question(
    "The smallest power-of-two loss scale that keeps a gradient of 1e-9 from flushing to zero "
    "in float16",
    check=_check_loss_scale,
    hint="float16's smallest positive (subnormal) number is 2**-24 ≈ 5.96e-8, and a number "
         "rounds to it once it is more than half of it. Try "
         "`torch.tensor(1e-9 * s).half()` for a few powers of two s.",
    solution="1e-9 · s must exceed 2**-25 ≈ 2.98e-8, so s > 29.8: **s = 32**. "
             "(`GradScaler` starts at 2**16 and halves on overflow.)",
)


def _check_accumulation(answer):
    steps = as_whole_number(answer, what="accumulate")
    if steps == 480 // 12:
        raise Incorrect("Each of the 8 processes contributes its own 12 sequences per "
                        "micro-batch: the global batch per micro-step is 8 × 12.")
    if 8 * 12 * steps != 480:
        raise Incorrect(f"8 processes × 12 sequences × {steps} micro-batches = {8 * 12 * steps} "
                        "sequences per update, not 480.")
    expect_equal(steps, 5, what="accumulate")


q2 = Question(
    "Gradient accumulation steps for a global batch of 480 sequences on 8 GPUs holding 12 each",
    check=_check_accumulation,
    hint="One update sees processes × micro-batch × accumulate sequences.",
    solution="480 / (8 · 12) = **5** (`fit(..., batch_size=12, accumulate=5)` in each of the 8 "
             "DDP processes) — nanoGPT's GPT-2 recipe uses exactly this arithmetic.",
)


def _check_zero3_memory(answer):
    try:
        gigabytes = float(answer)
    except (TypeError, ValueError):
        raise Incorrect("Give the memory as a number of gigabytes (1 GB = 1e9 bytes), "
                        "e.g. 12.5.") from None
    full = 16 * 1.5e9 / 1e9
    if abs(gigabytes - full) < 0.1:
        raise Incorrect("That is the whole model's state, on one GPU (or every GPU with plain "
                        "DDP). ZeRO-3 / FSDP shards all of it across the 8 GPUs.")
    if abs(gigabytes - 12 * 1.5e9 / 8 / 1e9 - 4 * 1.5) < 0.1:
        raise Incorrect("That shards only the optimizer state (ZeRO-1); stage 3 also shards "
                        "the 16-bit weights and gradients.")
    if abs(gigabytes - full / 8) > 0.01:
        raise Incorrect(f"{gigabytes} GB is not it: count 16 bytes per parameter (2 weights, "
                        "2 gradients, 12 for fp32 master weights and Adam's two moments), "
                        "then divide by the number of GPUs.")


q3 = Question(
    "Memory per GPU for the model state of a 1.5-billion-parameter model trained with "
    "mixed-precision Adam under ZeRO-3 (FSDP) on 8 GPUs, in GB, activations aside",
    check=_check_zero3_memory,
    hint="Mixed-precision Adam keeps 16 bytes per parameter: 2 (fp16/bf16 weights) + 2 "
         "(gradients) + 12 (fp32 master weights, first and second moments). ZeRO-3 splits "
         "all three evenly over the GPUs.",
    solution="16 B × 1.5e9 = 24 GB in all; over 8 GPUs **3 GB** each. (Plain DDP keeps 24 GB "
             "on every GPU; ZeRO-1, optimizer state only: 6 + 18/8 = 8.25 GB.)",
)
