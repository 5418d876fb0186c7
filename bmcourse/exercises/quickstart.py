"""Exercises of the quickstart chapter (``book/quickstart.ipynb``)."""
import torch

from .core import Incorrect, Question, expect_close, expect_equal


def _check_accuracy(accuracy):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=generator)
    labels = torch.randint(0, 4, (50,), generator=generator)
    expected = (logits.argmax(dim=1) == labels).float().mean().item()
    result = accuracy(logits, labels)
    if isinstance(result, torch.Tensor):
        if result.numel() != 1:
            raise Incorrect(f"accuracy should return one number, but returned a tensor of shape {tuple(result.shape)}.")
        result = result.item()
    if not 0.0 <= float(result) <= 1.0:
        raise Incorrect(f"accuracy returned {result}; a fraction lies between 0 and 1 (did you forget to divide by N?).")
    expect_close(result, expected, what="accuracy(logits, labels) on a test batch")


q1 = Question(
    "Accuracy by hand",
    check=_check_accuracy,
    hint="`logits.argmax(dim=1)` gives the predicted class of each row; compare it with `labels`.",
    solution="```python\ndef accuracy(logits, labels):\n    return (logits.argmax(dim=1) == labels).float().mean().item()\n```",
)

q2 = Question(
    "Parameters of nn.Linear(1568, 10)",
    check=lambda answer: expect_equal(int(answer), 1568 * 10 + 10, what="the parameter count"),
    hint="A linear layer from n inputs to m outputs stores an m × n weight matrix and m biases.",
    solution="10 × 1568 weights + 10 biases = 15,690.",
)
