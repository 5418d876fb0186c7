"""Numbers that say how good a model is: accuracy and the confusion matrix.

Both take either class scores ``(N, K)`` (logits or probabilities; the largest wins) or
predicted labels ``(N,)``, together with the true labels ``(N,)``.
"""
from __future__ import annotations

import numbers

import torch

__all__ = ["accuracy", "confusion_matrix"]


def _labels(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn scores into predicted labels and check that they line up with ``targets``."""
    outputs, targets = torch.as_tensor(outputs), torch.as_tensor(targets)
    if targets.ndim != 1 or targets.is_floating_point():
        raise ValueError(f"targets must be integer class labels of shape (N,), got "
                         f"{tuple(targets.shape)} {targets.dtype}. Pass labels, not one-hot rows.")
    if outputs.ndim == 2:
        predicted = outputs.argmax(dim=1)
    elif outputs.ndim == 1 and not outputs.is_floating_point():
        predicted = outputs
    else:
        raise ValueError(f"outputs must be class scores (N, K) or integer labels (N,), got "
                         f"{tuple(outputs.shape)} {outputs.dtype}.")
    if len(predicted) != len(targets):
        raise ValueError(f"outputs have {len(predicted)} samples but targets have {len(targets)}; "
                         "they must match.")
    if len(targets) == 0:
        raise ValueError("No samples: pass at least one prediction and label.")
    # Labels may arrive as uint8 or int16 (compact storage); counting in that dtype would wrap
    # around (the flat index true * K + predicted overflows), so count in int64.
    return predicted.cpu().long(), targets.cpu().long()


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    outputs : tensor, (N, K) scores or (N,) integer labels
    targets : tensor, (N,) integer labels

    Returns
    -------
    float
        In ``[0, 1]``.

    Examples
    --------
    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    predicted, targets = _labels(outputs, targets)
    return (predicted == targets).float().mean().item()


def confusion_matrix(outputs: torch.Tensor, targets: torch.Tensor,
                     num_classes: int | None = None) -> torch.Tensor:
    """Count how often each true class is predicted as each class.

    Parameters
    ----------
    outputs : tensor, (N, K) scores or (N,) integer labels (any integer dtype)
    targets : tensor, (N,) integer labels (any integer dtype, e.g. uint8)
    num_classes : int, optional
        ``K``. Defaults to the number of score columns, else to the largest label + 1.

    Returns
    -------
    torch.Tensor
        ``(K, K)`` int64 on the CPU; entry ``[i, j]`` counts samples of true class ``i``
        predicted as ``j``. The diagonal holds the correct predictions; each row sums to
        the number of samples of that class.
    """
    predicted, targets = _labels(outputs, targets)
    if num_classes is None:
        num_classes = outputs.shape[1] if torch.as_tensor(outputs).ndim == 2 else \
            int(max(predicted.max(), targets.max())) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive whole number, got {num_classes!r}; "
                         "leave it out to count the classes from the data.")
    num_classes = int(num_classes)
    for name, labels in (("targets", targets), ("predicted labels", predicted)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes}), found "
                             f"{int(labels.min())}..{int(labels.max())}. Check num_classes.")
    # Each (true, predicted) pair becomes one index into a flattened K*K table.
    flat = targets * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)

