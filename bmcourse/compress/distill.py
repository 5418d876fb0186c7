"""Knowledge distillation (Hinton et al., 2015): the loss, and a ``step=`` for the one
training loop that computes the teacher's outputs on each batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..training.loop import train_step

__all__ = ["distillation_loss", "distillation_step"]

def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      targets: torch.Tensor, temperature: float = 4.0,
                      alpha: float = 0.1) -> torch.Tensor:
    """Hinton et al.'s (2015) distillation loss: soft teacher targets mixed with the labels.

    .. math::

        L = \\alpha \\, \\mathrm{CE}(z_s, y)
            + (1 - \\alpha) \\, T^2 \\, \\mathrm{KL}\\big(\\mathrm{softmax}(z_t / T)
            \\,\\|\\, \\mathrm{softmax}(z_s / T)\\big)

    A temperature ``T > 1`` softens both distributions, so the student also learns how the
    teacher ranks the wrong classes (a 7 that looks a bit like a 1). The soft term's gradient
    shrinks like ``1 / T²``; multiplying by ``T²`` keeps the two terms' balance independent of
    ``T``.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor, shape (N, K)
    targets : torch.LongTensor, shape (N,)
        True class indices.
    temperature : float
        ``T > 0``.
    alpha : float
        Weight of the label cross-entropy, in ``[0, 1]`` (Keras' convention; ``alpha = 1`` is
        plain cross-entropy, ``alpha = 0`` pure distillation).

    Returns
    -------
    torch.Tensor
        Scalar, the mean over the batch (KL with ``batchmean``).
    """
    if student_logits.ndim != 2 or teacher_logits.shape != student_logits.shape:
        raise ValueError(f"student and teacher logits must both have shape (N, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}.")
    if targets.shape != student_logits.shape[:1]:
        raise ValueError(f"targets must have shape ({student_logits.shape[0]},), one class "
                         f"index per sample, got {tuple(targets.shape)}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the weight of the label loss) must be in [0, 1], got {alpha}.")
    student_logits, teacher_logits = student_logits.float(), teacher_logits.float()
    hard = F.cross_entropy(student_logits, targets)
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1),
                    reduction="batchmean", log_target=True)
    return alpha * hard + (1 - alpha) * temperature ** 2 * soft


def distillation_step(teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.1):
    """A ``step=`` for :func:`bmcourse.training.fit` that trains the model as a student.

    For each batch the teacher (frozen, in eval mode) scores the *same* inputs the student sees
    — augmented ones included — and the step minimises :func:`distillation_loss` through
    :func:`bmcourse.training.train_step`, keeping its mixed precision, clipping and
    accumulation. Computing the teacher inside the step, rather than precomputing its logits
    and smuggling them in with the targets, keeps the labels plain class indices, so ``fit``'s
    accuracy and its validation (``loss_fn``, plain cross-entropy) still work unchanged.

    Parameters
    ----------
    teacher : nn.Module
        Maps the student's inputs to logits of the same shape; on the training device.
    temperature, alpha : float
        See :func:`distillation_loss`.

    Returns
    -------
    callable
        With :func:`~bmcourse.training.train_step`'s signature.

    Examples
    --------
    >>> history = fit(student, (x, y), epochs=5, val=(x_val, y_val),
    ...               step=distillation_step(teacher))  # doctest: +SKIP
    """
    distillation_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long),
                      temperature, alpha)  # check the settings now, not at the first batch
    teacher.eval()

    def step(model, x, y, *, loss_fn, **options):
        with torch.no_grad():
            teacher_logits = teacher(x).float()

        def soft_and_hard(outputs, targets):
            return distillation_loss(outputs, teacher_logits, targets, temperature, alpha)

        return train_step(model, x, y, loss_fn=soft_and_hard, **options)

    return step
