"""Scaled dot-product attention and multi-head self-attention, written out in full.

Attention lets every position of a sequence build its output as a weighted average of the
values of all positions, the weights coming from how well its query matches each key:

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

(Vaswani et al., 2017). The functions here spell that out line by line so it can be read and
checked; :class:`MultiHeadAttention` can instead hand the same computation to
``torch.nn.functional.scaled_dot_product_attention``, which picks fused kernels (FlashAttention,
memory-efficient attention) on a GPU. Both paths give the same numbers; the tests hold them to
``nn.MultiheadAttention`` in float64.

Masks follow PyTorch's boolean convention: ``True`` means "may attend", ``False`` means "blocked".
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["scaled_dot_product_attention", "causal_mask", "padding_mask", "MultiHeadAttention"]


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean mask that lets position ``i`` attend to positions ``0..i`` only.

    Parameters
    ----------
    T : int
        Sequence length.

    Returns
    -------
    torch.Tensor
        Shape ``(T, T)``, dtype bool, ``True`` on and below the diagonal.
    """
    if T < 1:
        raise ValueError(f"causal_mask needs a sequence length of at least 1, got T={T}.")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(lengths, T: int | None = None) -> torch.Tensor:
    """Boolean key mask for a batch of padded sequences: keys past each length are blocked.

    Parameters
    ----------
    lengths : sequence of int or torch.Tensor, shape (B,)
        The true length of each sequence in the batch.
    T : int, optional
        The padded length. Defaults to ``max(lengths)``.

    Returns
    -------
    torch.Tensor
        Shape ``(B, 1, 1, T)``, dtype bool; it broadcasts against attention scores of shape
        ``(B, H, T_q, T)``, so every query of sequence ``b`` ignores its padding keys.
    """
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be a 1-D list of sequence lengths, got shape {tuple(lengths.shape)}.")
    T = int(lengths.max()) if T is None else T
    if int(lengths.min()) < 1 or int(lengths.max()) > T:
        raise ValueError(f"Every length must lie in 1..T={T}; got {lengths.tolist()}. "
                         "A sequence of length 0 would attend to nothing.")
    positions = torch.arange(T, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]


def _combine_masks(mask, causal: bool, T_q: int, T_k: int, device) -> torch.Tensor | None:
    """One boolean mask (or None) from an optional user mask and the causal flag."""
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got dtype {mask.dtype}. "
                        "Convert an additive float mask with `mask == 0`.")
    if not causal:
        return mask
    if T_q != T_k:
        # With a key/value cache the queries are the *last* T_q positions; a plain lower
        # triangle would align them with the first ones. Make that choice explicit.
        raise ValueError(f"causal=True needs as many queries as keys (got {T_q} and {T_k}). "
                         "Pass an explicit boolean mask instead.")
    tri = causal_mask(T_q, device=device)
    return tri if mask is None else mask & tri


