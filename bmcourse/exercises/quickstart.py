"""Exercises of the quickstart chapter (``book/quickstart.ipynb``)."""
import math
import numbers

import numpy as np
import torch

from .core import (Incorrect, Question, _shown, as_whole_number, call_answer, expect_close,
                   expect_equal)


def _one_number(result) -> float:
    """The learner's accuracy as a float, or Incorrect saying what type was wrong."""
    if isinstance(result, (torch.Tensor, np.ndarray)):
        size = result.numel() if isinstance(result, torch.Tensor) else result.size
        if size != 1:
            raise Incorrect(f"accuracy should return one number, but returned an array of shape "
                            f"{tuple(result.shape)}; average the per-sample matches with "
                            ".float().mean().")
        result = result.item()
    elif isinstance(result, np.generic):
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise Incorrect(f"accuracy should return one number (a float or a one-element tensor), "
                        f"but returned {_shown(result)}.")
    return float(result)


def _check_accuracy(accuracy):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=generator)
    labels = torch.randint(0, 4, (50,), generator=generator)
    expected = (logits.argmax(dim=1) == labels).float().mean().item()
    result = _one_number(call_answer(accuracy, logits, labels, signature="accuracy(logits, labels)"))
    if math.isnan(result):
        raise Incorrect("accuracy returned nan (not a number); did it divide 0 by 0?")
    if not 0.0 <= result <= 1.0:
        raise Incorrect(f"accuracy returned {result}; a fraction lies between 0 and 1 (did you forget to divide by N?).")
    expect_close(result, expected, what="accuracy(logits, labels) on a test batch")


q1 = Question(
    "Accuracy by hand",
    check=_check_accuracy,
    hint="`logits.argmax(dim=1)` gives the predicted class of each row; compare it with `labels`.",
    solution="```python\ndef accuracy(logits, labels):\n    return (logits.argmax(dim=1) == labels).float().mean().item()\n```",
    expects="function",
)

q2 = Question(
    "Parameters of nn.Linear(1568, 10)",
    check=lambda answer: expect_equal(as_whole_number(answer, what="the parameter count"), 1568 * 10 + 10,
                                      what="the parameter count"),
    hint="A linear layer from n inputs to m outputs stores an m × n weight matrix and m biases.",
    solution="10 × 1568 weights + 10 biases = 15,690.",
)
