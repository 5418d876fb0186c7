"""Making a trained model smaller: int8 quantization, pruning, and knowledge distillation.

Three ways to shrink a network after (or while) training it, each checked against the library
that does it for real:

* **Quantization** stores each weight in 8 bits instead of 32.
  :func:`quantize_per_channel` gives every output row of a weight matrix its own scale
  (``max |w| / 127.5``) and rounds the weights to integers in ``[-128, 127]``;
  :class:`Int8Linear` holds those integers and scales and computes the layer;
  :func:`quantize_linears` swaps every ``nn.Linear`` of a model for one. The integers and scales
  are exactly those of PyTorch's ``quantize_dynamic`` with ``per_channel_dynamic_qconfig``
  (:func:`torch_dynamic_int8` runs it for comparison).
* **Pruning** sets weights to zero. :func:`prune_global` removes the smallest weights by
  magnitude across all layers at once (unstructured), :func:`prune_channels` whole output
  channels of every convolution (structured), both through ``torch.nn.utils.prune``, whose masks
  survive fine-tuning; :func:`make_permanent` bakes the zeros into the weights and
  :func:`sparsity` counts them. Zeros in a dense tensor save nothing by themselves:
  :func:`dense_kernel_timing` times a dense matrix product with and without 90% zeros.
* **Distillation** trains a small *student* on a large *teacher*'s softened outputs
  (Hinton et al., 2015): :func:`distillation_loss`, and :func:`distillation_step`, which plugs
  it into the one training loop, :func:`bmcourse.training.fit`.
  :func:`bmcourse.models.cnn.student_cnn` is a tiny MNIST network to distil into.

:func:`saved_bytes` and :func:`time_calls` measure what compression buys: size on disk and
latency.
"""
from .distill import distillation_loss, distillation_step
from .prune import (dense_kernel_timing, layer_sparsity, make_permanent, prunable_weights,
                    prune_channels, prune_global, sparsity)
from .quantize import (Int8Linear, dequantize, quantize_linears, quantize_per_channel,
                       saved_bytes, time_calls, torch_dynamic_int8)

__all__ = ["quantize_per_channel", "dequantize", "Int8Linear", "quantize_linears",
           "torch_dynamic_int8", "saved_bytes", "time_calls",
           "prunable_weights", "sparsity", "layer_sparsity", "prune_global", "prune_channels",
           "make_permanent", "dense_kernel_timing", "distillation_loss", "distillation_step"]