def _check_mask(mask: torch.Tensor | None, scores_shape: torch.Size) -> None:
    """Raise a clear error unless ``mask`` broadcasts to the scores' shape (..., T_q, T_k)."""
    if mask is None:
        return
    try:
        fits = torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the attention "
                         f"scores of shape {tuple(scores_shape)} (..., T_q, T_k). Use causal_mask(T) "
                         "of shape (T, T) or padding_mask(lengths) of shape (B, 1, 1, T).")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, causal: bool = False,
                                 dropout_p: float = 0.0, return_weights: bool = False):
    """softmax(q k^T / sqrt(d_k)) v, computed step by step.

    Parameters
    ----------
    q : torch.Tensor, shape (..., T_q, d_k)
        Queries. Leading dimensions (batch, heads) are shared by ``k`` and ``v``.
    k : torch.Tensor, shape (..., T_k, d_k)
        Keys.
    v : torch.Tensor, shape (..., T_k, d_v)
        Values.
    mask : torch.Tensor of bool, optional
        Broadcastable to ``(..., T_q, T_k)``; ``True`` where query ``i`` may attend to key ``j``.
    causal : bool
        Also block every key after the query's own position (needs ``T_q == T_k``).
    dropout_p : float
        Probability of dropping an attention weight (pass 0 at evaluation time).
    return_weights : bool
        Also return the attention weights.

    Returns
    -------
    out : torch.Tensor, shape (..., T_q, d_v)
    weights : torch.Tensor, shape (..., T_q, T_k)
        Only if ``return_weights``. Each row sums to 1, except rows whose keys are all masked,
        which are 0 (their output is 0, as in PyTorch).
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"Queries and keys must have the same size d_k to be compared, got "
                         f"q {tuple(q.shape)} and k {tuple(k.shape)}.")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"Keys and values must come in pairs (same length T_k), got "
                         f"k {tuple(k.shape)} and v {tuple(v.shape)}.")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"q, k and v must share their leading (batch, head) dimensions, got "
                         f"{tuple(q.shape)}, {tuple(k.shape)} and {tuple(v.shape)}.")
    d_k = q.shape[-1]
    # Dividing by sqrt(d_k) keeps the scores at unit variance whatever d_k is (the variance of a
    # dot product of d_k unit-variance terms is d_k); larger scores would saturate the softmax.
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, T_k)
    mask = _combine_masks(mask, causal, q.shape[-2], k.shape[-2], q.device)
    _check_mask(mask, scores.shape)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # A row with every key blocked is softmax(-inf, ..., -inf) = NaN; make it 0 instead.
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    out = weights @ v
    return (out, weights) if return_weights else out


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention on batch-first sequences ``(B, T, C)``.

    The input is projected to queries, keys and values, split into ``n_heads`` heads of size
    ``d_model // n_heads`` that attend independently, and the heads' outputs are concatenated
    and projected back to ``d_model``.

    Parameters
    ----------
    d_model : int
        Channels per position, ``C`` (at least 1).
    n_heads : int
        Number of heads (at least 1); must divide ``d_model``.
    bias : bool
        Use biases in the projections.
    dropout : float
        Dropout on the attention weights while training, in ``[0, 1]``.
    use_fused : bool
        Compute attention with ``torch.nn.functional.scaled_dot_product_attention`` (fused
        kernels on GPU) instead of :func:`scaled_dot_product_attention`. Asking for the weights
        always uses the written-out version, because the fused kernels never form them.

    Raises
    ------
    TypeError
        If ``d_model`` or ``n_heads`` is not a whole number (``8.0``, ``"8"``, ``True``), or
        ``dropout`` is not a number.
    ValueError
        If either is below 1, if ``n_heads`` does not divide ``d_model`` (the message names the
        nearest head counts that do), or if ``dropout`` is outside ``[0, 1]``.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0,
                 use_fused: bool = False):
        super().__init__()
        for name, value in (("d_model", d_model), ("n_heads", n_heads)):
            # bool is an int in Python, but MultiHeadAttention(True, 1) is surely a mistake.
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be a whole number (an int), got {value!r} of type "
                                f"{type(value).__name__}; e.g. MultiHeadAttention(64, n_heads=8).")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}: "
                                 + ("attention needs at least one head." if name == "n_heads" else
                                    "each position needs at least one channel."))
        if d_model % n_heads != 0:
            lower = max(h for h in range(1, min(n_heads, d_model) + 1) if d_model % h == 0)
            higher = [h for h in range(n_heads + 1, d_model + 1) if d_model % h == 0][:1]
            nearest = (f"the nearest that do are {lower} and {higher[0]}" if higher
                       else f"the largest that does is {lower}")
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}: each head "
                             f"gets d_model // n_heads channels. Choose n_heads that divides "
                             f"d_model; {nearest}.")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
            raise TypeError(f"dropout must be a number (a probability), got {dropout!r}.")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout is a probability in [0, 1], got {dropout}.")
        d_model, n_heads = int(d_model), int(n_heads)  # plain ints, e.g. from numpy.int64
        self.d_model, self.n_heads, self.dropout, self.use_fused = d_model, n_heads, dropout, use_fused
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # queries, keys, values in one matmul
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, causal: bool = False,
                need_weights: bool = False):
        """Attend over the sequence.

        Parameters
        ----------
        x : torch.Tensor, shape (B, T, d_model)
        mask : torch.Tensor of bool, optional
            Broadcastable to ``(B, n_heads, T, T)``, ``True`` = may attend; e.g. ``causal_mask(T)``
            of shape ``(T, T)`` or ``padding_mask(lengths)`` of shape ``(B, 1, 1, T)``.
        causal : bool
            Each position attends only to itself and earlier positions.
        need_weights : bool
            Also return the attention weights of every head.

        Returns
        -------
        out : torch.Tensor, shape (B, T, d_model)
        weights : torch.Tensor, shape (B, n_heads, T, T)
            Only if ``need_weights``.
        """
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"Expected input of shape (B, T, {self.d_model}), got {tuple(x.shape)}. "
                             "Add a batch dimension with x[None] for a single sequence.")
        B, T, C = x.shape
        head = C // self.n_heads
        # (B, T, 3C) -> three tensors (B, n_heads, T, head)
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, head).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        if self.use_fused and not need_weights:
            mask = _combine_masks(mask, causal, T, T, x.device)
            _check_mask(mask, torch.Size((B, self.n_heads, T, T)))
            out, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        else:
            out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal,
                                                        dropout_p=p, return_weights=True)
        out = self.proj(out.transpose(1, 2).reshape(B, T, C))  # concatenate the heads
        return (out, weights) if need_weights else out

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention, use_fused: bool = False) -> "MultiHeadAttention":
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (self-attention, same sizes).

        Both modules store the query, key and value projections stacked in that order, so the
        weights copy over unchanged.
        """
        if not mha._qkv_same_embed_dim:
            raise ValueError("Only nn.MultiheadAttention with kdim = vdim = embed_dim can be copied.")
        has_bias = mha.in_proj_bias is not None
        if mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("add_bias_kv and add_zero_attn have no counterpart here; build the "
                             "nn.MultiheadAttention without them.")
        ours = cls(mha.embed_dim, mha.num_heads, bias=has_bias, dropout=mha.dropout, use_fused=use_fused)
        ours = ours.to(device=mha.in_proj_weight.device, dtype=mha.in_proj_weight.dtype)
        with torch.no_grad():
            ours.qkv.weight.copy_(mha.in_proj_weight)
            ours.proj.weight.copy_(mha.out_proj.weight)
            if has_bias:
                ours.qkv.bias.copy_(mha.in_proj_bias)
                ours.proj.bias.copy_(mha.out_proj.bias)
        return ours
