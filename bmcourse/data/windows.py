"""Windows of a token sequence: what a language model trains on.

A language model learns to predict token ``t + 1`` from tokens ``0..t``. A window of
``block_size + 1`` consecutive tokens gives ``block_size`` such examples at once: the input is
its first ``block_size`` tokens, the target the same tokens shifted left by one.

:class:`TokenWindows` is a *batch source* for :func:`bmcourse.training.fit`: with a random
generator it yields random windows forever (set ``steps_per_epoch``), with ``generator=None`` one
fixed pass over non-overlapping windows, for evaluation. :func:`train_val_split` cuts a corpus
into a training and a validation part.
"""
from __future__ import annotations

import math

import torch

__all__ = ["train_val_split", "TokenWindows"]


def train_val_split(tokens, val_fraction: float = 0.1):
    """The first ``1 - val_fraction`` of a sequence for training, the rest for validation.

    A contiguous cut (as nanoGPT's ``prepare.py``), not a shuffle: shuffled windows would put
    overlapping text on both sides and the validation loss would flatter the model.

    Parameters
    ----------
    tokens : sequence (str, list or 1-D tensor)
    val_fraction : float
        In ``(0, 1)``.

    Returns
    -------
    train, val : same type as ``tokens``
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}.")
    cut = int(len(tokens) * (1 - val_fraction))
    if cut < 2 or len(tokens) - cut < 2:
        raise ValueError(f"A sequence of {len(tokens)} tokens is too short to split with "
                         f"val_fraction={val_fraction}: both parts need at least 2 tokens.")
    return tokens[:cut], tokens[cut:]


class TokenWindows:
    """Input/target windows of a token sequence, as a batch source for ``fit``.

    Parameters
    ----------
    tokens : 1-D LongTensor or list of int
        The token ids of a text (one split of it).
    block_size : int
        Tokens per input window, ``T``; the text needs at least ``T + 1`` tokens.

    Examples
    --------
    >>> windows = TokenWindows(torch.arange(100), block_size=8)
    >>> x, y = next(windows.batches(4, torch.Generator().manual_seed(0), "cpu"))
    >>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())
    (torch.Size([4, 8]), True)
    """

    def __init__(self, tokens, block_size: int):
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if tokens.ndim != 1:
            raise ValueError(f"tokens must be a 1-D sequence of ids, got shape {tuple(tokens.shape)}.")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a whole number >= 1, got {block_size!r}.")
        if len(tokens) < block_size + 1:
            raise ValueError(f"{len(tokens)} tokens are too few for windows of block_size="
                             f"{block_size} (input and target need block_size + 1); use a smaller "
                             "block_size or more text.")
        self.tokens, self.block_size = tokens, block_size
        self._on_device: dict[str, torch.Tensor] = {}

    @property
    def num_windows(self) -> int:
        """Non-overlapping windows in one evaluation pass.

        (Deliberately not ``__len__``: ``fit`` would read a length as a number of batches.)
        """
        return (len(self.tokens) - 1) // self.block_size

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def _tokens_on(self, device) -> torch.Tensor:
        # The whole text moves to the device once; windows are then gathered there.
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = self.tokens.to(device)
        return self._on_device[key]

    def batches(self, batch_size: int, generator: torch.Generator | None, device):
        """Yield ``(x, y)`` LongTensor pairs of shape ``(batch_size, block_size)`` on ``device``.

        Parameters
        ----------
        batch_size : int
        generator : torch.Generator or None
            A generator: random windows (start positions drawn uniformly), forever. ``None``:
            every non-overlapping window once, in order (the last batch may be smaller).
        device : torch.device or str
        """
        tokens, T = self._tokens_on(device), self.block_size
        offsets = torch.arange(T + 1, device=tokens.device)
        if generator is None:
            starts = torch.arange(self.num_windows, device=tokens.device) * T
            for i in range(0, len(starts), batch_size):
                window = tokens[starts[i:i + batch_size, None] + offsets]
                yield window[:, :-1], window[:, 1:]
            return
        while True:
            # Random starts come from the CPU generator (the one fit checkpoints), then move.
            starts = torch.randint(len(tokens) - T, (batch_size,), generator=generator)
            window = tokens[starts.to(tokens.device)[:, None] + offsets]
            yield window[:, :-1], window[:, 1:]

    def num_batches(self, batch_size: int) -> int:
        """Batches in one evaluation pass (``generator=None``)."""
        return math.ceil(self.num_windows / batch_size)

    def __repr__(self) -> str:
        return f"TokenWindows({len(self.tokens):,} tokens, block_size={self.block_size})"
