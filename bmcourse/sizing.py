"""How big a model is: parameters, FLOPs and memory, in closed form and measured.

:func:`count_parameters` counts scalars; :func:`layer_summary` prints a per-layer table like
Keras' ``model.summary()``, with multiply-accumulates and receptive fields.

For the course's GPT (:class:`bmcourse.models.gpt.GPT`) the same quantities have closed forms
in the shape of the model (``L`` layers, ``C`` channels, ``H`` heads, vocabulary ``V``,
context ``T``, batch ``B``):

* parameters: :func:`gpt_parameter_count` (about ``12·L·C²`` plus the embeddings);
* FLOPs: :func:`gpt_forward_flops` (``2`` per multiply-add of every weight, plus attention's
  ``4·L·T·C`` per token), :func:`training_flops` (the ``6·N·D`` rule);
* memory: :data:`BYTES_PER_PARAMETER` (weights, gradients and optimizer state) and
  :func:`gpt_activation_bytes` (what autograd keeps for the backward pass).

:func:`measure_flops` and :func:`measure_saved_activation_bytes` measure the last two on a
real model, so the formulas can be checked rather than trusted.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["count_parameters", "layer_summary", "gpt_parameter_breakdown", "gpt_parameter_count",
           "gpt_matmul_parameters", "gpt_forward_flops", "gpt_training_flops",
           "training_flops", "inference_flops_per_token", "measure_flops",
           "BYTES_PER_PARAMETER", "memory_bytes", "gpus_needed", "gpt_activation_bytes",
           "measure_saved_activation_bytes"]


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``model``.

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_summary(model: nn.Module, input_shape: tuple, verbose: bool = True) -> list[dict]:
    """What every layer of a chain-shaped model does: output shape, parameters, cost.

    Runs one zero input through ``model`` (in eval mode) and records, for each leaf module in
    the order it runs: its output shape, its own parameter count, its multiply-accumulates
    (MACs; convolutions and linear layers only — the others cost little), and, for layers up to
    the last convolution or pooling, the receptive field: the side of the input patch that one
    output pixel can see.

    Parameters
    ----------
    model : nn.Module
    input_shape : tuple
        One input without the batch dimension, e.g. ``(1, 28, 28)``.
    verbose : bool
        Print the table.

    Returns
    -------
    list of dict
        Keys ``name``, ``layer``, ``output_shape``, ``params``, ``macs``, ``receptive_field``
        (``None`` where it does not apply). One FLOP count is ``2 * macs``.
    """
    rows, hooks = [], []
    jump, field = 1, 1  # distance in input pixels between neighbouring outputs; window side

    def record(name):
        def hook(module, inputs, output):
            nonlocal jump, field
            macs, receptive = 0, None
            if isinstance(module, nn.Conv2d):
                macs = output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
            elif isinstance(module, nn.Linear):
                macs = output.numel() * module.in_features
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
                stride = module.stride if isinstance(module.stride, int) else module.stride[0]
                field, jump = field + (kernel - 1) * jump, jump * stride
            if output.ndim == 4:
                receptive = field
            rows.append({"name": name, "layer": type(module).__name__,
                         "output_shape": tuple(output.shape[1:]),
                         "params": sum(p.numel() for p in module.parameters(recurse=False)),
                         "macs": macs, "receptive_field": receptive})
        return hook

    for name, module in model.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        device = next(model.parameters(), torch.empty(0)).device  # CPU for parameter-free models
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    if verbose:
        print(f"{'layer':<18}{'output shape':>16}{'params':>10}{'MACs':>12}{'RF':>5}")
        for row in rows:
            shape = "x".join(str(s) for s in row["output_shape"])
            field_text = "" if row["receptive_field"] is None else str(row["receptive_field"])
            print(f"{row['name'] + ' ' + row['layer']:<18.18}{shape:>16}{row['params']:>10,}"
                  f"{row['macs']:>12,}{field_text:>5}")
        print(f"{'total':<18}{'':>16}{sum(r['params'] for r in rows):>10,}"
              f"{sum(r['macs'] for r in rows):>12,}")
    return rows


# ---------------------------------------------------------------------------- GPT parameters

def _check_config(config) -> None:
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "bias"):
        if not hasattr(config, name):
            raise TypeError(f"Expected a GPTConfig (bmcourse.models.gpt), got {type(config).__name__} "
                            f"without a {name!r} field; build one with GPTConfig(n_layer=..., ...).")


def gpt_parameter_breakdown(config, tied: bool = True) -> dict[str, int]:
    """Parameters of a :class:`~bmcourse.models.gpt.GPT`, part by part, in closed form.

    With ``C = n_embd``, ``L = n_layer``, ``V = vocab_size``: a block holds the attention's
    query/key/value and output matrices (``3C² + C²``), the MLP's two matrices
    (``4C² + 4C²``) and two LayerNorm gains (``2C``), so ``12C² + 2C`` parameters; biases add
    ``3C + C + 4C + C`` to the linear layers and ``2C`` to the norms, ``13C`` in all.

    Parameters
    ----------
    config : GPTConfig
    tied : bool
        The output layer shares the token embedding's matrix (as in GPT-2 and our GPT); without
        tying it adds ``V·C``.

    Returns
    -------
    dict
        ``token_embedding`` (V·C), ``position_embedding`` (T·C), ``attention``, ``mlp``,
        ``norms`` (all LayerNorms, the final one included), ``output`` (0 when tied) and
        ``total``; ``non_embedding`` is the total less both embeddings (Kaplan et al.'s ``N``).
    """
    _check_config(config)
    C, L, V = config.n_embd, config.n_layer, config.vocab_size
    bias = 1 if config.bias else 0
    parts = {
        "token_embedding": V * C,
        "position_embedding": config.block_size * C,
        "attention": L * (4 * C * C + bias * 4 * C),  # qkv (C x 3C) and the output projection
        "mlp": L * (8 * C * C + bias * 5 * C),        # C -> 4C -> C
        "norms": (2 * L + 1) * C * (1 + bias),        # two per block and the final one
        "output": 0 if tied else V * C,
    }
    parts["total"] = sum(parts.values())
    parts["non_embedding"] = parts["total"] - parts["token_embedding"] - parts["position_embedding"]
    return parts


def gpt_parameter_count(config, tied: bool = True, non_embedding: bool = False) -> int:
    """Total parameters of a :class:`~bmcourse.models.gpt.GPT` with this config, closed form.

    Equal to ``count_parameters(GPT(config))`` (a tied matrix counts once).

    Parameters
    ----------
    config : GPTConfig
    tied : bool
        Output layer tied to the token embedding.
    non_embedding : bool
        Leave out the token and position embeddings (Kaplan et al., 2020, count this way).

    Examples
    --------
    >>> from bmcourse.models.gpt import GPTConfig
    >>> gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12,
    ...                  n_embd=768, bias=True)
    >>> gpt_parameter_count(gpt2)
    124439808
    """
    parts = gpt_parameter_breakdown(config, tied)
    return parts["non_embedding"] if non_embedding else parts["total"]


def gpt_matmul_parameters(config) -> int:
    """Weights that take part in a matrix multiply for every token: ``12·L·C² + V·C``.

    Each costs one multiply-add (2 FLOPs) per token in the forward pass. Embedding lookups,
    LayerNorm gains and biases cost (almost) nothing, which is why ``2N`` is only nearly the
    forward cost. The ``V·C`` is the output layer (the tied token embedding, read as a matrix).
    """
    _check_config(config)
    C = config.n_embd
    return 12 * config.n_layer * C * C + config.vocab_size * C


# ---------------------------------------------------------------------------- FLOPs

def gpt_forward_flops(config, seq_len: int, batch_size: int = 1) -> int:
    """Matrix-multiply FLOPs of one forward pass of a GPT over ``(batch_size, seq_len)`` tokens.

    ``2·B·T·(12·L·C² + V·C)`` for the weights plus ``4·B·L·T²·C`` for attention: the scores
    ``QKᵀ`` and the weighted sum ``AV`` each cost ``2·T·C`` per token and layer. The causal
    mask makes half of those products useless, but the written-out attention (and this count,
    as PaLM's and nanoGPT's) computes all of them. Elementwise work (softmax, GELU, norms) is
    not counted: it is a few percent, and memory-bound rather than FLOP-bound.

    Parameters
    ----------
    config : GPTConfig
    seq_len : int
        ``T``, at most ``config.block_size``.
    batch_size : int

    Returns
    -------
    int
        FLOPs (one multiply-add = 2 FLOPs), as ``torch.utils.flop_counter.FlopCounterMode``
        counts them for the written-out attention (``use_fused=False``).
    """
    _check_config(config)
    for name, value in (("seq_len", seq_len), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    B, T, L, C = batch_size, seq_len, config.n_layer, config.n_embd
    return 2 * B * T * gpt_matmul_parameters(config) + 4 * B * L * T * T * C


def gpt_training_flops(config, seq_len: int, batch_size: int = 1) -> int:
    """FLOPs of one training step (forward and backward) on ``(batch_size, seq_len)`` tokens.

    The backward pass of a matrix multiply ``Y = XW`` computes two products of the same size,
    ``dX = dY·Wᵀ`` and ``dW = Xᵀ·dY``, so it costs twice the forward: 3 forwards in all. Per
    token that is ``6·(12·L·C² + V·C) + 12·L·T·C``, nanoGPT's ``estimate_mfu`` formula.
    """
    return 3 * gpt_forward_flops(config, seq_len, batch_size)


def training_flops(n_parameters: float, n_tokens: float) -> float:
    """The ``6·N·D`` rule: FLOPs to train ``N`` parameters on ``D`` tokens.

    2 FLOPs per parameter and token forward, 4 backward. It ignores attention's
    ``12·L·T·C`` per token, so it underestimates when ``T`` is not small against ``12·C``
    (long contexts, narrow models); see :func:`gpt_training_flops`.
    """
    if n_parameters < 0 or n_tokens < 0:
        raise ValueError(f"Parameters and tokens must be >= 0, got {n_parameters} and {n_tokens}.")
    return 6.0 * n_parameters * n_tokens


def inference_flops_per_token(n_parameters: float) -> float:
    """``2·N``: FLOPs to generate one token with a KV cache (attention against the cache not
    counted: ``4·L·T·C`` more at context ``T``)."""
    if n_parameters < 0:
        raise ValueError(f"n_parameters must be >= 0, got {n_parameters}.")
    return 2.0 * n_parameters


def measure_flops(model: nn.Module, inputs: torch.Tensor, loss_fn=None) -> dict[str, int]:
    """Count the FLOPs PyTorch runs, with ``torch.utils.flop_counter.FlopCounterMode``.

    Parameters
    ----------
    model : nn.Module
    inputs : torch.Tensor
        One batch, e.g. token ids ``(B, T)``.
    loss_fn : callable, optional
        ``loss_fn(outputs, inputs) -> scalar``; when given, the backward pass is counted too.

    Returns
    -------
    dict
        ``forward`` and, with ``loss_fn``, ``backward`` FLOPs.

    Notes
    -----
    FlopCounterMode counts matrix multiplies and convolutions only, from a table of operators;
    an operator missing from the table counts zero. In PyTorch 2.x that is the case of the
    fused attention kernel on the CPU, so measure a GPT with ``use_fused=False``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        outputs = model(inputs)
    result = {"forward": counter.get_total_flops()}
    if loss_fn is not None:
        loss = loss_fn(outputs, inputs)
        with FlopCounterMode(display=False) as counter:
            loss.backward()
        result["backward"] = counter.get_total_flops()
    return result


