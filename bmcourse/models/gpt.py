"""A small GPT: a decoder-only transformer with a KV cache, on the course's attention module.

The architecture and the names follow Karpathy's nanoGPT (``model.py``, MIT licence), itself
GPT-2 (Radford et al., 2019): token and learned position embeddings, ``n_layer`` pre-norm blocks
of causal multi-head self-attention and a 4x-wide GELU MLP, a final LayerNorm, and an output
layer that shares its weight with the token embedding (weight tying; Press & Wolf, 2017).

Attention is :class:`bmcourse.models.attention.MultiHeadAttention`, the math chapter's module,
extended here with a key/value cache: when generating, each new token needs attention against
every earlier key and value, and those never change, so we keep them instead of recomputing
the whole prefix at every step. ``GPTConfig.use_fused`` picks PyTorch's fused attention kernel
(``F.scaled_dot_product_attention``) or the written-out
:func:`~bmcourse.models.attention.scaled_dot_product_attention`; both give the same outputs.

The model knows nothing about training: ``model(idx)`` returns logits, and
:meth:`GPT.generate` samples from them. :func:`shakespeare_char_gpt` loads the character-level
model shipped with the package.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..data.tokenizers import CharTokenizer
from .attention import MultiHeadAttention, scaled_dot_product_attention
from .weights import WEIGHTS_DIR, load_shipped

__all__ = ["GPTConfig", "GPT", "KVCache", "filter_logits", "sample_next_token",
           "shakespeare_char_gpt", "CHAR_GPT_PATH", "CHAR_GPT_SHA256"]

CHAR_GPT_PATH = WEIGHTS_DIR / "char_gpt.pt"
# Printed by `python -m bmcourse train char-gpt` (bmcourse/training/recipes/gpt.py).
CHAR_GPT_SHA256 = "8fbaee0a87db712b52aa80757ba9e67eb30131657f111ac3a3a98fa8871cf7d9"


@dataclass
class GPTConfig:
    """The shape of a GPT, with nanoGPT's field names.

    Attributes
    ----------
    block_size : int
        The longest context the model reads (it has a position embedding for each position).
    vocab_size : int
        Number of distinct token ids.
    n_layer, n_head, n_embd : int
        Transformer blocks, attention heads per block, channels per position
        (``n_head`` must divide ``n_embd``).
    dropout : float
        Dropout on embeddings, attention weights and residual branches while training.
    bias : bool
        Biases in the linear layers and LayerNorms (GPT-2 has them; nanoGPT's default drops
        them, slightly faster and no worse).
    use_fused : bool
        Use PyTorch's fused attention kernel (not a nanoGPT field: nanoGPT always uses it when
        available). The outputs are equal either way.
    """
    block_size: int = 256
    vocab_size: int = 65
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = False
    use_fused: bool = True

    def __post_init__(self):
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a whole number >= 1, got {value!r}.")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: "
                             "each head gets n_embd // n_head channels; pick n_head dividing n_embd.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}.")


class KVCache:
    """Keys and values of every layer for the positions seen so far, for one batch.

    ``keys[layer]`` and ``values[layer]`` have shape ``(B, n_head, T_seen, head_size)``.
    They are views of buffers with room for ``block_size`` positions, made at the first
    :meth:`GPT.forward` that uses the cache: a new position's key and value are written into
    their slot, instead of copying the whole prefix into a new tensor at every step.

    The cache is for inference (under ``torch.no_grad()`` or ``torch.inference_mode()``):
    writing into the buffers in place would break a backward pass through earlier steps.
    """

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer
        self._key_buffers: list[torch.Tensor | None] = [None] * n_layer
        self._value_buffers: list[torch.Tensor | None] = [None] * n_layer
        self._lengths = [0] * n_layer

    def __len__(self) -> int:
        """Number of positions cached."""
        return self._lengths[-1]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor, block_size: int):
        """Store the keys and values ``(B, n_head, T, head_size)`` of ``T`` new positions of
        ``layer``; return the keys and values of every position seen so far."""
        if self._key_buffers[layer] is None:
            B, H, _, D = k.shape
            self._key_buffers[layer] = k.new_empty(B, H, block_size, D)
            self._value_buffers[layer] = v.new_empty(B, H, block_size, D)
        seen, new = self._lengths[layer], k.shape[2]
        # narrow + copy_ rather than slice assignment: the same write, a few microseconds
        # less, which matters when a generation step is a hundred small operations.
        self._key_buffers[layer].narrow(2, seen, new).copy_(k)
        self._value_buffers[layer].narrow(2, seen, new).copy_(v)
        self._lengths[layer] = seen + new
        self.keys[layer] = self._key_buffers[layer].narrow(2, 0, seen + new)
        self.values[layer] = self._value_buffers[layer].narrow(2, 0, seen + new)
        return self.keys[layer], self.values[layer]


class CausalSelfAttention(MultiHeadAttention):
    """The math chapter's multi-head attention, causal, with an optional KV cache."""

    def __init__(self, config: GPTConfig):
        super().__init__(config.n_embd, config.n_head, bias=config.bias, dropout=config.dropout,
                         use_fused=config.use_fused)
        self.block_size = config.block_size

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                need_weights: bool = False):
        """Attend over ``x`` (B, T, C), after the cached positions if a cache is given."""
        B, T, C = x.shape
        head = C // self.n_heads
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, head).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.update(layer, k, v, self.block_size)
        T_k = k.shape[2]
        if T == 1:
            # One new query (a generation step with the cache) may see every key: no mask.
            mask, causal = None, False
        elif T == T_k:
            # No earlier positions: the usual lower triangle, which lets the fused kernel
            # skip the blocked half.
            mask, causal = None, True
        else:
            # Query i sits at position T_k - T + i; it may see keys 0..T_k - T + i.
            mask = torch.ones(T, T_k, dtype=torch.bool, device=x.device).tril(T_k - T)
            causal = False
        p = self.dropout if self.training else 0.0
        weights = None
        if self.use_fused and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                                 is_causal=causal)
        else:
            out, weights = scaled_dot_product_attention(q, k, v, mask=mask, causal=causal,
                                                        dropout_p=p, return_weights=True)
        out = self.proj(out.transpose(1, 2).reshape(B, T, C))
        return (out, weights) if need_weights else out


