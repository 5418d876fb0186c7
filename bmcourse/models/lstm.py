"""The seed's LSTM text generator, done right.

Seed 004 §5 builds ``Embedding(max_len, embedding_dim) -> LSTM(128) -> LSTM(128)`` and trains
it with categorical cross-entropy. Three things make it a language model:

* the embedding has one row per *token of the vocabulary* (the seed sizes it by the sequence
  length, so most token ids would index past its end);
* a linear layer projects each hidden state to ``vocab_size`` logits (the seed's output is the
  128-dimensional hidden state, which is not a distribution over tokens);
* the target at every position is the next token (see
  :class:`bmcourse.data.windows.TokenWindows`), scored with cross-entropy on the logits.

Like :class:`~bmcourse.models.gpt.GPT`, ``model(idx)`` maps ``(B, T)`` ids to ``(B, T, V)``
logits, so the same loop trains both and the same sampler continues a prompt. An LSTM needs no
KV cache: its state ``(h, c)`` already summarises the whole prefix in a fixed size.
"""
from __future__ import annotations

import torch
from torch import nn

from .gpt import sample_next_token

__all__ = ["LSTMLanguageModel"]


class LSTMLanguageModel(nn.Module):
    """Embedding -> stacked LSTM -> linear projection to the vocabulary.

    Parameters
    ----------
    vocab_size : int
        Number of token ids (rows of the embedding, columns of the logits).
    n_embd : int
        Embedding size.
    hidden_size : int
        LSTM state size (the seed uses 128).
    n_layer : int
        Stacked LSTM layers (the seed's code has 2; its text says 1).
    dropout : float
        Between LSTM layers and before the projection, while training.

    Examples
    --------
    >>> model = LSTMLanguageModel(vocab_size=65, n_embd=32, hidden_size=64)
    >>> model(torch.zeros(3, 10, dtype=torch.long)).shape
    torch.Size([3, 10, 65])
    """

    def __init__(self, vocab_size: int, n_embd: int = 128, hidden_size: int = 128,
                 n_layer: int = 2, dropout: float = 0.0):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("n_embd", n_embd),
                            ("hidden_size", hidden_size), ("n_layer", n_layer)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.lstm = nn.LSTM(n_embd, hidden_size, num_layers=n_layer, batch_first=True,
                            dropout=dropout if n_layer > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx: torch.Tensor, state=None, return_state: bool = False):
        """Logits for the next token at every position.

        Parameters
        ----------
        idx : torch.LongTensor, shape (B, T)
        state : tuple (h, c), optional
            Each ``(n_layer, B, hidden_size)``: where an earlier call left off.
        return_state : bool
            Also return the final state, to continue from it.

        Returns
        -------
        logits : torch.Tensor, shape (B, T, vocab_size)
        state : tuple (h, c)
            Only if ``return_state``.
        """
        if idx.ndim != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be a LongTensor of token ids of shape (B, T), got "
                             f"{tuple(idx.shape)} {idx.dtype}; add a batch dimension with idx[None].")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.vocab_size):
            raise ValueError(f"Token ids must lie in 0..{self.vocab_size - 1}, got "
                             f"{int(idx.min())}..{int(idx.max())}.")
        hidden, state = self.lstm(self.embedding(idx), state)
        logits = self.head(self.drop(hidden))
        return (logits, state) if return_state else logits

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Continue each prompt of ``idx`` (B, T) by ``max_new_tokens`` tokens; see
        :meth:`bmcourse.models.gpt.GPT.generate` for the sampling options."""
        was_training = self.training
        self.eval()
        try:
            logits, state = self(idx, return_state=True)
            for _ in range(max_new_tokens):
                next_token = sample_next_token(logits[:, -1, :], temperature, top_k, top_p, generator)
                idx = torch.cat([idx, next_token], dim=1)
                logits, state = self(next_token, state, return_state=True)
        finally:
            self.train(was_training)
        return idx