# ---------------------------------------------------------------------------- memory

# Bytes of memory per parameter, before activations. Training with Adam keeps, for every
# parameter, the weight, its gradient and two running moments. Mixed precision (Micikevicius
# et al., 2018; ZeRO's accounting, Rajbhandari et al., 2020) keeps 16-bit weights and
# gradients for the arithmetic, plus an fp32 master copy of the weights for the update, so it
# saves no memory here: its savings are in activations and speed.
BYTES_PER_PARAMETER = {
    "fp32 training, Adam": {"weights": 4, "gradients": 4, "Adam moments": 8},
    "mixed precision training, Adam": {"weights": 2, "gradients": 2,
                                       "fp32 master weights": 4, "Adam moments": 8},
    "fp32 inference": {"weights": 4},
    "bf16 inference": {"weights": 2},
    "int8 inference": {"weights": 1},
    "int4 inference": {"weights": 0.5},
}


def memory_bytes(n_parameters: float, regime: str) -> float:
    """Bytes for the weights, gradients and optimizer state of ``n_parameters`` parameters.

    Parameters
    ----------
    n_parameters : float
    regime : str
        A key of :data:`BYTES_PER_PARAMETER`, e.g. ``"mixed precision training, Adam"``.
    """
    if regime not in BYTES_PER_PARAMETER:
        raise ValueError(f"Unknown regime {regime!r}; choose one of {sorted(BYTES_PER_PARAMETER)}.")
    if n_parameters < 0:
        raise ValueError(f"n_parameters must be >= 0, got {n_parameters}.")
    return n_parameters * sum(BYTES_PER_PARAMETER[regime].values())