class MLP(nn.Module):
    """Position-wise feed-forward layer: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)): pre-norm, as in GPT-2."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, layer=0, need_weights=False):
        attended = self.attn(self.ln_1(x), cache, layer, need_weights)
        if need_weights:
            attended, weights = attended
        x = x + self.resid_dropout(attended)
        x = x + self.mlp(self.ln_2(x))
        return (x, weights) if need_weights else x


class GPT(nn.Module):
    """Decoder-only transformer language model.

    Parameters
    ----------
    config : GPTConfig

    Examples
    --------
    >>> model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=32))
    >>> model(torch.zeros(3, 10, dtype=torch.long)).shape
    torch.Size([3, 10, 65])
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # position embedding
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the output layer scores a hidden state against every token's embedding.
        self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch's output layer gets std 0.02 / sqrt(2L), so
        # the residual stream's variance does not grow with depth.
        for block in self.blocks:
            for layer in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(layer.weight, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Number of parameters; by default without the position embedding (as nanoGPT
        counts: the token embedding is shared with the output layer, so it stays in)."""
        n = sum(p.numel() for p in self.parameters())  # a tied weight is listed once
        return n - self.wpe.weight.numel() if non_embedding else n

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None,
                need_weights: bool = False):
        """Logits for the next token at every position.

        Parameters
        ----------
        idx : torch.LongTensor, shape (B, T)
            Token ids; ``T`` plus the cached length must not exceed ``config.block_size``.
        cache : KVCache, optional
            Keys and values of earlier positions: ``idx`` then continues those sequences, and
            its keys and values are appended to the cache.
        need_weights : bool
            Also return every layer's attention weights (uses the written-out attention).

        Returns
        -------
        logits : torch.Tensor, shape (B, T, vocab_size)
        weights : list of torch.Tensor, each (B, n_head, T, T_seen)
            Only if ``need_weights``.
        """
        self._check_ids(idx, len(cache) if cache is not None else 0)
        return self._logits(idx, cache, need_weights)

    def _check_ids(self, idx: torch.Tensor, start: int) -> None:
        if idx.ndim != 2 or idx.dtype != torch.long:
            raise ValueError(f"idx must be a LongTensor of token ids of shape (B, T), got "
                             f"{tuple(idx.shape)} {idx.dtype}; add a batch dimension with idx[None].")
        T = idx.shape[1]
        if start + T > self.config.block_size:
            raise ValueError(f"Sequence of {start + T} tokens is longer than block_size="
                             f"{self.config.block_size}; crop it to the last block_size tokens.")
        if T == 0:
            raise ValueError("idx has no tokens (T = 0); pass at least one.")
        if idx.min() < 0 or idx.max() >= self.config.vocab_size:
            raise ValueError(f"Token ids must lie in 0..{self.config.vocab_size - 1}, got "
                             f"{int(idx.min())}..{int(idx.max())}.")

    def _logits(self, idx, cache=None, need_weights=False, last_only=False):
        """The forward pass on checked ids; ``last_only``: logits of the last position only
        (all that generation needs, as in nanoGPT)."""
        start = len(cache) if cache is not None else 0
        T = idx.shape[1]
        # Rows start..start+T-1 of the position embedding: the same as self.wpe(arange), one
        # operation fewer per generated token.
        x = self.drop(self.wte(idx) + self.wpe.weight[start:start + T])
        all_weights = []
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer, need_weights)
            if need_weights:
                x, weights = x
                all_weights.append(weights)
        if last_only:
            x = x[:, -1:]
        logits = self.lm_head(self.ln_f(x))
        return (logits, all_weights) if need_weights else logits

    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Continue each sequence of ``idx`` by ``max_new_tokens`` sampled tokens.

        Parameters
        ----------
        idx : torch.LongTensor, shape (B, T)
            The prompts.
        max_new_tokens : int
        temperature : float
            Divides the logits before sampling; ``0`` means greedy (always the most likely token).
        top_k : int, optional
            Sample only among the ``top_k`` most likely tokens.
        top_p : float, optional
            Sample only among the smallest set of most likely tokens whose probability adds up
            to at least ``top_p`` (nucleus sampling, Holtzman et al., 2020).
        use_cache : bool
            Keep keys and values (a :class:`KVCache`) instead of re-reading the whole context
            at every step. Same tokens, far fewer FLOPs.
        generator : torch.Generator, optional
            For reproducible samples.

        Returns
        -------
        torch.LongTensor, shape (B, T + max_new_tokens)

        Notes
        -----
        The model has ``block_size`` positions. When the context would outgrow them, generation
        keeps only the last ``block_size // 2`` tokens and carries on from there (both paths do,
        so their outputs stay equal): with learned absolute positions a cache cannot slide one
        token at a time, since every cached key would change position.
        """
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must have shape (B, T) with T >= 1 (the prompt), got "
                             f"{tuple(idx.shape)}.")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}.")
        block = self.config.block_size
        start = max(0, idx.shape[1] - block)  # the context is idx[:, start:]
        self._check_ids(idx[:, start:], 0)
        was_training = self.training
        self.eval()
        cache = None
        try:
            # inference_mode is no_grad without autograd's bookkeeping (version counters, view
            # tracking): a little less work in each of the hundred small operations of a step.
            with torch.inference_mode():
                for _ in range(max_new_tokens):
                    if idx.shape[1] - start > block:
                        start = idx.shape[1] - block // 2
                        cache = None  # positions changed: start a new cache
                    # The prompt was checked above and sampled ids are in range, so the
                    # steps skip forward()'s checks (on a GPU, each would wait for the device).
                    if not use_cache:
                        logits = self._logits(idx[:, start:], last_only=True)
                    elif cache is None:
                        cache = KVCache(self.config.n_layer)
                        logits = self._logits(idx[:, start:], cache, last_only=True)
                    else:
                        logits = self._logits(idx[:, -1:], cache)
                    next_token = sample_next_token(logits[:, -1, :], temperature, top_k, top_p,
                                                   generator)
                    idx = torch.cat([idx, next_token], dim=1)
        finally:
            self.train(was_training)
        # An ordinary tensor for the caller: an inference tensor could not be changed in place
        # or saved for a backward pass outside inference mode.
        return idx.clone()


