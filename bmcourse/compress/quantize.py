"""int8 weight quantization: per-channel scales, an int8 linear layer, and PyTorch's own
dynamic quantization to check it against; :func:`saved_bytes` and :func:`time_calls` measure
size on disk and latency."""
from __future__ import annotations

import copy
import io
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["quantize_per_channel", "dequantize", "Int8Linear", "quantize_linears",
           "torch_dynamic_int8", "saved_bytes", "time_calls"]

INT8_MIN, INT8_MAX = -128, 127

def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantization of a weight matrix, one scale per output row.

    Row ``j`` gets the scale ``s_j = max_i |w_ji| / 127.5`` and each weight becomes the integer
    ``q_ji = clamp(round(w_ji / s_j), -128, 127)``, so that ``w_ji ≈ s_j · q_ji`` with an
    error of at most ``s_j / 2``. One scale per row (rather than one for the whole matrix)
    keeps a row of small weights from being rounded away by a row of large ones.

    This is exactly PyTorch's ``PerChannelMinMaxObserver(qscheme=per_channel_symmetric,
    dtype=qint8)``, the weight observer of ``per_channel_dynamic_qconfig``, followed by
    ``torch.quantize_per_channel``:

    * it spreads the 256 levels of ``[-128, 127]`` over ``[-max|w|, max|w|]``, so the scale is
      ``max|w| / 127.5`` (not the textbook ``/ 127`` over ``[-127, 127]``, which wastes a level);
      the largest positive weight then rounds to 128 and is clamped to 127;
    * it multiplies by the float32 reciprocal of the scale rather than dividing (the two differ
      in the last bit now and then, which flips a rounding), and rounds half to even;
    * a row of zeros (a pruned neuron) gets the scale ``float32 eps`` instead of 0.

    Parameters
    ----------
    weight : torch.Tensor, shape (out_features, in_features)
        Floating point, finite.

    Returns
    -------
    q : torch.Tensor, int8, shape (out_features, in_features)
    scale : torch.Tensor, float32, shape (out_features,)
    """
    if not torch.is_tensor(weight) or not weight.is_floating_point():
        raise TypeError(f"quantize_per_channel needs a floating-point weight tensor, got "
                        f"{getattr(weight, 'dtype', type(weight).__name__)}.")
    if weight.ndim != 2:
        raise ValueError(f"quantize_per_channel needs a 2-D weight (out_features, in_features), "
                         f"got shape {tuple(weight.shape)}; reshape a conv kernel with "
                         f"w.flatten(1).")
    if not torch.isfinite(weight).all():
        raise ValueError("the weight contains NaN or infinity, which cannot be quantized; check "
                         "the model's training first.")
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1) / ((INT8_MAX - INT8_MIN) / 2)
    scale = scale.clamp(min=torch.finfo(torch.float32).eps)
    q = torch.round(weight * (1.0 / scale)[:, None]).clamp(INT8_MIN, INT8_MAX)
    return q.to(torch.int8), scale


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The float weights that int8 ``q`` (out, in) and per-row ``scale`` (out,) stand for."""
    return q.float() * scale[:, None]