def gpus_needed(n_parameters: float, regime: str, gpu_gb: float = 80.0,
                extra_bytes: float = 0.0) -> int:
    """The fewest GPUs of ``gpu_gb`` GB (10⁹ bytes) whose memory holds the model's state.

    Assumes the state is split evenly across GPUs (ZeRO stage 3 / FSDP for training, tensor or
    pipeline parallelism for inference) and that nothing else is needed besides
    ``extra_bytes`` (activations, KV cache, framework buffers): a lower bound.
    """
    if gpu_gb <= 0:
        raise ValueError(f"gpu_gb must be > 0, got {gpu_gb}.")
    return max(1, math.ceil((memory_bytes(n_parameters, regime) + extra_bytes) / (gpu_gb * 1e9)))


def gpt_activation_bytes(config, seq_len: int, batch_size: int = 1, fused: bool | None = None) -> int:
    """Bytes autograd keeps for the backward pass of a float32 GPT's forward and loss.

    Per block, our GPT saves 16 tensors' worth of ``B·T·C`` floats: the block input and the
    LayerNorm output (qkv's input), the queries, keys and values, the attention output (the
    projection's input), the second residual stream and LayerNorm output, and the MLP's
    ``4C``-wide pre- and post-GELU activations; plus each LayerNorm's mean and inverse standard
    deviation (``2·B·T`` each). The attention itself keeps either ``B·H·T`` floats (the fused
    kernel's log-sum-exp; it recomputes the ``T×T`` weights in the backward pass, as
    FlashAttention does) or, written out, the scores and the softmax, ``2·B·H·T²`` floats, and
    the ``T×T`` boolean mask. Around the blocks: the token ids (int64; the position embedding
    is a slice of its weight, which saves nothing), the final LayerNorm, and the logits'
    log-softmax (``B·T·V`` floats).

    Parameters
    ----------
    config : GPTConfig
        With ``dropout=0`` (dropout would add its masks).
    seq_len, batch_size : int
    fused : bool, optional
        Fused attention kernel; defaults to ``config.use_fused``.

    Returns
    -------
    int
        Bytes, as :func:`measure_saved_activation_bytes` measures them on the CPU in float32.
    """
    _check_config(config)
    if getattr(config, "dropout", 0.0):
        raise ValueError(f"The formula assumes dropout=0 (got {config.dropout}); dropout keeps a "
                         "mask per dropout layer on top. Use GPTConfig(dropout=0.0).")
    fused = getattr(config, "use_fused", True) if fused is None else fused
    B, T, L, C, H, V = (batch_size, seq_len, config.n_layer, config.n_embd, config.n_head,
                        config.vocab_size)
    floats = 4
    per_block = floats * (16 * B * T * C + 4 * B * T)
    if fused:
        per_block += floats * B * H * T
    else:
        per_block += floats * 2 * B * H * T * T + T * T + T  # scores, softmax; bool masks
    around = 8 * B * T                            # token ids, int64 (positions are a slice)
    around += floats * (2 * B * T * C + 2 * B * T)  # final LayerNorm's input, output, statistics
    around += floats * B * T * V + floats          # log-softmax of the logits; the loss
    return L * per_block + around


def measure_saved_activation_bytes(model: nn.Module, inputs: torch.Tensor, loss_fn) -> int:
    """Bytes of the tensors autograd saves for one training step of ``model`` on ``inputs``.

    Every tensor an operation keeps for its backward pass goes through a
    ``torch.autograd.graph.saved_tensors_hooks`` pack hook
    (:func:`bmcourse.memory.saved_activation_bytes`); each storage counts once (``q``, ``k``
    and ``v``, views of one ``qkv`` output, share one), and the model's parameters, in memory
    anyway, are left out: what is left is the activation memory.

    Parameters
    ----------
    model : nn.Module
    inputs : torch.Tensor
    loss_fn : callable
        ``loss_fn(model(inputs), inputs) -> scalar``.

    Returns
    -------
    int
        Bytes.
    """
    from .memory import saved_activation_bytes

    return saved_activation_bytes(lambda: loss_fn(model(inputs), inputs),
                                  exclude=model.parameters())