# ---------------------------------------------------------------------------- sampling

def filter_logits(logits: torch.Tensor, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Set the logits of tokens outside the top-k / top-p set to ``-inf``.

    Parameters
    ----------
    logits : torch.Tensor, shape (..., V)
    top_k : int, optional
        Keep the ``top_k`` largest logits (ties at the boundary are all kept).
    top_p : float, optional
        In ``(0, 1]``: keep the smallest set of largest-probability tokens whose total
        probability is at least ``top_p`` (the most likely token is always kept).

    Returns
    -------
    torch.Tensor, shape (..., V)
    """
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a whole number >= 1 (or None), got {top_k!r}.")
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1] (or be None), got {top_p!r}.")
        probs = torch.softmax(logits.float(), dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # A token is dropped when the tokens before it already hold at least top_p.
        mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        drop_sorted = mass_before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one token id per row of ``logits`` (B, V); returns a LongTensor (B, 1).

    ``temperature=0`` returns the most likely token (greedy decoding).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}.")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


# ---------------------------------------------------------------------------- shipped model

def shakespeare_char_gpt(device=None, verbose: bool = False) -> tuple[GPT, CharTokenizer]:
    """The character-level GPT shipped with bmcourse, trained on the bundled Shakespeare.

    Made by ``python -m bmcourse train char-gpt`` (see
    :func:`bmcourse.training.recipes.gpt.train_char_gpt_checkpoint`); the file's SHA-256 is
    checked and it is loaded with ``weights_only=True``.

    Parameters
    ----------
    device : optional
        Defaults to :func:`bmcourse.get_device`.
    verbose : bool
        Print how it was trained and its validation loss.

    Returns
    -------
    model : GPT
        In eval mode. ``model(idx)`` for a LongTensor ``(B, T)``, ``T <= model.config.block_size``,
        returns logits ``(B, T, vocab_size)``.
    tokenizer : CharTokenizer
        ``encode(str) -> list[int]``, ``decode(list[int]) -> str``.

    Raises
    ------
    RuntimeError
        If the shipped file is missing or does not match its recorded hash.
    """
    from ..runtime import get_device

    state, problem = load_shipped(CHAR_GPT_PATH, CHAR_GPT_SHA256)
    if state is None:
        raise RuntimeError(f"The shipped character-level GPT cannot be used: {problem}. "
                           "Reinstall bmcourse, or retrain it with `python -m bmcourse train "
                           "char-gpt` and record the printed SHA-256 in CHAR_GPT_SHA256.")
    info = state["info"]
    names = {f.name for f in fields(GPTConfig)}
    config = GPTConfig(**{k: v for k, v in info["config"].items() if k in names})
    model = GPT(config)
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    device = get_device(str(device)) if device is not None else get_device()
    if verbose:
        print(f"Shipped char GPT: {model.num_parameters():,} parameters, {info['iters']:,} "
              f"iterations, validation loss {info['val_loss']:.4f} nats/char "
              f"({info['val_loss'] / math.log(2):.3f} bits/char).")
    return model.to(device).eval(), CharTokenizer(info["alphabet"])


def config_dict(config: GPTConfig) -> dict:
    """A GPTConfig as a plain dict (what a weights-only checkpoint can hold)."""
    return asdict(config)