class Int8Linear(nn.Module):
    """A linear layer whose weight is stored as int8 with one float32 scale per output.

    Computes ``y_j = s_j · Σ_i q_ji x_i + b_j``: the scale of a row factors out of its sum,
    so the product runs on the integer weights and each output is rescaled once — the shape
    of an int8 matrix kernel. Four times less memory for the weight than float32.

    Parameters
    ----------
    q : torch.Tensor, int8, shape (out_features, in_features)
    scale : torch.Tensor, shape (out_features,)
    bias : torch.Tensor, shape (out_features,), optional
        Kept in float32 (it is tiny).

    Notes
    -----
    This is *weight-only* quantization: the inputs stay floating point. PyTorch's dynamic
    quantization (``DynamicQuantizedLinear``) also rounds each input tensor to 8 bits when it
    arrives — "dynamic": its scale is computed per call — so that the product runs in integer
    arithmetic on fast kernels. On x86 (fbgemm) it keeps only 7 bits of the input
    (``reduce_range``) so that the int16 sums of the AVX2 instruction cannot overflow. Its
    outputs are therefore slightly further from float32 than ours; with the input rounded
    the same way, the two agree to float rounding (``tests/test_compress.py``).
    """

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        if q.dtype != torch.int8 or q.ndim != 2:
            raise TypeError(f"Int8Linear needs an int8 weight of shape (out, in), got "
                            f"{q.dtype} {tuple(q.shape)}; make one with quantize_per_channel.")
        if scale.shape != (q.shape[0],):
            raise ValueError(f"scale must have shape ({q.shape[0]},), one per output row, got "
                             f"{tuple(scale.shape)}.")
        self.in_features, self.out_features = q.shape[1], q.shape[0]
        self.register_buffer("weight_int8", q)
        self.register_buffer("scale", scale.float())
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "Int8Linear":
        """Quantize a trained ``nn.Linear`` (its effective weight, masks included)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear needs an nn.Linear, got {type(linear).__name__}.")
        q, scale = quantize_per_channel(linear.weight)
        return cls(q, scale, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., in_features)`` floats -> ``(..., out_features)``, in the input's dtype."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Int8Linear expects inputs with {self.in_features} features in the "
                             f"last dimension, got shape {tuple(x.shape)}.")
        # Integers up to 127 are exact in float32 (and bfloat16); the sum is taken in x's dtype.
        y = F.linear(x, self.weight_int8.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, weight=int8 per-channel")


def quantize_linears(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by an :class:`Int8Linear`.

    Embeddings, convolutions and norms stay as they are. A weight shared between an embedding
    and an output layer (weight tying, as in the course's GPT) is quantized in the linear layer
    only: the embedding keeps its float copy, exactly as with ``quantize_dynamic``.

    Parameters
    ----------
    model : nn.Module
        Left unchanged.

    Returns
    -------
    nn.Module
        The quantized copy, in eval mode, on the device ``model`` is on.

    Raises
    ------
    ValueError
        If the model has no ``nn.Linear`` layer to quantize.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_linears needs an nn.Module, got {type(model).__name__}.")
    if isinstance(model, nn.Linear):
        return Int8Linear.from_linear(model).eval()
    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to quantize.")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear.from_linear(child))
    return model.eval()


def torch_dynamic_int8(model: nn.Module) -> nn.Module:
    """PyTorch's dynamic int8 quantization of every ``nn.Linear`` (per-channel weights), on the CPU.

    ``torch.ao.quantization.quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig},
    dtype=torch.qint8)`` on a CPU copy of ``model``: the reference that :func:`quantize_linears`
    is checked against, and the fast path (its kernels multiply in int8). ``model`` is left
    unchanged.
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    model = copy.deepcopy(model).cpu().eval()
    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to the separate torchao package, and its
        # quantized-tensor constructors their deprecation; the API still works in this torch.
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor, "
                                r"torch\.quantize_per_channel", category=UserWarning)
        return quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig},
                                dtype=torch.qint8)


def saved_bytes(model: nn.Module) -> int:
    """Size in bytes of ``torch.save(model.state_dict())``: the model's size on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def time_calls(calls: dict[str, Callable[[], object]], repeats: int = 20, warmup: int = 3,
               threads: int | None = 1) -> dict[str, float]:
    """Wall time of each zero-argument call: the fastest of ``repeats``, measured in turns.

    The calls alternate (``a, b, a, b, ...``) so that a shared machine's slow moments hit all of
    them alike. Other programs can only ever *add* time to a call, so the fastest of several
    repeats is the steadiest estimate of what the call itself costs (the median of a
    busy two-core machine can be twice as long, at random). Compare the results with each
    other, not with another run's.

    Parameters
    ----------
    calls : dict
        Name -> function of no arguments, e.g. ``{"fp32": lambda: model(x)}``.
    repeats, warmup : int
        Timed calls of each; untimed calls first (allocations, caches).
    threads : int or None
        PyTorch CPU threads during the measurement (restored afterwards). One thread, the
        default, is the steadiest on a busy machine and measures work rather than parallelism;
        ``None`` keeps the current setting.

    Returns
    -------
    dict
        Name -> seconds per call (the minimum over the repeats).
    """
    if not calls or not all(callable(call) for call in calls.values()):
        raise TypeError("time_calls needs a non-empty dict of name -> zero-argument function.")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}.")
    times = {name: [] for name in calls}
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for round_ in range(warmup + repeats):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    if round_ >= warmup:
                        times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return {name: min(values) for name, values in times.items()}
